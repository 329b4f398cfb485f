"""dropout: PyTorch's inverted dropout (F.dropout, nn.Dropout) with the random draw given.

In training each unit is zeroed with probability p and the kept ones are scaled by
s = 1/(1 - p): y = s (m ⊙ x) for the mask m (1 kept, 0 dropped), so the expectation over
masks is E[y] = (1 - p) s x = x. In evaluation dropout is the identity. Values are exact
(0.3 is 3/10), so the scale 10/7 and the outputs are fractions.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, boolean, given_field, number, optional, shape_text
from ...math.nodes import Array, Fraction_, Group, Hadamard, Number, Product, Symbol
from ...math.notation import quantity
from ...math.printing import latex
from ...core.model import Answer, Step
from ..sizes import distinct
from ..base import Kind
from ..common import written
from ..mistakes import Change


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(array((1, 2, 3, 4), "a vector, matrix or tensor of numbers (up to 4 axes)"),
                             doc="the activations x that reach the dropout layer")
    p: Any = given_field(number, doc="the probability that a unit is dropped (zeroed), 0 <= p < 1")
    mask: Any = given_field(optional(array((1, 2, 3, 4), "0s and 1s in the input's shape")), None,
                            "the draw: 1 where a unit is kept, 0 where it is dropped, in the input's shape "
                            "(needed in training)")
    training: bool = given_field(boolean, True, "true (the default): the layer in training mode; false: "
                                                "evaluation (model.eval()), where dropout is the identity")


@dataclass(frozen=True)
class Rules:
    """PyTorch's inverted dropout; each mistake changes one rule."""
    scaling: str = "inverted"       # kept units divided by the keep probability; "none", "times_p", "times_keep"
    keep: str = "1-p"               # the keep probability; "p": p read as the probability of keeping a unit
    scale_in_eval: bool = False     # True: the training scale applied in evaluation too


def keep_probability(p, rules: Rules):
    return p if rules.keep == "p" else 1 - p


def scale(p, training: bool, rules: Rules):
    """The factor the kept units are multiplied by; ZeroDivisionError where a wrong reading divides by 0."""
    q = keep_probability(p, rules)
    if not training:
        return Fraction(1) / q if rules.scale_in_eval else 1
    return {"inverted": lambda: Fraction(1) / q, "none": lambda: 1, "times_p": lambda: p,
            "times_keep": lambda: q}[rules.scaling]()


def whole(x):
    """A Fraction that is whole as an int, so the scale 2 shows as 2."""
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def exact_cells(values) -> np.ndarray:
    return np.vectorize(lambda v: whole(written(v)), otypes=[object])(values)


def scaled(values: np.ndarray, factor) -> np.ndarray:
    return np.vectorize(lambda v: whole(Fraction(v) * factor), otypes=[object])(values)


def training(given) -> bool:
    return given.training


def evaluating(given) -> bool:
    return not given.training and given.p != 0


MISTAKES = [
    Change("dropout_not_scaled", "The kept units were not scaled: PyTorch's dropout is inverted, so in training "
                                 "it divides every kept unit by the keep probability 1 - p, and the expected "
                                 "output equals the input.", rules={"scaling": "none"}, applies=training),
    Change("dropout_scaled_by_p", "The kept units were multiplied by p: in training PyTorch divides them by the "
                                  "keep probability 1 - p (p is the probability of dropping a unit).",
           rules={"scaling": "times_p"}, applies=training),
    Change("dropout_scaled_by_keep_probability", "The kept units were multiplied by 1 - p, the original "
                                                 "dropout's scaling at test time; PyTorch's inverted dropout "
                                                 "divides them by 1 - p in training instead, and leaves "
                                                 "evaluation alone.",
           rules={"scaling": "times_keep"}, applies=training),
    Change("dropout_scaled_at_evaluation", "The units were scaled in evaluation: there dropout is the identity "
                                           "(nothing dropped, nothing scaled); the 1/(1 - p) of inverted dropout "
                                           "applies only in training.",
           rules={"scale_in_eval": True}, applies=evaluating),
    Change("p_as_keep_probability", "p was read as the probability of keeping a unit; in PyTorch p is the "
                                    "probability of dropping it, so the kept units are divided by 1 - p, not p.",
           rules={"keep": "p"}, applies=lambda g: g.training and g.p != Fraction(1, 2)),
]


class Dropout(Kind):
    name = "dropout"
    summary = "inverted dropout as F.dropout computes it, with the draw (the mask) given: output, scale, expectation"
    answers = {
        "output": "the layer's output y (the input's shape)",
        "scale": "the factor s the kept units are multiplied by: 1/(1 - p) in training, 1 in evaluation",
        "expected_output": "E[y], the output's expectation over the random masks (the input's shape)",
    }
    vary = {"input": {}}
    Given, Rules = Given, Rules
    mistakes = MISTAKES

    def validate(self, given) -> None:
        if not 0 <= given.p < 1:
            raise FieldError("p", f"is the probability of dropping a unit and must be at least 0 and less than 1; "
                                  f"got {given.p}")
        if given.mask is None:
            if given.training:
                raise FieldError("mask", "is needed in training: dropout is random, so the problem gives the draw, "
                                         "1 where a unit is kept and 0 where it is dropped, in the input's shape "
                                         f"{shape_text(given.input.shape)}")
            return
        if given.mask.shape != given.input.shape:
            raise FieldError("mask", f"has shape {shape_text(given.mask.shape)}; it must have the input's shape "
                                     f"{shape_text(given.input.shape)}, one 0 or 1 per unit")
        if any(cell not in (0, 1) for cell in given.mask.flat):
            raise FieldError("mask", "must hold only 0 (the unit is dropped) and 1 (the unit is kept); found "
                                     f"{next(c for c in given.mask.flat if c not in (0, 1))!r}")
        if given.p == 0 and given.training and 0 in given.mask:
            raise FieldError("mask", "drops a unit, but with p = 0 every unit is kept")

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        p = written(given.p)
        s = whole(scale(p, given.training, rules))
        x = exact_cells(given.input)
        kept = x * exact_cells(given.mask) if given.training else x
        expectation = whole(keep_probability(p, rules) * s) if given.training else s
        return {"output": Answer("output", "matrix", scaled(kept, s), "y", decimal=True),
                "scale": Answer("scale", "rational", s, "s", decimal=True),
                "expected_output": Answer("expected_output", "matrix", scaled(x, expectation),
                                          latex(EXPECTED_Y), decimal=True)}

    def derive(self, given, answers) -> list[Step]:
        p = written(given.p)
        s = answers["scale"].value
        x = exact_cells(given.input)
        steps = [Step("Convention", CONVENTION + (" The layer is in training mode; the problem gives the draw as "
                                                  "the mask $m$ (1 kept, 0 dropped)." if given.training else
                                                  " The layer is in evaluation mode (model.eval()).")),
                 scale_step(given, p, s)]
        if given.training:
            mask = exact_cells(given.mask)
            kept = x * mask
            steps.append(Step("Output", f"Each unit is multiplied by its mask entry, then the kept ones by "
                                        f"${latex(S)}$:",
                              [[M_X, Hadamard(decimals(mask), decimals(x)), decimals(kept)],
                               [Y, Product([S, Group(M_X)]), Product([Number(s), decimals(kept)]),
                                decimals(answers["output"].value)]]))
            keep = 1 - p
            steps.append(Step("Expected output", f"Each unit is kept with probability $1 - p = "
                                                 f"{latex(Number(keep, decimal=True))}$, so the expectation over "
                                                 "the masks is the input itself: inverted dropout keeps the "
                                                 "expected activation, and evaluation can use the network as it "
                                                 "is.",
                              [distinct([EXPECTED_Y, Product([Group(1 - P), S, X]),
                                         Product([Number(keep, decimal=True), Number(s), decimals(x)], dot=True),
                                         decimals(answers["expected_output"].value)])]))
        else:
            steps.append(Step("Output", "Nothing is dropped and nothing is scaled: the output is the input, and so "
                                        "is its expectation (there is no randomness in evaluation).",
                              [[Y, EXPECTED_Y, X, decimals(answers["output"].value)]]))
        return steps


P, S, X, Y = Symbol("p"), Symbol("s"), Symbol("x"), Symbol("y")
M_X = Hadamard(Symbol("m"), X)
EXPECTED_Y = quantity("E[y]")
CONVENTION = ("PyTorch's dropout (F.dropout, nn.Dropout) is inverted dropout: in training each unit is zeroed "
              "with probability $p$ and the units kept are scaled by $s = 1/(1 - p)$, so that the output's "
              "expectation equals the input; in evaluation the layer is the identity.")


def decimals(values: np.ndarray) -> Array:
    """Exact values shown as decimals where they are short (0.45, but 10/7)."""
    return Array(values, decimal=True)


def scale_step(given, p, s) -> Step:
    if not given.training:
        return Step("Scale", "In evaluation no unit is dropped, so none is scaled.", [[S, Number(1)]])
    return Step("Scale", f"The units kept are divided by the keep probability $1 - p$, with $p = "
                         f"{latex(Number(p, decimal=True))}$:",
                [distinct([S, Fraction_(Number(1), 1 - P), Fraction_(Number(1), Number(1) - Number(p, decimal=True)),
                           Number(s)])])


KIND = Dropout()
