"""init against torch.nn.init: the fans against _calculate_fan_in_and_fan_out, the gain against calculate_gain,
and the standard deviation and bound against the very draw PyTorch makes (the same seeded random stream, drawn
once by torch.nn.init.* or nn.Linear / nn.Conv2d and once as a unit draw, gives PyTorch's σ or b exactly), over
random problems of every option; the statistics of large initialised tensors (empirical standard deviation, the
largest |w| against the bound); each mistake's wrong answer against an independent computation of it; the
general formula against the numbers; the CLI as a user runs it."""
import json
import math
import random

import numpy as np
import pytest

from conftest import compared_members, one_problem_file, require_module, run_solver
from corpus import draw_init

KIND = "init"
SCHEME_FUNCTIONS = {"xavier_uniform": "xavier_uniform_", "xavier_normal": "xavier_normal_",
                    "kaiming_uniform": "kaiming_uniform_", "kaiming_normal": "kaiming_normal_"}


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def answers_of(given: dict) -> dict:
    k = kind()
    return {name: answer.value for name, answer in k.compute(k.read(given)).items()}


def weight_shape(given: dict) -> tuple:
    if "in_features" in given:
        return (given["out_features"], given["in_features"])
    k = given["kernel_size"]
    return (given["out_channels"], given["in_channels"], *(k if isinstance(k, list) else (k, k)))


def initialised(torch, given: dict, shape=None, seed=0):
    """A weight as PyTorch initialises it under `given` (seeded), float64."""
    torch.manual_seed(seed)
    shape = shape or weight_shape(given)
    if given["scheme"] == "default":
        nn = torch.nn
        layer = nn.Linear(shape[1], shape[0], dtype=torch.float64) if len(shape) == 2 else \
            nn.Conv2d(shape[1], shape[0], tuple(shape[2:]), dtype=torch.float64)
        return layer.weight.detach()
    w = torch.empty(shape, dtype=torch.float64)
    init = getattr(torch.nn.init, SCHEME_FUNCTIONS[given["scheme"]])
    if given["scheme"].startswith("xavier"):
        return init(w, gain=torch_gain(torch, given))
    options = {"mode": given.get("mode", "fan_in"), "nonlinearity": given.get("nonlinearity", "leaky_relu")}
    return init(w, a=given.get("a", 0), **options)


def torch_gain(torch, given: dict) -> float:
    if given["scheme"] == "default":
        return torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))
    if given["scheme"].startswith("xavier"):
        if "nonlinearity" in given:
            return torch.nn.init.calculate_gain(given["nonlinearity"], given.get("a"))
        return given.get("gain", 1.0)
    return torch.nn.init.calculate_gain(given.get("nonlinearity", "leaky_relu"), given.get("a", 0))


def torch_spread(torch, given: dict) -> dict:
    """PyTorch's own values: the fans and gain from its helpers, σ (normal) or b (uniform) from its draw: the same
    seed gives a unit draw z (normal_(0, 1)) or u (uniform_(0, 1)), and PyTorch's weights are σ z, or b (2u - 1)."""
    w = initialised(torch, given, seed=7)
    torch.manual_seed(7)
    unit = torch.empty(w.shape, dtype=torch.float64)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(unit)
    found = {"fan_in": fan_in, "fan_out": fan_out, "gain": torch_gain(torch, given)}
    if given["scheme"].endswith("normal"):
        z = unit.normal_(0, 1)
        ratio = w[z.abs() > 0.1] / z[z.abs() > 0.1]
        found["std"] = ratio.median().item()
    else:
        u = unit.uniform_(0, 1)
        ratio = w[(u - 0.5).abs() > 0.05] / (2 * u[(u - 0.5).abs() > 0.05] - 1)
        found["bound"] = ratio.median().item()
        found["std"] = found["bound"] / math.sqrt(3)          # U(-b, b) has variance b²/3
    found["variance"] = found["std"] ** 2
    return found


def assert_close(ours, expected, what, rtol=1e-9):
    assert math.isclose(float(ours), float(expected), rel_tol=rtol), (what, ours, expected)


def symbolic(given: dict) -> bool:
    return any(isinstance(v, str) for name, v in given.items() if name not in ("scheme", "nonlinearity", "mode"))


GIVENS = [draw_init(random.Random(f"init-{seed}")) for seed in range(80)]
NUMERIC = [g for g in GIVENS if not symbolic(g)]
LETTERS = [g for g in GIVENS if symbolic(g)]


@pytest.mark.torch
@pytest.mark.parametrize("given", NUMERIC, ids=[f"random{i}" for i in range(len(NUMERIC))])
def test_answers_agree_with_torch_nn_init(given):
    torch = require_module("torch")
    answers = answers_of(given)
    expected = torch_spread(torch, given)
    assert set(answers) == set(expected)
    for name, value in expected.items():
        assert_close(answers[name], value, name)
    assert isinstance(answers["fan_in"], int) and isinstance(answers["fan_out"], int)


@pytest.mark.torch
@pytest.mark.parametrize("scheme", ["xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
                                    "default"])
@pytest.mark.parametrize("layer", [{"in_features": 300, "out_features": 200},
                                   {"in_channels": 40, "out_channels": 60, "kernel_size": [3, 2]}],
                         ids=["linear", "conv"])
def test_large_initialised_tensors_have_our_spread(torch_module_or_skip, scheme, layer):
    """About 10^6 weights, initialised as PyTorch does (re-initialising the layer's weight shape): their
    standard deviation is within 1% of ours (its standard error is σ/√(2N) = 0.07% for a normal, σ√(0.2/N) =
    0.045% for a uniform draw, so 1% is more than 14 standard errors), and for a uniform draw the largest |w| is
    at most the bound and within 0.1% of it (P(all 10^6 below 0.999 b) = 0.999^(10^6) ≈ e^(-1000))."""
    torch = torch_module_or_skip
    given = {"scheme": scheme, **layer}
    if scheme.startswith("kaiming"):
        given.update(nonlinearity="leaky_relu", a=0.2, mode="fan_out" if "in_channels" in layer else "fan_in")
    elif scheme.startswith("xavier"):
        given["nonlinearity"] = "tanh"
    cells = int(np.prod(weight_shape(given)))
    weights = torch.cat([initialised(torch, given, seed=seed).flatten() for seed in range(10**6 // cells + 1)])
    answers = answers_of(given)
    assert abs(weights.std().item() / float(answers["std"]) - 1) < 0.01
    if "bound" in answers:
        bound = float(answers["bound"])
        assert weights.abs().max().item() <= bound * (1 + 1e-12)
        assert weights.abs().max().item() >= bound * 0.999


@pytest.fixture
def torch_module_or_skip():
    return require_module("torch")


@pytest.mark.parametrize("given", LETTERS, ids=[f"letters{i}" for i in range(len(LETTERS))])
def test_the_general_formula_gives_the_numbers(given):
    """A problem in letters, its letters then put in, against the same problem written with those numbers."""
    import sympy
    numbers = {"n": 300, "m": 10, "C": 16, "N": 32, "K": 3, "g": sympy.Rational(3, 2), "a": sympy.Rational(1, 5)}
    written = {"n": 300, "m": 10, "C": 16, "N": 32, "K": 3, "g": 1.5, "a": 0.2}
    general = answers_of(given)
    numeric = answers_of({name: written.get(v, v) if isinstance(v, str) and name not in (
        "scheme", "nonlinearity", "mode") else v for name, v in given.items()})
    for name, formula in general.items():
        at = sympy.sympify(formula).subs({s: numbers[s.name] for s in sympy.sympify(formula).free_symbols})
        assert sympy.simplify(at - sympy.sympify(numeric[name])) == 0, (name, formula, numeric[name])


def mistake_answers(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.answers(read) for m in k.mistakes}


@pytest.mark.torch
def test_each_mistake_gives_the_wrong_answer_computed_independently():
    torch = require_module("torch")
    given = {"scheme": "kaiming_uniform", "in_channels": 16, "out_channels": 32, "kernel_size": 3,
             "nonlinearity": "relu", "mode": "fan_out"}
    found, right = mistake_answers(given), torch_spread(torch, given)
    swapped = torch_spread(torch, {**given, "mode": "fan_in"})
    for name in ("std", "variance", "bound"):
        assert_close(found["fan_swapped"][name], swapped[name], f"fan swapped: {name}")
    no_gain = torch_spread(torch, {**given, "nonlinearity": "linear"})        # calculate_gain('linear') = 1
    for name in ("gain", "std", "variance", "bound"):
        assert_close(found["gain_forgotten"][name], no_gain[name], f"gain forgotten: {name}")
    assert_close(found["variance_as_std"]["std"], right["variance"], "variance as std")
    assert_close(found["variance_as_std"]["bound"], math.sqrt(3) * right["variance"], "variance as std: bound")
    assert set(found["variance_as_std"]) == {"std", "bound"}
    assert_close(found["bound_without_sqrt3"]["bound"], right["std"], "bound without √3")
    assert set(found["bound_without_sqrt3"]) == {"bound"}

    xavier = {"scheme": "xavier_normal", "in_features": 100, "out_features": 50, "gain": 2}
    found, right = mistake_answers(xavier), torch_spread(torch, xavier)
    assert found["fan_swapped"] == {} and found["bound_without_sqrt3"] == {}      # xavier uses both fans; normal
    assert_close(found["gain_forgotten"]["std"], torch_spread(torch, {**xavier, "gain": 1})["std"], "xavier gain")

    default = {"scheme": "default", "in_features": 300, "out_features": 10}
    found = mistake_answers(default)
    assert_close(found["fan_swapped"]["bound"], 1 / math.sqrt(10), "default: 1/√fan_out")
    plain_kaiming = torch_spread(torch, {"scheme": "kaiming_uniform", "in_features": 300, "out_features": 10,
                                        "nonlinearity": "linear"})
    assert_close(found["gain_forgotten"]["bound"], plain_kaiming["bound"], "default without its gain")


@pytest.mark.torch
def test_leaky_relus_slope_left_out_gives_relus_gain(tmp_path):
    """a = 0.2 taken as 0: calculate_gain('relu'), √2, which checking took for a rounding of √(2/1.04)."""
    torch = require_module("torch")
    given = {"scheme": "kaiming_normal", "in_features": 24, "out_features": 10, "nonlinearity": "leaky_relu", "a": 0.2}
    relu = torch_spread(torch, {**{k: v for k, v in given.items() if k != "a"}, "nonlinearity": "relu"})
    found = mistake_answers(given)["leaky_slope_ignored"]
    for name in ("gain", "std", "variance"):
        assert_close(found[name], relu[name], f"slope ignored: {name}")
    assert mistake_answers({**given, "a": 0})["leaky_slope_ignored"] == {}        # nothing to leave out
    result = run_solver("check", write_set(tmp_path, given), "p:gain", "sqrt(2)", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "leaky_slope_ignored", result.stdout


def test_exact_values():
    """Hand-worked: relu gives √2; 256 inputs give σ = √2/16, b = √6/16; nn.Linear(300, 10) has b = 1/√300 = √3/30."""
    import sympy
    answers = answers_of({"scheme": "kaiming_uniform", "in_features": 256, "out_features": 128,
                          "nonlinearity": "relu"})
    assert answers["gain"] == sympy.sqrt(2) and answers["std"] == sympy.sqrt(2) / 16
    assert answers["bound"] == sympy.sqrt(6) / 16
    from fractions import Fraction
    assert answers["variance"] == Fraction(1, 128)
    default = answers_of({"scheme": "default", "in_features": 300, "out_features": 10})
    assert default["bound"] == sympy.sqrt(3) / 30 and default["std"] == Fraction(1, 30)
    tanh = answers_of({"scheme": "xavier_normal", "in_features": 3, "out_features": 3, "nonlinearity": "tanh"})
    assert tanh["gain"] == Fraction(5, 3) and "bound" not in tanh


def write_set(tmp_path, given, ask=None):
    return one_problem_file(tmp_path, KIND, given, ask)


def test_check_reads_exact_and_decimal_values_and_names_the_missing_root(tmp_path):
    path = write_set(tmp_path, {"scheme": "kaiming_uniform", "in_features": 256, "out_features": 128,
                                "nonlinearity": "relu"})
    result = run_solver("solve", path, "--format", "text")
    assert result.returncode == 0 and "calculate_gain('relu')" in result.stdout, result.stderr
    for text in ("sqrt(6)/16", "\\frac{\\sqrt{6}}{16}", "0.153"):
        result = run_solver("check", path, "p:bound", text)
        assert result.returncode == 0, (text, result.stdout + result.stderr)
    result = run_solver("check", path, "p:bound", "sqrt(2)/16", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "bound_without_sqrt3", result.stdout
    result = run_solver("check", path, "p:std", "1/16", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "gain_forgotten", result.stdout
    result = run_solver("check", path, "p:std", "1/128", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "variance_as_std", result.stdout


def test_check_judges_a_general_formula(tmp_path):
    path = write_set(tmp_path, {"scheme": "kaiming_normal", "in_channels": "C", "out_channels": "N",
                                "kernel_size": "K", "mode": "fan_out", "nonlinearity": "relu"})
    for text in ("sqrt(2/(N*K^2))", "\\frac{\\sqrt{2}}{K\\sqrt{N}}"):
        result = run_solver("check", path, "p:std", text)
        assert result.returncode == 0, (text, result.stdout + result.stderr)
    result = run_solver("check", path, "p:std", "sqrt(2/(C*K^2))", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "fan_swapped", result.stdout
    result = run_solver("check", path, "p:fan_out", "N*K^2")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("given, field, words", [
    ({"scheme": "he_normal", "in_features": 3, "out_features": 2}, "scheme", "xavier_uniform"),
    ({"scheme": "xavier_normal", "in_features": 3}, "out_features", "is missing"),      # it named in_features
    ({"scheme": "xavier_normal", "in_features": 3, "out_features": 2, "kernel_size": 3}, "kernel_size",
     "is given with a linear layer's fields"),
    ({"scheme": "kaiming_normal", "in_channels": 3, "out_channels": 2}, "kernel_size", "is missing"),
    ({"scheme": "default", "in_features": 3, "out_features": 2, "gain": 2}, "gain", "a=√5"),
    ({"scheme": "xavier_uniform", "in_features": 3, "out_features": 2, "mode": "fan_in"}, "mode", "both fans"),
    ({"scheme": "kaiming_uniform", "in_features": 3, "out_features": 2, "gain": 2}, "gain", "nonlinearity"),
    ({"scheme": "xavier_uniform", "in_features": 3, "out_features": 2, "gain": 2, "nonlinearity": "relu"}, "gain",
     "one of them"),
    ({"scheme": "kaiming_uniform", "in_features": 3, "out_features": 2, "nonlinearity": "relu", "a": 0.1}, "a",
     "leaky_relu"),
    ({"scheme": "xavier_uniform", "in_features": 3, "out_features": 2, "gain": -1}, "gain", "> 0"),
    ({"scheme": "xavier_uniform", "in_features": 0, "out_features": 2}, "in_features", ">= 1"),
    ({"scheme": "kaiming_uniform", "in_features": 3, "out_features": 2, "nonlinearity": "swish"}, "nonlinearity",
     "leaky_relu"),
    ({"scheme": "kaiming_uniform", "in_features": 3, "out_features": 2, "mode": "fan_avg"}, "mode", "fan_out"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = write_set(tmp_path, given)
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("given", GIVENS[:30], ids=[f"random{i}" for i in range(30)])
def test_every_displayed_equation_holds(given):
    """Each member of a line that evaluates (numbers put in) equals the line's last member."""
    import sympy

    def same(value, last):
        difference = sympy.simplify(value - last)           # a root of a plain int evaluates as a float
        return difference == 0 or difference.is_number and abs(float(difference)) < 1e-12
    k = kind()
    value = lambda member: sympy.sympify(member.value())  # noqa: E731
    assert compared_members(k.solve(k.read(given)), value, same, errors=(ValueError,)) >= 1
