"""Tests of packaging/export_model.py.

Run: python3 -m unittest discover -s tests/python   (or python3 tests/python/test_export.py [--out DIR])
With DIRECTRIX_TEST_OUT=DIR (or --out DIR) the exported resnet18 is kept as DIR/resnet18_l34.pt
for the C++ loader tests.
"""

import json
import os
import subprocess
import sys
import tempfile
import unittest

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXPORTER = os.path.join(HERE, "..", "..", "packaging", "export_model.py")
SKIP_NET = os.path.join(HERE, "skip_net.py")
sys.path.insert(0, os.path.dirname(EXPORTER))
sys.path.insert(0, HERE)
import export_model as em  # noqa: E402
from skip_net import SkipNet  # noqa: E402
from token_nets import MixerNet, tiny_swin, tiny_vit  # noqa: E402


def run_exporter(*args):
    return subprocess.run([sys.executable, EXPORTER, *args], capture_output=True, text=True)


def load(path):
    extra = {em.JSON_NAME: ""}
    module = torch.jit.load(path, _extra_files=extra)
    return module, json.loads(extra[em.JSON_NAME])


def small_spec(size=16):
    return {"colour_mode": "rgb", "height": size, "width": size, "resize": size,
            "mean": list(em.IMAGENET_MEAN), "std": list(em.IMAGENET_STD)}


def fx_output_tokens(traced, node, x):
    """The raw N x T x C output of a token node on x, from the traced graph."""
    seen = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            if n is node:
                seen["tokens"] = out
            return out

    with torch.no_grad():
        Recorder(traced.gm).run(x)
    return seen["tokens"]


class ExportTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.tmp = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def assert_splits_match(self, module, meta):
        x = torch.randn(2, 3, meta["input"]["height"], meta["input"]["width"])
        with torch.no_grad():
            expected = module(x)
            for layer in meta["layers"]:
                z = module._c._get_method("features_" + layer["name"])(x)  # as the C++ loader calls it
                self.assertEqual(tuple(z.shape), (2, layer["channels"], layer["height"], layer["width"]))
                inputs = [z]
                if layer.get("class_tokens"):
                    both = module._c._get_method("features_with_class_tokens_" + layer["name"])(x)
                    self.assertTrue(torch.equal(both[0], z))
                    self.assertEqual(tuple(both[1].shape), (2, layer["class_tokens"], layer["channels"]))
                    inputs.append(both[1])
                logits = module._c._get_method("head_" + layer["name"])(*inputs)
                self.assertLessEqual((logits - expected).abs().max().item(), 1e-4)
                # The head reads the grid (and the class tokens): changing them changes the logits.
                for i in range(len(inputs)):
                    moved = list(inputs)
                    moved[i] = moved[i] + torch.randn_like(moved[i])
                    changed = module._c._get_method("head_" + layer["name"])(*moved)
                    self.assertGreater((changed - logits).abs().max().item(), 1e-4)

    def test_resnet18_cli(self):
        out_dir = os.environ.get("DIRECTRIX_TEST_OUT") or self.tmp
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "resnet18_l34.pt")
        r = run_exporter("--torchvision", "resnet18", "--layers", "layer3,layer4",
                         "--input-size", "64", "--out", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("random initialisation", r.stderr)
        module, meta = load(path)
        self.assertEqual((meta["format"], meta["version"], meta["name"]), ("directrix-model", 1, "resnet18"))
        self.assertEqual(meta["classes"][:2], ["class_0", "class_1"])
        self.assertEqual(len(meta["classes"]), 1000)
        self.assertEqual(meta["input"]["colour_mode"], "rgb")
        self.assertEqual((meta["input"]["height"], meta["input"]["width"]), (64, 64))
        self.assertEqual(meta["input"]["mean"], em.IMAGENET_MEAN)
        self.assertEqual(len(meta["input"]["std"]), 3)
        layers = [(l["name"], l["node"], l["channels"], l["height"], l["width"],
                   l["head_starts_with_global_avg_pool"]) for l in meta["layers"]]
        self.assertEqual(layers, [("layer3", "layer3", 256, 4, 4, False),
                                  ("layer4", "layer4", 512, 2, 2, True)])
        self.assert_splits_match(module, meta)
        # Parameters are shared between forward and the splits, not stored once per method.
        self.assertLess(os.path.getsize(path), 1.1 * 46.8e6)

    def test_list_layers(self):
        r = run_exporter("--torchvision", "resnet18", "--list-layers", "--input-size", "64")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"layer4\s+512x2x2")
        self.assertRegex(r.stdout, r"layer3\s+256x4x4")
        self.assertNotIn("layer4.0.conv1", r.stdout)  # inside a residual block
        r = run_exporter("--module", SKIP_NET + ":SkipNet", "--list-layers", "--input-size", "16")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertTrue(lines[-1].startswith("default layers: "), lines[-1])
        names = [line.split()[0] for line in lines[1:-1]]
        self.assertEqual(names, ["stem", "relu", "add", "relu_2", "pool"])

    def test_default_layers_are_the_ends_of_the_last_stages(self):
        traced = em.TracedModel(em.torchvision_model("resnet18"), em.probe_batch(small_spec(64)))
        self.assertEqual(traced.default_layers(), ["layer2", "layer3", "layer4"])
        path = os.path.join(self.tmp, "skip_default.pt")
        r = run_exporter("--module", SKIP_NET + ":SkipNet", "--input-size", "16", "--out", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        module, meta = load(path)
        skip = em.TracedModel(SkipNet().eval(), em.probe_batch(small_spec(16)))
        self.assertEqual([l["name"] for l in meta["layers"]], skip.default_layers())
        grids = [(l["height"], l["width"]) for l in meta["layers"]]
        self.assertEqual(len(set(grids)), len(grids))  # one layer per resolution
        self.assert_splits_match(module, meta)

    def test_module_clean_cut(self):
        path = os.path.join(self.tmp, "skip.pt")
        r = run_exporter("--module", SKIP_NET + ":SkipNet", "--layers", "stem,add",
                         "--input-size", "16", "--out", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        module, meta = load(path)
        self.assertEqual([l["name"] for l in meta["layers"]], ["stem", "add"])
        self.assertEqual(meta["input"]["colour_mode"], "rgb")
        self.assert_splits_match(module, meta)

    def test_module_crossed_cut_refused(self):
        r = run_exporter("--module", SKIP_NET + ":SkipNet", "--layers", "conv_a",
                         "--input-size", "16", "--out", os.path.join(self.tmp, "bad.pt"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("skip connection", r.stderr)
        self.assertRegex(r.stderr, r"used after it: relu\b")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "bad.pt")))

    def test_errors(self):
        torch.manual_seed(0)
        with self.assertRaisesRegex(em.ExportError, "unknown torchvision classification model 'resnet19'"):
            em.torchvision_model("resnet19")
        with self.assertRaisesRegex(em.ExportError, "(?s)unknown layer 'conv9'.*stem"):
            em.export_model(SkipNet(), ["conv9"], os.path.join(self.tmp, "x.pt"), small_spec())
        with self.assertRaisesRegex(em.ExportError, "class names"):
            em.export_model(SkipNet(), ["add"], os.path.join(self.tmp, "x.pt"), small_spec(), ["a", "b"])
        weights = os.path.join(self.tmp, "w.pth")
        state = SkipNet().state_dict()
        state["fc.weight"] = torch.zeros(5, 8)
        del state["stem.bias"]
        torch.save(state, weights)
        with self.assertRaisesRegex(em.ExportError, "does not match.*stem.bias.*fc.weight"):
            em.load_weights(SkipNet(), weights)

    def test_vit_layers_are_patch_grids_with_class_tokens(self):
        path = os.path.join(self.tmp, "vit.pt")
        meta = em.export_model(tiny_vit(), em.TracedModel(tiny_vit(), em.probe_batch(small_spec())).default_layers(),
                               path, small_spec(), log=lambda *a: None)
        # Evenly spaced blocks before the last one (after it the head reads only the class token).
        self.assertEqual([l["node"] for l in meta["layers"]],
                         ["encoder.layers.encoder_layer_0", "encoder.layers.encoder_layer_1"])
        for layer in meta["layers"]:
            self.assertEqual((layer["layout"], layer["class_tokens"]), ("tokens", 1))
            self.assertEqual((layer["channels"], layer["height"], layer["width"]), (8, 4, 4))
        module, meta = load(path)
        self.assert_splits_match(module, meta)
        # The grid keeps the token order: patch (row r, column c) is token 1 + 4 r + c.
        x = torch.randn(1, 3, 16, 16)
        z = module.features_encoder_layers_encoder_layer_0(x)
        traced = em.TracedModel(tiny_vit(), em.probe_batch(small_spec()))
        node = traced.resolve("encoder.layers.encoder_layer_0")
        features, _, _ = traced.split(node)
        tokens = fx_output_tokens(traced, node, x)
        self.assertTrue(torch.allclose(z[0, :, 1, 2], tokens[0, 1 + 4 * 1 + 2]))

    def test_vit_list_layers(self):
        r = run_exporter("--torchvision", "vit_b_16", "--list-layers")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"encoder.layers.encoder_layer_0\s+768x14x14\s+tokens \+ 1 class token")
        self.assertIn("default layers: encoder.layers.encoder_layer_2,encoder.layers.encoder_layer_6,"
                      "encoder.layers.encoder_layer_10", r.stdout)

    def test_swin_channels_last_layers(self):
        traced = em.TracedModel(tiny_swin(), em.probe_batch(small_spec()))
        layers = traced.default_layers()
        path = os.path.join(self.tmp, "swin.pt")
        meta = em.export_model(tiny_swin(), layers, path, small_spec(), log=lambda *a: None)
        layouts = [l["layout"] for l in meta["layers"]]
        self.assertIn("nhwc", layouts)
        module, meta = load(path)
        self.assert_splits_match(module, meta)
        r = run_exporter("--torchvision", "swin_t", "--list-layers")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"features.5\s+384x14x14\s+channels last")
        self.assertIn("default layers: features.3,features.5,permute", r.stdout)

    def test_user_module_declares_its_token_layers(self):
        path = os.path.join(self.tmp, "mixer.pt")
        meta = em.export_model(MixerNet().eval(), ["blocks.0", "blocks.1"], path, small_spec(),
                               log=lambda *a: None)
        for layer in meta["layers"]:
            self.assertEqual((layer["layout"], layer["class_tokens"]), ("tokens", 0))
            self.assertEqual((layer["channels"], layer["height"], layer["width"]), (6, 4, 4))
        module, meta = load(path)
        self.assert_splits_match(module, meta)
        with self.assertRaisesRegex(em.ExportError, "not a patch grid"):
            em.export_model(MixerNet().eval(), ["fc"], path, small_spec(), log=lambda *a: None)

    def test_head_gets_a_copy(self):
        # An in-place first op in the head must not overwrite the caller's activations.
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(inplace=True),
                                  torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        path = os.path.join(self.tmp, "inplace.pt")
        em.export_model(net, ["0"], path, small_spec(), log=lambda *a: None)
        module, meta = load(path)
        z = module.features_0(torch.randn(1, 3, 16, 16))
        before = z.clone()
        module.head_0(z)
        self.assertTrue(torch.equal(z, before))


if __name__ == "__main__":
    if "--out" in sys.argv:
        i = sys.argv.index("--out")
        os.environ["DIRECTRIX_TEST_OUT"] = sys.argv[i + 1]
        del sys.argv[i:i + 2]
    unittest.main()
