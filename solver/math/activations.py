"""Each activation function once: its value and its slope (the derivative), exact where the
function is piecewise linear. A formula applies one as the node `Apply(name, argument)`."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from .nodes import Apply, Cases, Exp, Formula, Negative, Number, Power, Relation


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


@dataclass(frozen=True)
class Activation:
    name: str
    value: Callable[[Any], Any]
    slope: Callable[[Any], Any]
    definition: Callable[[Formula], Formula]                 # f(z) as a formula in z
    slope_rule: Callable[[Formula], Formula]                 # f'(z) as a formula in z
    slope_of_output: Callable[[Formula], Formula] | None = None    # f'(z) written with y = f(z), where it can be


def positive(z: Formula) -> Relation:
    return Relation(z, ">", 0)


ACTIVATIONS = {a.name: a for a in (
    Activation("sigmoid", sigmoid, lambda z: sigmoid(z) * (1 - sigmoid(z)),
               lambda z: 1 / (1 + Exp(Negative(z))), lambda z: Apply("sigmoid", z) * (1 - Apply("sigmoid", z)),
               lambda y: y * (1 - y)),
    Activation("tanh", lambda z: math.tanh(as_float(z)), lambda z: 1 - math.tanh(as_float(z)) ** 2,
               lambda z: (Exp(z) - Exp(Negative(z))) / (Exp(z) + Exp(Negative(z))),
               lambda z: 1 - Power(Apply("tanh", z)),
               lambda y: 1 - y * y),
    Activation("relu", lambda z: z if z > 0 else 0, lambda z: 1 if z > 0 else 0,
               lambda z: Cases(z, positive(z), 0), lambda z: Cases(1, positive(z), 0)),
    Activation("identity", lambda z: z, lambda z: 1, lambda z: z, lambda z: Number(1)),
    Activation("abs", abs, lambda z: 1 if z > 0 else -1 if z < 0 else 0,
               lambda z: Cases(z, Relation(z, ">=", 0), Negative(z)),
               lambda z: Cases(1, positive(z), Cases(-1, Relation(z, "<", 0), 0))),
)}
