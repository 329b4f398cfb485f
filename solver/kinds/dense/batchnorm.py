r"""batchnorm: batch normalization's means and variances over the axes a problem
chooses, as formulas with explicit sums and as numbers, and its output.

Conventions (PyTorch's; the derivation states them):
- The input X is B×C×H×W. Indices b, c, h, w run from 1, in the formulas, the
  derivation and the answers `output[i]`.
- `statistics` chooses the axes a mean runs over; the other axes index the means:
  all (one μ over every entry), channel (μ[c] over b, h, w: BatchNorm2d in
  training mode), position (μ[h, w] over b, c), feature (μ[c, h, w] over b:
  BatchNorm1d on the C·H·W features of each sample, flattened).
- The output is normalized with the biased variance, divided by the count N,
  as BatchNorm2d in training mode does. `unbiased: true` changes only the
  variance reported (and σ, its root): divided by N − 1, as torch.var and
  PyTorch's running_var have it; the output stays the same.
- x̂ = (x − μ)/√(σ² + ε) and y = γ·x̂ + β, γ and β one number or one per
  statistic (default 1 and 0, PyTorch's initial values). `std` is σ = √σ², without ε.
- Integer inputs give exact means and variances (fractions), σ a radical
  (sympy, imported only then), and an exact output where ε, γ and β are exact;
  a decimal anywhere makes the rest decimals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, boolean, choice, count_or_symbol, given_field, optional
from ...math.nodes import Formula, Mean, Number, Power, Product, Root, Summation, Symbol
from ...math.notation import quantity, words, written
from ...math.printing import latex
from ...core.model import Answer, Step
from ..sizes import distinct
from ..base import Kind
from ..common import exact, exact_array, shown_cells
from ..mistakes import SHARED_MISTAKES, Places
from .statistics import (Statistic, affine_reader, entry, gathered, has_affine, mean_line, minus, normalized_value,
                         plus, read_eps, shown_statistics, statistics_array, variance_line)

# How the derivation writes each given (a sheet labels the givens with it).
GIVEN_SYMBOLS = {"input": "X", "gamma": written("gamma"), "beta": written("beta")}
SUMMARY = ("batch normalization: means and variances over the chosen axes (all, per channel, per "
           "position, per feature), as formulas with sums and as numbers, and the output with γ, β")
ANSWERS = {
    "mean": "μ, one per statistic, in the statistics' shape; needs input",
    "variance": "σ², divided by N (biased, as BatchNorm normalizes), by N − 1 with unbiased (the output "
                "still uses the biased one); needs input",
    "std": "σ = √σ² of the variance reported, without ε; needs input",
    "output[i]": "sample i (from 1) of the output y = γ·x̂ + β, a C×H×W tensor; needs input",
    "count": "N, the number of values each statistic averages (B·C·H·W, B·H·W, B·C or B)",
    "statistics_count": "the number of means (1, C, H·W or C·H·W)",
    "statistics_shape": "the shape of μ and σ: 1 (all), C, H×W or C×H×W; needs numeric sizes",
}
# Where a problem gives no `vary`: each tensor redrawn within its own range (solver/variants.py).
VARY = {"input": {}, "gamma": {}, "beta": {}}

AXES = "bchw"                 # index letters of X[b, c, h, w]; the sizes are their capitals
STATISTICS = {                # choice -> the axes that index the statistics (the others are averaged)
    "all": "",
    "channel": "c",
    "position": "hw",
    "feature": "chw",
}
DESCRIPTIONS = {
    "all": "one mean and one variance over every entry of the batch",
    "channel": "one mean and variance per channel c, over b, h and w, as PyTorch's BatchNorm2d in training mode",
    "position": "one mean and variance per spatial position (h, w), over b and c",
    "feature": ("one mean and variance per feature (c, h, w), over the batch b alone, as PyTorch's "
                "BatchNorm1d on each sample's C·H·W features flattened"),
}


def read_shape(name, value):
    if not isinstance(value, list) or len(value) != 4:
        raise FieldError(name, f"must be a list [B, C, H, W] of 4 positive integers or symbol names; got {value!r}")
    return tuple(count_or_symbol(name, v) for v in value)


READ_AFFINE = affine_reader("the statistics' shape")


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(optional(array((4,), "a B×C×H×W tensor")), None,
                             "the B×C×H×W input tensor X; without it the problem asks for the formulas")
    input_shape: Any = given_field(optional(read_shape), None,
                                   "[B, C, H, W] as numbers or symbol names, for problems without input")
    statistics: str = given_field(choice(*STATISTICS), "channel",
                                  "the axes that index μ and σ: all (one of each), channel (μ[c], "
                                  "BatchNorm2d; the default), position (μ[h, w]) or feature (μ[c, h, w], "
                                  "BatchNorm1d on the flattened features)")
    eps: Any = given_field(read_eps, 1e-5, "ε added to the variance under the root (default 1e-5; 0 is "
                                           "allowed for exact hand work, though PyTorch's layers refuse it)")
    gamma: Any = given_field(READ_AFFINE, 1, "the scale γ: one number or one per statistic (default 1)")
    beta: Any = given_field(READ_AFFINE, 0, "the shift β: one number or one per statistic (default 0)")
    unbiased: bool = given_field(boolean, False, "report the variance divided by N − 1 (torch.var, "
                                                 "PyTorch's running_var) instead of N (default); the output "
                                                 "is normalized with the biased one either way")


@dataclass(frozen=True)
class Rules:
    """batchnorm's conventions, PyTorch's by default; each mistake changes one."""
    statistics: str | None = None    # the axes the problem's `statistics` names (another choice: a mistake)
    normalize_unbiased: bool = False  # the output normalized with the biased variance, divided by N
    divide_by: str = "std"           # the centred input divided by √(σ² + ε) ("variance": by σ² + ε)

    def axes(self, given) -> str:
        """The statistics the numbers are taken over: the problem's, unless the rules say another."""
        return self.statistics or given.statistics


RULES = Rules()


# ---- sizes ------------------------------------------------------------------

def sizes(given) -> tuple:
    """(B, C, H, W): numbers, or sympy symbols in a general problem."""
    return given.input.shape if given.input is not None else given.input_shape


def size_values(given) -> dict:
    return dict(zip("BCHW", sizes(given)))


def product(letters: str) -> Formula:
    """B·H·W as a formula; 1 for no letters."""
    return Product([Symbol(c) for c in letters]) if len(letters) > 1 else (
        Symbol(letters) if letters else Number(1))


def averaged(statistics) -> str:
    return "".join(a for a in AXES if a not in STATISTICS[statistics])


def count_formula(statistics) -> Formula:
    return product(averaged(statistics).upper())


def statistics_count_formula(statistics) -> Formula:
    return product(STATISTICS[statistics].upper())


def statistics_shape(given, statistics) -> tuple:
    size = size_values(given)
    return tuple(size[a.upper()] for a in STATISTICS[statistics]) or (1,)


def numeric_sizes(given) -> bool:
    return all(isinstance(n, int) for n in sizes(given))


# ---- validation -------------------------------------------------------------

def validate(given: Given):
    if (given.input is None) == (given.input_shape is None):
        raise FieldError("input", "give either `input` (a B×C×H×W tensor) or `input_shape` ([B, C, H, W]), "
                                  "not both or neither")
    if numeric_sizes(given) and evaluate(given, count_formula(given.statistics)) == 1:
        field = "input" if given.input is not None else "input_shape"
        raise FieldError(field, f"gives each statistic a single value with statistics '{given.statistics}' "
                                "(N = 1); each needs at least 2, as PyTorch requires in training")
    if given.input is None:
        for name, default in (("gamma", 1), ("beta", 0)):
            if not np.array_equal(getattr(given, name), default):
                raise FieldError(name, "needs `input`: without a tensor the problem is the general formulas, "
                                       "where γ and β stay letters")
        return
    shape = statistics_shape(given, given.statistics)
    for name in ("gamma", "beta"):
        value = getattr(given, name)
        if isinstance(value, np.ndarray) and value.shape != shape:
            raise FieldError(name, f"has shape {shape_text(value.shape)}; with statistics "
                                   f"'{given.statistics}' it must be one number or have the statistics' shape "
                                   f"{shape_text(shape)}")
    for stat in statistics(given, RULES):
        if stat.variance == 0 and given.eps == 0:
            where = stat_index_text(stat.index, given.statistics)
            raise FieldError("eps", f"is 0, but the statistic μ{where} has variance 0, so the normalization "
                                    "would divide by 0; give eps > 0")


def shape_text(shape) -> str:
    return "×".join(map(str, shape))


def evaluate(given, formula: Formula):
    """A size formula at the problem's sizes: a number, or a sympy expression in its letters."""
    return formula.substitute(size_values(given)).value()


# ---- the numbers --------------------------------------------------------------

def statistic_index(cell, statistics) -> tuple:
    return tuple(cell[AXES.index(a)] for a in STATISTICS[statistics]) or (0,)


def statistics(given, rules: Rules) -> list[Statistic]:
    """One Statistic per mean, in the order of the statistics' array."""
    return gathered(given.input, lambda cell: statistic_index(cell, rules.axes(given)), given.unbiased,
                    rules.normalize_unbiased)


def normalized(given, stats: list[Statistic], rules: Rules) -> np.ndarray:
    """The output tensor; γ and β are indexed by the problem's statistics, whatever `rules` says."""
    x = given.input
    by_cell = {cell: stat for stat in stats for cell in stat.cells}
    y = np.empty(x.shape, dtype=object)
    for cell in np.ndindex(*x.shape):
        own = statistic_index(cell, given.statistics)
        stat = by_cell[cell]
        y[cell] = normalized_value(x[cell], stat.mean, stat.spread, given.eps, entry(given.gamma, own),
                                   entry(given.beta, own), rules.divide_by)
    return y


def computed(given, rules: Rules) -> dict[str, Answer]:
    """Every answer under `rules`; ZeroDivisionError where they divide by 0."""
    axes = rules.axes(given)
    answers = {
        "count": size_answer(given, "count", count_formula(axes), "N"),
        "statistics_count": size_answer(given, "statistics_count", statistics_count_formula(axes), "M"),
    }
    if numeric_sizes(given):
        answers["statistics_shape"] = Answer("statistics_shape", "shape", statistics_shape(given, axes),
                                             words("shape of ") + " " + written("mu"))
    if given.input is None:
        return answers
    stats = statistics(given, rules)
    labels = GREEK["unbiased" if given.unbiased else "var"], GREEK["s" if given.unbiased else "std"]
    numbers = {name: Answer(name, "matrix", statistics_array(stats, statistics_shape(given, rules.axes(given)), name), label)
               for name, label in (("mean", GREEK["mu"]), ("variance", labels[0]), ("std", labels[1]))}
    y = normalized(given, stats, rules)
    for b in range(y.shape[0]):
        name = f"output[{b + 1}]"
        numbers[name] = Answer(name, "matrix", exact_array(y[b]), rf"Y[{b + 1}]")
    return numbers | answers


def size_answer(given, name, formula, label) -> Answer:
    """A count: an integer, or a formula (even the constant 1) where the sizes are letters."""
    value = evaluate(given, formula)
    if numeric_sizes(given):
        return Answer(name, "integer", value, label)
    import sympy
    return Answer(name, "expression", sympy.Integer(value) if isinstance(value, int) else value, label)


# ---- the derivation -------------------------------------------------------------

def average(divisor: Formula, indices: str, body: Formula) -> Formula:
    """1/N Σ_b Σ_h ... body: a mean written with its sums."""
    for letter in reversed(indices):
        body = Summation(Symbol(letter), 1, Symbol(letter.upper()), body)
    return Mean(divisor, body)


GREEK = {name: written(quantity) for name, quantity in (
    ("mu", "mu"), ("var", "sigma^2"), ("std", "sigma"), ("unbiased", "s^2"), ("s", "s"), ("gamma", "gamma"),
    ("beta", "beta"), ("X", "X"), ("xhat", "xhat"), ("Y", "Y"))}


def indexed(name: str, letters: str) -> Symbol:
    """μ[c], X[b, c, h, w]: a letter and its index letters."""
    return Symbol(name, GREEK[name] + (f"[{', '.join(letters)}]" if letters else ""))


def stat_label(name: str, index: tuple, statistics: str) -> str:
    """How a derivation names one statistic, from 1: μ[2], μ[1, 2]; μ when there is one."""
    return GREEK[name] + stat_index_text(index, statistics)


def stat_index_text(index: tuple, statistics: str) -> str:
    return f"[{', '.join(str(i + 1) for i in index)}]" if STATISTICS[statistics] else ""


def derivation(given, answers) -> list[Step]:
    steps = [Step("Convention", convention(given)), count_step(given), formula_step(given)]
    if given.input is not None:
        stats = statistics(given, RULES)
        steps += [mean_step(given, stats), variance_step(given, stats),
                  output_step(given, stats, answers), result_step(given, answers)]
    return steps


def convention(given) -> str:
    text = (f"The statistics here are {DESCRIPTIONS[given.statistics]}. Indices b, c, h, w run from 1. "
            "Each variance is the mean squared distance from its mean, ")
    if given.unbiased:
        text += ("divided by the count N (the biased variance σ²), which is what BatchNorm normalizes the "
                 "output with. The problem reports the unbiased variance s² = Σ(x − μ)²/(N − 1) instead, as "
                 "torch.var and PyTorch's running_var have it; it changes only the variance and standard "
                 "deviation reported, not the output. ")
    else:
        text += ("divided by the count N (the biased variance, which BatchNorm normalizes with; "
                 "PyTorch's running_var keeps the unbiased one, divided by N − 1). ")
    return text + ("The normalization adds ε to the variance under the square root; the standard "
                   "deviation reported does not include it. Then γ scales and β shifts each entry.")


def count_step(given) -> Step:
    values = size_values(given)
    lines = []
    letters = all(str(size) == letter for letter, size in values.items())   # B, C, H, W themselves
    for name, formula in (("N", count_formula(given.statistics)), ("M", statistics_count_formula(given.statistics))):
        substituted = formula.substitute(values)
        shown = [formula] if letters else [formula, substituted, Number(substituted.value())]
        lines.append([Symbol(name)] + distinct(shown))
    kept = STATISTICS[given.statistics].upper()
    shape = f"μ and σ have shape {'×'.join(kept)}" if kept else "μ and σ are single numbers"
    return Step("Counts", "Each statistic averages N values, the entries that share its index; there are "
                          f"M statistics: {shape}.", lines)


def formula_step(given) -> Step:
    kept, summed = STATISTICS[given.statistics], averaged(given.statistics)
    n = count_formula(given.statistics)
    x, mu, var = indexed("X", AXES), indexed("mu", kept), indexed("var", kept)
    normalized_x = (x - mu) / Root(var + quantity("eps"))
    lines = [[mu, average(n, summed, x)],
             [var, average(n, summed, Power(x - mu))]]
    if given.unbiased:
        reported = indexed("unbiased", kept)
        lines += [[reported, average(n - 1, summed, Power(x - mu))], [indexed("s", kept), Root(reported)]]
    else:
        lines.append([indexed("std", kept), Root(var)])
    lines += [[indexed("xhat", AXES), normalized_x],
             [indexed("Y", AXES), indexed("gamma", kept) * indexed("xhat", AXES) + indexed("beta", kept)]]
    axes = "the axis" if len(summed) == 1 else "the axes"
    indexing = f"the statistics are indexed by {', '.join(kept)}" if kept else "there is one of each"
    return Step("Formulas", f"The sums run over {', '.join(summed)}, {axes} the statistics average; {indexing}.",
                lines)


def mean_step(given, stats) -> Step:
    shown, note = shown_statistics(stats, statistics_shape(given, given.statistics))
    lines = []
    for stat in shown:
        values = [given.input[cell] for cell in stat.cells]
        lines.append(mean_line(Symbol("mu", stat_label("mu", stat.index, given.statistics)), values, stat.mean))
    return Step("Means", "Each mean is the sum of its N values divided by N." + note, lines)


def variance_step(given, stats) -> Step:
    shown, note = shown_statistics(stats, statistics_shape(given, given.statistics))
    lines = []
    var, std = ("unbiased", "s") if given.unbiased else ("var", "std")
    for stat in shown:
        values = [given.input[cell] for cell in stat.cells]
        divisors = [(len(values), "var", stat.spread)]
        if given.unbiased:
            divisors.append((len(values) - 1, "unbiased", stat.variance))
        for divisor, name, value in divisors:
            lines.append(variance_line(Symbol(name, stat_label(name, stat.index, given.statistics)), values,
                                       stat.mean, divisor, value))
        lines.append([Symbol(std, stat_label(std, stat.index, given.statistics))]
                     + distinct([Root(Number(stat.variance)), Number(stat.std)]))
    text = "Each variance is the sum of the squared distances from the mean divided by N"
    text += ("; the unbiased s² divides the same sum by N − 1, and s is its square root. The output below "
             "uses σ²." if given.unbiased else "; σ is its square root.")
    return Step("Variances and standard deviations", text + note, lines)


def output_step(given, stats, answers) -> Step:
    by_cell = {cell: stat for stat in stats for cell in stat.cells}
    x = given.input
    cells, complete = shown_cells(x.shape)
    lines = []
    for cell in cells:
        stat = by_cell[cell]
        gamma, beta = entry(given.gamma, stat.index), entry(given.beta, stat.index)
        spread = Number(stat.spread) + Number(given.eps) if given.eps else Number(stat.spread)
        formula = minus(x[cell], stat.mean) / Root(spread)
        formula = formula if gamma == 1 else Number(gamma) * formula
        formula = formula if beta == 0 else plus(formula, beta)
        value = answers[f"output[{cell[0] + 1}]"].value[cell[1:]]
        lines.append([Symbol("Y", f"Y[{', '.join(str(i + 1) for i in cell)}]"), formula, Number(value)])
    eps = quantity("eps")
    text = (f"Each entry is centred by its mean, divided by ${latex(Root(quantity('sigma^2') + eps))}$ with "
            f"${latex(eps)} = {latex(exact(given.eps))}$")
    text += (", then scaled by γ and shifted by β of its statistic." if has_affine(given) else
             " (γ = 1 and β = 0 leave it as it is).")
    if given.unbiased:
        text += " σ² is the biased variance here, whatever variance the problem reports."
    if not complete:
        text += (f" The output has {x.size} entries; the first {len(cells)} are shown and the others "
                 "follow the same rule.")
    return Step("Normalized output", text, lines)


def result_step(given, answers) -> Step:
    names = ["mean", "variance", "std"] + [f"output[{b + 1}]" for b in range(given.input.shape[0])]
    return Step("Result", "The statistics in their shape, and the output sample by sample.",
                [[Symbol(name, answers[name].label), answers[name].value] for name in names])


# ---- mistakes -------------------------------------------------------------

def other_axes(given) -> list[tuple[str, dict, dict]]:
    return [(f"{other} statistics instead of {given.statistics}", {}, {"statistics": other})
            for other in STATISTICS if other != given.statistics]


def wrong_count(given) -> list[tuple[str, dict, dict]]:
    """N − 1 where N belongs, or N where the problem reports N − 1."""
    if not given.unbiased:
        return [("", {"unbiased": True}, {"normalize_unbiased": True})]
    return [("the variance reported", {"unbiased": False}, {}), ("the output", {}, {"normalize_unbiased": True})]


OWN_MISTAKES = {
    "unbiased_variance": Places("unbiased_variance", SHARED_MISTAKES["unbiased_variance"], wrong_count),
    "wrong_axes": Places("wrong_axes", SHARED_MISTAKES["wrong_axes"], other_axes),
}


class BatchNorm(Kind):
    name = "batchnorm"
    summary = SUMMARY
    answers = ANSWERS
    vary = VARY
    Given, Rules = Given, Rules
    mistakes = [OWN_MISTAKES["unbiased_variance"], "eps_forgotten", OWN_MISTAKES["wrong_axes"], "variance_for_std"]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        return computed(given, rules)

    def derive(self, given, answers) -> list[Step]:
        return derivation(given, answers)


KIND = BatchNorm()
