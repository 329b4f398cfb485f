"""Each activation's numbers once: its value and its slope (the derivative), exact where the
function is piecewise linear. Formula nodes evaluate with them (nodes.Apply); activations.py
adds each one's formulas."""
from __future__ import annotations

import math


def as_float(z) -> float:
    """A huge exact z as ±inf, where sigmoid and tanh are 0, 1 or ±1 anyway."""
    try:
        return float(z)
    except OverflowError:
        return math.inf if z > 0 else -math.inf


def sigmoid(z) -> float:
    """1 / (1 + e^-z), without overflow for large |z|."""
    z = as_float(z)
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


VALUE_AND_SLOPE = {
    "sigmoid": (sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z))),
    "tanh": (lambda z: math.tanh(as_float(z)), lambda z: 1 - math.tanh(as_float(z)) ** 2),
    "relu": (lambda z: z if z > 0 else 0, lambda z: 1 if z > 0 else 0),
    "identity": (lambda z: z, lambda z: 1),
    "abs": (abs, lambda z: 1 if z > 0 else -1 if z < 0 else 0),
    "sign": (lambda z: 1 if z > 0 else -1 if z < 0 else 0, lambda z: 0),      # torch.sign: 0 at 0
}
