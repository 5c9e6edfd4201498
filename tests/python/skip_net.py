"""A small net with one skip connection, for the exporter tests.

Cutting at conv_a or conv_b is refused: the stem's ReLU output ('relu') is added back after them.
"""

import torch
import torch.nn as nn


class SkipNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv_a = nn.Conv2d(8, 8, 3, padding=1)
        self.conv_b = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        s = torch.relu(self.stem(x))
        y = self.conv_b(torch.relu(self.conv_a(s)))
        y = torch.relu(y + s)
        return self.fc(torch.flatten(self.pool(y), 1))
