"""Answer values: read a student's text as a value of an answer type, and write a value as
a student would type it. Numbers, shapes, matrices and booleans are read by the literal
grammar (literals.py), formulas and arithmetic by the expression grammar (grammar.py).
"""
from __future__ import annotations

import numbers
from fractions import Fraction
from typing import Any, Callable

from ..errors import InvalidAnswer
from .literals import (_NO_NUMBER, _READERS, _TRAILING, MAX_TEXT, _Parser, _quote,
                       _whole_or_as_read)
from .tables import format_table

MAX_ARITHMETIC = 2000     # characters of a number written as arithmetic (a formula's bound)
NUMBERS = ("integer", "rational", "real")


def parse_answer(text: str, answer_type: str, names=(), named=None):
    """Read `text` as a value of `answer_type` ("integer", "rational", "real", "shape",
    "matrix", "expression", "boolean").

    integer -> int (a number that is not whole as read: a wrong value, not
    unreadable); rational, real -> int, Fraction or float; shape -> tuple of
    positive ints; matrix -> numpy array of dtype object (1-D to 4-D);
    boolean -> bool;
    expression -> sympy expression whose words are split into `names` (the
    expected answer's symbols, see solver.answers.grammar.parse_expression).
    A number may also be written as arithmetic (1/64 + 1/9, 2^10), read by the
    formula grammar. `named` maps the names of the quantities the problem
    defines (y, h_3) to their sympy values, or is a function that returns
    them (called only where a formula is read): a formula or a number may use
    them, and they are replaced by their values.
    Raises InvalidAnswer with one sentence saying what was expected where.
    """
    if answer_type == "expression":
        from .grammar import parse_expression    # here: only formulas need sympy
        named = _named(named)
        return with_named(parse_expression(text, [*named, *names]), named)
    if answer_type not in _READERS:
        raise ValueError(f"unknown answer type {answer_type!r}")
    if len(text) > MAX_TEXT:      # before looking at any character
        raise InvalidAnswer(f"expected an answer of at most {MAX_TEXT} characters, "
                            f"got {len(text)}")
    if not text.strip():
        raise InvalidAnswer("expected an answer, got empty text")
    try:
        return _READERS[answer_type](_Parser(text))
    except InvalidAnswer as error:
        if answer_type not in NUMBERS or len(text) > MAX_ARITHMETIC:
            raise
        return _arithmetic(text, answer_type, _named(named), error)


def _arithmetic(text: str, answer_type: str, named: dict, unread: InvalidAnswer):
    """A number written as arithmetic; `unread` is why it is no plain number."""
    from .grammar import parse_constant
    try:
        value, decimal = parse_constant(text, list(named))
    except InvalidAnswer as error:
        # Where no number is read or the text goes on after one, the formula reader, if it read as
        # far, says best where the text fails; a number's own limits (digits, size) are told as they are.
        missed = any(str(unread).startswith(miss + " at") for miss in (_TRAILING, _NO_NUMBER))
        further = missed and getattr(error, "pos", -1) >= unread.pos
        raise (error if further else unread) from None
    value = with_named(value, named)
    if value.free_symbols:
        raise InvalidAnswer(f"expected a plain number, without units or words ({_word(text, value)} is "
                            f"not part of a number), in {_quote(text)}")
    if value.is_Rational and not decimal:
        number = _whole_or_as_read(Fraction(int(value.p), int(value.q)))
    else:
        number = float(value)      # as a decimal or a root is read: 0.5 + 1 is 1.5
    return _whole_or_as_read(number) if answer_type == "integer" else number


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


def format_answer(value, answer_type: str) -> str:
    """The text a student would type for `value`; parse_answer reads it back."""
    if answer_type == "table":
        return format_table(value, format_answer)
    if answer_type == "shape":
        return " x ".join(str(v) for v in value)
    if answer_type == "matrix":
        return _nested(value)
    if answer_type == "expression":
        return str(value)         # sympy's plain text: **, floor(...), ceiling(...), Max(...)
    if answer_type == "boolean":
        return "yes" if value else "no"
    return _cell_text(value)


def format_rounded(value, answer_type: str, accepts: Callable[[float, Any], bool]) -> str:
    """As format_answer, with every number that is not exact (a float, a radical) to
    the fewest significant figures for which `accepts(rounded, number)` (the checker's
    comparison), as a student asked for that precision types it; integers and
    fractions stay exact."""
    if answer_type in ("real", "rational", "matrix"):
        value = _rounded(value, accepts)
    return format_answer(value, answer_type)


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
