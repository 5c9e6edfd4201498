#!/usr/bin/env python3
"""Exports a vision classifier as a Directrix model (a TorchScript archive).

For every offered layer L the archive has `features_L(x)` (input -> activations)
and `head_L(z)` (activations -> logits); `forward` is the original network, so
the app can check that each split reproduces it. The model is split on its
torch.fx graph, and a cut is only allowed where no skip connection crosses it:
otherwise the head would need values that the activations do not carry.
Metadata travels inside the archive as the extra file `directrix.json`.
"""

import argparse
import importlib.util
import json
import math
import operator
import os
import re
import shutil
import sys
import tempfile
import textwrap
import warnings

import torch
import torch.fx as fx
import torch.nn.functional as F
import torchvision
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from torchvision.models.feature_extraction import NodePathTracer

FORMAT = "directrix-model"
VERSION = 1
JSON_NAME = "directrix.json"
TOLERANCE = 1e-4
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# Grey equivalents of the ImageNet statistics (channel averages).
GRAY_MEAN = [0.449]
GRAY_STD = [0.226]


class ExportError(Exception):
    """A problem the user can fix; main() prints it without a traceback."""


# ---------------------------------------------------------------- models

def torchvision_model(name, num_classes=1000):
    models = torchvision.models
    known = models.list_models(module=models)
    if name not in known:
        raise ExportError(f"unknown torchvision classification model '{name}'. "
                          f"Known models: {', '.join(known)}")
    return models.get_model(name, weights=None, num_classes=num_classes)


def torchvision_input_defaults(name):
    """Preprocessing torchvision recommends for the model's default weights."""
    spec = {"colour_mode": "rgb", "height": 224, "width": 224, "resize": 256,
            "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    try:
        t = torchvision.models.get_model_weights(name).DEFAULT.transforms()
    except Exception:  # models without published weights keep the ImageNet defaults
        return spec
    spec["height"] = spec["width"] = int(t.crop_size[0])
    spec["resize"] = int(t.resize_size[0])
    spec["mean"], spec["std"] = list(t.mean), list(t.std)
    return spec


def user_module(spec):
    """Builds the nn.Module named by 'path/to/file.py:ClassOrFactory' with no arguments."""
    path, sep, attr = spec.rpartition(":")
    if not sep or not path or not attr:
        raise ExportError(f"--module expects FILE.py:ClassOrFactory, got '{spec}'")
    if not os.path.isfile(path):
        raise ExportError(f"module file '{path}' does not exist")
    mod_name = "directrix_user_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    loader_spec = importlib.util.spec_from_file_location(mod_name, path)
    mod = importlib.util.module_from_spec(loader_spec)
    # Registered so that TorchScript can find the class source later.
    sys.modules[mod_name] = mod
    loader_spec.loader.exec_module(mod)
    if not hasattr(mod, attr):
        raise ExportError(f"'{path}' has no '{attr}'")
    model = getattr(mod, attr)()
    if not isinstance(model, torch.nn.Module):
        raise ExportError(f"'{spec}' did not produce a torch.nn.Module")
    return model


def load_weights(model, path):
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ExportError(f"cannot read weights file '{path}': not a state dict saved by torch.save ({e})")
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ExportError(f"weights file '{path}' does not hold a state dict")
    # Checkpoints saved from DataParallel prefix every key.
    state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        def some(items):
            return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")
        parts = [f"{label}: {some(items)}" for label, items in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong))
                 if items]
        hint = " (a different number of classes? see --num-classes)" if wrong else ""
        raise ExportError(f"weights file '{path}' does not match the model; " + "; ".join(parts) + hint)
    model.load_state_dict(state)


def input_channels(spec):
    return 1 if spec["colour_mode"] == "gray" else 3


def probe_batch(spec, n=2, seed=1234):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, input_channels(spec), spec["height"], spec["width"], generator=g)


# ---------------------------------------------------------------- graph analysis

def token_spec(model, probe):
    """How a model's token layers map onto a patch grid: {"class_tokens": p, "grid": (h, w),
    "layers": names or None}, or None for a model without token layers.

    A user module declares it in one place, as an attribute, for example
        directrix_tokens = {"class_tokens": 1, "grid": (14, 14), "layers": ["blocks.5", "blocks.11"]}
    ("layers" is optional: then every clean N x (p + h*w) x C cut is a token layer).
    torchvision's VisionTransformer needs no declaration: one class token, grid = input / patch.
    """
    declared = getattr(model, "directrix_tokens", None)
    if declared is not None:
        if not isinstance(declared, dict) or "grid" not in declared:
            raise ExportError("directrix_tokens must be a dict with 'grid': (h, w) and optionally "
                              "'class_tokens' (default 0) and 'layers'")
        h, w = (int(v) for v in declared["grid"])
        prefix = int(declared.get("class_tokens", int(bool(declared.get("class_token", False)))))
        layers = declared.get("layers")
        return {"class_tokens": prefix, "grid": (h, w), "layers": list(layers) if layers else None}
    if isinstance(model, torchvision.models.VisionTransformer):
        patch = model.patch_size
        return {"class_tokens": 1, "grid": (probe.shape[2] // patch, probe.shape[3] // patch),
                "layers": None}
    return None


class PatchEmbedding(torch.nn.Module):
    """torchvision ViT's input step (patchify convolution, then N x C x h x w -> N x hw x C) as a
    module: its shape checks unpack x.shape, which torch.fx cannot trace, so it is kept whole."""

    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        return self.conv(x).flatten(2).transpose(1, 2)


def prepare_for_tracing(model):
    """Makes known untraceable input steps traceable modules (torchvision's VisionTransformer)."""
    if isinstance(model, torchvision.models.VisionTransformer) and \
            not isinstance(getattr(model, "_process_input", None), torch.nn.Module):
        embedding = PatchEmbedding(model.conv_proj)
        # Registered so that the graph names it; set on the instance so that it wins over the
        # class's method when forward calls self._process_input.
        model._modules["_process_input"] = embedding
        object.__setattr__(model, "_process_input", embedding)
    return model


def attention_blocks(model):
    """Module types that own a MultiheadAttention directly: transformer blocks. They are traced
    whole, because unpacking the attention's (output, weights) tuple cannot be traced."""
    return {type(m) for m in model.modules()
            if any(isinstance(c, torch.nn.MultiheadAttention) for c in m.children())}


class TracedModel:
    """The fx graph of a model, with dotted node names, output shapes and activation layouts."""

    def __init__(self, model, probe):
        # torchvision.ops modules stay whole (as torchvision's own feature extractor does),
        # which keeps their data-dependent control flow out of the graph.
        leaves = [c for c in vars(torchvision.ops).values()
                  if isinstance(c, type) and issubclass(c, torch.nn.Module)]
        prepare_for_tracing(model)
        leaves += [PatchEmbedding, *attention_blocks(model)]
        self.tokens = token_spec(model, probe)
        tracer = NodePathTracer(leaf_modules=leaves, autowrap_modules=(math, torchvision.ops))
        try:
            graph = tracer.trace(model)
        except Exception as e:
            raise ExportError(f"torch.fx cannot trace the model: {e}")
        self.gm = fx.GraphModule(tracer.root, graph, type(model).__name__)
        self.nodes = list(self.gm.graph.nodes)
        if sum(n.op == "placeholder" for n in self.nodes) != 1:
            raise ExportError("the model's forward must take exactly one input tensor")
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.qualname = {n: tracer.node_to_qualname.get(n, n.name) for n in self.nodes}
        self._name_modules_by_path()
        ShapeProp(self.gm).propagate(probe)
        # Values that depend on the input; the rest (parameters, constants) can be recomputed anywhere.
        self.dynamic = set()
        for n in self.nodes:
            if n.op == "placeholder" or any(a in self.dynamic for a in n.all_input_nodes):
                self.dynamic.add(n)
        self.channels_last = self._channels_last()
        self.last_use = {n: max((self.index[u] for u in n.users), default=-1) for n in self.nodes}

    def _name_modules_by_path(self):
        """Names a module called once by its path: the tracer drops a trailing "_0" (it reads it as
        a repeat counter), which would make ViT's encoder_layer_0 "encoder_layer"."""
        calls = {}
        for n in self.nodes:
            if n.op == "call_module":
                calls.setdefault(n.target, []).append(n)
        for target, nodes in calls.items():
            if len(nodes) == 1 and self.qualname[nodes[0]] != target:
                try:
                    self.gm.get_submodule(self.qualname[nodes[0]])
                except AttributeError:
                    self.qualname[nodes[0]] = target

    def _permutation(self, n):
        if n.op == "call_module":
            m = self.gm.get_submodule(n.target)
            return list(m.dims) if isinstance(m, torchvision.ops.Permute) else None
        if (n.op == "call_method" and n.target == "permute") or \
                (n.op == "call_function" and n.target is torch.permute):
            dims = n.args[1:] if len(n.args) > 2 else n.args[1] if len(n.args) > 1 else n.kwargs.get("dims")
            return list(dims) if dims is not None else None
        return None

    def _channels_last(self):
        """Nodes holding N x h x w x C tensors (e.g. inside ConvNeXt's LayerNorm2d): not offered as layers."""
        result = set()
        for n in self.nodes:
            inputs = [a for a in n.all_input_nodes if a in self.dynamic]
            last = bool(inputs) and inputs[0] in result
            perm = self._permutation(n)
            if perm == [0, 2, 3, 1]:
                last = True
            elif perm == [0, 3, 1, 2]:
                last = False
            if last:
                result.add(n)
        return result

    def shape(self, node):
        meta = node.meta.get("tensor_meta")
        return tuple(meta.shape) if isinstance(meta, TensorMetadata) else None

    def layout(self, node):
        """How the node's output becomes an N x C x h x w grid: "nchw" (as it is), "nhwc"
        (channels last, as in Swin), "tokens" (N x (p + h*w) x C, as in ViT), or None."""
        shape = self.shape(node)
        if shape is None:
            return None
        if len(shape) == 4:
            return "nhwc" if node in self.channels_last else "nchw"
        if len(shape) == 3 and self.tokens and self.class_tokens(node) is not None:
            if self.tokens["layers"] is None or node in self._declared_token_nodes():
                return "tokens"
        return None

    def _declared_token_nodes(self):
        if not hasattr(self, "_declared"):
            self._declared = {self._find(name) for name in self.tokens["layers"]} - {None}
        return self._declared

    def class_tokens(self, node):
        """Tokens before the patch tokens in a token node (0 or the declared count), else None."""
        h, w = self.tokens["grid"]
        count = self.shape(node)[1]
        prefix = self.tokens["class_tokens"]
        return 0 if count == h * w else prefix if count == prefix + h * w else None

    def grid(self, node):
        """(C, h, w) of the node's activations as the app sees them."""
        shape, layout = self.shape(node), self.layout(node)
        if layout == "nhwc":
            return shape[3], shape[1], shape[2]
        if layout == "tokens":
            return (shape[2], *self.tokens["grid"])
        return tuple(shape[1:])

    def crossing(self, cut):
        """Input-dependent values computed before `cut` and used after it."""
        i = self.index[cut]
        return [n for n in self.nodes[:i] if n in self.dynamic and self.last_use[n] > i]

    def alias(self, node):
        """Shortest module name whose output is this node (e.g. 'layer4' for 'layer4.1.relu_1')."""
        q = self.qualname[node]
        parts = q.split(".")
        for k in range(1, len(parts) + 1):
            prefix = ".".join(parts[:k])
            inside = [n for n in self.nodes if self.qualname[n] == prefix
                      or self.qualname[n].startswith(prefix + ".")]
            if inside and inside[-1] is node:
                return prefix
        return q

    def clean_cuts(self):
        """Nodes whose output is a patch grid (in any layout) where the graph can be split."""
        return [n for n in self.nodes
                if n.op in ("call_module", "call_function", "call_method")
                and n in self.dynamic and self.layout(n) is not None
                and not self.crossing(n)]

    def describe(self, node):
        c, h, w = self.grid(node)
        name = self.alias(node)
        full = self.qualname[node]
        layout = self.layout(node)
        note = {"nhwc": "  channels last", "nchw": ""}.get(layout)
        if layout == "tokens":
            prefix = self.class_tokens(node)
            note = "  tokens" + (f" + {prefix} class token(s)" if prefix else "")
        return f"{name:<24} {c}x{h}x{w}{note}" + (f"   (node {full})" if full != name else "")

    def _find(self, name):
        """Node for an exact node name, else the last node inside the module of that name."""
        for n in self.nodes:
            if self.qualname[n] == name:
                return n
        inside = [n for n in self.nodes if self.qualname[n].startswith(name + ".")]
        if inside:
            return inside[-1]
        for n in self.nodes:  # raw fx names (dots replaced by underscores) as a last resort
            if n.name == name and n.op != "output":
                return n
        return None

    def resolve(self, name):
        node = self._find(name)
        if node is not None:
            return node
        raise ExportError(f"unknown layer '{name}'. Clean cut nodes:\n" + self.listing())

    def default_layers(self, count=3):
        """The deepest clean cut at each of the last `count` spatial resolutions above 1x1: where
        the stages of a CNN end (layer2, layer3, layer4 of a ResNet)."""
        stage_ends = []  # [(h, w), node], in graph order
        for n in self.clean_cuts():
            hw = self.grid(n)[1:]
            if hw[0] * hw[1] <= 1:
                continue
            if stage_ends and stage_ends[-1][0] == hw:
                stage_ends[-1][1] = n
            else:
                stage_ends.append([hw, n])
        if not stage_ends:
            raise ExportError("the model has no clean cut with a spatial grid; name --layers")
        blocks = self.repeated_blocks()[:-1]
        if len(stage_ends) == 1 and len(blocks) >= 2:
            # One resolution throughout (a ViT): evenly spaced block ends instead. The last block
            # is left out: a ViT's head reads only the class token after it, so concepts on its
            # patch grid could not change a prediction.
            n = len(blocks)
            if n <= count:
                return [self.alias(b) for b in blocks]
            return [self.alias(blocks[(k + 1) * n // count - 1]) for k in range(count)]
        return [self.alias(n) for _, n in stage_ends[-count:]]

    def repeated_blocks(self):
        """Clean cuts that are outputs of the most repeated module type (a transformer's blocks)."""
        groups = {}
        for n in self.clean_cuts():
            if n.op == "call_module":
                groups.setdefault(type(self.gm.get_submodule(n.target)), []).append(n)
        return max(groups.values(), key=len, default=[])

    def listing(self):
        return "\n".join("  " + self.describe(n) for n in self.clean_cuts())

    def check_cut(self, name, node):
        shape = self.shape(node)
        if node.op not in ("call_module", "call_function", "call_method") or node not in self.dynamic:
            raise ExportError(f"'{name}' is not an operation on the input and cannot be a layer")
        if self.layout(node) is None:
            hint = ("" if self.tokens or shape is None or len(shape) != 3 else
                    " For a token layer, declare directrix_tokens on the module (see token_spec).")
            raise ExportError(f"layer '{name}' outputs {shape or 'a non-tensor'}, not a patch grid "
                              f"(N x C x h x w, N x h x w x C or N x tokens x C).{hint} "
                              f"Clean cut nodes:\n" + self.listing())
        crossing = self.crossing(node)
        if crossing:
            names = ", ".join(self.qualname[n] for n in crossing)
            raise ExportError(f"cannot cut at '{name}' (node {self.qualname[node]}): a skip connection "
                              f"crosses it; value(s) computed before it are used after it: {names}. "
                              f"Clean cut nodes:\n" + self.listing())

    def _features(self, cut, with_class_tokens):
        """GraphModule x -> grid (N x C x h x w), or x -> (grid, class tokens N x p x C)."""
        g, env = fx.Graph(), {}
        for n in self.nodes:
            env[n] = g.node_copy(n, lambda a: env[a])
            if n is cut:
                break
        out, layout = env[cut], self.layout(cut)
        if layout == "nhwc":
            grid = g.call_method("permute", (out, 0, 3, 1, 2))
        elif layout == "tokens":
            prefix = self.class_tokens(cut)
            c, h, w = self.grid(cut)
            patches = g.call_function(operator.getitem, (out, (slice(None), slice(prefix, None))))
            grid = g.call_method("reshape", (g.call_method("transpose", (patches, 1, 2)), -1, c, h, w))
        else:
            grid = out
        grid = g.call_method("contiguous", (grid,))
        if with_class_tokens:
            tokens = g.call_function(operator.getitem,
                                     (out, (slice(None), slice(0, self.class_tokens(cut)))))
            g.output((grid, g.call_method("contiguous", (tokens,))))
        else:
            g.output(grid)
        features = fx.GraphModule(self.gm, g, "Features")
        features.graph.eliminate_dead_code()
        features.delete_all_unused_submodules()
        features.recompile()
        return features

    def split(self, cut):
        """(features, features with class tokens or None, head) GraphModules sharing the model's
        submodules and parameters. The head takes (z) or, with class tokens, (z, class_tokens)."""
        features = self._features(cut, False)
        prefix = self.class_tokens(cut) if self.layout(cut) == "tokens" else 0
        with_tokens = self._features(cut, True) if prefix else None

        head_graph = fx.Graph()
        z = head_graph.placeholder("z")
        cls = head_graph.placeholder("class_tokens") if prefix else None
        if self.layout(cut) == "nhwc":
            restored = head_graph.call_method(
                "contiguous", (head_graph.call_method("permute", (z, 0, 2, 3, 1)),))
        elif self.layout(cut) == "tokens":
            restored = head_graph.call_method("contiguous", (head_graph.call_method(
                "transpose", (head_graph.call_method("flatten", (z, 2)), 1, 2)),))
            if prefix:
                restored = head_graph.call_function(torch.cat, ([cls, restored], 1))
        else:
            restored = z
        env = {cut: restored}

        def value(a):
            # Only parameters and constants reach here: check_cut refused anything else.
            if a not in env:
                assert a not in self.dynamic, a
                env[a] = head_graph.node_copy(a, value)
            return env[a]

        for n in self.nodes[self.index[cut] + 1:]:
            env[n] = head_graph.node_copy(n, value)
        head_graph.lint()
        return features, with_tokens, fx.GraphModule(self.gm, head_graph, "Head")


def _dims_are_spatial(dims):
    if isinstance(dims, int):
        return False
    return dims is not None and sorted(d % 4 for d in dims) == [2, 3]


def head_starts_with_global_avg_pool(head):
    z = next(n for n in head.graph.nodes if n.op == "placeholder")
    if len(z.users) != 1:
        return False
    u = next(iter(z.users))
    args = list(u.args[1:])
    if u.op == "call_module":
        m = head.get_submodule(u.target)
        return isinstance(m, torch.nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))
    if u.op == "call_function" and u.target in (F.adaptive_avg_pool2d, torch._C._nn.adaptive_avg_pool2d):
        return u.kwargs.get("output_size", args[0] if args else None) in (1, (1, 1), [1, 1])
    if (u.op == "call_function" and u.target is torch.mean) or (u.op == "call_method" and u.target == "mean"):
        return _dims_are_spatial(u.kwargs.get("dim", args[0] if args else None))
    return False


# ---------------------------------------------------------------- TorchScript

def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


def _same(got, expected):
    got, expected = _as_tuple(got), _as_tuple(expected)
    return len(got) == len(expected) and all(
        isinstance(g, torch.Tensor) and g.shape == e.shape and (g - e).abs().max().item() <= TOLERANCE
        for g, e in zip(got, expected))


def to_torchscript(module, example, what):
    """Scripts `module` (keeps it shape-generic); falls back to tracing when scripting fails.
    `example` is a tensor or a tuple of the module's input tensors."""
    inputs = _as_tuple(example)
    with torch.no_grad():
        expected = module(*inputs)
    if not all(isinstance(t, torch.Tensor) for t in _as_tuple(expected)):
        raise ExportError(f"{what} returns {type(expected).__name__}, not tensors")
    errors = []
    for how in ("script", "trace"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ts = torch.jit.script(module) if how == "script" else \
                    torch.jit.trace(module, inputs, check_trace=False)
            with torch.no_grad():
                got = ts(*inputs)
            if _same(got, expected):
                return ts, how
            errors.append(f"{how}: output differs from the eager model")
        except Exception as e:
            errors.append(f"{how}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise ExportError(f"cannot convert {what} to TorchScript ({'; '.join(errors)})")


_WRAPPER_HEAD = '''\
from typing import Tuple

import torch
from torch import Tensor


class DirectrixModel(torch.nn.Module):
    def __init__(self, full, parts):
        super().__init__()
        self.full = full
        for name, (features, with_tokens, head) in parts.items():
            setattr(self, "f_" + name, features)
            setattr(self, "h_" + name, head)
            if with_tokens is not None:
                setattr(self, "t_" + name, with_tokens)

    def forward(self, x: Tensor) -> Tensor:
        return self.full(x)
'''

# The head gets a copy of z: its first op may work in place (e.g. ReLU(inplace=True)),
# which would otherwise overwrite activations the caller keeps or differentiates.
_WRAPPER_LAYER = '''
    @torch.jit.export
    def features_{0}(self, x: Tensor) -> Tensor:
        return self.f_{0}(x)

    @torch.jit.export
    def head_{0}(self, z: Tensor) -> Tensor:
        return self.h_{0}(z.clone())
'''

# A token layer with class tokens: features_with_class_tokens_L returns the grid and the class
# tokens (N x p x C) from one pass, and the head reads both.
_WRAPPER_TOKEN_LAYER = '''
    @torch.jit.export
    def features_{0}(self, x: Tensor) -> Tensor:
        return self.f_{0}(x)

    @torch.jit.export
    def features_with_class_tokens_{0}(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        return self.t_{0}(x)

    @torch.jit.export
    def head_{0}(self, z: Tensor, class_tokens: Tensor) -> Tensor:
        return self.h_{0}(z.clone(), class_tokens)
'''

_wrapper_count = 0


def build_wrapper(full, parts, skip_methods=()):
    """Scripts one module with forward and a features_L/head_L pair per layer.

    TorchScript compiles methods from their source, so the class is written to a
    temporary file and imported. `skip_methods` leaves methods out (test fixtures only).
    """
    global _wrapper_count
    _wrapper_count += 1
    source = _WRAPPER_HEAD + "".join(
        (_WRAPPER_LAYER if with_tokens is None else _WRAPPER_TOKEN_LAYER).format(name)
        for name, (_, with_tokens, _) in parts.items())
    for method in skip_methods:
        source = re.sub(rf"\n    @torch.jit.export\n    def {method}\(.*?\n.*?\n", "\n", source)
    mod_name = f"directrix_model_{_wrapper_count}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, mod_name + ".py")
        with open(path, "w") as f:
            f.write(source)
        spec = importlib.util.spec_from_file_location(mod_name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = mod
        try:
            spec.loader.exec_module(mod)
            scripted = torch.jit.script(mod.DirectrixModel(full, parts))
        finally:
            del sys.modules[mod_name]
    return scripted.eval()


def layer_id(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def verify(module, probe, layers):
    """Max |head_L(features_L(x)) - forward(x)| per layer; raises when above tolerance."""
    diffs = {}
    with torch.no_grad():
        expected = module(probe)
        for layer in layers:
            z = getattr(module, "features_" + layer["name"])(probe)
            want = (probe.shape[0], layer["channels"], layer["height"], layer["width"])
            if tuple(z.shape) != want:
                raise ExportError(f"features_{layer['name']} returns {tuple(z.shape)}, expected {want}")
            inputs = (z,)
            if layer["class_tokens"]:
                z2, tokens = getattr(module, "features_with_class_tokens_" + layer["name"])(probe)
                if (z2 - z).abs().max().item() > TOLERANCE:
                    raise ExportError(f"features_with_class_tokens_{layer['name']} disagrees with "
                                      f"features_{layer['name']}")
                inputs = (z, tokens)
            logits = getattr(module, "head_" + layer["name"])(*inputs)
            diff = (logits - expected).abs().max().item()
            if not diff <= TOLERANCE:
                raise ExportError(f"split at '{layer['node']}' does not reproduce forward: "
                                  f"max abs difference {diff:.3g} > {TOLERANCE}")
            diffs[layer["name"]] = diff
            moved = (z + torch.randn(z.shape, generator=torch.Generator().manual_seed(7)),) + inputs[1:]
            reads_input = (expected - expected[:1]).abs().max().item() > TOLERANCE  # zero heads read nothing
            if reads_input and \
                    (getattr(module, "head_" + layer["name"])(*moved) - logits).abs().max().item() <= TOLERANCE:
                print(f"warning: layer {layer['node']}: the head does not read its patch grid (as "
                      f"after a ViT's last block, where only the class token reaches the classifier), "
                      f"so its concepts cannot change a prediction; prefer an earlier block",
                      file=sys.stderr)
    return diffs


def split_model(model, layer_names, input_spec):
    """TorchScript forward, {layer id: (features, head)}, layer metadata (shallow to deep),
    how each part was converted, and the probe batch used."""
    model.eval()
    probe = probe_batch(input_spec)
    traced = TracedModel(model, probe)
    cuts = []
    for name in layer_names:
        node = traced.resolve(name)
        traced.check_cut(name, node)
        cuts.append((traced.index[node], name, node))
    cuts.sort(key=lambda c: c[0])
    layers, parts, how = [], {}, {}
    for _, name, node in cuts:
        ident = layer_id(name)
        if ident in parts:
            raise ExportError(f"layers '{name}' and another one share the identifier '{ident}'")
        features, with_tokens, head = traced.split(node)
        c, h, w = traced.grid(node)
        with torch.no_grad():
            head_inputs = with_tokens(probe) if with_tokens is not None else features(probe)
        f_ts, how["features_" + ident] = to_torchscript(features, probe, f"features of '{name}'")
        t_ts = None
        if with_tokens is not None:
            t_ts, how["features_with_class_tokens_" + ident] = to_torchscript(
                with_tokens, probe, f"features with class tokens of '{name}'")
        h_ts, how["head_" + ident] = to_torchscript(head, head_inputs, f"head of '{name}'")
        parts[ident] = (f_ts, t_ts, h_ts)
        layers.append({"name": ident, "node": name, "channels": c, "height": h, "width": w,
                       "layout": traced.layout(node),
                       "class_tokens": traced.class_tokens(node) if traced.layout(node) == "tokens" else 0,
                       "head_starts_with_global_avg_pool": head_starts_with_global_avg_pool(head)})
    # forward comes from the original model, not from a split, so the check below means something.
    full, how["forward"] = to_torchscript(model, probe, "the model")
    return full, parts, layers, how, probe


def build(model, layer_names, input_spec):
    """Scripted Directrix module, layer metadata, conversion methods and probe batch."""
    full, parts, layers, how, probe = split_model(model, layer_names, input_spec)
    return build_wrapper(full, parts), layers, how, probe


def metadata(name, classes, input_spec, layers, extra=None):
    meta = {"format": FORMAT, "version": VERSION, "name": name, "classes": list(classes),
            "input": dict(input_spec), "layers": layers}
    meta.update(extra or {})
    return meta


def save(module, path, meta_text):
    """Writes the archive; meta_text None writes none (test fixtures only)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    extra = {} if meta_text is None else {JSON_NAME: meta_text}
    torch.jit.save(module, path, _extra_files=extra)
    strip_debug_records(path)
    return os.path.getsize(path)


def strip_debug_records(path):
    """Rewrites a TorchScript archive without its *.debug_pkl records.

    They map the scripted code back to the Python files it came from, by absolute path (this
    checkout, and the temporary file the exporter writes its wrapper to); loading and running
    the model do not need them, and a shipped file should not name the machine it was built on.
    """
    reader = torch._C.PyTorchFileReader(path)
    versions = ("version", ".data/version")
    with tempfile.TemporaryDirectory() as tmp:
        # The writer names the archive's top folder after the file, so keep the file name.
        copy = os.path.join(tmp, os.path.basename(path))
        writer = torch._C.PyTorchFileWriter(copy)
        for name in reader.get_all_records():
            if name in versions:  # the writer adds its own at the end; keep the number
                writer.set_min_version(int(reader.get_record(name).decode()))
            elif not name.endswith(".debug_pkl"):
                data = reader.get_record(name)
                writer.write_record(name, data, len(data))
        writer.write_end_of_file()
        del writer  # closes the file
        shutil.move(copy, path)


def parameter_bytes(model):
    storages = {}
    for t in model.state_dict().values():
        s = t.storage()
        storages[s.data_ptr()] = s.nbytes()
    return sum(storages.values())


def export_model(model, layer_names, out_path, input_spec, classes=None, name="model",
                 extra=None, log=print):
    """Splits, verifies and saves `model`; returns the metadata written."""
    if input_spec["colour_mode"] not in ("gray", "rgb"):
        raise ExportError("colour mode must be 'gray' or 'rgb'")
    channels = input_channels(input_spec)
    if len(input_spec["mean"]) != channels or len(input_spec["std"]) != channels:
        raise ExportError(f"--mean and --std need {channels} value(s) for colour mode "
                          f"{input_spec['colour_mode']}")
    if not layer_names:
        raise ExportError("no layers given")
    module, layers, how, probe = build(model, layer_names, input_spec)
    with torch.no_grad():
        num_classes = module(probe).shape[-1]
    if classes is None:
        classes = [f"class_{i}" for i in range(num_classes)]
    if len(classes) != num_classes:
        raise ExportError(f"{len(classes)} class names given but the model has {num_classes} outputs")
    diffs = verify(module, probe, layers)
    meta = metadata(name, classes, input_spec, layers, extra)
    size = save(module, out_path, json.dumps(meta, indent=1))
    params = parameter_bytes(model)
    for layer in layers:
        log(f"layer {layer['name']:<16} node {layer['node']:<16} "
            f"{layer['channels']}x{layer['height']}x{layer['width']}  "
            f"gap-head {layer['head_starts_with_global_avg_pool']}  "
            f"split diff {diffs[layer['name']]:.2e}")
    log("torchscript: " + ", ".join(f"{k} by {v}" for k, v in how.items()))
    log(f"wrote {out_path}: {size / 1e6:.2f} MB (parameters and buffers {params / 1e6:.2f} MB), "
        f"{num_classes} classes")
    if size > 1.2 * params + 2e6:
        log("warning: the file is much larger than the parameters; they may be stored more than once")
    return meta


# ---------------------------------------------------------------- CLI

def _floats(text):
    return [float(v) for v in text.split(",")]


def _size(text):
    h, _, w = text.lower().partition("x")
    return int(h), int(w or h)


def first_conv_channels(model):
    conv = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return conv.in_channels if conv is not None else None


def input_spec_from_args(args, defaults, model):
    spec = dict(defaults)
    in_ch = first_conv_channels(model)
    if args.colour_mode:
        spec["colour_mode"] = args.colour_mode
    elif in_ch in (1, 3):
        spec["colour_mode"] = "gray" if in_ch == 1 else "rgb"
    if spec["colour_mode"] != defaults["colour_mode"] and not (args.mean or args.std):
        spec["mean"], spec["std"] = (GRAY_MEAN, GRAY_STD) if spec["colour_mode"] == "gray" \
            else (IMAGENET_MEAN, IMAGENET_STD)
    if in_ch is not None and in_ch != input_channels(spec):
        raise ExportError(f"the model's first convolution takes {in_ch} channel(s), "
                          f"colour mode {spec['colour_mode']} gives {input_channels(spec)}")
    if args.input_size:
        spec["height"], spec["width"] = _size(args.input_size)
        if not args.resize:  # keep the model's resize-to-crop ratio
            ratio = defaults["resize"] / min(defaults["height"], defaults["width"])
            spec["resize"] = int(round(min(spec["height"], spec["width"]) * ratio))
    if args.resize:
        spec["resize"] = args.resize
    if args.mean:
        spec["mean"] = _floats(args.mean)
    if args.std:
        spec["std"] = _floats(args.std)
    return spec


def read_classes(path):
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Export a vision classifier as a Directrix model (TorchScript + directrix.json).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=textwrap.dedent("""\
            examples:
              export_model.py --torchvision resnet18 --weights resnet18.pth --layers layer3,layer4 --out r18.pt
              export_model.py --torchvision vgg16 --list-layers
              export_model.py --torchvision resnet50 --out r50.pt     (default layers)
              export_model.py --module mynet.py:Net --layers block2,block3 --classes names.txt --out net.pt"""))
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--torchvision", metavar="NAME", help="torchvision classification model, e.g. resnet50")
    src.add_argument("--module", metavar="FILE.py:NAME",
                     help="nn.Module class or factory in a Python file, built with no arguments")
    p.add_argument("--weights", metavar="FILE", help="state dict to load (default: random initialisation)")
    p.add_argument("--seed", type=int, default=0, help="seed for random initialisation (default 0)")
    p.add_argument("--layers", metavar="A,B,...",
                   help="fx node or module names to offer, e.g. layer3,layer4 (default: the end of "
                        "each of the last three stages, see --list-layers)")
    p.add_argument("--list-layers", action="store_true", help="print the clean cut nodes and exit")
    p.add_argument("--classes", metavar="FILE", help="class names, one per line")
    p.add_argument("--num-classes", type=int,
                   help="outputs of a torchvision model (default: lines in --classes, else 1000)")
    p.add_argument("--input-size", metavar="N|HxW", help="network input size after the centre crop")
    p.add_argument("--resize", type=int, help="shorter image side is resized to this before cropping")
    p.add_argument("--mean", metavar="M[,M,M]", help="per-channel mean of pixels scaled to [0,1]")
    p.add_argument("--std", metavar="S[,S,S]", help="per-channel standard deviation")
    p.add_argument("--colour-mode", choices=("rgb", "gray"))
    p.add_argument("--name", help="display name (default: model name)")
    p.add_argument("--out", metavar="FILE.pt", help="output file")
    args = p.parse_args(argv)
    if not args.list_layers and not args.out:
        p.error("--out is required unless --list-layers is given")
    return args


def main(argv=None):
    args = parse_args(argv)
    try:
        classes = read_classes(args.classes) if args.classes else None
        torch.manual_seed(args.seed)
        if args.torchvision:
            num_classes = args.num_classes or (len(classes) if classes else 1000)
            model = torchvision_model(args.torchvision, num_classes)
            defaults = torchvision_input_defaults(args.torchvision)
            name = args.torchvision
        else:
            model = user_module(args.module)
            defaults = {"colour_mode": "rgb", "height": 224, "width": 224, "resize": 256,
                        "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
            name = type(model).__name__
        if args.weights:
            load_weights(model, args.weights)
        elif not args.list_layers:
            print(f"warning: no --weights given, using random initialisation (seed {args.seed}); "
                  "its concepts are meaningless", file=sys.stderr)
        spec = input_spec_from_args(args, defaults, model)
        model.eval()
        if args.list_layers:
            traced = TracedModel(model, probe_batch(spec))
            print(f"clean cut nodes of {name} for input {input_channels(spec)}x{spec['height']}x{spec['width']}:")
            print(traced.listing())
            print("default layers: " + ",".join(traced.default_layers()))
            return 0
        if args.layers:
            layer_names = [s.strip() for s in args.layers.split(",") if s.strip()]
        else:
            layer_names = TracedModel(model, probe_batch(spec)).default_layers()
            print("layers (default, the end of each of the last stages): " + ",".join(layer_names))
        export_model(model, layer_names, args.out, spec, classes, args.name or name)
    except (ExportError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
