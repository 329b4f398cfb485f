"""graph on vectors and matrices: every value and gradient of random tensor programs (@, .T, sum, mean,
softmax, log_softmax, element-wise operations with broadcasting, shared subexpressions, depths up to 6)
against PyTorch's autograd; logistic regression's cross-entropy gradient against its closed form;
a 2-layer MLP's loss against F.cross_entropy; the matrix product's misplaced transpose against the
wrong formula computed by torch; bad shapes through the command line."""
import json
import random

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, one_problem_file, optional_module, require_module, run_solver
from corpus import draw_tensor_graph

torch = optional_module("torch")
KIND = "graph"


def solved(given: dict, rules=None) -> dict:
    from solver.kinds import get_kind
    k = get_kind(KIND)
    read = k.read(given)
    answers = k.compute(read) if rules is None else k.compute(read, rules)
    return {name: answer.value for name, answer in answers.items()}


def autograd(given: dict, overrides=None) -> dict:
    """{answer name: value} by torch autograd (float64) on the test's own program text (Python's parser,
    torch's functions): output, grad_NAME, value[q] and grad[q] of each line's name."""
    t = require_module("torch")
    env = {n: t.tensor(np.asarray(v, dtype=float), dtype=t.float64, requires_grad=True)
           for n, v in given["values"].items()}
    inputs = dict(env)
    functions = {"exp": t.exp, "log": t.log, "sqrt": t.sqrt, "abs": t.abs, "sigmoid": t.sigmoid, "tanh": t.tanh,
                 "relu": t.relu, "square": t.square, "max": t.maximum, "min": t.minimum, "sum": t.sum,
                 "mean": t.mean, "softmax": lambda a: t.softmax(a, -1), "log_softmax": lambda a: t.log_softmax(a, -1)}
    functions.update(overrides or {})
    scope = {"__builtins__": {}, **functions}
    targets = []
    for line in [given["program"]] if isinstance(given["program"], str) else given["program"]:
        target, text = (part.strip() for part in line.split("=", 1))
        env[target] = eval(text.replace("^", "**"), scope, env)      # the test's own program text
        env[target].retain_grad()
        targets.append(target)
    output = env[targets[-1]]
    upstream = np.asarray(given.get("upstream", 1), dtype=float)
    output.backward(t.tensor(np.broadcast_to(upstream, tuple(output.shape)).copy(), dtype=t.float64))
    found = {"output": output.detach().numpy()}
    for n, x in inputs.items():
        found[f"grad_{n}"] = found[f"grad[{n}]"] = x.grad.numpy()
        found[f"value[{n}]"] = x.detach().numpy()
    for target in targets:
        found[f"value[{target}]"] = env[target].detach().numpy()
        found[f"grad[{target}]"] = env[target].grad.numpy()
    return found


def assert_agrees(ours: dict, expected: dict, given):
    for name, value in expected.items():
        if name.startswith("grad_") and name not in ours:
            continue                  # an input left out of `wrt`
        mine = np.asarray(ours[name], dtype=float)
        assert mine.shape == np.shape(value), (name, mine, value, given)
        assert np.allclose(mine, value, rtol=1e-9, atol=1e-12), (name, mine, value, given)


GIVENS = [draw_tensor_graph(random.Random(f"tensor-graph-{seed}")) for seed in range(150)]


def test_the_random_programs_cover_every_tensor_operation():
    text = " ".join(line for g in GIVENS for line in g["program"])
    for op in ("@", ".T", "sum(", "mean(", "softmax(", "log_softmax(", "max(", "+", "*", "/", "exp(", "relu("):
        assert op in text, op
    assert any(len(g["program"]) == 6 for g in GIVENS) and any("upstream" in g for g in GIVENS)
    shapes = {np.ndim(v) for g in GIVENS for v in g["values"].values()}
    assert shapes == {0, 1, 2}
    assert sum(" @ " in " ".join(g["program"]) for g in GIVENS) > 40


@pytest.mark.torch
@pytest.mark.parametrize("given", GIVENS, ids=[f"tensors{i}" for i in range(len(GIVENS))])
def test_random_tensor_programs_agree_with_autograd(given):
    assert_agrees(solved(given), autograd(given), given)


LOGISTIC = {"program": ["z = X @ w + b", "p = sigmoid(z)", "l = -(y * log(p) + (1 - y) * log(1 - p))",
                        "L = mean(l)"],
            "values": {"X": [[1, 2], [-1, 0.5], [0.5, -1.5], [2, 1]], "w": [0.5, -0.25], "b": 0.1,
                       "y": [1, 0, 0, 1]}}


@pytest.mark.torch
def test_logistic_regression_cross_entropy_gradient_is_its_closed_form():
    t = require_module("torch")
    ours = solved(LOGISTIC)
    X, w, y = (np.asarray(LOGISTIC["values"][n], dtype=float) for n in ("X", "w", "y"))
    p = 1 / (1 + np.exp(-(X @ w + 0.1)))
    # the textbook identity: ∂L/∂w = Xᵀ(p - y)/N, ∂L/∂b = mean(p - y); the loss is torch's BCE
    assert np.allclose(np.asarray(ours["grad_w"], dtype=float), X.T @ (p - y) / 4)
    assert np.isclose(float(ours["grad_b"]), np.mean(p - y))
    bce = t.nn.functional.binary_cross_entropy(t.tensor(p), t.tensor(y))
    assert np.isclose(float(ours["output"]), bce.item())
    assert_agrees(ours, autograd(LOGISTIC), LOGISTIC)


MLP = {"program": ["H = relu(X @ W1 + b1)", "S = H @ W2 + b2", "L = -sum(Y * log_softmax(S)) / 2"],
       "values": {"X": [[1, -2, 0.5], [0.5, 1, -1]], "W1": [[0.2, -0.5], [0.1, 0.3], [-0.4, 0.6]],
                  "b1": [0.1, -0.1], "W2": [[1, -1, 0.5], [-0.5, 0.25, 1]], "b2": [0, 0.1, -0.1],
                  "Y": [[0, 0, 1], [1, 0, 0]]}}


@pytest.mark.torch
def test_a_two_layer_mlp_loss_agrees_with_cross_entropy_and_autograd():
    t = require_module("torch")
    ours = solved(MLP)
    v = {n: t.tensor(np.asarray(x, dtype=float), requires_grad=True) for n, x in MLP["values"].items()}
    scores = t.relu(v["X"] @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]
    loss = t.nn.functional.cross_entropy(scores, t.tensor([2, 0]))
    loss.backward()
    assert np.isclose(float(ours["output"]), loss.item())
    for n in ("W1", "b1", "W2", "b2", "X"):
        assert np.allclose(np.asarray(ours[f"grad_{n}"], dtype=float), v[n].grad.numpy()), n
    assert_agrees(ours, autograd(MLP), MLP)


def test_values_stay_exact_through_matrix_products():
    from fractions import Fraction
    ours = solved({"program": ["Y = X @ W", "f = sum(Y.T * C)"],
                   "values": {"X": [[1, 2], [3, 4]], "W": [[0.5, 0], [0, 0.25]], "C": [[1, 2], [3, 4]]}})
    # by hand: Y = [[1/2, 1/2], [3/2, 1]]; Yᵀ ⊙ C = [[1/2, 3], [3/2, 4]], whose sum is 9
    assert ours["value[Y]"].tolist() == [[Fraction(1, 2), Fraction(1, 2)], [Fraction(3, 2), 1]]
    assert ours["output"] == 9


# ---- the misplaced transpose, against the wrong formula computed by torch --------------------

def mistake_answers(given) -> dict:
    from solver.kinds import get_kind
    k = get_kind(KIND)
    read = k.read(given)
    return {m.name: dict(m.cases(read)) for m in k.mistakes}


SQUARE = {"program": ["Y = X @ W", "f = sum(Y * C)"],
          "values": {"X": [[1, 2], [-1, 3]], "W": [[0.5, -1], [2, 1]], "C": [[1, -2], [3, 0.5]]}}


@pytest.mark.torch
def test_matmul_transpose_on_the_wrong_side_or_missing():
    t = require_module("torch")
    X, W, C = (t.tensor(np.asarray(SQUARE["values"][n], dtype=float)) for n in "XWC")
    G = C                                                   # ∂f/∂Y of f = sum(Y ⊙ C), by hand
    found = mistake_answers(SQUARE)["matmul_transpose"]
    side, missing = found["the transpose on the wrong side"], found["the transpose missing"]
    assert np.allclose(np.asarray(side["grad_W"], dtype=float), (G @ X.T).numpy())        # dW = G Xᵀ
    assert np.allclose(np.asarray(side["grad_X"], dtype=float), (W.T @ G).numpy())        # dX = Wᵀ G
    assert np.allclose(np.asarray(missing["grad_W"], dtype=float), (X @ G).numpy())       # dW = X G
    assert np.allclose(np.asarray(missing["grad_X"], dtype=float), (G @ W).numpy())       # dX = G W
    right = autograd(SQUARE)
    assert not np.allclose(np.asarray(side["grad_W"], dtype=float), right["grad_W"])


@pytest.mark.torch
def test_matmul_transpose_where_only_one_input_can_take_it():
    t = require_module("torch")
    given = {"program": ["Y = X @ W", "f = sum(Y * C)"],            # X 2×3, W 3×3: only dX = G W fits X
             "values": {"X": [[1, 2, 0], [-1, 3, 1]], "W": [[0.5, -1, 0], [2, 1, 1], [0, 1, -1]],
                        "C": [[1, -2, 0.5], [3, 0.5, -1]]}}
    found = mistake_answers(given)["matmul_transpose"]
    assert set(found) == {"the transpose missing"}
    W, C = (t.tensor(np.asarray(given["values"][n], dtype=float)) for n in "WC")
    assert np.allclose(np.asarray(found["the transpose missing"]["grad_X"], dtype=float), (C @ W).numpy())
    assert np.allclose(np.asarray(found["the transpose missing"]["grad_W"], dtype=float), autograd(given)["grad_W"])


def test_the_mistake_does_not_apply_where_shapes_forbid_it():
    given = {"program": ["Y = X @ W", "f = sum(Y)"],
             "values": {"X": [[1, 2, 0], [-1, 3, 1]], "W": [[0.5, -1, 0, 1], [2, 1, 1, 0], [0, 1, -1, 2]]}}
    found = mistake_answers(given)
    assert found["matmul_transpose"] == {} and found["upstream_not_multiplied"] == {"": {}}     # no case, no answer


def test_check_a_matrix_gradient_and_name_the_misplaced_transpose(tmp_path):
    path = one_problem_file(tmp_path, KIND, SQUARE)
    X, C = (np.asarray(SQUARE["values"][n], dtype=float) for n in "XC")
    right, wrong = X.T @ C, C @ X.T                              # by hand: ∂f/∂W = Xᵀ G; the mistake G Xᵀ
    result = run_solver("check", path, "p:grad_W", json.dumps(right.tolist()), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad_W", json.dumps(wrong.tolist()), "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "matmul_transpose", result.stdout
    result = run_solver("check", path, "p:value[Y]", "[[4.5, 1], [5.5, 4]]", "--json")
    assert result.returncode == 0, result.stdout + result.stderr


# ---- the command line ---------------------------------------------------------------------------

def test_solve_shows_matrices_and_the_rules(tmp_path):
    result = run_solver("solve", one_problem_file(tmp_path, KIND, MLP), "--format", "text")
    assert result.returncode == 0, result.stderr
    for words in ("Forward pass", "W_1^⊤", "H^⊤", "log_softmax", "ℝ^", "to A as G B^T and to B as A^T G"):
        assert words in result.stdout, words


@pytest.mark.parametrize("given, field, words", [
    ({"program": ["H = X @ W", "f = sum(H)"], "values": {"X": [[1, 2], [3, 4]], "W": [[1, 2, 3]]}}, "program",
     "line 1, `H = X @ W`, multiplies a 2×2 matrix by a 1×3 matrix with @: the inner sizes 2 and 1 differ"),
    ({"program": ["h = x + 1", "f = h @ W"], "values": {"x": [1, 2, 3], "W": [[1], [2]]}}, "program",
     "line 2, `f = h @ W`, multiplies a vector of length 3 by a 2×1 matrix with @"),
    ({"program": ["f = sum(softplus(X))"], "values": {"X": [1, 2]}}, "program", "softplus, which is not a function"),
    ({"program": ["h = X + v", "f = sum(h)"], "values": {"X": [[1, 2], [3, 4]], "v": [1, 2, 3]}}, "program",
     "line 1, `h = X + v`, adds a 2×2 matrix and a vector of length 3, which do not match"),
    ({"program": ["f = sum(x.T)"], "values": {"x": [1, 2]}}, "program", "transposes a vector of length 2"),
    ({"program": ["f = x @ 2"], "values": {"x": [1, 2]}}, "program", "write * for a number times a tensor"),
    ({"program": ["f = sum(log(x))"], "values": {"x": [1, -2]}}, "values", "take the logarithm of -2"),
    ({"program": ["f = x * y"], "values": {"x": [1, 2], "y": "y"}}, "values", "mixes letters with vectors"),
    ({"program": ["f = 2 * x"], "values": {"x": [1, 2]}, "upstream": [1, 2, 3]}, "upstream",
     "the output's shape, a vector of length 2"),
    ({"program": ["f = sum(x)"], "values": {"x": list(range(9))}}, "values.x", "at most 8"),
])
def test_bad_shapes_are_one_paragraph_naming_the_line(tmp_path, given, field, words):
    path = one_problem_file(tmp_path, KIND, given)
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


SHEET_TENSORS = [p for p in __import__("yaml").safe_load((ROOT / "problems" / "backprop-graphs.yaml").read_text())
                 ["problems"] if any(isinstance(v, list) for v in p["given"]["values"].values())]


@pytest.mark.torch
@pytest.mark.parametrize("problem", SHEET_TENSORS, ids=[p["id"] for p in SHEET_TENSORS])
def test_the_sheets_tensor_exercises_agree_with_autograd(problem):
    assert_agrees(solved(problem["given"]), autograd(problem["given"]), problem["given"])


def test_the_sheet_has_tensor_exercises():
    assert len(SHEET_TENSORS) >= 3


@pytest.fixture(scope="module")
def tensor_set(tmp_path_factory):
    """A problem file of twelve of the random tensor programs."""
    import yaml
    path = tmp_path_factory.mktemp("tensors") / "tensors.yaml"
    path.write_text(yaml.safe_dump({"title": "Tensor programs", "problems": [
        {"id": f"T{i}", "kind": KIND, "given": given} for i, given in enumerate(GIVENS[:12])]}))
    return path


@pytest.mark.parametrize("fmt", ["text", "latex", "md", "json"])
def test_random_tensor_programs_solve_in_every_format(tensor_set, fmt):
    result = run_solver("solve", tensor_set, "--format", fmt)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_random_tensor_programs_pass_selftest(tensor_set):
    result = run_solver("selftest", tensor_set, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr


@pytest.mark.tex
def test_random_tensor_programs_compile_within_the_page(tensor_set, tmp_path):
    from test_pdf import compile_sheet, overfull_boxes
    _, log = compile_sheet(tensor_set, "solutions", tmp_path)
    assert overfull_boxes(log) == []


def test_gradients_that_cancel_exactly_are_0_not_round_off(tmp_path):
    # sum(softmax(x)) is 1 whatever x: its gradient is 0; softmax's gradients to a shared bias add up to 0
    ours = solved({"program": ["f = sum(softmax(x))"], "values": {"x": [0.3, -1.2, 2]}})
    assert list(ours["grad_x"]) == [0, 0, 0]
    given = {"program": ["z = X @ w + b", "p = softmax(z)", "L = -sum(y * log(p))"],
             "values": {"X": [[1, 2], [3, -1], [0, 1]], "w": [0.5, -1], "b": 0.25, "y": [0, 1, 0]}}
    assert solved(given)["grad_b"] == 0
    result = run_solver("check", one_problem_file(tmp_path, KIND, given), "p:grad_b", "0")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_program_as_given_writes_a_product_of_two_tensors_with_odot(tmp_path):
    given = {"program": ["f = sum(2 * x * y)"], "values": {"x": [1, 2], "y": [3, -1]}}
    result = run_solver("solve", one_problem_file(tmp_path, KIND, given), "--format", "latex")
    assert result.returncode == 0, result.stderr
    shown = result.stdout.split("Graph")[0]                     # the program as the problem gives it
    assert r"2 \cdot x \odot y" in shown, shown
