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

from .functions import VALUE_AND_SLOPE


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


class Words(Symbol):
    """A quantity named in words (MACs, params), upright: a product writes it apart, 2 · MACs."""


class Squared(Symbol):
    """A letter squared, written next to other letters like a letter: K^2, the taps of a
    square kernel. Put in a number, it becomes the power 3^2; put in a symbol, it stays a
    letter (so the line does not repeat) but now has a value."""

    def __init__(self, name: str, base=None, latex: str | None = None):
        super().__init__(name, latex)
        self.base = base

    def substitute(self, values):
        if self.name not in values:
            return self
        value = values[self.name]
        return Power(Number(value), 2) if isinstance(value, int) else Squared(str(value), value)

    def value(self):
        if self.base is None:
            return super().value()
        return self.base ** 2


class Number(Formula):
    """A number (int, Fraction, float) or a sympy object standing for one. `decimal`: an
    exact value whose decimal expansion is short shows as that decimal (0.06, not 3/50)."""

    def __init__(self, x, decimal: bool = False):
        self.x, self.decimal = x, decimal

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


class ElidedSum(Sum):
    """A sum of many terms (a network's layers); the printer shortens one too long to read
    to its first terms, ⋯ and its last. Its value is the whole sum."""


class Negative(Formula):
    def __init__(self, operand):
        self.operand = operand

    def substitute(self, values):
        return Negative(self.operand.substitute(values))

    def value(self):
        return -self.operand.value()


class Product(Formula):
    """Factors in order; `dot`: every multiplication shown (X · W_Q^T), none left implied;
    `spaced`: every factor side by side with a space between, as a course writes W_Q x_i, α_ij v_j."""

    def __init__(self, factors, dot: bool = False, spaced: bool = False):
        self.dot, self.spaced = dot, spaced
        self.factors = [f for factor in factors
                        for f in (factor.factors if isinstance(factor, Product) else [factor])]

    def substitute(self, values):
        return Product([f.substitute(values) for f in self.factors], self.dot, self.spaced)

    def value(self):
        result = 1
        for factor in self.factors:
            result = result * factor.value()
        return result


class MatrixProduct(Formula):
    """A B, the matrix product (torch.matmul): its factors side by side, each a matrix or a vector;
    written like a Product (which it is not: its value is the matrix product)."""

    def __init__(self, factors):
        self.factors = [f for factor in factors
                        for f in (factor.factors if isinstance(factor, MatrixProduct) else [factor])]

    def substitute(self, values):
        return MatrixProduct([f.substitute(values) for f in self.factors])

    def value(self):
        from .tensors import matmul
        result = self.factors[0].value()
        for factor in self.factors[1:]:
            result = matmul(result, factor.value())
        return result


class Space(Formula):
    """A tensor shown by its shape alone: a matrix's 2 × 3, a vector's space R^3."""

    def __init__(self, shape):
        self.shape = tuple(shape)

    def substitute(self, values):
        return self

    def value(self):
        raise ValueError("a shape has no value of its own")


class Fraction_(Formula):
    """a / b, shown as \\frac; exact for ints (a Fraction, not a float)."""

    def __init__(self, numerator, denominator):
        self.numerator, self.denominator = numerator, denominator

    def substitute(self, values):
        return Fraction_(self.numerator.substitute(values),
                         self.denominator.substitute(values))

    def value(self):
        return divide(self.numerator.value(), self.denominator.value())


class Slash(Formula):
    """(a/b), a ratio written inline in its own brackets, as prose writes it: (C_in/g); exact for
    ints like a fraction."""

    def __init__(self, numerator, denominator):
        self.numerator, self.denominator = lift(numerator), lift(denominator)

    def substitute(self, values):
        return Slash(self.numerator.substitute(values), self.denominator.substitute(values))

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


class Array(Formula):
    """A matrix or vector inside a formula: the X of X W_Q^T, the v_j of α_ij v_j. A 1-D
    array shows as a row (give a column as an n×1 array); `decimal` as for Number."""

    def __init__(self, a, decimal: bool = False):
        self.a, self.decimal = a, decimal

    def substitute(self, values):
        return self

    def value(self):
        return self.a


class Power(Formula):
    """base^exponent; exact for ints and Fractions."""

    def __init__(self, base, exponent=2):
        self.base, self.exponent = lift(base), lift(exponent)

    def substitute(self, values):
        return Power(self.base.substitute(values), self.exponent.substitute(values))

    def value(self):
        return self.base.value() ** self.exponent.value()


class Root(Formula):
    """The square root; exact where the radicand is a square of a rational."""

    def __init__(self, radicand):
        self.radicand = lift(radicand)

    def substitute(self, values):
        return Root(self.radicand.substitute(values))

    def value(self):
        x = self.radicand.value()
        if not is_plain(x):
            import sympy
            return sympy.sqrt(x)
        q = Fraction(x) if not isinstance(x, float) else None
        if q is not None and q >= 0 and all(math.isqrt(n) ** 2 == n for n in (q.numerator, q.denominator)):
            return divide(math.isqrt(q.numerator), math.isqrt(q.denominator))
        return math.sqrt(x)


class Exp(Formula):
    """e^x, its exponent kept exact; the value is a float."""

    def __init__(self, exponent):
        self.exponent = lift(exponent)

    def substitute(self, values):
        return Exp(self.exponent.substitute(values))

    def value(self):
        return math.exp(float(self.exponent.value()))


class Log(Formula):
    """The natural logarithm of its argument; the value is a float."""

    def __init__(self, argument):
        self.argument = lift(argument)

    def substitute(self, values):
        return Log(self.argument.substitute(values))

    def value(self):
        return math.log(float(self.argument.value()))


class Partial(Formula):
    """∂f/∂x, the name of a derivative (its value is what a step computes for it)."""

    def __init__(self, of, by):
        self.of, self.by = lift(of), lift(by)

    def substitute(self, values):
        return self

    def value(self):
        raise ValueError("a derivative's name has no value of its own")


class Apply(Formula):
    """An activation (or other named function) applied to its argument: tanh(a_t); its slope
    with a prime, tanh'(z). `function` may also be a letter standing for one (σ_ℓ)."""

    def __init__(self, function, argument):
        self.function, self.argument = function, lift(argument)

    def substitute(self, values):
        return Apply(self.function, self.argument.substitute(values))

    def value(self):
        from .tensors import TENSOR_FUNCTIONS, entrywise, is_tensor
        if self.function in TENSOR_FUNCTIONS:
            return TENSOR_FUNCTIONS[self.function](self.argument.value())
        value, slope = VALUE_AND_SLOPE[self.function.rstrip("'")]
        f = slope if self.function.endswith("'") else value
        x = self.argument.value()
        return entrywise(f, x) if is_tensor(x) else f(x)


class Function(Formula):
    """A function by its name, not applied: σ_1 = tanh."""

    def __init__(self, name: str):
        self.name = name

    def substitute(self, values):
        return self

    def value(self):
        raise ValueError("a function alone has no value")


class Diag(Formula):
    """diag(v): the square matrix with v on its diagonal."""

    def __init__(self, entries):
        self.entries = lift(entries)

    def substitute(self, values):
        return Diag(self.entries.substitute(values))

    def value(self):
        import numpy as np
        return np.diag(np.asarray(self.entries.value(), dtype=object).ravel())


class Transpose(Formula):
    """M^T."""

    def __init__(self, matrix):
        self.matrix = lift(matrix)

    def substitute(self, values):
        return Transpose(self.matrix.substitute(values))

    def value(self):
        return self.matrix.value().T


class Entry(Symbol):
    """Entry `indices` of a matrix or vector: (A_ℓ)_ik, [∂y/∂b]_ki; a letter, so a product
    writes it juxtaposed. `indices` are index letters ("ik", "k,:") or a number."""

    def __init__(self, matrix, indices):
        super().__init__(str(indices))
        self.matrix, self.indices = lift(matrix), indices

    def substitute(self, values):
        return self


class Relation(Formula):
    """left op right, a condition (op one of <, <=, >, >=, =): it has no value of its own."""

    def __init__(self, left, op: str, right):
        self.left, self.op, self.right = lift(left), op, lift(right)

    def substitute(self, values):
        return Relation(self.left.substitute(values), self.op, self.right.substitute(values))

    def value(self):
        raise ValueError("a condition has no value")


class Cases(Formula):
    """`then` where `condition` holds, else `otherwise`: ReLU'(z) = 1 if z > 0, else 0."""

    def __init__(self, then, condition: Relation, otherwise):
        self.then, self.condition, self.otherwise = lift(then), condition, lift(otherwise)

    def substitute(self, values):
        return Cases(self.then.substitute(values), self.condition.substitute(values),
                     self.otherwise.substitute(values))

    def value(self):
        raise ValueError("a rule by cases has no value of its own")


class Hadamard(Formula):
    """a ⊙ b, entry by entry."""

    def __init__(self, a, b):
        self.a, self.b = lift(a), lift(b)

    def substitute(self, values):
        return Hadamard(self.a.substitute(values), self.b.substitute(values))

    def value(self):
        return self.a.value() * self.b.value()


class Arguments(Formula):
    """The arguments of a function of several, max(1, 4, 2): a list, with no value of its own."""

    def __init__(self, items):
        self.items = [lift(item) for item in items]

    def substitute(self, values):
        return Arguments([item.substitute(values) for item in self.items])

    def value(self):
        raise ValueError("a list of arguments has no value of its own")


class Dots(Formula):
    """The terms a long sum leaves out: ⋯ (it has no value of its own)."""

    def substitute(self, values):
        return self

    def value(self):
        raise ValueError("the terms left out have no value here")


class Group(Formula):
    """A formula kept in parentheses, as a term of a longer sum: (w_2 + b) + (w_1 + b)."""

    def __init__(self, inner):
        self.inner = inner

    def substitute(self, values):
        return Group(self.inner.substitute(values))

    def value(self):
        return self.inner.value()


class Norm(Formula):
    """‖v‖, the Euclidean length of a vector; with `order` 1 or 2 written with it, ‖v‖₁ (the sum
    of the entries' sizes, exact) or ‖v‖₂."""

    def __init__(self, inner, order: int | None = None):
        self.inner, self.order = lift(inner), order

    def substitute(self, values):
        return Norm(self.inner.substitute(values), self.order)

    def value(self):
        import numpy as np
        entries = np.ravel(np.asarray(self.inner.value(), dtype=object))
        if self.order == 1:
            return sum(abs(v) for v in entries)
        return math.sqrt(sum(float(v) ** 2 for v in entries))


class Indexed(Symbol):
    """A letter with formula subscripts, X_{c, i + α - 1}; a letter, so a product writes it
    juxtaposed. Given `table` (an array), its value is the entry the subscripts name."""

    def __init__(self, letter: str, subscripts, table=None):
        super().__init__(letter)
        self.subscripts, self.table = [lift(s) for s in subscripts], table

    def substitute(self, values):
        return Indexed(self.name, [s.substitute(values) for s in self.subscripts], self.table)

    def value(self):
        if self.table is None:
            return super().value()
        return self.table[tuple(int(s.value()) for s in self.subscripts)]


class Summation(Formula):
    """The sum of `body` over `var` from `start` to `stop` (both included); with no bounds,
    over every value of `var` (Σ_m e^(e_im), a formula in prose)."""

    def __init__(self, var: Symbol, start, stop, body: Formula):
        self.var, self.body = var, body
        self.start, self.stop = (None, None) if start is None else (lift(start), lift(stop))

    def substitute(self, values):
        inner = {k: v for k, v in values.items() if k != self.var.name}
        if self.start is None:
            return Summation(self.var, None, None, self.body.substitute(inner))
        return Summation(self.var, self.start.substitute(values), self.stop.substitute(values),
                         self.body.substitute(inner))

    def value(self):
        total = 0
        for k in range(self.start.value(), self.stop.value() + 1):
            total = total + self.body.substitute({self.var.name: k}).value()
        return total


class Mean(Formula):
    """The sum divided by its count, written 1/N Σ ... (the sum a Summation)."""

    def __init__(self, count, total: Formula):
        self.count, self.total = lift(count), total

    def substitute(self, values):
        return Mean(self.count.substitute(values), self.total.substitute(values))

    def value(self):
        return divide(self.total.value(), self.count.value())


def floor(x) -> Formula:
    return Call("floor", lift(x))


def ceil(x) -> Formula:
    return Call("ceil", lift(x))


def symbols(spec: str) -> list[Symbol]:
    return [Symbol(name) for name in spec.split()]


def same(a, b) -> bool:
    """Two formulas written alike, decided on the trees, not on what they print: the same
    nodes in the same order, with the same letters and numbers."""
    import numpy as np
    if isinstance(a, Formula) or isinstance(b, Formula):
        return type(a) is type(b) and vars(a).keys() == vars(b).keys() and all(
            same(value, vars(b)[name]) for name, value in vars(a).items())
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):           # an array of numbers inside a formula
        return isinstance(b, np.ndarray) and a.shape == b.shape and all(same(x, y) for x, y in zip(a.flat, b.flat))
    return type(a) is type(b) and bool(a == b)


def divide(a, b):
    """Exact division for ints and Fractions; sympy division for symbols."""
    if isinstance(a, (int, Fraction)) and isinstance(b, (int, Fraction)):
        q = Fraction(a) / Fraction(b)
        return q.numerator if q.denominator == 1 else q
    return a / b


def is_plain(x) -> bool:
    """A Python number, not a sympy object."""
    return isinstance(x, (int, float, Fraction))
