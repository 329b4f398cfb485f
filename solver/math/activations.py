"""Each activation function once: its value and slope (from functions.py) and its formulas,
the function and its derivative as nodes. A formula applies one as the node `Apply(name, argument)`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .functions import VALUE_AND_SLOPE
from .nodes import Apply, Cases, Exp, Formula, Negative, Number, Power, Relation


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
    Activation("sigmoid", *VALUE_AND_SLOPE["sigmoid"],
               lambda z: 1 / (1 + Exp(Negative(z))), lambda z: Apply("sigmoid", z) * (1 - Apply("sigmoid", z)),
               lambda y: y * (1 - y)),
    Activation("tanh", *VALUE_AND_SLOPE["tanh"],
               lambda z: (Exp(z) - Exp(Negative(z))) / (Exp(z) + Exp(Negative(z))),
               lambda z: 1 - Power(Apply("tanh", z)),
               lambda y: 1 - y * y),
    Activation("relu", *VALUE_AND_SLOPE["relu"], lambda z: Cases(z, positive(z), 0), lambda z: Cases(1, positive(z), 0)),
    Activation("identity", *VALUE_AND_SLOPE["identity"], lambda z: z, lambda z: Number(1)),
    Activation("abs", *VALUE_AND_SLOPE["abs"],
               lambda z: Cases(z, Relation(z, ">=", 0), Negative(z)),
               lambda z: Cases(1, positive(z), Cases(-1, Relation(z, "<", 0), 0))),
)}
