"""The rnn kind against independent oracles.

Expected values come from torch autograd (float64) on random instances, from
the symbolic closed forms put side by side with the numbers (the same problem
with symbols, then the numbers substituted), or from hand derivations written
out below. Nothing is copied from the solver's own output.
"""
import json
import random
import subprocess
import sys
import textwrap
from fractions import Fraction as F

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.core.errors import FieldError
from solver.kinds import get_kind

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
rnn = get_kind("rnn")

PROBLEMS = ROOT / "problems" / "comp433-a3.yaml"
LOSSES = ("mse_last", "mse_all", "sse_last", "sse_all", "torch_mse_last", "torch_mse_all", "sum_last", "sum_all")
CASES = 300
SYMBOLIC_CASES = 60


def answers(given: dict) -> dict:
    return {name: a.value for name, a in rnn.solve(rnn.read(given)).answers.items()}


# ---- hand derivations ---------------------------------------------------------------

def test_seed_forward_pass_by_hand():
    w = F("0.2")
    h1 = w * F("0.3") + w * F("0.5")           # 0.06 + 0.1
    h2 = w * F("0.4") + w * h1                 # 0.08 + 0.032
    h3 = w * F("0.2") + w * h2                 # 0.04 + 0.0224
    got = answers({"x": [0.3, 0.4, 0.2], "h0": 0.5, "w_in": 0.2, "w_hh": 0.2, "w_hy": 0.2})
    assert (h1, h2, h3) == (F("0.16"), F("0.112"), F("0.0624"))
    assert list(got["h"]) == [h1, h2, h3] and got["y"] == w * h3 == F("0.01248")   # exact, not a float
    assert set(got) == {"h", "y", "h[1]", "h[2]", "h[3]"}     # no target: a forward pass only


def test_seed_gradients_and_step_by_hand():
    w, x, h0, target, lr = F("0.2"), [F("0.3"), F("0.4"), F("0.2")], F("0.5"), F("0.4"), F("0.15")
    h1 = w * x[0] + w * h0
    h2 = w * x[1] + w * h1
    h3 = w * x[2] + w * h2
    y = w * h3
    dl_dh3 = (y - target) * w                                   # ∂ℓ/∂y · w_hy
    grad_w_in = dl_dh3 * (w * w * x[0] + w * x[1] + x[2])       # ∂h_3/∂w_in unrolled
    grad_w_hh = dl_dh3 * (3 * h0 * w * w + 2 * w * w * x[0] + w * x[1])
    grad_w_hy = (y - target) * h3
    got = answers({"x": [0.3, 0.4, 0.2], "h0": 0.5, "w_in": 0.2, "w_hh": 0.2, "w_hy": 0.2,
                   "target": 0.4, "learning_rate": 0.15})
    assert got["loss"] == (y - target) ** 2 / 2
    assert (got["grad_w_in"], got["grad_w_hh"], got["grad_w_hy"]) == (grad_w_in, grad_w_hh, grad_w_hy)
    assert got["grad_h0"] == dl_dh3 * w ** 3
    assert got["updated_w_in"] == w - lr * grad_w_in == F("0.2033946752")
    assert got["updated_w_hh"] == w - lr * grad_w_hh
    assert got["updated_w_hy"] == w - lr * grad_w_hy
    assert "grad_b" not in got and "grad_b_y" not in got and "updated_b" not in got


# ---- torch autograd on random instances ----------------------------------------------

def tenth(rng):
    return rng.randint(-10, 10) / 10


def written(rng, array, squeezable=True):
    """How a problem file might write `array`: as is, or with its size-1 axes left out."""
    short = tuple(k for k in array.shape if k != 1)
    if squeezable and short != array.shape and rng.random() < 0.6:
        array = array.reshape(short)
    return array.tolist() if array.ndim else float(array)


def random_case(rng):
    """(given mapping, the same numbers in canonical shapes for torch)."""
    n, d, m, steps = rng.choice([1, 1, 2, 3]), rng.choice([1, 1, 2]), rng.choice([1, 2]), rng.randint(1, 4)
    draw = lambda *shape: np.array([tenth(rng) for _ in range(int(np.prod(shape)))]).reshape(shape)  # noqa: E731
    case = {"x": draw(steps, d), "w_in": draw(n, d), "w_hh": draw(n, n), "h0": draw(n),
            "b": draw(n) if rng.random() < 0.5 else None,
            "w_hy": draw(m, n) if rng.random() < 0.6 else None,
            "activation": rng.choice(["linear", "tanh"]), "loss": rng.choice(LOSSES),
            "learning_rate": rng.choice([None, 0.1, 0.5])}
    out = m if case["w_hy"] is not None else n
    case["b_y"] = draw(m) if case["w_hy"] is not None and rng.random() < 0.5 else None
    case["target"] = None if case["loss"].startswith("sum") else (
        draw(steps, out) if case["loss"].endswith("_all") else draw(out))
    given = {"x": (case["x"][:, 0] if d == 1 else case["x"]).tolist(),
             "activation": case["activation"], "loss": case["loss"]}
    for name in ("w_in", "w_hh", "b", "w_hy", "b_y", "target"):
        if case[name] is not None:
            given[name] = written(rng, case[name])
    if rng.random() < 0.7:
        given["h0"] = written(rng, case["h0"])
    else:
        case["h0"] = np.zeros(n)
    if case["learning_rate"] is not None:
        given["learning_rate"] = case["learning_rate"]
    return given, case


def torch_rnn(case):
    """h_1..h_L, y_L, the loss, and every leaf's gradient, by autograd."""
    leaf = {name: torch.tensor(case[name], dtype=torch.float64, requires_grad=True)
            for name in ("w_in", "w_hh", "h0", "b", "w_hy", "b_y") if case[name] is not None}
    x = leaf["x"] = torch.tensor(case["x"], dtype=torch.float64, requires_grad=True)
    h, states, outputs = leaf["h0"], [], []
    for t in range(x.shape[0]):
        a = leaf["w_in"] @ x[t] + leaf["w_hh"] @ h + (leaf["b"] if "b" in leaf else 0)
        h = torch.tanh(a) if case["activation"] == "tanh" else a
        states.append(h)
        outputs.append(leaf["w_hy"] @ h + (leaf["b_y"] if "b_y" in leaf else 0) if "w_hy" in leaf else h)
    read = outputs if case["loss"].endswith("_all") else outputs[-1:]
    if case["loss"].startswith("sum"):
        loss = sum(y.sum() for y in read)
    else:
        target = torch.tensor(case["target"], dtype=torch.float64).reshape(len(read), -1)
        if case["loss"].startswith("torch_mse"):
            loss = torch.nn.MSELoss()(torch.stack(read), target)        # the mean over every entry
        else:
            loss = sum(((y - tg) ** 2).sum() for y, tg in zip(read, target))
            loss = loss / 2 if case["loss"].startswith("mse") else loss
    loss.backward()
    return torch.stack(states).detach().numpy(), outputs[-1].detach().numpy(), loss.item(), \
        {name: t.grad.numpy() for name, t in leaf.items()}


def close(answer, expected, shape=None):
    got = np.array(answer, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if shape is not None:
        assert got.shape == shape
    return np.allclose(got, expected.reshape(got.shape), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("seed", range(CASES))
def test_matches_torch_autograd(seed):
    rng = random.Random(seed)
    given, case = random_case(rng)
    got = answers(given)
    states, y, loss, grads = torch_rnn(case)
    n = case["w_hh"].shape[0]
    assert close(got["h"], states if n > 1 else states[:, 0]), (given, got["h"], states)
    assert close(got["y"], y), (given, got["y"], y)
    for t in range(1, len(states) + 1):
        assert close(got[f"h[{t}]"], states[t - 1])
    with_loss = case["target"] is not None or case["loss"].startswith("sum")
    expected_names = {"h", "y", *(f"h[{t}]" for t in range(1, len(states) + 1))}
    if with_loss:
        assert close(got["loss"], loss), (given, got["loss"], loss)
        expected_names.add("loss")
        for name, grad in grads.items():
            answer = "grad_h0" if name == "h0" else f"grad_{name}"
            shape = np.shape(given[name]) if name in given else tuple(k for k in grad.shape if k != 1)
            assert close(got[answer], grad, shape), (given, answer, got[answer], grad)
            expected_names.add(answer)
            if name == "x":
                for t in range(1, len(states) + 1):
                    assert close(got[f"grad_x[{t}]"], grad[t - 1]), (given, t)
                    expected_names.add(f"grad_x[{t}]")
            elif case["learning_rate"] is not None and name != "h0":
                updated = case[name] - case["learning_rate"] * grad
                assert close(got[f"updated_{name}"], updated, shape)
                expected_names.add(f"updated_{name}")
    assert set(got) == expected_names


# ---- closed forms against the numbers -----------------------------------------------------

def symbolic_case(rng):
    """A scalar linear problem twice: with one-decimal numbers, and with a symbol for each number."""
    steps, loss = rng.randint(1, 4), rng.choice(LOSSES)
    numbers, symbols = {"loss": loss}, {"loss": loss}
    numbers["x"], symbols["x"] = [tenth(rng) for _ in range(steps)], [f"x_{t}" for t in range(1, steps + 1)]
    names = ["h0", "w_in", "w_hh"] + [name for name in ("b", "w_hy") if rng.random() < 0.6]
    names += ["b_y"] if "w_hy" in names and rng.random() < 0.5 else []
    names += ["learning_rate"] if rng.random() < 0.5 else []
    spelled = {"h0": "h_0", "learning_rate": "eta", "w_in": "w_in"}
    for name in names:
        numbers[name], symbols[name] = tenth(rng), spelled.get(name, name)
    if "learning_rate" in names:            # a step size is positive
        numbers["learning_rate"] = abs(numbers["learning_rate"]) or 0.1
    if loss.endswith("_last") and not loss.startswith("sum"):
        numbers["target"], symbols["target"] = tenth(rng), "y_r"
    elif loss.endswith("_all") and not loss.startswith("sum"):
        numbers["target"] = [tenth(rng) for _ in range(steps)]
        symbols["target"] = [f"r_{t}" for t in range(1, steps + 1)]
    return numbers, symbols


def substitution(numbers, symbols) -> dict:
    import sympy
    pairs = {}
    for name, symbol in symbols.items():
        if name == "loss":
            continue
        values = numbers[name] if isinstance(numbers[name], list) else [numbers[name]]
        spelled = symbol if isinstance(symbol, list) else [symbol]
        pairs.update({sympy.Symbol(s, real=True): sympy.Rational(str(v)) for s, v in zip(spelled, values)})
    return pairs


@pytest.mark.parametrize("seed", range(SYMBOLIC_CASES))
def test_closed_forms_give_the_numbers(seed):
    numbers, symbols = symbolic_case(random.Random(1000 + seed))
    exact = answers(numbers)
    solved = rnn.solve(rnn.read(symbols))
    formulas = {name: a.value for name, a in solved.answers.items()}
    assert set(formulas) == set(exact) - {"h", "grad_x"}       # every answer but the lists of steps
    pairs = substitution(numbers, symbols)
    for name, formula in formulas.items():
        assert solved.answers[name].type == "expression"
        assert all(s.is_real and s.is_integer is None and s.is_positive is None for s in formula.free_symbols)
        value = formula.xreplace(pairs)
        assert value.is_Rational and F(int(value.p), int(value.q)) == exact[name], (symbols, name, formula)


def test_closed_forms_of_the_seed_unroll_h3():
    import sympy
    x1, x2, x3, h0, w_in, w_hh, w_hy, y_r = sympy.symbols("x_1 x_2 x_3 h_0 w_in w_hh w_hy y_r", real=True)
    h3 = h0 * w_hh ** 3 + w_in * w_hh ** 2 * x1 + w_in * w_hh * x2 + w_in * x3     # unrolled by hand
    y = w_hy * h3
    got = answers({"x": ["x_1", "x_2", "x_3"], "h0": "h_0", "w_in": "w_in", "w_hh": "w_hh",
                   "w_hy": "w_hy", "target": "y_r"})
    expected = {"h[3]": h3, "y": y, "loss": (y - y_r) ** 2 / 2,
                "grad_w_in": (y - y_r) * w_hy * (w_hh ** 2 * x1 + w_hh * x2 + x3),
                "grad_w_hh": (y - y_r) * w_hy * (3 * h0 * w_hh ** 2 + 2 * w_hh * w_in * x1 + w_in * x2),
                "grad_w_hy": (y - y_r) * h3, "grad_h0": (y - y_r) * w_hy * w_hh ** 3}
    for name, formula in expected.items():
        assert sympy.expand(got[name] - formula) == 0, name


def test_symbols_are_the_ones_a_student_types():
    from solver.answers.grammar import parse_expression
    solution = rnn.solve(rnn.read({"x": ["x_1", "x_2"], "h0": "h_0", "w_in": "w_in", "w_hh": "w_hh",
                                   "w_hy": "w_hy", "target": "y_r"}))
    names = solution.answers["grad_w_hh"].value.free_symbols
    for text, name in [("w_{in}", "w_in"), ("w_in", "w_in"), (r"w_{\text{in}}", "w_in"), ("x_1", "x_1"),
                       ("x_{1}", "x_1"), ("h_0", "h_0"), ("y_r", "y_r"), ("w_{hh}", "w_hh")]:
        parsed = parse_expression(text, names)
        assert parsed in names and parsed.name == name, text


# ---- the checker through the CLI ------------------------------------------------------------

GRAD_W_HH = {
    "right": "w_hy*(w_hy*(h_0*w_hh^3 + w_in*w_hh^2*x_1 + w_in*w_hh*x_2 + w_in*x_3) - y_r)"
             "*(3*h_0*w_hh^2 + 2*w_hh*w_in*x_1 + w_in*x_2)",
    "latex": r"\left(w_{\text{hy}}\left(h_0 w_{\text{hh}}^3 + w_{\text{in}} w_{\text{hh}}^2 x_1 + "
             r"w_{\text{in}} w_{\text{hh}} x_2 + w_{\text{in}} x_3\right) - y_r\right) w_{\text{hy}} "
             r"\left(3h_0 w_{\text{hh}}^{2} + 2w_{\text{hh}} w_{\text{in}} x_1 + w_{\text{in}} x_2\right)",
    # one sign flipped in ∂h_3/∂w_hh
    "sign": "w_hy*(w_hy*(h_0*w_hh^3 + w_in*w_hh^2*x_1 + w_in*w_hh*x_2 + w_in*x_3) - y_r)"
            "*(3*h_0*w_hh^2 - 2*w_hh*w_in*x_1 + w_in*x_2)",
    # 3 h_0 w_hh^2, the derivative of the h_0 term, left out
    "h0": "w_hy*(w_hy*(h_0*w_hh^3 + w_in*w_hh^2*x_1 + w_in*w_hh*x_2 + w_in*x_3) - y_r)"
          "*(2*w_hh*w_in*x_1 + w_in*x_2)",
}


def check(spec, text):
    result = run_solver("check", PROBLEMS, spec, text, "--json")
    return result.returncode, json.loads(result.stdout)


@pytest.mark.parametrize("form", ["right", "latex"])
def test_a_right_closed_form_checks_correct(form):
    code, verdict = check("Q6c:grad_w_hh", GRAD_W_HH[form])
    assert code == 0 and verdict["verdict"] == "correct", verdict


@pytest.mark.parametrize("form, mistake", [("sign", "term_sign_flipped"), ("h0", "h0_term_dropped")])
def test_a_wrong_closed_form_is_diagnosed(form, mistake):
    code, verdict = check("Q6c:grad_w_hh", GRAD_W_HH[form])
    assert code == 1 and verdict["mistake"] == mistake, verdict


def test_numbers_a_student_rounds_and_their_mistakes():
    # By hand: δ_3 = w_hy (y − y_r) = 0.2 (0.01248 − 0.4) = −0.077504.
    assert check("Q6d:grad_w_in", "-0.02263")[0] == 0
    code, verdict = check("Q6d:grad_w_in", str(-0.077504 * 0.2))       # δ_3 x_3 alone
    assert code == 1 and verdict["mistake"] == "chain_through_time_forgotten", verdict
    code, verdict = check("Q6d:updated_w_in", "0.1966053")               # 0.2 + 0.15·(−0.0226312)
    assert code == 1 and verdict["mistake"] == "update_added", verdict
    code, verdict = check("Q6b:h", "[0.06, 0.092, 0.0584]")              # h_0 left out of h_1
    assert code == 1 and verdict["mistake"] == "h0_forgotten", verdict


VARIED = {
    "vectors, tanh, every step": {
        "x": [[1, 2], [0, -1], [3, 1]], "h0": [1, -1], "w_in": [[0.5, -1], [2, 1]],
        "w_hh": [[0.5, 0.2], [0, -0.5]], "b": [1, 0], "w_hy": [[1, -2]], "b_y": 0.5,
        "target": [1, 2, 3], "loss": "mse_all", "activation": "tanh", "learning_rate": 0.1},
    "symbols, biases, every step": {
        "x": ["x_1", "x_2"], "h0": "h_0", "w_in": "w_in", "w_hh": "w_hh", "b": "b", "w_hy": "w_hy",
        "b_y": "b_y", "target": ["r_1", "r_2"], "loss": "mse_all", "learning_rate": "eta"},
    "sum, no output weights": {
        "x": [1, 2, -1], "w_in": [[0.5], [2]], "w_hh": [[0.5, 0.2], [0.3, -0.5]], "loss": "sum_all",
        "learning_rate": 0.5},
}


@pytest.mark.parametrize("name", VARIED)
def test_every_mistake_is_diagnosed_as_itself(name):
    """The selftest's checks: own answers correct, each mistake's answer diagnosed as it, garbage invalid."""
    from solver.problems.load import Problem
    from solver.commands.selftest import selftest_problem
    report = selftest_problem(Problem(id=name, kind="rnn", given=rnn.read(VARIED[name])))
    assert not report.failures, report.failures[0].describe("", name)
    assert report.mistakes.total > 20


def test_numeric_solve_and_mistakes_do_not_import_sympy():
    code = ("import sys; from solver.kinds import get_kind; k = get_kind('rnn'); "
            "g = k.read({'x': [0.3, 0.4], 'h0': 0.5, 'w_in': 0.2, 'w_hh': 0.2, 'w_hy': 0.2, "
            "'target': 0.4, 'learning_rate': 0.1}); k.solve(g); "
            "[m.cases(g) for m in k.mistakes]; print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.split() == ["False"], out.stderr


def test_derivation_shows_exact_decimals():
    result = run_solver("solve", PROBLEMS, "--problem", "Q6d", "--format", "md")
    assert result.returncode == 0, result.stderr
    for shown in ("0.0624", "0.01248", "-0.077504", "0.2033946752"):     # the hand derivation's numbers
        assert shown in result.stdout, shown


# ---- bad input ---------------------------------------------------------------------------------

BAD = [
    ("x: [1, 2]\nw_in: 1\nw_hh: [[1, 2], [3, 4], [5, 6]]\n", "w_hh", "square"),
    ("x: [[1, 2], [3, 4]]\nw_in: [[1, 2, 3], [4, 5, 6]]\nw_hh: [[1, 0], [0, 1]]\n", "w_in", "2×2 matrix"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nw_hy: [[1], [2]]\ntarget: [1, 2, 3]\n", "target", "a list of 2 numbers"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\ntarget: 1\nloss: mse_first\n", "loss", "mse_last"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nloss: mse_all\ntarget: [1, 2, 3]\n", "target", "one target per step"),
    ("x: [x_1, x_2]\nw_in: [[1], [2]]\nw_hh: [[1, 0], [0, 1]]\n", "x", "symbols need a scalar RNN"),
    ("x: [1, 2]\nw_in: w_in\nw_hh: 1\nactivation: tanh\n", "activation", "tanh needs numbers"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nb_y: 1\n", "b_y", "needs w_hy"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nloss: sum_all\ntarget: 1\n", "target", "not used by loss sum_all"),
    ("x: 3\nw_in: 1\nw_hh: 1\n", "x", "one entry per time step"),
    ("x: [1, 2]\nw_in: 1\nw_hh: [[1, x]]\n", "w_hh", "symbols need scalars"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nlearning_rate: 0.1\n", "learning_rate", "needs a loss"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\ntarget: 1\nlearning_rate: -0.1\n", "learning_rate", "must be a positive step"),
    ("x: [1, 2]\nw_in: 1\nw_hh: 1\nloss: mse_all\n", "target", "loss mse_all compares the outputs with a target"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_input_names_file_problem_and_field(tmp_path, given, field, words):
    path = tmp_path / "set.yaml"
    body = textwrap.indent(given, " " * 6)
    path.write_text(f"title: T\nproblems:\n  - id: \"p1\"\n    kind: rnn\n    given:\n{body}")
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


def test_bad_input_is_a_field_error_in_the_library():
    with pytest.raises(FieldError):
        rnn.read({"x": [1], "w_in": [[1, 2]], "w_hh": 1})


# ---- truncated BPTT and dropped terms (issue 10) -------------------------------------------

def torch_truncated(case, last_only):
    """Weight gradients with every h_{t−1} detached (no error through time); `last_only`
    keeps only the last step's loss term."""
    leaf = {name: torch.tensor(case[name], dtype=torch.float64, requires_grad=True)
            for name in ("w_in", "w_hh", "b", "w_hy", "b_y")}
    x, h = torch.tensor(case["x"], dtype=torch.float64), torch.tensor(case["h0"], dtype=torch.float64)
    target = torch.tensor(case["target"], dtype=torch.float64)
    terms = []
    for t in range(x.shape[0]):
        h = torch.tanh(leaf["w_in"] @ x[t] + leaf["w_hh"] @ h.detach() + leaf["b"])
        terms.append(((leaf["w_hy"] @ h + leaf["b_y"] - target[t]) ** 2).sum())
    scale = 1 / 2 if case["loss"] == "mse_all" else 1 / target.numel()
    (scale * (terms[-1] if last_only else sum(terms))).backward()
    return {name: t.grad.numpy() for name, t in leaf.items()}


@pytest.mark.parametrize("seed", range(12))
def test_truncated_bptt_matches_torch_with_the_states_detached(seed):
    rng = random.Random(f"truncated-{seed}")
    steps, n, d, m = rng.randint(2, 4), rng.randint(1, 3), rng.randint(1, 2), rng.randint(1, 2)
    draw = lambda *shape: np.array([tenth(rng) for _ in range(int(np.prod(shape)))]).reshape(shape)  # noqa: E731
    case = {"x": draw(steps, d), "h0": draw(n), "w_in": draw(n, d), "w_hh": draw(n, n), "b": draw(n),
            "w_hy": draw(m, n), "b_y": draw(m), "target": draw(steps, m),
            "loss": rng.choice(["mse_all", "torch_mse_all"])}
    given = {name: v.tolist() if isinstance(v, np.ndarray) else v for name, v in case.items()}
    given["activation"] = "tanh"
    cases = dict(next(x for x in rnn.mistakes if x.name == "chain_through_time_forgotten").cases(rnn.read(given)))
    for where, last_only in (("", False), ("only the t = L term kept", True)):
        expected = torch_truncated(case, last_only)
        for name, grad in expected.items():
            assert close(cases[where][f"grad_{name}"], grad), (where, name, given)


def test_a_dropped_term_is_diagnosed_as_dropped():
    # ∂h_3/∂w_hh with its 2 w_hh w_in x_1 term left out (by hand, from GRAD_W_HH["right"])
    text = ("w_hy*(w_hy*(h_0*w_hh^3 + w_in*w_hh^2*x_1 + w_in*w_hh*x_2 + w_in*x_3) - y_r)"
            "*(3*h_0*w_hh^2 + w_in*x_2)")
    code, verdict = check("Q6c:grad_w_hh", text)
    assert code == 1 and verdict["mistake"] == "term_dropped", verdict


@pytest.mark.parametrize("loss, scale", [("sse_last", 1), ("mse_last", F(1, 2)), ("torch_mse_last", F(1, 2))])
def test_losses_by_hand(loss, scale):
    """y = w_hy h_1 = 2·(1·3) = 6 against targets [4, 8] read as one 2-entry output: squares 4 + 4."""
    got = answers({"x": [3], "w_in": 1, "w_hh": 1, "w_hy": [[2], [2]], "target": [4, 8], "loss": loss})
    assert got["loss"] == scale * 8          # torch's mean over the 2 entries is ½ of the sum, too


def test_kinds_says_what_the_losses_are():
    result = run_solver("kinds")
    assert result.returncode == 0
    assert "1/2 ‖y_L - y^*" in result.stdout and "nn.MSELoss()" in result.stdout and "without ½" in result.stdout


def test_the_prose_writes_its_formulas_as_math(tmp_path):
    """The explanations wrote h_0, y_t, δ_t = ∂ℓ/∂h_t, w_hh^t h_0 as text: literal underscores and carets in the PDF."""
    import yaml
    problems = [{"id": "a", "kind": "rnn", "given": {"x": [1, 2, 3], "w_in": 0.5, "w_hh": 0.5, "activation": "tanh",
                                                     "target": 1, "b": 0.1}},
                {"id": "b", "kind": "rnn", "given": {"x": ["x_1", "x_2"], "w_in": "w_in", "w_hh": "w_hh", "w_hy": "w_hy",
                                                     "target": "y_r", "h0": 0}},
                {"id": "c", "kind": "rnn", "given": {"x": [[1, 0], [0, 1], [1, 1]], "w_in": [[1, 0], [0, 1]],
                                                     "w_hh": [[0.5, 0], [0, 0.5]], "loss": "sse_all",
                                                     "target": [[1, 0], [0, 1], [1, 1]]}}]
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": problems}))
    result = run_solver("solve", path, "--format", "latex")
    assert result.returncode == 0, result.stderr
    body = result.stdout.partition(r"\begin{document}")[2]
    assert "\\_" not in body and "\\char94" not in body           # prose escapes the _ and ^ it prints
    assert r"$\delta_{t} = \frac{\partial \ell}{\partial h_{t}}$ collects the error" in result.stdout
