"""batchnorm against independent oracles.

Numbers come from PyTorch in float64: BatchNorm2d in training mode (per
channel; its running_var, after one step with momentum 1, is the unbiased
variance), BatchNorm1d on the flattened features (per feature), batch_norm on
a (B·C)×(H·W) view (per position), layer_norm on the whole batch as one row
(all), and torch.mean / torch.var over the right dimensions. The shipped
instance 2.5e and the counts are derived by hand below. Nothing expected is
copied from solver output.
"""
import json
import random
import textwrap
from fractions import Fraction

import numpy as np
import pytest
import sympy

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.core.errors import FieldError
from solver.kinds import get_kind
from solver.math.printing import latex

batchnorm = get_kind("batchnorm")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")

HW2 = ROOT / "problems" / "cpen455-hw2.yaml"
CHOICES = ("all", "channel", "position", "feature")
REDUCED = {"all": (0, 1, 2, 3), "channel": (0, 2, 3), "position": (0, 1), "feature": (0,)}
SEEDS = range(40)


def solve(given):
    return {name: a.value for name, a in batchnorm.solve(batchnorm.read(given)).answers.items()}


def as_float(value) -> np.ndarray:
    return np.array(np.asarray(value, dtype=object), dtype=float)


def output(answers, batch) -> np.ndarray:
    return np.stack([as_float(answers[f"output[{b + 1}]"]) for b in range(batch)])


# ---- torch as the oracle ----------------------------------------------------

def stats_shape(x, choice):
    return tuple(n for axis, n in enumerate(x.shape) if axis not in REDUCED[choice]) or (1,)


def torch_statistics(x, choice, unbiased=False):
    """(mean, variance) over the reduced dimensions, in the statistics' shape."""
    dims = REDUCED[choice]
    shape = stats_shape(x, choice)
    return (x.mean(dim=dims).reshape(shape),
            x.var(dim=dims, unbiased=unbiased).reshape(shape))


def weights(t, n):
    """γ or β as the n weights of a layer: its entries, or the one number n times."""
    return torch.broadcast_to(t.reshape(-1), (n,)) if t.dim() else t.expand(n)


def torch_output(x, choice, eps, gamma, beta):
    """PyTorch's own normalization layer for each choice, γ and β as its weight and bias.
    Its layers refuse ε = 0 in training, so there the formula is written with torch.mean/var."""
    b, c, h, w = x.shape
    if eps == 0:
        mean, variance = torch_statistics(x, choice)
        gamma = broadcast(gamma, x, choice) if gamma.dim() else gamma
        beta = broadcast(beta, x, choice) if beta.dim() else beta
        return gamma * (x - broadcast(mean, x, choice)) / broadcast(variance.sqrt(), x, choice) + beta
    if choice == "channel":
        layer = torch.nn.BatchNorm2d(c, eps=eps, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(weights(gamma, c))
            layer.bias.copy_(weights(beta, c))
        return layer.train()(x)
    if choice == "feature":
        layer = torch.nn.BatchNorm1d(c * h * w, eps=eps, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(weights(gamma, c * h * w))
            layer.bias.copy_(weights(beta, c * h * w))
        return layer.train()(x.reshape(b, -1)).reshape(x.shape)
    if choice == "position":
        rows = x.reshape(b * c, h * w)
        return F.batch_norm(rows, None, None, weights(gamma, h * w), weights(beta, h * w), training=True,
                            eps=eps).reshape(x.shape)
    flat = F.layer_norm(x.reshape(1, -1), (x.numel(),), eps=eps)
    return (flat * gamma + beta).reshape(x.shape)


def broadcast(values, x, choice):
    """Statistics-shaped values laid against X[b, c, h, w]."""
    keep = [n if axis not in REDUCED[choice] else 1 for axis, n in enumerate(x.shape)]
    return values.reshape(keep)


def random_case(rng: random.Random, choice: str, integers: bool):
    b, c, h, w = (rng.randint(1, 3) for _ in range(4))
    if choice == "feature" or rng.random() < 0.5:
        b = max(b, 2)      # one sample per feature gives variance 0
    cells = b * c * h * w
    values = ([rng.randint(-5, 9) for _ in range(cells)] if integers
              else [round(rng.uniform(-3, 3), 3) for _ in range(cells)])
    x = np.array(values, dtype=object).reshape(b, c, h, w)
    shape = stats_shape(x, choice)
    if rng.random() < 0.5 and choice != "all":
        gamma = np.array([rng.randint(-2, 3) for _ in range(int(np.prod(shape)))]).reshape(shape)
        beta = np.array([rng.choice([-1, 0, 0.5, 2]) for _ in range(int(np.prod(shape)))]).reshape(shape)
    else:
        gamma, beta = rng.choice([1, 2, -0.5]), rng.choice([0, 1, -2])
    given = {"input": x.tolist(), "statistics": choice, "eps": rng.choice([0, 1e-5, 0.1, 1]),
             "gamma": gamma.tolist() if isinstance(gamma, np.ndarray) else gamma,
             "beta": beta.tolist() if isinstance(beta, np.ndarray) else beta}
    return given


def tensors(given):
    x = torch.tensor(np.array(given["input"], dtype=float), dtype=torch.float64)
    gamma = torch.tensor(np.array(given["gamma"], dtype=float), dtype=torch.float64)
    beta = torch.tensor(np.array(given["beta"], dtype=float), dtype=torch.float64)
    return x, gamma, beta


def draw_valid(seed, choice, integers):
    """A random case the solver accepts (eps 0 with a constant group is redrawn)."""
    rng = random.Random(f"{seed}-{choice}-{integers}")
    for _ in range(100):
        given = random_case(rng, choice, integers)
        try:
            batchnorm.read(given)
            return given
        except FieldError:
            continue
    raise AssertionError("no valid case drawn (test bug)")


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("integers", [True, False])
@pytest.mark.parametrize("seed", SEEDS)
def test_statistics_and_output_match_torch(seed, choice, integers):
    given = draw_valid(seed, choice, integers)
    x, gamma, beta = tensors(given)
    answers = solve(given)
    mean, variance = torch_statistics(x, choice)
    np.testing.assert_allclose(as_float(answers["mean"]), mean.numpy(), rtol=1e-12, atol=1e-12, err_msg=str(given))
    np.testing.assert_allclose(as_float(answers["variance"]), variance.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_float(answers["std"]), variance.sqrt().numpy(), rtol=1e-12, atol=1e-12)
    expected = torch_output(x, choice, given["eps"], gamma, beta).detach().numpy()
    np.testing.assert_allclose(output(answers, x.shape[0]), expected, rtol=1e-9, atol=1e-9, err_msg=str(given))
    assert answers["statistics_shape"] == stats_shape(x, choice)
    assert answers["count"] * answers["statistics_count"] == x.numel()
    assert answers["count"] == x.numel() // int(np.prod(stats_shape(x, choice)))


@pytest.mark.parametrize("seed", range(10))
def test_unbiased_variance_is_batchnorm2d_running_var(seed):
    """BatchNorm2d keeps the unbiased variance in running_var; momentum 1 makes it exactly that."""
    given = draw_valid(seed, "channel", True)
    x, _, _ = tensors(given)
    layer = torch.nn.BatchNorm2d(x.shape[1], momentum=1.0, dtype=torch.float64).train()
    layer(x)
    answers = solve({**given, "unbiased": True})
    np.testing.assert_allclose(as_float(answers["variance"]), layer.running_var.numpy(), rtol=1e-12)
    np.testing.assert_allclose(as_float(solve(given)["variance"]),
                               x.var(dim=(0, 2, 3), unbiased=False).numpy(), rtol=1e-12, atol=1e-12)


# ---- mistakes, against torch --------------------------------------------------------

def mistake(name, given):
    m = next(m for m in batchnorm.mistakes if m.name == name)
    return m.cases(batchnorm.read(given))


@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("seed", range(8))
def test_mistakes_match_torch(seed, choice):
    given = draw_valid(seed, choice, False)
    x, gamma, beta = tensors(given)
    eps, batch = given["eps"], x.shape[0]
    mean, variance = torch_statistics(x, choice)
    gamma_b = broadcast(gamma, x, choice) if gamma.dim() else gamma
    beta_b = broadcast(beta, x, choice) if beta.dim() else beta
    centred = x - broadcast(mean, x, choice)

    [(_, found)] = mistake("variance_for_std", given)
    expected = gamma_b * centred / broadcast(variance + eps, x, choice) + beta_b
    np.testing.assert_allclose(output(found, batch), expected.numpy(), rtol=1e-9, atol=1e-9)

    [(_, found)] = mistake("eps_forgotten", given)
    if eps == 0:
        assert found == {}
    else:
        expected = torch_output(x, choice, 0.0, gamma, beta).detach().numpy()
        np.testing.assert_allclose(output(found, batch), expected, rtol=1e-9, atol=1e-9)

    [(_, found)] = mistake("unbiased_variance", given)
    if found:
        unbiased = torch_statistics(x, choice, unbiased=True)[1]
        expected = gamma_b * centred / broadcast((unbiased + eps).sqrt(), x, choice) + beta_b
        np.testing.assert_allclose(as_float(found["variance"]), unbiased.numpy(), rtol=1e-12)
        np.testing.assert_allclose(output(found, batch), expected.numpy(), rtol=1e-9, atol=1e-9)

    for where, found in mistake("wrong_axes", given):
        other = where.split()[0]
        if not found:
            continue
        wrong_mean, wrong_var = torch_statistics(x, other)
        normalized = (x - broadcast(wrong_mean, x, other)) / broadcast((wrong_var + eps).sqrt(), x, other)
        np.testing.assert_allclose(as_float(found["mean"]), wrong_mean.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(output(found, batch), (gamma_b * normalized + beta_b).numpy(),
                                   rtol=1e-9, atol=1e-9)


def test_wrong_axes_lists_every_other_choice():
    wheres = [where for where, _ in mistake("wrong_axes", {"input_shape": ["B", "C", "H", "W"]})]
    assert wheres == [f"{other} statistics instead of channel" for other in ("all", "position", "feature")]


# ---- the shipped instance, by hand ------------------------------------------------

def test_hw2_instance_by_hand():
    """2.5e: channel 1 holds 1,3,5,7,3,1,7,5 (sum 32), channel 2 holds 2,0,4,2,6,4,0,2 (sum 20).
    μ = 32/8 = 4 and 20/8 = 5/2. Squared distances: channel 1 9+1+1+9+1+9+9+1 = 40, channel 2
    1/4+25/4+9/4+1/4+49/4+9/4+25/4+1/4 = 30, so σ² = 40/8 = 5 and 30/8 = 15/4, σ = √5 and √15/2.
    With ε = 0, γ = (2, 1), β = (1, -1): Y[1,1,1,1] = 2(1 - 4)/√5 + 1 = 1 - 6/√5 and
    Y[2,2,1,1] = (6 - 5/2)/(√15/2) - 1 = 7/√15 - 1."""
    from solver.problems.load import load
    problem = load(HW2, only="2.5e").problems[0]
    answers = {n: a.value for n, a in batchnorm.solve(problem.given).answers.items()}
    assert list(answers["mean"]) == [4, Fraction(5, 2)]
    assert list(answers["variance"]) == [5, Fraction(15, 4)]
    assert [sympy.simplify(s - e) for s, e in zip(answers["std"], [sympy.sqrt(5), sympy.sqrt(15) / 2])] == [0, 0]
    assert sympy.simplify(answers["output[1]"][0, 0, 0] - (1 - 6 / sympy.sqrt(5))) == 0
    assert sympy.simplify(answers["output[2]"][1, 0, 0] - (7 / sympy.sqrt(15) - 1)) == 0
    assert answers["count"] == 8 and answers["statistics_count"] == 2 and answers["statistics_shape"] == (2,)


# ---- the general formulas -------------------------------------------------------

B, C, H, W = (sympy.Symbol(s, integer=True, positive=True) for s in "BCHW")
COUNTS = {"all": (B * C * H * W, 1), "channel": (B * H * W, C), "position": (B * C, H * W), "feature": (B, C * H * W)}


@pytest.mark.parametrize("choice", CHOICES)
def test_symbolic_counts(choice):
    answers = solve({"input_shape": ["B", "C", "H", "W"], "statistics": choice})
    count, statistics = COUNTS[choice]
    assert sympy.simplify(answers["count"] - count) == 0
    assert sympy.simplify(answers["statistics_count"] - statistics) == 0
    assert "statistics_shape" not in answers and "mean" not in answers


@pytest.mark.parametrize("choice", CHOICES)
def test_formula_sums_run_over_the_averaged_axes(choice):
    """The sums and the statistics' index: case 4 indexes σ² by c, h, w and centres with μ[c, h, w]."""
    kept = {"all": "", "channel": "c", "position": "h, w", "feature": "c, h, w"}[choice]
    summed = {"all": "bchw", "channel": "bhw", "position": "bc", "feature": "b"}[choice]
    steps = batchnorm.solve(batchnorm.read({"input_shape": ["B", "C", "H", "W"], "statistics": choice})).steps
    formulas = next(s for s in steps if s.title == "Formulas")
    variance = latex(formulas.math[1][1])
    sums = "".join(rf"\sum_{{{i}=1}}^{{{i.upper()}}} " for i in summed)
    mu = r"\mu" + (f"[{kept}]" if kept else "")
    assert sums in variance and rf"\left(X[b, c, h, w] - {mu}\right)^{{2}}" in variance
    assert variance.count(r"\sum") == len(summed)


@pytest.mark.parametrize("numbers, expected", [([2, 3, 4, 5], (2 * 4 * 5, 3)), ([1, 1, 2, 1], (2, 1))])
def test_numeric_shape_without_tensor(numbers, expected):
    answers = solve({"input_shape": numbers})
    assert (answers["count"], answers["statistics_count"]) == expected
    assert answers["statistics_shape"] == (numbers[1],)


@pytest.mark.parametrize("shape", [(1, 2, 1, 1), (1, 3, 1, 1)])
def test_one_value_per_statistic_is_refused_as_torch_refuses_it(shape):
    x = torch.arange(float(np.prod(shape)), dtype=torch.float64).reshape(shape)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm2d(shape[1], dtype=torch.float64).train()(x)
    with pytest.raises(FieldError) as refused:
        batchnorm.read({"input": x.numpy().astype(int).tolist()})
    assert refused.value.field == "input" and "at least 2" in str(refused.value)


# ---- as a student and an instructor use it ------------------------------------------------

@pytest.mark.parametrize("spec, text", [
    ("2.5e:std", "[sqrt(5), sqrt(15)/2]"),
    ("2.5e:std", "[2.236, 1.936]"),                         # decimals a student rounds
    ("2.5e:std", r"\begin{bmatrix} \sqrt{5} & \frac{\sqrt{15}}{2} \end{bmatrix}"),
    ("2.5e:mean", "[4, 2.5]"),
    ("2.5e:output[1]", "[[[-1.6833, 0.1056], [1.8944, 3.6833]], [[-1.2582, -2.2910], [-0.2254, -1.2582]]]"),
    ("2.5b:count", "B*H*W"),
    ("2.5b:count", r"B \cdot H \cdot W"),
    ("2.5d:statistics_count", "CHW"),
    ("2.5a:statistics_count", "1"),
])
def test_student_answers_check_correct(spec, text):
    result = run_solver("check", HW2, spec, text)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unbiased_variance_is_diagnosed():
    """By hand: 40/7 and 30/7 are the channel variances divided by N - 1 = 7."""
    result = run_solver("check", HW2, "2.5e:variance", "[5.714, 4.286]", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["mistake"] == "unbiased_variance"


def test_wrong_axes_is_diagnosed_for_a_formula():
    result = run_solver("check", HW2, "2.5b:count", "BCHW", "--json")
    data = json.loads(result.stdout)
    assert result.returncode == 1 and data["mistake"] == "wrong_axes"


def test_sheet_shows_the_sums():
    result = run_solver("solve", HW2, "--problem", "2.5d", "--format", "latex")
    assert result.returncode == 0, result.stderr
    assert r"\sum_{b=1}^{B}" in result.stdout and r"\mu[c, h, w]" in result.stdout


BAD = [
    ("input: [[[[1, 2]], [[3]]]]\n", "input", "not rectangular"),
    ("input: [[[[1, 2]], [[3, 4]]]]\ngamma: [1, 2, 3]\n", "gamma", "statistics' shape 2"),
    ("input: [[[[1, 2]], [[3, 4]]]]\neps: -1\n", "eps", "number >= 0"),
    ("input: [[[[1, 2]], [[3, 4]]]]\nstatistics: batch\n", "statistics", "one of all, channel, position, feature"),
    ("input: [[[[1, 1]], [[3, 3]]]]\neps: 0\n", "eps", "divide by 0"),
    ("input_shape: [B, C, H, W]\nbeta: 2\n", "beta", "needs `input`"),
    ("input: [[[[1, 2]], [[3, 4]]]]\nstatistics: feature\n", "input", "at least 2"),
    ("input_shape: [B, C, H]\n", "input_shape", "[B, C, H, W]"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_input_names_file_problem_and_field(tmp_path, given, field, words):
    body = textwrap.indent(given, " " * 6)
    path = tmp_path / "bad.yaml"
    path.write_text(f'title: T\nproblems:\n  - id: "p1"\n    kind: batchnorm\n    given:\n{body}')
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


# ---- unbiased: only the variance reported changes (issue 10) ------------------------

@pytest.mark.parametrize("choice", CHOICES)
@pytest.mark.parametrize("seed", range(8))
def test_unbiased_reports_torch_var_and_keeps_batchnorm_output(seed, choice):
    """The output is BatchNorm's (biased variance) whatever `unbiased` says; the variance and σ
    reported are torch.var / torch.std with unbiased=True."""
    given = {**draw_valid(seed, choice, seed % 2 == 0), "unbiased": True}
    x, gamma, beta = tensors(given)
    answers = solve(given)
    dims = REDUCED[choice]
    shape = stats_shape(x, choice)
    np.testing.assert_allclose(as_float(answers["variance"]), x.var(dim=dims, unbiased=True).reshape(shape).numpy(),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(as_float(answers["std"]), x.std(dim=dims, unbiased=True).reshape(shape).numpy(),
                               rtol=1e-12, atol=1e-12)
    expected = torch_output(x, choice, given["eps"], gamma, beta).detach().numpy()
    np.testing.assert_allclose(output(answers, x.shape[0]), expected, rtol=1e-9, atol=1e-9, err_msg=str(given))


@pytest.mark.parametrize("seed", range(6))
def test_unbiased_output_is_batchnorm2d_in_training(seed):
    given = {**draw_valid(seed, "channel", True), "unbiased": True}
    x, gamma, beta = tensors(given)
    layer = torch.nn.BatchNorm2d(x.shape[1], eps=given["eps"] or 1e-5, dtype=torch.float64).train()
    with torch.no_grad():
        layer.weight.copy_(weights(gamma, x.shape[1]))
        layer.bias.copy_(weights(beta, x.shape[1]))
    given["eps"] = layer.eps
    np.testing.assert_allclose(output(solve(given), x.shape[0]), layer(x).detach().numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_unbiased_problem_mistakes_match_torch(seed):
    """Where the problem reports the unbiased variance: reporting the biased one, or normalizing
    the output with the unbiased one, are each diagnosed (torch computes both wrong answers)."""
    given = {**draw_valid(seed, "channel", False), "unbiased": True}
    x, gamma, beta = tensors(given)
    cases = dict(mistake("unbiased_variance", given))
    np.testing.assert_allclose(as_float(cases["the variance reported"]["variance"]),
                               x.var(dim=(0, 2, 3), unbiased=False).numpy(), rtol=1e-12, atol=1e-12)
    unbiased = broadcast(x.var(dim=(0, 2, 3), unbiased=True), x, "channel")
    centred = x - broadcast(x.mean(dim=(0, 2, 3)), x, "channel")
    g = broadcast(gamma, x, "channel") if gamma.dim() else gamma
    b = broadcast(beta, x, "channel") if beta.dim() else beta
    expected = g * centred / (unbiased + given["eps"]).sqrt() + b
    np.testing.assert_allclose(output(cases["the output"], x.shape[0]), expected.numpy(), rtol=1e-9, atol=1e-9)


def test_unbiased_derivation_says_the_output_uses_the_biased_variance():
    given = {"input": [[[[1, 2], [3, 5]]], [[[0, 4], [2, 7]]]], "unbiased": True}
    text = "\n".join(f"{s.title}: {s.text}" for s in batchnorm.solve(batchnorm.read(given)).steps)
    assert "not the output" in text and "uses σ²" in text


def test_eps_is_written_one_way_in_formulas_and_prose():
    """ε was \\epsilon (ϵ) in the formulas but \\varepsilon (ε) in the text below them."""
    steps = batchnorm.solve(batchnorm.read({"input": [[[[1, 2]]], [[[3, 5]]]]})).steps
    normalized = latex(next(s for s in steps if s.title == "Formulas").math[-2][1])
    assert r"\varepsilon" in normalized and r"\epsilon" not in normalized
    assert r"\varepsilon" in next(s for s in steps if s.title == "Normalized output").text
