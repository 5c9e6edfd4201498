#!/usr/bin/env python3
"""Writes the tiny models the model-loader tests use: two valid ones and one per failure
the loader must report. Usage: make_test_models.py OUTDIR

The CNNs are random (fixed seed) 2-layer nets on 16x16 inputs with 3 classes:
conv1 gives 4x8x8 activations, conv2 8x4x4. tiny_vit.pt and tiny_swin.pt are torchvision's
VisionTransformer and SwinTransformer at toy sizes (tests/python/token_nets.py).
"""

import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "packaging"))
import export_model as em  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from token_nets import tiny_swin, tiny_vit  # noqa: E402

CLASSES = ["alpha", "beta", "gamma"]
LAYERS = ["conv1", "conv2"]


class TinyNet(nn.Module):
    def __init__(self, in_channels=3):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, 4, 3, stride=2, padding=1), nn.ReLU())
        self.conv2 = nn.Sequential(nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, len(CLASSES))

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.conv2(self.conv1(x))), 1))


class PlusOne(nn.Module):
    """Same net, logits shifted: its forward no longer matches the split methods."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x) + 1.0


def spec(colour_mode):
    channels = 1 if colour_mode == "gray" else 3
    return {"colour_mode": colour_mode, "height": 16, "width": 16, "resize": 18,
            "mean": [0.5] * channels, "std": [0.25] * channels}


def tiny(in_channels=3):
    torch.manual_seed(0)
    return TinyNet(in_channels).eval()


def broken(out_dir, name, meta_text, full=None, skip_methods=()):
    """A module built like a valid one, with one thing spoilt."""
    net = tiny()
    own_full, parts, _, _, _ = em.split_model(net, LAYERS, spec("rgb"))
    module = em.build_wrapper(full if full is not None else own_full, parts, skip_methods)
    em.save(module, os.path.join(out_dir, name), meta_text)


def main(argv):
    if len(argv) != 2:
        print("usage: make_test_models.py OUTDIR", file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    quiet = lambda *a, **k: None  # noqa: E731

    em.export_model(tiny(3), LAYERS, os.path.join(out, "good_rgb.pt"), spec("rgb"), CLASSES,
                    name="tiny rgb", log=quiet)
    em.export_model(tiny(1), LAYERS, os.path.join(out, "good_gray.pt"), spec("gray"), CLASSES,
                    name="tiny gray", log=quiet)
    # Transformers: a ViT's token layers (with a class token), a Swin's channels-last stage.
    em.export_model(tiny_vit(), ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"],
                    os.path.join(out, "tiny_vit.pt"), spec("rgb"), CLASSES, name="tiny vit", log=quiet)
    em.export_model(tiny_swin(), ["features.1", "features.3"], os.path.join(out, "tiny_swin.pt"),
                    spec("rgb"), CLASSES, name="tiny swin", log=quiet)

    # Metadata a valid export would write, to be spoilt one field at a time.
    _, _, layers, _, _ = em.split_model(tiny(), LAYERS, spec("rgb"))
    meta = em.metadata("tiny broken", CLASSES, spec("rgb"), layers)

    def text(**changes):
        m = json.loads(json.dumps(meta))
        for key, value in changes.items():
            m[key] = value
        return json.dumps(m, indent=1)

    broken(out, "no_json.pt", None)
    broken(out, "bad_json.pt", '{"format": "directrix-model", "version": 1, "layers": [')
    broken(out, "missing_method.pt", text(), skip_methods=("head_conv2",))
    wide = json.loads(json.dumps(layers))
    wide[1]["channels"] = 16
    broken(out, "shape_mismatch.pt", text(layers=wide))
    broken(out, "split_mismatch.pt", text(), full=torch.jit.script(PlusOne(tiny())))
    broken(out, "wrong_classes.pt", text(classes=CLASSES + ["delta", "epsilon"]))
    with open(os.path.join(out, "not_a_model.pt"), "wb") as f:
        f.write(b"this is not a TorchScript archive \x00\xff\xfe garbage \x13\x37\n" * 4)

    for name in sorted(os.listdir(out)):
        print(f"{name}: {os.path.getsize(os.path.join(out, name))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
