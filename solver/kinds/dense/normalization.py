"""normalization: batch, layer, instance and group normalization as PyTorch computes them in
training (F.batch_norm, F.layer_norm, F.instance_norm, F.group_norm), forward and, with the
upstream gradient given, backward.

Conventions (PyTorch's; the derivation states them):
- The input X is B×F (a batch of feature vectors) or B×C×H×W. Indices run from 1.
- The statistic a cell belongs to depends on the type: batch, per feature f over b (B×F) or
  per channel c over b, h, w; layer, per sample b over all its other entries; instance, per
  (b, c) over h, w; group, per (b, g) over the C/G channels of group g and h, w.
- Each variance is biased (divided by the count N); x̂ = (x − μ)/√(σ² + ε), y = γ·x̂ + β.
- γ and β are indexed as PyTorch's weight and bias: per channel (feature) for batch,
  instance and group; elementwise over the normalized shape (F, or C×H×W) for layer norm.
  One number stands for every entry; the defaults 1 and 0 are PyTorch's initial values.
- Backward: ∂ℓ/∂β and ∂ℓ/∂γ sum over the entries each parameter touches; ∂ℓ/∂x̂ = γ·∂ℓ/∂y;
  ∂ℓ/∂x = (∂ℓ/∂x̂ − m₁ − x̂·m₂)/√(σ² + ε) with m₁, m₂ the statistic's means of ∂ℓ/∂x̂ and
  ∂ℓ/∂x̂·x̂ (μ and σ² depend on every entry of their statistic).
- Integers give exact fractions and radicals (sympy, imported only then) where ε is exact; a
  decimal anywhere makes the rest decimals.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, choice, given_field, integer, optional, shape_text
from ...core.model import Answer, Step
from ...math.nodes import (Formula, Fraction_, Group, Mean, Negative, Number, Partial, Power, Product, Relation, Root,
                            Slash, Summation, Symbol, divide)
from ...math.notation import quantity, written
from ...math.printing import latex
from ..base import Kind
from ..common import exact, exact_array, shown_cells
from ..mistakes import SHARED_MISTAKES, Change, Places, shared
from ..sizes import distinct
from .statistics import (affine_reader, entry, gathered, has_affine, mean_line, minus, normalized_value, plus,
                         read_eps, shown_statistics, statistics_array, terms, variance_line)

TYPES = ("batch", "layer", "instance", "group")
FUNCTIONS = {"batch": "F.batch_norm (BatchNorm1d, BatchNorm2d) in training mode", "layer": "F.layer_norm (LayerNorm)",
             "instance": "F.instance_norm (InstanceNorm2d)", "group": "F.group_norm (GroupNorm)"}


READ_AFFINE = affine_reader("PyTorch's weight shape")


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(array((2, 4), "a B×F matrix or a B×C×H×W tensor"),
                             doc="the input X: B×F (a batch of feature vectors) or B×C×H×W")
    type: str = given_field(choice(*TYPES), "batch",
                            "batch (the default: per feature or channel over the batch), layer (per sample), "
                            "instance (per sample and channel, over H×W) or group (per sample and group of "
                            "channels; needs `groups`)")
    groups: Any = given_field(optional(integer(1, "a whole number >= 1")), None,
                              "G, the number of channel groups of group norm; it must divide C (F)")
    gamma: Any = given_field(READ_AFFINE, 1, "the scale γ: one number, or PyTorch's weight: C (F) entries, or the "
                                             "normalized shape F or C×H×W for layer norm (default 1)")
    beta: Any = given_field(READ_AFFINE, 0, "the shift β, shaped as γ (default 0)")
    eps: Any = given_field(read_eps, 1e-5, "ε added to the variance under the root (default 1e-5; 0 is allowed "
                                           "for exact hand work)")
    upstream: Any = given_field(optional(array((2, 4), "a tensor in the input's shape")), None,
                                "∂ℓ/∂y, the gradient reaching the output, in the input's shape: asks for the "
                                "backward pass")


@dataclass(frozen=True)
class Rules:
    """The conventions, PyTorch's by default; each mistake changes one."""
    type: str | None = None             # the statistics of another type (a mistake)
    normalize_unbiased: bool = False    # True: normalized with the variance divided by N − 1
    divide_by: str = "std"              # "variance": the centred input divided by σ² + ε
    statistics_constant: bool = False   # True: the backward pass with μ and σ² taken as constants
    sum_over_batch: bool = True         # False: ∂ℓ/∂γ and ∂ℓ/∂β one per sample, not summed over the batch


RULES = Rules()


# ---- which statistic, which weight -------------------------------------------------------

def letters(x) -> str:
    """The index letters of X: b, f or b, c, h, w."""
    return "bf" if x.ndim == 2 else "bchw"


def channels_per_group(given) -> int:
    return given.input.shape[1] // given.groups


def statistic_of(kind: str, given):
    """cell -> the index of its statistic (from 0) for the normalization `kind`."""
    if kind == "batch":
        return lambda cell: (cell[1],)
    if kind == "layer":
        return lambda cell: (cell[0],)
    if kind == "instance":
        return lambda cell: (cell[0], cell[1])
    size = channels_per_group(given)
    return lambda cell: (cell[0], cell[1] // size)


def statistics_shape(kind: str, given) -> tuple:
    b, c = given.input.shape[:2]
    return {"batch": (c,), "layer": (b,), "instance": (b, c), "group": (b, given.groups)}[kind]


def kept_letters(kind: str, x) -> str:
    """The letters that index μ and σ²."""
    return {"batch": letters(x)[1], "layer": "b", "instance": "bc", "group": "bg"}[kind]


def weight_of(given, cell) -> tuple:
    """Where a cell's γ and β sit in PyTorch's weight."""
    return tuple(cell[1:]) if given.type == "layer" else (cell[1],)


def weight_shape(given) -> tuple:
    return given.input.shape[1:] if given.type == "layer" else given.input.shape[1:2]


def weight_letters(given) -> str:
    return letters(given.input)[1:] if given.type == "layer" else letters(given.input)[1]


# ---- validation -----------------------------------------------------------------------------

def validate(given) -> None:
    x = given.input
    if given.type == "group":
        if given.groups is None:
            raise FieldError("groups", "is needed with type group: the number G of channel groups, which must "
                                       f"divide the {x.shape[1]} channels")
        if x.shape[1] % given.groups:
            raise FieldError("groups", f"is {given.groups}, which does not divide the {x.shape[1]} channels of the "
                                       f"input ({shape_text(x.shape)}); group norm splits the channels into G "
                                       f"equal groups, so G must be one of {divisors(x.shape[1])}")
    elif given.groups is not None:
        raise FieldError("groups", f"is only for type group; type {given.type} takes no groups")
    if given.type == "instance" and x.ndim == 2:
        raise FieldError("type", f"instance norm needs a B×C×H×W input: it normalizes each sample's channel over "
                                 f"its H×W positions, and a B×F input ({shape_text(x.shape)}) has none; use layer "
                                 "(per sample) or batch (per feature)")
    n = x.size // int(np.prod(statistics_shape(given.type, given)))
    if n == 1 and given.type in ("batch", "instance"):
        what = ("the batch holds one sample per feature" if given.type == "batch" and x.ndim == 2 else
                "each channel has one value over the batch and H×W" if given.type == "batch" else
                "each channel of a sample has one position (H×W = 1)")
        raise FieldError("input", f"has shape {shape_text(x.shape)}: with type {given.type} {what}, so each "
                                  "statistic would average a single value; PyTorch refuses that in training "
                                  "(each needs at least 2)")
    for name in ("gamma", "beta"):
        value = getattr(given, name)
        if isinstance(value, np.ndarray) and value.shape != weight_shape(given):
            raise FieldError(name, f"has shape {shape_text(value.shape)}; with type {given.type} on a "
                                   f"{shape_text(x.shape)} input it must be one number or have PyTorch's weight "
                                   f"shape {shape_text(weight_shape(given))}")
    if given.upstream is not None and given.upstream.shape != x.shape:
        raise FieldError("upstream", f"has shape {shape_text(given.upstream.shape)}; the gradient ∂ℓ/∂y has the "
                                     f"output's shape, which is the input's, {shape_text(x.shape)}")
    if given.eps == 0:
        for stat in gathered(x, statistic_of(given.type, given)):
            if stat.variance == 0:
                raise FieldError("eps", f"is 0, but the statistic {stat_text('mu', stat.index)} has variance 0, so "
                                        "the normalization would divide by 0; give eps > 0")


def divisors(n: int) -> str:
    return ", ".join(str(d) for d in range(1, n + 1) if n % d == 0)


# ---- the numbers ------------------------------------------------------------------------------

def root_divided(value, spread, eps):
    """value/√(σ² + ε): exact, a radical, or a decimal."""
    return normalized_value(value, 0, spread, eps)


def forward(given, rules: Rules):
    """(statistics, {cell: its statistic}, x̂, y) under `rules`."""
    x = given.input
    stats = gathered(x, statistic_of(rules.type or given.type, given), rules.normalize_unbiased,
                     rules.normalize_unbiased)
    by_cell = {cell: stat for stat in stats for cell in stat.cells}
    xhat, y = np.empty(x.shape, dtype=object), np.empty(x.shape, dtype=object)
    for cell in np.ndindex(*x.shape):
        stat, weight = by_cell[cell], weight_of(given, cell)
        xhat[cell] = normalized_value(x[cell], stat.mean, stat.spread, given.eps)
        y[cell] = normalized_value(x[cell], stat.mean, stat.spread, given.eps, entry(given.gamma, weight),
                                   entry(given.beta, weight), rules.divide_by)
    return stats, by_cell, xhat, y


def times(a, b):
    """a·b, exact where both are."""
    return float(a) * float(b) if isinstance(a, float) or isinstance(b, float) else exact(a * b)


def backward(given, rules: Rules, stats, xhat) -> dict[str, np.ndarray]:
    """∂ℓ/∂β, ∂ℓ/∂γ, ∂ℓ/∂x̂ and ∂ℓ/∂x from the upstream gradient."""
    x, dy = given.input, given.upstream
    shape = weight_shape(given) if rules.sum_over_batch else x.shape[:1] + weight_shape(given)
    grad_beta, grad_gamma = np.zeros(shape, dtype=object), np.zeros(shape, dtype=object)
    gxhat, dx = np.empty(x.shape, dtype=object), np.empty(x.shape, dtype=object)
    for cell in np.ndindex(*x.shape):
        weight = weight_of(given, cell)
        at = weight if rules.sum_over_batch else (cell[0],) + weight
        grad_beta[at] = exact(grad_beta[at] + dy[cell])
        grad_gamma[at] = exact(grad_gamma[at] + times(dy[cell], xhat[cell]))
        gxhat[cell] = times(entry(given.gamma, weight), dy[cell])
    for stat in stats:
        n = len(stat.cells)
        mean_g = divide(sum(gxhat[c] for c in stat.cells), n)
        # x̂·mean(∂ℓ/∂x̂·x̂) = (x − μ)·Σ ∂ℓ/∂x̂·(x − μ) / (N·(σ² + ε)), a root-free form (with N − 1 where
        # the normalization's variance divides by N − 1: the derivative of that variance)
        moment = sum(times(gxhat[c], x[c] - stat.mean) for c in stat.cells)
        denominator = times(n - rules.normalize_unbiased, stat.spread + given.eps)
        for cell in stat.cells:
            value = gxhat[cell] if rules.statistics_constant else \
                gxhat[cell] - mean_g - divide(times(x[cell] - stat.mean, moment), denominator)
            dx[cell] = root_divided(value, stat.spread, given.eps)
    return {"grad_beta": grad_beta, "grad_gamma": grad_gamma, "grad_xhat": gxhat, "grad_input": dx}


def computed(given, rules: Rules) -> dict[str, Answer]:
    """Every answer under `rules`; ZeroDivisionError where they divide by 0."""
    stats, _, xhat, y = forward(given, rules)
    shape = statistics_shape(rules.type or given.type, given)
    answers = {"mean": Answer("mean", "matrix", statistics_array(stats, shape, "mean"), written("mu")),
               "variance": Answer("variance", "matrix", statistics_array(stats, shape, "variance"),
                                  written("sigma^2")),
               "output": Answer("output", "matrix", exact_array(y), "Y")}
    if given.upstream is not None:
        grads = backward(given, rules, stats, xhat)
        for name, by in (("grad_beta", quantity("beta")), ("grad_gamma", quantity("gamma")),
                         ("grad_input", Symbol("X"))):
            answers[name] = Answer(name, "matrix", exact_array(grads[name]), latex(Partial(LOSS, by)))
    return answers


# ---- the derivation ---------------------------------------------------------------------------

LOSS = quantity("loss")
DESCRIPTIONS = {
    "batch": "one mean and variance per {what} over the batch{rest}",
    "layer": "one mean and variance per sample, over all its {count} entries",
    "instance": "one mean and variance per sample and channel, over its H×W positions",
    "group": "one mean and variance per sample and group of {size} channels (G = {groups} groups), over the "
             "group's channels{rest}",
}


def description(given) -> str:
    x = given.input
    rest = "" if x.ndim == 2 else " and the H×W positions"
    return DESCRIPTIONS[given.type].format(what="feature f" if x.ndim == 2 else "channel c", rest=rest,
                                           count=x[0].size, size=x.shape[1] // (given.groups or 1),
                                           groups=given.groups)


def label(name: str, index) -> Symbol:
    """μ[1, 2], X[1, 2, 1, 1]: a quantity and its index from 1 (letters where `index` is a string)."""
    text = ", ".join(index) if isinstance(index, str) else ", ".join(str(i + 1) for i in index)
    return Symbol(name, f"{written(name)}[{text}]")


def stat_text(name: str, index: tuple) -> str:
    return f"{'μ' if name == 'mu' else name}[{', '.join(str(i + 1) for i in index)}]"


def gradient(name: str, index) -> Partial:
    """∂ℓ/∂Y[1, 2], ∂ℓ/∂γ[c]."""
    return Partial(LOSS, label(name, index))


def sums(body: Formula, over: str, grouped: bool = False) -> Formula:
    """Σ over the letters `over` of `body`; `grouped`: the channels (features) run over group g alone."""
    for letter in reversed(over):
        start, stop = 1, Symbol(letter.upper())
        if grouped and letter in "cf":
            size = Slash(Symbol(letter.upper()), Symbol("G"))
            start, stop = Product([Group(Symbol("g") - 1), size]) + 1, Product([Symbol("g"), size])
        body = Summation(Symbol(letter), start, stop, body)
    return body


def averaged(given) -> str:
    """The letters a statistic's sums run over."""
    every, kept = letters(given.input), kept_letters(given.type, given.input)
    return "".join(a for a in every if a not in kept or (given.type == "group" and a in "cf"))


def count_line(given) -> list:
    x = given.input
    over = averaged(given).upper()
    sizes = dict(zip(letters(x).upper(), x.shape))
    factors = [Slash(Symbol(a), Symbol("G")) if given.type == "group" and a in "CF" else Symbol(a) for a in over]
    numbers = [Slash(Number(sizes[a]), Number(given.groups)) if given.type == "group" and a in "CF"
               else Number(sizes[a]) for a in over]
    n = x.size // int(np.prod(statistics_shape(given.type, given)))
    if len(factors) == 1:       # F/G of a B×F group norm, as a fraction
        only = [Fraction_(f.numerator, f.denominator) if isinstance(f, Slash) else f for f in (factors[0], numbers[0])]
        return [Symbol("N")] + distinct(only + [Number(n)])
    return [Symbol("N")] + distinct([Product(factors), Product(numbers, dot=True), Number(n)])


def group_text(given) -> str:
    what = "features f" if given.input.ndim == 2 else "channels c"
    one = what.split()[1]
    return (f", the {what} of group g; the entry at {one} belongs to the statistic of its group, "
            f"g = ⌈{one}/({one.upper()}/G)⌉")


def formula_step(given) -> Step:
    x = given.input
    every, kept = letters(x), kept_letters(given.type, x)
    over, weights = averaged(given), weight_letters(given)
    xe, mu, var = label("X", every), label("mu", kept), label("sigma^2", kept)
    grouped = given.type == "group"
    lines = [count_line(given),
             [mu, Mean(Symbol("N"), sums(xe, over, grouped))],
             [var, Mean(Symbol("N"), sums(Power(xe - mu), over, grouped))],
             [label("xhat", every), (xe - mu) / Root(var + quantity("eps"))],
             [label("Y", every), label("gamma", weights) * label("xhat", every) + label("beta", weights)]]
    text = (f"Each statistic averages the N entries that share its index ({', '.join(kept)}); the sums run over "
            f"{', '.join(over)}" + (group_text(given) if given.type == "group" else "") +
            f". γ and β are indexed by {', '.join(weights)}, as PyTorch's weight and bias.")
    return Step("Formulas", text, lines)


XHAT, Y = quantity("xhat"), Symbol("y")


def math(node: Formula) -> str:
    """A formula inside prose."""
    return f"${latex(node)}$"


def convention(given) -> str:
    text = (f"PyTorch's {given.type} normalization, {FUNCTIONS[given.type]}: {description(given)}. Indices run "
            "from 1. Each variance is the mean squared distance from its mean, divided by the count N (the "
            "biased variance, which PyTorch normalizes with); ε is added to it under the square root. Then γ "
            "scales and β shifts each entry, indexed as PyTorch's weight and bias: ")
    text += ("elementwise over the normalized shape " + "×".join(weight_letters(given).upper())
             if given.type == "layer" else "one per " + ("feature" if given.input.ndim == 2 else "channel"))
    text += " (PyTorch's initial values 1 and 0 where the problem gives none)."
    if given.upstream is not None:
        text += (f" The backward pass starts from the upstream gradient {math(Partial(LOSS, Y))}, given in the "
                 f"output's shape, and follows the forward pass back: β, γ, {math(XHAT)}, then x through "
                 f"{math(XHAT)}, μ and σ².")
    return text


def shown_entries(shape, what: str) -> tuple[list, str]:
    cells, complete = shown_cells(shape)
    note = "" if complete else (f" The {what} has {int(np.prod(shape))} entries; the first {len(cells)} are shown "
                                "and the others follow the same rule.")
    return cells, note


def mean_step(given, stats) -> Step:
    shown, note = shown_statistics(stats, statistics_shape(given.type, given))
    lines = [mean_line(label("mu", stat.index), [given.input[c] for c in stat.cells], stat.mean) for stat in shown]
    return Step("Means", "Each mean is the sum of its N values divided by N." + note, lines)


def variance_step(given, stats) -> Step:
    shown, note = shown_statistics(stats, statistics_shape(given.type, given))
    lines = [variance_line(label("sigma^2", stat.index), [given.input[c] for c in stat.cells], stat.mean,
                           len(stat.cells), stat.variance) for stat in shown]
    return Step("Variances", "Each variance is the sum of the squared distances from the mean divided by N "
                             "(biased, as PyTorch normalizes)." + note, lines)


def less(formula: Formula, b) -> Formula:
    """formula − b, written formula + |b| for a negative number b."""
    return formula + Number(-b) if b < 0 else formula - Number(b)


def spread_root(stat, eps) -> Root:
    """√(σ² + ε) with the numbers in (√σ² where ε is 0)."""
    return Root(Number(stat.spread) + Number(exact(eps)) if eps else Number(stat.spread))


def output_step(given, by_cell, xhat, answers) -> Step:
    x = given.input
    cells, note = shown_entries(x.shape, "output")
    affine = has_affine(given)
    lines = []
    for cell in cells:
        stat = by_cell[cell]
        lines.append([label("xhat", cell), minus(x[cell], stat.mean) / spread_root(stat, given.eps),
                      Number(xhat[cell])])
        if affine:
            weight = weight_of(given, cell)
            gamma, beta = entry(given.gamma, weight), entry(given.beta, weight)
            scaled = Number(xhat[cell]) if gamma == 1 else Product([Number(gamma), Number(xhat[cell])], dot=True)
            lines.append([label("Y", cell)] + distinct([scaled if beta == 0 else plus(scaled, beta),
                                                        Number(answers["output"].value[cell])]))
    eps = quantity("eps")
    text = (f"Each entry is centred by its mean and divided by ${latex(Root(quantity('sigma^2') + eps))}$ with "
            f"${latex(eps)} = {latex(exact(given.eps))}$")
    text += (", then scaled by γ and shifted by β." if affine else
             f"; γ = 1 and β = 0 leave {math(XHAT)} as it is: {math(Relation(Y, '=', XHAT))}.")
    return Step("Normalized output", text + note, lines)


def beta_step(given, grads) -> Step:
    every, weights = letters(given.input), weight_letters(given)
    shared_by = "".join(a for a in every if a not in weights)
    cells, note = shown_entries(weight_shape(given), "gradient")
    lines = [[gradient("beta", weights), sums(gradient("Y", every), shared_by)]]
    dy = given.upstream
    for index in cells:
        touched = [c for c in np.ndindex(*dy.shape) if weight_of(given, c) == index]
        lines.append([gradient("beta", index)] + distinct([terms([Number(dy[c]) for c in touched]),
                                                           Number(grads["grad_beta"][index])]))
    return Step("Gradient of β", f"β[{', '.join(weights)}] is added to every entry that shares its index, so its "
                                 "gradient sums ∂ℓ/∂y over them: over " + ", ".join(shared_by) +
                                 (", the whole batch." if "b" in shared_by else ".") + note, lines)


def gamma_step(given, grads, xhat) -> Step:
    every, weights = letters(given.input), weight_letters(given)
    shared_by = "".join(a for a in every if a not in weights)
    cells, note = shown_entries(weight_shape(given), "gradient")
    lines = [[gradient("gamma", weights), sums(gradient("Y", every) * label("xhat", every),
                                               shared_by)]]
    dy = given.upstream
    for index in cells:
        touched = [c for c in np.ndindex(*dy.shape) if weight_of(given, c) == index]
        products = [Product([Number(dy[c]), Number(xhat[c])], dot=True) for c in touched]
        lines.append([gradient("gamma", index)] + distinct([terms(products), Number(grads["grad_gamma"][index])]))
    return Step("Gradient of γ", f"γ multiplies {math(XHAT)} in every entry that shares its index, so its "
                                 f"gradient sums {math(Product([Partial(LOSS, Y), XHAT], dot=True))} over the same "
                                 "entries." + note, lines)


def xhat_step(given, grads) -> Step:
    every, weights = letters(given.input), weight_letters(given)
    cells, note = shown_entries(given.input.shape, "gradient")
    affine = Relation(Y, "=", Product([quantity("gamma"), XHAT], dot=True) + quantity("beta"))
    if np.array_equal(given.gamma, 1):
        return Step("Gradient of the normalized input", f"{math(affine)} with γ = 1, so "
                                                       f"{math(Partial(LOSS, XHAT))} is the upstream gradient "
                                                       "itself.", [[gradient("xhat", every), gradient("Y", every)]])
    lines = [[gradient("xhat", every), label("gamma", weights) * gradient("Y", every)]]
    for cell in cells:
        gamma = entry(given.gamma, weight_of(given, cell))
        lines.append([gradient("xhat", cell)] + distinct([Product([Number(gamma), Number(given.upstream[cell])],
                                                                  dot=True), Number(grads["grad_xhat"][cell])]))
    return Step("Gradient of the normalized input", f"{math(affine)}, so each entry's {math(Partial(LOSS, XHAT))} "
                                                   f"is its γ times its {math(Partial(LOSS, Y))}." + note, lines)


def input_step(given, stats, grads, xhat) -> Step:
    x = given.input
    every, kept, over = letters(x), kept_letters(given.type, x), averaged(given)
    g, xh = gradient("xhat", every), label("xhat", every)
    m1, m2 = label("m_1", kept), label("m_2", kept)
    var = label("sigma^2", kept)
    grouped = given.type == "group"
    lines = [[m1, Mean(Symbol("N"), sums(g, over, grouped))],
             [m2, Mean(Symbol("N"), sums(g * xh, over, grouped))],
             [gradient("X", every), Fraction_(g - m1 - xh * m2, Root(var + quantity("eps")))]]
    shown, note = shown_statistics(stats, statistics_shape(given.type, given))
    gx = grads["grad_xhat"]
    means = {}
    for stat in stats:
        n = len(stat.cells)
        products = [times(gx[c], xhat[c]) for c in stat.cells]
        means[stat.index] = (divide(sum(gx[c] for c in stat.cells), n), exact(divide(sum(products), n)))
    for stat in shown:
        n = len(stat.cells)
        first, second = means[stat.index]
        lines.append([label("m_1", stat.index)] + distinct([
            Fraction_(terms([Number(gx[c]) for c in stat.cells]), Number(n)), Number(exact(first))]))
        lines.append([label("m_2", stat.index)] + distinct([
            Fraction_(terms([Product([Number(gx[c]), Number(xhat[c])], dot=True) for c in stat.cells]), Number(n)),
            Number(second)]))
    by_cell = {cell: stat for stat in stats for cell in stat.cells}
    cells, cell_note = shown_entries(x.shape, "gradient")
    for cell in cells:
        stat = by_cell[cell]
        first, second = means[stat.index]
        top = less(Number(gx[cell]), exact(first))
        top = top - Product([Number(xhat[cell]), Number(second)], dot=True)
        lines.append([gradient("X", cell), Fraction_(top, spread_root(stat, given.eps)),
                      Number(grads["grad_input"][cell])])
    x_, n, root = Symbol("x"), Symbol("N"), Root(quantity("sigma^2") + quantity("eps"))
    m1, m2, centred = Symbol("m_1"), Symbol("m_2"), x_ - quantity("mu")
    spread = quantity("sigma^2") + quantity("eps")
    text = (f"x reaches the loss three ways: through its own {math(XHAT)}, and through μ and σ², on which every "
            f"{math(XHAT)} of its statistic depends. The chain rule adds the three paths. Directly: "
            f"{math(Relation(Partial(XHAT, x_), '=', Fraction_(Number(1), root)))}. Through μ: "
            f"{math(Relation(Partial(quantity('mu'), x_), '=', Fraction_(Number(1), n)))} and "
            f"{math(Relation(Partial(XHAT, quantity('mu')), '=', Negative(Fraction_(Number(1), root))))} for every "
            f"{math(XHAT)} of the statistic, which gives {math(Negative(m1))} over the same root, with {math(m1)} "
            f"the statistic's mean of {math(Partial(LOSS, XHAT))}. Through σ²: "
            f"{math(Relation(Partial(quantity('sigma^2'), x_), '=', Fraction_(2 * Group(centred), n)))} (the part "
            "through μ vanishes since the distances from μ sum to 0) and "
            f"{math(Relation(Partial(XHAT, quantity('sigma^2')), '=', Negative(Fraction_(XHAT, 2 * Group(spread)))))}"
            f", which gives {math(Negative(Product([XHAT, m2], dot=True)))} over the same root, with {math(m2)} the "
            f"statistic's mean of {math(Product([Partial(LOSS, XHAT), XHAT], dot=True))}. The means run over the "
            "statistic's N entries, as μ's does.")
    return Step("Gradient of the input", text + note + cell_note, lines)


def result_step(given, answers) -> Step:
    names = ["mean", "variance", "output"] + (["grad_beta", "grad_gamma", "grad_input"]
                                              if given.upstream is not None else [])
    return Step("Result", "The statistics in their shape, the output in the input's shape"
                + (", and the gradients in the shapes of what they are the gradients of." if given.upstream is not
                   None else "."), [[Symbol(name, answers[name].label), answers[name].value] for name in names])


def derivation(given, answers) -> list[Step]:
    stats, by_cell, xhat, _ = forward(given, RULES)
    steps = [Step("Convention", convention(given)), formula_step(given), mean_step(given, stats),
             variance_step(given, stats), output_step(given, by_cell, xhat, answers)]
    if given.upstream is not None:
        grads = backward(given, RULES, stats, xhat)
        steps += [beta_step(given, grads), gamma_step(given, grads, xhat), xhat_step(given, grads),
                  input_step(given, stats, grads, xhat)]
    return steps + [result_step(given, answers)]


# ---- mistakes -------------------------------------------------------------------------------------

def other_types(given) -> list[tuple[str, dict, dict]]:
    """Another type's statistics (group only where the problem names the groups)."""
    x = given.input
    possible = [t for t in ("batch", "layer") if t != given.type]
    if x.ndim == 4 and x.shape[2] * x.shape[3] > 1 and given.type != "instance":
        possible.append("instance")
    return [(f"{other} statistics instead of {given.type}", {}, {"type": other}) for other in possible]


def backward_asked(given) -> bool:
    return given.upstream is not None


MISTAKES = [
    "eps_forgotten",
    shared("variance_for_std", only=("output",)),
    Change("unbiased_variance", SHARED_MISTAKES["unbiased_variance"], rules={"normalize_unbiased": True}),
    Places("wrong_axes", SHARED_MISTAKES["wrong_axes"], other_types),
    Change("statistics_held_constant", "The gradient treats μ and σ² as constants: they depend on every input "
                                       "of their statistic, so ∂ℓ/∂x also flows through them, which subtracts "
                                       "the statistic's mean of ∂ℓ/∂x̂ and x̂ times its mean of ∂ℓ/∂x̂·x̂ "
                                       "before dividing by √(σ² + ε).",
           rules={"statistics_constant": True}, applies=backward_asked, only=("grad_input",)),
    Change("parameter_gradient_not_summed", "The gradients of γ and β were not summed over the batch: each γ and "
                                            "β is shared by every sample, so its gradient is the sum of every "
                                            "sample's contribution.",
           rules={"sum_over_batch": False}, applies=lambda g: backward_asked(g) and g.input.shape[0] > 1,
           only=("grad_gamma", "grad_beta")),
]


class Normalization(Kind):
    name = "normalization"
    summary = ("batch, layer, instance or group normalization (F.batch_norm in training, F.layer_norm, "
               "F.instance_norm, F.group_norm) on B×F or B×C×H×W input: means, variances, output, and the "
               "backward pass step by step")
    answers = {
        "mean": "μ, one per statistic: C (F) for batch, B for layer, B×C for instance, B×G for group",
        "variance": "σ², biased (divided by N, as PyTorch normalizes), in the means' shape",
        "output": "y = γ·x̂ + β, in the input's shape",
        "grad_beta": "∂ℓ/∂β in the shape of PyTorch's bias (C, F, or the normalized shape for layer norm); "
                     "needs upstream",
        "grad_gamma": "∂ℓ/∂γ in the shape of PyTorch's weight; needs upstream",
        "grad_input": "∂ℓ/∂x in the input's shape; needs upstream",
    }
    vary = {"input": {}, "gamma": {}, "beta": {}, "upstream": {}}
    Given, Rules = Given, Rules
    mistakes = MISTAKES

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        return computed(given, rules)

    def derive(self, given, answers) -> list[Step]:
        return derivation(given, answers)


KIND = Normalization()
