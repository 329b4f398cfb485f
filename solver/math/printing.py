"""The one printer: values and math nodes as LaTeX, and LaTeX math as Unicode text.

Every number, matrix, table and formula a user sees is printed here, with one
precedence rule (`wrap`) and one number policy (`number_latex`). Markdown math
is this LaTeX inside $...$; terminal text is the same LaTeX turned into
Unicode (pylatexenc), with matrices laid out as rows.
"""
from __future__ import annotations

import itertools
import math
import re
from collections.abc import Hashable
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

from ..core.prose import math_to_text
from ..core.model import Table
from .nodes import (Apply, Arguments, Array, Call, Cases, Norm, Diag, Dots, ElidedSum, Entry, Exp, Formula, Fraction_, Function,
                    Group, Hadamard, Indexed, Log, MatrixProduct, Mean, Negative, Number, Partial, Power, Product,
                    Relation, Root, Slash, Space, Squared, Sum, Summation, Symbol, Transpose, Words, is_plain)


# ---- numbers: the one number policy ------------------------------------------------

def number_latex(x, decimal: bool = False) -> str:
    """LaTeX for one value: ints, Fractions, floats, or sympy objects. `decimal`: an exact
    value with a short decimal expansion shows as that decimal, a float never as -0."""
    if decimal and isinstance(x, (int, Fraction)) and not isinstance(x, bool):
        return decimal_text(Fraction(x)) or number_latex(x)
    if decimal and isinstance(x, float):
        x = x + 0.0
    if isinstance(x, bool):
        return r"\text{%s}" % ("true" if x else "false")
    if isinstance(x, int):
        return f"{x:,}".replace(",", "{,}") if abs(x) >= 10_000 else str(x)
    if isinstance(x, Fraction) and x.denominator == 1:
        return number_latex(x.numerator)              # a rational equal to 3 is 3, not \frac{3}{1}
    if isinstance(x, Fraction):
        sign = "-" if x < 0 else ""
        return rf"{sign}\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"
    if isinstance(x, float):
        return float_latex(x)
    if isinstance(x, Formula):
        return node_latex(x)
    return sympy_latex(x) if isinstance(x, Hashable) else sympy_latex.__wrapped__(x)   # a mutable Matrix is not


MAX_DECIMALS = 20         # an exact value with more decimals shows as a fraction


def decimal_text(q: Fraction) -> str | None:
    """The exact decimal of q where it terminates within MAX_DECIMALS digits, else None."""
    rest, places = q.denominator, 0
    for prime in (2, 5):
        count = 0
        while rest % prime == 0:
            rest, count = rest // prime, count + 1
        places = max(places, count)
    if rest != 1 or places > MAX_DECIMALS:
        return None
    digits = str(abs(q.numerator) * 10 ** places // q.denominator).rjust(places + 1, "0")
    text = f"{digits[:-places]}.{digits[-places:]}" if places else digits
    return ("-" if q < 0 else "") + text


@lru_cache(maxsize=4096)
def sympy_latex(x) -> str:
    """sympy's LaTeX, remembered: a sheet, its key and its variants print the same formulas again."""
    import sympy
    return sympy.latex(x)


def float_latex(x: float) -> str:
    if x == math.inf:
        return r"\infty"
    if x == -math.inf:
        return r"-\infty"
    mantissa, _, exponent = f"{x:.6g}".partition("e")     # 1e-05 is 1 \times 10^{-5} in math
    return rf"{mantissa} \times 10^{{{int(exponent)}}}" if exponent else mantissa


# ---- nodes: one printer per node class, one precedence rule --------------------------

SUM, PRODUCT, FRACTION, POWER, ATOM = 10, 20, 25, 30, 100     # how tightly a node binds: higher binds tighter
PRECEDENCE = {Sum: SUM, Negative: SUM, Summation: SUM, Product: PRODUCT, MatrixProduct: PRODUCT, Mean: PRODUCT,
              Hadamard: PRODUCT, Fraction_: FRACTION, Power: POWER}


def precedence(node: Formula) -> int:
    """How tightly a node binds. A fraction binds less tightly than a power: (1/2)^2 is bracketed, 2 · 1/2 is not."""
    if isinstance(node, Number) and isinstance(node.x, Fraction) and node.x.denominator != 1 \
            and not (node.decimal and decimal_text(node.x)):
        return FRACTION
    if isinstance(node, Number) and not is_plain(node.x):
        x = node.x
        if x.is_Add or x.could_extract_minus_sign():
            return SUM
        return PRODUCT if x.is_Mul or x.is_Pow else ATOM
    return next((PRECEDENCE[cls] for cls in type(node).__mro__ if cls in PRECEDENCE), ATOM)


def wrap(node: Formula, outer: int, strict: bool = False) -> str:
    """`node` inside an operator of precedence `outer`, parenthesised where it binds less
    tightly (or as tightly, when `strict`: the right side of a minus), and a negative number always."""
    text = node_latex(node)
    needs = precedence(node) < outer or (strict and precedence(node) == outer)
    if isinstance(node, Number) and is_plain(node.x) and node.x < 0:
        needs = True                                   # "2 \cdot (-3)"
    return rf"\left({text}\right)" if needs else text


def node_latex(node: Formula) -> str:
    return next(PRINTERS[cls] for cls in type(node).__mro__ if cls in PRINTERS)(node)


def sum_latex(node: Sum) -> str:
    out = wrap(node.terms[0], SUM)
    for term in node.terms[1:]:
        if isinstance(term, Negative):
            out += " - " + wrap(term.operand, SUM, strict=True)
        else:
            out += " + " + wrap(term, SUM)
    return out


ELIDED_WIDTH = 90         # characters of LaTeX an ElidedSum's terms may take before it is shortened


def elided_sum_latex(node: ElidedSum) -> str:
    """t1 + t2 + ⋯ + tn where the terms are too long for one line, else the sum in full."""
    if sum(len(node_latex(term)) + 3 for term in node.terms) <= ELIDED_WIDTH:
        return sum_latex(node)
    return sum_latex(Sum(node.terms[:2] + [Dots(), node.terms[-1]]))


def product_latex(node: Product) -> str:
    parts = [wrap(f, PRODUCT) for f in node.factors]
    first = node.factors[0]
    if len(parts) == 2 and isinstance(first, Number) and is_plain(first.x) and first.x == 1 \
            and isinstance(node.factors[1], Sum):
        return parts[1]                             # D(K - 1) with D = 1: (3 - 1), not 1(3 - 1)
    if node.spaced:                                 # a trailing sum runs to the end: ½ Σ_t ‖y_t - y*_t‖²
        last = node.factors[-1]
        return " ".join(parts[:-1] + [node_latex(last) if isinstance(last, Summation) else parts[-1]])
    out = parts[0]
    for before, factor, part in zip(node.factors, node.factors[1:], parts[1:]):
        if not juxtaposed(before, factor, node.dot):
            out += r" \cdot "
        elif isinstance(before, SPACED) or isinstance(factor, SPACED) \
                or re.search(r"\\[A-Za-z]+$", out) and part[:1].isalpha():
            out += " "                              # A_\ell y, not the macro \elly
        out += part
    return out


MATRIX_LIKE = (Symbol, Array, Diag, Transpose, Partial, Dots)      # a chain of Jacobians reads side by side
SPACED = (Entry, Diag, Transpose, Dots, Apply)                     # apart from their neighbours: diag(s) A


def juxtaposed(before: Formula, factor: Formula, dot: bool) -> bool:
    """"2P", "D(K - 1)", "W x" (arrays) and "X W_Q^T" read well side by side; "2 · 3" must not."""
    letter = isinstance(factor, MATRIX_LIKE) or (isinstance(factor, Number) and not is_plain(factor.x)
                                                 and precedence(factor) == ATOM)
    return (not dot and (letter or isinstance(factor, Sum)) and not isinstance(before, Sum)
            and not isinstance(before, Words) and not isinstance(factor, Words))


BRACKETS = {"floor": (r"\left\lfloor ", r" \right\rfloor"), "ceil": (r"\left\lceil ", r" \right\rceil")}
FUNCTIONS = {"tanh": r"\tanh", "sigmoid": r"\mathrm{sigmoid}", "relu": r"\mathrm{ReLU}", "identity": r"\mathrm{id}",
             "step": r"\mathrm{step}", "rot180": r"\operatorname{rot180}", "max": r"\max", "avg": r"\mathrm{avg}",
             "lp": r"\mathrm{lp}", "sign": r"\operatorname{sign}", "min": r"\min", "sum": r"\operatorname{sum}",
             "mean": r"\operatorname{mean}", "softmax": r"\operatorname{softmax}",
             "log_softmax": r"\operatorname{log\_softmax}"}
RELATIONS = {"<": "<", "<=": r"\leq", ">": ">", ">=": r"\geq", "=": "="}


def function_latex(function) -> str:
    """A function's name: from FUNCTIONS (a prime marks its slope, tanh'), or a letter standing for one."""
    if isinstance(function, Formula):
        return node_latex(function)
    name = function.rstrip("'")
    return FUNCTIONS[name] + "'" * (len(function) - len(name))


def apply_latex(node: Apply) -> str:
    """f(x), its argument in brackets; |x| for the absolute value."""
    inner = node_latex(node.argument)
    if node.function == "abs":
        return rf"\left|{inner}\right|"
    return function_latex(node.function) + rf"\left({inner}\right)"


def transpose_latex(node: Transpose) -> str:
    inner = node_latex(node.matrix)
    letter = isinstance(node.matrix, Symbol) and not isinstance(node.matrix, Entry)
    return (inner if letter else rf"\left({inner}\right)") + r"^{\top}"


def entry_latex(node: Entry) -> str:
    """(A_ℓ)_{ik} and (z_ℓ)_i of a letter; [M]_{ki} of anything longer."""
    index = str(node.indices)
    if isinstance(node.matrix, Symbol):
        return rf"({node_latex(node.matrix)})_" + (index if len(index) == 1 and index.isalpha() else f"{{{index}}}")
    return rf"\left[{node_latex(node.matrix)}\right]_{{{index}}}"


def call_latex(node: Call) -> str:
    left, right = BRACKETS[node.name]
    return left + node_latex(node.argument) + right


def exp_latex(node: Exp) -> str:
    """e^{2}, e^{-z} for a letter, exp(e_ij) for an indexed one, exp(2/√2) for a longer exponent; e^0 as 1."""
    if isinstance(node.exponent, Indexed):
        return rf"\exp({node_latex(node.exponent)})"
    short = node.exponent.operand if isinstance(node.exponent, Negative) else node.exponent
    if isinstance(short, Symbol):
        return "e^{" + node_latex(node.exponent) + "}"
    if not isinstance(node.exponent, Number):
        return rf"\exp\left({node_latex(node.exponent)}\right)"
    return "1" if node.exponent.x == 0 else "e^{" + node_latex(node.exponent) + "}"


def log_latex(node: Log) -> str:
    """log x for a letter, a number or a sum Σ_j (which runs to the end), log(...) for anything longer."""
    inner = node_latex(node.argument)
    bare = precedence(node.argument) == ATOM or isinstance(node.argument, Summation)
    return rf"\log {inner}" if bare else rf"\log\left({inner}\right)"


def braced_latex(node: Formula) -> str:
    """A subscript or an exponent: inside its braces a ratio needs no brackets of its own, x^{1/p}."""
    if isinstance(node, Slash):
        return wrap(node.numerator, PRODUCT) + "/" + wrap(node.denominator, PRODUCT, strict=True)
    return node_latex(node)


def indexed_latex(node: Indexed) -> str:
    """X_{c,i,j}; subscripts that are formulas apart, X_{pS + aD,\\ qS + bD}, a ratio in them with no
    brackets of its own: W_{(i + P - pS)/D,\\ ...}."""
    parts = [braced_latex(s) for s in node.subscripts]
    atoms = all(precedence(s) == ATOM and not isinstance(s, Slash) for s in node.subscripts)
    return node.name + "_{" + ("," if atoms else r",\ ").join(parts) + "}"


def summation_latex(node: Summation) -> str:
    if node.start is None:
        var = node_latex(node.var)
        return rf"\sum_{var if len(var) == 1 else '{' + var + '}'} {node_latex(node.body)}"
    var, start, stop = (node_latex(part) for part in (node.var, node.start, node.stop))
    return rf"\sum_{{{var}={start}}}^{{{stop}}} {node_latex(node.body)}"


PRINTERS = {
    Symbol: lambda node: node.latex,
    Squared: lambda node: (node.latex if node.base is None or is_plain(node.base) else sympy_latex(node.base)) + "^2",
    Number: lambda node: number_latex(node.x, node.decimal),
    Array: lambda node: array_latex(node.a, node.decimal),
    Sum: sum_latex,
    ElidedSum: elided_sum_latex,
    Negative: lambda node: "-" + (node_latex(node.operand) if isinstance(node.operand, Summation)   # -Σ_c a_c
                                  else wrap(node.operand, SUM, strict=True)),
    Product: product_latex,
    MatrixProduct: lambda node: " ".join(wrap(f, PRODUCT) for f in node.factors),
    Space: lambda node: (r" \times ".join(map(str, node.shape)) if len(node.shape) > 1      # 2 × 3; a vector's R^3
                         else r"\mathbb{R}^{" + "".join(map(str, node.shape)) + "}"),
    Fraction_: lambda node: rf"\frac{{{node_latex(node.numerator)}}}{{{node_latex(node.denominator)}}}",
    Slash: lambda node: "(" + wrap(node.numerator, PRODUCT) + "/" + wrap(node.denominator, PRODUCT, strict=True) + ")",
    Call: call_latex,
    Power: lambda node: wrap(node.base, ATOM) + "^{" + braced_latex(node.exponent) + "}",
    Root: lambda node: rf"\sqrt{{{node_latex(node.radicand)}}}",
    Exp: exp_latex,
    Log: log_latex,
    Partial: lambda node: rf"\frac{{\partial {node_latex(node.of)}}}{{\partial {node_latex(node.by)}}}",
    Apply: apply_latex,
    Function: lambda node: function_latex(node.name),
    Diag: lambda node: rf"\mathrm{{diag}}\left({node_latex(node.entries)}\right)",
    Transpose: transpose_latex,
    Entry: entry_latex,
    Relation: lambda node: f"{node_latex(node.left)} {RELATIONS[node.op]} {node_latex(node.right)}",
    Cases: lambda node: (rf"{node_latex(node.then)} \text{{ if }} {node_latex(node.condition)} \text{{, else }} "
                         + node_latex(node.otherwise)),
    Hadamard: lambda node: wrap(node.a, PRODUCT) + r" \odot " + wrap(node.b, PRODUCT),
    Group: lambda node: rf"\left({node_latex(node.inner)}\right)",
    Norm: lambda node: rf"\left\lVert {node_latex(node.inner)} \right\rVert" + (f"_{node.order}" if node.order else ""),
    Dots: lambda node: r"\cdots",
    Arguments: lambda node: ", ".join(node_latex(item) for item in node.items),
    Indexed: indexed_latex,
    Summation: summation_latex,
    Mean: lambda node: rf"\frac{{1}}{{{node_latex(node.count)}}} {node_latex(node.total)}",
}


# ---- values: numbers, arrays, tables --------------------------------------------------

class Marked(NamedTuple):
    """A value shown boxed: the cells a step changed."""
    value: Any


def marked(array: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """The array with the cells where `changed` holds marked."""
    out = np.empty(array.shape, dtype=object)
    for index, value in np.ndenumerate(array):
        out[index] = Marked(value) if changed[index] else value
    return out


def latex(value) -> str:
    """LaTeX math for any value a step or answer holds."""
    if isinstance(value, Marked):
        return rf"\boxed{{{latex(value.value)}}}"
    if isinstance(value, Table):
        return table_latex(value)
    if isinstance(value, bool):
        return r"\text{yes}" if value else r"\text{no}"
    if isinstance(value, np.ndarray):
        return array_latex(value)
    if isinstance(value, tuple):
        return r" \times ".join(latex(v) for v in value)
    if isinstance(value, list):
        return r",\ ".join(latex(v) for v in value)
    return number_latex(value)


def answer_value(answer):
    """An answer's value as its derivation shows it, so that it prints the same in the steps,
    the answer block, the key and JSON: a `decimal` answer's exact numbers as decimals where
    they terminate."""
    value = answer.value
    if not getattr(answer, "decimal", False) or isinstance(value, bool):
        return value
    if isinstance(value, np.ndarray):
        return Array(value, decimal=True)
    return Number(value, decimal=True) if isinstance(value, (int, Fraction, float)) else value


MATH_WIDTH = 60           # digits of math a display line holds right of its "=" (the text width at 11pt)


def array_latex(a: np.ndarray, decimal: bool = False) -> str:
    return _array(a, (lambda v: number_latex(v, True)) if decimal else latex)[0]


def _array(a: np.ndarray, cell) -> tuple[str, int]:
    """An array's LaTeX (each entry printed by `cell`) and about how many characters wide it
    prints. One too wide for the page is split: channels stacked, columns in blocks (each named by its columns)."""
    if a.ndim == 0:
        text = cell(a.item())
        return text, visible_length(text)
    if a.ndim >= 3:
        parts = [_array(sub, cell) for sub in a]
        across = sum(width + 2 for _, width in parts) + 2
        if across <= MATH_WIDTH:
            return r"\left(" + r",\ ".join(text for text, _ in parts) + r"\right)", across
        stacked = r", \\[4pt] ".join(text for text, _ in parts)
        return rf"\left(\begin{{matrix}} {stacked} \end{{matrix}}\right)", max(width for _, width in parts) + 4
    rows = [[cell(v) for v in row] for row in (a if a.ndim == 2 else [a])]
    if a.size == 0:
        return r"\begin{bmatrix} \end{bmatrix}", 2
    widths = [max(visible_length(row[j]) for row in rows) + 2 for j in range(len(rows[0]))]
    blocks = [(0, len(widths))] if sum(widths) + 2 <= MATH_WIDTH else column_blocks(widths)
    if len(blocks) == 1:
        return bmatrix(rows, 0, len(widths)), sum(widths) + 2
    names = ("entry", "entries") if a.ndim == 1 else ("column", "columns")
    stacked = r" \\[4pt] ".join(bmatrix(rows, start, stop) + rf"_{{\text{{{block_name(names, start, stop)}}}}}"
                                 for start, stop in blocks)
    return rf"\begin{{array}}{{@{{}}l@{{}}}} {stacked} \end{{array}}", MATH_WIDTH


def block_name(names: tuple[str, str], start: int, stop: int) -> str:
    """A block's name: "column 4" (one), "columns 1--3" (several)."""
    one, several = names
    return f"{one} {stop}" if stop - start == 1 else f"{several} {start + 1}--{stop}"


def bmatrix(rows, start, stop) -> str:
    body = r" \\ ".join(" & ".join(row[start:stop]) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def column_blocks(widths) -> list[tuple[int, int]]:
    """(start, stop) column ranges of an array too wide for a line, each at most MATH_WIDTH
    characters across with its name (at least one column)."""
    blocks, start, used = [], 0, 0
    for j, width in enumerate(widths):
        if used + width > MATH_WIDTH - 6 and j > start:      # room for the block's name
            blocks.append((start, j))
            start, used = j, 0
        used += width
    return blocks + [(start, len(widths))]


def member_values(line) -> list:
    """An equation's members after its first, each once: "= 11/6 = 11/6" says 11/6 once."""
    shown = [latex(value) for value in line]
    return [value for before, text, value in zip(shown, shown[1:], line[1:]) if text != before]


def members(line) -> list[str]:
    """The LaTeX of member_values."""
    return [latex(value) for value in member_values(line)]


def display_rows(value) -> list[str]:
    """A value's LaTeX as display rows of at most MATH_WIDTH digits, broken before a + or -
    outside any bracket, else between bracketed factors; a row after the first starts
    with its sign (a product's with \\cdot). A formula still too wide (a closed form whose
    factors are each longer than a row) is written with its repeated parts named."""
    rows = broken_rows(value if isinstance(value, str) else latex(value))
    if too_wide(rows):
        (named,), definitions = named_parts([value])
        if definitions:
            return broken_rows(latex(named)) + definitions
    return rows


def abbreviated(line) -> tuple[list, list[str]]:
    """An equation's members with the parts their formulas repeat named, where a member is far
    too wide for the page, and the rows that define the names; else the line as it is."""
    if not any(too_wide(broken_rows(latex(value))) for value in line[1:]):
        return line, []
    return named_parts(line)


def named_parts(values) -> tuple[list, list[str]]:
    """The values with each part their formulas repeat named (u_1, u_2, ... by sympy's common
    subexpressions, in a letter the formulas do not use), and the display rows defining the
    names; the values as they are and no rows where they show no formula or nothing repeats."""
    formulas = []
    for value in values:
        with_formulas(value, formulas.append)
    if not formulas:
        return values, []
    import sympy
    used = {str(s).split("_")[0] for f in formulas for s in f.free_symbols}
    letter = next(c for c in "uvpqrstabcdgk" if c not in used)
    names = (sympy.Symbol(f"{letter}_{i}") for i in itertools.count(1))
    definitions, reduced = sympy.cse(formulas, symbols=names)
    definitions, reduced = worth_naming(definitions, reduced, letter)
    if not definitions:
        return values, []
    rows = []
    for i, (name, part) in enumerate(definitions):
        first, *more = broken_rows(latex(part))
        rows += [(r"\text{with } " if i == 0 else "") + f"{latex(name)} = {first}", *more]
    return [with_formulas(value, lambda _: reduced.pop(0)) for value in values], rows


def worth_naming(definitions, reduced, letter) -> tuple[list, list]:
    """Common subexpressions as a reader wants them named: a whole formula and a short part
    (u^2, u + z) written out where they are used, the rest numbered again from 1."""
    import sympy
    inlined, kept = {}, []
    for name, part in definitions:
        part = part.xreplace(inlined)
        if name in reduced or visible_length(latex(part)) <= 8:
            inlined[name] = part
        else:
            kept.append((name, part))
    renamed = {name: sympy.Symbol(f"{letter}_{i}") for i, (name, _) in enumerate(kept, start=1)}
    return ([(renamed[name], part.xreplace(renamed)) for name, part in kept],
            [formula.xreplace(inlined).xreplace(renamed) for formula in reduced])


def with_formulas(value, change):
    """`value` with each sympy formula it shows changed by `change`: the value itself, a Number
    holding one, or the terms and factors of a sum, a product or a negation of them."""
    if type(value).__module__.startswith("sympy."):
        return change(value)
    if isinstance(value, Number):
        return Number(with_formulas(value.x, change), value.decimal)
    if isinstance(value, Negative):
        return Negative(with_formulas(value.operand, change))
    if type(value) in (Sum, Product):
        parts = [with_formulas(part, change) for part in (value.terms if isinstance(value, Sum) else value.factors)]
        return Sum(parts) if isinstance(value, Sum) else Product(parts, value.dot, value.spaced)
    return value


def broken_rows(text: str) -> list[str]:
    """LaTeX text as display rows of at most MATH_WIDTH digits, where it has places to break:
    before a + or -, else (or where those leave a row far too wide) between bracketed factors."""
    if visible_length(text) > MATH_WIDTH and not top_level_breaks(text):
        text = opened(text)
    breaks = top_level_breaks(text)
    signs = [(at, sign) for at, sign in breaks if sign is not None]
    factors = [(at, "" if text.startswith(PRODUCT_SIGNS, at) else r"\cdot ") for at, sign in breaks if sign is None]
    rows = rows_at(text, signs or factors)
    if signs and factors and too_wide(rows):
        rows = rows_at(text, sorted(signs + factors))
    if len(rows) > 1:               # a row still too wide breaks inside itself, where it can be opened
        return [part for row in rows for part in (broken_rows(row) if too_wide([row]) else [row])]
    return rows


def too_wide(rows) -> bool:
    """Whether a row is far wider than a display holds (a little over is set tighter): by its
    digits, and by its width with each fraction as wide as its wider part."""
    return any(visible_length(row) > MATH_WIDTH * 3 // 2 and typeset_width(row) > MATH_WIDTH * 6 // 5
               for row in rows)


def typeset_width(text: str) -> int:
    """About how wide LaTeX math prints, in digits, a fraction as wide as its wider part."""
    at = text.find(r"\frac{")
    if at < 0:
        return visible_length(text)
    numerator_end = closing(text, at + len(r"\frac"))
    denominator_end = closing(text, numerator_end + 1)
    parts = text[at + len(r"\frac{"):numerator_end], text[numerator_end + 2:denominator_end]
    return (visible_length(text[:at]) + max(map(typeset_width, parts))
            + typeset_width(text[denominator_end + 1:]))


def rows_at(text: str, breaks) -> list[str]:
    """The text broken at the fewest of `breaks` (position, what the next row starts with)
    that keep each row within MATH_WIDTH, no row shorter than a quarter of it."""
    rows, start, last = [], (0, ""), None
    for at in breaks + [(len(text), "")]:
        if last is not None and visible_length(text[start[0]:at[0]]) > MATH_WIDTH \
                and visible_length(text[start[0]:last[0]]) >= MATH_WIDTH // 4:
            rows.append(start[1] + text[start[0]:last[0]].strip())
            start = last
        last = at
    rows.append(start[1] + text[start[0]:].strip())
    return rows


def opened(text: str) -> str:
    """A display too wide for one row and with no place to break, opened so that it can
    break: a fraction over a sum too long for a row as 1/den times the sum, and the longest
    bracketed sum (half a row or more) between \\Bigl-sized brackets, which (unlike
    \\left...\\right) may sit on two rows."""
    if text.startswith(r"\frac{"):
        numerator_end = closing(text, len(r"\frac"))
        denominator_end = closing(text, numerator_end + 1)
        numerator = text[len(r"\frac{"):numerator_end]
        if denominator_end == len(text) - 1 and visible_length(numerator) > MATH_WIDTH \
                and any(sign is not None for _, sign in top_level_breaks(numerator)):
            text = rf"\frac{{1}}{{{text[numerator_end + 2:denominator_end]}}}\left({numerator}\right)"
    text = root_opened(text)
    groups = [(start, end) for start, end in bracket_groups(text)
              if visible_length(text[start:end]) > MATH_WIDTH // 2
              and any(sign is not None for _, sign in top_level_breaks(text[start + len(r"\left("):end]))]
    if not groups:
        return text
    start, end = max(groups, key=lambda group: group[1] - group[0])
    size = r"\Bigg" if r"\frac" in text[start:end] else r"\Big"
    inside, after = text[start + len(r"\left("):end], text[end + len(r"\right)"):]
    return f"{text[:start]}{size}l({inside}{size}r){after}"


ROOT = r"\sqrt{"


def root_opened(text: str) -> str:
    """The longest square root outside any bracket, over a sum too long for a row, written
    as a power 1/2 of that sum in brackets (a root's bar cannot break across rows)."""
    roots = [(at, closing(text, at + len(ROOT) - 1)) for at in top_level(text, ROOT)]
    roots = [(at, end) for at, end in roots if visible_length(text[at:end]) > MATH_WIDTH
             and any(sign is not None for _, sign in top_level_breaks(text[at + len(ROOT):end]))]
    if not roots:
        return text
    at, end = max(roots, key=lambda root: root[1] - root[0])
    inside = text[at + len(ROOT):end]
    return rf"{text[:at]}\left({inside}\right)^{{1/2}}{text[end + 1:]}"


def top_level(text: str, opening: str) -> list[int]:
    """Where `opening` starts outside braces, \\left...\\right and environments."""
    return [i for i in outside(text) if text.startswith(opening, i)]


def outside(text: str):
    """The positions of the text outside braces, \\left...\\right and environments."""
    depth = 0
    for i in range(len(text)):
        if depth == 0:
            yield i
        if text.startswith((r"\left", r"\begin{"), i) or text[i] == "{":
            depth += 1
        elif text.startswith((r"\right", r"\end{"), i) or text[i] == "}":
            depth -= 1


def closing(text: str, at: int) -> int:
    """The index of the brace that closes the one at `at`."""
    depth = 0
    for i in range(at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    return len(text)


def bracket_groups(text: str) -> list[tuple[int, int]]:
    """(start of \\left(, start of its \\right)) of each bracket pair outside braces and other brackets."""
    groups, depth, start = [], 0, None
    for i in range(len(text)):
        if text.startswith((r"\left", r"\begin{"), i) or text[i] == "{":
            if depth == 0 and text.startswith(r"\left(", i):
                start = i
            depth += 1
        elif text.startswith((r"\right", r"\end{"), i) or text[i] == "}":
            depth -= 1
            if depth == 0 and start is not None and text.startswith(r"\right)", i):
                groups.append((start, i))
                start = None
    return groups


PRODUCT_SIGNS = (r" \cdot", r" \odot", r" \times", r" \otimes")


def top_level_breaks(text: str) -> list[tuple[int, str]]:
    """Where a display may break: (position, "") before " + " and " - ", and (position, None)
    between factors " \\left(" (before the sign of the product between them, which then starts
    the next row), all outside braces, \\left...\\right and environments."""
    breaks = []
    for i in outside(text):
        if text.startswith((" + ", " - "), i):
            breaks.append((i, ""))
        elif i > 0 and text.startswith(r" \left(", i):
            sign = next((sign for sign in PRODUCT_SIGNS if text.endswith(sign, 0, i)), "")
            breaks.append((i - len(sign), None))
    return breaks


TABLE_WIDTH = 80          # digits of cells a printed table holds across (a page at \small)


def table_parts(table: Table) -> list[dict]:
    """A table answer as printed tables of at most TABLE_WIDTH characters across, each
    with the layer column: {"header": [prose], "rows": [[LaTeX math]]}."""
    cells = [[latex(row[name]) for name in table.columns] for row in table.rows]
    widths = [max(visible_length(t) for t in [name, *column]) + 2
              for name, column in zip(table.columns, zip(*cells))]
    return [{"header": ["layer"] + [list(table.columns)[j].replace("_", " ") for j in group],
             "rows": [[label] + [row[j] for j in group] for label, row in zip(table.labels, cells)]}
            for group in fitting(widths)]


def column_groups(table: dict) -> list[list[int]]:
    """A table of named rows ({"columns": [words], "rows": [{"name", "counts"}]}) as arrays of
    at most TABLE_WIDTH characters across: the columns each array holds, at least one; every
    array repeats the row names."""
    names = max((len(row["name"]) for row in table["rows"]), default=0) + 2
    widths = [max(visible_length(text) for text in [column, *(latex(row["counts"][j]) for row in table["rows"])]) + 2
              for j, column in enumerate(table["columns"])]
    return fitting(widths, names)


def split_columns(header: list[str], rows: list[list[str]]) -> list[dict]:
    """A table of printed cells (prose, $math$) as tables of at most TABLE_WIDTH characters across,
    each repeating the first column: [{"header": [...], "rows": [[...]]}]."""
    widths = [max(visible_length(text.replace("$", "")) for text in column) + 2 for column in zip(header, *rows)]
    return [{"header": [header[0]] + [header[j] for j in group],
             "rows": [[row[0]] + [row[j] for j in group] for row in rows]}
            for group in fitting(widths[1:], widths[0], first=1)]


def fitting(widths: list[int], fixed: int = 0, first: int = 0) -> list[list[int]]:
    """Columns of these widths in groups of at most TABLE_WIDTH across, each with `fixed` across
    of columns every group repeats: the indices (from `first`) each group holds, at least one."""
    groups, group, used = [], [], fixed
    for j, width in enumerate(widths, start=first):
        if group and used + width > TABLE_WIDTH:
            groups.append(group)
            group, used = [], fixed
        group.append(j)
        used += width
    return groups + [group]


def visible_length(tex_text: str) -> int:
    """About how wide LaTeX math prints, in digits (a letter or macro one, an operator three)."""
    text = re.sub(r"\\(?:left|right)(?![A-Za-z])|[{}\s]", "", tex_text)
    operators = len(re.findall(r"(?<=[^(\[{&=,^_])[-+=]|\\cdot|\\times|\\odot", text))
    return len(re.sub(r"\\[A-Za-z]+|\\.", "x", text)) + 2 * operators


def table_latex(table: Table) -> str:
    """A table answer as one LaTeX array (the JSON `latex` of a table)."""
    names = ["layer", *table.columns]
    header = " & ".join(rf"\text{{{name.replace('_', ' ')}}}" for name in names)
    rows = [" & ".join([label] + [latex(row[name]) for name in table.columns])
            for label, row in zip(table.labels, table.rows)]
    return rf"\begin{{array}}{{{'r' * len(names)}}} {header} \\ \hline " + r" \\ ".join(rows) + r" \end{array}"


def products(terms, per_row: int, bias=None) -> list[str]:
    """`x \\cdot w` terms of a window sum, `per_row` to a display row, and the bias (where there is
    one) after the last; a negative number bracketed."""
    def factor(v):
        t = latex(v)
        return rf"\left({t}\right)" if t.startswith("-") else t
    parts = [rf"{factor(x)} \cdot {factor(w)}" for x, w in terms]
    rows = [" + ".join(parts[i:i + per_row]) for i in range(0, len(parts), per_row)]
    return rows[:-1] + [rows[-1] + " + " + factor(bias)] if bias is not None else rows


# ---- Unicode text: LaTeX math laid out for a terminal -----------------------------------

MATRIX = re.compile(r"\\begin\{([bp]?matrix|array)\}(\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})?")


def text_display(body: str) -> list[str]:
    """Rows aligned at their first &, each member a box that may span lines (a matrix)."""
    rows = [re.sub(r"^\[[^\]]*\]", "", row).strip() for row in split_top(body.strip(), r"\\")]
    pairs = [aligned_at(row) for row in rows if row]
    lefts = [text_box(left) for left, _ in pairs]
    width = max((len(line) for box in lefts for line in box), default=0)
    lines = []
    for left, (_, right) in zip(lefts, pairs):
        right_box = text_box(right)
        lines += beside([[line.rjust(width) for line in left], [" "], right_box])
    return ["    " + line.rstrip() for line in lines]


def aligned_at(row: str) -> tuple[str, str]:
    """A display row as (left of its first &, the rest)."""
    parts = split_top(row, "&")
    return (parts[0], " ".join(parts[1:])) if len(parts) > 1 else ("", row)


def text_box(tex_text: str) -> list[str]:
    """LaTeX math as lines of text: matrices as aligned rows in brackets, the rest on one line."""
    boxes, at = [], 0
    for start, end, name, inner in top_matrices(tex_text):
        boxes.append([math_to_text(tex_text[at:start])])
        rows = [[text_box(cell) for cell in split_top(row, "&")]
                for row in (re.sub(r"^\[[^\]]*\]", "", r.strip()).strip() for r in split_top(inner, r"\\")) if row]
        bracketed = name in ("bmatrix", "pmatrix")          # not a bare matrix or array
        boxes.append(matrix_box(rows) if bracketed else [line for row in rows for cell in row for line in cell])
        at = end
        if label := BLOCK_LABEL.match(tex_text, at):        # a block of a split matrix: "(columns 1-3)"
            boxes.append([f"({label.group(1).replace('--', '-')})"])
            at = label.end()
    boxes.append([math_to_text(tex_text[at:])])
    spaced = [part for box in boxes if box != [""] for part in ([" "], box)][1:]
    return beside(spaced) or [""]


BLOCK_LABEL = re.compile(r"_\{\\text\{([^{}]*)\}\}")


def matrix_box(rows) -> list[str]:
    cells = [[" ".join(cell) for cell in row] for row in rows]
    widths = [max(len(row[j]) for row in cells if j < len(row)) for j in range(max(map(len, cells)))]
    return ["[ " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)) + " ]" for row in cells]


def beside(boxes) -> list[str]:
    """Boxes of lines side by side, centred on each other."""
    height = max((len(box) for box in boxes), default=0)
    out = [""] * height
    for box in boxes:
        width = max(map(len, box), default=0)
        top = (height - len(box)) // 2
        for i in range(height):
            line = box[i - top] if 0 <= i - top < len(box) else ""
            out[i] += line.ljust(width)
    return out


def top_matrices(text: str):
    """(start, end, environment, body) of each outermost matrix or array in `text`."""
    found, i = [], 0
    while (match := MATRIX.search(text, i)) is not None:
        name, depth, j = match.group(1), 1, match.end()
        while depth and j < len(text):
            if text.startswith(r"\begin{", j):
                depth += 1
            elif text.startswith(r"\end{", j):
                depth -= 1
            j += 1
        close = text.index("}", j) + 1 if depth == 0 else len(text)
        found.append((match.start(), close, name, text[match.end():j - 1]))
        i = close
    return found


def split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside braces and environments."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith(r"\begin{", i) or text.startswith(r"\left", i):
            depth += 1
        elif text.startswith(r"\end{", i) or text.startswith(r"\right", i):
            depth -= 1
        elif text[i] == "\\" and not (depth == 0 and text.startswith(separator, i)):
            i += 2
            continue
        elif text[i] in "{}":
            depth += 1 if text[i] == "{" else -1
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i = start = i + len(separator)
            continue
        i += 1
    return parts + [text[start:]]
