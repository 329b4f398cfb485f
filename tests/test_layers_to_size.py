"""layers_to_size against PyTorch: real stacks of torch.nn.Conv2d run on zero
tensors give the sizes and the parameter counts; nothing is copied from solver
output. Random cases use fixed seeds, so a failure names a seed that reproduces it."""
import random
import re
import textwrap

import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.core.errors import FieldError
from solver.kinds import get_kind
from solver.problems.load import load

kind = get_kind("layers_to_size")
torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)

PS3 = ROOT / "problems" / "csci5922-ps3.yaml"


# ---- the oracle ----------------------------------------------------------

def channels_per_layer(in_channels, out_channels, layers):
    """(C_in, C_out) of each layer: the listed counts, the last repeating."""
    outs = list(out_channels) + [out_channels[-1]] * (layers - len(out_channels))
    return list(zip([in_channels] + outs[:-1], outs))


def torch_stack(g, layers, device="cpu"):
    pairs = channels_per_layer(g.get("in_channels", 1), g.get("out_channels", [1]), layers)
    return [torch.nn.Conv2d(c_in, c_out, g["kernel_size"], stride=g.get("stride", 1),
                            padding=g.get("padding", 0), dilation=g.get("dilation", 1),
                            bias=g.get("bias", True), device=device) for c_in, c_out in pairs]


def torch_params(modules):
    return sum(p.numel() for m in modules for p in m.parameters())


def torch_sizes(g, limit):
    """Sizes torch gives after 0, 1, 2, ... identical layers: until the size
    passes `limit` (either way from the input), stops changing, or torch
    refuses a layer. Meta tensors: shapes without arithmetic."""
    h = g["input_size"]
    layer = torch_stack(dict(g, in_channels=1, out_channels=[1]), 1, "meta")[0]
    x, sizes = torch.zeros(1, 1, h, h, device="meta"), [h]
    while abs(sizes[-1] - h) <= abs(limit - h):
        try:
            x = layer(x)
        except RuntimeError:
            break
        if x.shape[-1] == sizes[-1]:
            break
        sizes.append(x.shape[-1])
    return sizes


def solve(given):
    return {name: a.value for name, a in kind.solve(kind.read(given)).answers.items()}


def draw(rng):
    """A random stack configuration whose first layer fits."""
    while True:
        g = {"input_size": rng.randint(3, 40), "kernel_size": rng.randint(1, 6),
             "stride": rng.choice([1, 1, 2, 3]), "padding": rng.randint(0, 3),
             "dilation": rng.choice([1, 1, 2]), "bias": rng.random() < 0.7,
             "in_channels": rng.randint(1, 4),
             "out_channels": [rng.randint(1, 4) for _ in range(rng.randint(1, 3))]}
        if g["dilation"] * (g["kernel_size"] - 1) + 1 <= g["input_size"] + 2 * g["padding"]:
            return g


# ---- answers against torch -----------------------------------------------

@pytest.mark.parametrize("seed", range(60))
def test_layers_and_params_match_torch(seed):
    rng = random.Random(seed)
    g = draw(rng)
    sizes = torch_sizes(g, limit=3 * g["input_size"])
    reachable = sorted(set(sizes[1:]) - {g["input_size"]})
    reach_one = reachable and rng.random() < 0.7
    target = rng.choice(reachable) if reach_one else rng.randint(1, 2 * g["input_size"])
    g["target_size"] = target
    if target not in sizes[1:] or target == g["input_size"]:
        with pytest.raises(FieldError):
            kind.read(g)
        return
    layers = sizes.index(target)
    g["out_channels"] = g["out_channels"][:layers]
    answers = solve(g)
    assert answers["layers"] == layers, (seed, g, sizes)
    stack = torch_stack(g, layers)
    x = torch.zeros(1, g["in_channels"], g["input_size"], g["input_size"])
    shapes = [x.shape[-2:]]
    for module in stack:
        x = module(x)
        shapes.append(x.shape[-2:])
    assert shapes[layers] == (target, target) and all(s != (target, target) for s in shapes[:layers])
    assert answers["params"] == torch_params(stack), (seed, g)


@pytest.mark.parametrize("seed", range(40))
def test_no_whole_number_of_layers_is_explained(seed):
    """A target strictly between two consecutive sizes: the error names both."""
    rng = random.Random(1000 + seed)
    while True:
        g = draw(rng)
        sizes = torch_sizes(g, limit=0)
        gaps = [i for i in range(1, len(sizes) - 1) if abs(sizes[i] - sizes[i + 1]) > 1]
        if gaps:
            break
    i = rng.choice(gaps)
    low, high = sorted((sizes[i], sizes[i + 1]))
    g["target_size"] = rng.randint(low + 1, high - 1)
    with pytest.raises(FieldError) as error:
        kind.read(g)
    assert error.value.field == "target_size"
    words = re.search(r"(\d+) layers? gives? (\d+) and (\d+) layers? gives? (\d+); no whole number of "
                      r"layers gives (\d+)", str(error.value))
    assert words, str(error.value)
    assert tuple(map(int, words.groups())) == (i, sizes[i], i + 1, sizes[i + 1], g["target_size"])


def test_the_example_of_the_brief():
    """224 with 7×7 kernels: torch's sizes pass 9 between two layer counts."""
    g = {"input_size": 224, "kernel_size": 7, "target_size": 9}
    sizes = torch_sizes(g, limit=1)
    i = next(i for i in range(len(sizes) - 1) if sizes[i] > 9 > sizes[i + 1])
    explained = f"{i} layers give {sizes[i]} and {i + 1} layers give {sizes[i + 1]}"
    with pytest.raises(FieldError, match=explained):
        kind.read(g)


@pytest.mark.parametrize("problem_id", ["Q2b-ii", "Q4"])
def test_shipped_problems_match_torch(problem_id):
    problem = load(PS3, only=problem_id).problems[0]
    g = vars(problem.given) | {"out_channels": list(problem.given.out_channels)}
    answers = solve(g)
    stack = torch_stack(g, answers["layers"], "meta")
    x = torch.zeros(1, g["in_channels"], g["input_size"], g["input_size"], device="meta")
    for i, module in enumerate(stack, start=1):
        x = module(x)
        assert (x.shape[-1] == g["target_size"]) == (i == answers["layers"])
    assert answers["params"] == torch_params(stack)


def test_seed_q2b_ii_by_hand():
    """224 - 6L = 8 gives L = 36; each layer has (3·7·7 + 1)·3 = 444 parameters."""
    assert solve({"input_size": 224, "target_size": 8, "kernel_size": 7,
                  "in_channels": 3, "out_channels": 3}) == {"layers": 36, "params": 36 * 444}


def test_growing_stack():
    """Padding 1 with a 1×1 kernel adds 2 rows a layer: 10, 12, 14, 16."""
    assert solve({"input_size": 10, "target_size": 16, "kernel_size": 1, "padding": 1}) == {"layers": 3}


# ---- mistakes, each against its own oracle ---------------------------------

Q4 = {"input_size": 224, "target_size": 16, "kernel_size": 3, "in_channels": 3,
      "out_channels": [16, 32, 64, 128, 256]}


def mistake(name, given):
    return next(m for m in kind.mistakes if m.name == name).answers(kind.read(given))


def test_bias_mistakes_match_torch_without_bias():
    layers = solve(Q4)["layers"]
    without_bias = torch_params(torch_stack(dict(Q4, bias=False), layers, "meta"))
    assert mistake("bias_forgotten", Q4)["params"] == without_bias
    assert mistake("bias_per_layer", Q4) == {"params": without_bias + layers}


def test_image_channels_everywhere_gives_every_kernel_the_input_depth():
    layers = solve(Q4)["layers"]
    outs = [c_out for _, c_out in channels_per_layer(3, Q4["out_channels"], layers)]
    shallow = [torch.nn.Conv2d(3, c_out, 3, device="meta") for c_out in outs]
    assert mistake("image_channels_everywhere", Q4) == {"params": torch_params(shallow)}


def test_padding_forgotten_matches_torch_without_padding():
    g = {"input_size": 40, "target_size": 4, "kernel_size": 5, "padding": 1}
    sizes = torch_sizes(dict(g, padding=0), limit=4)
    assert mistake("padding_forgotten", g) == {"layers": sizes.index(4)}


def test_kernel_rows_and_off_by_one_by_hand():
    g = {"input_size": 224, "target_size": 8, "kernel_size": 3}
    assert mistake("kernel_rows", g) == {"layers": (224 - 8) // 3}      # 3 rows a layer: 72
    assert mistake("off_by_one", g) == {"layers": (224 - 8) // 2 + 1}   # 109 sizes, 108 layers


def test_mistakes_that_do_not_apply_give_nothing():
    g = {"input_size": 224, "target_size": 8, "kernel_size": 7}     # 216 is no multiple of 7
    assert mistake("kernel_rows", g) == {}
    assert mistake("padding_forgotten", g) == {}
    assert mistake("bias_per_layer", g) == {}


def test_a_long_stack_is_counted_without_listing_its_layers():
    g = {"input_size": 10**9, "target_size": 1, "kernel_size": 2, "in_channels": 1, "out_channels": [2, 3]}
    layers = 10**9 - 1
    assert solve(g) == {"layers": layers, "params": (1 * 4 + 1) * 2 + (2 * 4 + 1) * 3
                        + (layers - 2) * (3 * 4 + 1) * 3}


# ---- bad input through the CLI --------------------------------------------

def problem_file(tmp_path, given_yaml):
    given = textwrap.indent(textwrap.dedent(given_yaml), " " * 6)
    path = tmp_path / "stack.yaml"
    path.write_text(f'title: T\nproblems:\n  - id: "s1"\n    kind: layers_to_size\n    given:\n{given}')
    return path


@pytest.mark.parametrize("given, field, words", [
    ("input_size: 32\ntarget_size: 40\nkernel_size: 3\n", "target_size", "moves away from 40"),
    ("input_size: 5\ntarget_size: 1\nkernel_size: 7\n", "kernel_size", "must fit inside the padded input"),
    ("input_size: 224\ntarget_size: 9\nkernel_size: 7\n", "target_size", "no whole number of layers"),
    ("input_size: 32\ntarget_size: 32\nkernel_size: 3\n", "target_size", "no layer is needed"),
    ("input_size: 32\ntarget_size: 16\nkernel_size: 3\npadding: 1\n", "target_size", "keeps the size"),
    ("input_size: [32, 32]\ntarget_size: 16\nkernel_size: 3\n", "input_size", "one number"),
    ("input_size: 8\ntarget_size: 4\nkernel_size: 3\nin_channels: 1\nout_channels: [2, 3, 4]\n",
     "out_channels", "the stack has 2"),
    ("input_size: 8\ntarget_size: 4\nkernel_size: 3\nout_channels: 4\n", "in_channels", "is needed too"),
])
def test_bad_input_is_one_paragraph(tmp_path, given, field, words):
    path = problem_file(tmp_path, given)
    assert_bad_input(run_solver("solve", path), path, "s1", field, words)


# ---- the rendered derivation ----------------------------------------------

def test_markdown_shows_the_collapsed_stack():
    result = run_solver("solve", PS3, "--format", "md")
    assert result.returncode == 0, result.stderr
    q4 = result.stdout[result.stdout.index("## Problem Q4"):]
    assert r"224 - 2L &= 16" in q4 and "Layers 6–104 are identical" in q4
    assert r"\theta_{6} + \dots + \theta_{104} &= 99\theta_{6}" in q4


def test_stride_two_shows_every_size():
    """By hand: floor((64 + 2 - 2 - 1)/2) + 1 = 32, then 16, then 8."""
    steps = kind.solve(kind.read({"input_size": 64, "target_size": 8, "kernel_size": 3, "stride": 2,
                                  "padding": 1})).steps
    layer_by_layer = next(s for s in steps if s.title == "Layer by layer")
    assert [line[-1].value() for line in layer_by_layer.math] == [32, 16, 8]


@pytest.mark.parametrize("g", [
    {"input_size": 40, "target_size": 4, "kernel_size": 5, "padding": 1},
    {"input_size": 50, "target_size": 2, "kernel_size": 7, "padding": 2},
])
def test_padding_once_matches_torch_padding_one_side(g):
    """Each layer padded by P at the top and left only (F.pad), then convolved without padding."""
    conv = torch.nn.Conv2d(1, 1, g["kernel_size"], stride=g.get("stride", 1), device="meta")
    x, sizes = torch.zeros(1, 1, g["input_size"], g["input_size"], device="meta"), [g["input_size"]]
    while sizes[-1] > g["target_size"]:
        x = conv(torch.nn.functional.pad(x, (g["padding"], 0, g["padding"], 0)))
        sizes.append(x.shape[-1])
    assert sizes[-1] == g["target_size"]
    assert mistake("padding_once", g) == {"layers": len(sizes) - 1} != {"layers": solve(g)["layers"]}


def test_bias_counted_matches_torch_with_bias():
    g = dict(Q4, bias=False)
    layers = solve(g)["layers"]
    assert mistake("bias_counted", g) == {"layers": layers, "params": torch_params(torch_stack(Q4, layers, "meta"))}
