"""Small transformer-like nets for the exporter tests (random weights, 16 x 16 inputs).

tiny_vit / tiny_swin are torchvision's own VisionTransformer and SwinTransformer classes at toy
sizes, so they exercise the same code paths as vit_b_16 and swin_t. MixerNet is a user module
whose layers emit tokens without a class token; it declares its grid in `directrix_tokens`.
"""

import torch
import torch.nn as nn
import torchvision


def tiny_vit(num_classes=3):
    torch.manual_seed(0)
    net = torchvision.models.VisionTransformer(image_size=16, patch_size=4, num_layers=3,
                                               num_heads=2, hidden_dim=8, mlp_dim=16,
                                               num_classes=num_classes).eval()
    torch.nn.init.normal_(net.heads.head.weight)  # torchvision starts the classifier at zero
    torch.nn.init.normal_(net.class_token)
    return net


def tiny_swin(num_classes=3):
    torch.manual_seed(0)
    return torchvision.models.SwinTransformer(patch_size=[2, 2], embed_dim=8, depths=[1, 1],
                                              num_heads=[1, 2], window_size=[2, 2],
                                              num_classes=num_classes).eval()


class MixerBlock(nn.Module):
    def __init__(self, tokens, channels):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.token_mix = nn.Linear(tokens, tokens)
        self.channel_mix = nn.Linear(channels, channels)

    def forward(self, x):  # N x T x C
        x = x + self.token_mix(self.norm(x).transpose(1, 2)).transpose(1, 2)
        return x + torch.relu(self.channel_mix(self.norm(x)))


class MixerNet(nn.Module):
    directrix_tokens = {"class_tokens": 0, "grid": (4, 4), "layers": ["blocks.0", "blocks.1"]}

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.patchify = nn.Conv2d(3, 6, 4, stride=4)
        self.blocks = nn.Sequential(MixerBlock(16, 6), MixerBlock(16, 6))
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        tokens = self.patchify(x).flatten(2).transpose(1, 2)
        return self.fc(self.blocks(tokens).mean(1))
