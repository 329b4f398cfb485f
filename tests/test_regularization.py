"""regularization against PyTorch: the penalty computed with torch ops on the tensors and its gradient by autograd
((data term + penalty).backward(), the data term Σ g·w having the given gradient g), the step against
torch.optim.SGD with weight_decay where that is the same update (halved L2, biases in a group without decay); each
mistake's wrong answer against an independent computation of it; the CLI as a user runs it."""
import json
import random
from fractions import Fraction

import numpy as np
import pytest

from conftest import compared_members, numeric, one_problem_file, require_module, run_solver
from corpus import draw_regularization

KIND = "regularization"


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def tensor(torch, value, grad=False):
    return torch.tensor(np.array(value, dtype=float), dtype=torch.float64, requires_grad=grad)


def torch_penalty(torch, given: dict, w: dict, biases_too=False):
    """R with torch ops on the tensors `w`: λ(ρ Σ|w| + c Σw²), c = 1 - ρ (halved: (1 - ρ)/2)."""
    kind_, lam, halved = given.get("kind", "l2"), float(given["lambda"]), given.get("halved", False)
    rho = {"l1": 1.0, "l2": 0.0}.get(kind_, float(given.get("l1_ratio", 0.5)))
    total = torch.zeros((), dtype=torch.float64)
    for name, value in w.items():
        if name in given.get("biases", []) and not biases_too:
            continue
        total = total + lam * rho * value.abs().sum() + lam * (1 - rho) * (0.5 if halved else 1) * value.pow(2).sum()
    return total


def torch_regularization(torch, given: dict, **options) -> dict:
    """PyTorch's penalty and autograd's gradient of data term + penalty; the step w - γ ∂L/∂w."""
    w = {name: tensor(torch, value, grad=True) for name, value in given["weights"].items()}
    data = sum((tensor(torch, given["data_grad"][name]) * value).sum() for name, value in w.items())
    penalty = torch_penalty(torch, given, w, **options)
    (data + penalty).backward()
    lr = float(given["lr"])
    found = {"penalty": penalty.item()}
    for name, value in w.items():
        found[f"grad_{name}"] = value.grad.numpy()
        found[f"updated_{name}"] = (value - lr * value.grad).detach().numpy()
    return found


def assert_close(ours, expected, what):
    ours = np.asarray(np.asarray(ours, dtype=object).astype(float))
    assert ours.shape == np.shape(expected) and np.allclose(ours, expected, rtol=1e-12, atol=1e-12), \
        (what, ours, expected)


def answers_of(given: dict) -> dict:
    k = kind()
    return {name: answer.value for name, answer in k.compute(k.read(given)).items()}


GIVENS = [draw_regularization(random.Random(f"regularization-{seed}")) for seed in range(80)]


@pytest.mark.torch
@pytest.mark.parametrize("given", GIVENS, ids=[f"random{i}" for i in range(len(GIVENS))])
def test_random_problems_agree_with_torch_and_autograd(given):
    torch = require_module("torch")
    answers = answers_of(given)
    expected = torch_regularization(torch, given)
    assert set(answers) == set(expected)
    for name, value in expected.items():
        assert_close(answers[name], value, name)


def test_the_random_problems_cover_every_option():
    assert {g["kind"] for g in GIVENS} == {"l2", "l1", "elastic"}
    assert any(g.get("halved") for g in GIVENS) and any(g.get("biases") for g in GIVENS)
    assert any("l1_ratio" in g for g in GIVENS) and any(g["kind"] == "elastic" and "l1_ratio" not in g
                                                        for g in GIVENS)
    assert any(g["kind"] != "l2" and 0 in np.ravel(np.array(list(g["weights"].values())[0], dtype=float))
               for g in GIVENS)


@pytest.mark.torch
@pytest.mark.parametrize("seed", range(30))
def test_halved_l2_steps_as_torch_optim_sgd_with_weight_decay(seed):
    """torch.optim.SGD(weight_decay=λ) adds λw to p.grad: the gradient of λ/2 ‖w‖². The biases sit in a
    parameter group with weight_decay 0."""
    torch = require_module("torch")
    given = draw_regularization(random.Random(f"sgd-{seed}"))
    given.update(kind="l2", halved=True)
    given.pop("l1_ratio", None)
    params = {name: tensor(torch, value, grad=True) for name, value in given["weights"].items()}
    biases = given.get("biases", [])
    groups = [{"params": [p for n, p in params.items() if n not in biases], "weight_decay": float(given["lambda"])},
              {"params": [p for n, p in params.items() if n in biases], "weight_decay": 0.0}]
    optimizer = torch.optim.SGD([g for g in groups if g["params"]], lr=float(given["lr"]))
    for name, p in params.items():
        p.grad = tensor(torch, given["data_grad"][name])
    optimizer.step()
    answers = answers_of(given)
    for name, p in params.items():
        assert_close(answers[f"updated_{name}"], p.detach().numpy(), name)


def test_exact_values():
    """Hand-worked: ‖W‖² = 0.25 + 1 + 0 + 4 = 5.25, R = 0.1 · 5.25 = 21/40; ∂L/∂W = G + 0.2 W; b unregularized."""
    answers = answers_of({"weights": {"W": [[0.5, -1], [0, 2]], "b": [0.1, -0.2]}, "biases": ["b"], "lambda": 0.1,
                          "data_grad": {"W": [[0.2, -0.4], [1, 0.5]], "b": [0.3, -0.1]}, "lr": 0.5})
    assert answers["penalty"] == Fraction(21, 40)
    assert answers["grad_W"].tolist() == [[Fraction(3, 10), Fraction(-3, 5)], [1, Fraction(9, 10)]]
    assert answers["grad_b"].tolist() == [Fraction(3, 10), Fraction(-1, 10)]
    assert answers["updated_W"].tolist() == [[Fraction(7, 20), Fraction(-7, 10)], [Fraction(-1, 2), Fraction(31, 20)]]
    assert answers["updated_b"].tolist() == [Fraction(-1, 20), Fraction(-3, 20)]


def test_answers_are_named_per_tensor_as_the_optimizer_names_its_state():
    k = kind()
    given = k.read({"weights": {"W": [1, 2], "b": 0.5}, "lambda": 0.1, "data_grad": {"W": [0, 0], "b": 1},
                    "lr": 0.1})
    assert k.answer_names(given) == ["penalty", "grad_W", "grad_b", "updated_W", "updated_b"]
    assert k.compute(given)["grad_b"].type == "rational"


# ---- mistakes ------------------------------------------------------------------------------------

def mistakes_of(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.cases(read) for m in k.mistakes}


MISTAKE_GIVEN = {"weights": {"W": [[0.5, 0], [-1, 2]], "b": [0.25, -0.5]}, "biases": ["b"], "kind": "elastic",
                 "l1_ratio": 0.5, "lambda": 0.2, "data_grad": {"W": [[0.1, 0.2], [0.3, -0.4]], "b": [1, -1]},
                 "lr": 0.5}


@pytest.mark.torch
def test_the_factor_two_is_the_other_halving_by_autograd():
    torch = require_module("torch")
    for halved in (False, True):
        given = {**MISTAKE_GIVEN, "halved": halved}
        [(where, found)] = mistakes_of(given)["regularization_factor_two"]
        expected = torch_regularization(torch, {**given, "halved": not halved})
        assert set(found) == {"penalty", "grad_W", "updated_W"}          # the bias is not penalised
        for name, value in found.items():
            assert_close(value, expected[name], name)


@pytest.mark.torch
def test_biases_regularized_is_the_penalty_on_every_tensor_by_autograd():
    torch = require_module("torch")
    [(where, found)] = mistakes_of(MISTAKE_GIVEN)["biases_regularized"]
    expected = torch_regularization(torch, MISTAKE_GIVEN, biases_too=True)
    assert set(found) == {"penalty", "grad_b", "updated_b"}
    for name, value in found.items():
        assert_close(value, expected[name], name)


@pytest.mark.torch
def test_the_subgradient_at_zero_taken_as_plus_or_minus_one():
    """torch.sign(0) is 0; the mistake's gradient has λρ·s at a weight 0, with s = 1 or -1 (torch.where)."""
    torch = require_module("torch")
    cases = dict(mistakes_of(MISTAKE_GIVEN)["l1_subgradient_at_zero"])
    w, lam, rho, lr = tensor(torch, MISTAKE_GIVEN["weights"]["W"]), 0.2, 0.5, 0.5
    right = torch_regularization(torch, MISTAKE_GIVEN)
    assert len(cases) == 2
    for s, found in zip((1, -1), cases.values()):
        sign = torch.where(w == 0, torch.full_like(w, float(s)), torch.sign(w))
        grad = torch.tensor(right["grad_W"]) + lam * rho * (sign - torch.sign(w))
        assert set(found) == {"grad_W", "updated_W"}
        assert_close(found["grad_W"], grad.numpy(), f"grad at sign(0) = {s}")
        assert_close(found["updated_W"], (w - lr * grad).numpy(), f"step at sign(0) = {s}")
    no_zero = {**MISTAKE_GIVEN, "weights": {"W": [[0.5, 1], [-1, 2]], "b": [0, 0]}}
    assert mistakes_of(no_zero)["l1_subgradient_at_zero"] == []          # a bias at 0 is not penalised
    assert mistakes_of({**MISTAKE_GIVEN, "kind": "l2", "l1_ratio": None})["l1_subgradient_at_zero"] == []


@pytest.mark.torch
def test_decay_after_the_step_takes_the_penalty_gradient_at_the_stepped_weights():
    torch = require_module("torch")
    [(where, found)] = mistakes_of(MISTAKE_GIVEN)["decay_after_step"]
    lr = MISTAKE_GIVEN["lr"]
    stepped = tensor(torch, MISTAKE_GIVEN["weights"]["W"]) - lr * tensor(torch, MISTAKE_GIVEN["data_grad"]["W"])
    stepped.requires_grad_(True)
    torch_penalty(torch, MISTAKE_GIVEN, {"W": stepped}).backward()
    assert set(found) == {"updated_W"}
    assert_close(found["updated_W"], (stepped - lr * stepped.grad).detach().numpy(), "decay after step")


def test_a_mistake_that_cannot_be_made_here_gives_nothing():
    plain_l1 = {"weights": {"w": [1, -2]}, "kind": "l1", "lambda": 0.1, "data_grad": {"w": [0, 0]}, "lr": 0.1}
    found = mistakes_of(plain_l1)
    assert found["regularization_factor_two"] == [("", {})]              # no squared norm to halve
    assert found["biases_regularized"] == [("", {})]                     # no bias
    assert found["l1_subgradient_at_zero"] == []                         # no weight at 0


# ---- the CLI --------------------------------------------------------------------------------------

def write_set(tmp_path, given, ask=None):
    return one_problem_file(tmp_path, KIND, given, ask)


CLI_GIVEN = {"weights": {"W": [[0.5, -1], [0, 2]], "b": [0.1, -0.2]}, "biases": ["b"], "lambda": 0.1,
             "data_grad": {"W": [[0.2, -0.4], [1, 0.5]], "b": [0.3, -0.1]}, "lr": 0.5}


def test_solve_and_check_a_vector_answer(tmp_path):
    path = write_set(tmp_path, CLI_GIVEN)
    result = run_solver("solve", path, "--format", "text")
    assert result.returncode == 0 and "2λW" in result.stdout and "R = 0.525" in result.stdout, result.stderr   # λ‖W‖² = 0.1 · 5.25, in decimals as given
    result = run_solver("check", path, "p:grad_b", "[0.3, -0.1]")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad_b", "[0.32, -0.14]", "--json")       # + 2λb: the bias penalised
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "biases_regularized", result.stdout
    result = run_solver("check", path, "p:grad_W", "[[0.25, -0.5], [1, 0.7]]", "--json")   # λW for 2λW
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "regularization_factor_two", result.stdout
    result = run_solver("check", path, "p:penalty", "0.525")
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_the_subgradient_at_zero(tmp_path):
    path = write_set(tmp_path, {**CLI_GIVEN, "kind": "l1"})
    result = run_solver("check", path, "p:grad_W", "[[0.3, -0.5], [1.1, 0.6]]", "--json")    # sign(0) = 1
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "l1_subgradient_at_zero", result.stdout


@pytest.mark.parametrize("change, field, words", [
    ({"biases": ["c"]}, "biases", "not a tensor of `weights`"),
    ({"data_grad": {"W": [[1, 2], [3, 4]], "b": [1, 2, 3]}}, "data_grad", "has shape 3 for b"),
    ({"data_grad": {"W": [1, 2, 3, 4], "b": [1, 2]}}, "data_grad", "W has shape 2×2"),
    ({"data_grad": {"W": [[1, 2], [3, 4]]}}, "data_grad", "no gradient for b"),
    ({"lambda": -0.1}, "lambda", "at least 0"),
    ({"lr": -1}, "lr", "at least 0"),
    ({"kind": "l3"}, "kind", "one of l2, l1, elastic"),
    ({"kind": "elastic", "l1_ratio": 1.5}, "l1_ratio", "between 0 and 1"),
    ({"l1_ratio": 0.5}, "l1_ratio", "kind: elastic"),
    ({"kind": "l1", "halved": True}, "halved", "squared norm"),
    ({"weights": [1, 2]}, "weights", "a mapping"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, change, field, words):
    path = write_set(tmp_path, {**CLI_GIVEN, **change})
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_lambda_is_named_lambda_in_the_file_and_in_the_kinds_listing(tmp_path):
    path = write_set(tmp_path, {key: value for key, value in CLI_GIVEN.items() if key != "lambda"})
    result = run_solver("solve", path)
    assert result.returncode == 2 and "field `lambda`: is required" in result.stderr, result.stderr
    listing = run_solver("kinds").stdout
    assert "lambda " in listing.split("regularization:")[1] and "lambda_" not in listing


# ---- the derivation ------------------------------------------------------------------------------

@pytest.mark.parametrize("given", GIVENS[:25], ids=[f"random{i}" for i in range(25)])
def test_every_displayed_equation_holds(given):
    """Each member of a line that has a value equals the line's last member (the letters' members have none)."""
    k = kind()
    assert compared_members(k.solve(k.read(given)), numeric, lambda a, b: np.allclose(a, b, rtol=1e-12)) >= 2


@pytest.mark.parametrize("ratio", [0, 1])
def test_elastic_at_either_end_shows_both_norms(ratio):
    """ρ = 0 or 1 leaves one norm times 0 in R: both norms are still worked out and every line prints (the
    norm left out was an empty member, and printing it crashed)."""
    from solver.math.printing import latex
    k = kind()
    given = {"weights": {"w": [0.8, -0.4, 0.7]}, "kind": "elastic", "l1_ratio": ratio, "lambda": 1,
             "data_grad": {"w": [-0.3, -1.5, 0.5]}, "lr": 0.05}
    solution = k.solve(k.read(given))
    printed = [latex(member) for step in solution.steps for line in step.math for member in line]
    assert any("1.9" == text for text in printed) and any("1.29" == text for text in printed)


@pytest.mark.parametrize("given", GIVENS, ids=[f"random{i}" for i in range(len(GIVENS))])
def test_every_line_prints(given):
    from solver.math.printing import latex
    k = kind()
    for step in k.solve(k.read(given)).steps:
        for line in step.math:
            assert all(latex(member) for member in line)


def test_a_problem_of_biases_alone_has_no_penalty(tmp_path):
    path = write_set(tmp_path, {"weights": {"b": [0.5, -1]}, "biases": ["b"], "lambda": 0.1,
                                "data_grad": {"b": [1, 2]}, "lr": 0.5})
    result = run_solver("solve", path, "--format", "text")
    assert result.returncode == 0 and "Every tensor is a bias" in result.stdout and "R = 0" in result.stdout
    result = run_solver("check", path, "p:grad_b", "[1.1, 1.8]", "--json")          # + 2λb: penalised
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "biases_regularized", result.stdout


def test_check_names_the_penalty_applied_after_the_step(tmp_path):
    """u = W - γG = [[0.4, -0.8], [-0.5, 1.75]]; then u - γ·2λu = 0.9u."""
    path = write_set(tmp_path, CLI_GIVEN)
    result = run_solver("check", path, "p:updated_W", "[[0.36, -0.72], [-0.45, 1.575]]", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "decay_after_step", result.stdout


def test_a_norm_with_its_order_prints_and_evaluates_exactly():
    """‖w‖₁ is the exact sum of the entries' sizes; ‖w‖₂² prints its order before the square; sign(0) = 0."""
    from solver.core.prose import math_to_text
    from solver.math.nodes import Apply, Array, Norm, Number, Power, Symbol
    from solver.math.printing import latex
    w = np.array([Fraction(1, 2), -1, 0], dtype=object)
    assert Norm(Array(w), 1).value() == Fraction(3, 2)
    assert latex(Power(Norm(Symbol("W"), 2))) == r"\left\lVert W \right\rVert_2^{2}"
    assert math_to_text(latex(Norm(Symbol("W"), 1))) == "‖W ‖_1"
    assert [Apply("sign", Number(x)).value() for x in (-2, 0, Fraction(1, 3))] == [-1, 0, 1]
