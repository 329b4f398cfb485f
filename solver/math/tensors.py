"""Small tensors (vectors and matrices) as a derivation computes with them: numpy arrays of dtype
object whose entries are exact where they can be (ints and Fractions through + - * / and @, a
float past exp and log). Each operation is PyTorch's: broadcasting, torch.matmul on 1-D and 2-D
operands, softmax and log_softmax over the last dimension. A result of no dimension (a sum, a
dot product) is a plain number, never a 0-d array. Formula nodes evaluate with these
(nodes.MatrixProduct, nodes.Apply); the graph kind computes with them.
"""
from __future__ import annotations

import math

import numpy as np


def is_tensor(x) -> bool:
    return isinstance(x, np.ndarray)


def shape_of(x) -> tuple:
    return tuple(x.shape) if is_tensor(x) else ()


def scalar(x):
    """A 0-d array's entry; anything else as it is."""
    return x.item() if is_tensor(x) and x.ndim == 0 else x


def broadcast_shape(*shapes) -> tuple | None:
    """The shape PyTorch broadcasts these to (trailing axes equal, or one of them 1), or None."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def entrywise(f, *args):
    """f applied entry by entry to the arguments broadcast to one shape."""
    shape = broadcast_shape(*map(shape_of, args))
    spread = [np.broadcast_to(np.asarray(a, dtype=object), shape) for a in args]
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = f(*(a[index] for a in spread))
    return scalar(out)


ROUND_OFF = 1e-12             # a float sum this small beside its terms is 0: their round-off


def size(a) -> float:
    """The largest magnitude among the entries."""
    return max((abs(float(v)) for v in np.ravel(np.asarray(a, dtype=object))), default=0.0)


def snapped(x, scale: float):
    """A sum of floats as 0.0 where it is round-off beside terms of size `scale`: softmax's gradients, which
    add up to 0 exactly, give 1e-16, which no student would write (and no tolerance around it takes 0)."""
    return entrywise(lambda v: 0.0 if isinstance(v, float) and abs(v) <= ROUND_OFF * scale else v, x)


def unbroadcast(g, shape: tuple):
    """A gradient at a broadcast shape summed back to `shape`: over the axes broadcasting added
    and those where `shape` has 1."""
    g = np.asarray(g, dtype=object)
    scale = size(g)
    while g.ndim > len(shape):
        g = np.asarray(g.sum(axis=0), dtype=object)
    for axis, size_ in enumerate(shape):
        if size_ == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return snapped(scalar(g), scale)


def matmul(a, b):
    """torch.matmul on vectors and matrices: a vector on the left is a row, on the right a column,
    and two vectors give their dot product."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    return snapped(scalar(np.matmul(a, b)), size(a) * size(b) * a.shape[-1])


def outer(a, b):
    return np.multiply.outer(np.asarray(a, dtype=object), np.asarray(b, dtype=object))


def total(a):
    """The sum of every entry (torch.sum), exact."""
    out = 0
    for x in np.ravel(np.asarray(a, dtype=object)):
        out = out + x
    return snapped(out, size(a))


def mean(a):
    from fractions import Fraction
    n = np.asarray(a, dtype=object).size
    s = total(a)
    if isinstance(s, (int, Fraction)):
        q = Fraction(s) / n
        return q.numerator if q.denominator == 1 else q
    return s / n


def row_sums(a):
    """Sums over the last dimension, kept as a dimension of 1 (so that it broadcasts back)."""
    return np.asarray(snapped(np.asarray(a, dtype=object).sum(axis=-1, keepdims=True), size(a)), dtype=object)


def softmax(a):
    """exp(x_i - max x) / Σ_j exp(x_j - max x) over the last dimension, as floats."""
    x = np.asarray(a, dtype=object)
    e = np.vectorize(math.exp, otypes=[object])(np.vectorize(float, otypes=[object])(
        x - x.max(axis=-1, keepdims=True)))
    return scalar(e / e.sum(axis=-1, keepdims=True))


def log_softmax(a):
    """x_i - max x - log Σ_j exp(x_j - max x) over the last dimension, as floats."""
    x = np.vectorize(float, otypes=[object])(np.asarray(a, dtype=object))
    shifted = x - x.max(axis=-1, keepdims=True)
    logs = np.vectorize(math.log, otypes=[object])(np.vectorize(math.exp, otypes=[object])(shifted)
                                                   .sum(axis=-1, keepdims=True))
    return scalar(shifted - logs)


TENSOR_FUNCTIONS = {"sum": total, "mean": mean, "softmax": softmax, "log_softmax": log_softmax}
