"""Pieces several kinds share: padding, exact numbers, the cells a derivation shows;
and, for the kinds not yet on the Kind base, re-solving with a given changed."""
from __future__ import annotations

import dataclasses
from fractions import Fraction

import numpy as np

from ..core.errors import FieldError
from ..core.fields import pair

MAX_SHOWN_CELLS = 50      # larger outputs show a few windows and the rule
WINDOWS_SHOWN_WHEN_LARGE = 4


def resolve_changed(validate, solve, given, **changes) -> dict:
    """A kind's answers with some givens changed, or {} where that is no valid problem."""
    try:
        changed = dataclasses.replace(given, **changes)
        validate(changed)
        return {name: a.value for name, a in solve(changed).answers.items()}
    except (FieldError, ZeroDivisionError):
        return {}


def read_padding(name, value):
    """An int, an (h, w) pair, or PyTorch's strings 'same' / 'valid'."""
    if value in ("same", "valid"):
        return value
    try:
        return pair(0, True)(name, value)
    except FieldError:
        raise FieldError(name, "must be an integer >= 0, a pair [h, w] of them, a symbol "
                               f"name, 'same' or 'valid'; got {value!r}") from None


def padding_amounts(padding, k, d, axis) -> tuple:
    """(begin, end) padding on one axis; 'same' puts the odd extra at the end."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = d * (k - 1)
        return total // 2, total - total // 2
    return padding[axis], padding[axis]


def exact(x):
    """Turn whole floats into ints so 2.0 shows as 2; leave the rest."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


def written(x: float):
    """A number as the problem file writes it, exactly: 0.1 is 1/10, 2.0 is 2."""
    q = Fraction(repr(float(x)))
    return q.numerator if q.denominator == 1 else q


def exact_array(a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    for index, v in np.ndenumerate(a):
        out[index] = exact(v)
    return out


def shown_cells(shape) -> tuple[list, bool]:
    """The output cells a derivation shows one by one, and whether that is all."""
    cells = list(np.ndindex(*shape))
    if len(cells) <= MAX_SHOWN_CELLS:
        return cells, True
    return cells[:WINDOWS_SHOWN_WHEN_LARGE], False


