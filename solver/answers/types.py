"""Answer types: each kind of answer (integer, matrix, formula, ...) is one class that reads a
student's text (parse), writes a value as a student would type it (format), compares two
values (compare) and gives the value as JSON and LaTeX, and says how much room a problem
sheet leaves for it. `answer_type(name)` is the one place an answer's type name (an
Answer's `type`, kept in the JSON output) becomes behaviour; adding a type is adding a class
to TYPES.

Numbers, shapes, matrices and booleans are read by the literal grammar (literals.py),
formulas and numbers written as arithmetic by the expression grammar (grammar.py).
"""
from __future__ import annotations

import numbers
from fractions import Fraction
from functools import cache
from typing import Any, Callable

import numpy as np

from ..core.budget import check_time
from ..core.errors import InvalidAnswer
from ..core.fields import shape_text
from ..math import printing
from ..math.nodes import Formula
from .literals import _NO_NUMBER, _TRAILING, MAX_ARITHMETIC, MAX_TEXT, _Parser, _quote, _whole_or_as_read
from ..core.model import Table
from .tables import format_table
from .tolerance import DEFAULT, Tolerance, close_miss

MAX_NAMED_CELLS = 10      # wrong matrix cells a feedback names

Comparison = tuple[float, list, str]   # (score in [0, 1], wrong cell indices, a sentence on what differs)


class AnswerType:
    """One kind of answer. `name` is its contract name; `exact`: compared exactly, never
    within a tolerance; `tall_blank`: a problem sheet leaves a tall blank for it (room for
    a matrix); `symbolic`: read with the problem's symbols and named quantities (a formula);
    `by_rows`: checked row by row (a table)."""
    name = ""
    exact = False
    tall_blank = False
    symbolic = False
    by_rows = False

    def parse(self, text: str, names=(), named=None):
        """The value `text` writes; InvalidAnswer with one sentence saying what was expected where.
        `names`: the symbols a formula may use; `named`: {name: sympy value} of the quantities the
        problem defines, or a function that returns it (called only where a formula is read)."""
        raise NotImplementedError

    def format(self, value) -> str:
        """The text a student would type for `value`; parse reads it back."""
        raise NotImplementedError

    def rounded(self, value, accepts: Callable[[float, Any], bool]):
        """`value` with every number that is not exact to the fewest significant figures
        `accepts(rounded, number)` takes; exact values stay as they are."""
        return value

    def compare(self, student, expected, tolerance: Tolerance | None = None) -> Comparison:
        """The student's value against the expected one; `tolerance`: the problem's rule for
        numbers, None for the default (solver.answers.tolerance)."""
        raise NotImplementedError

    def in_form(self, value, like):
        """`value`, a mistake's answer, in the form of the problem's own answer `like`."""
        return value

    def to_json(self, value):
        return json_value(value)

    def latex(self, answer) -> str:
        return printing.latex(printing.answer_value(answer))


class _Literal(AnswerType):
    """A value the literal grammar reads with the _Parser method named `reader`."""
    reader = ""

    def parse(self, text: str, names=(), named=None):
        if len(text) > MAX_TEXT:      # before looking at any character
            raise InvalidAnswer(f"expected an answer of at most {MAX_TEXT} characters, "
                                f"got {len(text)}")
        if not text.strip():
            raise InvalidAnswer("expected an answer, got empty text")
        try:
            return getattr(_Parser(text), self.reader)()
        except InvalidAnswer as error:
            return self.unread(text, named, error)

    def unread(self, text: str, named, error: InvalidAnswer):
        """The value of text the literal grammar cannot read (`error` says why): none, unless a
        subclass reads such text another way."""
        raise error


class Number(_Literal):
    """A number: int, Fraction or float. A number may also be written as arithmetic
    (1/64 + 1/9, 2^10), read by the formula grammar, using the named quantities."""
    reader = "real"

    def unread(self, text, named, error):
        if len(text) > MAX_ARITHMETIC:
            raise error
        return _arithmetic(text, _named(named), error, self.exact)

    def format(self, value):
        return _cell_text(value)

    def rounded(self, value, accepts):
        return _rounded(value, accepts)

    def compare(self, student, expected, tolerance=None):
        if same_number(student, expected, tolerance, self.exact):
            return 1.0, [], ""
        return 0.0, [], number_miss(student, expected, tolerance, self.exact)


class Real(Number):
    name = "real"


class Rational(Number):
    name = "rational"


class Integer(Number):
    """An int; a number that is not whole is read as written, a wrong value (3.5 for 4), not unreadable."""
    name = "integer"
    reader = "integer"
    exact = True

    def rounded(self, value, accepts):
        return value


class Shape(_Literal):
    """A tuple of positive ints, written 100x128x256 or (100, 128, 256)."""
    name = "shape"
    reader = "shape"
    exact = True

    def format(self, value):
        return " x ".join(str(v) for v in value)

    def in_form(self, value, like):
        # One number is a square size: a mistake that makes the problem square (the stride
        # [2, 1] taken as 1) answers one size where the problem as posed answers a shape.
        return (value,) * len(like) if isinstance(value, int) else value

    def compare(self, student, expected, tolerance=None):
        s, e = tuple(student), tuple(expected)
        if s == e:
            return 1.0, [], ""
        return 0.0, [], f"The shape {'×'.join(map(str, s))} is not the expected one."


class Matrix(_Literal):
    """A numpy array of dtype object (1-D to 4-D) whose cells are numbers, compared cell by cell.
    A cell may be written as a lone number may (-2*sqrt(5), 1/(1+e)), between separators."""
    name = "matrix"
    reader = "matrix"
    tall_blank = True

    def unread(self, text, named, error):
        """The matrix read again with each cell read as a Number, arithmetic too; else the error
        of the reading that got further."""
        quantities = cache(lambda: _named(named))     # computed once, where a cell needs them

        def arithmetic(start, end, unread):
            check_time()
            return _arithmetic(text, quantities(), unread, False, (start, end))
        try:
            return _Parser(text, arithmetic).matrix()
        except InvalidAnswer as again:
            raise (again if again.pos >= error.pos else error) from None

    def format(self, value):
        return _nested(value)

    def rounded(self, value, accepts):
        return _rounded(value, accepts)

    def compare(self, student, expected, tolerance=None):
        return compare_matrices(student, expected, tolerance)


class Boolean(_Literal):
    """A yes/no answer: yes, no, true, false, 1 or 0."""
    name = "boolean"
    reader = "boolean"
    exact = True

    def format(self, value):
        return "yes" if value else "no"

    def compare(self, student, expected, tolerance=None):
        return (1.0, [], "") if student == expected else (0.0, [], "The yes/no answer is not correct.")


class Expression(AnswerType):
    """A formula: a sympy expression whose words are split into `names` (the expected answer's
    symbols, see solver.answers.grammar.parse_expression), with the named quantities put in."""
    name = "expression"
    symbolic = True

    def parse(self, text, names=(), named=None):
        from .grammar import parse_expression    # here: only formulas need sympy
        named = _named(named)
        return with_named(parse_expression(text, [*named, *names]), named)

    def format(self, value):
        return str(value)         # sympy's plain text: **, floor(...), ceiling(...), Max(...)

    def compare(self, student, expected, tolerance=None):
        return compare_formulas(self.name, student, expected)


class TableAnswer(AnswerType):
    """Rows of named cells of the other types (solver.answers.tables.Table): read against the
    expected table and judged row by row (tables.read_table and judge_rows, check.check_table)."""
    name = "table"
    by_rows = True

    def format(self, value):
        return format_table(value, format_answer)


TYPES: dict[str, AnswerType] = {kind.name: kind for kind in (
    Integer(), Rational(), Real(), Shape(), Matrix(), Expression(), TableAnswer(), Boolean())}


def answer_type(name: str) -> AnswerType:
    """The answer type an Answer's `type` names."""
    try:
        return TYPES[name]
    except KeyError:
        raise ValueError(f"unknown answer type {name!r}") from None


def parse_answer(text: str, answer_type_name: str, names=(), named=None):
    """Read `text` as a value of the type named `answer_type_name` (see AnswerType.parse)."""
    return answer_type(answer_type_name).parse(text, names, named)


def format_answer(value, answer_type_name: str) -> str:
    """The text a student would type for `value`; parse_answer reads it back."""
    return answer_type(answer_type_name).format(value)


def format_rounded(value, answer_type_name: str, accepts: Callable[[float, Any], bool]) -> str:
    """As format_answer, with every number that is not exact (a float, a radical) to
    the fewest significant figures for which `accepts(rounded, number)` (the checker's
    comparison), as a student asked for that precision types it; integers and
    fractions stay exact."""
    kind = answer_type(answer_type_name)
    return kind.format(kind.rounded(value, accepts))


def compare(answer_type_name: str, student, expected, tolerance: Tolerance | None = None) -> Comparison:
    """(score in [0, 1], wrong cell indices, a sentence on what differs). `tolerance`: the
    problem's rule for numbers, None for the default (solver.answers.tolerance)."""
    return answer_type(answer_type_name).compare(student, expected, tolerance)


# --- reading --------------------------------------------------------------

def _arithmetic(text: str, named: dict, unread: InvalidAnswer, whole: bool, span: tuple[int, int] | None = None):
    """A number written as arithmetic (in `span` of `text`, a matrix's cell, if given); `unread`
    is why it is no plain number; `whole`: an integer answer, where a whole number is an int."""
    from .grammar import parse_constant
    try:
        value, decimal = parse_constant(text, list(named), span)
    except InvalidAnswer as error:
        # Where no number is read or the text goes on after one, the formula reader, if it read as
        # far, says best where the text fails; a number's own limits (digits, size) are told as they are.
        missed = any(str(unread).startswith(miss + " at") for miss in (_TRAILING, _NO_NUMBER))
        further = missed and getattr(error, "pos", -1) >= unread.pos
        raise (error if further else unread) from None
    value = with_named(value, named)
    if value.free_symbols:
        start, end = span or (0, len(text))
        error = InvalidAnswer(f"expected a plain number, without units or words ({_word(text[start:end], value)} is "
                              f"not part of a number), in {_quote(text, start)}")
        error.pos = end        # read to its end: further than where the literal grammar stopped
        raise error
    if value.is_Rational and not decimal:
        number = _whole_or_as_read(Fraction(int(value.p), int(value.q)))
    else:
        number = float(value)      # as a decimal or a root is read: 0.5 + 1 is 1.5
    return _whole_or_as_read(number) if whole else number


def _named(named) -> dict:
    return named() if callable(named) else named or {}


def with_named(value, named: dict):
    """`value` (a sympy expression, or a number) with each named quantity put in, matched by name."""
    found = {s: named[s.name] for s in getattr(value, "free_symbols", ()) if s.name in named}
    return value.xreplace(found) if found else value


def as_sympy(value):
    """A trusted number (int, Fraction, float) or sympy value as a sympy value."""
    import sympy
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    if isinstance(value, (int, float)):
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
    return value


def _word(text: str, value) -> str:
    """The first word of `text` that holds one of the letters `value` still has, quoted."""
    letters = sorted(symbol.name for symbol in value.free_symbols)
    bases = {name.split("_")[0] for name in letters}
    pos = 0
    while pos < len(text):
        start = pos
        pos += 1
        if text[start].isalpha() or text[start] == "\\":
            while pos < len(text) and text[pos].isalpha():
                pos += 1
        word = text[start:pos]
        if word[0].isalpha() and any(base in word for base in bases):
            return f'"{word}"'
    return f'"{letters[0]}"'


def _rounded(value, accepts):
    if hasattr(value, "ndim") and value.ndim > 0:
        return [_rounded(v, accepts) for v in value]
    if isinstance(value, numbers.Rational):
        return value
    # 17 significant figures give the float back exactly, which every checker accepts.
    return next(rounded for figures in range(1, 18)
                if accepts(rounded := float(f"{float(value):.{figures}g}"), value))


def _nested(value) -> str:
    if hasattr(value, "ndim") and value.ndim > 0 or isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return _cell_text(value)


def _cell_text(x) -> str:
    """Exact ints and Fractions as written; anything else (sympy radicals) as a decimal."""
    if isinstance(x, (int, Fraction, float)):
        return format_number(x)
    return repr(float(x))


def format_number(x) -> str:
    """12 -> "12", Fraction(3, 2) -> "3/2", 0.1 -> "0.1", 2.0 -> "2.0"."""
    if isinstance(x, float):
        return repr(float(x))     # float() so numpy floats print like Python's
    return str(x)


def json_value(v):
    """ints stay ints; exact rationals and expressions become strings sympy reads."""
    if isinstance(v, np.ndarray):
        return [json_value(x) for x in v]
    if isinstance(v, (tuple, list)):
        return [json_value(x) for x in v]
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return v
    if isinstance(v, Fraction):
        return str(v)
    if isinstance(v, Formula):
        return json_value(v.value())
    if isinstance(v, Table):
        return [dict(layer=label, **{k: json_value(x) for k, x in row.items()})
                for label, row in zip(v.labels, v.rows)]
    return str(v)


# --- comparing ------------------------------------------------------------

def compare_formulas(kind: str, student, expected, named=None, known=frozenset()):
    """Formulas, with the named quantities put in the expected one too (the student's are in already);
    `known`: the symbols the problem gives, which an answer may use."""
    from .grammar import equivalent     # here: only formulas need sympy
    same, detail = equivalent(student, with_named(expected, named or {}), known=known)
    return (1.0, [], "") if same else (0.0, [], detail)


def compare_matrices(student, expected, tolerance=None):
    student, expected = np.asarray(student, dtype=object), np.asarray(expected, dtype=object)
    if student.shape != expected.shape:
        if student.size == expected.size and student.squeeze().shape == expected.squeeze().shape:
            student = student.reshape(expected.shape)
        else:
            return 0.0, [], (f"The answer has shape {shape_text(student.shape)}; the expected "
                             f"shape is {shape_text(expected.shape)}.")
    wrong = [index for index, e in np.ndenumerate(expected) if not same_number(student[index], e, tolerance)]
    score = 1.0 - len(wrong) / expected.size
    if not wrong:
        return 1.0, [], ""
    names = ", ".join("[" + ",".join(str(k + 1) for k in i) + "]" for i in wrong[:MAX_NAMED_CELLS])
    more = f" and {len(wrong) - MAX_NAMED_CELLS} more" if len(wrong) > MAX_NAMED_CELLS else ""
    close = any(close_note(student[i], expected[i], tolerance) for i in wrong)
    precision = f" Some are close: each cell is asked {(tolerance or DEFAULT).describe()}." if close else ""
    return score, wrong, (f"{len(wrong)} of {expected.size} cells are wrong "
                          f"([row,column], from 1): {names}{more}.{precision}")


def same_number(student, expected, tolerance: Tolerance | None = None, exact: bool = False) -> bool:
    """Equal, or within the tolerance where one applies (see `compared_exactly`)."""
    if compared_exactly(student, expected, tolerance, exact):
        return student == expected
    numbers = as_floats(student, expected)
    return numbers is not None and (tolerance or DEFAULT).accepts(*numbers)


def compared_exactly(student, expected, tolerance, exact: bool) -> bool:
    """Without a tolerance set, exact values, whole expected values and every value of an
    integer answer (`exact`) compare exactly; a decimal otherwise gets the default tolerance."""
    return tolerance is None and (exact or is_whole(expected)
                                  or isinstance(student, (int, Fraction)) and isinstance(expected, Fraction))


def number_miss(student, expected, tolerance, exact) -> str:
    """What is wrong with a number: not whole for an integer answer, a whole number rounded, close
    but not precise enough, or just wrong."""
    if exact and not float(student).is_integer():
        return f"{format_number(student)} is not a whole number; this answer is one."
    if compared_exactly(student, expected, tolerance, exact) and is_whole(expected) and rounded_whole(student, expected):
        return (f"{format_number(student)} agrees only to the digits it writes: a whole-number answer is "
                "asked exactly, with all its digits.")
    return close_note(student, expected, tolerance, exact) or "The value is not correct."


def rounded_whole(student, expected) -> bool:
    """Is `student` the whole number `expected` written to fewer digits (4.6117e11 for 461,168,640,000):
    does it end in zeros, and differ from `expected` by less than one unit of its last digit written?"""
    if not float(student).is_integer() or student == 0:
        return False
    digits = str(abs(int(student)))
    unit = 10 ** (len(digits) - len(digits.rstrip("0")))
    return unit > 1 and abs(int(student) - int(expected)) < unit


def close_note(student, expected, tolerance, exact: bool = False) -> str:
    """How close a wrong decimal is and what precision is asked, or "" (not close, or compared exactly)."""
    numbers = as_floats(student, expected)
    if numbers is None or compared_exactly(student, expected, tolerance, exact):
        return ""
    return close_miss(*numbers, tolerance or DEFAULT)


def as_floats(student, expected) -> tuple[float, float] | None:
    try:
        return float(student), float(expected)
    except (TypeError, ValueError, OverflowError):
        return None


def is_whole(value) -> bool:
    """An integer, or an exact fraction equal to one (not a float that happens to be)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            or isinstance(value, Fraction) and value.denominator == 1)
