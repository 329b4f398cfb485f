"""The network kind through the CLI: bad networks, per-layer answers, whole tables
checked row by row with the student's errors carried forward, and the mistakes.

Expected values here are worked out by hand in the comments (the shapes and
counts of the CPEN 455 network follow from the size formula and the counting
rules); the torch oracle for random networks is tests/test_network_oracle.py.
"""
import json
import textwrap

import pytest

from conftest import assert_bad_input, ROOT, run_solver
from solver.kinds import get_kind

network = get_kind("network")

CPEN = ROOT / "problems" / "cpen455-hw2.yaml"


def network_file(tmp_path, layers_yaml, extra=""):
    layers = textwrap.indent(textwrap.dedent(layers_yaml), " " * 8)
    path = tmp_path / "net.yaml"
    path.write_text(f"title: T\nproblems:\n  - id: \"n1\"\n    kind: network\n    given:\n"
                    f"      input_shape: 3x8x8\n{extra}      layers:\n{layers}")
    return path


BAD = [
    # 8 - 5 + 1 = 4, then 4 - 5 + 1 = 0: the second layer's kernel does not fit
    ("- {type: conv2d, out_channels: 4, kernel_size: 5}\n- {type: conv2d, out_channels: 4, kernel_size: 5}\n",
     "layers[2].kernel_size", "padded input has only 4"),
    ("- {type: conv2d, out_channels: 4, kernel_size: 3}\n- {type: linear, out_features: 10}\n",
     "layers[2].type", "flatten"),
    ("- {type: conv2d, out_channels: \"?\", kernel_size: 3}\n", "layers[1].out_channels", "cannot be ?"),
    ("- {type: flatten}\n- {type: batchnorm2d, num_features: \"?\"}\n", "layers[2].type", "C×H×W input"),
    ("- {type: conv2d, out_channels: 4, kernel_size: 3, groups: 2}\n", "layers[1].groups", "must divide"),
    ("- {type: conv2d, in_channels: 4, out_channels: 4, kernel_size: 3}\n", "layers[1].in_channels",
     "input to this layer has 3"),
    ("- {type: conv2d, out_channels: 4, kernel_size: 3, padding: 2}\n- {type: maxpool2d, kernel_size: 2, padding: 2}\n",
     "layers[2].padding", "at most half"),
    ("- {type: conv_transpose2d, out_channels: 2, kernel_size: 2, padding: 5}\n", "layers[1].padding", "crops more"),
    ("- {type: convolution, out_channels: 4}\n", "layers[1].type", "conv2d"),
    ("- {type: conv2d, out_channels: 4, kernel_size: 3, strides: 2}\n", "layers[1].strides", "not a field"),
    ("- {type: relu, repeat: 0}\n", "layers[1].repeat", "positive integer"),
]


@pytest.mark.parametrize("layers, field, words", BAD)
def test_bad_network_names_problem_layer_and_field(tmp_path, layers, field, words):
    path = network_file(tmp_path, layers)
    assert_bad_input(run_solver("solve", path), path, "n1", field, words)


def test_bad_input_shape(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("title: T\nproblems:\n  - id: n1\n    kind: network\n    given:\n"
                    "      input_shape: 3x0x8\n      layers: [{type: relu}]\n")
    result = run_solver("solve", path)
    assert result.returncode == 2 and "`input_shape`" in result.stderr and "three positive integers" in result.stderr


def test_kinds_lists_the_per_layer_answers():
    result = run_solver("kinds")
    section = result.stdout.split("network:")[1]
    for name in ("output_shape[i]", "params[i]", "macs[i]", "flops", "in_channels[i]", "table"):
        assert name in section


# The CPEN 455 network, by hand: 3×512×512, batch 100.
# conv 5×5 s2 p2, 128: floor((512 + 4 - 5)/2) + 1 = 256; weights 128·3·25 = 9600, +128 biases
# conv 5×5 s2 p2, 64:  floor((256 + 4 - 5)/2) + 1 = 128; weights 64·128·25 = 204,800, +64
# conv 3×3 s2 p1, 32:  floor((128 + 2 - 3)/2) + 1 = 64;  weights 32·64·9 = 18,432, +32
# conv 1×1, 16: 64; weights 16·32 = 512, +16;  avg pool 2: 32;  flatten 16·32·32 = 16,384
# linear 10: 163,840 weights, +10.  Without bias 397,184; with bias 397,434.
@pytest.mark.parametrize("target, text, code", [
    ("2.1:in_channels[2]", "128", 0), ("2.1:in_channels[4]", "32", 0),
    ("2.2:output_shape[3]", "100x32x64x64", 0), ("2.2:output_shape[3]", "100x16x64x64", 1),
    ("2.2:output_shape[7]", "(100, 10)", 0), ("2.3:params_without_bias", "397,184", 0),
    ("2.4:params", "397434", 0), ("2.4:params[7]", "163,850", 0), ("2.4:params[5]", "0", 0),
    ("2.4:params[9]", "1", 2),
])
def test_per_layer_answers(target, text, code):
    result = run_solver("check", CPEN, target, text)
    assert result.returncode == code, result.stdout + result.stderr


@pytest.mark.parametrize("target, text, mistake", [
    ("2.4:params", "397,184", "bias_forgotten"),
    # one bias per layer: 397,184 weights + 5 layers with a bias
    ("2.4:params", "397,189", "bias_per_layer"),
    ("2.4:params[2]", "1664", "in_channels_ignored"),          # 64·1·25 + 64
    # padding forgotten in layer 1: floor((512 - 5)/2) + 1 = 254
    ("2.2:output_shape[1]", "100x128x254x254", "padding_forgotten"),
    ("2.2:output_shape[1]", "100x256x256x128", "layout_swapped"),
    # stride forgotten in layer 3: 128 + 2 - 3 + 1 = 128
    ("2.2:output_shape[3]", "100x32x128x128", "stride_ignored"),
    ("2.4:params[3]", "896", "image_channels_everywhere"),   # 32·3·9 + 32
    # the linear layer's MACs, 100·10·16,384 = 16,384,000, given as FLOPs
    ("2.4:macs[7]", "32,768,000", "macs_flops_swapped"),
])
def test_mistakes_are_named(target, text, mistake):
    result = run_solver("check", CPEN, target, text, "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == mistake, verdict


def test_flatten_before_pooling():
    # Q3: conv2 gives 30×30×16, pooled 15×15×16 = 3600; before pooling 30·30·16 = 14,400
    result = run_solver("check", ROOT / "problems" / "comp433-a3.yaml", "Q3:neurons[4]", "14400", "--json")
    assert json.loads(result.stdout)["mistake"] == "flatten_before_pooling"


def test_padding_forgotten_names_the_layer():
    verdict = json.loads(run_solver("check", CPEN, "2.2:output_shape[2]", "100x64x126x126", "--json").stdout)
    # padding left out in layer 2 only: floor((256 - 5)/2) + 1 = 126; left out in layer 1
    # instead, 254 would give floor((254 + 4 - 5)/2) + 1 = 127
    assert verdict["mistake"] == "padding_forgotten" and "in layer 2" in verdict["feedback"]


TABLE_RIGHT = """layer,output_shape,params
1,100x128x256x256,9728
2,100x64x128x128,204864
3,100x32x64x64,18464
4,100x16x64x64,528
5,100x16x32x32,0
6,100x16384,0
7,100x10,163850
"""
# Row 2 forgets its padding: floor((256 - 5)/2) + 1 = 126. Rows 3 on follow from it:
# floor((126 + 2 - 3)/2) + 1 = 63, 63, floor(63/2) = 31, 16·31·31 = 15,376 -> 153,770 params.
TABLE_CARRIED = """layer,output_shape,params
1,100x128x256x256,9728
2,100x64x126x126,204864
3,100x32x63x63,18464
4,100x16x63x63,528
5,100x16x31x31,0
6,100x15376,0
7,100x10,153770
"""


def check_table(tmp_path, text, *extra):
    path = tmp_path / "answer.csv"
    path.write_text(text)
    result = run_solver("check", CPEN, "2.2:table", "--answer-file", path, "--json", *extra)
    return result.returncode, json.loads(result.stdout)


def whole_table():
    """The right table with every column, as `solve --format json` gives it, in CSV."""
    answers = json.loads(run_solver("solve", CPEN, "--problem", "2.2", "--format", "json").stdout)
    rows = answers["problems"][0]["answers"]["table"]["value"]
    columns = [c for c in rows[0] if c != "layer"]
    lines = [",".join(["layer", *columns])]
    for row in rows:
        lines.append(",".join([row["layer"], *("x".join(map(str, v)) if isinstance(v, list) else str(v)
                                                for v in (row[c] for c in columns))]))
    return "\n".join(lines) + "\n", rows


def test_whole_table_correct(tmp_path):
    text, rows = whole_table()
    # The two columns worked out by hand above are the table's.
    assert [f"{r['layer']},{'x'.join(map(str, r['output_shape']))},{r['params']}" for r in rows] \
        == TABLE_RIGHT.splitlines()[1:]
    code, verdict = check_table(tmp_path, text)
    assert code == 0 and verdict["score"] == 1.0 and len(verdict["rows"]) == 7


def test_table_error_is_carried_forward(tmp_path):
    code, verdict = check_table(tmp_path, TABLE_CARRIED)
    assert code == 1 and verdict["mistake"] == "padding_forgotten"
    assert "Row 2 is the first wrong row" in verdict["feedback"] and "in layer 2" in verdict["feedback"]
    assert [row["wrong"] for row in verdict["rows"]] == [[], ["output_shape"], [], [], [], [], []]
    assert [row["judged_from_previous_row"] for row in verdict["rows"]] == [False, False, True, True, True, True, True]
    # 2 of the 10 columns given in each of the 7 rows, one of those 14 cells wrong: 13 of 70 right.
    assert all(len(row["missing"]) == 8 for row in verdict["rows"])
    assert verdict["score"] == pytest.approx(13 / 70)
    assert "56 of 70 cells are missing" in verdict["feedback"]


def test_table_as_json_rows_from_stdin():
    rows = [{"layer": 1, "output_shape": [100, 128, 256, 256], "params": 9728},
            {"layer": 2, "output_shape": "100x64x128x128", "params": 999}]
    result = run_solver_stdin(json.dumps(rows), "check", CPEN, "2.2:table", "--answer-file", "-", "--json")
    verdict = json.loads(result.stdout)
    # Of 10 cells a row: 2 right in row 1, 1 in row 2, none in the 5 rows left out.
    assert result.returncode == 1 and [r["score"] for r in verdict["rows"]] == [0.2, 0.1, 0, 0, 0, 0, 0]
    assert verdict["rows"][1]["wrong"] == ["params"] and verdict["score"] == pytest.approx(3 / 70)


@pytest.mark.parametrize("text", ["[{}]", "layer\n1\n", '{"rows": []}', "layer,params\n1,\n"])
def test_empty_tables_score_nothing(tmp_path, text):
    """Missing rows and blank cells count as wrong: an empty table is no free mark."""
    code, verdict = check_table(tmp_path, text)
    assert code == 1 and verdict["verdict"] == "incorrect" and verdict["score"] == 0.0, verdict
    assert "70 of 70 cells are missing and count as wrong" in verdict["feedback"]


def test_one_right_cell_of_seventy_scores_one_seventieth(tmp_path):
    code, verdict = check_table(tmp_path, "layer,params\n1,9728\n")
    assert code == 1 and verdict["score"] == pytest.approx(1 / 70)
    assert "rows 2–7 left out" in verdict["feedback"]
    assert "row 1 (output_shape, neurons, weights, biases, params_without_bias" in verdict["feedback"]


def test_the_mistake_named_for_a_row_leaves_the_rows_before_it_right(tmp_path):
    """Layer 3 (3x3, stride 2, padding 1) on 128x128 with its stride forgotten:
    (128 + 2 - 3)/1 + 1 = 128. Stride 1 in layer 1 gives the same row 3 (512 -> 512
    -> 256 -> 128), but it would change rows 1 and 2, which are right: "in layer 3"."""
    text, _ = whole_table()
    lines = text.splitlines()
    cells = lines[3].split(",")
    assert cells[0] == "3" and cells[1] == "100x32x64x64"
    cells[1] = "100x32x128x128"
    code, verdict = check_table(tmp_path, "\n".join(lines[:3] + [",".join(cells)] + lines[4:]) + "\n")
    assert code == 1 and verdict["mistake"] == "stride_ignored", verdict
    assert "Row 3 is the first wrong row" in verdict["feedback"]
    assert "in layer 3" in verdict["feedback"] and "in layer 1" not in verdict["feedback"]


@pytest.mark.parametrize("text, words", [
    ("layer,shape\n1,3x3\n", "unknown column 'shape'"),
    ("layer,params\n9,1\n", "no row '9'"),
    ("layer,params\n1,1\n1,2\n", "appears twice"),
    ("layer,params\n1,abc\n", "row 1, column params"),
    ('[{"layer": 1, "params": {"a": 1}}]', "a table cell must be"),
    ("[" * 100_000, "not valid JSON"),
])
def test_unreadable_tables_are_invalid(tmp_path, text, words):
    code, verdict = check_table(tmp_path, text)
    assert code == 2 and verdict["verdict"] == "invalid" and words in verdict["feedback"], verdict


def run_solver_stdin(stdin, *args):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_runs_of_identical_layers_share_a_row():
    result = run_solver("solve", ROOT / "problems" / "csci5922-ps3.yaml", "--problem", "Q4-table")
    assert result.returncode == 0
    assert "| 6–104 |" in result.stdout and "Layers 7–104 are identical to layer 6" in result.stdout
    assert result.stdout.count("### ") < 20        # not 104 layer sections


def test_inferred_channels_say_why():
    result = run_solver("solve", CPEN, "--problem", "2.1")
    assert "The in\\_channels marked ? is 128: a kernel spans every channel of its input, " \
           "and layer 1's output has 128 channels." in result.stdout


def test_hwc_layout_reads_and_writes_height_first():
    given = network.read({"input_shape": "64x64x3", "layout": "hwc",
                          "layers": [{"type": "conv2d", "out_channels": 32, "kernel_size": 3, "padding": 1}]})
    answers = network.solve(given).answers
    # (64 + 2 - 3) + 1 = 64 rows and columns, 32 channels; 32·3·9 + 32 = 896
    assert answers["output_shape"].value == (64, 64, 32) and answers["params"].value == 896


# ---- PyTorch's module names as layer types (issue 10) --------------------------------

TORCH_STYLE = [   # (type as an instructor copies it, its fields, the torch module on C input channels)
    ("nn.Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1},
     lambda nn, c: nn.Conv2d(c, 8, 3, padding=1)),
    ("BatchNorm2d", {}, lambda nn, c: nn.BatchNorm2d(c)),
    ("ReLU", {}, lambda nn, c: nn.ReLU()),
    ("MaxPool2d", {"kernel_size": 2}, lambda nn, c: nn.MaxPool2d(2)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 2, "stride": 2},
     lambda nn, c: nn.ConvTranspose2d(c, 4, 2, stride=2)),
    ("Leaky_ReLU", {}, lambda nn, c: nn.LeakyReLU()),
    ("AVGPOOL2D", {"kernel_size": 2}, lambda nn, c: nn.AvgPool2d(2)),
    ("Dropout", {"p": 0.2}, lambda nn, c: nn.Dropout(0.2)),
    ("Flatten", {}, lambda nn, c: nn.Flatten()),
    ("torch.nn.Linear", {"out_features": 5}, lambda nn, c: nn.LazyLinear(5)),
    ("Tanh", {}, lambda nn, c: nn.Tanh()),
]


def test_pytorch_module_names_are_layer_types():
    """A network written with nn.Conv2d, BatchNorm2d, ReLU, ... solves like torch's own modules."""
    torch = pytest.importorskip("torch")
    given = {"input_shape": [3, 8, 8], "layers": [{"type": t, **fields} for t, fields, _ in TORCH_STYLE]}
    answers = {name: a.value for name, a in network.solve(network.read(given)).answers.items()}
    x = torch.zeros(1, 3, 8, 8)
    for i, (written, _, build) in enumerate(TORCH_STYLE, start=1):
        module = build(torch.nn, x.shape[1]).eval()
        with torch.no_grad():
            x = module(x)
        assert tuple(answers[f"output_shape[{i}]"]) == tuple(x.shape[1:]), written
        assert answers[f"params[{i}]"] == sum(p.numel() for p in module.parameters()), written


@pytest.mark.parametrize("written", ["conv_transpose2d", "ConvTranspose2d", "convtranspose2d",
                                     "CONV_TRANSPOSE_2D", "nn.ConvTranspose2d", "Conv_Transpose2d"])
def test_layer_type_spellings_read_alike(written):
    read = network.read({"input_shape": "2x4x4", "layers": [{"type": written, "out_channels": 3, "kernel_size": 2}]})
    assert read.layers[0].layer.TYPE == "conv_transpose2d"


def test_kinds_lists_pytorch_module_names():
    result = run_solver("kinds")
    assert result.returncode == 0 and "ConvTranspose2d" in result.stdout and "BatchNorm2d" in result.stdout


# ---- mistakes against torch run with the wrong setting (issue 10) ----------------------------

MISTAKE_NET = {"input_shape": [3, 11, 11], "layers": [
    {"type": "Conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1, "bias": False},
    {"type": "MaxPool2d", "kernel_size": 2, "ceil_mode": True},
    {"type": "Conv2d", "out_channels": 5, "kernel_size": 3, "stride": 2, "padding": 1},
    {"type": "AvgPool2d", "kernel_size": 2, "padding": 1}]}


def torch_net(layers, x):
    """Each module in turn on x; the output shapes and parameter counts per layer."""
    torch = pytest.importorskip("torch")
    shapes, params = [], []
    for module in layers:
        with torch.no_grad():
            x = module(x)
        shapes.append(tuple(x.shape[1:]))
        params.append(sum(p.numel() for p in module.parameters()))
    return shapes, params


def net_cases(name):
    return dict(next(m for m in network.mistakes if m.name == name).cases(network.read(MISTAKE_NET)))


def test_network_mistakes_match_torch_with_the_wrong_setting():
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional
    x = torch.zeros(1, 3, 11, 11)

    class OneSided(nn.Module):      # padding P at the top and left only, then the layer unpadded
        def __init__(self, p, layer):
            super().__init__()
            self.p, self.layer = p, layer

        def forward(self, x):
            return self.layer(F.pad(x, (self.p, 0, self.p, 0)))

    def layers(conv1_bias=False, pool1=None, conv3=None, pool4=None):
        return [nn.Conv2d(3, 4, 3, padding=1, bias=conv1_bias), pool1 or nn.MaxPool2d(2, ceil_mode=True),
                conv3 or nn.Conv2d(4, 5, 3, stride=2, padding=1), pool4 or nn.AvgPool2d(2, padding=1)]

    # the default stride of the pooling (its kernel size) taken as 1
    shapes, _ = torch_net(layers(pool1=nn.MaxPool2d(2, stride=1, ceil_mode=True)), x)
    assert tuple(net_cases("stride_ignored")["in layer 2, max pool 2×2"]["output_shape[2]"]) == shapes[1]
    # stride 2 of the convolution taken as 1
    shapes, _ = torch_net(layers(conv3=nn.Conv2d(4, 5, 3, padding=1)), x)
    found = net_cases("stride_ignored")["in layer 3, conv 3×3, 5"]
    assert [tuple(found[f"output_shape[{i}]"]) for i in (3, 4)] == shapes[2:]
    # P instead of 2P in layer 3
    shapes, _ = torch_net(layers(conv3=OneSided(1, nn.Conv2d(4, 5, 3, stride=2))), x)
    found = net_cases("padding_once")["in layer 3, conv 3×3, 5"]
    assert [tuple(found[f"output_shape[{i}]"]) for i in (3, 4)] == shapes[2:]
    # a bias counted in layer 1, which has bias: false
    _, params = torch_net(layers(conv1_bias=True), x)
    assert net_cases("bias_counted")["in layer 1, conv 3×3, 4"]["params[1]"] == params[0]


def test_network_last_ceil_window_kept_is_the_count_without_the_drop():
    torch = pytest.importorskip("torch")
    given = {"input_shape": [2, 5, 5], "layers": [{"type": "MaxPool2d", "kernel_size": 2, "padding": 1,
                                                   "ceil_mode": True}, {"type": "Flatten"}]}
    dropped = torch.nn.MaxPool2d(2, padding=1, ceil_mode=True)(torch.zeros(1, 2, 5, 5)).shape[-1]
    kept = -(-(5 + 2 - 2) // 2) + 1                     # ceil((H + 2P − K)/S) + 1, no drop
    assert kept == dropped + 1
    found = dict(next(m for m in network.mistakes if m.name == "ceil_window_kept").cases(network.read(given)))
    assert found["in layer 1, max pool 2×2"]["output_shape[1]"] == (2, kept, kept)
    assert found["in layer 1, max pool 2×2"]["output_shape[2]"] == (2 * kept * kept,)
