#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (tests/fuzz/corpus/<target>/): small valid inputs of
every parser, from which libFuzzer mutates. Rerun after a format changes; the corpus is kept
in git. Usage: /usr/bin/python3 make_seeds.py [CORPUS_DIR]"""
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")


def npy(array):
    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def records(parts):
    """fuzz_input.h's records: a 2-byte little-endian length, then the bytes."""
    out = b""
    for p in parts:
        p = p.encode() if isinstance(p, str) else p
        out += struct.pack("<H", len(p)) + p
    return out


def save(target, name, data):
    folder = os.path.join(ROOT, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def npy_seeds():
    save("npy", "float32", npy(np.arange(12, dtype=np.float32).reshape(3, 4)))
    save("npy", "float16", npy(np.ones((2, 2, 2), dtype=np.float16)))
    save("npy", "int64", npy(np.array([0, 1, -1], dtype=np.int64)))
    save("npy", "uint8", npy(np.eye(3, dtype=np.uint8)))
    save("npy", "bool", npy(np.array([True, False])))
    save("npy", "scalar", npy(np.float32(2.5)))
    save("npy", "fortran", npy(np.asfortranarray(np.ones((2, 3), dtype=np.float32))))


def idx_seeds():
    header = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 3, 3)
    save("idx", "images", header + bytes(range(18)))
    save("idx", "labels", bytes([0, 0, 8, 1]) + struct.pack(">I", 4) + bytes([1, 2, 3, 4]))


def project_seeds():
    project = {"format": "directrix-project", "version": 1, "model": "/m/net.pt",
               "images": "/data/images", "layer": "layer3",
               "discovery": {"method": "eddp", "preset": "balanced", "concepts": 16, "seed": "7"},
               "has_concepts": True, "ui": {"view": "matrix", "pinned": [1, 2]}}
    save("project_file", "project", json.dumps(project, indent=1))


def cache_seeds():
    meta = {"format": "directrix-activations", "version": 1, "key": "key", "complete": True,
            "layer": "conv1", "shape": [3, 2, 2, 2], "class_tokens": 0, "dtype": "float32",
            "input_size": [8, 8], "images": 3}
    parts = [json.dumps(meta), "a.png\nb.png\nc.png\n", "alpha\nbeta\n", "alpha\nbeta\n",
             "broken.png\tcannot be decoded\n",
             npy(np.arange(24, dtype=np.float32).reshape(3, 2, 2, 2)),
             npy(np.zeros((3, 2), dtype=np.float32)),
             npy(np.array([0, 1, 1], dtype=np.int64)), npy(np.array([0, 1, -1], dtype=np.int64)),
             b""]
    save("cache_folder", "cache", records(parts))


def concept_seeds():
    # sizes: images 4, channels 3, classes 2, map 2 x 2 (each byte % 16 + 1)
    sizes = bytes([3, 2, 1, 1, 1])
    cell = {"logit_change": 0.5, "probability_change": 0.1, "p_value": 0.01, "significant": True,
            "logit_change_per_image": [0, 0.1, 0.2, 0.3, 0.4]}
    concept = {"label": "stripes", "fraction_present": 0.2, "image_fraction": 0.5,
               "mean_score_when_present": 1.5, "influence": [cell, cell],
               "top_patches": [{"image": 3, "row": 1, "col": 0, "score": 2.0}],
               "label_invert": {"auc": 0.9, "p_value": 0.001, "fraction": 0.3}}
    doc = {"format": "directrix-concepts", "version": 1, "method": "eddp", "preset": "balanced",
           "seed": 0, "concepts_requested": 2, "layer": "conv1", "classes": ["a", "b"],
           "concepts": [concept, dict(concept, label="dots")],
           "influence_test": {"description": "t", "null": "pattern", "null_draws": 100,
                              "tests": 4, "fdr": 0.05, "min_effect": 0.1}}
    arrays = [npy(np.ones((2, 3), dtype=np.float32)), npy(np.zeros(2, dtype=np.float32)),
              npy(np.ones((2, 3), dtype=np.float32)), npy(np.ones((4, 2), dtype=np.float32)),
              npy(np.ones((4, 2), dtype=np.uint8))]
    save("concept_folder", "folder", records([sizes, json.dumps(doc)] + arrays))
    journal = {"move": ["decoders.npy", "concepts.json"], "remove": ["label_positives.npy"]}
    save("concept_folder", "interrupted-save",
         records([sizes, json.dumps(doc)] + arrays + [json.dumps(journal),
                                                      arrays[0], json.dumps(doc)]))


def model_meta_seeds():
    meta = {"format": "directrix-model", "version": 1, "name": "tiny",
            "classes": ["alpha", "beta"],
            "input": {"colour_mode": "rgb", "height": 16, "width": 16, "resize": 18,
                      "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
            "layers": [{"name": "conv1", "node": "conv1", "channels": 4, "height": 8, "width": 8,
                        "layout": "nchw", "class_tokens": 0,
                        "head_starts_with_global_avg_pool": False},
                       {"name": "blocks.1", "node": "blocks.1", "channels": 8, "height": 4,
                        "width": 4, "layout": "nlc", "class_tokens": 1,
                        "head_starts_with_global_avg_pool": False}],
            "test_accuracy": 0.9}
    save("model_meta", "meta", json.dumps(meta, indent=1))


def image_tags_seeds():
    images = "a.png\nb.png\nsub/c.png\n"
    tags = "image,tags\n# comment\na.png,stripes,red\nsub/c.png,dots\nmissing.png,red\n"
    save("image_tags", "tags", records([images, tags]))


def image_decode_seeds():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (6, 5, 3), dtype=np.uint8))
    for name, image, fmt in [("png", rgb, "PNG"), ("jpeg", rgb, "JPEG"), ("bmp", rgb, "BMP"),
                             ("tiff", rgb, "TIFF"), ("webp", rgb, "WEBP"),
                             ("pgm", rgb.convert("L"), "PPM"), ("rgba-png", rgb.convert("RGBA"), "PNG")]:
        out = io.BytesIO()
        image.save(out, format=fmt)
        save("image_decode", name, out.getvalue())


if __name__ == "__main__":
    npy_seeds()
    idx_seeds()
    project_seeds()
    cache_seeds()
    concept_seeds()
    model_meta_seeds()
    image_tags_seeds()
    image_decode_seeds()
