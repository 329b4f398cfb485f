"""softmax_cross_entropy: PyTorch's F.cross_entropy by hand, its probabilities, loss and gradient.

One formula covers every option. Row b's target distribution a_b (one-hot for a class
index, label smoothing mixed in, then the class weights w) gives the row's loss
ℓ_b = -Σ_c a_bc log p_bc with p_b = softmax(z_b), and its gradient
∂ℓ_b/∂z_bj = p_bj Σ_c a_bc - a_bj (p - y for a plain one-hot target). The reduction
divides the sum of the rows by D: B for `mean` (the sum of the target classes' weights
when a class index is weighted, as PyTorch does), 1 for `sum`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, choice, given_field, number, optional
from ...math.nodes import (Array, Exp, Fraction_, Group, Indexed, Log, Negative, Number, Partial, Power, Product, Sum,
                           Summation, Symbol)
from ...math.notation import quantity, slashed_derivative, subscripted, written as name_written
from ...math.printing import latex
from ...core.model import Answer, Step
from ..base import Kind
from ..common import written
from ..mistakes import SHARED_MISTAKES, Change, Places

ROW_SUM_SLACK = 1e-9          # probability rows must sum to 1 within this
ROWS_SHOWN = 4                # rows derived one by one; a larger batch shows these and the rule


def read_target(name, value):
    """A class index, or an array: class indices (one per row) or probability rows like the logits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
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
    mean_over_weights: bool = True       # False: a weighted mean of class indices divided by B
    gradient_sign: int = 1               # ∂L/∂z = (p - y)/B; -1: (y - p)/B
    target_subtracted: bool = True       # False: ∂L/∂z = p/B, the target left out
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


def log_softmax(row: np.ndarray) -> np.ndarray:
    """(z - max) - log Σ exp(z - max): finite where a probability underflows to 0."""
    shifted = row - row.max()
    return shifted - np.log(np.exp(shifted).sum())


def as_rows(values) -> np.ndarray:
    rows = np.asarray(values, dtype=float)
    return rows[None] if rows.ndim == 1 else rows


def class_indices(given) -> tuple[int, ...] | None:
    """The target classes, one per row; None for probability rows (the logits' shape)."""
    if isinstance(given.target, int):
        return (given.target,)
    if np.ndim(given.target) == np.ndim(given.logits):
        return None
    return tuple(given.target)


def target_distribution(given, rules: Rules, classes: int, number=float) -> np.ndarray:
    """Each row's target as a distribution over the classes, label smoothing mixed in and the
    class weights applied: floats to compute with, or `number=written` for exact values to show."""
    eps = number(given.label_smoothing)
    weight = [1] * classes if given.weight is None else [number(w) for w in given.weight]
    indices = class_indices(given)
    if indices is None:
        rows = np.array([[number(t) * (1 - eps) + eps / classes for t in row] for row in as_rows(given.target)],
                        dtype=object)
    else:
        rows = np.zeros((len(indices), classes), dtype=object)
        for b, y in enumerate(indices):
            target = y + rules.class_offset
            if not 0 <= target < classes:
                raise ValueError("no such class")
            rest = classes - 1 if rules.smoothing_classes == "K-1" else classes
            rows[b] = eps / rest if rest else 0
            rows[b, target] = 1 - eps + (0 if rules.smoothing_classes == "K-1" else eps / classes)
    return rows * np.array(weight, dtype=object)


def problem_rows(given, rules: Rules) -> Rows:
    z = as_rows(given.logits)
    weight = np.ones(z.shape[1]) if given.weight is None else np.asarray(given.weight, dtype=float)
    a = target_distribution(given, rules, z.shape[1]).astype(float)
    indices = class_indices(given)
    if given.reduction == "sum" or not rules.mean_divides:
        divisor = 1.0
    else:
        divisor = float(sum(weight[y] for y in indices)) if weighted_indices(given) and rules.mean_over_weights \
            else float(z.shape[0])
    return Rows(z, a, divisor)


def probabilities(z: np.ndarray, rules: Rules) -> tuple[np.ndarray, np.ndarray]:
    """p and log p, the log from the shifted logits rather than from p, which may be 0."""
    if rules.logits_as_probabilities:
        if (z <= 0).any():
            raise ValueError("a logit that is not positive has no logarithm")
        return z, np.log(z)
    for _ in range(rules.softmax_passes - 1):
        z = np.array([softmax(row) for row in z])
    return np.array([softmax(row) for row in z]), np.array([log_softmax(row) for row in z])


def shaped(given, rows: np.ndarray) -> np.ndarray:
    """B×K, or a vector where the logits are one."""
    return rows[0] if np.ndim(given.logits) == 1 else rows


def indexed(given) -> bool:
    return class_indices(given) is not None


def weighted_indices(given) -> bool:
    """Class indices with class weights: PyTorch's mean divides by the target classes' total weight."""
    return indexed(given) and given.weight is not None


def means_of_a_sum(given) -> list[tuple[str, dict, dict]]:
    """`sum` divided as PyTorch's mean, and, where that divides by the target weights, by B."""
    if given.reduction != "sum":
        return []
    if not weighted_indices(given):
        return [("", {"reduction": "mean"}, {})]
    return [("by the target classes' total weight", {"reduction": "mean"}, {}),
            ("by the batch size", {"reduction": "mean"}, {"mean_over_weights": False})]


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
    Places("sum_taken_as_mean", SHARED_MISTAKES["sum_taken_as_mean"], means_of_a_sum),
    Change("weighted_mean_over_batch", "The weighted mean was divided by the batch size B: with class weights and "
                                       "class indices, `mean` divides the sum of the weighted losses by the target "
                                       "classes' total weight, Σ_b w_(y_b).",
           rules={"mean_over_weights": False}, applies=lambda g: g.reduction == "mean" and weighted_indices(g)),
    Change("class_weights_forgotten", "The class weights were left out: `weight` multiplies each class's term of "
                                      "the loss, -w_c t_c log p_c (a row's whole loss by w_y, for a class index y), "
                                      "and the mean over class indices divides by the target classes' total weight.",
           given=lambda g: {"weight": None}, applies=lambda g: g.weight is not None),
    Change("label_smoothing_forgotten", "Label smoothing was left out: with label_smoothing ε the target is "
                                        "(1 - ε) of the given one plus ε/K of every class, so every class's "
                                        "log-probability enters the loss and the gradient.",
           given=lambda g: {"label_smoothing": 0}, applies=lambda g: g.label_smoothing > 0),
    Change("target_not_subtracted", "The target was not subtracted: through the softmax, the gradient of a row's "
                                    "loss is ∂ℓ/∂z = p - y for a one-hot target y (p Σ_c a_c - a for a smoothed, "
                                    "soft or weighted target a), not p alone.",
           rules={"target_subtracted": False}),
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
            if not all(isinstance(y, int) and not isinstance(y, bool) for y in indices):
                raise FieldError("target", "must be a class index for a vector of logits, a list of class indices "
                                           "(whole numbers from 0) for a matrix, or probability rows of the logits' "
                                           "shape")
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
                raise FieldError("weight", f"must be weights >= 0; got {', '.join(map(str, given.weight))}")
            if indices is not None and given.reduction == "mean" and not sum(given.weight[y] for y in indices):
                raise FieldError("weight", "gives the target classes a total weight of 0, by which `mean` divides")

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        rows = problem_rows(given, rules)
        p, log_p = probabilities(rows.z, rules)
        loss = float(-(rows.a * log_p).sum() / rows.divisor)
        subtracted = rows.a if rules.target_subtracted else 0
        grad = rules.gradient_sign * (p * rows.a.sum(axis=1, keepdims=True) - subtracted) / rows.divisor
        return {"probabilities": Answer("probabilities", "matrix", shaped(given, p), "p", decimal=True),
                "log_probabilities": Answer("log_probabilities", "matrix", shaped(given, log_p), latex(LOG_P),
                                            decimal=True),
                "loss": Answer("loss", "real", loss, "L", decimal=True),
                "grad_logits": Answer("grad_logits", "matrix", shaped(given, grad), slashed_derivative("L", "z"),
                                      decimal=True)}

    def derive(self, given, answers):
        rows = problem_rows(given, Rules())
        log_p = as_rows(answers["log_probabilities"].value)
        shown = range(min(len(rows.z), ROWS_SHOWN))
        steps = [Step("Convention", convention(given, rows)),
                 Step("Softmax", softmax_text(len(rows.z), len(shown)),
                      [line for b in shown for line in softmax_lines(rows.z, b)]),
                 Step("Log-probabilities", "The log of each probability, from the same shifted logits: "
                      f"${latex(Log(entry('p', 'c')))} = {latex(log_softmax_formula())}$.",
                      [[LOG_P, answers["log_probabilities"].value]])]
        targets = target_distribution(given, Rules(), rows.z.shape[1], written)
        if not plain_one_hot(given):
            steps.append(Step("Targets", targets_text(given), [[Symbol("a"), decimals(shaped(given, targets))]]))
        steps += [Step("Loss", loss_text(given, rows),
                       [loss_line(given, targets, log_p, b) for b in shown] + [total_line(rows, answers["loss"].value)]),
                  Step("Gradient", gradient_text(given, rows), gradient_lines(given, rows, targets, answers))]
        return steps


LOG_P = Log(Symbol("p"))


def entry(letter: str, column: str) -> Indexed:
    """letter_{b,column}: an entry of row b."""
    return Indexed(letter, [Symbol("b"), Symbol(column)])


def row_loss(b: int) -> Indexed:
    """ℓ_b, the loss of row b (counted from 0 here, shown from 1)."""
    return Indexed(name_written("loss"), [b + 1])


def cross_entropy(target, probability) -> Negative:
    """-Σ_c target log probability."""
    return Negative(Summation(Symbol("c"), None, None, Product([target, Log(probability)], spaced=True)))


def row_cross_entropy() -> Negative:
    return cross_entropy(entry("a", "c"), entry("p", "c"))


def shifted_power(column: str) -> Power:
    """e^(z_{b,column} - m_b)."""
    return Power(Symbol("e"), entry("z", column) - Symbol("m_b"))


def every_shifted_power() -> Summation:
    return Summation(Symbol("j"), None, None, shifted_power("j"))


def log_softmax_formula() -> Sum:
    """(z_{b,c} - m_b) - log Σ_j e^(z_{b,j} - m_b)."""
    return Group(entry("z", "c") - Symbol("m_b")) - Log(every_shifted_power())


def plain_one_hot(given) -> bool:
    return class_indices(given) is not None and not given.label_smoothing and given.weight is None


def convention(given, rows: Rows) -> str:
    text = ("As in PyTorch's F.cross_entropy, the logits $z$ are raw scores: the softmax turns each row into "
            f"probabilities $p$, and the loss of a row is ${latex(cross_entropy(quantity('a_c'), quantity('p_c')))}$ "
            f"for its target distribution $a$ (for a class index $y$: ${latex(Negative(Log(quantity('p_y'))))}$). "
            "Rows are numbered from 1, classes from 0 as PyTorch's class indices.")
    if given.reduction == "sum":
        return text + " The reduction is a sum: the rows' losses are added."
    if len(rows.z) == 1 and rows.divisor == 1:
        return text + " The reduction is the mean over one row: the loss is that row's."
    return text + (f" The reduction is the mean: the rows' losses are added and divided by {number_text(rows.divisor)}"
                   + (", the total weight of the target classes." if class_indices(given) is not None
                      and given.weight is not None else ", the number of rows."))


def number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def softmax_text(batch: int, shown: int) -> str:
    text = ("Subtracting the row's largest logit $m_b$ changes no probability and keeps every exponential at most 1: "
            f"${latex(entry('p', 'c'))} = {latex(shifted_power('c'))} / {latex(every_shifted_power())}$.")
    if shown < batch:
        text += f" The first {shown} of the {batch} rows are shown; the others follow the same rule."
    return text


def softmax_lines(z: np.ndarray, b: int) -> list[list]:
    """m_b, then each p_bc as e^(z - m) over the row's sum, the shifted exponents exact decimals; rows shown
    from 1, classes from 0 (PyTorch's class indices)."""
    shifted = [written(x) - written(z[b].max()) for x in z[b]]
    total = Sum([Exp(Number(e, decimal=True)) for e in shifted])
    lines = [[Indexed("m", [b + 1]), Number(written(z[b].max()), decimal=True)]]
    for c, e in enumerate(shifted):
        lines.append([Indexed("p", [b + 1, c]), Fraction_(Exp(Number(e, decimal=True)), total),
                      Number(float(softmax(z[b])[c]))])
    return lines


def exact(x: float):
    """A whole float as an int, so 2.0 prints as 2."""
    return int(x) if float(x).is_integer() else float(x)


def targets_text(given) -> str:
    parts = []
    if class_indices(given) is None:
        parts.append("The targets are probability rows $t$.")
    else:
        parts.append("Each class index $y$ is a one-hot row $t$ (1 in column $y$).")
    if given.label_smoothing:
        eps = name_written("eps")
        parts.append(f"Label smoothing ${eps} = {given.label_smoothing}$ mixes $({latex(1 - quantity('eps'))}) t$ "
                     f"with ${eps} / K$ of every class.")
    if given.weight is not None:
        parts.append("Each class's share is then multiplied by its weight $w_c$.")
    return " ".join(parts) + " The target distribution $a$:"


def loss_text(given, rows: Rows) -> str:
    if plain_one_hot(given):
        return ("Each row's loss is minus the log-probability of its class, "
                f"${subscripted('loss', 'b')} = {latex(Negative(Log(entry('p', 'y_b'))))}$:")
    return f"Each row's loss is ${subscripted('loss', 'b')} = {latex(row_cross_entropy())}$:"


def decimals(values: np.ndarray) -> Array:
    """Exact values shown as decimals where they are short (0.45, but 1/30)."""
    return Array(np.vectorize(lambda x: Number(x, decimal=True), otypes=[object])(values))


def loss_line(given, targets: np.ndarray, log_p: np.ndarray, b: int) -> list:
    """ℓ_b from the log-probabilities (a probability may print as 0 where its log is finite)."""
    indices = class_indices(given)
    value = float(-(targets[b].astype(float) * log_p[b]).sum())
    if plain_one_hot(given):
        y = indices[b]
        return [row_loss(b), Negative(Log(Indexed("p", [b + 1, y]))), Negative(Number(float(log_p[b, y]))),
                Number(value)]
    terms = [Negative(Product([Number(a, decimal=True), Number(float(q))], dot=True))
             for a, q in zip(targets[b], log_p[b]) if a]
    return [row_loss(b), Sum(terms), Number(value)]


def total_line(rows: Rows, loss: float) -> list:
    count = len(rows.z)
    total = Sum([row_loss(b) for b in range(count)]) if count > 1 else row_loss(0)
    if rows.divisor == 1:
        return [Symbol("L"), total, Number(loss)]
    return [Symbol("L"), Fraction_(total, Number(exact(rows.divisor))), Number(loss)]


def gradient_text(given, rows: Rows) -> str:
    slope = Sum([Product([entry("p", "j"), Summation(Symbol("c"), None, None, entry("a", "c"))], spaced=True),
                 Negative(entry("a", "j"))])
    text = (f"Differentiating ${subscripted('loss', 'b')} = {latex(row_cross_entropy())}$ through the softmax gives "
            f"${slashed_derivative(subscripted('loss', 'b'), latex(entry('z', 'j')))} = {latex(slope)}$")
    text += ", that is $p - y$ for a one-hot target" if plain_one_hot(given) else ""
    if rows.divisor != 1:
        text += f"; the mean divides it by {number_text(rows.divisor)} too"
    return text + "."


def gradient_lines(given, rows: Rows, targets: np.ndarray, answers) -> list[list]:
    """∂L/∂z = (p - y)/D, or (s · p - a)/D with s_b = Σ_c a_bc where the targets do not sum to 1 per row."""
    share = targets.sum(axis=1)
    target = Symbol("y") if plain_one_hot(given) else Symbol("a")
    lines, scaled = [], Symbol("p")
    if any(x != 1 for x in share):
        lines.append([Symbol("s"), decimals(share)])
        scaled = Product([Symbol("s"), Symbol("p")], dot=True)
    difference = Sum([scaled, Negative(target)])
    formula = difference if rows.divisor == 1 else Fraction_(difference, Number(exact(rows.divisor)))
    return lines + [[Partial(Symbol("L"), Symbol("z")), formula, answers["grad_logits"].value]]


KIND = SoftmaxCrossEntropy()
