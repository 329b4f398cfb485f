"""The math vocabulary: formula trees that keep the order in which a derivation writes them.

sympy reorders terms (`H + 2P - K` prints as `- K + H + 2 P`) and importing
it costs half a second, which `solver check` on a numeric answer must not pay.
So a derivation writes its formulas as these small trees: `printing` prints
them exactly as written, `substitute` puts numbers (or sympy symbols) in for the
letters, and `value` evaluates them with Python's exact int/Fraction
arithmetic, or with sympy's when a leaf is a sympy object. Nodes carry
structure and value only; how they look is `printing`'s business.
"""
from __future__ import annotations

import math
from fractions import Fraction


class Formula:
    """Base node. Operators build trees, so `2 * P + H` reads as written."""

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

    def substitute(self, values):
        return Number(values[self.name]) if self.name in values else self

    def value(self):
        raise ValueError(f"no value for {self.name}")


class Number(Formula):
    """A number (int, Fraction, float) or a sympy object standing for one."""

    def __init__(self, x):
        self.x = x

    def substitute(self, values):
        return self

    def value(self):
        return self.x


class Sum(Formula):
    def __init__(self, terms):
        self.terms = [t for term in terms
                      for t in (term.terms if isinstance(term, Sum) else [term])]

    def substitute(self, values):
        return Sum([t.substitute(values) for t in self.terms])

    def value(self):
        total = 0
        for term in self.terms:
            total = total + term.value()
        return total


class Negative(Formula):
    def __init__(self, operand):
        self.operand = operand

    def substitute(self, values):
        return Negative(self.operand.substitute(values))

    def value(self):
        return -self.operand.value()


class Product(Formula):
    def __init__(self, factors):
        self.factors = [f for factor in factors
                        for f in (factor.factors if isinstance(factor, Product) else [factor])]

    def substitute(self, values):
        return Product([f.substitute(values) for f in self.factors])

    def value(self):
        result = 1
        for factor in self.factors:
            result = result * factor.value()
        return result


class Fraction_(Formula):
    """a / b, shown as \\frac; exact for ints (a Fraction, not a float)."""

    def __init__(self, numerator, denominator):
        self.numerator, self.denominator = numerator, denominator

    def substitute(self, values):
        return Fraction_(self.numerator.substitute(values),
                         self.denominator.substitute(values))

    def value(self):
        return divide(self.numerator.value(), self.denominator.value())


class Call(Formula):
    """floor, ceil and friends: a named function shown with its own brackets."""

    def __init__(self, name, argument):
        self.name, self.argument = name, argument

    def substitute(self, values):
        return Call(self.name, self.argument.substitute(values))

    def value(self):
        x = self.argument.value()
        if is_plain(x):
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


def is_plain(x) -> bool:
    """A Python number, not a sympy object."""
    return isinstance(x, (int, float, Fraction))
