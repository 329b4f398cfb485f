"""The statistics of a normalization, shared by batchnorm and normalization: the cells grouped
by the statistic they belong to, each group's mean and variance (exact where exact), the
normalized value γ·(x − μ)/√(σ² + ε) + β, and the lines of the Means and Variances steps.

Which statistic a cell belongs to is the kind's business (a function of the cell's index);
everything here works on any grouping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, number
from ...math.nodes import Dots, Formula, Fraction_, Number, Power, Sum, Symbol, divide
from ..common import exact, shown_cells
from ..sizes import distinct

MAX_TERMS = 12                # a longer sum shows its first and last terms around "⋯"


def read_eps(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise FieldError(name, f"must be a number >= 0 (PyTorch's default is 1e-5); got {value!r}")
    return value


def affine_reader(shape: str):
    """A reader of γ or β: one number, or a nested list in `shape` (how the kind words it)."""
    def read(name, value):
        if isinstance(value, list):
            return array((1, 2, 3), f"a number or a nested list with {shape}")(name, value)
        return number(name, value)
    return read


def entry(values, index):
    """γ or β at `index`: the one number, or its entry."""
    return exact(values[index]) if isinstance(values, np.ndarray) else values


def has_affine(given) -> bool:
    """γ or β other than PyTorch's initial 1 and 0."""
    return not (np.array_equal(given.gamma, 1) and np.array_equal(given.beta, 0))


@dataclass
class Statistic:
    index: tuple           # where it sits in the statistics' array (from 0)
    cells: list            # the input indices it averages
    mean: Any
    variance: Any          # as reported: divided by N, or by N − 1 where the problem reports that
    std: Any               # √variance
    spread: Any            # the variance the output is normalized with (biased, unless a mistake)


def gathered(x, index_of: Callable[[tuple], tuple], reported_offset: int = 0,
             normalize_offset: int = 0) -> list[Statistic]:
    """One Statistic per index `index_of(cell)` gives, in the order the cells first reach it; the
    variance reported divides by N − reported_offset, the one normalized with by N − normalize_offset."""
    groups = {}
    for cell in np.ndindex(*x.shape):
        groups.setdefault(index_of(cell), []).append(cell)
    found = []
    for index, cells in groups.items():
        values = [x[cell] for cell in cells]
        mean = divide(sum(values), len(values))
        squares = sum((v - mean) ** 2 for v in values)
        variance = exact(divide(squares, len(values) - reported_offset))
        spread = exact(divide(squares, len(values) - normalize_offset))
        found.append(Statistic(index, cells, exact(mean), variance, square_root(variance), spread))
    return found


def statistics_array(stats: list[Statistic], shape: tuple, field: str) -> np.ndarray:
    """One field of every statistic (mean, variance, ...) in the statistics' shape."""
    values = np.empty(shape, dtype=object)
    for stat in stats:
        values[stat.index] = getattr(stat, field)
    return values


def square_root(q):
    """√q: a whole number or fraction where it is one, else a sympy radical; a float stays a float."""
    if isinstance(q, float):
        return math.sqrt(q)
    q = Fraction(q)
    top, bottom = math.isqrt(q.numerator), math.isqrt(q.denominator)
    if top * top == q.numerator and bottom * bottom == q.denominator:
        return exact(Fraction(top, bottom))
    import sympy
    return sympy.sqrt(sympy.Rational(q.numerator, q.denominator))


def normalized_value(x, mean, spread, eps, gamma=1, beta=0, divide_by: str = "std"):
    """γ·(x − μ)/√(σ² + ε) + β for the variance `spread` (σ² + ε itself where `divide_by` is
    "variance"): exact unless a decimal is involved; ZeroDivisionError where σ² + ε is 0."""
    spread = spread + eps
    denominator = square_root(spread) if divide_by == "std" else spread
    centred = x - mean
    if any(isinstance(v, float) for v in (centred, denominator, gamma, beta)):
        return float(gamma) * float(centred) / float(denominator) + float(beta)
    if isinstance(denominator, (int, Fraction)):
        return exact(gamma * divide(centred, denominator) + beta)
    import sympy
    return gamma * sympy.Rational(centred) / denominator + beta


# ---- the derivation's lines -------------------------------------------------------------

def minus(a, b) -> Formula:
    return Number(a) - Number(b)


def plus(a: Formula, b) -> Formula:
    """a + b, written a - |b| for a negative number b."""
    return a - Number(-b) if b < 0 else a + Number(b)


def terms(formulas: list[Formula]) -> Formula:
    """A sum of the terms, or of its first and last ones around ⋯ when it is long."""
    if len(formulas) > MAX_TERMS:
        formulas = formulas[:3] + [Dots()] + formulas[-1:]
    return Sum(formulas)


def shown_statistics(stats: list[Statistic], shape: tuple) -> tuple[list[Statistic], str]:
    """The statistics a derivation works out one by one, and a sentence where those are not all."""
    cells, complete = shown_cells(shape)
    note = "" if complete else (f" There are {len(stats)} statistics; the first {len(cells)} are shown "
                                "and the others follow the same rule.")
    return stats[:len(cells)], note


def mean_line(label: Symbol, values: list, mean) -> list:
    """μ = (x₁ + ⋯ + x_N)/N = total/N = μ, the repeated members dropped."""
    n = len(values)
    return [label] + distinct([Fraction_(terms([Number(v) for v in values]), Number(n)),
                               Fraction_(Number(exact(sum(values))), Number(n)), Number(mean)])


def variance_line(label: Symbol, values: list, mean, divisor: int, value) -> list:
    """σ² = ((x₁ − μ)² + ⋯)/divisor = total/divisor = σ²."""
    squares = [Power(minus(v, mean)) for v in values]
    total = exact(sum((v - mean) ** 2 for v in values))
    return [label] + distinct([Fraction_(terms(squares), Number(divisor)),
                               Fraction_(Number(total), Number(divisor)), Number(value)])
