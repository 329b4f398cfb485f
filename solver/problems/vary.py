"""A problem's `vary`: read and checked when its file loads, and the numbers it draws.

`vary` maps given fields to a list of choices or a range `{min: a, max: b}`; how variants
use it is told in solver/problems/variants.py.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ..core.errors import ProblemError
from ..core.fields import MAX_SIZE, field_key

MAX_PLACES = 6               # decimals a drawn number has at most
RANGE = ("min", "max")
SPEC_FORM = "a list of choices, or a range {min: a, max: b}"


def read_vary(kind, given: dict, vary) -> dict:
    """A problem's `vary`, checked against its kind's fields and its given values."""
    if not isinstance(vary, dict):
        raise ProblemError(f"must be a mapping from given fields to {SPEC_FORM}", field="vary")
    fields = [field_key(f) for f in dataclasses.fields(kind.Given)]
    for name, spec in vary.items():
        if name not in fields:
            raise ProblemError(f"`{name}` is not a given field of kind `{kind.name}`; it takes "
                               f"{', '.join(fields)}", field=f"vary.{name}")
        resolved(name, spec, given.get(name))
    return vary


@dataclass(frozen=True)
class Range:
    """The numbers low/10^places to high/10^places: whole numbers, or decimals
    written to `places` decimals as the problem writes its own."""
    low: int
    high: int
    places: int

    def number(self, draws: Draws, nonzero: bool):
        """One number of the range; never 0 if `nonzero`, unless 0 is all it holds."""
        if nonzero and self.low <= 0 <= self.high and self.low < self.high:
            k = draws.integer(self.low, self.high - 1)
            k += k >= 0                       # 0 is left out: the numbers above it move down one
        else:
            k = draws.integer(self.low, self.high)
        return k if self.places == 0 else float(Fraction(k, 10**self.places))

    @property
    def only_zero(self) -> bool:
        return self.low == self.high == 0


def resolved(name: str, spec, original):
    """The spec as drawn: its list of choices, or a Range. Numbers are drawn to the
    decimals the original value is written with; a bound left out is the original's
    smallest (largest) number, rounded down (up) to one decimal fewer: 0.3 gives
    0 to 1, 0.15 gives 0.1 to 0.2, whole numbers stay as they are."""
    where = f"vary.{name}"
    if isinstance(spec, list):
        if not spec:
            raise ProblemError("is an empty list; list at least one choice", field=where)
        return spec
    if not isinstance(spec, dict) or not set(spec) <= set(RANGE):
        raise ProblemError(f"must be {SPEC_FORM}; got {spec!r}", field=where)
    numbers = numbers_in(original)
    places = max(map(decimals, numbers), default=0)
    unit = Fraction(1, 10**max(places - 1, 0))
    exact = [exact_number(x) for x in numbers]
    defaults = (math.floor(min(exact) / unit) * unit, math.ceil(max(exact) / unit) * unit) \
        if numbers else (None, None)
    bounds = [spec.get(bound, default) for bound, default in zip(RANGE, defaults)]
    low, high = (in_steps(value, places, bound, where) for bound, value in zip(RANGE, bounds))
    if low > high:
        raise ProblemError(f"has min {written(bounds[0])} larger than max {written(bounds[1])}", field=where)
    return Range(low, high, places)


def in_steps(value, places: int, bound: str, where: str) -> int:
    """A bound as a whole number of steps of 10^-places."""
    if value is None:
        raise ProblemError(f"needs `{bound}`: the given value has no numbers to take it from", field=where)
    number = isinstance(value, (int, float, Fraction)) and not isinstance(value, bool) \
        and math.isfinite(value) and abs(value) <= MAX_SIZE
    steps = exact_number(value) * 10**places if number else None
    if steps is None or steps.denominator != 1:
        form = "a whole number" if places == 0 else f"a number with at most {places} decimals, as the given value,"
        raise ProblemError(f"`{bound}` must be {form} between -{MAX_SIZE} and {MAX_SIZE}; got {value!r}",
                           field=where)
    return int(steps)


def written(x) -> str:
    """A bound as the problem would write it: 1, 0.3 (not 3/10)."""
    x = exact_number(x)
    return str(x) if x.denominator == 1 else str(float(x))


def numbers_in(value) -> list:
    """The numbers of a number or nested list (or a mapping of them: named tensors); [] if
    anything else is in it."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        found = [numbers_in(item) for item in value]
        return [x for part in found for x in part] if all(found) else []
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def exact_number(x) -> Fraction:
    """A YAML number as written: 0.3 is 3/10, not the float nearest it."""
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def decimals(x) -> int:
    """Decimals a number is written with: none for an int, at least one for a float
    (2.0), at most MAX_PLACES (a 1e-20 is drawn to MAX_PLACES decimals)."""
    if not isinstance(x, float):
        return 0
    return min(MAX_PLACES, max(1, -Decimal(repr(x)).as_tuple().exponent))


class Draws:
    """Whole numbers drawn from PCG64's raw stream for a key. NumPy keeps a bit
    generator's stream and SeedSequence the same across versions, but not the
    streams of Generator methods, so variants are made again identically (to grade
    them) on any NumPy."""

    def __init__(self, key: list[int]):
        self.bits = np.random.PCG64(np.random.SeedSequence(key))

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high]: rejection keeps the modulo unbiased."""
        span = high - low + 1
        limit = 2**64 - 2**64 % span
        while (raw := int(self.bits.random_raw())) >= limit:
            pass
        return low + raw % span
