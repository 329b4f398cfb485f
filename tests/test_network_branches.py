"""Residual blocks and concatenations in the `network` kind, against PyTorch.

The oracle runs the same network as torch.nn modules, block by block: a
residual block's output is `main(x) + shortcut(x)` (the shortcut the identity
when none is given; the two shapes must be equal, as torchvision's blocks
have them, so a broadcast is refused), a concatenation's is
`torch.cat([branch(x) for each branch], dim=1)`. Rows are recorded in the
numbering network_blocks.py documents: depth first, a block's main path, then
its shortcut (or each branch in turn), then the join as a row of its own.
Torch gives each row's output shape, parameters (`numel`) and FLOPs
(FlopCounterMode, which counts neither an add nor a cat); the additions of an
add are one per output element, by the stated convention. ResNet-18 and the
U-Net level of problems/classic-networks.yaml are written here as torchvision
and a U-Net write them; their totals are never typed.
"""
import json
import random
import warnings

import pytest
import yaml

from conftest import ROOT, assert_bad_input, one_problem_file, optional_module, run_solver
from solver.core.errors import FieldError
from test_network_oracle import (MAP_LAYERS, TORCH_REFUSES, EmptyOutput, as_written, chw_to_hwc, flops_counted,
                                 pick, solve, solver_refuses, torch_params, written_in_hwc)
from test_network_layers_oracle import torch_layer          # the older layer types and the newer ones

torch = optional_module("torch")
nn = optional_module("torch.nn")

CLASSIC = ROOT / "problems" / "classic-networks.yaml"
SEEDS = range(80)
MAX_DRAWS = 100


# ---- the oracle: a nested network run in torch, row by row -------------------------

class Row:
    def __init__(self, kind, module, x, y):
        self.kind, self.module, self.x, self.y = kind, module, x, y


def run_list(layers, x, rows) -> "torch.Tensor":
    """Run one list of layers and blocks on x, recording each row; its output."""
    for item in layers:
        for _ in range(item.get("repeat", 1)):
            if item["type"] == "residual":
                main = run_list(item["layers"], x, rows)
                shortcut = run_list(item.get("shortcut") or [], x, rows)
                if main.shape != shortcut.shape:
                    raise RuntimeError(f"residual add of {tuple(main.shape)} and {tuple(shortcut.shape)}")
                y = main + shortcut
                rows.append(Row("add", None, (main, shortcut), y))
            elif item["type"] == "concat":
                outs = [run_list(branch, x, rows) for branch in item["branches"]]
                y = torch.cat(outs, dim=1)
                rows.append(Row("concat", None, tuple(outs), y))
            else:
                module = torch_layer(item, x).eval()
                with torch.no_grad():
                    y = module(x)
                if y.numel() == 0:
                    raise EmptyOutput(f"{item} gives {tuple(y.shape)}")
                rows.append(Row(item["type"], module, x, y))
            x = y
    return x


def torch_rows(given) -> list[Row]:
    x = torch.zeros((given.get("batch_size", 1),) + tuple(given["input_shape"]))
    rows = []
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", UserWarning)
        run_list(given["layers"], x, rows)
    return rows


def row_flops(row) -> int:
    if row.module is None:
        if row.kind == "add":
            return flops_counted(lambda: row.x[0] + row.x[1])
        return flops_counted(lambda: torch.cat(row.x, dim=1))
    return flops_counted(lambda: row.module(row.x))


def row_params(row) -> int:
    return 0 if row.module is None else torch_params(row.module)["params"]


def assert_rows_match(given, rows, answers):
    """Every row's output shape, parameters and FLOPs, the joins' additions, and the totals."""
    assert sum(name.startswith("output_shape[") for name in answers) == len(rows), given
    for i, row in enumerate(rows, start=1):
        assert tuple(answers[f"output_shape[{i}]"]) == as_written(given, row.y.shape), (i, given)
        assert answers[f"params[{i}]"] == row_params(row), (i, given)
        assert answers[f"flops[{i}]"] == row_flops(row), (i, given)
        if row.kind == "add":
            assert answers[f"adds[{i}]"] == row.y.numel() and answers[f"mults[{i}]"] == 0, (i, given)
        if row.kind == "concat":
            assert answers[f"adds[{i}]"] == answers[f"mults[{i}]"] == 0, (i, given)
    assert answers["params"] == sum(row_params(row) for row in rows), given
    assert tuple(answers["output_shape"]) == as_written(given, rows[-1].y.shape), given


# ---- random branched networks ---------------------------------------------------------

def conv(channels, kernel=3, stride=1, bias=None):
    layer = {"type": "conv2d", "out_channels": channels, "kernel_size": kernel, "padding": kernel // 2}
    if stride != 1:
        layer["stride"] = stride
    if bias is not None:
        layer["bias"] = bias
    return layer


def draw_path(rng, channels, out, stride, depth):
    """A main path from `channels` to `out` channels at `stride`, now and then with a
    random map layer (which may not fit) or a nested block."""
    path = [conv(out, rng.choice([1, 3, 5]), stride, rng.random() < 0.5)]
    if rng.random() < 0.5:
        path.append({"type": "batchnorm2d"})
    if rng.random() < 0.5:
        path.append({"type": rng.choice(["relu", "tanh", "gelu"])})
    if rng.random() < 0.15:
        path.append(pick(rng, MAP_LAYERS, out))
    if depth < 2 and rng.random() < 0.3:
        path.append(draw_block(rng, out, depth + 1)[0])
    return path


def draw_block(rng, channels, depth=0):
    """A residual block or a concatenation on `channels` channels: (mapping, its output channels
    when it fits)."""
    if rng.random() < 0.55:
        out, stride = rng.choice([(channels, 1), (channels, 1), (rng.randint(1, 6), rng.choice([1, 2]))])
        block = {"type": "residual", "layers": draw_path(rng, channels, out, stride, depth)}
        if (out, stride) != (channels, 1) and rng.random() < 0.9 or rng.random() < 0.2:
            block["shortcut"] = [conv(out, 1, stride, False)] + [{"type": "batchnorm2d"}] * (rng.random() < 0.6)
        if (out, stride) == (channels, 1) and rng.random() < 0.3:
            block["repeat"] = rng.randint(2, 3)
        return block, out
    branches = []
    for _ in range(rng.randint(2, 3)):
        choice = rng.random()
        if choice < 0.25:
            branches.append([])
        elif choice < 0.45:
            branches.append([{"type": "maxpool2d", "kernel_size": 2},
                             {"type": "conv_transpose2d", "out_channels": rng.randint(1, 4), "kernel_size": 2,
                              "stride": 2}])
        else:
            branches.append(draw_path(rng, channels, rng.randint(1, 5), 1, depth))
    return {"type": "concat", "branches": branches}, None


def draw_branched(rng) -> dict:
    c, h, w = rng.randint(1, 4), rng.randint(4, 12), rng.randint(4, 12)
    given = {"input_shape": [c, h, w], "layers": []}
    if rng.random() < 0.5:
        given["batch_size"] = rng.randint(1, 3)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            layer = conv(rng.randint(1, 4))
            given["layers"].append(layer)
            c = layer["out_channels"]
        block, out = draw_block(rng, c)
        given["layers"].append(block)
        c = out or c
    if rng.random() < 0.3:
        given["layers"] += [{"type": "flatten"}, {"type": "linear", "out_features": rng.randint(1, 5)}]
    return given


def valid_branched(seed):
    rng = random.Random(f"branches-{seed}")
    refused = 0
    for _ in range(MAX_DRAWS):
        given = draw_branched(rng)
        try:
            rows = torch_rows(given)
        except TORCH_REFUSES:
            assert solver_refuses(given), f"torch refuses this network but the solver accepts it: {given}"
            refused += 1
            continue
        return given, rows, refused
    raise AssertionError("no valid network drawn (test bug)")


@pytest.mark.parametrize("seed", SEEDS)
def test_random_branched_networks_match_torch(seed):
    given, rows, _ = valid_branched(seed)
    answers = solve(given)
    assert_rows_match(given, rows, answers)
    x = torch.zeros((given.get("batch_size", 1),) + tuple(given["input_shape"]))
    assert answers["flops"] == flops_counted(lambda: run_list(given["layers"], x, [])) == 2 * answers["macs"]


def test_random_draws_include_blocks_of_every_sort_and_refusals():
    """The draws test what they claim: nested blocks, repeats, both joins, identity paths, and
    networks torch refuses (each of which the solver refused too)."""
    seen, refused = set(), 0
    for seed in SEEDS:
        given, _, r = valid_branched(seed)
        refused += r
        text = json.dumps(given)
        seen |= {word for word in ("residual", "concat", "repeat", "shortcut", "[]") if word in text}
        seen |= {"nested"} if text.count('"type": "residual"') + text.count('"type": "concat"') > \
            len([x for x in given["layers"] if x["type"] in ("residual", "concat")]) else set()
    assert seen == {"residual", "concat", "repeat", "shortcut", "[]", "nested"} and refused > 0


# ---- the shipped problems against torch.nn models -------------------------------------------

class BasicBlock(nn.Module if not isinstance(nn, type(optional_module("no_such_module"))) else object):
    """torchvision.models.resnet.BasicBlock, with the add recorded as a row."""

    def __init__(self, inplanes, planes, stride, record):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))
        self.record = record

    def forward(self, x):
        identity = x
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.downsample is not None:
            identity = self.downsample(x)
        y = out + identity
        self.record(Row("add", None, (out, identity), y))
        return self.relu(y)


def resnet18(record):
    """torchvision.models.resnet18's modules, in the order its forward runs them."""
    stem = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1)]
    blocks, inplanes = [], 64
    for planes, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        blocks += [BasicBlock(inplanes, planes, stride, record), BasicBlock(planes, planes, 1, record)]
        inplanes = planes
    return nn.Sequential(*stem, *blocks, nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(512, 1000))


def recorded_rows(model, x, rows) -> list[Row]:
    """Every leaf module's call in order (hooks), with the adds the blocks record themselves."""
    def hook(module, inputs, output):
        rows.append(Row(type(module).__name__, module, inputs[0], output))
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not list(m.children()) and not isinstance(m, BasicBlock)]
    with torch.no_grad():
        model.eval()(x)
    for handle in handles:
        handle.remove()
    return rows


def shipped(problem_id) -> dict:
    """The given mapping of a problem of classic-networks.yaml, its input shape as a list."""
    raw = yaml.safe_load(CLASSIC.read_text())
    given = next(p["given"] for p in raw["problems"] if p["id"] == problem_id)
    return dict(given, input_shape=[int(v) for v in given["input_shape"].split("x")])


def test_resnet18_matches_torchvision_layer_by_layer():
    rows = []
    model = resnet18(rows.append)
    recorded_rows(model, torch.zeros(1, 3, 224, 224), rows)
    answers = solve(shipped("R.1"))
    for i, row in enumerate(rows, start=1):
        assert tuple(answers[f"output_shape[{i}]"]) == tuple(row.y.shape[1:]), i
        assert answers[f"params[{i}]"] == row_params(row), i
    assert sum(name.startswith("params[") for name in answers) == len(rows)
    assert answers["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * answers["macs"] == flops_counted(lambda: model(torch.zeros(1, 3, 224, 224)))


class UNetLevel(nn.Module if not isinstance(nn, type(optional_module("no_such_module"))) else object):
    """One U-Net level with padded convolutions: the skip and the way down and up, concatenated."""

    def __init__(self, record):
        super().__init__()
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(128, 128, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(128, 64, 2, 2))
        self.out = nn.Sequential(nn.Conv2d(128, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1),
                                 nn.ReLU())
        self.record = record

    def forward(self, x):
        up = self.down(x)
        y = torch.cat([x, up], dim=1)
        self.record(Row("concat", None, (x, up), y))
        return self.out(y)


def test_unet_level_matches_torch_layer_by_layer():
    rows = []
    model = UNetLevel(rows.append)
    given = shipped("U.1")
    x = torch.zeros(given["batch_size"], 64, 64, 64)
    recorded_rows(model, x, rows)
    answers = solve(given)
    assert sum(name.startswith("params[") for name in answers) == len(rows)
    for i, row in enumerate(rows, start=1):
        assert tuple(answers[f"output_shape[{i}]"]) == tuple(row.y.shape), i
        assert answers[f"params[{i}]"] == row_params(row), i
    assert answers["params"] == sum(p.numel() for p in model.parameters())
    assert 2 * answers["macs"] == flops_counted(lambda: model(x))


# ---- bad input --------------------------------------------------------------------------

def block_file(tmp_path, layers):
    return one_problem_file(tmp_path, "network", {"input_shape": [8, 16, 16], "layers": layers})


def test_a_residual_join_of_unequal_shapes_names_both(tmp_path):
    path = block_file(tmp_path, [{"type": "relu"}, {"type": "residual", "layers": [conv(16, 3, 2)]}])
    result = run_solver("solve", path)
    assert_bad_input(result, path, "p", "layers[2]", "an add needs equal shapes")
    assert "16×8×8" in result.stderr and "8×16×16" in result.stderr and "shortcut" in result.stderr
    assert "layer 3" in result.stderr


def test_a_concat_of_unequal_sizes_names_both_and_the_nested_path(tmp_path):
    inner = {"type": "concat", "branches": [[], [{"type": "maxpool2d", "kernel_size": 2}]]}
    path = block_file(tmp_path, [{"type": "residual", "layers": [{"type": "relu"}, inner]}])
    result = run_solver("solve", path)
    assert_bad_input(result, path, "p", "layers[1].layers[2]", "heights and widths")
    assert "8×16×16" in result.stderr and "8×8×8" in result.stderr


@pytest.mark.parametrize("block, field, words", [
    ({"type": "residual"}, "layers[1].layers", "non-empty list"),
    ({"type": "residual", "layers": [{"type": "relu"}], "shortcut": {"type": "relu"}}, "layers[1].shortcut",
     "list of layers"),
    ({"type": "concat", "branches": [[{"type": "relu"}]]}, "layers[1].branches", "at least two"),
    ({"type": "concat", "branches": [[], []], "layers": []}, "layers[1].layers", "not a field of a concat"),
    ({"type": "residual", "layers": [{"type": "conv2d", "kernel_size": 3}]}, "layers[1].layers[1].out_channels",
     "required"),
    ({"type": "residual", "layers": [{"type": "relu"}], "repeat": 0}, "layers[1].repeat", "positive integer"),
])
def test_bad_blocks_name_the_field(tmp_path, block, field, words):
    path = block_file(tmp_path, [block])
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


def test_blocks_nest_only_so_deep_and_repeat_only_so_often():
    block = {"type": "relu"}
    for _ in range(40):
        block = {"type": "residual", "layers": [block]}
    with pytest.raises(FieldError, match="deep"):
        solve({"input_shape": [1, 2, 2], "layers": [block]})
    with pytest.raises(FieldError, match="more than"):
        solve({"input_shape": [1, 2, 2], "layers": [{"type": "residual", "layers": [{"type": "relu"}],
                                                      "repeat": 10**6}]})


# ---- numbering, the table and checking --------------------------------------------------

def test_networks_without_blocks_number_as_before():
    """A chain is numbered 1, 2, ... as listed (repeats expanded); each row takes the one before."""
    given = {"input_shape": [3, 8, 8], "layers": [conv(4), {"type": "relu", "repeat": 2}, {"type": "flatten"}]}
    table = solve(given)["table"]
    assert table.labels == ["1", "2", "3", "4"]
    assert table.sources == [(-1,), (0,), (1,), (2,)]


def test_check_carries_an_early_error_across_a_residual_block(tmp_path):
    """A student ends the first stage of ResNet-18 (row 18) with 32 channels where it has 64. Judged
    from their own rows, the next block's first convolution (row 19) and its projection shortcut
    (row 24, whose input is the block's input, row 18, not row 23 before it) are right with
    128·32·3·3 = 36,864 and 128·32·1·1 = 4096 parameters (by hand), and the add after them (row 26,
    from rows 23 and 25) is right; only row 18 is wrong. The other rows are torchvision's."""
    rows = []
    recorded_rows(resnet18(rows.append), torch.zeros(1, 3, 224, 224), rows)
    lines = ["layer,output_shape,params"]
    for i, row in enumerate(rows[:30], start=1):
        shape, params = "x".join(map(str, row.y.shape[1:])), row_params(row)
        shape, params = {18: ("32x56x56", params), 19: (shape, 36864), 24: (shape, 4096)}.get(i, (shape, params))
        lines.append(f"{i},{shape},{params}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    result = run_solver("check", CLASSIC, "R.1:table", "--answer-file", path, "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1, verdict
    wrong = {row["row"]: row["wrong"] for row in verdict["rows"] if row["wrong"]}
    assert wrong == {"18": ["output_shape"]}, wrong
    carried = [row["row"] for row in verdict["rows"] if row["judged_from_previous_row"]]
    assert carried == ["19", "24"], carried


def test_check_judges_a_join_from_the_students_paths(tmp_path):
    """The U-Net level with the way up wrong (row 6 given 32 channels): the concat (row 7, of
    the input and row 6) is right at 64 + 32 = 96 channels, and the convolution after it at
    64·96·3·3 + 64 = 55,360 parameters (by hand)."""
    given = shipped("U.1")
    rows = []
    recorded_rows(UNetLevel(rows.append), torch.zeros(given["batch_size"], 64, 64, 64), rows)
    lines = ["layer,output_shape,params"]
    for i, row in enumerate(rows, start=1):
        shape, params = "x".join(map(str, row.y.shape)), row_params(row)
        shape, params = {6: ("8x32x64x64", params), 7: ("8x96x64x64", 0), 8: (shape, 55360)}.get(i, (shape, params))
        lines.append(f"{i},{shape},{params}")
    path = tmp_path / "table.csv"
    path.write_text("\n".join(lines) + "\n")
    verdict = json.loads(run_solver("check", CLASSIC, "U.1:table", "--answer-file", path, "--json").stdout)
    wrong = {row["row"]: row["wrong"] for row in verdict["rows"] if row["wrong"]}
    assert wrong == {"6": ["output_shape"]}, wrong


@pytest.mark.parametrize("seed", range(0, 80, 8))
def test_branched_networks_in_hwc_layout_match_chw(seed):
    given, _, _ = valid_branched(seed)
    chw, hwc = solve(given), solve(written_in_hwc(given))
    for name, value in chw.items():
        if name != "table":
            assert (chw_to_hwc(value) if name.startswith("output_shape") else value) == \
                (tuple(hwc[name]) if name.startswith("output_shape") else hwc[name]), (name, given)


def test_the_layer_table_indents_a_blocks_layers_in_every_format():
    """U.1: the way down and up (layers 1-6) one level in, the concat and what follows at the top;
    the first layer of the second branch says so, and the concat names what it joins."""
    for fmt in ("md", "text", "latex"):
        out = run_solver("solve", CLASSIC, "--problem", "U.1", "--format", fmt).stdout
        indent = {"md": "\u2003\u2003", "text": "\u2003\u2003", "latex": "\\quad "}[fmt]
        assert f"{indent}branch 2: down" in out and f"{indent}conv 3" in out, fmt
        assert "concat of input and 6" in out and f"{indent}concat" not in out, fmt
    text = run_solver("solve", CLASSIC, "--problem", "U.1", "--format", "text").stdout
    table = text[text.index("Layer  "):].split("\n\n")[0].splitlines()
    assert len({len(line) for line in table[1:]}) == 1, table      # the columns stay aligned


def test_blocks_on_a_sequence_add_and_concatenate_as_torch_does():
    """On L×F sequences an add counts L·F additions, and torch.cat(dim=1) joins the positions."""
    given = {"input_shape": [5, 8], "batch_size": 2,
             "layers": [{"type": "residual", "layers": [{"type": "linear", "out_features": 8}]},
                        {"type": "concat", "branches": [[], [{"type": "linear", "out_features": 8}, {"type": "relu"}]]}]}
    rows = torch_rows(given)
    assert [row.kind for row in rows] == ["linear", "add", "linear", "relu", "concat"]
    assert_rows_match(given, rows, solve(given))
