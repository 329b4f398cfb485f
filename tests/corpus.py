"""A generated corpus of random valid problems of every kind (issue 10).

`problem_sets(seed, per_kind)` draws, with one seeded generator per kind and
seed, `per_kind` problems of every kind as `given:` mappings a user could
write, across each kind's documented options and edge shapes: 1×1 and
non-square inputs, every option on and off, symbols where a kind takes them,
several channels, long sequences, 3–4 token attention, 16-cell outputs, deep
networks with every layer type. They are batched into a few problem sets
(YAML mappings, `write_sets` saves them) so that a test starts few processes
and few TeX runs.

Every draw is valid by construction: the sizes follow PyTorch's rules, written
out here (`conv_size`, `transposed_size`), never asked of the solver.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import yaml

SET_KINDS = {                 # set name -> the kinds it holds
    "convolution": ("conv2d", "conv_transpose2d", "conv2d_backward", "pool2d"),
    "counting": ("conv_cost", "layers_to_size", "conv_design", "network", "transformer", "essay"),
    "dense": ("batchnorm", "normalization", "mlp", "mlp_jacobian", "rnn", "lstm", "gru", "attention",
              "softmax_cross_entropy", "dropout", "optimizer", "init", "regularization", "graph"),
}
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "softplus")


# ---- PyTorch's size rules ---------------------------------------------------

def conv_size(n, k, s=1, p=0, d=1, ceil=False):
    """Output size of a convolution or pooling on one axis (0 or less: none)."""
    span = n + 2 * p - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (-(-span // s) if ceil else span // s) + 1
    if ceil and (out - 1) * s >= n + p:        # the last window would start in the right padding
        out -= 1
    return out


def transposed_size(n, k, s=1, p=0, d=1, op=0):
    return (n - 1) * s - 2 * p + d * (k - 1) + op + 1


# ---- small drawing helpers ---------------------------------------------------

def hw(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def as_field(h, w, rng):
    """An int where h == w (sometimes a pair anyway), else [h, w]."""
    return h if h == w and rng.random() < 0.7 else [h, w]


def values(rng, shape, decimals=False, low=-3, high=5, nonzero=False):
    """A nested list of small numbers of the given shape."""
    if not shape:
        while True:
            v = round(rng.uniform(low, high), 1) if decimals else rng.randint(low, high)
            if not (nonzero and v == 0):
                return v
    return [values(rng, shape[1:], decimals, low, high, nonzero) for _ in range(shape[0])]


def maybe(rng, mapping, name, value, chance=0.5):
    if rng.random() < chance:
        mapping[name] = value


# ---- the convolution family -------------------------------------------------

def draw_window(rng, kind):
    """Kernel, stride, padding, dilation pairs that fit an input drawn after them."""
    k = (rng.randint(1, 3), rng.randint(1, 3))
    s = (rng.randint(1, 2), rng.randint(1, 2)) if rng.random() < 0.6 else (1, 1)
    d = (rng.randint(1, 2), rng.randint(1, 2)) if rng.random() < 0.3 else (1, 1)
    p = tuple(rng.randint(0, kk // 2 if kind == "pool2d" else 2) for kk in k)
    return k, s, p, d


def draw_conv2d(rng, backward=False):
    given = {}
    for _ in range(100):
        k, s, p, d = draw_window(rng, "conv2d")
        size = (rng.randint(1, 6), rng.randint(1, 6))
        padding = list(p)
        if rng.random() < 0.15:
            padding, s = rng.choice(["same", "valid"]), (1, 1)
        pads = hw(0) if padding == "valid" else (None if padding == "same" else padding)
        out = size if pads is None else tuple(conv_size(n, kk, ss, pp, dd)
                                              for n, kk, ss, pp, dd in zip(size, k, s, pads, d))
        if min(out) >= 1 and out[0] * out[1] <= 20:
            break
    groups = rng.choice([1, 1, 2]) if not backward else 1
    c, o = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
    channels = c > 1 or o > 1 or rng.random() < 0.3
    given["input"] = values(rng, ((c,) if channels else ()) + size, decimals=rng.random() < 0.2)
    given["kernel"] = values(rng, ((o, c // groups) if channels else ()) + k, nonzero=True)
    maybe(rng, given, "bias", values(rng, (o,)) if channels else values(rng, ()), 0.4)
    if s != (1, 1) or rng.random() < 0.2:
        given["stride"] = as_field(*s, rng)
    if padding != [0, 0] or rng.random() < 0.2:
        given["padding"] = padding if isinstance(padding, str) else as_field(*padding, rng)
    if d != (1, 1) or rng.random() < 0.2:
        given["dilation"] = as_field(*d, rng)
    if groups > 1:
        given["groups"] = groups
    maybe(rng, given, "flip", rng.random() < 0.5, 0.3)
    if backward:
        if rng.random() < 0.5:
            shape = ((o,) if channels else ()) + out
            given["upstream"] = values(rng, shape, low=-2, high=2)
    else:
        maybe(rng, given, "activation", "relu", 0.3)
    return given


def draw_conv2d_sizes(rng):
    """A size-only conv2d: numbers, or symbols for the general formula."""
    if rng.random() < 0.5:
        given = {"input_size": "H", "kernel_size": rng.choice(["K", 3])}
        for name, symbol in (("stride", "S"), ("padding", "P"), ("dilation", "D")):
            maybe(rng, given, name, rng.choice([symbol, 1, 2]))
        return given
    k, s, p, d = draw_window(rng, "conv2d")
    size = tuple(rng.randint(d[a] * (k[a] - 1) + 1, 300) for a in range(2))
    if rng.random() < 0.3:          # one input size under a per-axis window: the answer is still a shape
        size = (max(size),) * 2
    return {"input_size": as_field(*size, rng), "kernel_size": as_field(*k, rng),
            "stride": as_field(*s, rng),
            "padding": as_field(*p, rng), "dilation": as_field(*d, rng)}


def draw_conv_transpose2d(rng):
    if rng.random() < 0.25:
        return draw_transposed_sizes(rng)
    for _ in range(100):
        k = (rng.randint(1, 3), rng.randint(1, 3))
        s = (rng.randint(1, 3), rng.randint(1, 2))
        d = (rng.randint(1, 2), 1) if rng.random() < 0.3 else (1, 1)
        p = (rng.randint(0, 1), rng.randint(0, 1))
        op = tuple(rng.randint(0, max(ss, dd) - 1) for ss, dd in zip(s, d))
        size = (rng.randint(1, 3), rng.randint(1, 3))
        out = tuple(transposed_size(*args) for args in zip(size, k, s, p, d, op))
        if min(out) >= 1 and out[0] * out[1] <= 30:
            break
    groups = rng.choice([1, 1, 2])
    c_in, c_out = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
    channels = c_in > 1 or c_out > 1 or rng.random() < 0.3
    given = {"input": values(rng, ((c_in,) if channels else ()) + size),
             "kernel": values(rng, ((c_in, c_out // groups) if channels else ()) + k, nonzero=True)}
    maybe(rng, given, "bias", values(rng, (c_out,)) if channels else values(rng, ()), 0.4)
    for name, v, default in (("stride", s, (1, 1)), ("padding", p, (0, 0)), ("dilation", d, (1, 1))):
        if v != default or rng.random() < 0.2:
            given[name] = as_field(*v, rng)
    if groups > 1:
        given["groups"] = groups
    if rng.random() < 0.25:
        given["target_size"] = as_field(*out, rng)
    elif op != (0, 0) or rng.random() < 0.2:
        given["output_padding"] = as_field(*op, rng)
    maybe(rng, given, "activation", "relu", 0.2)
    return given


def draw_transposed_sizes(rng):
    if rng.random() < 0.4:
        given = {"input_size": "H", "kernel_size": rng.choice(["K", 4])}
        for name, symbol in (("stride", "S"), ("padding", "P"), ("dilation", "D")):
            maybe(rng, given, name, rng.choice([symbol, 2]))
        return given
    k, s, p, d = rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 2), rng.randint(1, 2)
    n = rng.randint(1, 64)
    op = rng.randint(0, max(s, d) - 1)
    if transposed_size(n, k, s, p, d, 0) < 1:
        p = 0
    given = {"input_size": n, "kernel_size": k, "stride": s, "padding": p, "dilation": d}
    if rng.random() < 0.5:
        given["target_size"] = transposed_size(n, k, s, p, d, op)
    else:
        given["output_padding"] = op
    return given


def draw_pool2d(rng):
    if rng.random() < 0.1:
        given = {"input_size": "H", "kernel_size": rng.choice(["K", 2])}
        maybe(rng, given, "stride", rng.choice(["S", 1]))
        maybe(rng, given, "padding", "P")
        return given
    mode = rng.choice(["max", "avg", "lp"])
    size_only = rng.random() < 0.25
    for _ in range(100):
        k, s, p, d = draw_window(rng, "pool2d")
        if mode != "max":
            d = (1, 1)
        if mode == "lp":
            p = (0, 0)
        ceil = rng.random() < 0.5
        size = (rng.randint(1, 7), rng.randint(1, 7))
        if size_only:
            size = (size[0], size[0])
        out = tuple(conv_size(*args, ceil=ceil) for args in zip(size, k, s, p, d))
        if min(out) >= 1 and out[0] * out[1] <= 20:
            break
    given = {"mode": mode} if mode != "max" or rng.random() < 0.5 else {}
    channels = rng.random() < 0.3
    if size_only:      # one number: a shape answer where the window differs per axis
        given["input_size"] = size[0]
    else:
        # An odd power above 1 of a window with a negative sum has no real root (PyTorch gives nan,
        # we refuse the problem): such windows are drawn only for the other norms.
        norm = rng.choice([1, 2, 3])
        positive = mode == "lp" and norm == 3
        given["input"] = values(rng, ((2,) if channels else ()) + size, low=1 if positive else -3,
                                decimals=rng.random() < 0.2)
    given["kernel_size"] = as_field(*k, rng)
    if s != k or rng.random() < 0.3:
        given["stride"] = as_field(*s, rng)
    if p != (0, 0) or (mode != "lp" and rng.random() < 0.2):
        given["padding"] = as_field(*p, rng)
    if d != (1, 1):
        given["dilation"] = as_field(*d, rng)
    if ceil or rng.random() < 0.2:
        given["ceil_mode"] = ceil
    if mode == "avg":
        maybe(rng, given, "count_include_pad", rng.random() < 0.5, 0.5)
        maybe(rng, given, "divisor_override", rng.randint(1, 5), 0.15)
    if mode == "lp":
        given["norm_type"] = rng.choice([1, 2, 3]) if size_only else norm
    if not size_only:
        maybe(rng, given, "activation", "relu", 0.2)
    return given


# ---- counting kinds -----------------------------------------------------------

def draw_conv_cost(rng):
    if rng.random() < 0.3:
        given = {"in_channels": "C", "out_channels": "N", "kernel_size": "K"}
        maybe(rng, given, "input_size", "H")
        maybe(rng, given, "groups", "G", 0.3)
        maybe(rng, given, "depth_multiplier", rng.choice(["M", 2]), 0.3)
        maybe(rng, given, "batch_size", "B", 0.3)
        maybe(rng, given, "bias", rng.random() < 0.5)
        if "input_size" in given:
            maybe(rng, given, "padding", rng.choice(["same", "P", 1]), 0.4)
        return given
    groups = rng.choice([1, 1, 2, 4])
    given = {"in_channels": groups * rng.randint(1, 16), "out_channels": groups * rng.randint(1, 32),
             "kernel_size": as_field(rng.randint(1, 5), rng.randint(1, 5), rng)}
    k = hw(given["kernel_size"])
    if rng.random() < 0.7:
        given["input_size"] = as_field(rng.randint(max(k), 64), rng.randint(max(k), 64), rng)
        if rng.random() < 0.3:
            given["padding"] = rng.choice(["same", "valid"])
        else:
            maybe(rng, given, "stride", rng.randint(1, 3))
            maybe(rng, given, "padding", rng.randint(0, 2))
        maybe(rng, given, "batch_size", rng.randint(1, 8), 0.3)
    if groups > 1:
        given["groups"] = groups
    maybe(rng, given, "depth_multiplier", rng.randint(1, 3), 0.3)
    maybe(rng, given, "bias", rng.random() < 0.5, 0.4)
    return given


def draw_layers_to_size(rng):
    for _ in range(200):
        k, s, p, d = rng.randint(2, 5), rng.randint(1, 2), rng.randint(0, 1), rng.choice([1, 1, 2])
        n = rng.randint(8, 64)
        sizes = [n]
        while len(sizes) < rng.randint(2, 6) and conv_size(sizes[-1], k, s, p, d) >= 1:
            sizes.append(conv_size(sizes[-1], k, s, p, d))
        if len(sizes) >= 2 and all(a > b for a, b in zip(sizes, sizes[1:])):
            break
    given = {"input_size": n, "target_size": sizes[-1], "kernel_size": k}
    for name, v, default in (("stride", s, 1), ("padding", p, 0), ("dilation", d, 1)):
        if v != default or rng.random() < 0.2:
            given[name] = v
    if rng.random() < 0.6:
        given["in_channels"] = rng.randint(1, 3)
        layers = len(sizes) - 1
        given["out_channels"] = rng.choice([rng.randint(1, 64), [rng.randint(1, 64) for _ in range(layers)]])
        maybe(rng, given, "bias", rng.random() < 0.5, 0.4)
    return given


DESIGN_TARGETS = [   # (in_channels, out_channels, kernel_size, padding, target)
    (1, 1, 2, 0, "X[i+1, j] - X[i, j]"),
    (1, 2, 3, 1, ["X[i+1, j] - X[i, j]", "X[i, j+1] - X[i, j]"]),
    (2, 1, 1, 0, "0.5*X[0, i, j] + 0.5*X[1, i, j]"),
    (1, 1, 3, 1, "X[i-1, j] + X[i+1, j] - 2*X[i, j]"),
    (2, 2, 2, 0, {"avg_pool": 2}),
    (3, 1, 1, 0, "0.299*X[0, i, j] + 0.587*X[1, i, j] + 0.114*X[2, i, j]"),
]


def draw_conv_design(rng):
    c_in, c_out, k, p, target = rng.choice(DESIGN_TARGETS)
    given = {"in_channels": c_in, "out_channels": c_out, "kernel_size": k, "target": target}
    if p:
        given["padding"] = p
    if isinstance(target, dict):
        given["stride"], given["input_size"] = 2, 4
    maybe(rng, given, "bias", rng.random() < 0.5)
    return given


def draw_network_layer(rng, shape, kind):
    """One layer mapping valid on `shape` (C, H, W) or (F,), and the shape after it."""
    if len(shape) == 1:
        if kind == "linear":
            out = rng.randint(1, 64)
            layer = {"type": "linear", "out_features": out}
            maybe(rng, layer, "in_features", "?", 0.3)
            maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
            return layer, (out,)
        return draw_any_shape_layer(rng, shape, kind)
    c, h, w = shape
    if kind in ("conv2d", "conv_transpose2d"):
        for _ in range(50):
            k, s, p, d = draw_window(rng, kind)
            groups = rng.choice([g for g in (1, 2) if c % g == 0])
            if kind == "conv2d":
                out = [conv_size(n, kk, ss, pp, dd) for n, kk, ss, pp, dd in zip((h, w), k, s, p, d)]
            else:
                op = [rng.randint(0, max(ss, dd) - 1) for ss, dd in zip(s, d)]
                out = [transposed_size(*args) for args in zip((h, w), k, s, p, d, op)]
            if min(out) >= 1 and max(out) <= 64:
                break
        else:
            return {"type": "relu"}, shape
        layer = {"type": kind, "out_channels": groups * rng.randint(1, 8), "kernel_size": as_field(*k, rng)}
        for name, v, default in (("stride", s, (1, 1)), ("padding", p, (0, 0)), ("dilation", d, (1, 1))):
            if tuple(v) != default:
                layer[name] = as_field(*v, rng)
        if kind == "conv_transpose2d" and op != [0, 0]:
            layer["output_padding"] = as_field(*op, rng)
        if groups > 1:
            layer["groups"] = groups
        maybe(rng, layer, "in_channels", "?", 0.3)
        maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
        return layer, (layer["out_channels"], *out)
    if kind in ("maxpool2d", "avgpool2d"):
        for _ in range(50):
            k, s, p, d = draw_window(rng, "pool2d")
            if kind == "avgpool2d":
                d = (1, 1)
            ceil = rng.random() < 0.4
            out = [conv_size(*args, ceil=ceil) for args in zip((h, w), k, s, p, d)]
            if min(out) >= 1:
                break
        else:
            return {"type": "relu"}, shape
        layer = {"type": kind, "kernel_size": as_field(*k, rng), "stride": as_field(*s, rng)}
        if p != (0, 0):
            layer["padding"] = as_field(*p, rng)
        if d != (1, 1):
            layer["dilation"] = as_field(*d, rng)
        if ceil:
            layer["ceil_mode"] = True
        return layer, (c, *out)
    if kind == "batchnorm2d":
        layer = {"type": "batchnorm2d"}
        maybe(rng, layer, "num_features", "?", 0.3)
        maybe(rng, layer, "affine", rng.random() < 0.5, 0.3)
        return layer, shape
    if kind == "dropout":
        return {"type": "dropout", "p": rng.choice([0, 0.25, 0.5, 1])}, shape
    if kind in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
        out = (rng.randint(1, 8), rng.randint(1, 8))
        return {"type": kind, "output_size": as_field(*out, rng)}, (c, *out)
    if kind == "local_response_norm":
        layer = {"type": kind, "size": rng.randint(1, 5)}
        maybe(rng, layer, "beta", 0.5, 0.3)
        return layer, shape
    if kind == "groupnorm":
        # torch refuses one value per group on a batch of 1: at least 2 values in a group
        groups = [g for g in range(1, c + 1) if c % g == 0 and (c // g) * h * w > 1]
        if not groups:
            return {"type": "relu"}, shape
        layer = {"type": kind, "num_groups": rng.choice(groups)}
        maybe(rng, layer, "num_channels", "?", 0.5)
        maybe(rng, layer, "affine", rng.random() < 0.5, 0.3)
        return layer, shape
    if kind == "upsample":
        scale = rng.choice([2, 1.5, [2, 1], 0.5])
        sh, sw = scale if isinstance(scale, list) else (scale, scale)
        out = (int(h * sh), int(w * sw))              # torch: floor(float(H)·s)
        if min(out) < 1 or max(out) > 64:
            return {"type": "identity"}, shape
        layer = {"type": kind, "scale_factor": scale}
        maybe(rng, layer, "mode", rng.choice(["nearest", "bilinear"]), 0.7)
        return layer, (c, *out)
    return draw_any_shape_layer(rng, shape, kind)


def draw_any_shape_layer(rng, shape, kind):
    """A layer that takes a map, a sequence or a vector alike: layernorm on trailing sizes,
    softmax along an axis, identity, activations."""
    if kind == "layernorm":
        trailing = list(shape[-rng.randint(1, len(shape)):])
        layer = {"type": kind, "normalized_shape": trailing[0] if len(trailing) == 1 and rng.random() < 0.5
                 else trailing}
        maybe(rng, layer, "elementwise_affine", rng.random() < 0.5, 0.3)
        maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
        return layer, shape
    if kind == "softmax":
        layer = {"type": kind}
        maybe(rng, layer, "dim", rng.choice([1, -1, len(shape)]), 0.6)
        return layer, shape
    return {"type": kind}, shape


ANY_SHAPE_TYPES = ("layernorm", "softmax", "identity")
MAP_TYPES = ("conv2d", "conv_transpose2d", "maxpool2d", "avgpool2d", "batchnorm2d", "dropout") + ACTIVATIONS \
    + ("adaptive_avg_pool2d", "adaptive_max_pool2d", "local_response_norm", "groupnorm", "upsample") + ANY_SHAPE_TYPES


def next_layer_type(rng, shape):
    if len(shape) == 3:
        return "flatten" if rng.random() < 0.12 else rng.choice(MAP_TYPES)
    return rng.choice(["linear", "linear", "dropout", "flatten", *ACTIVATIONS, *ANY_SHAPE_TYPES])


def draw_network(rng, every_type=False):
    """A deep network with repeats, names and ? fields; with `every_type`, each
    map layer type once (in a random order), then flatten, linear, dropout and
    every activation on the vector."""
    vector = not every_type and rng.random() < 0.1
    shape = (rng.randint(1, 64),) if vector else (rng.randint(1, 4), rng.randint(1, 32), rng.randint(1, 32))
    given = {"input_shape": "x".join(map(str, shape)) if rng.random() < 0.5 else list(shape)}
    if not vector and rng.random() < 0.2:
        given["layout"] = "hwc"
        given["input_shape"] = "x".join(map(str, shape[1:] + shape[:1]))
    maybe(rng, given, "batch_size", rng.randint(1, 128), 0.4)
    planned = (rng.sample(MAP_TYPES, len(MAP_TYPES)) + ["flatten", "linear", "dropout", *ACTIVATIONS]
               if every_type else [None] * rng.randint(3, 12))
    layers = []
    for kind in planned:
        kind = kind or next_layer_type(rng, shape)
        if kind == "flatten":
            layer, shape = {"type": "flatten"}, (shape[0] * shape[1] * shape[2],) if len(shape) == 3 else shape
        else:
            layer, shape = draw_network_layer(rng, shape, kind)
        if layer["type"] in ("batchnorm2d", "relu", "tanh", "dropout") and rng.random() < 0.2:
            layer["repeat"] = rng.randint(2, 4)
        maybe(rng, layer, "name", f"L{len(layers) + 1}", 0.2)
        layers.append(layer)
    if len(shape) == 3:
        layers.append({"type": "flatten"})
    layers.append({"type": "linear", "out_features": rng.randint(1, 10)})
    given["layers"] = layers
    return given


def with_blocks(rng, given) -> dict:
    """The network with, before its first flatten (where it has a feature map there), a residual
    block that keeps the shape (identity shortcut) and a concatenation of the map with a 1×1
    convolution of it: every command then meets blocks too."""
    layers, shape = given["layers"], given["input_shape"]
    at = next((i for i, layer in enumerate(layers) if layer["type"] == "flatten"), None)
    if at is None or len(shape.split("x") if isinstance(shape, str) else shape) != 3:
        return given
    residual = {"type": "residual", "layers": [{"type": "batchnorm2d"}, {"type": rng.choice(ACTIVATIONS)}]}
    maybe(rng, residual, "repeat", 2, 0.3)
    concat = {"type": "concat", "branches": [[], [{"type": "conv2d", "out_channels": rng.randint(1, 4),
                                                    "kernel_size": 1}, {"type": "relu"}]]}
    maybe(rng, concat, "name", "cat", 0.3)
    return dict(given, layers=layers[:at] + [residual, concat] + layers[at:])


def draw_sequence_network(rng):
    """Token ids (or an L×F sequence) through every sequence layer type in a random order:
    embedding, attention, layer norm, LSTM, GRU, linear at each position, softmax, identity,
    dropout, activations; then a flatten and a linear layer."""
    length = rng.randint(1, 12)
    heads = rng.randint(1, 4)
    dim = heads * rng.randint(1, 4)
    given = {"input_shape": [length], "layers": [{"type": "embedding", "num_embeddings": rng.randint(2, 500),
                                                  "embedding_dim": dim}]}
    maybe(rng, given, "batch_size", rng.randint(1, 64), 0.4)
    shape = (length, dim)
    kinds = ["multihead_attention", "lstm", "gru", "linear", "dropout", *ANY_SHAPE_TYPES,
             rng.choice(ACTIVATIONS)]
    for kind in rng.sample(kinds, len(kinds)):
        if kind == "multihead_attention":
            heads = rng.choice([g for g in range(1, 5) if shape[1] % g == 0])
            layer = {"type": kind, "num_heads": heads}
            maybe(rng, layer, "embed_dim", rng.choice(["?", shape[1]]), 0.7)
            maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
            maybe(rng, layer, "kdim", rng.randint(1, 8), 0.2)
            maybe(rng, layer, "vdim", rng.randint(1, 8), 0.2)
        elif kind in ("lstm", "gru"):
            layer = {"type": kind, "hidden_size": rng.randint(1, 12)}
            maybe(rng, layer, "num_layers", rng.randint(1, 3), 0.4)
            maybe(rng, layer, "bidirectional", rng.random() < 0.6, 0.5)
            maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
            maybe(rng, layer, "input_size", "?", 0.4)
            shape = (shape[0], layer["hidden_size"] * (2 if layer.get("bidirectional") else 1))
        elif kind == "linear":
            layer = {"type": kind, "out_features": rng.randint(1, 16)}
            shape = (shape[0], layer["out_features"])
        else:
            layer, shape = draw_any_shape_layer(rng, shape, kind)
        maybe(rng, layer, "name", f"S{len(given['layers']) + 1}", 0.2)
        given["layers"].append(layer)
    given["layers"] += [{"type": "flatten"}, {"type": "linear", "out_features": rng.randint(1, 10)}]
    return given


def draw_essay(rng):
    return {"model_answer": rng.choice([
        "Pooling keeps the strongest response of each window; it adds no parameters.\n\n"
        "A stride of 2 halves each side, so a 32×32 map becomes 16×16 (50% fewer rows).",
        "Batch norm uses the biased variance to normalise & the unbiased one for running_var; "
        "see $\\sigma^2$ and ~ # % _ { } in plain text.",
    ])}


# ---- dense and sequence kinds --------------------------------------------------

def draw_batchnorm(rng):
    statistics = rng.choice(["all", "channel", "position", "feature"])
    if rng.random() < 0.25:
        shape = rng.choice([["B", "C", "H", "W"], [rng.randint(1, 64), rng.randint(1, 8), 4, 4]])
        return {"input_shape": shape, "statistics": statistics}
    b, c, h, w = rng.choice([(2, 1, 4, 4), (2, 4, 2, 2), (3, 1, 1, 1), (2, 2, 1, 3), (2, 1, 2, 2)])
    given = {"input": values(rng, (b, c, h, w), decimals=rng.random() < 0.3), "statistics": statistics}
    stat_shape = {"all": (), "channel": (c,), "position": (h, w), "feature": (c, h, w)}[statistics]
    given["eps"] = rng.choice([1e-5, 0.001, 0.1])      # never 0: a constant statistic then divides by 0
    if rng.random() < 0.4:
        given["gamma"] = values(rng, stat_shape, nonzero=True) if stat_shape and rng.random() < 0.7 \
            else rng.randint(1, 3)
    if rng.random() < 0.4:
        given["beta"] = values(rng, stat_shape) if stat_shape and rng.random() < 0.7 else rng.randint(-2, 2)
    if b > 1:
        maybe(rng, given, "unbiased", rng.random() < 0.6, 0.5)
    return given


def draw_normalization(rng):
    """Every type on B×F or B×C×H×W (instance on B×C×H×W alone), groups that divide C, γ and β as
    PyTorch's weight shape or one number or absent, the upstream gradient half the time; a batch
    statistic always has 2 values or more (PyTorch refuses 1 in training), ε never 0."""
    kind = rng.choice(["batch", "layer", "instance", "group"])
    four = kind == "instance" or rng.random() < 0.6
    if four:
        b, c, h, w = rng.choice([(2, 2, 1, 2), (1, 4, 2, 2), (2, 3, 2, 1), (2, 2, 2, 2), (3, 1, 1, 2)])
        shape = [b, c, h, w]
        if kind == "batch" and b * h * w == 1:
            shape[0] = 2
    else:
        shape = [rng.randint(2, 4), rng.choice([1, 2, 3, 4, 6])]
    given = {"input": values(rng, shape, decimals=rng.random() < 0.3), "type": kind,
             "eps": rng.choice([1e-5, 0.001, 0.1])}
    if kind == "group":
        given["groups"] = rng.choice([g for g in range(1, shape[1] + 1) if shape[1] % g == 0])
    weight = shape[1:] if kind == "layer" else shape[1:2]
    for name, nonzero in (("gamma", True), ("beta", False)):
        if rng.random() < 0.5:
            given[name] = values(rng, weight, nonzero=nonzero) if rng.random() < 0.7 else rng.randint(1, 3)
    if rng.random() < 0.5:
        given["upstream"] = values(rng, shape, decimals=rng.random() < 0.3)
    return given


def draw_mlp(rng):
    inputs = [[0, 0], [0, 1], [1, 0], [1, 1]]
    target = [rng.randint(0, 1) for _ in inputs]
    if rng.random() < 0.3:
        return {"inputs": inputs, "target": target}
    hidden = rng.randint(1, 3)
    layers = [{"weight": values(rng, (hidden, 2), low=-2, high=2), "bias": values(rng, (hidden,), low=-1, high=1),
               "activation": rng.choice(["relu", "step", "sigmoid", "tanh", "identity", "abs"])},
              {"weight": values(rng, (1, hidden), low=-2, high=2), "bias": rng.randint(-1, 1)}]
    given = {"layers": layers, "inputs": inputs}
    if rng.random() < 0.6:
        given["target"] = target
        maybe(rng, given, "threshold", rng.choice([0, 0.5]), 0.4)
    maybe(rng, given, "step_at_zero", rng.randint(0, 1), 0.3)
    return given


def draw_mlp_jacobian(rng):
    widths = [rng.randint(1, 3) for _ in range(rng.randint(2, 4))]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layer = {"weight": values(rng, (n_out, n_in), low=-2, high=2), "bias": values(rng, (n_out,), low=-2, high=2)}
        if i < len(widths) - 2:
            layer["activation"] = rng.choice(["sigmoid", "tanh", "relu", "identity"])
        layers.append(layer)
    given = {"layers": layers, "input": values(rng, (widths[0],), low=-2, high=2)}
    maybe(rng, given, "layer", rng.randint(1, len(layers)), 0.5)
    return given


def draw_rnn(rng):
    if rng.random() < 0.25:
        steps = rng.randint(2, 3)
        given = {"x": [f"x_{t}" for t in range(1, steps + 1)], "w_in": "w_in", "w_hh": "w_hh"}
        maybe(rng, given, "h0", "h_0")
        maybe(rng, given, "w_hy", "w_hy")
        given["loss"] = rng.choice(["mse_last", "sum_last", "sum_all"])
        if given["loss"] == "mse_last":
            given["target"] = "y_r"
        return given
    n, d, steps = rng.randint(1, 3), rng.randint(1, 2), rng.choice([2, 3, 5, 8])
    vector = n > 1 or d > 1 or rng.random() < 0.3
    cell = (lambda *shape: values(rng, shape if vector else (), decimals=True, low=-1, high=1, nonzero=True))
    given = {"x": [cell(d) if vector else cell() for _ in range(steps)],
             "w_in": cell(n, d), "w_hh": cell(n, n)}
    maybe(rng, given, "h0", cell(n), 0.4)
    maybe(rng, given, "b", cell(n), 0.4)
    m = rng.randint(1, 2) if vector else 1
    if rng.random() < 0.5:
        given["w_hy"] = cell(m, n)
        maybe(rng, given, "b_y", cell(m), 0.5)
        out = m
    else:
        out = n
    maybe(rng, given, "activation", rng.choice(["linear", "tanh"]), 0.7)
    loss = rng.choice(["mse_last", "mse_all", "sum_last", "sum_all"])
    given["loss"] = loss
    if loss.startswith("mse"):
        one = (lambda: values(rng, (out,) if vector else (), decimals=True, low=-1, high=1))
        given["target"] = [one() for _ in range(steps)] if loss == "mse_all" else one()
    maybe(rng, given, "learning_rate", rng.choice([0.1, 0.05, 0.5]), 0.5)
    return given


def draw_gated_cell(rng, gates: str, states: tuple):
    """An LSTM (gates ifgo, states h, c) or GRU (rzn, h): stacked or per-gate weights, biases or not, a loss
    or a forward pass; a quarter of them scalar cells with symbols (a forward pass)."""
    if rng.random() < 0.25:
        given = {"x": ["x_1", "x_2"]}
        given |= {f"w_{side}{k}": rng.choice(["w", round(rng.uniform(-1, 1), 1)]) for side in "ih" for k in gates}
        maybe(rng, given, "h0", "h_0", 0.4)
        return given
    hidden, inputs, steps = rng.randint(1, 2), rng.randint(1, 2), rng.randint(2, 3)
    cell = (lambda *shape: values(rng, shape, decimals=True, low=-1, high=1, nonzero=True))  # noqa: E731
    given = {"x": [cell(inputs) if inputs > 1 else cell() for _ in range(steps)]}
    n = len(gates)
    if rng.random() < 0.5:
        given |= {"weight_ih": cell(n * hidden, inputs), "weight_hh": cell(n * hidden, hidden)}
        maybe(rng, given, "bias_ih", cell(n * hidden), 0.5)
        maybe(rng, given, "bias_hh", cell(n * hidden), 0.3)
    else:
        for k in gates:
            given[f"w_i{k}"], given[f"w_h{k}"] = cell(hidden, inputs), cell(hidden, hidden)
            maybe(rng, given, f"b_i{k}", cell(hidden), 0.3)
    for s in states:
        maybe(rng, given, f"{s}0", cell(hidden), 0.4)
    loss = rng.choice(["mse_last", "mse_all", "sum_last", None])
    if loss is not None:
        given["loss"] = loss
        if loss.startswith("mse"):
            given["target"] = [cell(hidden) for _ in range(steps)] if loss == "mse_all" else cell(hidden)
        maybe(rng, given, "learning_rate", rng.choice([0.1, 0.5]), 0.5)
    return given


def draw_attention(rng):
    if rng.random() < 0.2:
        tokens = rng.randint(1, 4)
        return {"tokens": tokens, "position": rng.randint(1, tokens)}
    n, d, d_k, d_v = rng.choice([3, 4, 4, 1, 2]), rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 3)
    given = {"x": values(rng, (n, d), low=-1, high=2), "w_q": values(rng, (d_k, d), low=-1, high=2),
             "w_k": values(rng, (d_k, d), low=-1, high=2), "w_v": values(rng, (d_v, d), low=-1, high=2)}
    maybe(rng, given, "position", rng.randint(1, n), 0.3)
    maybe(rng, given, "mask", "causal", 0.4)
    maybe(rng, given, "scale", rng.choice([0.5, 1]), 0.2)
    return given


def draw_softmax_cross_entropy(rng):
    """Every option: vector or batch, class indices or probability rows, reduction, smoothing, weights."""
    classes, batch = rng.randint(2, 5), rng.randint(1, 4)
    vector = rng.random() < 0.3
    rows = 1 if vector else batch
    logits = [[round(rng.uniform(-3, 3), rng.choice([0, 1, 2])) for _ in range(classes)] for _ in range(rows)]
    if rng.random() < 0.7:
        target = [rng.randrange(classes) for _ in range(rows)]
    else:
        target = []
        for _ in range(rows):
            cuts = sorted(rng.randint(0, 8) for _ in range(classes - 1))
            target.append([(b - a) / 8 for a, b in zip([0, *cuts], [*cuts, 8])])
    given = {"logits": logits[0] if vector else logits, "target": target[0] if vector else target}
    if rng.random() < 0.5:
        given["reduction"] = rng.choice(["mean", "sum"])
    if rng.random() < 0.4:
        given["label_smoothing"] = rng.choice([0.1, 0.25, 0.5])
    if rng.random() < 0.4:
        given["weight"] = [rng.choice([0.5, 1, 2, 3]) for _ in range(classes)]
    return given


def draw_dropout(rng):
    """Training (a mask drawn as PyTorch would: each unit kept with probability 1 - p) or evaluation,
    1 to 4 axes, whole numbers or tenths, p from 0 to 0.9."""
    shape = [rng.randint(1, 4) for _ in range(rng.randint(1, 4))]
    given = {"input": values(rng, shape, decimals=rng.random() < 0.5), "p": rng.choice([0, 0.1, 0.2, 0.25, 0.3, 0.5,
                                                                                          0.6, 0.75, 0.9])}
    if rng.random() < 0.3:
        given["training"] = False
    else:
        kept = values(rng, shape, decimals=True, low=0, high=1)       # tenths in [0, 1]: kept below 1 - p
        given["mask"] = mask_of(kept, 1 - given["p"])
    return given


def mask_of(uniform, keep):
    if isinstance(uniform, list):
        return [mask_of(u, keep) for u in uniform]
    return 1 if uniform < keep or keep == 1 else 0


OPTIMIZER_OBJECTIVES = ("(w - 3)^2 + 2*b^2", "w^2*b + exp(w/4) - b", "log(1 + exp(-w*b)) + b^2/2",
                        "sigmoid(w) + (b - 1)^4 + w*b")


def draw_optimizer(rng):
    """Every rule and option: one tensor or several named ones, gradients given or an objective,
    weight decay, maximize, momentum with dampening or Nesterov, a learning rate per step."""
    rule = rng.choice(["sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"])
    steps = rng.randint(1, 4)
    objective = rng.random() < 0.25
    shapes = {"w": (), "b": ()} if objective else \
        rng.choice([{"params": ()}, {"params": (3,)}, {"params": (2, 2)}, {"w": (2,), "b": ()}])

    def tensor(shape):
        return values(rng, shape, decimals=True, low=-2, high=2) if shape else round(rng.uniform(-2, 2), 1)

    params = {name: tensor(shape) for name, shape in shapes.items()}
    given = {"rule": rule, "params": params if len(params) > 1 or "params" not in params else params["params"]}
    if objective:
        given.update(objective=rng.choice(OPTIMIZER_OBJECTIVES), steps=steps)
    else:
        grads = [{name: tensor(shape) for name, shape in shapes.items()} for _ in range(steps)]
        given["grads"] = grads if "params" not in shapes else [g["params"] for g in grads]
    given["lr"] = rng.choice([0.1, 0.05, 0.5, 0.01]) if rng.random() < 0.8 else \
        [rng.choice([0.1, 0.2, 0.05]) for _ in range(steps)]
    if rule in ("sgd", "momentum", "nesterov", "rmsprop") and (rule != "sgd" or rng.random() < 0.5):
        given["momentum"] = rng.choice([0.9, 0.5, 0.8])
    if rule in ("sgd", "momentum") and "momentum" in given and rng.random() < 0.5:
        given["dampening"] = rng.choice([0.1, 0.5])
    if rule == "rmsprop" and rng.random() < 0.5:
        given["alpha"] = rng.choice([0.9, 0.99, 0.5])
    if rule in ("adam", "adamw") and rng.random() < 0.5:
        given["betas"] = [rng.choice([0.9, 0.8, 0.5]), rng.choice([0.999, 0.99, 0.9])]
    if rule in ("rmsprop", "adagrad", "adam", "adamw") and rng.random() < 0.5:
        given["eps"] = rng.choice([1e-8, 0.01, 0.1])
    if rng.random() < 0.5:
        given["weight_decay"] = rng.choice([0.01, 0.1, 0.5])
    if rng.random() < 0.3:
        given["maximize"] = True
    return given


INIT_SCHEMES = ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "default")
NONLINEARITIES = ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")


def draw_init(rng):
    """Every scheme, a linear layer or a convolution (square kernel or not), a gain or a nonlinearity (with or
    without a slope), either mode; one draw in five in letters (the general formula)."""
    scheme = rng.choice(INIT_SCHEMES)
    letters = rng.random() < 0.2
    if rng.random() < 0.5:
        given = {"in_features": "n" if letters else rng.choice([1, 3, 10, 64, 100, 300]),
                 "out_features": "m" if letters else rng.choice([1, 2, 10, 50, 128])}
    else:
        given = {"in_channels": "C" if letters else rng.choice([1, 3, 16, 64]),
                 "out_channels": "N" if letters else rng.choice([1, 8, 32]),
                 "kernel_size": "K" if letters else rng.choice([1, 3, 5, [3, 1], [2, 5]])}
    given = {"scheme": scheme, **given}
    if scheme == "default":
        return given
    if scheme.startswith("kaiming"):
        maybe(rng, given, "mode", rng.choice(["fan_in", "fan_out"]))
    choice = rng.random()
    if scheme.startswith("xavier") and choice < 0.3:
        given["gain"] = "g" if letters else rng.choice([0.5, 1, 2, 1.5])
    elif choice < 0.8 or scheme.startswith("kaiming") and "mode" not in given:
        given["nonlinearity"] = rng.choice(NONLINEARITIES)
    if given.get("nonlinearity", "leaky_relu" if scheme.startswith("kaiming") else None) == "leaky_relu":
        maybe(rng, given, "a", "a" if letters else rng.choice([0, 0.01, 0.1, 0.2, 0.5]))
    return given


REGULARIZATION_SHAPES = ({"W": (2, 2), "b": (2,)}, {"W": (2, 3), "b": (2,)}, {"w": (3,)}, {"w": ()},
                         {"W_1": (2, 2), "b_1": (2,), "W_2": (1, 2), "b_2": ()}, {"K": (1, 2, 2)})


def draw_regularization(rng):
    """Every penalty (l2, l1, elastic with and without l1_ratio), halved or not, biases named or not,
    weights at 0 (L1's subgradient), λ and the learning rate from 0 up; tensors from numbers to 3 axes."""
    shapes = rng.choice(REGULARIZATION_SHAPES)
    zeros = rng.random() < 0.4

    def tensor(shape):
        drawn = values(rng, shape, decimals=True, low=-2, high=2) if shape else round(rng.uniform(-2, 2), 1)
        if zeros and shape:
            cells = drawn if len(shape) == 1 else drawn[0] if len(shape) == 2 else drawn[0][0]
            cells[0] = 0
        return drawn

    kind = rng.choice(["l2", "l1", "elastic"])
    given = {"weights": {name: tensor(shape) for name, shape in shapes.items()}, "kind": kind,
             "lambda": rng.choice([0, 0.01, 0.1, 0.5, 1, 2]),
             "data_grad": {name: tensor(shape) for name, shape in shapes.items()},
             "lr": rng.choice([0, 0.05, 0.1, 0.5, 1])}
    biases = [name for name in shapes if name.startswith("b")]
    if biases and rng.random() < 0.8:
        given["biases"] = biases
    if kind != "l1" and rng.random() < 0.5:
        given["halved"] = True
    if kind == "elastic" and rng.random() < 0.7:
        given["l1_ratio"] = rng.choice([0, 0.25, 0.5, 0.9, 1])
    return given


# Lines of a random program: A the line before's name, B any name so far (fan-out where
# it repeats). Each keeps values bounded (a squashed factor, a denominator >= 1) and defined.
GRAPH_LINES = ("A + B", "A - B", "tanh(A) * B", "sigmoid(A) * B", "max(A, B)", "min(A, B)", "A / (1 + square(B))",
               "log(1 + square(A)) - B", "sqrt(1 + A*A) + B", "exp(tanh(A)) * B", "abs(A) - B", "relu(A) + B",
               "tanh(A)^2 + B", "-sigmoid(A - B)", "0.5 * A - B^2 / (1 + B^2)", "A * sigmoid(B) + A")
GRAPH_INPUTS = ("x", "y", "z", "w", "b0")
KINKED = ("max", "min", "abs", "relu")


def draw_graph(rng):
    """A program of 2 to 8 lines (or one nested expression), each line reading the one before
    and any earlier name (shared subexpressions, fan-out); numbers, or letters for the closed form."""
    inputs = list(GRAPH_INPUTS[:rng.randint(2, len(GRAPH_INPUTS))])
    single = rng.random() < 0.25
    depth = rng.randint(2, 4 if single else 8)        # a nested expression grows fast
    lines, names, previous = [], list(inputs), rng.choice(inputs)
    for i in range(depth):
        template = rng.choice(GRAPH_LINES)
        b = rng.choice(inputs if single else names)
        a = f"({previous})" if single and i else previous
        text = template.replace("A", a).replace("B", b)
        if single:
            previous = text
        else:
            target = f"h{i + 1}" if i < depth - 1 else "f"
            lines.append(f"{target} = {text}")
            names.append(target)
            previous = target
    program = f"f = {previous}" if single else lines
    text = " ".join([program] if single else program)
    used = [n for n in inputs if re.search(rf"\b{n}\b", text)]
    letters = rng.random() < 0.3 and depth <= 4 and not any(f"{k}(" in text for k in KINKED)   # closed forms grow
    given = {"program": program,
             "values": {n: n if letters else round(rng.uniform(-2, 2), 1) or 0.5 for n in used}}
    maybe(rng, given, "granularity", "assignments", 0.3)
    maybe(rng, given, "upstream", rng.choice([2, -0.5]), 0.2)
    if rng.random() < 0.3:
        given["wrt"] = used[:1]
    return given


# A tensor program's lines: A the line before's name, B a name so far whose shape fits (fan-out where it
# repeats); each template's shapes are checked against PyTorch's rules by draw_tensor_graph.
TENSOR_UNARY = ("tanh(A)", "sigmoid(A)", "relu(A)", "square(A)", "exp(tanh(A))", "log(1 + square(A))",
                "sqrt(1 + A*A)", "abs(A)", "-A", "softmax(A)", "log_softmax(A)", "A.T", "sum(A)", "mean(A)", "A^2")
TENSOR_BINARY = ("A + B", "A - B", "A * B", "A / (1 + square(B))", "max(A, B)", "min(A, B)", "A @ B", "B @ A",
                 "tanh(A) * B", "A @ B.T")
TENSOR_INPUTS = {"X": "nk", "W": "km", "V": "mk", "u": "k", "v": "m", "a": "", "c": "n"}


def template_shape(template: str, a: tuple, b: tuple) -> tuple | None:
    """The shape a template makes of A's and B's shapes under PyTorch's rules, or None where it is refused."""
    import numpy as np
    if template in ("sum(A)", "mean(A)"):
        return () if a else None
    if template == "A.T":
        return a[::-1] if len(a) == 2 else None
    if template in ("softmax(A)", "log_softmax(A)"):
        return a if a else None
    if template in TENSOR_UNARY:
        return a
    if "@" in template:
        left, right = {"A @ B": (a, b), "B @ A": (b, a), "A @ B.T": (a, b[::-1] if len(b) == 2 else None)}[template]
        if not left or not right or left[-1] != right[0]:
            return None
        return tuple(left[:-1]) + tuple(right[1:]) if len(right) == 2 else tuple(left[:-1])
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        return None


def draw_tensor_graph(rng):
    """A program of 2 to 6 lines on vectors and matrices (sizes 1 to 3): each line reads the one before
    and, where it takes two, any earlier name whose shape fits (shared subexpressions, fan-out)."""
    sizes = {"n": rng.randint(1, 3), "k": rng.randint(1, 3), "m": rng.randint(2, 3)}
    shapes = {name: tuple(sizes[axis] for axis in axes) for name, axes in TENSOR_INPUTS.items()}
    previous = rng.choice([name for name, shape in shapes.items() if shape])
    lines = []
    depth = rng.randint(2, 6)
    for i in range(depth):
        unary = [(t, None) for t in TENSOR_UNARY if template_shape(t, shapes[previous], ()) is not None]
        binary = [(t, b) for t in TENSOR_BINARY for b in shapes if b != previous
                  if template_shape(t, shapes[previous], shapes[b]) is not None]
        products = [option for option in binary if "@" in option[0]]
        template, b = rng.choice(rng.choice([options for options in (unary, binary, products) if options]))
        target = f"h{i + 1}" if i < depth - 1 else "f"
        lines.append(f"{target} = " + template.replace("A", previous).replace("B", b or ""))
        shapes[target] = template_shape(template, shapes[previous], shapes[b] if b else ())
        previous = target
    text = " ".join(lines)
    used = [n for n in TENSOR_INPUTS if re.search(rf"\b{n}\b", text)]

    def drawn(shape):
        if not shape:
            return round(rng.uniform(-2, 2), 1) or 0.5
        return [drawn(shape[1:]) for _ in range(shape[0])]
    given = {"program": lines, "values": {n: drawn(shapes[n]) for n in used}}
    maybe(rng, given, "upstream", rng.choice([2, -0.5]), 0.2)
    if rng.random() < 0.3:
        given["wrt"] = used[:1]
    return given


def draw_graph_or_tensors(rng):
    """A scalar program as draw_graph draws it (the same draws as before tensors came), replaced one time in
    four by a tensor program drawn from a generator of its own."""
    given = draw_graph(rng)
    own = random.Random(str(given))
    return draw_tensor_graph(own) if own.random() < 0.25 else given


TRANSFORMER_LETTERS = {"vocab_size": "V", "context_length": "T_ctx", "d_model": "d", "num_layers": "L",
                       "num_heads": "h", "d_ff": "d_ff", "batch_size": "B", "sequence_length": "T"}


def draw_transformer(rng):
    """A small GPT-style decoder: every option (tied or not, biases or not, layernorm or rmsnorm, learned or no
    positions, each dtype), heads dividing the width, sequences up to the context (beyond it without learned
    positions); one draw in five with some sizes as letters (the general formula)."""
    heads = rng.randint(1, 4)
    context = rng.randint(1, 12)
    given = {"vocab_size": rng.randint(2, 60), "context_length": context, "d_model": heads * rng.randint(1, 6),
             "num_layers": rng.randint(1, 3), "num_heads": heads, "d_ff": rng.randint(1, 24),
             "tied_embeddings": rng.random() < 0.5, "bias": rng.random() < 0.5,
             "norm": rng.choice(["layernorm", "rmsnorm"]), "positional": rng.choice(["learned", "none"])}
    maybe(rng, given, "batch_size", rng.randint(1, 3))
    if rng.random() < 0.8:
        given["sequence_length"] = rng.randint(1, context if given["positional"] == "learned" else context + 4)
    maybe(rng, given, "dtype", rng.choice(["float32", "float16", "bfloat16", "float64"]))
    if rng.random() < 0.2:
        for name in rng.sample(sorted(TRANSFORMER_LETTERS), rng.randint(1, len(TRANSFORMER_LETTERS))):
            given[name] = TRANSFORMER_LETTERS[name]
    return given


DRAW = {"conv2d": lambda r: draw_conv2d_sizes(r) if r.random() < 0.25 else draw_conv2d(r),
        "conv_transpose2d": draw_conv_transpose2d, "conv2d_backward": lambda r: draw_conv2d(r, backward=True),
        "pool2d": draw_pool2d, "conv_cost": draw_conv_cost, "layers_to_size": draw_layers_to_size,
        "conv_design": draw_conv_design, "network": draw_network, "essay": draw_essay,
        "batchnorm": draw_batchnorm, "normalization": draw_normalization, "mlp": draw_mlp,
        "mlp_jacobian": draw_mlp_jacobian, "rnn": draw_rnn,
        "lstm": lambda r: draw_gated_cell(r, "ifgo", ("h", "c")), "gru": lambda r: draw_gated_cell(r, "rzn", ("h",)),
        "attention": draw_attention, "softmax_cross_entropy": draw_softmax_cross_entropy,
        "dropout": draw_dropout, "optimizer": draw_optimizer, "init": draw_init,
        "regularization": draw_regularization, "graph": lambda r: draw_graph_or_tensors(r),
        "transformer": draw_transformer}


# ---- problem sets ---------------------------------------------------------------

def draw_problem(kind, seed, index) -> dict:
    rng = random.Random(f"corpus-{kind}-{seed}-{index}")
    given = draw_network(rng, every_type=True) if kind == "network" and index == 0 else DRAW[kind](rng)
    if kind == "network":                                 # its own generator: the draws after it stay as they were
        given = with_blocks(random.Random(f"corpus-blocks-{seed}-{index}"), given)
    problem = {"id": f"{kind}-{seed}-{index}", "kind": kind,
               "statement": f"Generated {kind} problem {index} (seed {seed}); solve it as PyTorch would.",
               "given": given}
    if kind == "network" and rng.random() < 0.5:          # the layer table on the sheet, or every total
        problem["ask"] = ["table", "params", "flops"]
    return problem


def problem_sets(seed, per_kind) -> dict:
    """{set name: problem-set mapping} holding `per_kind` problems of every kind."""
    return {f"corpus-{name}-{seed}": {"title": f"Generated corpus: {name} (seed {seed})",
                                      "problems": [draw_problem(kind, seed, i) for kind in kinds
                                                   for i in range(per_kind)] + extra_problems(name, seed)}
            for name, kinds in SET_KINDS.items()}


def extra_problems(set_name, seed) -> list:
    """The counting set's sequence network (every sequence layer type), beside its map networks."""
    if set_name != "counting":
        return []
    rng = random.Random(f"corpus-network-sequence-{seed}")
    return [{"id": f"network-sequence-{seed}", "kind": "network",
             "statement": f"Generated sequence network (seed {seed}); solve it as PyTorch would.",
             "given": draw_sequence_network(rng), "ask": ["table", "params", "macs"]}]


def write_sets(sets: dict, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, mapping in sets.items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":      # python tests/corpus.py SEED PER_KIND FOLDER: write a corpus to look at
    import sys
    seed, per_kind, folder = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    print("\n".join(map(str, write_sets(problem_sets(seed, per_kind), folder))))
