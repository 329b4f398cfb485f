"""normalization against PyTorch.

Every number comes from PyTorch in float64: F.batch_norm (training), F.layer_norm,
F.instance_norm and F.group_norm for the output, autograd through them for the gradients,
torch.var_mean over the statistic's entries for the means and variances. PyTorch's batch norm
refuses ε = 0 in training, so there (and for the mistakes' wrong answers) the normalization is
written with torch ops and differentiated by autograd: μ and σ² detached for the backward pass
that holds them constant, torch.var(unbiased=True) for the unbiased normalization, another type's
statistics for the wrong axes, each sample's loss alone for γ's and β's gradients not summed.
The shipped batch-norm backward problem is also worked by hand below. Nothing expected is
copied from solver output.
"""
import json
import random
from fractions import Fraction

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, compared_members, numeric, one_problem_file, optional_module, \
    run_solver
from solver.core.errors import FieldError
from solver.kinds import get_kind

torch = optional_module("torch")       # a test that uses torch skips alone without it (fails in CI)

KIND = "normalization"
TRAINING = ROOT / "problems" / "training-step.yaml"
TYPES = ("batch", "layer", "instance", "group")


def kind():
    return get_kind(KIND)


def as_float(value) -> np.ndarray:
    return np.array(np.asarray(value, dtype=object), dtype=float)


def solved(given: dict) -> dict:
    k = kind()
    return {name: answer.value for name, answer in k.compute(k.read(given)).items()}


# ---- torch as the oracle ------------------------------------------------------------------------

def t(value):
    return torch.tensor(np.array(value, dtype=float), dtype=torch.float64)


def weight_shape(raw) -> tuple:
    shape = np.shape(raw["input"])
    return shape[1:] if raw.get("type", "batch") == "layer" else shape[1:2]


def parameter(raw, name, default):
    """γ or β as PyTorch's weight or bias: the given list, or one number in every entry."""
    value = raw.get(name, default)
    shape = weight_shape(raw)
    return (t(value) if isinstance(value, list) else torch.full(shape, float(value), dtype=torch.float64)) \
        .requires_grad_()


def per_channel(p, x, kind):
    """γ or β laid against x: elementwise for layer norm, along the channel axis otherwise."""
    return p if kind == "layer" else p.reshape([1, -1] + [1] * (x.dim() - 2))


def normalized(x, kind, groups, eps, unbiased=False, detach=False):
    """(x̂, μ, σ²) written with torch ops: μ and σ² in the statistics' shape (B×F batch: F; batch: C;
    layer: B; instance: B×C; group: B×G)."""
    b = x.shape[0]
    if kind == "batch":
        rows = x.transpose(0, 1).reshape(x.shape[1], -1)                    # C × (B·H·W)
    elif kind == "layer":
        rows = x.reshape(b, -1)
    elif kind == "instance":
        rows = x.reshape(b * x.shape[1], -1)
    else:
        rows = x.reshape(b * groups, -1)
    var, mean = torch.var_mean(rows, dim=1, unbiased=unbiased, keepdim=True)
    if detach:
        var, mean = var.detach(), mean.detach()
    out = (rows - mean) / (var + eps).sqrt()
    if kind == "batch":
        xhat = out.reshape(x.shape[1], b, *x.shape[2:]).transpose(0, 1)
    else:
        xhat = out.reshape(x.shape)
    shape = {"batch": (x.shape[1],), "layer": (b,), "instance": (b, x.shape[1]),
             "group": (b, groups)}[kind]
    return xhat, mean.reshape(shape), var.reshape(shape)


def pytorch_output(x, raw, gamma, beta):
    """The output by PyTorch's own function for the type."""
    F = torch.nn.functional
    kind, eps, groups = raw.get("type", "batch"), raw.get("eps", 1e-5), raw.get("groups")
    if kind == "batch" and eps == 0:           # F.batch_norm refuses ε = 0 in training
        return per_channel(gamma, x, kind) * normalized(x, kind, groups, 0)[0] + per_channel(beta, x, kind)
    return {"batch": lambda: F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps),
            "layer": lambda: F.layer_norm(x, tuple(x.shape[1:]), gamma, beta, eps=eps),
            "instance": lambda: F.instance_norm(x, weight=gamma, bias=beta, eps=eps),
            "group": lambda: F.group_norm(x, groups, gamma, beta, eps=eps)}[kind]()


def with_gradients(x, y, gamma, beta, raw) -> dict:
    answers = {"output": y.detach().numpy()}
    if raw.get("upstream") is not None:
        y.backward(t(raw["upstream"]))
        answers |= {"grad_input": x.grad.numpy(), "grad_gamma": gamma.grad.numpy(),
                    "grad_beta": beta.grad.numpy()}
    return answers


def torch_answers(torch_module, raw) -> dict:
    """What PyTorch makes of a problem: statistics, output and, with upstream, the three gradients."""
    kind, groups = raw.get("type", "batch"), raw.get("groups")
    x = t(raw["input"]).requires_grad_()
    gamma, beta = parameter(raw, "gamma", 1), parameter(raw, "beta", 0)
    _, mean, var = normalized(x.detach(), kind, groups, 0)
    return {"mean": mean.numpy(), "variance": var.numpy()} | with_gradients(x, pytorch_output(x, raw, gamma, beta),
                                                                          gamma, beta, raw)


def wrong_answers(raw, statistics=None, **options) -> dict:
    """The answers of a normalization written with torch ops: another type's `statistics` (γ and β
    still indexed by the problem's type), or `normalized`'s options (unbiased, detach)."""
    kind, groups, eps = raw.get("type", "batch"), raw.get("groups"), raw.get("eps", 1e-5)
    x = t(raw["input"]).requires_grad_()
    gamma, beta = parameter(raw, "gamma", 1), parameter(raw, "beta", 0)
    xhat, mean, var = normalized(x, statistics or kind, groups, eps, **options)
    y = per_channel(gamma, x, kind) * xhat + per_channel(beta, x, kind)
    return {"mean": mean.detach().numpy(), "variance": var.detach().numpy()} | with_gradients(x, y, gamma, beta,
                                                                                              raw)


def assert_close(ours, expected, what, tolerance=1e-9):
    ours = as_float(ours)
    assert ours.shape == np.shape(expected), (what, ours.shape, np.shape(expected))
    assert np.allclose(ours, expected, rtol=tolerance, atol=tolerance), (what, ours, expected)


# ---- random problems of every type, rank, affine and backward ----------------------------------

def draw(rng: random.Random, kind_name: str, rank: int, affine: bool, upstream: bool) -> dict:
    if rank == 2:
        shape = [rng.randint(2, 4), rng.choice([2, 3, 4, 6])]
    else:
        shape = [rng.randint(1, 2), rng.choice([2, 3, 4]), rng.randint(1, 3), rng.randint(1, 3)]
        if kind_name == "instance" and shape[2] * shape[3] == 1:
            shape[3] = 2
        if kind_name == "batch" and shape[0] * shape[2] * shape[3] == 1:
            shape[0] = 2
    integers = rng.random() < 0.6
    cells = int(np.prod(shape))
    values = [rng.randint(-4, 6) if integers else round(rng.uniform(-3, 3), 2) for _ in range(cells)]
    given = {"input": np.array(values).reshape(shape).tolist(), "type": kind_name,
             "eps": rng.choice([0, 1e-5, 0.01, 0.5, 1])}
    if kind_name == "group":
        given["groups"] = rng.choice([g for g in range(1, shape[1] + 1) if shape[1] % g == 0])
    if affine:
        weight = shape[1:] if kind_name == "layer" else shape[1:2]
        size = int(np.prod(weight))
        if rng.random() < 0.8:
            given["gamma"] = np.array([rng.choice([-2, -1, 0.5, 1, 2, 3]) for _ in range(size)]).reshape(weight).tolist()
            given["beta"] = np.array([rng.choice([-1, 0, 0.25, 2]) for _ in range(size)]).reshape(weight).tolist()
        else:
            given["gamma"], given["beta"] = rng.choice([2, -0.5]), rng.choice([1, -3])
    if upstream:
        given["upstream"] = np.array([rng.randint(-3, 3) if rng.random() < 0.7 else round(rng.uniform(-2, 2), 2)
                                      for _ in range(cells)]).reshape(shape).tolist()
    return given


def draw_valid(seed, kind_name, rank, affine, upstream) -> dict:
    """A random problem the kind accepts (ε = 0 with a constant statistic is drawn again)."""
    rng = random.Random(f"{seed}-{kind_name}-{rank}-{affine}-{upstream}")
    for _ in range(100):
        given = draw(rng, kind_name, rank, affine, upstream)
        try:
            kind().read(given)
        except FieldError:
            continue
        return given
    raise AssertionError("no valid problem drawn (test bug)")


CASES = [(k, rank) for k in TYPES for rank in (2, 4) if (k, rank) != ("instance", 2)]


@pytest.mark.torch
@pytest.mark.parametrize("kind_name, rank", CASES)
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("upstream", [True, False], ids=["backward", "forward"])
@pytest.mark.parametrize("seed", range(6))
def test_random_problems_agree_with_pytorch(seed, kind_name, rank, affine, upstream):
    given = draw_valid(seed, kind_name, rank, affine, upstream)
    answers = solved(given)
    expected = torch_answers(torch, given)
    assert set(answers) == set(expected), (set(answers), set(expected))
    for name, value in expected.items():
        assert_close(answers[name], value, f"{name} of {given}")


@pytest.mark.torch
@pytest.mark.parametrize("kind_name", TYPES)
def test_gamma_and_its_gradient_have_the_shape_of_pytorchs_weight(kind_name):
    """LayerNorm's weight is the normalized shape; BatchNorm's, InstanceNorm's (affine) and
    GroupNorm's one per channel."""
    x = np.arange(2 * 4 * 3 * 2).reshape(2, 4, 3, 2) % 7
    module = {"batch": lambda: torch.nn.BatchNorm2d(4), "layer": lambda: torch.nn.LayerNorm([4, 3, 2]),
              "instance": lambda: torch.nn.InstanceNorm2d(4, affine=True),
              "group": lambda: torch.nn.GroupNorm(2, 4)}[kind_name]()
    given = {"input": x.tolist(), "type": kind_name, "upstream": np.ones_like(x).tolist(),
             "gamma": np.ones(tuple(module.weight.shape), dtype=int).tolist()}
    if kind_name == "group":
        given["groups"] = 2
    answers = solved(given)
    assert np.shape(answers["grad_gamma"]) == tuple(module.weight.shape) == np.shape(answers["grad_beta"])


@pytest.mark.torch
def test_exact_answers_are_exact():
    """Integers and ε = 0: fractions where √σ² is rational, radicals where it is not, as sympy
    would write them; their values are PyTorch's."""
    given = {"input": [[1, 2], [3, 6], [5, 4], [7, 0]], "eps": 0, "upstream": [[1, 0], [2, 1], [0, -1], [-1, 2]]}
    answers = solved(given)
    assert list(answers["mean"]) == [4, 3] and list(answers["variance"]) == [5, 5]
    assert all(type(v).__module__.startswith("sympy") for v in answers["output"].flat if v != 0)
    assert list(answers["grad_beta"]) == [2, 2]
    for name, value in torch_answers(torch, given).items():
        assert_close(answers[name], value, name, 1e-12)


# ---- the shipped problems ---------------------------------------------------------------------------

def shipped(problem_id):
    from solver.problems.load import load
    return load(TRAINING, only=problem_id).problems[0]


def test_batch_norm_backward_by_hand():
    """T.20: feature 1 holds 3, 3, -3, 5 (μ = 2, distances 1, 1, -5, 3, σ² = 36/4 = 9, σ = 3), feature 2
    1, 7, 9, 7 (μ = 6, distances -5, 1, 3, 1, σ² = 9): x̂ = (1/3, 1/3, -5/3, 1) and (-5/3, 1/3, 1, 1/3).
    γ = (2, -1), β = (0, 1): y = (2/3, 2/3, -10/3, 2) and (8/3, 2/3, 0, 2/3).
    dy = (1, -1, 0, 2) and (0, 2, 1, -1): ∂ℓ/∂β = (2, 2); ∂ℓ/∂γ = (1/3 - 1/3 + 0 + 2, 0 + 2/3 + 1 - 1/3) = (2, 4/3).
    ∂ℓ/∂x̂ = γ·dy = (2, -2, 0, 4) and (0, -2, -1, 1); m₁ = (1, -1/2); m₂ = mean(∂ℓ/∂x̂·x̂) = (4/4, -4/3/4) = (1, -1/3).
    ∂ℓ/∂x = (∂ℓ/∂x̂ - m₁ - x̂·m₂)/3: feature 1 (2 - 1 - 1/3, -2 - 1 - 1/3, 0 - 1 + 5/3, 4 - 1 - 1)/3
    = (2/9, -10/9, 2/9, 2/3); feature 2 (0 + 1/2 - 5/9, -2 + 1/2 + 1/9, -1 + 1/2 + 1/3, 1 + 1/2 + 1/9)/3
    = (-1/54, -25/54, -1/18, 29/54)."""
    problem = shipped("T.20")
    k = kind()
    answers = {n: a.value for n, a in k.compute(problem.given).items()}
    F = Fraction
    assert answers["mean"].tolist() == [2, 6] and answers["variance"].tolist() == [9, 9]
    assert answers["output"].tolist() == [[F(2, 3), F(8, 3)], [F(2, 3), F(2, 3)], [F(-10, 3), 0], [2, F(2, 3)]]
    assert answers["grad_beta"].tolist() == [2, 2] and answers["grad_gamma"].tolist() == [2, F(4, 3)]
    assert answers["grad_input"].tolist() == [[F(2, 9), F(-1, 54)], [F(-10, 9), F(-25, 54)], [F(2, 9), F(-1, 18)],
                                              [F(2, 3), F(29, 54)]]


@pytest.mark.torch
@pytest.mark.parametrize("problem_id", ["T.20", "T.21", "T.22"])
def test_shipped_problems_agree_with_pytorch(problem_id):
    raw = shipped_given(problem_id)
    answers = solved(raw)
    for name, value in torch_answers(torch, raw).items():
        assert_close(answers[name], value, f"{problem_id} {name}")


@pytest.mark.parametrize("problem_id", ["T.20", "T.21", "T.22"])
def test_every_displayed_equation_holds(problem_id):
    k = kind()
    problem = shipped(problem_id)
    checked = compared_members(k.solve(problem.given), numeric, lambda a, b: np.allclose(a, b, rtol=1e-9))
    assert checked >= 20


@pytest.mark.parametrize("seed", range(8))
def test_every_displayed_equation_holds_in_random_problems(seed):
    rng = random.Random(seed)
    kind_name, rank = rng.choice(CASES)
    given = draw_valid(seed, kind_name, rank, True, True)
    k = kind()
    checked = compared_members(k.solve(k.read(given)), numeric, lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12))
    assert checked >= 10


# ---- mistakes, each against an independent computation of its wrong answer ----------------------------

def mistake_cases(name, given) -> list:
    k = kind()
    return next(m for m in k.mistakes if m.name == name).cases(k.read(given))


def assert_answers(found: dict, expected: dict, names, what):
    assert found, what
    for name in names:
        assert_close(found[name], expected[name], f"{what}: {name}")


@pytest.mark.torch
@pytest.mark.parametrize("kind_name, rank", CASES)
@pytest.mark.parametrize("seed", range(4))
def test_mistakes_agree_with_independent_computations(seed, kind_name, rank):
    given = draw_valid(seed, kind_name, rank, True, True)
    [(_, found)] = mistake_cases("statistics_held_constant", given)
    assert set(found) == {"grad_input"}
    assert_answers(found, wrong_answers(given, detach=True), ["grad_input"], "μ, σ² constant")

    [(_, found)] = mistake_cases("unbiased_variance", given)
    if found:                                                  # {} where a statistic has one value (N − 1 = 0)
        assert_answers(found, wrong_answers(given, unbiased=True), ["variance", "output", "grad_input", "grad_gamma"],
                       "N − 1")

    [(_, found)] = mistake_cases("parameter_gradient_not_summed", given)
    x = t(given["input"])
    assert bool(found) == (x.shape[0] > 1)
    for b in range(x.shape[0] if found else 0):
        one = dict(given, upstream=(t(given["upstream"]) * (torch.arange(x.shape[0]) == b).reshape(
            [-1] + [1] * (x.dim() - 1))).tolist())
        alone = wrong_answers(one)
        assert_close(found["grad_gamma"][b], alone["grad_gamma"], f"∂ℓ/∂γ of sample {b + 1}")
        assert_close(found["grad_beta"][b], alone["grad_beta"], f"∂ℓ/∂β of sample {b + 1}")

    [(_, found)] = mistake_cases("eps_forgotten", given)
    if given["eps"] == 0:
        assert found == {}
    elif found:                                                # {} where a statistic is constant
        assert_answers(found, wrong_answers(dict(given, eps=0)), ["output", "grad_input"], "ε forgotten")

    [(_, found)] = mistake_cases("variance_for_std", given)
    groups = given.get("groups")
    _, mean, var = normalized(x, kind_name, groups, 0)
    gamma, beta = parameter(given, "gamma", 1), parameter(given, "beta", 0)
    divided = (x - laid(mean, x, kind_name, groups)) / (laid(var, x, kind_name, groups) + given["eps"])
    expected = per_channel(gamma, x, kind_name) * divided + per_channel(beta, x, kind_name)
    assert set(found) == {"output"}
    assert_close(found["output"], expected.detach().numpy(), "σ² for σ")

    for where, found in mistake_cases("wrong_axes", given):
        other = where.split()[0]
        if found:
            assert_answers(found, wrong_answers(given, statistics=other), ["mean", "variance", "output", "grad_input",
                                                                           "grad_gamma", "grad_beta"], where)


def laid(values, x, kind_name, groups):
    """A statistics-shaped tensor laid against every entry of x."""
    b = x.shape[0]
    if kind_name == "batch":
        return values.reshape([1, -1] + [1] * (x.dim() - 2)).expand(x.shape)
    if kind_name == "layer":
        return values.reshape([b] + [1] * (x.dim() - 1)).expand(x.shape)
    if kind_name == "instance":
        return values.reshape(b, -1, 1, 1).expand(x.shape)
    per = x.shape[1] // groups
    return values.reshape(b, groups, 1).expand(b, groups, per * int(np.prod(x.shape[2:]))).reshape(x.shape)


def test_wrong_axes_lists_the_other_types():
    four = {"input": np.arange(16).reshape(2, 2, 2, 2).tolist(), "type": "group", "groups": 2}
    assert [w for w, _ in mistake_cases("wrong_axes", four)] == [
        "batch statistics instead of group", "layer statistics instead of group", "instance statistics instead of group"]
    two = {"input": [[1, 2], [3, 5]], "type": "layer"}
    assert [w for w, _ in mistake_cases("wrong_axes", two)] == ["batch statistics instead of layer"]


def test_backward_mistakes_need_the_upstream():
    given = {"input": [[1, 2], [3, 5]]}
    assert mistake_cases("statistics_held_constant", given) == [("", {})]
    assert mistake_cases("parameter_gradient_not_summed", given) == [("", {})]


def test_one_sample_has_no_batch_to_sum_over():
    """With B = 1 the gradients of γ and β per sample are the gradients themselves: not a mistake."""
    given = {"input": [[[[1, 2], [4, 3]]]], "type": "instance", "upstream": [[[[1, 0], [2, 1]]]]}
    assert mistake_cases("parameter_gradient_not_summed", given) == [("", {})]


# ---- as a student and an instructor use it ---------------------------------------------------------------

@pytest.mark.parametrize("spec, text", [
    ("T.20:grad_input", "[[2/9, -1/54], [-10/9, -25/54], [2/9, -1/18], [2/3, 29/54]]"),
    ("T.20:grad_input", "[[0.2222, -0.01852], [-1.111, -0.463], [0.2222, -0.05556], [0.6667, 0.537]]"),
    ("T.20:grad_gamma", "[2, 4/3]"),
    ("T.20:mean", "[2, 6]"),
    ("T.21:variance", "[9, 4]"),                 # distances -5, 1, 1, 3 and 2, -2, 2, -2
])
def test_right_answers_check_correct(spec, text):
    result = run_solver("check", TRAINING, spec, text)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("spec, text, mistake", [
    # μ and σ constant: ∂ℓ/∂x = γ·dy/3 (by hand from T.20's γ·dy: 2, -2, 0, 4 and 0, -2, -1, 1)
    ("T.20:grad_input", "[[2/3, 0], [-2/3, -2/3], [0, -1/3], [4/3, 1/3]]", "statistics_held_constant"),
    # one ∂ℓ/∂β per sample: the upstream rows themselves
    ("T.20:grad_beta", "[[1, 0], [-1, 2], [0, 1], [2, -1]]", "parameter_gradient_not_summed"),
])
def test_mistakes_are_named(spec, text, mistake):
    result = run_solver("check", TRAINING, spec, text, "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == mistake, result.stdout


def nested_text(values: np.ndarray) -> str:
    """A tensor as a student types it, each entry to 5 significant figures (torch's rounding error
    at 0, -1.1e-16, written 0)."""
    if values.ndim == 0:
        return f"{round(float(values), 12) + 0.0:.5g}"
    return "[" + ", ".join(nested_text(v) for v in values) + "]"


def shipped_given(problem_id) -> dict:
    import yaml
    return next(p for p in yaml.safe_load(TRAINING.read_text())["problems"] if p["id"] == problem_id)["given"]


@pytest.mark.torch
def test_a_four_axis_output_checks_and_another_types_statistics_are_named():
    """T.22's 1×4×2×2 output typed as a nested list is read and checked; the output of instance norm
    (F.instance_norm), where group norm was asked, is diagnosed as the wrong axes."""
    x = t(shipped_given("T.22")["input"])
    right = torch.nn.functional.group_norm(x, 2, eps=1e-5).numpy()
    result = run_solver("check", TRAINING, "T.22:output", nested_text(right))
    assert result.returncode == 0, result.stdout + result.stderr
    wrong = torch.nn.functional.instance_norm(x, eps=1e-5).numpy()
    result = run_solver("check", TRAINING, "T.22:output", nested_text(wrong), "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "wrong_axes", result.stdout


@pytest.mark.torch
def test_an_eps_in_scientific_notation_is_the_number(tmp_path):
    """YAML 1.1 reads `eps: 1e-1` as text; a problem file means the number: F.layer_norm with eps = 0.1."""
    path = tmp_path / "set.yaml"
    path.write_text("title: t\nproblems:\n  - id: p\n    kind: normalization\n"
                    "    given: {type: layer, input: [[1, 2, 4]], eps: 1e-1}\n")
    right = torch.nn.functional.layer_norm(t([[1, 2, 4]]), (3,), eps=0.1).numpy()
    result = run_solver("check", path, "p:output", nested_text(right))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unbiased_variance_is_named():
    """T.21 by hand: the squared distances sum to 36 and 16; divided by N − 1 = 3, 12 and 16/3."""
    result = run_solver("check", TRAINING, "T.21:variance", "[12, 16/3]", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "unbiased_variance", result.stdout


def test_batchnorm_stays_a_kind():
    result = run_solver("kinds")
    assert result.returncode == 0 and "batchnorm" in result.stdout and "normalization" in result.stdout


BAD = [
    ({"input": [[[[1, 2]], [[3, 4]], [[5, 6]]]], "type": "group", "groups": 2}, "groups", "one of 1, 3"),
    ({"input": [[[[1, 2]], [[3, 4]]]], "type": "group"}, "groups", "needed with type group"),
    ({"input": [[1, 2], [3, 4]], "type": "layer", "groups": 2}, "groups", "only for type group"),
    ({"input": [[1, 2], [3, 4]], "type": "instance"}, "type", "needs a B×C×H×W input"),
    ({"input": [[[[1]], [[2]]], [[[3]], [[4]]]], "type": "instance"}, "input", "single value"),
    ({"input": [[1, 2], [3, 4]], "upstream": [[1, 2]]}, "upstream", "the input's, 2×2"),
    ({"input": [[1, 2], [3, 4]], "gamma": [1, 2, 3]}, "gamma", "weight shape 2"),
    ({"input": [[1, 2], [3, 4]], "type": "layer", "beta": [[1, 2]]}, "beta", "weight shape 2"),
    ({"input": [[[[1, 2]], [[3, 4]]]], "type": "layer", "gamma": [1, 2]}, "gamma", "weight shape 2×1×2"),
    ({"input": [[1, 2, 3]]}, "input", "PyTorch refuses that in training"),
    ({"input": [[1, 2], [3, 4]], "eps": -0.1}, "eps", "number >= 0"),
    ({"input": [[1, 2], [1, 4]], "eps": 0}, "eps", "divide by 0"),
    ({"input": [1, 2, 3]}, "input", "a B×F matrix or a B×C×H×W tensor"),
    ({"input": [[1, 2], [3, 4]], "type": "batchnorm"}, "type", "one of batch, layer, instance, group"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = one_problem_file(tmp_path, KIND, given)
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


@pytest.mark.parametrize("kind_name, function", [("batch", "F.batch_norm"), ("layer", "F.layer_norm"),
                                                 ("instance", "F.instance_norm"), ("group", "F.group_norm")])
def test_the_derivation_states_pytorchs_convention(kind_name, function):
    given = {"input": np.arange(16).reshape(2, 2, 2, 2).tolist(), "type": kind_name,
             "upstream": np.ones((2, 2, 2, 2), dtype=int).tolist()}
    if kind_name == "group":
        given["groups"] = 2
    k = kind()
    steps = k.solve(k.read(given)).steps
    convention = steps[0].text
    assert function in convention and "biased" in convention and "ε" in convention


def test_a_long_tensor_shows_its_first_entries_and_says_the_rest_follow():
    """2×4×4×4 = 128 entries, 32 per channel: the sums elide their middle terms, the output and the
    gradients show their first entries and say the others follow the same rule."""
    x = (np.arange(128).reshape(2, 4, 4, 4) * 7) % 11
    k = kind()
    solution = k.solve(k.read({"input": x.tolist(), "upstream": (x % 3 - 1).tolist(), "gamma": [1, 2, 3, 4]}))
    steps = {step.title: step for step in solution.steps}
    assert "The output has 128 entries; the first 4 are shown" in steps["Normalized output"].text
    assert "the first 4 are shown" in steps["Gradient of the input"].text
    assert len(steps["Gradient of the normalized input"].math) == 1 + 4
    assert compared_members(solution, numeric, lambda a, b: np.allclose(a, b, rtol=1e-9)) >= 15
