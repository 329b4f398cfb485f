"""softmax_cross_entropy: PyTorch's F.cross_entropy by hand, its probabilities, loss and gradient.

One formula covers every option. Row b's target distribution a_b (one-hot for a class
index, label smoothing mixed in, then the class weights w) gives the row's loss
ℓ_b = -Σ_c a_bc log p_bc with p_b = softmax(z_b), and its gradient
∂ℓ_b/∂z_bj = p_bj Σ_c a_bc - a_bj (p - y for a plain one-hot target). The reduction
divides the sum of the rows by D: B for `mean` (the sum of the target classes' weights
when a class index is weighted, as PyTorch does), 1 for `sum`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import FieldError
from ...fields import array, choice, given_field, number, optional
from ...model import Answer
from ..base import Kind
from ..mistakes import Change

ROW_SUM_SLACK = 1e-9          # probability rows must sum to 1 within this


def read_target(name, value):
    """A class index, a list of them (one per row), or probability rows like the logits."""
    if isinstance(value, bool):
        raise FieldError(name, f"must be a class index (0-based), a list of them, or probability rows; got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    return array((1, 2), "a class index (0-based), a list of them (one per row), or probability rows")(name, value)


@dataclass(frozen=True, kw_only=True)
class Given:
    logits: Any = given_field(array((1, 2), "a vector of K scores or a B×K matrix"),
                              doc="the raw scores z: K classes, or B rows of K")
    target: Any = given_field(read_target, doc="the class of each row (0-based, as in PyTorch), or probability rows")
    reduction: str = given_field(choice("mean", "sum"), "mean", "mean (the default) or sum over the rows")
    label_smoothing: float = given_field(number, 0, "ε in [0, 1]: the target mixes (1 - ε) of itself with ε/K "
                                                    "of every class (default 0)")
    weight: Any = given_field(optional(array((1,), "one weight per class")), None, "a weight per class (optional)")


@dataclass(frozen=True)
class Rules:
    """PyTorch's conventions; each mistake changes one."""
    mean_divides: bool = True            # `mean` divides the sum of the rows by B (or the target weights)
    gradient_sign: int = 1               # ∂L/∂z = (p - y)/B; -1: (y - p)/B
    class_offset: int = 0                # 1: the class index read as 1-based, the log of the wrong class
    softmax_passes: int = 1              # 2: the probabilities put through softmax once more
    logits_as_probabilities: bool = False
    smoothing_classes: str = "K"         # "K-1": ε spread over the other classes only


@dataclass
class Rows:
    """The problem as B×K arrays of floats: z, the target distribution a (weights in), p."""
    z: np.ndarray
    a: np.ndarray
    divisor: float


def softmax(row: np.ndarray) -> np.ndarray:
    """exp(z - max) / Σ exp(z - max): the max shift changes nothing but keeps exp from overflowing."""
    powers = np.exp(row - row.max())
    return powers / powers.sum()


def as_rows(values) -> np.ndarray:
    rows = np.asarray(values, dtype=float)
    return rows[None] if rows.ndim == 1 else rows


def class_indices(given) -> tuple[int, ...] | None:
    """The target classes, one per row; None for probability targets."""
    if isinstance(given.target, int):
        return (given.target,)
    return given.target if isinstance(given.target, tuple) else None


def target_distribution(given, rules: Rules, classes: int) -> np.ndarray:
    """Each row's target as a distribution over the classes, label smoothing mixed in."""
    eps = given.label_smoothing
    indices = class_indices(given)
    if indices is None:
        return as_rows(given.target) * (1 - eps) + eps / classes
    rows = np.zeros((len(indices), classes))
    for b, y in enumerate(indices):
        target = y + rules.class_offset
        if not 0 <= target < classes:
            raise ValueError("no such class")
        if rules.smoothing_classes == "K-1":
            rows[b] = eps / (classes - 1) if classes > 1 else 0
            rows[b, target] = 1 - eps
        else:
            rows[b] = eps / classes
            rows[b, target] += 1 - eps
    return rows


def problem_rows(given, rules: Rules) -> Rows:
    z = as_rows(given.logits)
    weight = np.ones(z.shape[1]) if given.weight is None else np.asarray(given.weight, dtype=float)
    a = target_distribution(given, rules, z.shape[1]) * weight
    indices = class_indices(given)
    if given.reduction == "sum" or not rules.mean_divides:
        divisor = 1.0
    else:
        divisor = float(sum(weight[y] for y in indices)) if indices is not None and given.weight is not None \
            else float(z.shape[0])
    return Rows(z, a, divisor)


def probabilities(z: np.ndarray, rules: Rules) -> np.ndarray:
    if rules.logits_as_probabilities:
        if (z <= 0).any():
            raise ValueError("a logit that is not positive has no logarithm")
        return z
    p = z
    for _ in range(rules.softmax_passes):
        p = np.array([softmax(row) for row in p])
    return p


def shaped(given, rows: np.ndarray) -> np.ndarray:
    """B×K, or a vector where the logits are one."""
    return rows[0] if np.ndim(given.logits) == 1 else rows


def indexed(given) -> bool:
    return class_indices(given) is not None


OWN_MISTAKES = [
    Change("wrong_class", "The log of the wrong class's probability was taken: PyTorch numbers the classes from 0, "
                          "so target y picks the logit in column y counting from 0.",
           rules={"class_offset": 1}, applies=indexed),
    Change("softmax_twice", "Softmax was applied twice: F.cross_entropy takes the raw logits and applies "
                            "log-softmax itself, so the logits must not be turned into probabilities first.",
           rules={"softmax_passes": 2}),
    Change("logits_as_probabilities", "The logits were used as probabilities: they are raw scores; softmax turns "
                                      "them into probabilities (positive, summing to 1) before the log is taken.",
           rules={"logits_as_probabilities": True}),
    Change("smoothing_over_other_classes", "Label smoothing was spread over the other K - 1 classes: PyTorch mixes "
                                           "(1 - ε) of the target with ε/K of every class, the target included.",
           rules={"smoothing_classes": "K-1"}, applies=lambda g: indexed(g) and g.label_smoothing > 0),
]


class SoftmaxCrossEntropy(Kind):
    name = "softmax_cross_entropy"
    summary = "softmax and cross-entropy as F.cross_entropy computes them: probabilities, loss, gradient"
    answers = {
        "probabilities": "softmax(z): each row of the logits as probabilities (K, or B×K)",
        "log_probabilities": "log softmax(z) (K, or B×K)",
        "loss": "the cross-entropy, reduced as `reduction` says",
        "grad_logits": "∂L/∂z (K, or B×K)",
    }
    vary = {"logits": {}}
    Given, Rules = Given, Rules
    mistakes = ["mean_divisor_forgotten", "gradient_sign_flipped", *OWN_MISTAKES]

    def validate(self, given) -> None:
        classes = np.shape(given.logits)[-1]
        batch = 1 if np.ndim(given.logits) == 1 else np.shape(given.logits)[0]
        indices = class_indices(given)
        if indices is not None:
            if len(indices) != batch:
                raise FieldError("target", f"has {len(indices)} class(es); the logits have {batch} row(s), one each")
            if not all(0 <= y < classes for y in indices):
                raise FieldError("target", f"must be classes 0 to {classes - 1} (0-based, as in PyTorch); "
                                           f"got {list(indices)}")
        else:
            target = as_rows(given.target)
            if np.shape(given.target) != np.shape(given.logits):
                raise FieldError("target", f"probability rows must have the logits' shape "
                                           f"{'×'.join(map(str, np.shape(given.logits)))}")
            if (target < 0).any() or (np.abs(target.sum(axis=1) - 1) > ROW_SUM_SLACK).any():
                raise FieldError("target", "probability rows must be numbers >= 0 that sum to 1 in each row")
        if not 0 <= given.label_smoothing <= 1:
            raise FieldError("label_smoothing", f"must be between 0 and 1; got {given.label_smoothing}")
        if given.weight is not None:
            if len(given.weight) != classes:
                raise FieldError("weight", f"has {len(given.weight)} values; it needs one per class ({classes})")
            if any(w < 0 for w in given.weight):
                raise FieldError("weight", "must be weights >= 0")
            if indices is not None and given.reduction == "mean" and not sum(given.weight[y] for y in indices):
                raise FieldError("weight", "gives the target classes a total weight of 0, by which `mean` divides")

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        rows = problem_rows(given, rules)
        p = probabilities(rows.z, rules)
        log_p = np.log(p)
        loss = float(-(rows.a * log_p).sum() / rows.divisor)
        grad = rules.gradient_sign * (p * rows.a.sum(axis=1, keepdims=True) - rows.a) / rows.divisor
        if not math.isfinite(loss):
            raise ValueError("a target class has probability 0")
        return {"probabilities": Answer("probabilities", "matrix", shaped(given, p), "p"),
                "log_probabilities": Answer("log_probabilities", "matrix", shaped(given, log_p), "log p"),
                "loss": Answer("loss", "real", loss, "L"),
                "grad_logits": Answer("grad_logits", "matrix", shaped(given, grad), "dL/dz")}

    def derive(self, given, answers):
        return []


KIND = SoftmaxCrossEntropy()
