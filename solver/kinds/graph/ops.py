"""The primitive operations of a computational graph: each one's value, its local gradients
(the rule by which it passes an upstream gradient to its inputs) and its formulas, once.

Values are exact where they can be: ints and Fractions through + - * / and whole powers, the
square root of a square; a float past a transcendental function; a sympy expression where an
input is a letter. The activations' numbers come from solver/math/functions.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ...math.activations import ACTIVATIONS
from ...math.functions import VALUE_AND_SLOPE
from ...math.nodes import (Apply, Arguments, Cases, Exp, Formula, Fraction_, Log, Negative, Number, Power, Product,
                           Relation, Root, Sum)
from ...math.notation import quantity

KINKED = ("abs", "max", "min", "relu")        # not differentiable everywhere: numbers only
AT_THE_KINK = {"abs": "its input is 0, where |x| has a kink: PyTorch takes the slope 0 there",
               "relu": "its input is 0, where ReLU has a kink: PyTorch takes the slope 0 there",
               "max": "its inputs are equal, a tie: PyTorch splits the gradient, half to each",
               "min": "its inputs are equal, a tie: PyTorch splits the gradient, half to each"}


def at_the_kink(op: str, args: list) -> bool:
    """Is this operation at a point where it is not differentiable (a tie, an input of 0)?"""
    if op not in KINKED or any(map(is_symbolic, args)):
        return False
    return args[0] == args[1] if op in ("max", "min") else args[0] == 0
RULE_TEXT = {
    "add": "an addition passes the upstream gradient unchanged to each input",
    "sub": "a subtraction passes it to the first input and its negative to the second",
    "mul": "a product swaps its inputs: each input's local gradient is the other input",
    "div": "a quotient a/b has local gradients 1/b and -a/b²",
    "neg": "a negation flips the sign",
    "pow": "a power x^p has local gradient p x^(p-1)",
    "exp": "the exponential's local gradient is its own output",
    "log": "the logarithm's local gradient is 1/x",
    "sqrt": "the square root's local gradient is 1/(2√x), one over twice its output",
    "abs": "the absolute value passes the gradient times the sign of its input (0 at 0, as PyTorch)",
    "max": "max routes the gradient to the larger input (half to each on a tie, as PyTorch)",
    "min": "min routes the gradient to the smaller input (half to each on a tie, as PyTorch)",
    "sigmoid": "the sigmoid's local gradient is written with its output: σ(1 - σ)",
    "tanh": "tanh's local gradient is written with its output: 1 - tanh²",
    "relu": "ReLU passes the gradient where its input is positive, else nothing (0 at 0, as PyTorch)",
    "square": "a square's local gradient is twice its input",
}


def is_symbolic(x) -> bool:
    return not isinstance(x, (int, float, Fraction))


def sympy():
    import sympy as module
    return module


def exact(x):
    """A whole Fraction as an int, a sympy rational as a Fraction (an int where whole)."""
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
    if op in KINKED and any(map(is_symbolic, args)):
        return kinked_value(op, args)
    if op == "div" and not is_symbolic(args[0]) and not is_symbolic(args[1]) \
            and not isinstance(args[0], float) and not isinstance(args[1], float):
        return Fraction(args[0]) / Fraction(args[1])
    return VALUES[op](*args)


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


def half_split(chosen: bool, tie: bool):
    return Fraction(1, 2) if tie else 1 if chosen else 0


def local_gradients(op: str, args: list, out, rules: Rules = Rules()) -> list:
    """∂out/∂arg for each argument, at these values, under `rules`."""
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


def formula(op: str, args: list) -> Formula:
    """The operation written with its arguments (letters, numbers or formulas)."""
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
    return Apply(op, args[0])        # abs, sigmoid, tanh, relu


OPERATORS = {"add": "plus", "sub": "minus", "mul": "times", "div": "divided by"}


def gate(op: str, args: list) -> Formula:
    """The operation as a drawn gate shows it: its operator where both inputs are wires (+, ×),
    else its formula with a slot for each wire (e^□, 1 + □, σ(□)); `args` are Numbers (constants) or
    None (a wire)."""
    if op in OPERATORS and all(a is None for a in args):
        return quantity(OPERATORS[op])
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
