"""The rule that decides how close a decimal must be (solver/answers/tolerance.py), against
Python's own rounding to significant figures as the oracle."""
from decimal import Decimal

import pytest
from hypothesis import assume, given, strategies as st

from solver.answers.types import compare, parse_answer
from solver.answers.tolerance import Tolerance

MAGNITUDES = st.floats(min_value=1e-6, max_value=1e9, allow_nan=False, allow_infinity=False)
SIG_FIGS = st.integers(min_value=1, max_value=6)


def rounded(value: float, figures: int) -> float:
    return float(f"{value:.{figures}g}")


def one_unit_off(value: float, figures: int, direction: int) -> float:
    """`value` rounded, then moved by one unit in its last significant figure."""
    exponent = Decimal(f"{value:.{figures}e}").adjusted()
    return rounded(value, figures) + direction * 10.0 ** (exponent - figures + 1)


@given(value=MAGNITUDES, figures=SIG_FIGS, negative=st.booleans())
def test_the_value_correctly_rounded_is_accepted(value, figures, negative):
    value = -value if negative else value
    assert Tolerance(sig_figs=figures).accepts(rounded(value, figures), value)
    assert Tolerance(sig_figs=figures).accepts(rounded(value, figures + 2), value)   # more precise


@given(value=MAGNITUDES, figures=SIG_FIGS, direction=st.sampled_from([-1, 1]))
def test_one_unit_off_in_the_last_figure_is_refused(value, figures, direction):
    off = one_unit_off(value, figures, direction)
    exponent = Decimal(f"{value:.{figures}e}").adjusted()
    assume(Decimal(f"{off:.{figures}e}").adjusted() == exponent)
    assume(abs(off - value) > 0.500001 * 10.0 ** (exponent - figures + 1))    # not a tie (2.5 rounded to 1 figure)
    assert not Tolerance(sig_figs=figures).accepts(off, value)


@pytest.mark.parametrize("student, expected, ok", [
    (0.269, 0.268704, True),       # the example: correctly rounded
    (0.2687, 0.268704, True),
    (0.268, 0.268704, False),      # truncated
    (-0.0226, -0.022631168, True),
    (1230, 1234.1, True),
    (1240, 1234.1, False),
    (0.0, 1e-13, True),            # a float's rounding noise, not the student's
])
def test_three_significant_figures_by_default(student, expected, ok):
    assert (compare("real", student, expected)[0] == 1.0) is ok


@pytest.mark.parametrize("rule, student, ok", [
    (Tolerance(relative=0.01), 101.0, True),
    (Tolerance(relative=0.01), 101.5, False),
    (Tolerance(absolute=0.5), 100.5, True),
    (Tolerance(absolute=0.5), 100.6, False),
    (Tolerance(relative=0.001, absolute=2), 101.9, True),     # the loosest bound
    (Tolerance(sig_figs=2, relative=0.001), 104.9, True),
])
def test_relative_and_absolute_bounds(rule, student, ok):
    assert rule.accepts(student, 100.0) is ok


def test_exact_values_and_integers_compare_exactly_by_default():
    assert compare("integer", 31.9, 32)[0] == 0.0
    assert compare("integer", 31.9, 32, Tolerance(relative=0.01))[0] == 1.0
    assert compare("matrix", [[1234.0, 2]], [[1235, 2]])[0] == 0.5       # a whole expected cell is exact
    from fractions import Fraction
    assert compare("rational", Fraction(333, 1000), Fraction(1, 3))[0] == 0.0
    assert compare("rational", 0.333, Fraction(1, 3))[0] == 1.0          # a decimal gets the tolerance


def test_a_rounded_whole_number_is_told_to_give_every_digit():
    """4.6117e11 is 461,168,640,000 to 5 significant figures (4.6116e11 cut there); 1001 and 13 are just wrong."""
    for text in ("4.6117e11", "4.6116e11", "461,170,000,000"):
        student = parse_answer(text, "integer")
        score, _, detail = compare("integer", student, 461_168_640_000)
        assert score == 0.0 and detail.endswith("a whole-number answer is asked exactly, with all its digits."), detail
    assert compare("integer", 4.6118e11, 461_168_640_000)[2] == "The value is not correct."
    assert compare("integer", 1001, 1000)[2] == "The value is not correct."
    assert compare("integer", 13, 12)[2] == "The value is not correct."


def test_a_close_miss_says_how_close_and_the_precision():
    score, _, detail = compare("real", 0.268, 0.268704)
    assert score == 0.0 and detail == ("0.268 is close (within 0.26% of the expected value), but the answer "
                                       "is asked to 3 significant figures.")
    assert compare("real", 0.5, 0.268704)[2] == "The value is not correct."
    detail = compare("matrix", [[0.268, 5]], [[0.268704, 5]])[2]
    assert detail.endswith("Some are close: each cell is asked to 3 significant figures.")
    assert Tolerance(sig_figs=2, absolute=0.01).describe() == "to 2 significant figures or within ±0.01"
