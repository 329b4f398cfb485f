"""Checking as a student meets it: `solver check` on the shipped sets and on small
problem files written here. Expected values come from the hand derivations cited."""
import json

import pytest

from conftest import assert_bad_input, run_solver


def problem_file(tmp_path, body: str):
    path = tmp_path / "set.yaml"
    path.write_text("title: t\nproblems:\n" + body)
    return path


def check(path, target, text, *options):
    result = run_solver("check", path, target, text, *options)
    assert "Traceback" not in result.stderr, result.stderr
    return result


COST = """
  - id: cost
    kind: conv_cost
    given: {in_channels: C, out_channels: N, kernel_size: K}
    ask: [standard_params]
"""


def test_a_sum_after_a_product_written_together(tmp_path):
    """K^2CN + N is K²·C·N + N (the parser once read the "+" as N's sign)."""
    result = check(problem_file(tmp_path, COST), "cost:standard_params", "K^2CN + N")
    assert result.returncode == 0 and result.stdout.startswith("correct"), result.stdout


COMP433 = "problems/comp433-a3.yaml"


def verdict_of(path, target, text):
    result = check(path, target, text, "--json")
    return result.returncode, json.loads(result.stdout)


# --- named quantities: the problem's own y, h_t ----------------------------------

@pytest.mark.parametrize("target, text", [
    # As the COMP 433 writeup writes the gradient: with the RNN's output y.
    ("Q6c:grad_w_hh", "(y - y_r) w_hy (3 h_0 w_hh^2 + 2 w_hh w_in x_1 + w_in x_2)"),
    ("Q6c:grad_w_hy", "(y - y_r) h_3"),
    ("Q6a:y", "w_hy h_3"),
    ("Q6a:h[3]", "w_in x_3 + w_hh h_2"),
    ("Q6d:grad_w_hy", "(y - 0.4) h_3"),               # a number written with the problem's quantities
    ("Q7", r"\alpha_{11} W_V x_1 + \alpha_{12} v_2 + \alpha_{13} W_V x_3"),    # v_j = W_V x_j
])
def test_an_answer_may_use_the_quantities_the_problem_defines(target, text):
    code, verdict = verdict_of(COMP433, target, text)
    assert code == 0 and verdict["verdict"] == "correct", verdict


def test_a_named_quantity_in_a_wrong_answer_is_put_in_too():
    code, verdict = verdict_of(COMP433, "Q6c:grad_w_hy", "(y - y_r) h_2")
    assert code == 1 and "does not name" not in verdict["feedback"], verdict


def test_a_given_symbol_is_no_unknown_name():
    """x_3 is given (h_1 does not use it); z is not."""
    code, verdict = verdict_of(COMP433, "Q6a:h[1]", "w_in x_3 + w_hh h_0")
    assert code == 1 and "x_3" not in verdict["feedback"].split("formula gives")[-1], verdict
    code, verdict = verdict_of(COMP433, "Q6a:h[1]", "w_in z + w_hh h_0")
    assert code == 1 and verdict["feedback"].endswith("It uses z, which the problem does not name."), verdict


# --- diagnosis wording -----------------------------------------------------------

def test_a_dropped_term_is_told_apart_from_a_flipped_one():
    # ∂ℓ/∂w_in = Σ_t g_t x_t = -0.022631168, whose t = 1 term is -0.000930048 (BPTT by hand).
    code, verdict = verdict_of(COMP433, "Q6d:grad_w_in", "-0.0217")        # without the t = 1 term
    assert code == 1 and verdict["mistake"] == "term_dropped", verdict
    assert "One term of the sum is missing" in verdict["feedback"] and "wrong sign" not in verdict["feedback"]
    code, verdict = verdict_of(COMP433, "Q6d:grad_w_in", "-0.0208")        # that term's sign flipped
    assert code == 1 and verdict["mistake"] == "term_sign_flipped", verdict


# --- integer answers -------------------------------------------------------------

POOL = """
  - id: ceil
    kind: pool2d
    given: {input_size: 7, kernel_size: 2, stride: 2, ceil_mode: true}
"""


def test_a_number_that_is_not_whole_is_a_wrong_integer(tmp_path):
    """ceil((7 - 2)/2) + 1 = 4; without the ceiling, 7/2: a mistake, not an unreadable answer."""
    path = problem_file(tmp_path, POOL)
    result = run_solver("selftest", path)
    assert result.returncode == 0 and result.stdout.rstrip().endswith(": 0 failures"), result.stdout
    for text in ("3.5", "7/2"):
        code, verdict = verdict_of(path, "ceil", text)
        assert code == 1 and verdict["verdict"] == "incorrect" and verdict["mistake"] == "floor_dropped", verdict
        assert "is not a whole number; this answer is one." in verdict["feedback"]


# --- numbers as arithmetic, and what is no number ------------------------------------

CONV = """
  - id: size
    kind: conv2d
    given: {input_size: 32, kernel_size: 3, padding: 1}
"""


@pytest.mark.parametrize("text", ["2^5", r"4 \cdot 8", "30 + 2", r"\frac{64}{2}", "(32 + 2 - 3)/1 + 1"])
def test_a_number_may_be_written_as_arithmetic(tmp_path, text):
    code, verdict = verdict_of(problem_file(tmp_path, CONV), "size", text)
    assert code == 0 and verdict["verdict"] == "correct", verdict


@pytest.mark.parametrize("text, word", [("62.4M", "M"), ("32 pixels", "pixels"), ("~32 million", "million")])
def test_units_and_words_ask_for_a_plain_number(tmp_path, text, word):
    code, verdict = verdict_of(problem_file(tmp_path, CONV), "size", text)
    assert code == 2 and verdict["verdict"] == "invalid", verdict
    assert f'expected a plain number, without units or words ("{word}" is not part of a number)' \
        in verdict["feedback"]


# --- tolerance -----------------------------------------------------------------

def test_a_decimal_rounded_to_3_significant_figures_is_correct():
    # ∂ℓ/∂w_in = -0.022631168 exactly (the hand derivation in tests/test_rnn.py).
    for text in ("-0.0226", "-0.02263", "-0.022631168"):
        assert verdict_of(COMP433, "Q6d:grad_w_in", text)[0] == 0, text
    code, verdict = verdict_of(COMP433, "Q6d:grad_w_in", "-0.0225")         # truncated too far
    assert code == 1 and "is close (within 0.58% of the expected value), but the answer is asked to 3 " \
        "significant figures." in verdict["feedback"], verdict


RNN = """
  - id: rnn
    kind: rnn
    given: {x: [0.3, 0.4, 0.2], h0: 0.5, w_in: 0.2, w_hh: 0.2, w_hy: 0.2, target: 0.4}
    ask: [grad_w_in, loss]
"""


@pytest.mark.parametrize("tolerance, text, code", [
    ("{sig_figs: 4}", "-0.0226", 1),
    ("{sig_figs: 4}", "-0.02263", 0),
    ("{relative: 0.05}", "-0.0220", 0),
    ("{relative: 0.01}", "-0.0220", 1),
    ("{absolute: 0.001}", "-0.022", 0),
    ("{absolute: 0.0001}", "-0.022", 1),
    ("{sig_figs: 5, grad_w_in: {absolute: 0.001}}", "-0.022", 0),     # the answer's own rule
    ("{grad_w_in: {sig_figs: 2}}", "-0.023", 0),
    ("{loss: {sig_figs: 2}}", "-0.023", 1),                           # another answer's rule
])
def test_a_problem_sets_its_tolerance(tmp_path, tolerance, text, code):
    path = problem_file(tmp_path, RNN + f"    tolerance: {tolerance}\n")
    result = check(path, "rnn:grad_w_in", text)
    assert result.returncode == code, result.stdout + result.stderr


def test_a_close_miss_says_what_precision_is_asked(tmp_path):
    path = problem_file(tmp_path, RNN + "    tolerance: {sig_figs: 4}\n")
    code, verdict = verdict_of(path, "rnn:grad_w_in", "-0.0226")
    assert code == 1 and "but the answer is asked to 4 significant figures." in verdict["feedback"], verdict


def test_integers_stay_exact_unless_a_tolerance_is_set(tmp_path):
    assert verdict_of(problem_file(tmp_path, CONV), "size", "31.9")[0] == 1
    loose = problem_file(tmp_path, CONV + "    tolerance: {relative: 0.01}\n")
    assert verdict_of(loose, "size", "31.9")[0] == 0


@pytest.mark.parametrize("tolerance, words", [
    ("{sig_figs: 0}", "`sig_figs` is 0"),
    ("{sig_figs: 2.5}", "`sig_figs` is 2.5"),
    ("{relative: 1.5}", "`relative` is 1.5"),
    ("{absolute: -1}", "`absolute` is -1"),
    ("{absolute: .nan}", "`absolute` is nan"),
    ("{percent: 1}", "`percent` is neither a rule nor an answer of this problem's kind"),
    ("{grad_w_in: 0.01}", "`grad_w_in` has 0.01"),
    ("{grad_w_in: {percent: 1}}", "`grad_w_in` has {'percent': 1}"),
    ("{grad_w_in: {sig_figs: 16}}", "`grad_w_in.sig_figs` is 16"),
    ("0.01", "got 0.01"),
    ("{}", "got {}"),
])
def test_a_bad_tolerance_is_one_clear_paragraph(tmp_path, tolerance, words):
    path = problem_file(tmp_path, RNN + f"    tolerance: {tolerance}\n")
    result = run_solver("check", path, "rnn", "1")
    assert_bad_input(result, path, "rnn", "tolerance", words)
    assert "sig_figs (a whole number from 1 to 15)" in result.stderr


# --- which answer `check` checks ---------------------------------------------------

def test_check_without_an_answer_name_checks_the_first_asked():
    code, verdict = verdict_of(COMP433, "Q6d", "-0.0226")        # ask: [grad_w_in, ...]; h comes first
    assert code == 0 and verdict["answer"] == "grad_w_in", verdict


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["conv2d", "pool2d"])
def test_one_input_size_under_a_per_axis_stride_checks_as_a_shape_and_so_does_its_mistake(tmp_path, kind):
    """Stride [2, 1] on one input size: the answer is a shape. The stride taken as 1 makes the
    problem square, and that mistake's size is still compared as a shape (it crashed check)."""
    torch = pytest.importorskip("torch")
    x = torch.zeros(1, 1, 9, 9)
    if kind == "pool2d":
        out = lambda stride: torch.nn.functional.max_pool2d(x, 3, stride=stride)
    else:
        out = lambda stride: torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3), stride=stride)
    right, wrong = ("x".join(map(str, out(stride).shape[2:])) for stride in ((2, 1), 1))
    path = problem_file(tmp_path, f"  - id: a\n    kind: {kind}\n"
                                  "    given: {input_size: 9, kernel_size: 3, stride: [2, 1]}\n")
    assert check(path, "a", right).stdout.startswith("correct")
    result = check(path, "a", wrong)
    assert result.stdout.startswith("incorrect") and "The stride was taken as 1" in result.stdout, result.stdout
