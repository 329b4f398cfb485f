"""The `mlp` kind and the `boolean` answer type.

Expected values come from PyTorch (float64 nn.Linear layers with the given
weights, torch.heaviside for step), from hand derivations written out below,
from checkable certificates (a separating w, b is checked input by input; a
non-separability certificate is checked as equal averages of the two classes),
or from known counts: of the 2^(2^n) truth tables of n inputs, 4, 14 and 104 are
linearly separable for n = 1, 2, 3 (OEIS A000609).
"""
import itertools
import json
import random
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.commands.check import check_file
from solver.answers.types import compare, format_answer, parse_answer
from solver.core.errors import InvalidAnswer
from solver.kinds import get_kind
from solver.kinds.dense.mlp import ACTIVATIONS, common_average, separating_hyperplane
from solver.math.printing import latex
from solver.render import render_solution

mlp = get_kind("mlp")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)

CPEN = "problems/cpen455-hw2.yaml"
CORNERS = [[0, 0], [0, 1], [1, 0], [1, 1]]
SEEDS = range(300)


def solve(given):
    return {name: a.value for name, a in mlp.solve(mlp.read(given)).answers.items()}


def floats(value):
    return np.array([float(v) for v in np.asarray(value, dtype=object).flat])


# ---- the boolean answer type ------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("yes", True), ("no", False), ("YES", True), ("No", False), ("true", True), ("False", False),
    ("1", True), ("0", False), ("  yes. ", True), ("$no$", False), (r"\text{yes}", True),
    (r"$\text{ No }$", False), ("TRUE", True)])
def test_boolean_grammar_reads_yes_no_true_false_1_0(text, value):
    assert parse_answer(text, "boolean") is value


@pytest.mark.parametrize("text", ["maybe", "2", "yes no", "y", "", "yes!", "-1", "01", r"\text{yes", "1.0"])
def test_boolean_grammar_refuses_anything_else(text):
    with pytest.raises(InvalidAnswer, match="expected"):
        parse_answer(text, "boolean")


def test_boolean_message_says_what_is_allowed():
    with pytest.raises(InvalidAnswer, match=r"expected yes or no \(or true/false, 1/0\) at column 1"):
        parse_answer("perhaps", "boolean")


def test_boolean_round_trip_compare_and_render():
    for value in (True, False):
        assert parse_answer(format_answer(value, "boolean"), "boolean") is value
        assert compare("boolean", value, value)[0] == 1.0
        assert compare("boolean", not value, value)[0] == 0.0
    assert (latex(True), latex(False)) == (r"\text{yes}", r"\text{no}")


@pytest.mark.parametrize("spec, text, code", [
    ("1.1", "no", 0), ("1.1", "Yes", 1), ("1.1", "perhaps", 2),
    ("1.2:implements_target", "true", 0), ("1.3:implements_target", "0", 1)])
def test_check_boolean_answers_exit_codes(spec, text, code):
    result = run_solver("check", CPEN, spec, text)
    assert result.returncode == code, result.stdout + result.stderr


# ---- CPEN 455 problem 1, by hand ---------------------------------------------------

def test_writeup_1_2_network_with_abs_implements_xor():
    # By hand, z1 = W1 x with W1 = [[1, -1], [1, 1]], a1 = |z1|, y = [1, 0] a1 = |x1 - x2|:
    # (0,0) -> 0, (0,1) -> |-1| = 1, (1,0) -> 1, (1,1) -> 0: XOR.
    answers = check_file(CPEN, "1.2:outputs", "[0, 1, 1, 0]"), check_file(CPEN, "1.2:implements_target", "yes")
    assert [a.verdict for a in answers] == ["correct", "correct"]


def test_writeup_1_2_summary_table_is_not_what_the_network_computes():
    # The writeup's summary lists (0,1)->1, (0,0)->0, (1,0)->0, (1,1)->1, i.e. 0, 1, 0, 1 in
    # our input order (0,0), (0,1), (1,0), (1,1); its own cases give 0, 1, 1, 0.
    verdict = check_file(CPEN, "1.2:outputs", "[0, 1, 0, 1]")
    assert verdict.verdict == "incorrect" and verdict.wrong_cells == [[2, 0], [3, 0]]


def test_writeup_1_3_relu_network_implements_xor():
    # Inputs in the writeup's order (0,1), (0,0), (1,0), (1,1). z1 = (x1 - x2, x2 - x1), a1 = ReLU,
    # y = a1[0] + a1[1] = |x1 - x2|: 1, 0, 1, 0, which is XOR in that order.
    assert check_file(CPEN, "1.3:outputs", "1 0 1 0").verdict == "correct"
    assert check_file(CPEN, "1.3:implements_target", "yes").verdict == "correct"


def test_skipping_the_abs_activation_is_diagnosed():
    # Without |.|, y = [1, 0] W1 x = x1 - x2: (0,0) 0, (0,1) -1, (1,0) 1, (1,1) 0.
    verdict = check_file(CPEN, "1.2:outputs", "[0, -1, 1, 0]")
    assert verdict.verdict == "incorrect" and verdict.mistake == "activation_skipped"
    assert "layer 1" in verdict.feedback


def test_xor_derivation_sums_the_four_inequalities_to_a_contradiction():
    solution = mlp.solve(mlp.read({"inputs": CORNERS, "target": [0, 1, 1, 0]}))
    assert solution.answers["linearly_separable"].value is False
    md = render_solution(solution, "md")
    # b < 0, w2 + b >= 0, w1 + b >= 0, w1 + w2 + b < 0; the 1s and the 0s each sum to w1 + w2 + 2b.
    for line in (r"= b < 0", r"= w_{2} + b \geq 0", r"= w_{1} + b \geq 0", r"= w_{1} + w_{2} + b < 0",
                 r"\left(w_{2} + b\right) + \left(w_{1} + b\right) = w_{1} + w_{2} + 2b \geq 0",
                 r"b + \left(w_{1} + w_{2} + b\right) = w_{1} + w_{2} + 2b < 0"):
        assert line in md, line
    assert r"\frac{1}{2}" in md          # the common average (1/2, 1/2)


def test_other_step_convention_flips_which_side_is_strict():
    md = render_solution(mlp.solve(mlp.read({"inputs": CORNERS, "target": [0, 1, 1, 0], "step_at_zero": 0})))
    assert r"w_{1} + w_{2} + 2b > 0" in md and r"w_{1} + w_{2} + 2b \leq 0" in md


def test_activations_are_named_as_every_kind_names_them():
    """The printer names each activation once: sigmoid was σ here but sigmoid in mlp_jacobian."""
    for name, shown in (("sigmoid", r"\mathrm{sigmoid}\left(z^{(1)}\right)"), ("abs", r"\left|z^{(1)}\right|"),
                        ("relu", r"\mathrm{ReLU}\left(z^{(1)}\right)"), ("step", r"\mathrm{step}\left(z^{(1)}\right)"),
                        ("tanh", r"\tanh\left(z^{(1)}\right)")):
        given = {"inputs": [[1, 2]], "layers": [{"weight": [[1, 0]], "bias": 0, "activation": name}]}
        assert f"a^{{(1)}} &= {shown}" in render_solution(mlp.solve(mlp.read(given))), name


def test_decimals_are_exact_so_step_at_zero_is_not_a_rounding():
    # 0.3 - 0.1 - 0.2 is exactly 0 (in floats it is -2.8e-17): step(0) = 1, or 0 if asked.
    given = {"inputs": [[1, 1]], "layers": [{"weight": [0.3, -0.1], "bias": -0.2, "activation": "step"}]}
    assert solve(given)["outputs"].tolist() == [[1]]
    assert solve({**given, "step_at_zero": 0})["outputs"].tolist() == [[0]]


def test_threshold_reads_sigmoid_outputs_as_bits():
    # sigmoid(x1 + x2 - 1.5) >= 1/2 exactly when x1 + x2 >= 1.5: AND.
    given = {"inputs": CORNERS, "target": [0, 0, 0, 1], "threshold": 0.5,
             "layers": [{"weight": [[1, 1]], "bias": -1.5, "activation": "sigmoid"}]}
    answers = solve(given)
    assert answers["implements_target"] is True and answers["linearly_separable"] is True
    assert solve({**given, "threshold": None})["implements_target"] is False   # 0.18... is not 0


def test_numeric_check_does_not_import_sympy():
    code = ("import sys; from solver.commands.check import check_file; "
            f"v = check_file({CPEN!r}, '1.2:outputs', '[0, 1, 1, 0]'); print(v.verdict, 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    assert out.split() == ["correct", "False"]


def test_json_answers():
    data = json.loads(run_solver("solve", CPEN, "--problem", "1.2", "--format", "json").stdout)
    answers = data["problems"][0]["answers"]
    assert answers["outputs"]["value"] == [[0], [1], [1], [0]]
    assert answers["implements_target"] == {"type": "boolean", "value": True, "latex": r"\text{yes}"}


# ---- the forward pass against torch --------------------------------------------------

def step(at_zero):
    return lambda z: torch.heaviside(z, torch.tensor(float(at_zero), dtype=torch.float64))


def torch_activation(name, at_zero):
    return {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "abs": torch.abs,
            "identity": lambda z: z, "step": step(at_zero)}[name]


def torch_outputs(given, transposed=(), skipped=(), bias_after=False, at_zero=None):
    """The network run by torch, with any of the mistakes made on purpose."""
    at_zero = given.get("step_at_zero", 1) if at_zero is None else at_zero
    a = torch.tensor(given["inputs"], dtype=torch.float64)
    for k, layer in enumerate(given["layers"], start=1):
        w = torch.tensor(layer["weight"], dtype=torch.float64)
        w = w.T if k in transposed else w
        linear = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(w)
            linear.bias.copy_(torch.tensor(layer["bias"], dtype=torch.float64).expand(w.shape[0]))
            f = torch_activation("identity" if k in skipped else layer["activation"], at_zero)
            a = f(a @ w.T) + linear.bias if bias_after else f(linear(a))
    return a


def random_network(rng: random.Random) -> dict:
    """Small weights in halves, so z is often exactly 0; no step after sigmoid or tanh,
    where torch's and Python's float sums may round 0 to different signs."""
    widths = [rng.randint(1, 3) for _ in range(rng.randint(2, 4))]
    layers, smooth = [], False
    for n_in, n_out in zip(widths, widths[1:]):
        names = [a for a in ACTIVATIONS if not (smooth and a == "step")]
        activation = rng.choice(names)
        smooth = smooth or activation in ("sigmoid", "tanh")
        layers.append({"weight": [[rng.randint(-4, 4) / 2 for _ in range(n_in)] for _ in range(n_out)],
                       "bias": [rng.randint(-2, 2) / 2 for _ in range(n_out)], "activation": activation})
    inputs = [[rng.randint(-2, 2) for _ in range(widths[0])] for _ in range(rng.randint(1, 5))]
    return {"inputs": inputs, "layers": layers, "step_at_zero": rng.randint(0, 1)}


def assert_close(ours, theirs, case):
    expected = theirs.detach().numpy()
    assert np.asarray(ours, dtype=object).shape == expected.shape, case
    assert np.allclose(floats(ours), expected.ravel(), rtol=1e-12, atol=1e-12), case


@pytest.mark.parametrize("seed", SEEDS)
def test_outputs_match_torch(seed):
    given = random_network(random.Random(seed))
    assert_close(solve(given)["outputs"], torch_outputs(given), given)


@pytest.mark.parametrize("seed", SEEDS[:100])
def test_mistakes_match_torch(seed):
    given = random_network(random.Random(seed))
    problem = mlp.read(given)
    oracles = {
        "activation_skipped": lambda k: torch_outputs(given, skipped={k}),
        "weight_transposed": lambda k: torch_outputs(given, transposed={k}),
        "bias_after_activation": lambda k: torch_outputs(given, bias_after=True),
        "step_at_zero": lambda k: torch_outputs(given, at_zero=1 - problem.step_at_zero),
    }
    for mistake in mlp.mistakes:
        for where, answers in mistake.cases(problem):
            if answers:
                layer = int(where.split()[-1]) if where else None
                assert_close(answers["outputs"], oracles[mistake.name](layer), (mistake.name, where, given))


def test_transposing_only_where_the_shapes_allow():
    # A 1x2 output weight transposed is 2x1, which cannot take the 2 hidden units.
    cases = dict(next(m for m in mlp.mistakes if m.name == "weight_transposed").cases(
        mlp.read({"inputs": CORNERS, "layers": [{"weight": [[1, 2], [3, 4]]}, {"weight": [[1, 0]]}]})))
    assert cases["layer 2"] == {} and cases["layer 1"]


# ---- linear separability -------------------------------------------------------------

def separable(points, labels):
    return mlp.solve(mlp.read({"inputs": points, "target": labels})).answers["linearly_separable"].value


def assert_certificate(points, labels):
    """The solver's reason, checked on its own terms: a separating (w, b), or weights
    under which both classes have the same average."""
    found = separating_hyperplane(points, labels)
    if found is not None:
        w, b = found
        for x, t in zip(points, labels):
            z = sum(Fraction(wi) * xi for wi, xi in zip(w, x)) + b
            assert (z > 0) if t else (z < 0), (points, labels, w, b)
        return True
    y = common_average(points, labels)
    assert all(v >= 0 for v in y)
    for side in (0, 1):
        assert sum(v for v, t in zip(y, labels) if t == side) == 1
    averages = [[sum(v * x[k] for v, x, t in zip(y, points, labels) if t == side) for k in range(len(points[0]))]
                for side in (0, 1)]
    assert averages[0] == averages[1], (points, labels, y)
    return False


@pytest.mark.parametrize("n, count", [(1, 4), (2, 14), (3, 104)])
def test_number_of_separable_truth_tables_is_known(n, count):
    corners = [list(c) for c in itertools.product((0, 1), repeat=n)]
    tables = list(itertools.product((0, 1), repeat=len(corners)))
    results = [assert_certificate(corners, list(t)) for t in tables]
    assert sum(results) == count


def test_only_xor_and_xnor_of_two_inputs_are_not_separable():
    inseparable = [t for t in itertools.product((0, 1), repeat=4) if not separable(CORNERS, list(t))]
    assert inseparable == [(0, 1, 1, 0), (1, 0, 0, 1)]


GRID = [Fraction(k, 2) for k in range(-8, 9)]


def grid_separates(points, labels) -> bool:
    """Brute force: some w, b on a grid of halves with z > 0 on the 1s and z < 0 on the 0s."""
    return any(all((w1 * x[0] + w2 * x[1] + b > 0) == bool(t) and w1 * x[0] + w2 * x[1] + b != 0
                   for x, t in zip(points, labels))
               for w1 in GRID for w2 in GRID for b in GRID)


@pytest.mark.parametrize("seed", range(40))
def test_random_point_sets_agree_with_a_grid_search(seed):
    rng = random.Random(seed)
    points = [[rng.randint(-2, 2), rng.randint(-2, 2)] for _ in range(rng.randint(2, 6))]
    labels = [rng.randint(0, 1) for _ in points]
    says = separable(points, labels)
    assert says == assert_certificate(points, labels)
    if grid_separates(points, labels):
        assert says
    # Where the grid finds nothing, the certificate checked above proves the answer.


def test_single_layer_network_answers_separability_too():
    answers = solve({"inputs": CORNERS, "target": [0, 1, 1, 0],
                     "layers": [{"weight": [[1, 1]], "bias": -0.5, "activation": "step"}]})
    # step(x1 + x2 - 1/2) is OR: 0, 1, 1, 1, which is not XOR, and no single layer is.
    assert answers["outputs"].tolist() == [[0], [1], [1], [1]]
    assert answers["implements_target"] is False and answers["linearly_separable"] is False


def test_two_layer_network_does_not_answer_separability():
    assert "linearly_separable" not in solve(
        {"inputs": CORNERS, "target": [0, 1, 1, 0], "layers": [{"weight": [[1, 1]]}, {"weight": [[1]]}]})


# ---- bad input -----------------------------------------------------------------------

def one_problem(tmp_path, given_yaml):
    given = textwrap.indent(textwrap.dedent(given_yaml), " " * 6)
    path = tmp_path / "set.yaml"
    path.write_text(f"title: T\nproblems:\n  - id: \"p1\"\n    kind: mlp\n    given:\n{given}")
    return path


TWO_LAYERS = "layers:\n  - {weight: [[1, 2], [3, 4]], activation: relu}\n"
BAD = [
    ("inputs: [[0, 0], [1, 1]]\n" + TWO_LAYERS + "  - {weight: [[1, 2, 3]]}\n", "layers[2].weight", "3 columns"),
    ("inputs: [[0, 0, 0]]\n" + TWO_LAYERS, "inputs", "vectors of 3 entries"),
    ("inputs: [[0, 0]]\nlayers:\n  - {weight: [[1, 2]], activation: softmax}\n", "layers[1].activation", "relu"),
    ("inputs: [[0, 0], [1, 1]]\ntarget: [0, 1, 1]\n" + TWO_LAYERS, "target", "one target per input"),
    ("inputs: [[0, 0]]\nlayers:\n  - {weight: [[1, 2], [3, 4]], bias: [1, 2, 3]}\n", "layers[1].bias", "2 units"),
    ("inputs: [[0, 0]]\nlayers:\n  - [[1, 2]]\n", "layers[1]", "must be a mapping"),
    ("inputs: [[0, 0]]\nlayers:\n  - {weights: [[1, 2]]}\n", "layers[1].weights", "not a field"),
    ("inputs: [[0, 0]]\n", "target", "is required when there are no layers"),
    ("inputs: [[0, 0], [1, 1]]\ntarget: [0, 2]\n", "target", "one 0 or 1 per input"),
    ("inputs: [[0, 0]]\nthreshold: 0.5\n" + TWO_LAYERS, "threshold", "give the target too"),
    ("inputs: [[0, .inf]]\n" + TWO_LAYERS, "inputs", "finite"),
    ("inputs: [0, 1]\n" + TWO_LAYERS, "inputs", "list of input vectors"),
    ("inputs: [[0, 1]]\nstep_at_zero: true\n" + TWO_LAYERS, "step_at_zero", "must be 0 or 1"),
    ("inputs: [[0, 0], [1, 1]]\ntarget: [[0, 1], [1, 0]]\nlayers:\n  - {weight: [[1, 1]]}\n", "target",
     "1 output unit"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_input_names_file_problem_and_field(tmp_path, given, field, words):
    path = one_problem(tmp_path, given)
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


def test_a_negative_bias_is_bracketed_where_the_numbers_are_put_in(tmp_path):
    """z = W a + b with b = -2 printed "... + -2"."""
    path = tmp_path / "set.yaml"
    path.write_text("problems:\n  - id: m\n    kind: mlp\n    given:\n      inputs: [[1, 2]]\n"
                    "      layers: [{weight: [[1, -1]], bias: -2}]\n")
    result = run_solver("solve", path, "--format", "latex")
    assert result.returncode == 0 and r"+ \left(-2\right) = -3" in result.stdout and "+ -" not in result.stdout
