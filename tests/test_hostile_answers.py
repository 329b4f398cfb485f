"""Hostile answers (issue 11): no free marks, no traceback, no hang, and a class
graded whatever one student writes. Every case runs the CLI as a user would.

Time bounds here are generous (a process that hangs fails, a slow machine does
not); the figures themselves come from benchmarks/bench.py.
"""
import csv
import io
import json
import subprocess
import sys

import pytest

from conftest import ROOT, run_solver

CPEN = ROOT / "problems" / "cpen455-hw2.yaml"
COMP = ROOT / "problems" / "comp433-a3.yaml"
FINISHES_WITHIN = 60          # seconds: generous, the budget per answer is 2 s

# A product of 55 powers, 769 characters: 68 s before the budget held.
PRODUCT_55 = "*".join(f"(H+1/{13 + i})^1000" for i in range(55))
# 980 characters of powers of the RNN's weight: minutes on Q6c before.
PRODUCT_Q6C = "*".join(f"(w_hh+1/{13 + i})^99" for i in range(61))[:980].rsplit("*", 1)[0]


def check(path, target, text):
    result = run_solver("check", path, target, text, "--json", timeout=FINISHES_WITHIN)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def right_answer(path, problem, name):
    """An answer as `solve --format json` gives it (inputs to perturb, not expected values)."""
    data = json.loads(run_solver("solve", path, "--problem", problem, "--format", "json").stdout)
    return data["problems"][0]["answers"][name]["value"]


# --- wrong verdicts -------------------------------------------------------------

@pytest.mark.parametrize("text", ["[{}]", "layer\n1\n", '{"rows": []}', "layer,params\n1,\n", "[{}, {}]"])
def test_an_empty_table_scores_nothing(text):
    code, verdict = check(CPEN, "2.2:table", text)
    assert code == 1 and verdict["verdict"] == "incorrect" and verdict["score"] == 0.0, verdict
    assert "70 of 70 cells are missing and count as wrong" in verdict["feedback"]


def test_one_right_cell_of_a_table_is_one_cell_of_its_score():
    code, verdict = check(CPEN, "2.2:table", "layer,params\n1,9728\n")      # 9728 = 128·3·5·5 + 128
    assert code == 1 and verdict["score"] == pytest.approx(1 / 70)
    assert "69 of 70 cells are missing" in verdict["feedback"]


def test_an_empty_table_scores_nothing_in_grade_too(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text('student,problem,answer,text\nann,2.2,table,"[{}]"\nbob,2.2,table,"layer\n1"\n')
    result = run_solver("grade", CPEN, answers, timeout=FINISHES_WITHIN)
    rows = [r for r in csv.DictReader(io.StringIO(result.stdout)) if r["problem"] != "TOTAL"]
    assert result.returncode == 0 and [(r["verdict"], r["score"]) for r in rows] == [("incorrect", "0")] * 2
    assert all("cells are missing" in r["feedback"] for r in rows)


RIGHT_Y = "w_hy*(h_0*w_hh^3 + w_hh^2*w_in*x_1 + w_hh*w_in*x_2 + w_in*x_3)"     # y = w_hy h_3, h_t = w_hh h_{t-1} + w_in x_t


@pytest.mark.parametrize("target, text", [
    ("3.1", "floor((H-K+2P)/S)+1+floor(H/1001)"),        # zero for every H below 1001
    ("3.1", "floor((H-K+2P)/S)+1+floor(H/10^100)"),      # zero below a googol
    ("3.1", "floor((H-K+2P)/S)+1+max(0, min(H-5000, 6000-H))"),   # nonzero only between 5000 and 6000
    ("3.1", "floor((H-K+2P)/S)+1+floor(H/(1001 K))"),    # needs H large and K small
    ("2.5d:count", "B + floor(B/1001)*10^9"),
])
def test_a_wrong_formula_right_only_for_small_values_is_incorrect(target, text):
    code, verdict = check(CPEN, target, text)
    assert code == 1 and verdict["verdict"] == "incorrect", verdict


def test_a_wrong_rnn_output_right_only_for_small_inputs_is_incorrect():
    assert check(COMP, "Q6a:y", RIGHT_Y)[0] == 0          # the control: right as written
    code, verdict = check(COMP, "Q6a:y", RIGHT_Y + " + floor(x_1^2/10^7)")
    assert code == 1 and verdict["verdict"] == "incorrect", verdict


def test_the_same_formula_gets_the_same_verdict():
    runs = [check(CPEN, "3.1", "floor((H-K+2P)/S)+1+floor(H/1001)")[1] for _ in range(2)]
    assert runs[0] == runs[1]


def test_a_whole_number_is_compared_exactly():
    right = right_answer(COMP, "Q1a", "output")
    assert check(COMP, "Q1a", json.dumps(right))[0] == 0
    close = [row[:] for row in right]
    close[0][0] = f"{right[0][0]}.006"
    text = "[" + ",".join("[" + ",".join(map(str, row)) + "]" for row in close) + "]"
    code, verdict = check(COMP, "Q1a", text)
    assert code == 1 and verdict["wrong_cells"] == [[0, 0]], verdict


# --- crashes and hangs ------------------------------------------------------------

@pytest.mark.parametrize("path, target, text", [
    (CPEN, "3.1", "H+sigmoid(-10^40)"),                  # OverflowError inside sympy's simplify
    (CPEN, "3.1", "(H+999)^1000*(K+999)^1000"),          # a value of 6,000 digits, printed
    (CPEN, "3.1", PRODUCT_55),                           # 68 s
    (COMP, "Q6c:grad_w_hh", "((w_hh+1)^1000)^1000"),     # 8 s and 140 MB
    (COMP, "Q6c:grad_w_hh", PRODUCT_Q6C),                # minutes
    (COMP, "Q6a:y", "exp(exp(exp(x_1)))"),
    (CPEN, "3.1", "floor(H^1000/K^999)"),
])
def test_a_hostile_formula_gets_a_verdict_in_time(path, target, text):
    code, verdict = check(path, target, text)
    assert (code, verdict["verdict"]) in ((1, "incorrect"), (2, "invalid")), verdict
    assert verdict["feedback"] and len(verdict["feedback"]) < 1000


def test_numbers_too_large_to_check_make_the_answer_invalid_with_the_reason():
    code, verdict = check(CPEN, "3.1", "(H+999)^1000*(K+999)^1000")
    assert code == 2 and "grow past 10,000 bits" in verdict["feedback"]


PLANTED_BUG = """
import sys
import solver.answers.check as check
real = check.compare_formulas
def compare_formulas(kind, student, expected, **options):
    if "999" in str(student):
        raise ZeroDivisionError("planted")
    return real(kind, student, expected, **options)
check.compare_formulas = compare_formulas
from solver.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_with_a_bug(*args):
    """The CLI with a bug planted in the comparison of formulas containing 999."""
    return subprocess.run([sys.executable, "-c", PLANTED_BUG, *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=FINISHES_WITHIN)


def test_a_bug_is_exit_3_and_one_line_naming_the_answer():
    result = run_with_a_bug("check", CPEN, "3.1", "H+999")
    assert result.returncode == 3 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert 'internal error while checking problem "3.1", answer output_size' in result.stderr
    assert "bug in solver" in result.stderr and "ZeroDivisionError: planted" in result.stderr


def test_debug_prints_the_traceback():
    result = run_with_a_bug("--debug", "check", CPEN, "3.1", "H+999")
    assert result.returncode == 3 and "Traceback" in result.stderr and "planted" in result.stderr


def test_a_bug_on_one_row_leaves_the_class_graded(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("student,problem,answer,text\nann,3.1,,H+999\nbob,3.1,,floor((H+2P-K)/S)+1\n")
    result = run_with_a_bug("grade", CPEN, answers)
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert result.returncode == 3 and "Traceback" not in result.stderr     # graded, but not all by the tool
    assert rows[0]["verdict"] == "invalid" and rows[0]["feedback"].startswith("Internal error")
    assert rows[1]["verdict"] == "correct"
    assert "row 1: internal error" in result.stderr and "1 row met a bug in solver" in result.stderr


# --- a class with hostile students ---------------------------------------------------

NORMAL = [
    ("3.1", "", r"\left\lfloor \frac{H+2P-K}{S} \right\rfloor + 1"),
    ("3.1", "", "(H + 2P - K)/S + 1"),
    ("3.1", "", "floor((H + 2P - K"),
    ("2.4", "params", "397,434"),
    ("2.4", "params", "397,433"),
    ("2.2", "output_shape[3]", "100x32x64x64"),
    ("2.5d", "count", "B"),
]
HOSTILE = [          # (problem, answer, text, the verdict it must get)
    ("3.1", "", "H+sigmoid(-10^40)", None),
    ("3.1", "", "(H+999)^1000*(K+999)^1000", "invalid"),
    ("3.1", "", PRODUCT_55, None),
    ("3.1", "", "floor((H-K+2P)/S)+1+floor(H/1001)", "incorrect"),
    ("2.5d", "count", "B + floor(B/1001)*10^9", "incorrect"),
    ("2.2", "table", "[{}]", "incorrect"),
    ("2.2", "table", "layer\n1", "incorrect"),
    ("3.1", "", "\u202e" + "x" * 3000, "invalid"),
]


def test_grade_with_hostile_rows_grades_every_row_as_check_does(tmp_path):
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student", "problem", "answer", "text"])
        rows = [(p, a, t) for p, a, t in NORMAL] + [(p, a, t) for p, a, t, _ in HOSTILE]
        for number, (problem, answer, text) in enumerate(rows):
            writer.writerow([f"s{number}", problem, answer, text])
    result = run_solver("grade", CPEN, answers, timeout=4 * FINISHES_WITHIN)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    graded = [r for r in csv.DictReader(io.StringIO(result.stdout)) if r["problem"] != "TOTAL"]
    assert len(graded) == len(rows)
    for (problem, answer, text), row in zip(NORMAL, graded):
        target = f"{problem}:{answer}" if answer else problem
        code, verdict = check(CPEN, target, text)
        assert (row["verdict"], float(row["score"]), row["feedback"]) == \
            (verdict["verdict"], pytest.approx(verdict["score"], abs=1e-3), verdict["feedback"])
    for (problem, answer, text, expected), row in zip(HOSTILE, graded[len(NORMAL):]):
        assert row["verdict"] in ("incorrect", "invalid") and row["feedback"], row
        assert expected is None or row["verdict"] == expected, row
        assert row["verdict"] != "invalid" or row["feedback"].startswith("Could not"), row


# --- the time limit of sympy's rewriting ------------------------------------------------

def test_a_timeout_swallowed_where_python_drops_it_fires_again():
    """The timer's signal once fired inside a garbage collector's callback, where the exception
    is lost: it repeats until the limited block ends, then stops. The limit is CPU time, so
    the block works (a sleep would spend none of it)."""
    import signal

    from solver.answers.grammar import _time_limit, _Timeout
    swallowed = 0
    with pytest.raises(_Timeout):
        with _time_limit(0.05):
            while True:
                try:
                    sum(range(10_000))
                except _Timeout:
                    swallowed += 1
                    if swallowed == 2:
                        raise
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)
