"""What the recurrent kinds (rnn, lstm, gru) share: reading a sequence and tensors whose
scalar cells may be symbols, fitting a given to its shape, and the losses of the outputs
with their gradients (LOSS_TEXT names them; each kind states its outputs y_t)."""
from __future__ import annotations

import dataclasses
import math
import re
from fractions import Fraction

import numpy as np

from ...core.errors import FieldError
from ...core.fields import MAX_CELLS, nested_shape
from ...math.nodes import Formula, Group, Norm, Number, Power, Product, Relation, Sum, Summation, Symbol
from ...math.notation import indexed, quantity
from ...math.printing import latex
from ..common import exact

T, I = Symbol("t"), Symbol("i")
LAST_SQUARES = Power(Norm(indexed("y", "L") - quantity("y*")))
ALL_SQUARES = Summation(T, None, None, Power(Norm(indexed("y", "t") - indexed("y*", "t"))))
HALF = Number(Fraction(1, 2))


def inline(node: Formula, *more: Formula) -> str:
    """Math in prose: one formula, or several joined by =."""
    for other in more:
        node = Relation(node, "=", other)
    return "$" + latex(node) + "$"


LOSS_TEXT = {
    "mse_last": f"{inline(Product([HALF, LAST_SQUARES], spaced=True))}, half the squared error of the last output "
                "(the default; not torch's mean)",
    "mse_all": f"{inline(Product([HALF, ALL_SQUARES], spaced=True))}, half the squared error summed over the steps",
    "sse_last": f"{inline(LAST_SQUARES)}, the squared error of the last output, without ½",
    "sse_all": f"{inline(ALL_SQUARES)}, the squared error summed over the steps, without ½",
    "torch_mse_last": "torch's nn.MSELoss() of the last output: the mean of "
                      f"{inline(Power(Group(indexed('y', 'L', 'i') - indexed('y*', 'i'))))} over its $m$ entries",
    "torch_mse_all": "torch's nn.MSELoss() of every output: the mean of "
                     f"{inline(Power(Group(indexed('y', 't', 'i') - indexed('y*', 't', 'i'))))} over all "
                     f"{inline(Product([Symbol('L'), Symbol('m')], dot=True))} entries",
    "sum_last": f"{inline(Summation(I, None, None, indexed('y', 'L', 'i')))}, the sum of the last output's entries",
    "sum_all": f"{inline(Summation(T, None, None, Summation(I, None, None, indexed('y', 't', 'i'))))}, the sum of "
               "every output's entries",
}
LOSSES = tuple(LOSS_TEXT)
SYMBOL_NAME = re.compile("[A-Za-z]+[0-9]*(_[A-Za-z0-9]+)?")    # what a student's w_in, x_1 parse to
MAX_NAME = 16


# ---- reading ----------------------------------------------------------------

def real_symbol(name: str):
    """A real symbol: the checker draws nonzero rationals of either sign for it."""
    import sympy
    return sympy.Symbol(name, real=True)


def is_symbolic(value) -> bool:
    return not isinstance(value, (int, float, Fraction))


def read_cell(name, value):
    if isinstance(value, str) and SYMBOL_NAME.fullmatch(value) and len(value) <= MAX_NAME:
        return real_symbol(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise FieldError(name, "must hold numbers, or symbol names such as w_in, x_1 or y_r; "
                               f"found {value!r}")
    return value


def read_tensor(name, value):
    """A number or symbol name, a list of them, or a matrix of numbers (a list of equal rows)."""
    if not isinstance(value, list):
        return read_cell(name, value)
    shape = nested_shape(name, value)
    if len(shape) > 2 or 0 in shape:
        raise FieldError(name, "must be a number, a symbol, a non-empty list or a matrix (a list of "
                               f"equal rows); got {'an empty list' if 0 in shape else f'{len(shape)} dimensions'}")
    if math.prod(shape) > MAX_CELLS:
        raise FieldError(name, f"has {math.prod(shape)} entries; at most {MAX_CELLS} are supported")
    cells = [read_cell(name, v) for v in np.array(value, dtype=object).flat]
    if len(shape) == 2 and any(is_symbolic(c) for c in cells):
        raise FieldError(name, "symbols need scalars: a matrix must hold numbers")
    out = np.empty(shape, dtype=object)
    out.flat[:] = cells
    return out


def read_sequence(name, value):
    if not isinstance(value, list):
        raise FieldError(name, "must be a list with one entry per time step: numbers or symbols "
                               "(x_1, x_2, ...), or one row of numbers per step for vector inputs")
    return read_tensor(name, value)


def read_rate(name, value):
    """η: a positive number, or a symbol name."""
    rate = read_cell(name, value)
    if isinstance(rate, (int, float)) and rate <= 0:
        raise FieldError(name, f"must be a positive step size η (gradient descent moves against the gradient by "
                               f"η times it); got {value!r}")
    return rate


def asked_loss(g) -> str | None:
    """The problem's loss: its `loss`, mse_last where it gives only a target, None where neither."""
    return g.loss or ("mse_last" if g.target is not None else None)


def loss_and_targets(g, steps, m) -> tuple[str | None, dict | None]:
    """The loss the problem asks for (None: a forward pass only: no `loss` and no target) and
    its targets by step; `loss` defaults to mse_last where a target is given."""
    loss = asked_loss(g)
    if loss is None or loss.startswith("sum"):
        if g.target is not None:
            raise FieldError("target", f"is not used by loss {g.loss}, which sums the outputs; remove it, "
                                       "or use a squared loss such as mse_last or mse_all")
        targets = None
    elif g.target is None:
        raise FieldError("target", f"is missing: loss {loss} compares the outputs with a target; give one, or "
                                   "leave `loss` out for the forward pass alone")
    elif loss.endswith("_last"):
        targets = {steps: fit("target", g.target, (m,), f"one entry per output of y_L, {m}")}
    else:
        rows = fit("target", g.target, (steps, m), f"one target per step ({steps}) and output ({m})")
        targets = {t: rows[t - 1] for t in range(1, steps + 1)}
    if g.learning_rate is not None and loss is None:
        raise FieldError("learning_rate", "needs a loss to descend: give a target (mse losses) or use loss "
                                          "sum_last or sum_all")
    return loss, targets


def fit(name, value, shape, what) -> np.ndarray:
    """`value` as an array of `shape`; size-1 axes may be left out (a number for 1×1, a list for n×1)."""
    actual = np.shape(value)
    if actual != shape and (len(actual) >= len(shape) or squeezed(actual) != squeezed(shape)):
        raise FieldError(name, f"must be {words(shape)} ({what}); got {words(actual)}")
    return np.array(value, dtype=object).reshape(shape)


def squeezed(shape) -> tuple:
    return tuple(k for k in shape if k != 1)


def words(shape) -> str:
    if not squeezed(shape):
        return "a single number"
    if len(shape) == 1:
        return f"a list of {shape[0]} numbers"
    return f"a {shape[0]}×{shape[1]} matrix" + (" (or a list)" if len(squeezed(shape)) == 1 else "")

def symbolic_fields(g) -> list[str]:
    """The given fields that hold a symbol."""
    found = []
    for f in dataclasses.fields(g):
        value = getattr(g, f.name)
        if value is None or isinstance(value, str):
            continue
        cells = value.flat if isinstance(value, np.ndarray) else [value]
        if any(is_symbolic(v) for v in cells):
            found.append(f.name)
    return found


def exact_number(v):
    """A decimal is the fraction it spells: 0.3 is 3/10, not the float nearest it."""
    return exact(Fraction(repr(v))) if isinstance(v, float) else v


def sympy_number(v):
    import sympy
    v = exact_number(v)
    return sympy.Rational(v.numerator, v.denominator) if isinstance(v, Fraction) else sympy.sympify(v)


# ---- losses of the outputs y_t ---------------------------------------------------

def loss_steps(loss: str | None, steps: int) -> list[int]:
    """The steps whose outputs the loss reads: every step (_all) or the last."""
    if loss is None:
        return []
    return list(range(1, steps + 1)) if loss.endswith("_all") else [steps]


def squared(loss: str) -> bool:
    return not loss.startswith("sum")


def loss_scale(loss: str, targets: dict) -> Fraction:
    """c in ℓ = c Σ (y − y*)²: ½ (mse), 1 (sse), or 1 over the entries averaged (torch_mse)."""
    if loss.startswith("mse"):
        return Fraction(1, 2)
    if loss.startswith("sse"):
        return Fraction(1)
    return Fraction(1, len(targets) * len(next(reversed(targets.values()))))


def error_factor(loss: str, targets: dict):
    """2c, the factor of y − y* in ∂ℓ/∂y: 1 for mse."""
    return exact(2 * loss_scale(loss, targets))


def output_grads(loss: str, outputs: dict, targets: dict) -> dict:
    """∂ℓ/∂y_t for the steps the loss reads ({step: y_t}): 2c (y_t − y*_t), or 1 for a sum."""
    if squared(loss):
        factor = error_factor(loss, targets)
        return {t: (y - targets[t]) * factor if factor != 1 else y - targets[t] for t, y in outputs.items()}
    return {t: np.ones(len(y), dtype=object) for t, y in outputs.items()}


def loss_value(loss: str, outputs: dict, targets: dict, scale=None):
    """ℓ of the outputs the loss reads ({step: y_t})."""
    if not squared(loss):
        return sum(sum(y) for y in outputs.values())
    scale = loss_scale(loss, targets) if scale is None else scale
    return scale * sum(sum(v * v for v in y - targets[t]) for t, y in outputs.items())


def plus(terms) -> Formula:
    return terms[0] if len(terms) == 1 else Sum(terms)


def times(factors) -> Formula:
    return factors[0] if len(factors) == 1 else Product(factors)
