"""mlp_jacobian against independent oracles.

Every Jacobian answer is compared with torch.autograd.functional.jacobian
(float64) on seeded random networks: depths 1-4, widths 1-4, every activation,
scalar and vector outputs. The oracle rebuilds the network in torch from the
`given:` mapping alone. Mistakes are checked against torch too (the linearized
network for a forgotten σ', σ's Jacobian at y_l for σ' taken at the activation,
the local Jacobians multiplied in reverse), or against a derivation by hand.
Nothing expected is copied from solver output.
"""
import random
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.answers.check import check_value
from solver.answers.types import compare, format_answer
from solver.core.errors import FieldError
from solver.kinds import get_kind
from solver.kinds.dense.mlp_jacobian import PER_LAYER
from solver.problems.load import Problem

mj = get_kind("mlp_jacobian")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
jacobian = optional_module("torch.autograd.functional").jacobian

ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda z: z}
SEEDS = range(120)


# ---- the oracle ---------------------------------------------------------------------

def draw(seed, integers=False, activations=tuple(ACTIVATIONS)):
    """A random `given:` mapping: depth 1-4, widths 1-4 (the output's too)."""
    rng = random.Random(seed)
    number = (lambda: rng.randint(-3, 3)) if integers else (lambda: round(rng.uniform(-2, 2), 3))
    widths = [rng.randint(1, 4) for _ in range(rng.randint(1, 4) + 1)]
    layers = []
    for index, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        layer = {"weight": [[number() for _ in range(n_in)] for _ in range(n_out)],
                 "bias": [number() for _ in range(n_out)]}
        if index < len(widths) - 2:
            layer["activation"] = rng.choice(activations)
        layers.append(layer)
    return {"input": [number() for _ in range(widths[0])], "layers": layers}


def tensor(values):
    return torch.tensor(values, dtype=torch.float64)


def torch_layers(given):
    """[(A, b, σ)] as float64 tensors; the last layer is linear."""
    return [(tensor(layer["weight"]), tensor(layer["bias"]), ACTIVATIONS[layer.get("activation", "identity")])
            for layer in given["layers"]]


def run(layers, y, start=0):
    """y_L from y_(start) through layers start+1..L."""
    for a, b, sigma in layers[start:]:
        y = sigma(a @ y + b)
    return y


def inputs_of(given):
    """y_0, ..., y_(L-1), as torch computes them."""
    layers, ys = torch_layers(given), [tensor(given["input"])]
    for a, b, sigma in layers[:-1]:
        ys.append(sigma(a @ ys[-1] + b))
    return ys


def oracle(given) -> dict:
    """Every answer, from autograd: ∂y_L/∂(b_l, y_(l-1), A_l) and the one-layer Jacobians."""
    layers, ys = torch_layers(given), inputs_of(given)
    scalar = len(given["layers"][-1]["bias"]) == 1
    found = {"output": run(layers, ys[0]).reshape(-1, 1)}         # vectors are columns
    for l, ((a, b, sigma), y) in enumerate(zip(layers, ys), start=1):
        rest = lambda y_before, a, b: run(layers[l:], sigma(a @ y_before + b))
        d_input, d_weight, d_bias = jacobian(rest, (y, a, b))
        found[f"jacobian_input[{l}]"], found[f"jacobian_bias[{l}]"] = d_input, d_bias
        found[f"jacobian_weight[{l}]"] = d_weight[0] if scalar else d_weight
        found[f"local_jacobian_bias[{l}]"] = jacobian(lambda b: sigma(a @ y + b), b)
        found[f"local_jacobian_input[{l}]"] = jacobian(lambda y: sigma(a @ y + b), y)
    return found


def solved(given) -> dict:
    return {name: answer.value for name, answer in mj.solve(mj.read(given)).answers.items()}


def close(value, expected):
    return np.allclose(np.asarray(value, dtype=float), expected.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---- every answer against autograd ----------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_every_answer_matches_autograd(seed):
    given = draw(seed)
    expected, answers = oracle(given), solved(given)
    assert set(answers) == set(expected)
    for name, value in answers.items():
        assert np.shape(value) == tuple(expected[name].shape), name
        assert close(value, expected[name]), name


def test_the_random_networks_cover_every_case():
    givens = [draw(seed) for seed in SEEDS]
    used = {layer.get("activation") for g in givens for layer in g["layers"]}
    outputs = {len(g["layers"][-1]["bias"]) for g in givens}
    depths = {len(g["layers"]) for g in givens}
    assert set(ACTIVATIONS) <= used and outputs == {1, 2, 3, 4} and depths == {1, 2, 3, 4}


@pytest.mark.parametrize("seed", range(40))
def test_relu_and_identity_on_integers_stay_exact(seed):
    given = draw(seed, integers=True, activations=("relu", "identity"))
    expected, answers = oracle(given), solved(given)
    for name, value in answers.items():
        assert all(type(cell) is int for cell in np.asarray(value).flat), name
        assert close(value, expected[name]), name


def test_relu_slope_at_zero_is_zero_as_in_pytorch():
    given = {"input": [1, -1], "layers": [{"weight": [[1, 1], [1, 0]], "bias": [0, 0], "activation": "relu"},
                                         {"weight": [[1, 1]], "bias": [0]}]}
    answers, expected = solved(given), oracle(given)          # z_1 = (0, 1): ReLU'(0) = 0
    assert answers["local_jacobian_bias[1]"].tolist() == [[0, 0], [0, 1]]
    assert close(answers["jacobian_input[1]"], expected["jacobian_input[1]"])


# ---- by hand ------------------------------------------------------------------------------

# y_0 = (1, 2); A_1 = [[1, -1], [2, 0], [0, 1]], b_1 = (0, -3, 1), ReLU; A_2 = [[2, -1, 3]], b_2 = 1.
# z_1 = (1 - 2 + 0, 2 - 3, 2 + 1) = (-1, -1, 3), y_1 = (0, 0, 3), ReLU'(z_1) = (0, 0, 1).
# y_2 = 2·0 - 0 + 3·3 + 1 = 10.
# ∂y_2/∂b_1 = A_2 diag(0, 0, 1) = [0, 0, 3]; ∂y_2/∂y_0 = [0, 0, 3] A_1 = 3·(0, 1) = [0, 3].
# ∂y_2/∂A_1 = (0, 0, 3)ᵀ (1, 2) = [[0, 0], [0, 0], [3, 6]]; ∂y_2/∂A_2 = y_1ᵀ = [[0, 0, 3]].
HAND = {"input": [1, 2], "layers": [
    {"weight": [[1, -1], [2, 0], [0, 1]], "bias": [0, -3, 1], "activation": "relu"},
    {"weight": [[2, -1, 3]], "bias": [1]}]}


def test_hand_derived_relu_network():
    answers = solved(HAND)
    assert answers["output"].tolist() == [[10]]
    assert answers["jacobian_bias[1]"].tolist() == [[0, 0, 3]]
    assert answers["jacobian_input[1]"].tolist() == [[0, 3]]
    assert answers["jacobian_weight[1]"].tolist() == [[0, 0], [0, 0], [3, 6]]
    assert answers["jacobian_weight[2]"].tolist() == [[0, 0, 3]]          # shaped like A_2
    assert answers["jacobian_bias[2]"].tolist() == [[1]] and answers["jacobian_input[2]"].tolist() == [[2, -1, 3]]


def test_layer_restricts_the_answers_and_the_backward_steps():
    solution = mj.solve(mj.read(dict(HAND, layer=2)))
    assert set(solution.answers) == {"output"} | {f"{name}[2]" for name in PER_LAYER}
    assert [s.title for s in solution.steps if "back" in s.title] == ["Layer 2: back from the output"]


# ---- mistakes --------------------------------------------------------------------------------

def mistake(name):
    return next(m for m in mj.mistakes if m.name == name)


def test_slope_forgotten_is_the_linearized_network():
    given = draw(7, activations=("sigmoid", "tanh"))
    linear = dict(given, layers=[{k: v for k, v in layer.items() if k != "activation"} for layer in given["layers"]])
    found, expected = mistake("slope_forgotten").answers(mj.read(given)), oracle(linear)
    for l in range(1, len(given["layers"]) + 1):
        for name in ("jacobian_bias", "jacobian_input", "local_jacobian_input"):
            assert close(found[f"{name}[{l}]"], expected[f"{name}[{l}]"])


def square_network():
    """2 → 2 (tanh) → 2 (sigmoid) → 2: every local Jacobian is 2×2, so the reversed chain exists."""
    return {"input": [0.5, -1.0], "layers": [
        {"weight": [[1.0, -0.5], [0.25, 2.0]], "bias": [0.1, -0.2], "activation": "tanh"},
        {"weight": [[-1.5, 0.5], [1.0, 1.0]], "bias": [0.0, 0.3], "activation": "sigmoid"},
        {"weight": [[2.0, -1.0], [0.5, 1.5]], "bias": [0.0, 0.0]}]}


def local_jacobians(given, at_activation=False):
    """∂y_l/∂y_(l-1) from torch: σ's Jacobian at z_l (or, the mistake, at y_l) times A_l."""
    result = []
    for (a, b, sigma), y in zip(torch_layers(given), inputs_of(given)):
        z = a @ y + b
        result.append(jacobian(sigma, sigma(z) if at_activation else z) @ a)
    return result


def test_chain_reversed_multiplies_the_local_jacobians_from_the_input_side():
    given = square_network()
    j1, j2, j3 = local_jacobians(given)
    found = mistake("chain_reversed").answers(mj.read(given))
    assert close(found["jacobian_input[1]"], j1 @ j2 @ j3)
    assert close(found["jacobian_input[2]"], j2 @ j3)
    assert not close(found["jacobian_input[1]"], j3 @ j2 @ j1)


def test_chain_reversed_does_not_apply_where_the_shapes_do_not_chain():
    found = mistake("chain_reversed").answers(mj.read(HAND))      # 1×3 times 3×2 only one way
    assert "jacobian_input[1]" not in found


def test_slope_at_activation_uses_sigma_prime_of_y():
    given = square_network()
    j1, j2, j3 = local_jacobians(given, at_activation=True)
    found = mistake("slope_at_activation").answers(mj.read(given))
    assert close(found["jacobian_input[1]"], j3 @ j2 @ j1)
    assert close(found["local_jacobian_input[2]"], j2)


def test_weight_jacobian_transposed():
    found = mistake("weight_jacobian_transposed").answers(mj.read(HAND))
    assert found["jacobian_weight[1]"].tolist() == [[0, 0, 3], [0, 0, 6]]


@pytest.mark.parametrize("given", [HAND, square_network(), draw(3), draw(11)])
def test_every_mistake_is_diagnosed_by_check(given):
    given = mj.read(given)
    for answer in mj.solve(given).answers.values():
        own = check_value(Problem("p", "mlp_jacobian", given), answer, format_answer(answer.value, answer.type),
                          mj.mistakes)
        assert own.verdict == "correct", answer.name
        for m in mj.mistakes:
            value = m.answers(given).get(answer.name)
            if value is None or compare("matrix", value, answer.value)[0] == 1.0:
                continue
            verdict = check_value(Problem("p", "mlp_jacobian", given), answer, format_answer(value, "matrix"), mj.mistakes)
            assert verdict.verdict == "incorrect" and verdict.mistake is not None, (answer.name, m.name)
            named = mistake(verdict.mistake)
            assert compare("matrix", named.answers(given)[answer.name], value)[0] == 1.0


# ---- the command line ----------------------------------------------------------------------

GOOD = """\
input: [1, 2]
layers:
  - weight: [[1, -1], [2, 0], [0, 1]]
    bias: [0, -3, 1]
    activation: relu
  - weight: [[2, -1, 3]]
    bias: [1]
"""


@pytest.mark.parametrize("given, field, words", [
    (GOOD.replace("[[2, -1, 3]]", "[[2, -1]]"), "layers[2].weight", "needs 3 columns"),
    (GOOD.replace("[[1, -1], [2, 0], [0, 1]]", "[[1, -1, 0], [2, 0, 0], [0, 1, 0]]"), "layers[1].weight",
     "needs 2 columns"),
    (GOOD.replace("bias: [1]", "bias: [1]\n    activation: relu"), "layers[2].activation", "last layer is linear"),
    (GOOD.replace("    activation: relu\n", ""), "layers[1].activation", "required for a hidden layer"),
    (GOOD.replace("activation: relu", "activation: softmax"), "layers[1].activation", "sigmoid"),
    (GOOD.replace("bias: [0, -3, 1]", "bias: [0, -3]"), "layers[1].bias", "one per row"),
    (GOOD.replace("bias: [1]", "bias: [1]\n    weights: [[1]]"), "layers[2].weights", "not a field of a layer"),
    (GOOD.replace("[[2, -1, 3]]", "[2, -1, 3]"), "layers[2].weight", "one row is [[1, -2]]"),
    (GOOD + "layer: 3\n", "layer", "from 1 to 2"),
    (GOOD.replace("input: [1, 2]", "input: [1, .inf]"), "input", "numbers must be finite"),
    ("input: [1]\nlayers: []\n", "layers", "list of 1 to"),
])
def test_bad_input_is_one_paragraph_naming_file_problem_and_field(tmp_path, given, field, words):
    path = tmp_path / "mlp.yaml"
    body = textwrap.indent(given, " " * 6)
    path.write_text(f'title: T\nproblems:\n  - id: "m1"\n    kind: mlp_jacobian\n    given:\n{body}')
    assert_bad_input(run_solver("solve", path), path, "m1", field, words)


def test_read_raises_field_error_for_a_hidden_layer_count_mismatch():
    with pytest.raises(FieldError) as error:
        mj.read({"input": [1, 2, 3], "layers": [{"weight": [[1, 2]], "bias": [0]}]})
    assert error.value.field == "layers[1].weight" and "3 entries" in str(error.value)


def shipped_answer(spec):
    """The shipped problem's answer from torch, as a student would type it."""
    import yaml
    problems = yaml.safe_load((ROOT / "problems" / "mathdnn-hw4.yaml").read_text())["problems"]
    pid, name = spec.split(":")
    return oracle(next(p for p in problems if p["id"] == pid)["given"])[name]


def test_check_on_the_shipped_problem_accepts_autograd_and_names_the_transpose():
    expected = shipped_answer("6b:jacobian_weight[1]")
    typed = "[" + ", ".join("[" + ", ".join(f"{v:.4f}" for v in row) + "]" for row in expected.tolist()) + "]"
    result = run_solver("check", "problems/mathdnn-hw4.yaml", "6b:jacobian_weight[1]", typed)
    assert result.returncode == 0, result.stdout + result.stderr
    transposed = " ; ".join(" ".join(f"{v:.4f}" for v in row) for row in expected.T.tolist())
    result = run_solver("check", "problems/mathdnn-hw4.yaml", "6b:jacobian_weight[1]", transposed, "--json")
    assert result.returncode == 1 and '"weight_jacobian_transposed"' in result.stdout, result.stdout


def test_check_reads_a_latex_matrix():
    expected = shipped_answer("6a:jacobian_input[1]")
    latex = r"\begin{bmatrix} " + " & ".join(f"{v:.5f}" for v in expected[0].tolist()) + r" \end{bmatrix}"
    result = run_solver("check", "problems/mathdnn-hw4.yaml", "6a:jacobian_input[1]", latex)
    assert result.returncode == 0, result.stdout + result.stderr


def test_numeric_check_does_not_import_sympy():
    """A wrong answer too: diagnosing it runs every mistake."""
    output = shipped_answer("6b:output").item()
    code = ("import sys; from solver.commands.check import check_file; "
            f"right = check_file('problems/mathdnn-hw4.yaml', '6b:output', '{output:.5f}'); "
            "wrong = check_file('problems/mathdnn-hw4.yaml', '6b:jacobian_weight[1]', '[[1, 2], [3, 4], [5, 6]]'); "
            "print(right.verdict, wrong.verdict, 'sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.split() == ["correct", "incorrect", "False"], result.stderr
