"""Reading students' answers: every accepted form, and refusing everything else."""
import math
import os
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from solver.answers.types import format_number, parse_answer
from solver.core.errors import InvalidAnswer

ROOT = Path(__file__).resolve().parents[1]
SCALAR_TYPES = ("integer", "rational", "real")
ALL_TYPES = (*SCALAR_TYPES, "shape", "matrix")


def same(value, expected):
    """Equal and of the same Python type (1 == 1.0 == Fraction(1) would hide mistakes)."""
    return type(value) is type(expected) and value == expected


# --- integer -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("397184", 397184),
    ("397,184", 397184),
    ("397 184", 397184),
    ("397_184", 397184),
    ("397{,}184", 397184),
    (r"397\,184", 397184),
    ("1,234,567", 1234567),
    ("+42", 42),
    ("-42", -42),
    ("\u221242", -42),          # the Unicode minus sign
    ("- 42", -42),
    ("  42 \n", 42),
    ("42.", 42),
    ("397,184.", 397184),
    ("$42$", 42),
    ("12.0", 12),
    ("24/2", 12),
    (r"\frac{24}{2}", 12),
    ("1.2E+02", 120),
    ("1e3", 1000),
    (r"\sqrt{16}", 4),
    ("0", 0),
    ("007", 7),
    ("9" * 60, int("9" * 60)),
])
def test_integer_forms(text, expected):
    assert same(parse_answer(text, "integer"), expected)


@pytest.mark.parametrize("text, expected", [
    ("2.5", 2.5), ("3/2", Fraction(3, 2)), (r"\sqrt{2}", 2 ** 0.5), ("1e-3", 0.001), ("7/2 + 1", Fraction(9, 2)),
])
def test_integer_reads_a_number_that_is_not_whole(text, expected):
    """Not whole is a wrong value for an integer answer (the checker says so), not unreadable text."""
    assert same(parse_answer(text, "integer"), expected)


@pytest.mark.parametrize("text", [
    "1,23",          # groups are three digits
    "1234,567",      # after a first group of at most three
    "12 34",
    "1,000_000",     # one kind of separator per number
    "1 2",
])
def test_integer_refuses_bad_grouping(text):
    with pytest.raises(InvalidAnswer):
        parse_answer(text, "integer")


# --- rational and real ---------------------------------------------------

@pytest.mark.parametrize("answer_type", ["rational", "real"])
@pytest.mark.parametrize("text, expected", [
    ("7", 7),
    ("-7", -7),
    ("7.", 7),                  # a full stop, not a decimal point
    ("3/2", Fraction(3, 2)),
    ("-3/2", Fraction(-3, 2)),
    ("6/4", Fraction(3, 2)),
    ("4/2", 2),
    ("3 / 2", Fraction(3, 2)),
    (r"\frac{3}{2}", Fraction(3, 2)),
    (r"\dfrac{3}{2}", Fraction(3, 2)),
    (r"\tfrac{3}{2}", Fraction(3, 2)),
    (r"\frac {3} {2}", Fraction(3, 2)),
    (r"-\frac{1}{2}", Fraction(-1, 2)),
    (r"\frac{-1}{2}", Fraction(-1, 2)),
    (r"\frac{1}{\frac{1}{2}}", 2),
    (r"$\frac{3}{2}$", Fraction(3, 2)),
    (r"$$-\frac{3}{2}$$", Fraction(-3, 2)),
    (r"\[ \frac{3}{2} \]", Fraction(3, 2)),
    (r"\(3/2\)", Fraction(3, 2)),
    ("1.5", 1.5),
    ("-0.25", -0.25),
    (".5", 0.5),
    ("+.5", 0.5),
    ("1e-3", 0.001),
    ("1.2E+02", 120.0),
    ("2.0", 2.0),
    ("1,000.5", 1000.5),
    ("1.5/0.5", 3.0),
    ("1e308", 1e308),
    (r"\sqrt{30}", 30 ** 0.5),
    ("sqrt(30)", 30 ** 0.5),
    ("\u221a30", 30 ** 0.5),
    ("\u221a(30)", 30 ** 0.5),
    (r"2\sqrt{3}", 2 * 3 ** 0.5),
    (r"2 \sqrt{3}", 2 * 3 ** 0.5),
    (r"\sqrt{30}/2", 30 ** 0.5 / 2),
    (r"-\sqrt{2}", -(2 ** 0.5)),
    (r"\sqrt{\frac{1}{4}}", 0.5),
    (r"\frac{\sqrt{3}}{2}", 3 ** 0.5 / 2),
    (r"\sqrt{4}", 2.0),
])
def test_number_forms(text, expected, answer_type):
    assert same(parse_answer(text, answer_type), expected)


@pytest.mark.parametrize("text, message", [
    ("1/0", "expected a non-zero denominator at column 3"),
    (r"\frac{1}{0}", "expected a non-zero denominator"),
    (r"\sqrt{2}/0.0", "expected a non-zero denominator"),
    (r"\sqrt{2}/1e-400", "expected a non-zero denominator"),   # 0.0 once a float
    (r"\sqrt{-1}", "expected a non-negative number under the square root"),
    ("1e99999", "expected an exponent between -400 and 400"),
    ("1e401", "expected an exponent between -400 and 400"),
    ("1e400", "below 1e308"),
    (r"1e300\sqrt{1e300}", "below 1e308"),
    ("nan", 'expected a plain number, without units or words ("nan" is not part of a number), in "nan"'),
    ("inf", "expected a plain number"),
    ("-inf", "expected a plain number"),
    ("10^{10^{10}}", "expected an exponent between -1000 and 1000"),
    ("1/64 + ", "expected a number, a letter, a function or an opening bracket at column 8"),
    ("12 13", 'expected an operator between two numbers at column 4 ("13")'),
    ("(1 + 2", 'expected ")" to close'),
])
def test_number_errors(text, message):
    with pytest.raises(InvalidAnswer, match=_literal(message)):
        parse_answer(text, "real")


@pytest.mark.parametrize("text, expected, answer_type", [
    ("1/64 + 1/9", Fraction(73, 576), "rational"),
    ("2^10", 1024, "integer"),
    ("2**10", 1024, "integer"),
    (r"3 \cdot 7", 21, "integer"),
    (r"\frac{1}{2} + \frac{1}{3}", Fraction(5, 6), "rational"),
    ("1/2/3", Fraction(1, 6), "rational"),
    ("3/-2", Fraction(-3, 2), "rational"),
    ("--1", 1, "integer"),
    ("(2 + 3)^2 - 1", 24, "integer"),
    ("0.5 + 1", 1.5, "real"),                # a decimal written: a decimal value, as 1.5 is
    (r"2\pi", 2 * 3.141592653589793, "real"),
    (r"\sqrt{2}/2 + 1", 2 ** 0.5 / 2 + 1, "real"),
    ("2.5 * 4", 10, "integer"),
])
def test_numbers_written_as_arithmetic(text, expected, answer_type):
    assert same(parse_answer(text, answer_type), expected)


@pytest.mark.parametrize("text, word", [
    ("62.4M", "M"), ("34944 parameters", "parameters"), ("~62 million", "million"),
    ("3x4", "x"), (r"\frac{n}{2}", "n"), ("5 cm", "cm"),
])
@pytest.mark.parametrize("answer_type", SCALAR_TYPES)
def test_units_and_words_ask_for_a_plain_number(text, word, answer_type):
    with pytest.raises(InvalidAnswer, match=_literal(
            f'expected a plain number, without units or words ("{word}" is not part of a number)')):
        parse_answer(text, answer_type)


# --- shape ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("100x128x256x256", (100, 128, 256, 256)),
    ("100 x 128 x 256 x 256", (100, 128, 256, 256)),
    ("100 X 128", (100, 128)),
    ("100 \u00d7 128 \u00d7 256 \u00d7 256", (100, 128, 256, 256)),
    ("100*128*256*256", (100, 128, 256, 256)),
    (r"100 \times 128 \times 256", (100, 128, 256)),
    (r"$100 \times 128$", (100, 128)),
    ("(100, 128, 256, 256)", (100, 128, 256, 256)),
    ("[100, 128, 256, 256]", (100, 128, 256, 256)),
    ("( 100 ,128 )", (100, 128)),
    ("(5,)", (5,)),
    ("(5)", (5,)),
    ("100, 128", (100, 128)),
    ("100,128", (100, 128)),     # no comma grouping where commas separate
    ("5", (5,)),
    ("3 by 3", (3, 3)),
    ("1,024 x 1,024", (1024, 1024)),
    ("1_024, 3", (1024, 3)),
    ("3x4.", (3, 4)),
])
def test_shape_forms(text, expected):
    result = parse_answer(text, "shape")
    assert result == expected and type(result) is tuple
    assert all(type(d) is int for d in result)


@pytest.mark.parametrize("text", [
    "0x3", "-1x3", "2.5x3", "()", "[]", "2x", "x3", "100 128", "2x3,4", "2, 3x4",
    "(2, 3", "(2 x 3)", "2 by", "2 bye 3", "1,000, 2",
])
def test_shape_errors(text):
    with pytest.raises(InvalidAnswer):
        parse_answer(text, "shape")


# --- matrix --------------------------------------------------------------

M22 = [[1, 2], [3, 4]]


@pytest.mark.parametrize("text, expected", [
    ("[[1,2],[3,4]]", M22),
    ("[[1, 2], [3, 4]]", M22),
    ("((1,2),(3,4))", M22),
    ("[(1, 2), (3, 4)]", M22),
    ("[[1, 2];[3, 4]]", M22),
    ("[[1 2]\n [3 4]]", M22),            # as numpy prints integers
    ("[\n  [1, 2],\n  [3, 4]\n]", M22),
    ("1 2; 3 4", M22),
    ("1, 2; 3, 4", M22),
    ("1 2\n3 4", M22),
    ("1 2\r\n3 4\n", M22),
    ("\n1   2\n\n3\t4\n", M22),
    ("1 2; 3 4;", M22),
    ("[1 2; 3 4]", M22),
    ("[1, 2; 3, 4]", M22),
    ("[1 2\n 3 4]", M22),
    (r"\begin{bmatrix} 1 & 2 \\ 3 & 4 \end{bmatrix}", M22),
    (r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}", M22),
    (r"\begin{matrix} 1 & 2 \\ 3 & 4 \end{matrix}", M22),
    (r"\begin{vmatrix} 1 & 2 \\ 3 & 4 \end{vmatrix}", M22),
    (r"\begin{Bmatrix} 1 & 2 \\ 3 & 4 \end{Bmatrix}", M22),
    ("\\begin{bmatrix}\n1 & 2 \\\\\n3 & 4 \\\\\n\\end{bmatrix}", M22),
    (r"$\begin{bmatrix}1&2\\3&4\end{bmatrix}$", M22),
    (r"$$ \begin{bmatrix}1&2\\3&4\end{bmatrix} $$", M22),
    (r"\[\begin{bmatrix}1&2\\3&4\end{bmatrix}\]", M22),
    (r"\left[ \begin{array}{cc} 1 & 2 \\ 3 & 4 \end{array} \right]", M22),
    (r"\left( \begin{array}{c|c} 1 & 2 \\ 3 & 4 \end{array} \right)", M22),
    ("$1 2; 3 4$", M22),
    ("[[1,2],[3,4]].", M22),
    ("[[[1,2],[3,4]],[[5,6],[7,8]]]", [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]),
    ("[1, 2, 3]", [1, 2, 3]),
    ("[1 2 3]", [1, 2, 3]),
    ("(1, 2, 3)", [1, 2, 3]),
    ("[9]", [9]),
    ("7", [[7]]),
    ("1 2 3", [[1, 2, 3]]),
    ("1\n2\n3", [[1], [2], [3]]),
    ("[[7]]", [[7]]),
    (r"\begin{bmatrix} 7 \end{bmatrix}", [[7]]),
    ("[1_000, 2{,}000]", [1000, 2000]),
])
def test_matrix_forms(text, expected):
    result = parse_answer(text, "matrix")
    assert isinstance(result, np.ndarray) and result.dtype == object
    assert result.shape == np.array(expected).shape
    assert all(same(a, b) for a, b in zip(result.ravel().tolist(), np.ravel(expected).tolist()))


@pytest.mark.parametrize("text", [
    r"\begin{bmatrix} -\frac{1}{2} & \sqrt{2} \\ 0.5 & 3 \end{bmatrix}",
    r"[[-\frac{1}{2}, \sqrt{2}], [0.5, 3]]",
    r"-1/2 \sqrt{2}; .5 3",
    "-1/2, sqrt(2)\n5e-1, 3",
])
def test_matrix_cell_types(text):
    result = parse_answer(text, "matrix")
    cells = result.ravel().tolist()
    assert result.shape == (2, 2)
    assert same(cells[0], Fraction(-1, 2))
    assert same(cells[1], 2 ** 0.5)
    assert same(cells[2], 0.5)
    assert same(cells[3], 3)


@pytest.mark.parametrize("text, expected", [
    ("[-2*sqrt(5), sqrt(2)]", [-math.sqrt(20), math.sqrt(2)]),
    ("[[1,0],[1/(1+e), e/(1+e)]]", [[1, 0], [1 / (1 + math.e), math.e / (1 + math.e)]]),
    (r"\begin{bmatrix} 2 \cdot 3 & 2^{-1} \\ \ln(e^2) & 1{,}000 \end{bmatrix}", [[6, Fraction(1, 2)], [2, 1000]]),
    ("1/2 + 1/3; 2**3", [[Fraction(5, 6)], [8]]),
    ("[1 + 2, 3]", [3, 3]),
    ("1 - 2", [[-1]]),                          # arithmetic, not the row [1, -2]
    ("[1, (2)]", [1, 2]),
])
def test_matrix_cells_are_read_as_lone_numbers(text, expected):
    """A cell takes what a number answer takes, arithmetic too, between separators."""
    result = parse_answer(text, "matrix")
    assert result.shape == np.array(expected, dtype=object).shape
    assert all(type(a) is type(b) and a == pytest.approx(b, rel=1e-15)
               for a, b in zip(result.ravel().tolist(), np.ravel(np.array(expected, dtype=object)).tolist()))


@pytest.mark.parametrize("text, message", [
    ("[[1,2],[3]]", 'row 2 has 1 entry, row 1 has 2; row 2 starts at column 8 ("[")'),
    ("[[1,2],[3,4,5]]", "row 2 has 3 entries, row 1 has 2"),
    ("1 2; 3 4 5", "row 2 has 3 entries, row 1 has 2"),
    ("1 2\n3", "row 2 has 1 entry, row 1 has 2; row 2 starts at line 2, column 1"),
    (r"\begin{bmatrix} 1 & 2 \\ 3 \end{bmatrix}", "row 2 has 1 entry, row 1 has 2"),
    ("[[[1,2]],[[1],[2]]]", "block 2 has shape 2x1, block 1 has shape 1x2"),
])
def test_ragged_matrix(text, message):
    with pytest.raises(InvalidAnswer, match="expected a rectangular matrix: " + _literal(message)):
        parse_answer(text, "matrix")


@pytest.mark.parametrize("text, message", [
    ("[[1,2]", 'expected "]" at column 7 (end of answer), in "[[1,2]"'),
    ("[[1,2],[3,4]]]", "expected end of answer at column 14"),
    ("[1,2)", 'expected "]" at column 5 (")")'),
    ("[[1, 2], [3, x]]", 'expected a plain number, without units or words ("x" is not part of a number)'),
    ("1 2\n3 x", 'expected a number at line 2, column 3 ("x")'),
    ("[]", "expected a number"),
    ("[[]]", "expected a number"),
    ("[1,,2]", "expected a number at column 4"),
    ("[1, [2]]", "expected a number"),
    ("1 2;;3 4", "expected a number"),
    ("[[[[[1]]]]]", "expected a matrix of at most 4 dimensions"),
    (r"\begin{bmatrix} 1 & 2 \end{pmatrix}", 'expected "{bmatrix}"'),
    (r"\begin{tabular} 1 \end{tabular}", "expected a matrix environment"),
    (r"\begin{bmatrix} 1 & & 2 \end{bmatrix}", "expected a number"),
    (r"\begin{bmatrix}\end{bmatrix}", "expected a number"),
    (r"\begin{bmatrix} 1 & 2", 'expected "\\end"'),
    (r"\left[ \begin{array}{cc} 1 & 2 \end{array} \right)", 'expected "]"'),
    ("$[1, 2]", 'expected "$" at column 8 (end of answer)'),
    ("[1, 2x]", '("x" is not part of a number)'),
    ("[[1 2] [3 4*5]]", 'expected "]" at column 12 ("*")'),      # spaces separate literal cells only
    ("[1, 2^3000]", 'expected an exponent between -1000 and 1000 at column 6 ("^")'),   # located in the answer
    ("[" + "e+" * 1000 + "1]", "expected at most 2000 characters of arithmetic in all the cells"),
])
def test_matrix_errors(text, message):
    with pytest.raises(InvalidAnswer, match=_literal(message)):
        parse_answer(text, "matrix")


# --- every type: refusals and limits ---------------------------------------

@pytest.mark.parametrize("answer_type", ALL_TYPES)
@pytest.mark.parametrize("text", [
    "", "   ", "\n", "abc", "1/0", "10^{10^{10}}", "().__class__", "__import__('os')",
    "9" * 100, "[" * 50 + "1" + "]" * 50, "1e99999", "nan", "inf", "[[1,2],[3]]", "[[1,2]",
    "1; rm -rf /", "\x00", "\\", "{", "$", "$$", "\\[",
])
def test_refused_everywhere(text, answer_type):
    with pytest.raises(InvalidAnswer):
        parse_answer(text, answer_type)


@pytest.mark.parametrize("answer_type", ALL_TYPES)
def test_huge_text_is_refused_at_once(answer_type):
    text = "1" * 1_000_000
    start = time.perf_counter()
    with pytest.raises(InvalidAnswer, match="at most 100000 characters"):
        parse_answer(text, answer_type)
    assert time.perf_counter() - start < 1.0


LONGEST = {   # answers of about MAX_TEXT characters; reading time must grow linearly
    "cells": ("matrix", "1 " * 49_999 + "1"),          # the most cells that fit
    "rows": ("matrix", "1 2\n" * 25_000),
    "list": ("matrix", "[" + "1," * 49_999 + "1]"),
    "blocks": ("matrix", "[[1]," + "[1]," * 24_998 + "[1]]"),
    "groups": ("integer", "1" + ",000" * 24_999),
    "parens": ("real", "(" * 100_000),
    "brackets": ("matrix", "[" * 100_000),
    "roots": ("matrix", r"\sqrt{" * 16_000),
    "fractions": ("real", r"\frac{1}{" * 11_000),
    "spaces": ("real", " " * 99_999 + "1"),
}


@pytest.mark.parametrize("answer_type, text", LONGEST.values(), ids=LONGEST.keys())
def test_longest_answers_are_linear(answer_type, text):
    """A guard against quadratic reading, not a speed test (benchmarks/ measures speed): CPU
    time, so a loaded machine does not fail it; about 0.5 s, where quadratic would be hours."""
    start = time.process_time()
    try:
        parse_answer(text, answer_type)
    except InvalidAnswer:
        pass
    assert time.process_time() - start < 10.0


def test_too_many_digits():
    with pytest.raises(InvalidAnswer, match="expected at most 60 digits at column 1"):
        parse_answer("9" * 100, "integer")
    with pytest.raises(InvalidAnswer, match="expected at most 60 digits"):
        parse_answer("1" + ",000" * 20, "integer")
    with pytest.raises(InvalidAnswer, match="expected at most 60 digits"):
        parse_answer("0." + "1" * 61, "real")


def test_deep_nesting():
    with pytest.raises(InvalidAnswer, match="expected at most 8 levels of nesting at column 9"):
        parse_answer("[" * 50 + "1" + "]" * 50, "matrix")
    for answer_type in ("real", "matrix"):      # as a formula, within its own bound
        assert parse_answer(r"\sqrt{" * 9 + "2" + "}" * 9, answer_type) == pytest.approx(2 ** 2 ** -9)
    with pytest.raises(InvalidAnswer, match="levels of nesting"):
        parse_answer(r"\sqrt{" * 41 + "2" + "}" * 41, "real")
    assert same(parse_answer(r"\frac{1}{" * 7 + "2" + "}" * 7, "rational"), Fraction(1, 2))


def test_huge_exact_values_are_refused():
    # Each \frac squares the size of the numbers; a cap keeps Fraction arithmetic cheap.
    text = r"\frac{\frac{1e400}{1e-400}}{\frac{1e-400}{1e400}}"
    with pytest.raises(InvalidAnswer, match="at most about 1200 digits"):
        parse_answer(text, "integer")


def test_long_answers_are_quoted_around_the_error():
    text = "[" + "1, " * 40 + "x]"
    with pytest.raises(InvalidAnswer) as error:
        parse_answer(text, "matrix")
    message = str(error.value)
    assert '("x" is not part of a number), in "...' in message
    assert message.endswith('1, 1, x]"')
    assert len(message) < 160          # a window of the answer, not all of it


def test_messages_are_one_line():
    with pytest.raises(InvalidAnswer) as error:
        parse_answer("1 2\n3 4\n5 x", "matrix")
    assert "\n" not in str(error.value)
    assert "line 3, column 3" in str(error.value)
    assert '"1 2\\n3 4\\n5 x"' in str(error.value)


def test_unknown_type_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_answer("1", "complex")


@pytest.mark.parametrize("value, text", [
    (12, "12"),
    (-3, "-3"),
    (Fraction(3, 2), "3/2"),
    (Fraction(-1, 2), "-1/2"),
    (0.1, "0.1"),
    (2.0, "2.0"),
    (1e-3, "0.001"),
    (np.float64(0.25), "0.25"),
])
def test_format_number(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("text", ["12", "-3/2", "0.1", "2.0", "1e+20"])
def test_format_number_round_trips(text):
    value = parse_answer(text, "real")
    assert same(parse_answer(format_number(value), "real"), value)


# --- fuzzing and import cost -------------------------------------------------

ANSWER_CHARS = st.sampled_from(list("0123456789.,;:[](){}&$/\\+-_ \n\txXe*^") + [
    "\\frac", "\\sqrt", "sqrt", "\\\\", "\\begin{bmatrix}", "\\end{bmatrix}", "\\left",
    "\\right", "{,}", "\u00d7", "\u221a", "\u2212", "by", "1e400", "1e-400", "999"])


def _parse_or_refuse(text, answer_type):
    try:
        parse_answer(text, answer_type)
    except InvalidAnswer:
        pass


@pytest.mark.parametrize("answer_type", ALL_TYPES)
@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_fuzz_any_text(answer_type, text):
    _parse_or_refuse(text, answer_type)


@pytest.mark.parametrize("answer_type", ALL_TYPES)
@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(ANSWER_CHARS, max_size=60))
def test_fuzz_answer_like_text(answer_type, pieces):
    _parse_or_refuse("".join(pieces), answer_type)


def test_import_is_light():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", "import solver.answers.types, sys; print('sympy' in sys.modules)"],
        env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _literal(text):
    """`text` as a regular expression matching itself (pytest.raises(match=) takes one)."""
    return re.escape(text)
