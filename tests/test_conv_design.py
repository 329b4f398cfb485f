"""conv_design against independent oracles.

The kernel and bias found go into torch's conv2d and are applied to random
inputs; the target maps are computed here on their own: numpy slicing for the
finite differences, nn.AvgPool2d for average pooling, the weighted channel sum
for grayscale, and, for random targets, a convolution with a known random kernel
(so a solution exists and must be found). Solution-set dimensions of over- and
under-determined problems are derived by hand below. Nothing expected is copied
from solver output.
"""
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.commands.check import check_file
from solver.core.errors import FieldError
from solver.kinds import get_kind

conv_design = get_kind("conv_design")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)

HW4 = ROOT / "problems" / "mathdnn-hw4.yaml"
RNG = np.random.default_rng(2024)


def solve(given):
    return {name: a.value for name, a in conv_design.solve(conv_design.read(given)).answers.items()}


def torch_conv(x, answers, c_out, stride=1, padding=0):
    """The found kernel (C_out×C_in×Kh×Kw, as torch's weight) in torch's conv2d."""
    weight = torch.tensor(np.array(answers["kernel"], dtype=float))
    assert weight.shape[0] == c_out
    bias = torch.tensor(np.array(answers["bias"], dtype=float)) if "bias" in answers else None
    return torch.nn.functional.conv2d(torch.tensor(x)[None], weight, bias, stride=stride, padding=padding)[0].numpy()


# ---- problem 1: forward differences ------------------------------------------------

FORWARD = {"in_channels": 1, "out_channels": 2, "kernel_size": 3, "padding": 1,
           "target": ["X[i+1, j] - X[i, j]", "X[i, j+1] - X[i, j]"]}


def forward_differences(x):
    """X[i+1, j] - X[i, j] and X[i, j+1] - X[i, j], with X read as 0 past the last row/column."""
    padded = np.pad(x, ((0, 1), (0, 1)))
    return np.stack([padded[1:, :-1] - x, padded[:-1, 1:] - x])


@pytest.mark.parametrize("size", [3, 4, 6, (5, 8)])
def test_forward_differences_match_numpy(size):
    answers = solve({**FORWARD, "input_size": size})
    assert answers["solution_dimension"] == 0
    for shape in [(3, 3), (6, 6), (5, 9)]:
        x = RNG.normal(size=shape)
        np.testing.assert_allclose(torch_conv(x[None], answers, 2, padding=1), forward_differences(x), atol=1e-12)


def test_forward_difference_kernel_by_hand():
    # With padding 1, tap (α, β) of the window at (i, j) reads X[i + α - 1, j + β - 1]:
    # X[i+1, j] is tap (2, 1), X[i, j+1] tap (1, 2) and X[i, j] tap (1, 1).
    vertical = [[0, 0, 0], [0, -1, 0], [0, 1, 0]]
    horizontal = [[0, 0, 0], [0, -1, 1], [0, 0, 0]]
    answers = solve({**FORWARD, "input_size": 5})
    assert answers["kernel"].tolist() == [[vertical], [horizontal]]
    assert answers["bias"].tolist() == [0, 0]


# ---- problem 2: average pooling -----------------------------------------------------

@pytest.mark.parametrize("channels, k", [(1, 1), (1, 2), (2, 2), (3, 2), (2, 3)])
def test_average_pooling_matches_avgpool2d(channels, k):
    answers = solve({"in_channels": channels, "out_channels": channels, "kernel_size": k, "stride": k,
                     "target": {"avg_pool": k}})
    assert answers["solution_dimension"] == 0
    pool = torch.nn.AvgPool2d(k)
    for size in (k, 2 * k, 3 * k + 1):
        x = RNG.normal(size=(channels, size, size + 1))
        np.testing.assert_allclose(torch_conv(x, answers, channels, stride=k),
                                   pool(torch.tensor(x)[None])[0].numpy(), atol=1e-12)


def test_average_pooling_weights_sit_on_the_diagonal():
    # w[l, c] = 1/k² everywhere when c = l, 0 otherwise (k = 2: 1/4).
    kernel = solve({"in_channels": 2, "out_channels": 2, "kernel_size": 2, "stride": 2,
                    "target": {"avg_pool": 2}})["kernel"]
    quarter, zero = [[0.25, 0.25], [0.25, 0.25]], [[0, 0], [0, 0]]
    assert np.array(kernel, dtype=float).tolist() == [[quarter, zero], [zero, quarter]]


# ---- problem 3: grayscale -------------------------------------------------------------

def test_grayscale_is_the_weighted_channel_sum():
    answers = solve({"in_channels": 3, "out_channels": 1, "kernel_size": 1, "bias": False,
                     "target": "0.299*X[0, i, j] + 0.587*X[1, i, j] + 0.114*X[2, i, j]"})
    assert "bias" not in answers and answers["solution_dimension"] == 0
    x = RNG.uniform(0, 255, size=(3, 4, 5))
    expected = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    np.testing.assert_allclose(torch_conv(x, answers, 1)[0], expected, rtol=1e-12)


# ---- random targets: a known kernel must be found -------------------------------------------

def written(weight, bias, stride, padding):
    """The map of a known convolution as target formulas (X[c, S·i + α - P, S·j + β - P])."""
    (s_h, s_w), (p_h, p_w) = stride, padding
    formulas = []
    for l in range(weight.shape[0]):
        terms = [f"{weight[l, c, a, b]}*X[{c}, {s_h}*i{a - p_h:+d}, {s_w}*j{b - p_w:+d}]"
                 for c, a, b in np.ndindex(*weight.shape[1:])]
        formulas.append(" + ".join(terms) + (f" + {bias[l]}" if bias is not None else ""))
    return formulas


@pytest.mark.parametrize("seed", range(16))
def test_random_kernel_is_recovered(seed):
    rng = np.random.default_rng(seed)
    c_in, c_out = (int(v) for v in rng.integers(1, 3, size=2, endpoint=True))
    kernel = [int(v) for v in rng.integers(1, 4, size=2, endpoint=True)]
    stride = [int(v) for v in rng.integers(1, 3, size=2, endpoint=True)]
    padding = [int(rng.integers(0, k - 1, endpoint=True)) for k in kernel]
    weight = rng.integers(-4, 4, size=(c_out, c_in, *kernel), endpoint=True)
    bias = rng.integers(-4, 4, size=c_out, endpoint=True) if seed % 2 else None
    answers = solve({"in_channels": c_in, "out_channels": c_out, "kernel_size": kernel, "stride": stride,
                     "padding": padding, "bias": bias is not None,
                     "target": written(weight, bias, stride, padding)})
    assert answers["solution_dimension"] == 0
    assert np.array(answers["kernel"], dtype=float).tolist() == weight.tolist()
    x = rng.normal(size=(c_in, 7, 8))
    expected = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(weight, dtype=torch.float64),
                                          None if bias is None else torch.tensor(bias, dtype=torch.float64),
                                          stride=stride, padding=padding)[0].numpy()
    np.testing.assert_allclose(torch_conv(x, answers, c_out, stride, padding), expected, atol=1e-9)


# ---- no solution, many solutions -------------------------------------------------------

ONE_CHANNEL = {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1, "input_size": 5}


@pytest.mark.parametrize("changes", [
    # tap α reads row i + α - 1 <= i + 1: X[i+2, j] is out of the kernel's reach
    {"target": "X[i+2, j]"},
    # a constant needs a bias
    {"target": "X[i, j] + 1", "bias": False},
    # X[2i, j] is tap α = i + 1: a different tap at every row, beyond the kernel from i = 2
    {"target": "X[2*i, j]"},
    # pooling windows move by 2; with stride 1 the convolution's windows do not
    {"target": {"avg_pool": 2}, "kernel_size": 2, "padding": 0},
])
def test_no_solution(changes):
    answers = solve({**ONE_CHANNEL, **changes})
    assert answers == {"solution_dimension": -1}


@pytest.mark.parametrize("input_size, out_channels, free", [
    # one row: the taps of kernel rows 0 and 2 always read padding, 6 free weights per channel
    ([1, 5], 1, 6),
    ([1, 5], 2, 12),
    # one entry: only the centre tap ever reads X, 8 free weights per channel
    (1, 2, 16),
])
def test_taps_that_only_read_padding_are_free(input_size, out_channels, free):
    answers = solve({**ONE_CHANNEL, "input_size": input_size, "out_channels": out_channels,
                     "target": ["2*X[i, j]"] * out_channels})
    assert answers == {"solution_dimension": free}


def conflict_shown(changes):
    solution = conv_design.solve(conv_design.read({**ONE_CHANNEL, **changes}))
    step = next(s for s in solution.steps if s.title == "No solution")
    return [[str(v) for v in line] for line in step.math]


def test_conflicts_are_shown():
    # Without a bias the constant 1 gives the equation 0 = 1 on its own.
    assert conflict_shown({"target": "X[i, j] + 1", "bias": False}) == [["0", "1"]]
    # X[2i, j]: at the interior position (1, 1) the target is X[2, 1], which tap (2, 1) reads
    # (X[i + α - 1, j + β - 1]), so w = 1; at (2, 1) that tap reads X[3, 1], which the target
    # X[4, 1] does not use, so w = 0.
    assert conflict_shown({"target": "X[2*i, j]"}) == [["w_{0,0,2,1}", "1"], ["w_{0,0,2,1}", "0"]]


# ---- mistakes, through the CLI's checker ---------------------------------------------------

def verdict(spec, text):
    found = check_file(HW4, spec, text)
    return found.verdict, found.mistake


def kernel_text(slices):
    return str(np.array(slices).tolist())


def test_seed_kernel_is_padding_offset_ignored():
    # The seed's w_{1,2,1} = 1, w_{1,1,1} = -1 and w_{2,1,2} = 1, w_{2,1,1} = -1 (1-based) read
    # X[i + α, j + β]: taps (1, 0), (0, 0) and (0, 1), (0, 0) counted from 0.
    seed = [[[-1, 0, 0], [1, 0, 0], [0, 0, 0]], [[-1, 1, 0], [0, 0, 0], [0, 0, 0]]]
    assert verdict("1", kernel_text(seed)) == ("incorrect", "padding_offset_ignored")


def test_flipped_kernel_is_named():
    right = np.array([[[0, 0, 0], [0, -1, 0], [0, 1, 0]], [[0, 0, 0], [0, -1, 1], [0, 0, 0]]])
    assert verdict("1", kernel_text(right)) == ("correct", None)
    assert verdict("1", kernel_text(right[:, ::-1, ::-1])) == ("incorrect", "kernel_flipped")


def test_pooling_mistakes_are_named():
    quarter, half, zero = [[0.25] * 2] * 2, [[0.5] * 2] * 2, [[0] * 2] * 2
    assert verdict("2", kernel_text([[quarter, zero], [zero, quarter]])) == ("correct", None)
    assert verdict("2", kernel_text([[half, zero], [zero, half]])) == ("incorrect", "pool_divisor_k")
    assert verdict("2", kernel_text([[quarter, quarter], [quarter, quarter]])) == ("incorrect", "weights_on_every_channel")


def test_grayscale_answers_check():
    assert verdict("3", "[0.299, 0.587, 0.114]") == ("correct", None)
    assert verdict("3", "299/1000, 587/1000, 114/1000") == ("correct", None)
    assert verdict("3:solution_dimension", "0") == ("correct", None)
    # one solution: its set is a point, of dimension 0; "1" counts it
    assert verdict("3:solution_dimension", "1") == ("incorrect", "solutions_counted")


# ---- bad input -----------------------------------------------------------------------

def one_problem(tmp_path, given):
    path = tmp_path / "set.yaml"
    body = textwrap.indent(textwrap.dedent(given), " " * 6)
    path.write_text(f"title: T\nproblems:\n  - id: \"p1\"\n    kind: conv_design\n    given:\n{body}")
    return path


SHAPE = "in_channels: 3\nout_channels: 1\nkernel_size: 1\n"


@pytest.mark.parametrize("given, field, words", [
    (SHAPE + "target: 'X[3, i, j]'\n", "target", "in_channels is 3"),
    (SHAPE + "target: 'X[i, j]'\n", "target", "X[c, row, col]"),
    (SHAPE + "target: 'X[0, i, j] * X[1, i, j]'\n", "target", "not linear"),
    (SHAPE + "target: 'X[0, i, j] +* 2'\n", "target", "at character 13"),
    (SHAPE + "target: 'sqrt(X[0, i, j])'\n", "target", "where a number, X[...]"),
    (SHAPE + "target: ['X[0, i, j]', 'X[1, i, j]']\n", "target", "one formula per output channel"),
    (SHAPE + "target: {max_pool: 2}\n", "target", "{avg_pool: k}"),
    ("in_channels: 2\nout_channels: 1\nkernel_size: 2\ntarget: {avg_pool: 2}\n", "target",
     "out_channels = in_channels"),
    ("in_channels: 1\nout_channels: 1\nkernel_size: 5\ninput_size: 3\ntarget: 'X[i, j]'\n", "kernel_size",
     "fit inside"),
])
def test_bad_target_names_file_problem_and_field(tmp_path, given, field, words):
    path = one_problem(tmp_path, given)
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


def test_errors_say_what_is_valid():
    with pytest.raises(FieldError) as error:
        conv_design.read({"in_channels": 1, "out_channels": 1, "kernel_size": 1, "target": "X[i, j]^2"})
    assert error.value.field == "target" and "linear combination of input entries" in str(error.value)


@pytest.mark.parametrize("target, words", [
    ("1e3*X[i, j]", "at character 2, has 'e3' where a number, X[...] or '(' should be"),
    ("X_1[i, j]", "at character 1, has 'X_1' where a number, X[...] or '(' should be"),
    ("X[i, j] + $", "at character 11, has '$' where a number, X[...], an operator or a bracket should be"),
    ("X[i, j] + \\frac{1}{2}", "at character 11, has '\\\\' where a number, X[...], an operator or a bracket"),
    ("(" * 21 + "X[i, j]" + ")" * 21, "at character 21, nests more than 20 parentheses or signs"),
    ("X[i*j, 0]", "at character 5, has an index that is not linear in i and j"),
    ("X[i, j] / (X[i, j] - X[i, j])", "at character 9, divides by zero"),
    ("1" * 31 + "*X[i, j]", "at character 1, has a number with more than 30 digits"),
])
def test_target_formula_errors_say_where(target, words):
    # The linear dialect of the answer grammar: plain text, no exponents, words such as X_1 read whole.
    with pytest.raises(FieldError) as error:
        conv_design.read({"in_channels": 1, "out_channels": 1, "kernel_size": 1, "target": target})
    assert error.value.field == "target" and words in str(error.value)


def test_target_numbers_may_have_a_bare_point():
    target = conv_design.read({"in_channels": 1, "out_channels": 1, "kernel_size": 1,
                               "target": "5.*X[i, j] − .5·X[i, j+1] + 2"}).target
    assert list(target.forms[0].values()) == [5, Fraction(-1, 2), 2] and target.decimal
