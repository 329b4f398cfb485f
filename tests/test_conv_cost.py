"""conv_cost against independent oracles.

Parameters come from the real torch.nn.Conv2d modules (`sum(p.numel())`),
multiplications from PyTorch's FlopCounterMode (its total is 2 per
multiply-add), additions from a brute-force convolution that counts every
addition it makes on tiny cases, and from the definition written out here on
larger ones. Mistakes are checked against counts derived by hand below.
Nothing expected is copied from solver output.
"""
import itertools
import random
import subprocess
import sys
import textwrap
from fractions import Fraction

import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.answers.check import check_value
from solver.answers.types import compare, format_answer
from solver.core.errors import FieldError
from solver.kinds import get_kind
from solver.problems.load import Problem

conv_cost = get_kind("conv_cost")
torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
FlopCounterMode = optional_module("torch.utils.flop_counter").FlopCounterMode

VARIANTS = ("standard", "grouped", "depthwise", "pointwise", "separable")
COUNTS = ("params", "params_without_bias", "mults", "adds")


def solve(given):
    return {name: a.value for name, a in conv_cost.solve(conv_cost.read(given)).answers.items()}


# ---- torch as the oracle --------------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def modules(config, bias):
    """The four convolutions of a configuration as torch modules."""
    c, n, k, g, m = (config[key] for key in ("in_channels", "out_channels", "kernel_size", "groups",
                                             "depth_multiplier"))
    spatial = dict(stride=config.get("stride", 1), padding=config.get("padding", 0), bias=bias)
    return {"standard": torch.nn.Conv2d(c, n, k, **spatial),
            "grouped": torch.nn.Conv2d(c, n, k, groups=g, **spatial),
            "depthwise": torch.nn.Conv2d(c, c * m, k, groups=c, **spatial),
            "pointwise": torch.nn.Conv2d(c * m, n, 1, bias=bias)}


def flop_mults(module, x):
    """Multiplications of one module on x, and its output: FlopCounterMode counts 2 per multiply-add."""
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    assert counter.get_total_flops() % 2 == 0
    return counter.get_total_flops() // 2, y


def adds_by_definition(module, y):
    """(C_in/g)·Kh·Kw - 1 additions per output element, plus 1 for a bias."""
    per_element = module.weight[0].numel() - 1 + (module.bias is not None)
    return y.numel() * per_element


def torch_counts(config, bias):
    """Every count, from torch modules run on a zero input."""
    mods = modules(config, bias)
    x = torch.zeros(config.get("batch_size", 1), config["in_channels"], *pair(config["input_size"]))
    counts = {}
    for name, module in mods.items():
        mults, y = flop_mults(module, mods["depthwise"](x) if name == "pointwise" else x)
        counts[name] = {"params": sum(p.numel() for p in module.parameters()),
                        "params_without_bias": module.weight.numel(),
                        "mults": mults, "adds": adds_by_definition(module, y)}
    counts["separable"] = {c: counts["depthwise"][c] + counts["pointwise"][c] for c in COUNTS}
    if config["groups"] == 1:
        del counts["grouped"]
    return counts


def random_config(rng):
    """A valid configuration; groups divides both channel counts."""
    g = rng.choice([1, 1, 2, 3])
    config = {"in_channels": g * rng.randint(1, 3), "out_channels": g * rng.randint(1, 3),
              "kernel_size": rng.choice([1, 2, 3, [3, 2], [1, 3]]), "groups": g,
              "depth_multiplier": rng.randint(1, 3), "batch_size": rng.randint(1, 3)}
    k = pair(config["kernel_size"])
    if rng.random() < 0.3:
        size = rng.choice([rng.randint(1, 6), [rng.randint(1, 6), rng.randint(1, 6)]])
        config.update(padding="same", input_size=size)
        return config
    config.update(stride=rng.choice([1, 2, 3, [2, 1]]), padding=rng.choice([0, 1, [1, 0], "valid"]))
    pad = pair(0 if config["padding"] == "valid" else config["padding"])
    config["input_size"] = [max(1, k[a] - 2 * pad[a]) + rng.randint(0, 5) for a in range(2)]
    return config


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("bias", [True, False])
def test_counts_match_torch_modules(seed, bias):
    rng = random.Random(seed)
    config = random_config(rng)
    answers = solve(dict(config, bias=bias))
    expected = torch_counts(config, bias)
    for variant, counts in expected.items():
        for count, value in counts.items():
            assert answers[f"{variant}_{count}"] == value, (config, variant, count)
    assert ("grouped_params" in answers) == (config["groups"] != 1)
    standard, separable = expected["standard"], expected["separable"]
    assert answers["params_ratio"] == Fraction(separable["params"], standard["params"])
    assert answers["mults_ratio"] == Fraction(separable["mults"], standard["mults"])


# ---- additions counted by a convolution that counts its own work ----------

def brute_force_counts(c_in, c_out, groups, kh, kw, height, width, stride, padding, bias, batch):
    """Multiplications and additions of a direct convolution loop, counted as it runs."""
    out_h = (height + 2 * padding - kh) // stride + 1
    out_w = (width + 2 * padding - kw) // stride + 1
    mults = adds = 0
    for _b, o, _i, _j in itertools.product(range(batch), range(c_out), range(out_h), range(out_w)):
        total = None
        for _c, _a, _d in itertools.product(range(c_in // groups), range(kh), range(kw)):
            mults += 1                       # x * w
            if total is None:
                total = 1
            else:
                adds += 1                    # total += x * w
        if bias:
            adds += 1                        # total += b
    return mults, adds


@pytest.mark.parametrize("case", [
    dict(in_channels=2, out_channels=4, kernel_size=3, input_size=4, groups=2, padding=1, batch_size=2),
    dict(in_channels=3, out_channels=3, kernel_size=[2, 3], input_size=[5, 4], groups=3, stride=2),
    dict(in_channels=4, out_channels=2, kernel_size=1, input_size=3, groups=2, depth_multiplier=2),
])
@pytest.mark.parametrize("bias", [True, False])
def test_mults_and_adds_match_a_counting_loop(case, bias):
    answers = solve(dict(case, bias=bias))
    c, n, g, m = case["in_channels"], case["out_channels"], case["groups"], case.get("depth_multiplier", 1)
    kh, kw = pair(case["kernel_size"])
    h, w = pair(case["input_size"])
    s, p, b = case.get("stride", 1), case.get("padding", 0), case.get("batch_size", 1)
    depthwise = brute_force_counts(c, c * m, c, kh, kw, h, w, s, p, bias, b)
    out_h, out_w = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    pointwise = brute_force_counts(c * m, n, 1, 1, 1, out_h, out_w, 1, 0, bias, b)
    expected = {"standard": brute_force_counts(c, n, 1, kh, kw, h, w, s, p, bias, b),
                "grouped": brute_force_counts(c, n, g, kh, kw, h, w, s, p, bias, b),
                "depthwise": depthwise, "pointwise": pointwise,
                "separable": tuple(x + y for x, y in zip(depthwise, pointwise))}
    for variant, (mults, adds) in expected.items():
        assert (answers[f"{variant}_mults"], answers[f"{variant}_adds"]) == (mults, adds), variant


# ---- symbols --------------------------------------------------------------

SYMBOLIC = dict(in_channels="C", out_channels="N", kernel_size="K", input_size=["H", "W"], stride="S",
                padding="P", groups="G", depth_multiplier="M", batch_size="B")


def random_point(rng):
    g = rng.randint(2, 3)
    point = {"C": g * rng.randint(1, 3), "N": g * rng.randint(1, 3), "K": rng.randint(1, 4), "S": rng.randint(1, 3),
             "P": rng.randint(0, 2), "G": g, "M": rng.randint(1, 3), "B": rng.randint(1, 3)}
    point.update(H=point["K"] + rng.randint(0, 5), W=point["K"] + rng.randint(0, 5))
    return point


def numeric(value, point):
    import sympy
    if isinstance(value, (int, Fraction)):
        return value
    exact = sympy.nsimplify(value.subs({sympy.Symbol(k, integer=True, positive=True): v for k, v in point.items()}))
    return int(exact) if exact.is_Integer else Fraction(int(exact.p), int(exact.q))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("same", [True, False])
def test_symbolic_costs_agree_with_numeric_ones(bias, same):
    given = dict(SYMBOLIC, bias=bias)
    if same:
        given.update(padding="same", stride=1)
    symbolic = solve(given)
    rng = random.Random(7 + same + 2 * bias)
    for _ in range(15):
        point = random_point(rng)
        concrete = {field: ([point[v] for v in value] if isinstance(value, list) else point.get(value, value))
                    for field, value in given.items()}
        numbers = solve(concrete)
        assert set(numbers) == set(symbolic)
        for name, value in numbers.items():
            assert numeric(symbolic[name], point) == value, (name, point)


def test_ratios_simplify_to_the_textbook_forms():
    import sympy
    n, k = (sympy.Symbol(s, integer=True, positive=True) for s in "NK")
    answers = solve(dict(in_channels="C", out_channels="N", kernel_size="K", input_size=["H", "W"],
                         padding="same", batch_size="B", bias=False))
    assert answers["params_ratio"] == 1 / n + 1 / k**2     # (CK² + CN) / (NCK²), structurally
    assert answers["mults_ratio"] == 1 / n + 1 / k**2


def test_numeric_solve_does_not_import_sympy():
    code = ("import sys; from solver.kinds import get_kind; k = get_kind('conv_cost'); "
            "g = k.read(dict(in_channels=4, out_channels=8, kernel_size=3, input_size=6, groups=2)); "
            "k.solve(g); [m.answers(g) for m in k.mistakes]; print('sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# ---- mistakes, against counts derived by hand -----------------------------

# C = 4 input channels, N = 6 filters of 3×3, 5×5 input, padding 1, stride 1 (so 5×5 out),
# groups 2, bias. Standard: 6·4·9 = 216 weights + 6 biases = 222; per output element
# 4·9 = 36 products, 6·25 = 150 elements: 5400 mults, 150·(36 - 1 + 1) = 5400 adds.
# Grouped: 6·2·9 = 108 weights + 6 = 114. Depthwise: 4·9 + 4 = 40. Pointwise: 6·4 + 6 = 30.
HAND = dict(in_channels=4, out_channels=6, kernel_size=3, input_size=5, padding=1, groups=2)
HAND_MISTAKES = {
    "bias_forgotten": {"standard_params": 216, "separable_params": 36 + 24},
    "bias_per_layer": {"standard_params": 216 + 1, "separable_params": (36 + 1) + (24 + 1)},
    "in_channels_ignored": {"standard_params": 6 * 9 + 6, "standard_mults": 150 * 9, "pointwise_params": 6 + 6},
    "groups_not_dividing_depth": {"grouped_params": 6 * 4 * 9 + 6, "depthwise_params": 4 * 4 * 9 + 4},
    "adds_minus_one_forgotten": {"standard_adds": 150 * (36 + 1), "depthwise_adds": 4 * 25 * (9 + 1)},
    "flops_as_mults": {"standard_mults": 2 * 5400, "pointwise_mults": 2 * 150 * 4},
    "output_size_ignored": {},   # padding 1 keeps the 5×5 size: nothing to get wrong
}


@pytest.mark.parametrize("name, expected", HAND_MISTAKES.items())
def test_mistakes_give_the_hand_derived_answers(name, expected):
    given = conv_cost.read(HAND)
    mistake = next(m for m in conv_cost.mistakes if m.name == name)
    answers = mistake.answers(given)
    assert {key: answers[key] for key in expected} == expected
    assert bool(answers) == bool(expected)


def test_output_size_ignored_counts_over_the_input():
    # 7×7 input, 3×3 kernel, stride 2, no padding: 3×3 out. Over the input: 8·49·(2·9) mults.
    given = conv_cost.read(dict(in_channels=2, out_channels=8, kernel_size=3, input_size=7, stride=2))
    mistake = next(m for m in conv_cost.mistakes if m.name == "output_size_ignored")
    assert mistake.answers(given)["standard_mults"] == 8 * 49 * 18
    assert conv_cost.solve(given).answers["standard_mults"].value == 8 * 9 * 18


def test_no_bias_means_bias_mistakes_do_not_apply():
    given = conv_cost.read(dict(HAND, bias=False))
    for name in ("bias_forgotten", "bias_per_layer"):
        assert next(m for m in conv_cost.mistakes if m.name == name).answers(given) == {}


@pytest.mark.parametrize("given", [HAND, dict(HAND, stride=2, padding=0, batch_size=3, depth_multiplier=2)])
def test_every_mistake_is_diagnosed_by_check(given):
    given = conv_cost.read(given)
    for answer in conv_cost.solve(given).answers.values():
        own = check_value(Problem("p", "conv_cost", given), answer, format_answer(answer.value, answer.type),
                          conv_cost.mistakes)
        assert own.verdict == "correct"
        for mistake in conv_cost.mistakes:
            for _, found in mistake.cases(given):
                value = found.get(answer.name)
                if value is None:
                    continue
                verdict = check_value(Problem("p", "conv_cost", given), answer, format_answer(value, answer.type),
                                      conv_cost.mistakes)
                assert verdict.verdict == "incorrect" and verdict.mistake is not None
                named = next(m for m in conv_cost.mistakes if m.name == verdict.mistake)
                assert any(compare(answer.type, other.get(answer.name), value)[0] == 1.0
                           for _, other in named.cases(given) if answer.name in other)


# ---- bad input ------------------------------------------------------------

def test_groups_must_divide_the_channels():
    with pytest.raises(FieldError) as error:
        conv_cost.read(dict(in_channels=6, out_channels=4, kernel_size=3, groups=3))
    assert error.value.field == "groups" and "out_channels (4)" in str(error.value)


@pytest.mark.parametrize("given, field, words", [
    ("in_channels: 6\nout_channels: 4\nkernel_size: 3\ngroups: 3\n", "groups", "does not divide out_channels (4)"),
    ("in_channels: 5\nout_channels: 10\nkernel_size: 3\ngroups: 2\n", "groups", "does not divide in_channels (5)"),
    ("in_channels: 4\nout_channels: 4\nkernel_size: 3\ninput_size: 8\npadding: same\nstride: 2\n",
     "padding", "stride 1"),
    ("in_channels: 4\nout_channels: 4\nkernel_size: 5\ninput_size: 2\n", "kernel_size", "must fit"),
    ("in_channels: 0\nout_channels: 4\nkernel_size: 3\n", "in_channels", "integer >= 1"),
    ("in_channels: 4\nkernel_size: 3\n", "out_channels", "is required"),
    ("in_channels: 4\nout_channels: 4\nkernel_size: 3\nbias: 1\n", "bias", "true or false"),
])
def test_bad_input_is_one_paragraph_naming_file_problem_and_field(tmp_path, given, field, words):
    path = tmp_path / "costs.yaml"
    body = textwrap.indent(given, " " * 6)
    path.write_text(f'title: T\nproblems:\n  - id: "c1"\n    kind: conv_cost\n    given:\n{body}')
    assert_bad_input(run_solver("solve", path), path, "c1", field, words)


def test_a_ratio_equal_to_one_prints_as_1(tmp_path):
    """C = 1, N = 8, 3×3, m = 4: standard 8·9 + 8 = 80 params; separable (4·9 + 4) + (4·8 + 8) = 80."""
    torch = pytest.importorskip("torch")
    standard = torch.nn.Conv2d(1, 8, 3)
    separable = [torch.nn.Conv2d(1, 4, 3, groups=1), torch.nn.Conv2d(4, 8, 1)]
    assert sum(p.numel() for p in standard.parameters()) == sum(p.numel() for m in separable for p in m.parameters())
    path = tmp_path / "costs.yaml"
    path.write_text('title: T\nproblems:\n  - id: "c1"\n    kind: conv_cost\n    given:\n'
                    '      in_channels: 1\n      out_channels: 8\n      kernel_size: 3\n      depth_multiplier: 4\n')
    result = run_solver("solve", path, "--format", "latex")
    assert result.returncode == 0, result.stderr
    ratios = result.stdout[result.stdout.index(r"\frac{\text{separable params}}"):]
    ratios = ratios[:ratios.index(r"\end{align*}")]
    assert ratios.rstrip().endswith("&= 1") and r"\frac{1}{1}" not in result.stdout, ratios


# ---- the shipped problems -------------------------------------------------

def test_problem_6_1_reads_well_in_markdown():
    result = run_solver("solve", "problems/cpen455-hw2.yaml", "--problem", "6.1", "--format", "md")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for words in ("Counting convention", "Depthwise-separable convolution", r"\begin{array}",
                  r"\text{separable}", r"\frac{1}{N} + \frac{1}{K^{2}}", "multiplications and C·K·K - 1 additions"):
        assert words in out, words
    assert "Grouped convolution" not in out, "no groups are given, so no grouped variant"


def test_shipped_problems_have_the_expected_answers():
    import sympy
    c, n, k, m = (sympy.Symbol(s, integer=True, positive=True) for s in "CNKM")
    from solver.problems.load import load

    def answers(problem_id):
        problem = load(ROOT / "problems/cpen455-hw2.yaml", only=problem_id).problems[0]
        return conv_cost.solve(problem.given).answers
    first, second = answers("5.1"), answers("5.2")
    assert sympy.simplify(first["standard_params"].value - n * c * k**2) == 0
    assert sympy.simplify(second["grouped_params"].value - n * c * k**2 / m) == 0


# ---- mistakes against torch (issue 10) --------------------------------------------

def params_and_mults(module, input_size, channels):
    """(parameters, multiplications) as torch counts them: FLOPs / 2 per multiply-add."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(torch.zeros(1, channels, input_size, input_size))
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2


@pytest.mark.parametrize("c, n, k, size, stride, m", [(4, 6, 3, 5, 1, 1), (8, 16, 5, 12, 2, 2), (3, 10, 3, 7, 1, 3)])
def test_separable_part_only_is_torchs_depthwise_or_pointwise_alone(c, n, k, size, stride, m):
    torch = pytest.importorskip("torch")
    given = conv_cost.read(dict(in_channels=c, out_channels=n, kernel_size=k, input_size=size, stride=stride,
                                depth_multiplier=m))
    depthwise = torch.nn.Conv2d(c, c * m, k, stride=stride, groups=c)
    out = (size - k) // stride + 1
    pointwise = torch.nn.Conv2d(c * m, n, 1)
    cases = dict(next(x for x in conv_cost.mistakes if x.name == "separable_part_only").cases(given))
    for where, module, channels, length in (("only the depthwise part", depthwise, c, size),
                                            ("only the pointwise part", pointwise, c * m, out)):
        params, mults = params_and_mults(module, length, channels)
        assert cases[where]["separable_params"] == params and cases[where]["separable_mults"] == mults


def test_bias_counted_is_torchs_layer_with_bias():
    torch = pytest.importorskip("torch")
    given = conv_cost.read(dict(HAND, bias=False))
    found = next(x for x in conv_cost.mistakes if x.name == "bias_counted").answers(given)
    assert found["standard_params"] == sum(p.numel() for p in torch.nn.Conv2d(4, 6, 3).parameters())
    assert found["grouped_params"] == sum(p.numel() for p in torch.nn.Conv2d(4, 6, 3, groups=2).parameters())
    assert "standard_params_without_bias" not in found
