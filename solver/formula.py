"""Formula trees that keep the order in which a derivation writes them.

sympy reorders terms (`H + 2P - K` prints as `- K + H + 2 P`) and importing
it costs half a second, which `solver check` on a numeric answer must not pay.
So a derivation writes its formulas as these small trees: they print to LaTeX
exactly as written, `substitute` puts numbers (or sympy symbols) in for the
letters, and `value` evaluates them with Python's exact int/Fraction
arithmetic, or with sympy's when a leaf is a sympy object.
"""
from __future__ import annotations

import math
from collections.abc import Hashable
from fractions import Fraction
from functools import lru_cache


class Formula:
    """Base node. Operators build trees, so `2 * P + H` reads as written."""

    precedence = 100          # higher binds tighter; decides parentheses

    def __add__(self, other):
        return Sum([self, lift(other)])

    def __radd__(self, other):
        return Sum([lift(other), self])

    def __sub__(self, other):
        return Sum([self, Negative(lift(other))])

    def __rsub__(self, other):
        return Sum([lift(other), Negative(self)])

    def __mul__(self, other):
        return Product([self, lift(other)])

    def __rmul__(self, other):
        return Product([lift(other), self])

    def __truediv__(self, other):
        return Fraction_(self, lift(other))

    def __rtruediv__(self, other):
        return Fraction_(lift(other), self)

    def tex(self) -> str:
        raise NotImplementedError

    def substitute(self, values: dict) -> Formula:
        raise NotImplementedError

    def value(self):
        raise NotImplementedError


def lift(x) -> Formula:
    return x if isinstance(x, Formula) else Number(x)


class Symbol(Formula):
    """A letter of the formula, e.g. Symbol("P") or Symbol("H", r"H_{\\text{in}}")."""

    def __init__(self, name: str, latex: str | None = None):
        self.name, self.latex = name, latex or name

    def tex(self):
        return self.latex

    def substitute(self, values):
        return Number(values[self.name]) if self.name in values else self

    def value(self):
        raise ValueError(f"no value for {self.name}")


class Number(Formula):
    """A number (int, Fraction, float) or a sympy object standing for one."""

    def __init__(self, x):
        self.x = x
        self.precedence = 100 if _is_plain(x) else _sympy_precedence(x)

    def tex(self):
        return number_tex(self.x)

    def substitute(self, values):
        return self

    def value(self):
        return self.x


class Sum(Formula):
    precedence = 10

    def __init__(self, terms):
        self.terms = [t for term in terms
                      for t in (term.terms if isinstance(term, Sum) else [term])]

    def tex(self):
        out = _wrap(self.terms[0], self.precedence, strict=False)
        for term in self.terms[1:]:
            if isinstance(term, Negative):
                out += " - " + _wrap(term.operand, self.precedence, strict=True)
            else:
                out += " + " + _wrap(term, self.precedence, strict=False)
        return out

    def substitute(self, values):
        return Sum([t.substitute(values) for t in self.terms])

    def value(self):
        total = 0
        for term in self.terms:
            total = total + term.value()
        return total


class Negative(Formula):
    precedence = 10

    def __init__(self, operand):
        self.operand = operand

    def tex(self):
        return "-" + _wrap(self.operand, self.precedence, strict=True)

    def substitute(self, values):
        return Negative(self.operand.substitute(values))

    def value(self):
        return -self.operand.value()


class Product(Formula):
    precedence = 20

    def __init__(self, factors):
        self.factors = [f for factor in factors
                        for f in (factor.factors if isinstance(factor, Product) else [factor])]

    def tex(self):
        parts = [_wrap(f, self.precedence, strict=False) for f in self.factors]
        if len(parts) == 2 and _is_one(self.factors[0]) and isinstance(self.factors[1], Sum):
            return parts[1]                             # D(K - 1) with D = 1: (3 - 1), not 1(3 - 1)
        out = parts[0]
        for before, factor, part in zip(self.factors, self.factors[1:], parts[1:]):
            # "2P" and "D(K - 1)" read well juxtaposed; "2 \cdot 3" must not.
            letter = isinstance(factor, Symbol) or (isinstance(factor, Number)
                                                     and not _is_plain(factor.x) and factor.precedence == 100)
            juxtapose = (letter or isinstance(factor, Sum)) and not isinstance(before, Sum)
            out += ("" if juxtapose else r" \cdot ") + part
        return out

    def substitute(self, values):
        return Product([f.substitute(values) for f in self.factors])

    def value(self):
        result = 1
        for factor in self.factors:
            result = result * factor.value()
        return result


class Fraction_(Formula):
    """a / b, shown as \\frac; exact for ints (a Fraction, not a float)."""
    precedence = 100

    def __init__(self, numerator, denominator):
        self.numerator, self.denominator = numerator, denominator

    def tex(self):
        return rf"\frac{{{self.numerator.tex()}}}{{{self.denominator.tex()}}}"

    def substitute(self, values):
        return Fraction_(self.numerator.substitute(values),
                         self.denominator.substitute(values))

    def value(self):
        return divide(self.numerator.value(), self.denominator.value())


class Call(Formula):
    """floor, ceil and friends: a named function shown with its own brackets."""
    precedence = 100
    BRACKETS = {"floor": (r"\left\lfloor ", r" \right\rfloor"),
                "ceil": (r"\left\lceil ", r" \right\rceil"),
                "max": (r"\max\left(", r"\right)")}

    def __init__(self, name, argument):
        self.name, self.argument = name, argument

    def tex(self):
        left, right = self.BRACKETS[self.name]
        return left + self.argument.tex() + right

    def substitute(self, values):
        return Call(self.name, self.argument.substitute(values))

    def value(self):
        x = self.argument.value()
        if _is_plain(x):
            return {"floor": math.floor, "ceil": math.ceil}[self.name](x)
        import sympy
        return {"floor": sympy.floor, "ceil": sympy.ceiling}[self.name](x)


def floor(x) -> Formula:
    return Call("floor", lift(x))


def ceil(x) -> Formula:
    return Call("ceil", lift(x))


def symbols(spec: str) -> list[Symbol]:
    return [Symbol(name) for name in spec.split()]


def divide(a, b):
    """Exact division for ints and Fractions; sympy division for symbols."""
    if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)):
        q = Fraction(a) / Fraction(b)
        return q.numerator if q.denominator == 1 else q
    return a / b


def number_tex(x) -> str:
    """LaTeX for one value: ints, Fractions, floats, or sympy objects."""
    if isinstance(x, bool):
        return r"\text{%s}" % ("true" if x else "false")
    if isinstance(x, int):
        return f"{x:,}".replace(",", "{,}") if abs(x) >= 10_000 else str(x)
    if isinstance(x, Fraction):
        sign = "-" if x < 0 else ""
        return rf"{sign}\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"
    if isinstance(x, float):
        return format_float(x)
    if isinstance(x, Formula):
        return x.tex()
    return sympy_tex(x) if isinstance(x, Hashable) else sympy_tex.__wrapped__(x)   # a mutable Matrix is not


@lru_cache(maxsize=4096)
def sympy_tex(x) -> str:
    """sympy's LaTeX, remembered: a sheet, its key and its variants print the same formulas again."""
    import sympy
    return sympy.latex(x)


def format_float(x: float) -> str:
    if x == math.inf:
        return r"\infty"
    if x == -math.inf:
        return r"-\infty"
    mantissa, _, exponent = f"{x:.6g}".partition("e")     # 1e-05 is 1 \times 10^{-5} in math
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else mantissa


def _is_one(node) -> bool:
    return isinstance(node, Number) and _is_plain(node.x) and node.x == 1


def _is_plain(x) -> bool:
    return isinstance(x, (int, float, Fraction))


def _sympy_precedence(x) -> int:
    if x.is_Add or x.could_extract_minus_sign():
        return 10
    return 20 if x.is_Mul or x.is_Pow else 100


def _wrap(node, outer, strict):
    """Parenthesize `node` inside an operator of precedence `outer`."""
    text = node.tex()
    needs = node.precedence < outer or (strict and node.precedence == outer)
    if isinstance(node, Number) and _is_plain(node.x) and node.x < 0:
        needs = True                                   # "2 \cdot (-3)"
    return rf"\left({text}\right)" if needs else text
