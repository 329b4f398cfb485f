"""How close a number must be to count as correct, and a problem's `tolerance` field.

By default a decimal is correct when it is the expected value correctly
rounded to 3 significant figures (or more precise), and exact values (integers,
fractions) compare exactly. A problem may set its own rule for every answer, or
one per answer:

    tolerance: {sig_figs: 4}                 # or {relative: 0.01}, {absolute: 0.001}
    tolerance: {sig_figs: 4, loss: {absolute: 0.001}, "output[2]": {relative: 0.05}}

A rule with several bounds allows the loosest of them. A rule set in the
problem applies to every number of the answer, integers and fractions too.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..core.errors import ProblemError

MAX_SIG_FIGS = 15            # a float holds about 16
FLOAT_NOISE = 1e-12          # differences this small are a float's rounding, not the student's
INDEXED = re.compile(r"\[\d+\]\Z")      # params[3] is an answer NAME[i]: a rule for NAME[i] applies
CLOSE = 10                   # a miss within this many times the allowed difference is "close"
_ALLOWED = ("`tolerance` takes sig_figs (a whole number from 1 to 15), relative (a number above 0 and "
            "below 1) or absolute (a number above 0), for every answer, and answer names each with such "
            "a mapping, e.g. {sig_figs: 4, loss: {absolute: 0.001}}")


@dataclass(frozen=True)
class Tolerance:
    sig_figs: int | None = None
    relative: float | None = None
    absolute: float | None = None

    def allowed(self, expected: float) -> float:
        """The largest difference from `expected` that still counts as correct."""
        bounds = [FLOAT_NOISE]
        if self.sig_figs is not None and expected != 0:
            bounds.append(half_unit(expected, self.sig_figs))
        if self.relative is not None:
            bounds.append(self.relative * abs(expected))
        if self.absolute is not None:
            bounds.append(self.absolute)
        return max(bounds) * (1 + 1e-9)

    def accepts(self, student: float, expected: float) -> bool:
        return abs(student - expected) <= self.allowed(expected)

    def describe(self) -> str:
        """How precise an answer is asked to be: "to 3 significant figures"."""
        parts = []
        if self.sig_figs is not None:
            parts.append(f"to {self.sig_figs} significant figures")
        if self.relative is not None:
            parts.append(f"within {self.relative * 100:g}% of the value")
        if self.absolute is not None:
            parts.append(f"within ±{self.absolute:g}")
        return " or ".join(parts)


DEFAULT = Tolerance(sig_figs=3)


def half_unit(expected: float, sig_figs: int) -> float:
    """Half a unit in the last of `sig_figs` significant figures of `expected`: 0.0005 for 0.2687 and 3."""
    return 0.5 * 10.0 ** (math.floor(math.log10(abs(expected))) - sig_figs + 1)


def close_miss(student: float, expected: float, rule: Tolerance) -> str:
    """A sentence for a value near the expected one but outside `rule`, or "" if it is not near."""
    difference = abs(student - expected)
    if difference > CLOSE * rule.allowed(expected) or expected == 0:
        return ""
    return (f"{student:g} is close (within {difference / abs(expected) * 100:.2g}% of the expected value), "
            f"but the answer is asked {rule.describe()}.")


@dataclass(frozen=True)
class Tolerances:
    """A problem's `tolerance`: one rule for every answer, and rules per answer."""
    every: Tolerance | None = None
    answers: tuple[tuple[str, Tolerance], ...] = ()

    def of(self, answer: str) -> Tolerance | None:
        """The rule for one answer (`output[2]` also takes a rule given for `output[i]`); None: the default."""
        own = dict(self.answers)
        return own.get(answer) or own.get(INDEXED.sub("[i]", answer)) or self.every


def tolerance_of(problem, answer_name: str):
    """The problem's tolerance for that answer, or None for the default."""
    return problem.tolerance.of(answer_name) if problem.tolerance else None


def read_tolerances(raw, is_answer) -> Tolerances:
    """The `tolerance` field; `is_answer(name)` says whether the kind has an answer of that name."""
    if not isinstance(raw, dict) or not raw:
        raise ProblemError(f"{_ALLOWED}; got {raw!r}", field="tolerance")
    rules = {key: value for key, value in raw.items() if key in _READERS}
    answers = []
    for name, value in raw.items():
        if name in rules:
            continue
        if not isinstance(name, str) or not is_answer(name):
            raise ProblemError(f"{_ALLOWED}; `{name}` is neither a rule nor an answer of this problem's kind",
                               field="tolerance")
        if not isinstance(value, dict) or not value or not set(value) <= set(_READERS):
            raise ProblemError(f"{_ALLOWED}; `{name}` has {value!r}", field="tolerance")
        answers.append((name, _rule(value, f"{name}.")))
    return Tolerances(_rule(rules, "") if rules else None, tuple(answers))


def _rule(raw: dict, prefix: str) -> Tolerance:
    return Tolerance(**{key: _READERS[key](f"{prefix}{key}", value) for key, value in raw.items()})


def _sig_figs(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIG_FIGS:
        raise ProblemError(f"{_ALLOWED}; `{name}` is {value!r}", field="tolerance")
    return value


def _positive(below_one: bool):
    def read(name, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                0 < value < (1 if below_one else math.inf)):
            raise ProblemError(f"{_ALLOWED}; `{name}` is {value!r}", field="tolerance")
        return float(value)
    return read


_READERS = {"sig_figs": _sig_figs, "relative": _positive(True), "absolute": _positive(False)}
