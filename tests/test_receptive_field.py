"""The `network` kind's receptive fields and activation memory against independent oracles.

Receptive fields: a random stack of windowed layers (seeded; kernel, stride, padding and
dilation drawn per axis) is built from torch.nn modules with all-ones weights, one channel
and no bias, on an input large enough that the middle output pixel's field lies inside it.
The gradient of that pixel with respect to the input (autograd) is non-zero exactly on the
pixels it depends on: their bounding box's height and width are the receptive field, its
shift from one output pixel to the next the jump, and its centre (pixels counted from 0)
the start plus the pixel's index times the jump. Max pooling's gradient reaches one input
per window, so its window is taken by an all-ones convolution of the same geometry.

Activation memory: every layer of the random networks of test_network_oracle, run in torch
at each dtype, `numel() * element_size()` of its output.
"""
import json
import random
import re

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, compared_members, numeric, one_problem_file, optional_module, run_solver
from solver.kinds import get_kind
from test_network_oracle import SEEDS as NETWORK_SEEDS, torch_layer, valid_case

network = get_kind("network")
torch = optional_module("torch")
nn = optional_module("torch.nn")
F = optional_module("torch.nn.functional")

SEEDS = range(80)
DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "float64": "float64"}


# ---- random stacks --------------------------------------------------------------

def axis_pair(rng, low, high):
    return rng.randint(low, high) if rng.random() < 0.5 else [rng.randint(low, high), rng.randint(low, high)]


def hw(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def draw_layer(rng) -> dict:
    kind = rng.choice(["conv2d"] * 4 + ["maxpool2d", "avgpool2d", "conv_transpose2d", "element"])
    if kind == "element":
        return rng.choice([{"type": "leaky_relu"}, {"type": "softplus"}, {"type": "dropout"},
                           {"type": "batchnorm2d"}])
    kernel = axis_pair(rng, 1, 4)
    layer = {"type": kind, "kernel_size": kernel}
    if kind == "conv2d":
        layer.update(out_channels=1, stride=axis_pair(rng, 1, 2), dilation=axis_pair(rng, 1, 2),
                     padding=rng.choice([axis_pair(rng, 0, 2), "valid"]))
        if rng.random() < 0.2:
            layer.update(padding="same", stride=1)
    elif kind == "conv_transpose2d":                  # stride 1: the only transposed fields given
        dilation = axis_pair(rng, 1, 2)
        layer.update(out_channels=1, dilation=dilation,
                     padding=[rng.randint(0, d * (k - 1)) for k, d in zip(hw(kernel), hw(dilation))])
    else:
        layer["stride"] = axis_pair(rng, 1, 2)
        layer["padding"] = [rng.randint(0, k // 2) for k in hw(kernel)]
        if kind == "maxpool2d":
            layer["dilation"] = axis_pair(rng, 1, 2)
    return layer


def draw_stack(rng) -> list:
    return [draw_layer(rng) for _ in range(rng.randint(1, 5))]


def ones_module(layer) -> nn.Module:
    """The layer in torch, one channel, all-ones weights, no bias (max pooling: see the module's doc)."""
    kind = layer["type"]
    if kind in ("leaky_relu", "softplus"):             # slopes never 0 on the all-ones input's values
        return nn.LeakyReLU() if kind == "leaky_relu" else nn.Softplus()
    if kind == "dropout":
        return nn.Dropout()
    if kind == "batchnorm2d":
        return nn.BatchNorm2d(1)
    k, s, d = hw(layer["kernel_size"]), hw(layer.get("stride", 1)), hw(layer.get("dilation", 1))
    padding = layer.get("padding", 0)
    padding = padding if isinstance(padding, str) else hw(padding)
    if kind == "avgpool2d":
        return nn.AvgPool2d(k, s, padding)
    if kind == "conv_transpose2d":
        module = nn.ConvTranspose2d(1, 1, k, 1, padding, bias=False, dilation=d)
    else:                                             # conv2d, or max pooling's window
        module = nn.Conv2d(1, 1, k, s, padding, d, bias=False)
    nn.init.ones_(module.weight)
    return module


def input_size(stack) -> int:
    """A side long enough that the middle output's field lies well inside: every layer's
    span and padding, times every stride."""
    span, strides = 1, 1
    for layer in stack:
        if "kernel_size" in layer:
            k, d = max(hw(layer["kernel_size"])), max(hw(layer.get("dilation", 1)))
            span += d * k + 4
            strides *= max(hw(layer.get("stride", 1)))
    return 4 * span * strides + 16


def supports(stack, n, model=None):
    """{(a, b): (rows, columns) of the input pixels output (a, b) depends on}, for the middle
    output pixel and its neighbours below and to the right."""
    model = (model or nn.Sequential(*[ones_module(layer) for layer in stack])).eval()
    x = torch.ones((1, 1, n, n), dtype=torch.float64, requires_grad=True)
    y = model.double()(x)
    _, _, ho, wo = y.shape
    a, b = ho // 2, wo // 2
    found = {}
    for at in ((a, b), (a + 1, b), (a, b + 1)):
        if at[0] >= ho or at[1] >= wo:
            continue
        (grad,) = torch.autograd.grad(y[0, 0, at[0], at[1]], x, retain_graph=True)
        rows, cols = np.nonzero(grad[0, 0].numpy())
        assert rows.min() > 0 and rows.max() < n - 1 and cols.min() > 0 and cols.max() < n - 1, \
            "the field reaches the border: make the input larger (test bug)"
        found[at] = (rows, cols)
    return (a, b), found


def solved(stack, n, ask=("receptive_field",)):
    given = network.read({"input_shape": [1, n, n], "layers": stack, "include": list(ask)})
    return {name: answer.value for name, answer in network.compute(given).items()}


def per_axis(value):
    return tuple(value) if isinstance(value, (tuple, np.ndarray)) else (value, value)


@pytest.mark.parametrize("seed", SEEDS)
def test_receptive_field_jump_and_start_match_autograd(seed):
    rng = random.Random(f"receptive-{seed}")
    stack = draw_stack(rng)
    n = input_size(stack)
    (a, b), found = supports(stack, n)
    answers = solved(stack, n)
    last = len(stack)
    rows, cols = found[(a, b)]
    r = per_axis(answers[f"receptive_field[{last}]"])
    assert r == (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1), stack
    j, start = per_axis(answers[f"jump[{last}]"]), per_axis(answers[f"start[{last}]"])
    assert (start[0] + a * j[0], start[1] + b * j[1]) == ((rows.min() + rows.max()) / 2,
                                                          (cols.min() + cols.max()) / 2), stack
    if (a + 1, b) in found:
        assert j[0] == found[(a + 1, b)][0].min() - rows.min(), stack
    if (a, b + 1) in found:
        assert j[1] == found[(a, b + 1)][1].min() - cols.min(), stack


def changed(stack, **fields):
    """The stack with some fields set in every windowed layer (the wrong answer's network)."""
    return [dict(layer, **fields) if "kernel_size" in layer else layer for layer in stack]


def mistake_values(name, stack, n):
    mistake = next(m for m in network.mistakes if m.name == name)
    given = network.read({"input_shape": [1, n, n], "layers": stack, "include": ["receptive_field"]})
    ((_, values),) = mistake.cases(given)
    return values


@pytest.mark.parametrize("seed", range(30))
def test_jump_ignored_is_the_field_of_the_stack_without_strides(seed):
    """The field grown by K_eff - 1 per layer is that of the same stack with every stride 1:
    autograd on that stack is the independent computation of the wrong answer."""
    rng = random.Random(f"receptive-{seed}")
    stack = draw_stack(rng)
    pooled = lambda layer: layer["type"] in ("maxpool2d", "avgpool2d")
    if not any(max(hw(layer.get("stride", layer["kernel_size"] if pooled(layer) else 1))) > 1 for layer in stack):
        stack.append({"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2})
    stack.append({"type": "conv2d", "out_channels": 1, "kernel_size": 3})
    n = input_size(stack)
    (a, b), found = supports(changed(stack, stride=1), n)
    rows, cols = found[(a, b)]
    wrong = per_axis(mistake_values("field_jump_ignored", stack, n)[f"receptive_field[{len(stack)}]"])
    assert wrong == (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1), stack


def test_dilation_ignored_is_the_field_of_the_stack_without_dilation():
    stack = [{"type": "conv2d", "out_channels": 1, "kernel_size": 3, "dilation": 2, "stride": 2},
             {"type": "maxpool2d", "kernel_size": [2, 3], "stride": 1, "dilation": [3, 1]},
             {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "dilation": [1, 2]}]
    n = input_size(stack)
    (a, b), found = supports(changed(stack, dilation=1), n)
    rows, cols = found[(a, b)]
    wrong = per_axis(mistake_values("field_dilation_ignored", stack, n)["receptive_field[3]"])
    assert wrong == (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
    assert wrong != per_axis(solved(stack, n)["receptive_field[3]"])


VGG_STAGE = [{"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}, {"type": "relu"},
             {"type": "conv2d", "out_channels": 64, "kernel_size": 3, "padding": 1}, {"type": "relu"},
             {"type": "maxpool2d", "kernel_size": 2, "stride": 2},
             {"type": "conv2d", "out_channels": 128, "kernel_size": 3, "padding": 1}, {"type": "relu"}]


def test_hand_checked_vgg_stage(tmp_path):
    """By hand: 3, 5, then 6 (pool 2×2: +1), then 10 (3×3 at jump 2: +4); jumps 1, 1, 2, 2;
    starts 0, 0, 0.5, 0.5; the relus keep their layer's values."""
    path = one_problem_file(tmp_path, "network", {"input_shape": [3, 32, 32], "layers": VGG_STAGE},
                            ask=["receptive_field[7]"])
    for name, text, code in [("receptive_field[7]", "10", 0), ("receptive_field[5]", "6", 0),
                             ("receptive_field[4]", "5", 0), ("jump[7]", "2", 0), ("start[5]", "0.5", 0),
                             ("start[7]", "1/2", 0), ("receptive_field[7]", "9", 1)]:
        result = run_solver("check", path, f"p:{name}", text)
        assert result.returncode == code, (name, text, result.stdout, result.stderr)


def test_flatten_keeps_the_field_and_a_linear_layer_sees_the_whole_image():
    given = network.read({"input_shape": [1, 12, 10], "include": ["receptive_field"],
                          "layers": [{"type": "conv2d", "out_channels": 2, "kernel_size": 3},
                                     {"type": "flatten"}, {"type": "linear", "out_features": 4},
                                     {"type": "relu"}, {"type": "linear", "out_features": 2}]})
    answers = network.compute(given)
    assert answers["receptive_field[2]"].value == (3, 3)
    assert [tuple(answers[f"receptive_field[{i}]"].value) for i in (3, 4, 5)] == [(12, 10)] * 3
    assert "jump[2]" not in answers and "start[3]" not in answers and answers["jump[1]"].value == (1, 1)
    steps = {step.title: step for step in network.solve(given).steps}
    texts = " ".join(sub.text for sub in steps["Receptive fields"].substeps)
    assert "whole input image, 12×10 pixels" in texts and "keeps that value's receptive field" in texts


def test_the_derivation_reads_the_answers_off_its_lines():
    rng = random.Random("receptive-lines")
    for _ in range(10):
        stack = draw_stack(rng)
        given = network.read({"input_shape": [1, 200, 200], "layers": stack,
                              "include": ["receptive_field", "activation_memory"]})
        solution = network.solve(given)
        assert compared_members(solution, numeric, lambda a, b: np.allclose(a, b)) > 0
        step = next(s for s in solution.steps if s.title == "Receptive fields")
        last = {line[0].name: line[-1].value() for sub in step.substeps for line in sub.math}
        shown = 0
        for name, value in last.items():
            match = re.fullmatch(r"(start|r|j)(\d+)([hw]?)", name)
            if not match:
                continue                                  # K_eff
            letter, number, axis = match.groups()
            answer = {"r": "receptive_field", "j": "jump", "start": "start"}[letter]
            want = solution.answers[f"{answer}[{number}]"].value
            h, w = per_axis(want)
            assert value == ((h, w)["hw".index(axis)] if axis else h) and (axis or h == w), (name, value, want)
            shown += 1
        assert shown >= 3 or not any("kernel_size" in layer for layer in stack)


def test_transposed_convolution_with_a_stride_is_refused(tmp_path):
    layers = [{"type": "conv2d", "out_channels": 2, "kernel_size": 3},
              {"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3, "stride": 2}]
    path = one_problem_file(tmp_path, "network", {"input_shape": [1, 8, 8], "layers": layers},
                            ask=["receptive_field[2]"])
    assert_bad_input(run_solver("solve", path), path, "p", "layers[2].stride", "stride 1 only")
    plain = one_problem_file(tmp_path, "network", {"input_shape": [1, 8, 8], "layers": layers}, ask=["params"])
    assert run_solver("solve", plain).returncode == 0      # without receptive fields, nothing to refuse


# ---- what is shown where --------------------------------------------------------

def titles(given, ask=None) -> list[str]:
    return [step.title for step in network.solve(network.read(given, ask)).steps]


def test_steps_and_answers_only_where_included():
    base = {"input_shape": [3, 32, 32], "layers": VGG_STAGE}
    plain = network.read(base)
    assert not any(name.startswith(("receptive", "jump", "start", "activation")) for name in network.compute(plain))
    assert "Receptive fields" not in titles(base) and "Activation memory" not in titles(base)
    assert titles(base, ["jump[3]"])[-1] == "Receptive fields"
    assert titles(base, ["activation_memory[2]"])[-1] == "Activation memory"
    assert titles(dict(base, dtype="float16"))[-1] == "Activation memory"
    assert titles(dict(base, include=["receptive_field", "activation_memory"]))[-2:] == [
        "Receptive fields", "Activation memory"]


# ---- activation memory ------------------------------------------------------------

def torch_memory(given, dtype):
    """Bytes of each layer's output (numel × element_size), the network run in torch at `dtype` on
    the meta device (shapes and element types, no arithmetic: float16 convolutions are slow on a CPU)."""
    from test_network_oracle import input_chw
    x = torch.zeros((given.get("batch_size", 1),) + input_chw(given), dtype=getattr(torch, dtype), device="meta")
    found = []
    for layer in given["layers"]:
        for _ in range(layer.get("repeat", 1)):
            module = torch_layer(layer, x).to(device="meta", dtype=x.dtype).eval()
            with torch.no_grad():
                x = module(x)
            found.append(x.numel() * x.element_size())
    return found


@pytest.mark.parametrize("seed", NETWORK_SEEDS[::10])
@pytest.mark.parametrize("dtype", list(DTYPES))
def test_activation_memory_matches_torch(seed, dtype):
    given, ran, _ = valid_case(seed)
    want = torch_memory(given, dtype)
    answers = network.compute(network.read(dict(given, dtype=dtype)))
    got = [answers[f"activation_memory[{i}]"].value for i in range(1, len(want) + 1)]
    assert got == want, given
    assert answers["activation_memory"].value == sum(want)


def test_float32_is_the_default(tmp_path):
    given = {"input_shape": [3, 8, 8], "batch_size": 2, "layers": [{"type": "conv2d", "out_channels": 4,
                                                                     "kernel_size": 3}]}
    answers = network.compute(network.read(given, ["activation_memory"]))
    assert answers["activation_memory"].value == 2 * 4 * 6 * 6 * torch.zeros(1).element_size()


def test_unknown_dtype_is_bad_input(tmp_path):
    given = {"input_shape": [3, 8, 8], "dtype": "int8", "layers": [{"type": "relu"}]}
    path = one_problem_file(tmp_path, "network", given)
    assert_bad_input(run_solver("solve", path), path, "p", "dtype", "float32, float16, bfloat16, float64")


# ---- the shipped problems ------------------------------------------------------------

def shipped(problem_id):
    import yaml
    problems = yaml.safe_load((ROOT / "problems" / "classic-networks.yaml").read_text())["problems"]
    return next(p for p in problems if p["id"] == problem_id)


def test_shipped_vgg_receptive_fields_match_autograd():
    """VGG-16's first two blocks, one channel of all-ones weights: pool1 sees 6×6 pixels, pool2 16×16
    (the published figures too), pool2's outputs lie 4 pixels apart."""
    problem = shipped("V.RF")
    layers = [dict(layer, out_channels=1) if "out_channels" in layer else layer
              for layer in problem["given"]["layers"] if layer["type"] != "relu"]
    result = run_solver("solve", "--format", "json", "--problem", "V.RF",
                        ROOT / "problems" / "classic-networks.yaml")
    answers = {name: a["value"] for name, a in json.loads(result.stdout)["problems"][0]["answers"].items()}
    for upto, number in ((3, 5), (6, 10)):                    # the relus dropped: pools are layers 3 and 6
        (a, b), found = supports(layers[:upto], 96)
        rows, cols = found[(a, b)]
        assert answers[f"receptive_field[{number}]"] == rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1
    assert answers["jump[10]"] == found[(a + 1, b)][0].min() - rows.min()
    assert answers["start[10]"] in ("3/2", 1.5) and 1.5 + a * 4 == (rows.min() + rows.max()) / 2
    assert (answers["receptive_field[5]"], answers["receptive_field[10]"]) == (6, 16)


def test_shipped_activation_memory_matches_torch():
    problem = shipped("V.MEM")
    given = dict(problem["given"])
    want = torch_memory(given, given["dtype"])
    answers = network.compute(network.read(given, problem["ask"]))
    assert answers["activation_memory[1]"].value == want[0]
    assert answers["activation_memory"].value == sum(want)


# ---- blocks: a residual add and a concatenation take the union of their paths' fields ----

def keeping_conv(rng, stride=1):
    """A convolution that keeps the size (odd kernel, padding D(K - 1)/2), stride `stride`."""
    k, d = rng.choice([1, 3, 5]), rng.randint(1, 2)
    return {"type": "conv2d", "out_channels": 1, "kernel_size": k, "dilation": d, "padding": d * (k - 1) // 2,
            "stride": stride}


def draw_block(rng) -> list:
    """A residual block, or a concatenation then a 1×1 convolution back to one channel."""
    if rng.random() < 0.5:
        stride = rng.randint(1, 2)
        block = {"type": "residual", "layers": [keeping_conv(rng, stride), {"type": "relu"}, keeping_conv(rng)]}
        if stride > 1 or rng.random() < 0.5:
            block["shortcut"] = [{"type": "conv2d", "out_channels": 1, "kernel_size": 1, "stride": stride}]
        return [block]
    return [{"type": "concat", "branches": [[keeping_conv(rng)] for _ in range(rng.randint(1, 3))] + [[]]},
            {"type": "conv2d", "out_channels": 1, "kernel_size": 1}]


def torch_block(layers):
    """A torch module for a list of layers and blocks, all of one channel in and out (a concat's
    channels summed: the all-ones 1×1 convolution that follows it in the problem)."""
    modules = []
    for layer in layers:
        if layer["type"] == "residual":
            main, short = torch_block(layer["layers"]), torch_block(layer.get("shortcut", []))
            modules.append(Joined([main, short], lambda ys: ys[0] + ys[1]))
        elif layer["type"] == "concat":
            branches = [torch_block(branch) for branch in layer["branches"]]
            modules.append(Joined(branches, lambda ys: torch.cat(ys, dim=1).sum(dim=1, keepdim=True)))
        else:
            modules.append(ones_module(layer) if layer["type"] != "relu" else nn.LeakyReLU())
    return nn.Sequential(*modules)


class Joined(nn.Module if not isinstance(nn, type(optional_module("no_such_module"))) else object):
    """Paths that read one input, joined: added, or concatenated and summed over the channels."""

    def __init__(self, paths, join):
        super().__init__()
        self.paths, self.join = nn.ModuleList(paths), join

    def forward(self, x):
        return self.join([path(x) for path in self.paths])


@pytest.mark.parametrize("seed", range(40))
def test_blocks_take_the_union_of_their_paths_fields(seed):
    rng = random.Random(f"receptive-blocks-{seed}")
    layers = [keeping_conv(rng, rng.randint(1, 2)) for _ in range(rng.randint(0, 2))] + draw_block(rng)
    for _ in range(rng.randint(0, 2)):
        layers += draw_block(rng) if rng.random() < 0.5 else [keeping_conv(rng, rng.randint(1, 2))]
    n = 160
    (a, b), found = supports(None, n, torch_block(layers).double())
    given = network.read({"input_shape": [1, n, n], "layers": layers, "include": ["receptive_field"]})
    answers = {name: answer.value for name, answer in network.compute(given).items()}
    last = len(given.layers)
    rows, cols = found[(a, b)]
    assert answers[f"receptive_field[{last}]"] == rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1, layers
    assert answers[f"start[{last}]"] + a * answers[f"jump[{last}]"] == (rows.min() + rows.max()) / 2, layers
    if (a + 1, b) in found:
        assert answers[f"jump[{last}]"] == found[(a + 1, b)][0].min() - rows.min(), layers


def test_checking_an_answer_not_asked_says_how_to_ask_for_it(tmp_path):
    path = one_problem_file(tmp_path, "network", {"input_shape": [3, 32, 32], "layers": VGG_STAGE}, ask=["params"])
    result = run_solver("check", path, "p:jump[3]", "1")
    assert result.returncode == 2 and "include: [receptive_field]" in result.stderr, result.stderr


def test_variants_compute_the_asked_memory_of_each_draw(tmp_path):
    """A variant's given is read again with the problem's ask: its memory is that of its own batch."""
    import csv
    import yaml
    given = {"input_shape": [3, 8, 8], "batch_size": 4, "layers": [{"type": "conv2d", "out_channels": 2,
                                                                     "kernel_size": 3}]}
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [
        {"id": "p", "kind": "network", "statement": "A batch of {{ batch_size }}.", "given": given,
         "ask": ["activation_memory"]}]}))
    result = run_solver("variants", "--count", "3", "--seed", "1", "--format", "md", "--output", tmp_path / "out", path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(open(tmp_path / "out" / "set-variants" / "set-variants-key.csv")))
    assert [row["answer"] for row in rows] == ["activation_memory"] * 3
    for row in rows:
        drawn = yaml.safe_load(open(tmp_path / "out" / "set-variants" / f"set-v{row['variant']}.yaml"))
        batch = drawn["problems"][0]["given"]["batch_size"]
        assert int(row["text"]) == batch * 2 * 6 * 6 * torch.zeros(1).element_size()


def memory_mistake(name, given):
    mistake = next(m for m in network.mistakes if m.name == name)
    ((_, values),) = mistake.cases(network.read(given))
    return values


@pytest.mark.parametrize("seed", NETWORK_SEEDS[::10])
def test_memory_mistakes_match_torch_with_the_wrong_count(seed):
    """Batch forgotten: torch's outputs on a batch of one; input counted: torch's input tensor's bytes
    added to its outputs'."""
    given, _, _ = valid_case(seed)
    given = dict(given, dtype="float16", batch_size=given.get("batch_size", 1) + 1)
    from test_network_oracle import input_chw
    one = torch_memory(dict(given, batch_size=1), "float16")
    found = memory_mistake("memory_batch_forgotten", given)
    assert [found[f"activation_memory[{i}]"] for i in range(1, len(one) + 1)] == one
    assert found["activation_memory"] == sum(one)
    x = torch.zeros((given["batch_size"],) + input_chw(given), dtype=torch.float16)
    counted = memory_mistake("memory_input_counted", given)
    assert counted == {"activation_memory": sum(torch_memory(given, "float16")) + x.numel() * x.element_size()}


def test_a_memory_without_the_batch_is_diagnosed(tmp_path):
    given = {"input_shape": [3, 8, 8], "batch_size": 5, "layers": [{"type": "conv2d", "out_channels": 2,
                                                                     "kernel_size": 3}]}
    path = one_problem_file(tmp_path, "network", given, ask=["activation_memory"])
    one_example = torch.zeros((1, 2, 6, 6))
    result = run_solver("check", path, "p:activation_memory", str(one_example.numel() * one_example.element_size()))
    assert result.returncode == 1 and "counted for one example" in result.stdout, result.stdout


def test_fields_are_height_first_in_either_layout():
    layers = [{"type": "conv2d", "out_channels": 2, "kernel_size": [3, 5], "stride": [2, 1]},
              {"type": "maxpool2d", "kernel_size": 2}]
    chw = network.compute(network.read({"input_shape": [3, 20, 30], "layers": layers}, ["receptive_field[2]"]))
    hwc = network.compute(network.read({"input_shape": [20, 30, 3], "layout": "hwc", "layers": layers},
                                       ["receptive_field[2]"]))
    # by hand: height 1 + 2 = 3, then + 1·2 = 5; width 1 + 4 = 5, then + 1·1 = 6
    assert chw["receptive_field[2]"].value == hwc["receptive_field[2]"].value == (5, 6)
    assert chw["jump[2]"].value == hwc["jump[2]"].value == (4, 2)
    assert list(chw["start[2]"].value) == list(hwc["start[2]"].value) == [2, 2.5]
