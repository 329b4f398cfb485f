"""solver/math: the node vocabulary's exact values against independent computations, and the
one printer's precedence rule: a printed tree read back by the answer grammar has the tree's value."""
import math
import random
from fractions import Fraction

import numpy as np
import pytest

from solver.answers.grammar import parse_expression
from solver.math.activations import ACTIVATIONS
from solver.math.nodes import (Apply, Array, Call, Diag, ElidedSum, Entry, Exp, Fraction_, Group, Hadamard, Indexed,
                               Mean, Negative, Number, Partial, Power, Product, Root, Slash, Sum, Summation, Symbol,
                               Transpose)
from solver.math.printing import latex


# ---- the printer's precedence: print, read back, same exact value ---------------------

def random_tree(rng: random.Random, depth: int):
    if depth == 0 or rng.random() < 0.25:
        if rng.random() < 0.3:
            return Symbol(rng.choice("xy"))
        return Number(rng.choice([rng.randint(-9, 9), Fraction(rng.randint(-9, 9), rng.randint(2, 7))]))
    kind = rng.choice(["sum", "negative", "product", "fraction", "power", "group", "floor"])
    def sub():
        return random_tree(rng, depth - 1)
    if kind == "sum":
        return Sum([sub() if rng.random() < 0.7 else Negative(sub()) for _ in range(rng.randint(2, 3))])
    if kind == "negative":
        return Negative(sub())
    if kind == "product":
        return Product([sub() for _ in range(rng.randint(2, 3))], dot=rng.random() < 0.2)
    if kind == "fraction":
        return Fraction_(sub(), sub())
    if kind == "power":
        return Power(sub(), rng.randint(0, 3))
    if kind == "group":
        return Group(sub())
    return Call(rng.choice(["floor", "ceil"]), sub())


@pytest.mark.parametrize("seed", range(300))
def test_printed_tree_reads_back_to_its_value(seed):
    """The tree's exact value (Python fractions, x and y put in) equals sympy's value of what
    the answer grammar reads from its LaTeX."""
    import sympy
    rng = random.Random(seed)
    while True:                      # a tree that divides by zero has no value: draw another
        tree = random_tree(rng, 4)
        point = {"x": rng.randint(1, 9), "y": rng.randint(1, 7)}     # the grammar reads letters as sizes
        try:
            expected = tree.substitute(point).value()
            break
        except ZeroDivisionError:
            continue
    text = latex(tree)
    read = parse_expression(text, names=("x", "y"))
    read = read.subs({symbol: point[symbol.name] for symbol in read.free_symbols})
    assert read == sympy.Rational(expected), text


def test_printer_brackets_what_binds_less_tightly():
    x, y = Symbol("x"), Symbol("y")
    assert latex(Product([Sum([x, y]), Number(2)])) == r"\left(x + y\right) \cdot 2"
    assert latex(Sum([x, Negative(Sum([x, y]))])) == r"x - \left(x + y\right)"
    assert latex(Power(Fraction_(x, y))) == r"\left(\frac{x}{y}\right)^{2}"
    assert latex(Power(Number(Fraction(1, 2)))) == r"\left(\frac{1}{2}\right)^{2}"
    assert latex(Product([Number(2), Number(-3)])) == r"2 \cdot \left(-3\right)"
    assert latex(Product([Number(2), x])) == "2x"


# ---- each node's value, computed independently ---------------------------------------

def test_array_is_its_array_and_prints_as_a_matrix():
    a = np.array([[1, Fraction(1, 4)], [3, 4]], dtype=object)
    assert Array(a).value() is a
    assert latex(Array(a, decimal=True)) == r"\begin{bmatrix} 1 & 0.25 \\ 3 & 4 \end{bmatrix}"


def test_power_is_exact():
    assert Power(Number(Fraction(2, 3)), 3).value() == Fraction(8, 27)
    assert Power(Number(7)).value() == 49


def test_root_is_exact_for_squares_and_a_float_otherwise():
    assert Root(Number(Fraction(9, 4))).value() == Fraction(3, 2)
    assert Root(Number(2)).value() == pytest.approx(math.sqrt(2), rel=1e-15)


def test_exp_is_e_to_the_power():
    assert Exp(Number(Fraction(1, 2))).value() == pytest.approx(math.e ** 0.5, rel=1e-15)
    assert latex(Exp(Number(0))) == "1"


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_values_and_slopes_match_autograd(name):
    torch = pytest.importorskip("torch")
    functions = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "identity": lambda t: t,
                 "abs": torch.abs}
    for z in (-2.5, -0.3, 0.7, 3.0):
        t = torch.tensor(z, dtype=torch.float64, requires_grad=True)
        out = functions[name](t)
        out.backward()
        assert Apply(name, Number(z)).value() == pytest.approx(out.item(), rel=1e-12)
        assert ACTIVATIONS[name].slope(z) == pytest.approx(t.grad.item(), rel=1e-12)


def test_hadamard_is_entry_by_entry():
    a, b = np.array([1, -2, 3]), np.array([4, 5, -6])
    assert list(Hadamard(Array(a), Array(b)).value()) == [4, -10, -18]


def test_group_is_its_inner_value_in_brackets():
    inner = Sum([Number(2), Number(3)])
    assert Group(inner).value() == 5
    assert latex(Sum([Group(inner), Number(1)])) == r"\left(2 + 3\right) + 1"


def test_slash_is_an_exact_inline_ratio_in_its_own_brackets():
    assert Slash(Number(6), Number(4)).value() == Fraction(3, 2)
    assert latex(Slash(Symbol("C"), Symbol("g"))) == "(C/g)"
    assert latex(Product([Slash(Symbol("C"), Symbol("g")), Symbol("K")], dot=True)) == r"(C/g) \cdot K"
    assert latex(Slash(Symbol("C"), Sum([Symbol("g"), Number(1)]))) == r"(C/\left(g + 1\right))"


def test_an_elided_sum_is_the_whole_sum_printed_short_when_long():
    terms = [Number(10**6 + k) for k in range(12)]
    assert ElidedSum(terms).value() == sum(10**6 + k for k in range(12))
    assert latex(ElidedSum(terms)) == r"1{,}000{,}000 + 1{,}000{,}001 + \cdots + 1{,}000{,}011"
    assert latex(ElidedSum(terms[:3])) == latex(Sum(terms[:3]))


def test_summation_of_indexed_terms_is_a_correlation():
    """Σ_{α=0}^{2} w_α x_{i+α} at i = 1, against numpy's correlation of the same arrays."""
    w, x = np.array([1, -2, 3]), np.array([5, 7, -1, 4, 2])
    alpha, i = Symbol("alpha", r"\alpha"), Symbol("i")
    body = Product([Indexed("w", [alpha], w), Indexed("x", [Sum([i, alpha])], x)])
    total = Summation(alpha, 0, 2, body)
    assert total.substitute({"i": 1}).value() == np.correlate(x, w, mode="valid")[1]
    assert latex(total) == r"\sum_{\alpha=0}^{2} w_{\alpha}x_{i + \alpha}"


def test_subscripts_that_are_formulas_are_set_apart_and_a_ratio_in_them_needs_no_brackets_of_its_own():
    i, j, p, s, d = (Symbol(name) for name in "ijpSD")
    assert latex(Indexed("X", [Symbol("c"), i, j])) == "X_{c,i,j}"
    assert latex(Indexed("X", [Symbol("c"), i + 1, j])) == r"X_{c,\ i + 1,\ j}"
    assert latex(Indexed("W", [Slash(i - p * s, d), Slash(j, d)])) == r"W_{\left(i - pS\right)/D,\ j/D}"


def test_mean_is_the_average():
    x = np.array([3, 8, 1, 6], dtype=object)
    b = Symbol("b")
    mean = Mean(Number(4), Summation(b, 0, 3, Indexed("x", [b], x)))
    assert mean.value() == Fraction(int(x.sum()), len(x))


# ---- the vocabulary of Jacobians (mlp_jacobian) -----------------------------------------

@pytest.mark.parametrize("name", ["sigmoid", "tanh", "identity"])
def test_an_activation_s_displayed_formulas_are_its_value_and_slope(name):
    """The definition and slope rule a derivation shows, evaluated, give the activation's value and slope."""
    activation = ACTIVATIONS[name]
    for z in (-2.5, -0.3, 0.7, 3.0):
        assert float(activation.definition(Number(z)).value()) == pytest.approx(activation.value(z), rel=1e-12)
        assert float(activation.slope_rule(Number(z)).value()) == pytest.approx(activation.slope(z), rel=1e-12)
        assert Apply(name + "'", Number(z)).value() == pytest.approx(activation.slope(z), rel=1e-12)
        if activation.slope_of_output is not None:
            y = Number(activation.value(z))
            assert float(activation.slope_of_output(y).value()) == pytest.approx(activation.slope(z), rel=1e-12)


def test_diag_and_transpose_are_numpy_s():
    v, m = np.array([1, -2, 3]), np.array([[1, 2, 3], [4, 5, 6]])
    assert (Diag(Array(v)).value() == np.diag(v)).all()
    assert (Transpose(Array(m)).value() == m.T).all()


def test_jacobian_notation_prints_as_written_by_hand():
    a, y = Symbol("A_l", r"A_\ell"), Symbol("y", r"y_{\ell-1}")
    assert latex(a * y) == r"A_\ell y_{\ell-1}"                  # not the undefined macro \elly
    assert latex(Transpose(y)) == r"y_{\ell-1}^{\top}"
    by_bias = Partial(Symbol("y"), Symbol("b"))
    assert latex(Transpose(by_bias)) == r"\left(\frac{\partial y}{\partial b}\right)^{\top}"
    assert latex(Entry(a, "ik")) == r"(A_\ell)_{ik}" and latex(Entry(a, "i")) == r"(A_\ell)_i"
    assert latex(Entry(Partial(Symbol("y"), Symbol("b")), "k,:")) == r"\left[\frac{\partial y}{\partial b}\right]_{k,:}"
    assert latex(Diag(Apply("tanh'", Symbol("z"))) * a) == r"\mathrm{diag}\left(\tanh'\left(z\right)\right) A_\ell"
    assert latex(ACTIVATIONS["relu"].slope_rule(Symbol("z"))) == r"1 \text{ if } z > 0 \text{, else } 0"


def test_a_rational_equal_to_a_whole_number_prints_as_that_number():
    assert latex(Fraction(1)) == "1" and latex(Fraction(-3, 1)) == "-3" and latex(Fraction(20000)) == "20{,}000"
    assert latex(Fraction(3, 4)) == r"\frac{3}{4}"


def test_same_decides_on_the_tree_not_on_the_print():
    import sympy
    from solver.math.nodes import Squared, floor, same
    h, k = Symbol("H"), Symbol("K")
    assert same(floor((h + 2 - k) / 2) + 1, floor((Symbol("H") + 2 - Symbol("K")) / 2) + 1)
    assert not same(h + 2, h + 3) and not same(h + 2, 2 + h)
    # A letter and a number that is a symbol print alike, H; they are different lines.
    assert latex(Symbol("H")) == latex(Number(sympy.Symbol("H"))) and not same(Symbol("H"), Number(sympy.Symbol("H")))
    assert same([Number(3), Array(np.array([1, 2]))], [Number(3), Array(np.array([1, 2]))])
    assert not same(Array(np.array([1, 2])), Array(np.array([1, 3])))
    # K^2 next to other letters: a letter that prints squared, a number put in makes it a power.
    assert latex(Number(2) * Squared("K")) == "2K^2" and latex(Squared("K").substitute({"K": 3})) == "3^{2}"


# ---- displays too wide for the page: repeated parts named, and nothing lost ------------------

def random_closed_form(rng: random.Random, depth: int):
    """A sympy formula as a graph's closed form grows: functions of sums, products and powers of
    the same few parts, so that it repeats itself."""
    import sympy
    x, y, z = sympy.symbols("x y z")
    if depth == 0:
        return rng.choice([x, y, z, x + 1, sympy.log(x**2 + 1), 1 / (1 + sympy.exp(-y))])
    a, b = random_closed_form(rng, depth - 1), random_closed_form(rng, depth - 1)
    return rng.choice([a + b, a * b, sympy.tanh(a) ** 2 + b, a / (1 + b**2), sympy.sqrt(a**2 + 1) * b,
                       (1 - sympy.tanh(a) ** 2) * a * b])


def test_a_closed_form_put_back_from_its_named_parts_has_the_same_value():
    import sympy
    from solver.math.printing import worth_naming
    rng = random.Random(11)
    x, y, z = sympy.symbols("x y z")
    named = 0
    for _ in range(30):
        formulas = [random_closed_form(rng, rng.randint(2, 3)) for _ in range(rng.randint(1, 3))]
        definitions, reduced = sympy.cse(formulas, symbols=sympy.numbered_symbols("u_"))
        definitions, reduced = worth_naming(definitions, reduced, "u")
        named += len(definitions)
        for name, part in reversed(definitions):
            reduced = [r.xreplace({name: part}) for r in reduced]
        for formula, back in zip(formulas, reduced):
            for point in ({x: 0.3, y: -1.2, z: 2.0}, {x: -2.5, y: 0.7, z: -0.4}):
                assert complex(back.evalf(subs=point)) == pytest.approx(complex(formula.evalf(subs=point)))
    assert named > 20
