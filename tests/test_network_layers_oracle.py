"""The network kind's newer layer types against an independent oracle: PyTorch (issue 15).

Each case is a seeded random configuration of one layer type (a `given:` mapping), with a
layer or two before it where the type needs them; the oracle builds the same layers as real
torch.nn modules from the mapping alone (input sizes read off the tensor that reaches each)
and runs zeros of the batch through them. From torch come the output shapes, the parameters
(`numel`, split on names ending in "bias") and the multiply-adds: FlopCounterMode counts 2
FLOPs per multiply-add of the matrix products, run with oneDNN off (its fused LSTM kernel
hides the products from the counter) and attention in training mode (its fused inference
path does too; dropout is 0, so training mode computes the same). Where FlopCounterMode counts
nothing (pooling, normalisation, lookups, resizing, softmax) the MACs must be 0. Additions and
the other multiplications follow the definitions written out below, from the modules' own
sizes and, for adaptive pooling, from autograd (an output's window is the support of its
gradient). Nothing is copied from solver output.
"""
import random

import pytest

from conftest import assert_bad_input, one_problem_file, optional_module, run_solver
from test_network_oracle import torch_layer as chain_layer
from solver.kinds import get_kind

network = get_kind("network")

torch = optional_module("torch")
nn = optional_module("torch.nn")
FlopCounterMode = optional_module("torch.utils.flop_counter").FlopCounterMode

SEEDS = range(40)
pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration")
NEW_TYPES = ("adaptive_avg_pool2d", "adaptive_max_pool2d", "local_response_norm", "layernorm", "groupnorm",
             "embedding", "multihead_attention", "lstm", "gru", "upsample", "softmax", "identity")


# ---- drawing one layer of each type on a suitable input ---------------------------

def maybe(rng, layer, name, value, chance=0.5):
    if rng.random() < chance:
        layer[name] = value


def map_input(rng):
    return [rng.randint(1, 6), rng.randint(1, 12), rng.randint(1, 12)]


def sequence_input(rng):
    return [rng.randint(1, 9), rng.randint(1, 12)]


def draw_adaptive(rng, kind):
    size = rng.randint(1, 8) if rng.random() < 0.5 else [rng.randint(1, 8), rng.randint(1, 8)]
    return map_input(rng), [{"type": kind, "output_size": size}]


def draw_lrn(rng):
    layer = {"type": "local_response_norm", "size": rng.randint(1, 6)}
    for name, value in (("alpha", 1e-3), ("beta", 0.5), ("k", 2.0)):
        maybe(rng, layer, name, value, 0.3)
    return map_input(rng), [layer]


def draw_layernorm(rng):
    shape = rng.choice([map_input(rng), sequence_input(rng), [rng.randint(1, 20)]])
    layer = {"type": "layernorm", "normalized_shape": shape[-rng.randint(1, len(shape)):]}
    if len(layer["normalized_shape"]) == 1 and rng.random() < 0.5:
        layer["normalized_shape"] = layer["normalized_shape"][0]
    maybe(rng, layer, "elementwise_affine", rng.random() < 0.5, 0.4)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    return shape, [layer]


def draw_groupnorm(rng):
    groups = rng.randint(1, 4)
    # at least 2 values per group: torch refuses a batch of 1 with one value per group, which a
    # per-example count does not see (with a batch of 2 it accepts the same layer)
    shape = [groups * rng.randint(1, 3), rng.randint(2, 8), rng.randint(1, 8)]
    if rng.random() < 0.2:
        shape = [groups * rng.randint(2, 3)]
    layer = {"type": "groupnorm", "num_groups": groups}
    maybe(rng, layer, "num_channels", rng.choice(["?", shape[0]]), 0.6)
    maybe(rng, layer, "affine", rng.random() < 0.5, 0.4)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.3)
    return shape, [layer]


def draw_embedding(rng):
    return [rng.randint(1, 9)], [{"type": "embedding", "num_embeddings": rng.randint(1, 50),
                                  "embedding_dim": rng.randint(1, 16)}]


def draw_attention(rng):
    heads = rng.randint(1, 4)
    shape = [rng.randint(1, 9), heads * rng.randint(1, 4)]
    layer = {"type": "multihead_attention", "num_heads": heads}
    maybe(rng, layer, "embed_dim", rng.choice(["?", shape[1]]), 0.8)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    maybe(rng, layer, "kdim", rng.randint(1, 10), 0.3)
    maybe(rng, layer, "vdim", rng.randint(1, 10), 0.3)
    return shape, [layer]


def draw_recurrent(rng, kind):
    layer = {"type": kind, "hidden_size": rng.randint(1, 8)}
    maybe(rng, layer, "num_layers", rng.randint(1, 3))
    maybe(rng, layer, "bidirectional", rng.random() < 0.6)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    shape = sequence_input(rng)
    maybe(rng, layer, "input_size", rng.choice(["?", shape[1]]), 0.5)
    return shape, [layer]


def draw_upsample(rng):
    scale = rng.choice([2, 3, 1.5, 0.5, [2, 1], [1.5, 2.5]])
    layer = {"type": "upsample", "scale_factor": scale}
    maybe(rng, layer, "mode", rng.choice(["nearest", "bilinear"]), 0.7)
    return [rng.randint(1, 4), rng.randint(2, 9), rng.randint(2, 9)], [layer]


def draw_softmax(rng):
    shape = rng.choice([map_input(rng), sequence_input(rng), [rng.randint(1, 20)]])
    layer = {"type": "softmax"}
    axis = rng.randint(1, len(shape))
    maybe(rng, layer, "dim", rng.choice([axis, axis - len(shape) - 1]), 0.7)
    return shape, [layer]


def draw_identity(rng):
    return rng.choice([map_input(rng), sequence_input(rng), [rng.randint(1, 20)]]), [{"type": "identity"}]


DRAW = {"adaptive_avg_pool2d": lambda r: draw_adaptive(r, "adaptive_avg_pool2d"),
        "adaptive_max_pool2d": lambda r: draw_adaptive(r, "adaptive_max_pool2d"),
        "local_response_norm": draw_lrn, "layernorm": draw_layernorm, "groupnorm": draw_groupnorm,
        "embedding": draw_embedding, "multihead_attention": draw_attention,
        "lstm": lambda r: draw_recurrent(r, "lstm"), "gru": lambda r: draw_recurrent(r, "gru"),
        "upsample": draw_upsample, "softmax": draw_softmax, "identity": draw_identity}


def draw_case(kind, seed) -> dict:
    rng = random.Random(f"layers-{kind}-{seed}")
    shape, layers = DRAW[kind](rng)
    given = {"input_shape": shape if rng.random() < 0.5 else "x".join(map(str, shape)), "layers": layers}
    maybe(rng, given, "batch_size", rng.randint(1, 3))
    return given


def draw_sequence_network(seed) -> dict:
    """Token ids through an embedding, attention, norms, recurrent layers, linear and softmax."""
    rng = random.Random(f"layers-sequence-{seed}")
    heads = rng.randint(1, 3)
    dim = heads * rng.randint(1, 4)
    layers = [{"type": "embedding", "num_embeddings": rng.randint(2, 40), "embedding_dim": dim},
              {"type": "multihead_attention", "embed_dim": "?", "num_heads": heads},
              {"type": "layernorm", "normalized_shape": dim}]
    layers.append({"type": rng.choice(["lstm", "gru"]), "hidden_size": rng.randint(1, 6), "input_size": "?",
                   "bidirectional": rng.random() < 0.5, "num_layers": rng.randint(1, 2)})
    layers += [{"type": "identity"}, {"type": "linear", "out_features": rng.randint(1, 5)}, {"type": "softmax"},
               {"type": "flatten"}]
    return {"input_shape": [rng.randint(1, 8)], "batch_size": rng.randint(1, 3), "layers": layers}


# ---- the oracle ----------------------------------------------------------------------

def tupled(v):
    return tuple(v) if isinstance(v, list) else v


def torch_layer(layer, x) -> nn.Module:
    """The torch module of one layer mapping, its input sizes read off x (the older layer types:
    tests/test_network_oracle.py's builder)."""
    kind = layer["type"]
    if kind not in NEW_TYPES:
        return chain_layer(layer, x)
    if kind == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d(tupled(layer["output_size"]))
    if kind == "adaptive_max_pool2d":
        return nn.AdaptiveMaxPool2d(tupled(layer["output_size"]))
    if kind == "local_response_norm":
        return nn.LocalResponseNorm(layer["size"], layer.get("alpha", 1e-4), layer.get("beta", 0.75),
                                    layer.get("k", 1.0))
    if kind == "layernorm":
        return nn.LayerNorm(layer["normalized_shape"], elementwise_affine=layer.get("elementwise_affine", True),
                            bias=layer.get("bias", True))
    if kind == "groupnorm":
        return nn.GroupNorm(layer["num_groups"], x.shape[1], affine=layer.get("affine", True),
                            bias=layer.get("bias", True))
    if kind == "embedding":
        return nn.Embedding(layer["num_embeddings"], layer["embedding_dim"])
    if kind == "multihead_attention":
        return nn.MultiheadAttention(x.shape[-1], layer["num_heads"], bias=layer.get("bias", True),
                                     kdim=layer.get("kdim"), vdim=layer.get("vdim"), batch_first=True)
    if kind in ("lstm", "gru"):
        return (nn.LSTM if kind == "lstm" else nn.GRU)(
            x.shape[-1], layer["hidden_size"], layer.get("num_layers", 1), bias=layer.get("bias", True),
            batch_first=True, bidirectional=layer.get("bidirectional", False))
    if kind == "upsample":
        return nn.Upsample(scale_factor=tupled(layer["scale_factor"]), mode=layer.get("mode", "nearest"))
    if kind == "softmax":
        return nn.Softmax(layer.get("dim", -1))
    assert kind == "identity", kind
    return nn.Identity()


def run(module, x):
    """The module's output, as a network passes it on: attention's keys and values are zeros of
    kdim and vdim features over the same positions; recurrent layers pass on their output."""
    if isinstance(module, nn.MultiheadAttention):
        k = torch.zeros(x.shape[:-1] + (module.kdim,))
        v = torch.zeros(x.shape[:-1] + (module.vdim,))
        return module(x, k, v)[0]
    if isinstance(module, nn.RNNBase):
        return module(x)[0]
    return module(x)


def torch_input(given):
    shape = given["input_shape"]
    shape = tuple(int(v) for v in shape.split("x")) if isinstance(shape, str) else tuple(shape)
    batch = (given.get("batch_size", 1),)
    if given["layers"][0]["type"] == "embedding":
        return torch.zeros(batch + shape, dtype=torch.long)
    return torch.zeros(batch + shape)


def counted_flops(module, x) -> int:
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
        run(module, x)
    return counter.get_total_flops()


def torch_network(given):
    """[(layer mapping, module, input, output)] for every layer (repeats expanded), run on zeros
    of the batch in eval mode (attention in training mode: no fused inference path)."""
    x, ran = torch_input(given), []
    for layer in given["layers"]:
        for _ in range(layer.get("repeat", 1)):
            module = torch_layer(layer, x)
            module.train(isinstance(module, nn.MultiheadAttention))
            with torch.no_grad():
                y = run(module, x)
            ran.append((layer, module, x, y))
            x = y
    return ran


def solve(given) -> dict:
    return {name: a.value for name, a in network.solve(network.read(given)).answers.items()}


def as_written(given, shape) -> tuple:
    return tuple(shape) if "batch_size" in given else tuple(shape)[1:]


def is_bias(name) -> bool:
    """bias, out_proj.bias, in_proj_bias, bias_ih_l0, bias_hh_l1_reverse: PyTorch's names of biases."""
    return "bias" in name.rsplit(".", 1)[-1]


def torch_params(module) -> dict:
    params = dict(module.named_parameters())
    biases = sum(p.numel() for name, p in params.items() if is_bias(name))
    weights = sum(p.numel() for name, p in params.items() if not is_bias(name))
    return {"params": weights + biases, "biases": biases, "weights": weights, "params_without_bias": weights}


# ---- additions and multiplications, by definition ------------------------------------

def window_areas(module, x) -> list[int]:
    """Each adaptive pooling output's window size: the support of its gradient (one example)."""
    x = x[:1].clone().requires_grad_(True)
    y = module(x)
    areas = []
    for index in range(y[0].numel()):
        (grad,) = torch.autograd.grad(y[0].flatten()[index], x, retain_graph=True)
        areas.append(int((grad != 0).sum()))
    return areas


def defined_ops(layer, module, x, y) -> tuple[int, int]:
    """(multiplications, additions) for the whole batch, written out:
    - adaptive average pooling: each output sums its window and scales once;
    - local response norm: per value, a square, the scale α/n and the product with the power;
      n − 1 additions over the window (zeros included) and k; the power not counted;
    - layer and group norm, per group of N values: mean N − 1 additions and one scaling; variance N
      subtractions, N squares, N − 1 additions, one scaling; ε one addition; N normalising
      multiplications; γ N multiplications, β N additions;
    - attention: projections as linear layers per position; scores and weighted sums as dot
      products; the queries scaled; each softmax row L divisions and L − 1 additions;
    - LSTM/GRU per step, layer and direction: the two products with their biases, one addition per
      gate value joining them; then 3H multiplications and H (LSTM) or 2H (GRU) additions;
    - bilinear upsampling: 4 multiplications and 3 additions per output; softmax: per slice of n,
      n divisions and n − 1 additions; linear: the products and their sums with the bias."""
    kind, batch = layer["type"], x.shape[0]
    if kind == "adaptive_avg_pool2d":
        return y.numel(), batch * sum(area - 1 for area in window_areas(module, x))
    if kind == "local_response_norm":
        return 3 * y.numel(), module.size * y.numel()
    if kind in ("layernorm", "groupnorm"):
        per_example = y[0].numel()
        n = (per_example // module.num_groups if kind == "groupnorm"
             else torch.Size(module.normalized_shape).numel())
        groups = batch * per_example // n
        scale = module.weight is not None
        shift = module.bias is not None
        return (groups * (2 * n + 2) + scale * groups * n, groups * (3 * n - 1) + shift * groups * n)
    if kind == "multihead_attention":
        length, e, h = x.shape[1], module.embed_dim, module.num_heads
        proj_in = [module.embed_dim, module.kdim, module.vdim, module.embed_dim]
        b = int(module.in_proj_bias is not None)
        mults = length * sum(e * f for f in proj_in) + 2 * length * length * e + length * e + h * length * length
        adds = (length * sum(e * (f - 1 + b) for f in proj_in) + length * length * (e - h)
                + h * length * (length - 1) + length * e * (length - 1))
        return batch * mults, batch * adds
    if kind in ("lstm", "gru"):
        steps, hidden = x.shape[1], module.hidden_size
        mults = adds = 0
        for name, p in module.named_parameters():
            if name.startswith("weight"):             # weight_ih_l0, weight_hh_l0_reverse: G·H × inputs
                mults += p.shape[0] * p.shape[1]
                adds += p.shape[0] * (p.shape[1] - 1)
            else:
                adds += p.numel()
        directions = 2 if module.bidirectional else 1
        runs = module.num_layers * directions
        gates = module.weight_hh_l0.shape[0]
        cell_adds = hidden if kind == "lstm" else 2 * hidden
        mults += runs * 3 * hidden
        adds += runs * (gates + cell_adds)
        return batch * steps * mults, batch * steps * adds
    if kind == "upsample":
        return (4 * y.numel(), 3 * y.numel()) if module.mode == "bilinear" else (0, 0)
    if kind == "softmax":
        n = y.shape[module.dim]
        return y.numel(), y.numel() // n * (n - 1)
    if kind == "linear":
        bias = int(module.bias is not None)
        return y.numel() * module.in_features, y.numel() * (module.in_features - 1 + bias)
    return 0, 0


@pytest.mark.parametrize("problem", ["TV.3"])
def test_shipped_sequence_network_matches_torch(problem):
    """classic-networks.yaml's text classifier, built from torch.nn from its mapping."""
    import yaml
    from conftest import ROOT
    problems = yaml.safe_load((ROOT / "problems" / "classic-networks.yaml").read_text())["problems"]
    (given,) = [p["given"] for p in problems if p["id"] == problem]
    check_against_torch(given)


# ---- the comparisons -------------------------------------------------------------------

def check_against_torch(given):
    ran = torch_network(given)
    answers = solve(given)
    for i, (layer, module, x, y) in enumerate(ran, start=1):
        where = f"layer {i} ({layer['type']}) of {given}"
        assert tuple(answers[f"output_shape[{i}]"]) == as_written(given, y.shape), where
        for name, want in torch_params(module).items():
            assert answers[f"{name}[{i}]"] == want, f"{name}: {where}"
        flops = counted_flops(module, x)
        assert answers[f"flops[{i}]"] == flops == 2 * answers[f"macs[{i}]"], f"flops: {where}"
        mults, adds = defined_ops(layer, module, x, y)
        assert (answers[f"mults[{i}]"], answers[f"adds[{i}]"]) == (mults, adds), f"ops: {where}"
    whole = sum(p.numel() for _, module, _, _ in ran for p in module.parameters())
    assert answers["params"] == whole, f"{given}"
    return ran, answers


@pytest.mark.parametrize("kind", NEW_TYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_new_layer_types_match_torch(kind, seed):
    check_against_torch(draw_case(kind, seed))


@pytest.mark.parametrize("seed", range(12))
def test_sequence_networks_match_torch(seed):
    given = draw_sequence_network(seed)
    ran, answers = check_against_torch(given)
    assert answers["embed_dim[2]"] == ran[1][2].shape[-1]
    assert answers["input_size[4]"] == ran[3][2].shape[-1]


def test_the_draws_cover_every_option():
    """The seeded draws reach each type's options (a test of the test)."""
    drawn = [draw_case(kind, seed)["layers"][-1] for kind in NEW_TYPES for seed in SEEDS]
    keys = {(layer["type"], key) for layer in drawn for key in layer}
    for wanted in [("multihead_attention", "kdim"), ("multihead_attention", "vdim"), ("lstm", "bidirectional"),
                   ("gru", "num_layers"), ("groupnorm", "num_channels"), ("layernorm", "bias"),
                   ("upsample", "mode"), ("softmax", "dim")]:
        assert wanted in keys, wanted


def test_recurrent_layers_without_bias_and_stacked_match_torch():
    given = {"input_shape": [5, 3], "layers": [
        {"type": "lstm", "hidden_size": 4, "num_layers": 3, "bidirectional": True, "bias": False},
        {"type": "gru", "hidden_size": 2, "num_layers": 2, "bidirectional": True}]}
    check_against_torch(given)


# ---- bad input, through the CLI --------------------------------------------------------

BAD = [
    ({"input_shape": [4, 6], "layers": [{"type": "multihead_attention", "embed_dim": 6, "num_heads": 4}]},
     "layers[1].num_heads", "must divide embed_dim (6)"),
    ({"input_shape": [6, 4, 4], "layers": [{"type": "groupnorm", "num_groups": 4}]},
     "layers[1].num_groups", "must divide the channels (6)"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "lstm", "hidden_size": 4}]},
     "layers[1].type", "needs an L×F sequence"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "multihead_attention", "num_heads": 1}]},
     "layers[1].type", "needs an L×F sequence"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "embedding", "num_embeddings": 5, "embedding_dim": 2}]},
     "layers[1].type", "vector of L token ids"),
    ({"input_shape": [5, 8], "layers": [{"type": "adaptive_avg_pool2d", "output_size": 2}]},
     "layers[1].type", "needs a C×H×W input"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "layernorm", "normalized_shape": [8, 3]}]},
     "layers[1].normalized_shape", "trailing"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "softmax", "dim": 0}]}, "layers[1].dim", "the batch axis"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "softmax", "dim": 4}]}, "layers[1].dim", "3 axes"),
    ({"input_shape": [5, 8], "layers": [{"type": "gru", "hidden_size": 4, "input_size": 7}]},
     "layers[1].input_size", "input to this layer has 8"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "upsample", "scale_factor": 0.1}]},
     "layers[1].scale_factor", "a size 0"),
    ({"input_shape": [2, 5, 8, 3], "layers": [{"type": "relu"}]}, "input_shape", "two (a sequence L×F"),
    ({"input_shape": [3, 8, 8], "layers": [{"type": "attention"}]}, "layers[1].type", "multihead_attention"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_new_layers_are_one_paragraph(tmp_path, given, field, words):
    path = one_problem_file(tmp_path, "network", given)
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


def test_torch_refuses_what_the_solver_refuses():
    """The two divisibility rules are PyTorch's own."""
    with pytest.raises(AssertionError):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(ValueError):
        nn.GroupNorm(4, 6)


def test_unknown_type_lists_every_type(tmp_path):
    path = one_problem_file(tmp_path, "network", {"input_shape": [3, 8, 8], "layers": [{"type": "conv3d"}]})
    result = run_solver("solve", path)
    assert result.returncode == 2
    for kind in NEW_TYPES:
        assert kind in result.stderr, kind
