#!/usr/bin/env python3
"""Trains the small Fashion-MNIST CNN shipped as Directrix's demo model and exports it.

Data comes from Debian's dataset-fashion-mnist package (IDX files, gzipped or raw).
Training is CPU-only and seeded so that the shipped file can be reproduced.
"""

import argparse
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import export_model  # noqa: E402  (sits beside this script)

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "resources", "demo", "fashion_cnn.pt"))
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530
MIN_ACCURACY = 0.90


def read_idx(data_dir, stem):
    """IDX array `stem` from data_dir, accepting 'stem' or 'stem.gz'."""
    for name, opener in ((stem + ".gz", gzip.open), (stem, open)):
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            with opener(path, "rb") as f:
                raw = f.read()
            break
    else:
        raise FileNotFoundError(f"{stem}[.gz] not found in {data_dir} (install dataset-fashion-mnist or use --data)")
    # Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then big-endian sizes.
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{stem}: not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(data_dir, prefix):
    images = read_idx(data_dir, f"{prefix}-images-idx3-ubyte")
    labels = read_idx(data_dir, f"{prefix}-labels-idx1-ubyte")
    x = (torch.from_numpy(images.astype(np.float32)) / 255.0 - MEAN) / STD
    return x.unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def conv_block(c_in, c_out, pool):
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    return nn.Sequential(*layers, nn.MaxPool2d(2)) if pool else nn.Sequential(*layers)


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = conv_block(1, 32, pool=True)     # 32 x 14 x 14
        self.block2 = conv_block(32, 64, pool=True)    # 64 x 7 x 7
        self.block3 = conv_block(64, 128, pool=False)  # 128 x 7 x 7
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, len(CLASSES))

    def forward(self, x):
        x = self.block3(self.block2(self.block1(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def accuracy(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x)


def train(model, train_x, train_y, test_x, test_y, epochs, batch, lr, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(train_x) + batch - 1) // batch)
    # A one-cycle schedule gets the accuracy of a longer run in a handful of epochs.
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    # No augmentation: this small net underfits Fashion-MNIST, and mirroring cost accuracy.
    loss_fn = nn.CrossEntropyLoss()
    acc = 0.0
    for epoch in range(1, epochs + 1):
        start = time.time()
        model.train()
        order = torch.randperm(len(train_x), generator=gen)
        total = 0.0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, y = train_x[idx], train_y[idx]
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        acc = accuracy(model, test_x, test_y)
        print(f"epoch {epoch}/{epochs}: loss {total / len(train_x):.4f}, "
              f"test accuracy {acc:.4f} ({time.time() - start:.0f} s)", flush=True)
    return acc


def main(argv=None):
    p = argparse.ArgumentParser(description="Train and export the Fashion-MNIST demo model.")
    p.add_argument("--data", default=DEFAULT_DATA, help=f"directory with the IDX files (default {DEFAULT_DATA})")
    p.add_argument("--out", default=DEFAULT_OUT, help="output model (default resources/demo/fashion_cnn.pt)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    train_x, train_y = load_split(args.data, "train")
    test_x, test_y = load_split(args.data, "t10k")
    print(f"Fashion-MNIST: {len(train_x)} training, {len(test_x)} test images")

    model = FashionCNN()
    start = time.time()
    acc = train(model, train_x, train_y, test_x, test_y, args.epochs, args.batch, args.lr, args.seed)
    print(f"training took {time.time() - start:.0f} s, final test accuracy {acc:.4f}")
    if acc < MIN_ACCURACY:
        print(f"error: test accuracy {acc:.4f} is below {MIN_ACCURACY}; not saving", file=sys.stderr)
        return 1

    spec = {"colour_mode": "gray", "height": 28, "width": 28, "resize": 28, "mean": [MEAN], "std": [STD]}
    try:
        export_model.export_model(model, ["block1", "block2", "block3"], args.out, spec, CLASSES,
                                  name="Fashion-MNIST demo CNN", extra={"test_accuracy": round(acc, 4)})
    except export_model.ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
