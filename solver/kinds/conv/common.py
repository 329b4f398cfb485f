"""Pieces the convolution family shares: readers, channels, padding, the size answer, activation."""
from __future__ import annotations

import numpy as np

from ...answers.types import Shape, answer_type
from ...core.errors import FieldError
from ...core.fields import Pair
from ...math.nodes import Apply, Symbol
from ...math.notation import quantity, written
from ...math.printing import latex
from ...core.model import Answer, Step


def size_answer(given, sizes, axis_pair) -> Answer:
    """output_size: one value (or formula) where the problem gives one square
    size, else the shape [H_out, W_out]. `sizes` holds (size, lines, ...) per axis."""
    (h, *_), (w, *_) = sizes
    if given.input is None and given.input_size.scalar and axis_pair[0] == axis_pair[1]:
        return Answer("output_size", "integer" if isinstance(h, int) else "expression", h, written("H_out"))
    return Answer("output_size", "shape", (h, w), latex((quantity("H_out"), quantity("W_out"))))


def size_under_rules(answer: Answer, sizes, unrounded: bool) -> Answer:
    """The output_size answer a mistake's rules give; a FieldError where they leave no window,
    or give a shape without rounding (not something a student writes)."""
    if any(isinstance(size, int) and size < 1 for size, *_ in sizes):
        raise FieldError("kernel", "leaves no window position under these rules")
    if unrounded and isinstance(answer_type(answer.type), Shape):
        raise FieldError("output_size", "is a shape: its sizes are written rounded")
    return answer


def read_bias(name, value):
    """One number, or a list with one number per output channel."""
    values = value if isinstance(value, list) else [value]
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise FieldError(name, f"must be a number or a list of numbers (one per output channel); got {value!r}")
    return tuple(values)


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


def activated(output: np.ndarray, activation) -> np.ndarray:
    """ReLU cell by cell, max(0, y), where the problem asks for it; else the output as it is."""
    if activation is None:
        return output
    relu = np.empty(output.shape, dtype=object)
    for index, v in np.ndenumerate(output):
        relu[index] = v if v > 0 else 0
    return relu


def activation_steps(relu: np.ndarray, activation, label: str) -> list[Step]:
    """ReLU as a follow-up step (none without an activation); `relu` is the activated output."""
    if activation is None:
        return []
    return [Step("ReLU", f"ReLU(z) = max(0, z) is applied to every cell of {label}: negative "
                         "cells become 0, the others stay.",
                 [[Apply("relu", Symbol(label)), relu]])]


def squeeze_output(y: np.ndarray, input_ndim: int) -> np.ndarray:
    """A 2-D problem (one channel in, one out) answers a 2-D matrix."""
    return y[0] if input_ndim == 2 and y.shape[0] == 1 else y


def check_not_symbolic_with_matrices(given, names):
    for name in names:
        value = getattr(given, name)
        if isinstance(value, Pair) and value.symbolic:
            raise FieldError(name, "must be a number when `input` is a matrix; symbols are for "
                                   "size-only problems (input_size, kernel_size)")
