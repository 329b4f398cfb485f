"""Pieces the convolution family shares: readers, padding, windows, activation."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np

from ..errors import FieldError
from ..fields import Pair, pair
from ..math.nodes import Symbol
from ..model import Answer, Step

MAX_SHOWN_CELLS = 50      # larger outputs show a few windows and the rule
WINDOWS_SHOWN_WHEN_LARGE = 4


@dataclass
class Mistake:
    """A named common error: `answers(given)` re-solves with that one thing changed.

    It returns the answers the mistake changes, or {} where it does not apply;
    or a list of (where, answers) when it can be made in several places.
    """
    name: str
    feedback: str
    answers: Callable[[Any], dict | list]

    def cases(self, given) -> list[tuple[str, dict]]:
        """[(where, answers)]: one case, or one per place the mistake can be made
        (a network's padding forgotten in layer 1, or in layer 3, ...)."""
        found = self.answers(given)
        return found if isinstance(found, list) else [("", found)]


# The mistakes several kinds diagnose, one wording each (a kind's own mistakes stay in its module).
SHARED_MISTAKES = {
    "bias_forgotten": "The bias is missing: every filter (output channel) or unit has its own bias, a "
                      "learnable parameter added to each value it outputs, at every position and every step "
                      "(one addition each).",
    "bias_counted": "A bias was counted where there is none: with `bias: false` a layer has only its weights, "
                    "and its outputs take no addition for a bias.",
    "bias_per_layer": "The bias was counted once per layer; every filter (output channel) or output feature "
                      "has its own bias, so a layer has as many biases as output channels or features.",
    "padding_forgotten": "The padding was left out: P rows and columns of zeros go on each side of the input "
                         "before the windows are taken, so the size formula has H + 2P.",
    "padding_once": "The padding was counted on one side only: P rows and columns are added on each side "
                    "(cropped from each side, in a transposed convolution), so the size formula has 2P, not P.",
    "stride_ignored": "The stride was taken as 1: each window (each input cell's kernel, in a transposed "
                      "convolution) starts S cells after the one before, and a pooling layer's stride "
                      "defaults to its kernel size, not 1.",
    "ceil_window_kept": "The last window was kept: in ceil_mode PyTorch drops a window that would start in the "
                        "end padding (at H + P or beyond), so the rounded-up count loses 1 there.",
    "ceil_instead_of_floor": "The size was rounded up: the number of windows is rounded down, since a window "
                             "that does not fit is not taken (only pooling's ceil_mode rounds up).",
    "floor_instead_of_ceil": "The size was rounded down: with ceil_mode PyTorch rounds up (dropping only a "
                             "window that would start in the padding).",
    "floor_dropped": "The rounding is missing: the number of window positions is a whole number, the floor "
                     "(the ceiling in ceil_mode) of (H + 2P - D(K - 1) - 1)/S, plus 1.",
    "in_channels_ignored": "The kernel depth was taken as 1: a filter spans every input channel it sees (C_in, "
                           "or C_in/g with g groups), so it has (C_in/g)·K_h·K_w weights and makes as many "
                           "multiplications per output, not K_h·K_w.",
    "image_channels_everywhere": "Every kernel was given the input image's channel count; a kernel's depth is "
                                 "the number of channels of its own input, the previous layer's filters.",
    "dilation_as_k_times_d": "The dilated kernel was taken as K·D wide; dilation D spans D(K - 1) + 1 entries.",
    "kernel_flipped": "The kernel is rotated by 180°: PyTorch's convolutions, transposed ones too, use the "
                      "kernel as it is (a cross-correlation); only a problem that asks for a true "
                      "convolution flips it.",
}


def shared_mistake(name: str, answers: Callable[[Any], dict | list]) -> Mistake:
    """A mistake from the shared catalogue, with the kind's own way of re-solving under it."""
    return Mistake(name, SHARED_MISTAKES[name], answers)


def resolve_changed(validate, solve, given, **changes) -> dict:
    """A kind's answers with some givens changed, or {} where that is no valid problem."""
    try:
        changed = dataclasses.replace(given, **changes)
        validate(changed)
        return {name: a.value for name, a in solve(changed).answers.items()}
    except (FieldError, ZeroDivisionError):
        return {}


def size_answer(given, sizes, axis_pair) -> Answer:
    """output_size: one value (or formula) where the problem gives one square
    size, else the shape [H_out, W_out]. `sizes` holds (size, lines, ...) per axis."""
    (h, *_), (w, *_) = sizes
    if given.input is None and given.input_size.scalar and axis_pair[0] == axis_pair[1]:
        return Answer("output_size", "integer" if isinstance(h, int) else "expression", h, r"H_{\text{out}}")
    return Answer("output_size", "shape", (h, w), r"H_{\text{out}} \times W_{\text{out}}")


def read_padding(name, value):
    """An int, an (h, w) pair, or PyTorch's strings 'same' / 'valid'."""
    if value in ("same", "valid"):
        return value
    try:
        return pair(0, True)(name, value)
    except FieldError:
        raise FieldError(name, "must be an integer >= 0, a pair [h, w] of them, a symbol "
                               f"name, 'same' or 'valid'; got {value!r}") from None


def read_bias(name, value):
    """One number, or a list with one number per output channel."""
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise FieldError(name, f"must be a number or a list of numbers (one per output channel); got {value!r}")
    return tuple(values)


def padding_amounts(padding, k, d, axis) -> tuple:
    """(begin, end) padding on one axis; 'same' puts the odd extra at the end."""
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = d * (k - 1)
        return total // 2, total - total // 2
    return padding[axis], padding[axis]


def as_channels(x: np.ndarray) -> np.ndarray:
    """H×W becomes 1×H×W so one code path serves both."""
    return x[None] if x.ndim == 2 else x


def pad(x: np.ndarray, pads, fill=0) -> np.ndarray:
    """Pad the last two axes of a C×H×W object array by ((top, bottom), (left, right))."""
    (top, bottom), (left, right) = pads
    c, h, w = x.shape
    out = np.full((c, h + top + bottom, w + left + right), fill, dtype=object)
    out[:, top:top + h, left:left + w] = x
    return out


def exact(x):
    """Turn whole floats into ints so 2.0 shows as 2; leave the rest."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 2**53:
        return int(x)
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


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


def activation_step(output: np.ndarray, activation, label: str):
    """ReLU as a follow-up step: max(0, y) cell by cell."""
    if activation is None:
        return None, output
    relu = np.empty(output.shape, dtype=object)
    for index, v in np.ndenumerate(output):
        relu[index] = v if v > 0 else 0
    step = Step("ReLU", f"ReLU(z) = max(0, z) is applied to every cell of {label}: negative "
                        "cells become 0, the others stay.",
                [[Symbol(f"ReLU({label})", rf"\mathrm{{ReLU}}({label})"), relu]])
    return step, relu


def squeeze_output(y: np.ndarray, input_ndim: int) -> np.ndarray:
    """A 2-D problem (one channel in, one out) answers a 2-D matrix."""
    return y[0] if input_ndim == 2 and y.shape[0] == 1 else y


def check_not_symbolic_with_matrices(given, names):
    for name in names:
        value = getattr(given, name)
        if isinstance(value, Pair) and value.symbolic:
            raise FieldError(name, "must be a number when `input` is a matrix; symbols are for "
                                   "size-only problems (input_size, kernel_size)")
