"""The primitive operations of a computational graph: each one's value, its local gradients
(the rule by which it passes an upstream gradient to its inputs) and its formulas, once.

Values are exact where they can be: ints and Fractions through + - * / and whole powers, the
square root of a square; a float past a transcendental function; a sympy expression where an
input is a letter. The activations' numbers come from solver/math/functions.py. On vectors and
matrices (solver/math/tensors.py) an element-wise operation broadcasts and takes each entry's
local gradient; every operation on tensors passes its upstream gradient back by a Pullback.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...math.activations import ACTIVATIONS
from ...math.functions import VALUE_AND_SLOPE
from ...math.nodes import (Apply, Arguments, Cases, Exp, Formula, Fraction_, Hadamard, Log, MatrixProduct, Negative,
                           Number, Power, Product, Relation, Root, Slash, Sum, Symbol, Transpose)
from ...math.notation import quantity
from ...math.printing import latex
from ...math.tensors import (TENSOR_FUNCTIONS, entrywise, is_tensor, matmul, outer, row_sums, shape_of, size, snapped,
                             softmax, unbroadcast)

KINKED = ("abs", "max", "min", "relu")        # not differentiable everywhere: numbers only
AT_THE_KINK = {"abs": "its input is 0, where |x| has a kink: PyTorch takes the slope 0 there",
               "relu": "its input is 0, where ReLU has a kink: PyTorch takes the slope 0 there",
               "max": "its inputs are equal, a tie: PyTorch splits the gradient, half to each",
               "min": "its inputs are equal, a tie: PyTorch splits the gradient, half to each"}


def at_the_kink(op: str, args: list) -> bool:
    """Is this operation at a point where it is not differentiable (a tie, an input of 0), at any entry?"""
    if op not in KINKED or any(map(is_symbolic, args)):
        return False
    if any(map(is_tensor, args)):
        return any(np.ravel(np.asarray(entrywise(lambda *xs: at_the_kink(op, list(xs)), *args), dtype=object)))
    return args[0] == args[1] if op in ("max", "min") else args[0] == 0
A, B, P, X, Y = (Symbol(letter) for letter in "abpxy")
ONE = Number(1)
SLOPES_OF_OUTPUT = {"sigmoid": ACTIVATIONS["sigmoid"].slope_of_output(quantity("sigma")),
                    "tanh": ONE - Power(Y, 2)}


def _in_math(*formulas) -> str:
    """Formulas in a sentence: each as math, the last two joined by "and"."""
    shown = [f"${latex(formula)}$" for formula in formulas]
    return " and ".join([", ".join(shown[:-1]), shown[-1]] if len(shown) > 1 else shown)


RULE_TEXT = {
    "add": "an addition passes the upstream gradient unchanged to each input",
    "sub": "a subtraction passes it to the first input and its negative to the second",
    "mul": "a product swaps its inputs: each input's local gradient is the other input",
    "div": f"a quotient {_in_math(Fraction_(A, B))} has local gradients {_in_math(Fraction_(ONE, B), Negative(Fraction_(A, Power(B, 2))))}",
    "neg": "a negation flips the sign",
    "pow": f"a power {_in_math(Power(X, P))} has local gradient {_in_math(Product([P, Power(X, P - 1)]))}",
    "exp": "the exponential's local gradient is its own output",
    "log": f"the logarithm's local gradient is {_in_math(Fraction_(ONE, X))}",
    "sqrt": f"the square root's local gradient is {_in_math(Fraction_(ONE, Product([Number(2), Root(X)])))}, one over twice "
            "its output",
    "abs": "the absolute value passes the gradient times the sign of its input (0 at 0, as PyTorch)",
    "max": "max routes the gradient to the larger input (half to each on a tie, as PyTorch)",
    "min": "min routes the gradient to the smaller input (half to each on a tie, as PyTorch)",
    "sigmoid": f"the sigmoid's local gradient is written with its output: {_in_math(SLOPES_OF_OUTPUT['sigmoid'])}",
    "tanh": f"tanh's local gradient is written with its output {_in_math(Y)}: {_in_math(SLOPES_OF_OUTPUT['tanh'])}",
    "relu": "ReLU passes the gradient where its input is positive, else nothing (0 at 0, as PyTorch)",
    "square": "a square's local gradient is twice its input",
    "matmul": "a matrix product $A B$ passes the upstream gradient $G$ to $A$ as $G B^T$ and to $B$ as $A^T G$ (each "
              "has its input's shape; a vector on the left is a row, on the right a column, as torch.matmul)",
    "T": "a transpose passes the upstream gradient back transposed",
    "sum": "a sum passes the upstream gradient to every entry: it is copied (broadcast) back to its input's shape",
    "mean": "a mean passes the upstream gradient divided by the number of entries to every entry",
    "softmax": "softmax $s$ (over the last dimension) passes back $s ⊙ (G - ⟨G, s⟩)$, the inner product taken "
               "along the last dimension: its Jacobian (the diagonal matrix of $s$, minus $s s^T$) times $G$, "
               "without building it",
    "log_softmax": "log_softmax (over the last dimension) passes back $G - s ⊙ Σ_j G_j$, where $s$ is the softmax of "
                   "its input and the sum runs along the last dimension",
}
ENTRYWISE_TEXT = ("Entry by entry (the local gradient at each entry, times the upstream gradient there, ⊙)",
                  "summed over the axes along which the input was broadcast")


def is_symbolic(x) -> bool:
    return not isinstance(x, (int, float, Fraction)) and not is_tensor(x)


def sympy():
    import sympy as module
    return module


def exact(x):
    """A whole Fraction as an int, a sympy rational as a Fraction (an int where whole); a tensor's entries each."""
    if is_tensor(x):          # -0.0 (0 times a negative number) as 0.0
        return np.asarray(entrywise(lambda v: exact(v) + 0.0 if isinstance(v, float) else exact(v), x), dtype=object)
    if is_symbolic(x) and not x.free_symbols:
        x = Fraction(int(x.p), int(x.q)) if x.is_Rational else float(x)
    if isinstance(x, Fraction) and x.denominator == 1:
        return x.numerator
    return x


def power(x, p: Fraction):
    if p.denominator == 1:
        return x ** int(p)
    if is_symbolic(x):
        return x ** sympy().Rational(p.numerator, p.denominator)
    if p == Fraction(1, 2):
        return Root(Number(x)).value()
    return float(x) ** float(p)


def exp(x):
    if is_symbolic(x):
        return sympy().exp(x)
    return 1 if x == 0 else math.exp(x)


def log(x):
    if is_symbolic(x):
        return sympy().log(x)
    return 0 if x == 1 else math.log(x)


def sigmoid(x):
    return 1 / (1 + sympy().exp(-x)) if is_symbolic(x) else VALUE_AND_SLOPE["sigmoid"][0](x)


def tanh(x):
    return sympy().tanh(x) if is_symbolic(x) else VALUE_AND_SLOPE["tanh"][0](x)


def kinked_value(op: str, args: list):
    """max, min, relu, abs of letters (an assignment's compound gradient, written in general)."""
    sp = sympy()
    return {"max": lambda: sp.Max(*args), "min": lambda: sp.Min(*args), "relu": lambda: sp.Max(0, args[0]),
            "abs": lambda: sp.Abs(args[0])}[op]()


def kinked_slopes(op: str, args: list) -> list:
    """Their local gradients in letters, by cases (PyTorch's choice at the kink)."""
    sp = sympy()
    if op == "abs":
        return [sp.sign(args[0])]
    if op == "relu":
        return [sp.Piecewise((1, args[0] > 0), (0, True))]
    a, b = args
    wins = (lambda u, v: u > v) if op == "max" else (lambda u, v: u < v)
    half = sp.Rational(1, 2)
    return [sp.Piecewise((1, wins(a, b)), (half, sp.Eq(a, b)), (0, True)),
            sp.Piecewise((1, wins(b, a)), (half, sp.Eq(a, b)), (0, True))]


VALUES = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "neg": lambda a: -a, "pow": power, "exp": exp, "log": log, "sqrt": lambda a: power(a, Fraction(1, 2)),
    "abs": abs, "max": max, "min": min, "sigmoid": sigmoid, "tanh": tanh,
    "relu": VALUE_AND_SLOPE["relu"][0], "square": lambda a: a * a,
}


def value(op: str, args: list):
    if any(map(is_tensor, args)):
        return tensor_value(op, args)
    if op in KINKED and any(map(is_symbolic, args)):
        return kinked_value(op, args)
    if op == "div" and not is_symbolic(args[0]) and not is_symbolic(args[1]) \
            and not isinstance(args[0], float) and not isinstance(args[1], float):
        return Fraction(args[0]) / Fraction(args[1])
    return VALUES[op](*args)


TENSOR_OPS = {"matmul": matmul, "T": lambda a: a.T, **TENSOR_FUNCTIONS}
NOT_ENTRYWISE = tuple(TENSOR_OPS)


def tensor_value(op: str, args: list):
    if op in TENSOR_OPS:
        return TENSOR_OPS[op](*args)
    return entrywise(lambda *xs: value(op, list(xs)), *args)


@dataclass(frozen=True)
class Rules:
    """The conventions of backpropagation; each mistake changes one."""
    fan_out: str = "sum"             # "first", "last": where a value feeds several nodes, one path's gradient kept
    route_to: str = "chosen"         # "other": max (min) routes the gradient to the input it did not choose;
    #                                  "both": to both inputs
    sigmoid_slope: str = "output"    # "input": σ' taken as x(1 - x) at the input x
    upstream: bool = True            # False: each local gradient taken as the gradient (upstream not multiplied)
    subtraction_sign: int = -1       # +1: a - b's local gradient to b taken as +1
    quotient: str = "rule"           # "reciprocal": a/b's local gradient to b taken as 1/b
    matmul: str = "rule"             # "side": Y = A B's gradients taken as Bᵀ G and G Aᵀ (the transpose on the
    #                                  wrong side); "missing": as G B and A G (no transpose); each only where its
    #                                  shape is the input's (else the rule)


@dataclass(frozen=True)
class Pullback:
    """How an operation on tensors passes the upstream gradient G back to one input (the
    vector-Jacobian product, never the Jacobian): `rule` names it, `local` is what it multiplies
    by (entrywise: the local gradient at each entry of the output; matmul: the other factor;
    softmax: the output s; log_softmax: softmax of the input), `shape` is the input's."""
    rule: str
    local: Any
    shape: tuple
    form: str = "rule"

    def __call__(self, g):
        if self.rule == "entrywise":
            return unbroadcast(g * self.local, self.shape)
        if self.rule in ("left", "right"):
            return matmul_gradient(self.rule, self.local, g, self.shape, self.form)
        if self.rule == "sum":
            return np.full(self.shape, g, dtype=object)
        if self.rule == "mean":
            return np.full(self.shape, value("div", [g, int(np.prod(self.shape))]), dtype=object)
        if self.rule == "T":
            return g.T
        g = np.asarray(g, dtype=object)
        if self.rule == "softmax":
            return snapped(self.local * (g - row_sums(g * self.local)), size(g))
        return snapped(g - self.local * row_sums(g), size(g))          # log_softmax


def matmul_gradient(side: str, other, g, shape: tuple, form: str = "rule"):
    """The gradient of Y = A B by A (`side` left, `other` = B) or by B (right, `other` = A), as
    torch.matmul's backward; under a mistake's `form`, the wrong formula where its shape is the input's."""
    wrong = wrong_factors(side, other, g, shape, form)
    if wrong is not None:
        return matmul(*wrong)
    if side == "left":
        if len(shape) == 1:
            return g * other if np.ndim(other) == 1 else matmul(other, g)
        return outer(g, other) if np.ndim(other) == 1 else matmul(g, other.T)
    if len(shape) == 1:
        return g * other if np.ndim(other) == 1 else matmul(other.T, g)
    return outer(other, g) if np.ndim(other) == 1 else matmul(other.T, g)


def wrong_factors(side: str, other, g, shape: tuple, form: str):
    """The two factors of the mistake's formula (Bᵀ G, G B; G Aᵀ, A G), where both are matrices and
    their product has the input's shape; else None (the mistake cannot be made there)."""
    if form == "rule" or len(shape) != 2 or np.ndim(other) != 2 or np.ndim(g) != 2:
        return None
    a, b = {("left", "side"): (other.T, g), ("left", "missing"): (g, other),
            ("right", "side"): (g, other.T), ("right", "missing"): (other, g)}[side, form]
    return (a, b) if a.shape[1] == b.shape[0] and (a.shape[0], b.shape[1]) == shape else None


def wrong_matmul_possible(a_shape: tuple, b_shape: tuple, form: str) -> bool:
    """Can the mistake's formula be written at Y = A B (for A or for B)?"""
    if len(a_shape) != 2 or len(b_shape) != 2:
        return False
    a, b = np.zeros(a_shape, dtype=object), np.zeros(b_shape, dtype=object)
    g = np.zeros((a_shape[0], b_shape[1]), dtype=object)
    return wrong_factors("left", b, g, a_shape, form) is not None or wrong_factors("right", a, g, b_shape, form) \
        is not None


def half_split(chosen: bool, tie: bool):
    return Fraction(1, 2) if tie else 1 if chosen else 0


def tensor_gradients(op: str, args: list, out, rules: Rules = Rules()) -> list:
    """Each argument's Pullback at an operation with a tensor among its arguments or its output."""
    shapes = [shape_of(a) for a in args]
    if op == "matmul":
        return [Pullback("left", args[1], shapes[0], rules.matmul), Pullback("right", args[0], shapes[1], rules.matmul)]
    if op in ("sum", "mean", "T"):
        return [Pullback(op, None, shapes[0])]
    if op == "softmax":
        return [Pullback(op, np.asarray(out, dtype=object), shapes[0])]
    if op == "log_softmax":
        return [Pullback(op, np.asarray(softmax(args[0]), dtype=object), shapes[0])]
    each = entrywise(lambda *xs: tuple(local_gradients(op, list(xs[:-1]), xs[-1], rules)), *args, out)
    each = np.asarray(each, dtype=object)
    return [Pullback("entrywise", np.vectorize(lambda t, k=k: t[k], otypes=[object])(each), shape)
            for k, shape in enumerate(shapes)]


def local_gradients(op: str, args: list, out, rules: Rules = Rules()) -> list:
    """∂out/∂arg for each argument, at these values, under `rules` (a Pullback each where a tensor is involved)."""
    if any(map(is_tensor, args)) or is_tensor(out):
        return tensor_gradients(op, args, out, rules)
    if op in KINKED and any(map(is_symbolic, args)):
        return kinked_slopes(op, args)
    if op == "add":
        return [1, 1]
    if op == "sub":
        return [1, rules.subtraction_sign]
    if op == "mul":
        return [args[1], args[0]]
    if op == "div":
        a, b = args
        return [value("div", [1, b]), value("div", [1, b]) if rules.quotient == "reciprocal"
                else -value("div", [a, b * b])]
    if op == "neg":
        return [-1]
    if op == "pow":
        p = args[1]
        return [p * power(args[0], p - 1), 0]
    if op == "exp":
        return [out]
    if op == "log":
        return [value("div", [1, args[0]])]
    if op == "sqrt":
        return [value("div", [1, 2 * out])]
    if op == "abs":
        return [VALUE_AND_SLOPE["abs"][1](args[0])]
    if op in ("max", "min"):
        a, b = args
        if rules.route_to == "both":
            return [1, 1]
        first = (a > b) if op == "max" else (a < b)
        if rules.route_to == "other":
            first = not first
        return [half_split(first, a == b), half_split(not first, a == b)]
    if op == "sigmoid":
        y = args[0] if rules.sigmoid_slope == "input" else out
        return [y * (1 - y)]
    if op == "tanh":
        return [1 - out * out]
    if op == "relu":
        return [VALUE_AND_SLOPE["relu"][1](args[0])]
    if op == "square":
        return [2 * args[0]]
    raise ValueError(f"unknown operation {op}")


def formula(op: str, args: list, tensors: tuple = ()) -> Formula:
    """The operation written with its arguments (letters, numbers or formulas); `tensors`: which arguments
    are tensors (a product of two is entry by entry, ⊙; a quotient with one is written inline, (a/b))."""
    if op == "matmul":
        return MatrixProduct(args)
    if op == "T":
        return Transpose(args[0])
    if op == "mul" and tensors and all(tensors):
        return Hadamard(*args)
    if op == "div" and any(tensors):
        return Slash(*args)
    if op == "add":
        return Sum(args)
    if op == "sub":
        return Sum([args[0], Negative(args[1])])
    if op == "mul":
        return Product(args, dot=True)
    if op == "div":
        return Fraction_(*args)
    if op == "neg":
        return Negative(args[0])
    if op == "pow":
        return Power(*args)
    if op == "square":
        return Power(args[0], 2)
    if op == "exp":
        return Exp(args[0])
    if op == "log":
        return Log(args[0])
    if op == "sqrt":
        return Root(args[0])
    if op in ("max", "min"):
        return Apply(op, Arguments(args))
    return Apply(op, args[0])        # abs, sigmoid, tanh, relu, sum, mean, softmax, log_softmax


OPERATORS = {"add": "plus", "sub": "minus", "mul": "times", "div": "divided by", "matmul": "matrix product"}


def gate(op: str, args: list, tensors: tuple = ()) -> Formula:
    """The operation as a drawn gate shows it: its operator where both inputs are wires (+, ×),
    else its formula with a slot for each wire (e^□, 1 + □, σ(□)); `args` are Numbers (constants) or
    None (a wire)."""
    if op in OPERATORS and all(a is None for a in args):
        return quantity("entrywise times" if op == "mul" and tensors and all(tensors) else OPERATORS[op])
    return formula(op, [quantity("slot") if a is None else a for a in args])


def rule_formulas(op: str, args: list, out: Formula) -> list:
    """Each argument's local gradient as a formula in the arguments and the output `out`."""
    one = Number(1)
    if op == "add":
        return [one, one]
    if op == "sub":
        return [one, Number(-1)]
    if op == "mul":
        return [args[1], args[0]]
    if op == "div":
        return [Fraction_(one, args[1]), Negative(Fraction_(args[0], Power(args[1], 2)))]
    if op == "neg":
        return [Number(-1)]
    if op == "pow":
        p = args[1].x
        if p == 1:
            return [one]
        raised = args[0] if p == 2 else Power(args[0], Number(p - 1, decimal=True))
        return [Product([Number(p, decimal=True), raised], dot=True)]
    if op == "square":
        return [Product([Number(2), args[0]])]
    if op == "exp":
        return [out]
    if op == "log":
        return [Fraction_(one, args[0])]
    if op == "sqrt":
        return [Fraction_(one, Product([Number(2), out]))]
    if op in ("max", "min"):
        a, b = args
        sign = ">" if op == "max" else "<"
        half = Number(Fraction(1, 2), decimal=True)
        return [Cases(one, Relation(a, sign, b), Cases(half, Relation(a, "=", b), 0)),
                Cases(one, Relation(b, sign, a), Cases(half, Relation(a, "=", b), 0))]
    if op in ("sigmoid", "tanh"):
        return [ACTIVATIONS[op].slope_of_output(out)]
    return [ACTIVATIONS[op].slope_rule(args[0])]      # abs, relu
