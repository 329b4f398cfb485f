"""`solver grade` as a user runs it: a CSV of answers in, verdicts, scores and totals out."""
import csv
import io

import numpy as np
import yaml

from solver.answers.types import format_answer
from solver.kinds import get_kind
from solver.problems.load import load

from conftest import ROOT, run_solver

FILE = ROOT / "problems" / "comp433-a3.yaml"
HEADER = ["student", "problem", "answer", "text", "variant"]


def raw_problem(problem_id):
    return next(p for p in yaml.safe_load(FILE.read_text())["problems"] if p["id"] == problem_id)


def cross_correlation(x, k):
    """By definition: each output cell is the sum of a window times the kernel (stride 1, no padding)."""
    (h, w), (kh, kw) = x.shape, k.shape
    return np.array([[(x[i:i + kh, j:j + kw] * k).sum() for j in range(w - kw + 1)] for i in range(h - kh + 1)])


def first_mistake(problem_id, answer_name, right):
    """(name, value) of the first of the kind's mistakes that changes this answer."""
    problem = load(FILE, only=problem_id).problems[0]
    for mistake in get_kind(problem.kind).mistakes:
        for _, answers in mistake.cases(problem.given):
            value = answers.get(answer_name)
            if value is not None and np.asarray(value).shape == right.shape and (np.asarray(value) != right).any():
                return mistake.name, np.asarray(value, dtype=int)
    raise AssertionError("no mistake changes the answer")


def write_csv(path, rows, header=HEADER):
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows([header, *rows])
    return path


def graded(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_grades_every_row_without_stopping_at_bad_ones(tmp_path):
    q1a = raw_problem("Q1a")
    right = cross_correlation(np.array(q1a["given"]["input"]), np.array(q1a["given"]["kernel"]))
    size = (5 - 3) // 2 + 1                  # Q1b: floor((H - K) / S) + 1 with H = 5, K = 3, S = 2
    mistake, wrong = first_mistake("Q1a", "output", right)
    rows = [["ann", "Q1a", "", format_answer(right, "matrix"), ""],
            ["ann", "Q1b", "output_size", f"{size}x{size}", ""],
            ["bob", "Q1a", "output", format_answer(wrong, "matrix"), ""],
            ["bob", "Q1b", "output_size", "seven-ish (", ""],
            ["cy", "Q99", "", "3", ""],
            ["cy", "Q1a", "no_such_answer", "3", ""],
            ["cy", "Q1b", "output_size", f"{size}x{size}", "3"]]
    output = tmp_path / "grades.csv"
    result = run_solver("grade", FILE, write_csv(tmp_path / "answers.csv", rows), "--output", output)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr

    out = graded(output.read_text())
    assert [[r[c] for c in HEADER] for r in out[:len(rows)]] == rows          # the same rows, in order
    assert [r["verdict"] for r in out] == ["correct", "correct", "incorrect", "invalid", "invalid",
                                           "invalid", "invalid", "total", "total", "total"]
    bob = out[2]
    assert bob["mistake"] == mistake and float(bob["score"]) == np.round((wrong == right).mean(), 3)
    assert "Could not read" in out[3]["feedback"]
    assert 'no problem "Q99"' in out[4]["feedback"] and "Q1a" in out[4]["feedback"]
    assert "no answer named `no_such_answer`" in out[5]["feedback"] and "output_size" in out[5]["feedback"]
    assert "--seed" in out[6]["feedback"]        # a variant row needs the variants' seed

    totals = {r["student"]: r for r in out[len(rows):]}
    assert {r["problem"] for r in totals.values()} == {"TOTAL"}
    assert float(totals["ann"]["score"]) == 2 and float(totals["cy"]["score"]) == 0
    assert float(totals["bob"]["score"]) == float(bob["score"])
    assert "2 correct, 0 incorrect, 0 invalid" in totals["ann"]["feedback"]

    assert f"wrote {output}" in result.stderr
    assert f"common mistakes: {mistake} (1)" in result.stderr       # the instructor's summary


def test_prints_to_stdout_and_reads_headers_in_any_case_and_order(tmp_path):
    answers = write_csv(tmp_path / "a.csv", [["2x2", "Q1b", "output_size", "ann"]],
                        header=["Text", "Problem", "Answer ", "Student"])
    result = run_solver("grade", FILE, answers)
    assert result.returncode == 0
    assert [(r["Student"], r["verdict"]) for r in graded(result.stdout)] == [("ann", "correct"), ("ann", "total")]


def test_missing_columns_exit_2_and_write_nothing(tmp_path):
    answers = write_csv(tmp_path / "a.csv", [["ann", "Q1a", "1"]], header=["student", "problem", "txt"])
    output = tmp_path / "grades.csv"
    output.write_text("old grades\n")
    result = run_solver("grade", FILE, answers, "--output", output)
    assert result.returncode == 2 and result.stdout == ""
    assert str(answers) in result.stderr and "answer, text" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert output.read_text() == "old grades\n"


def test_unwritable_output_exit_2_and_nothing_half_written(tmp_path):
    answers = write_csv(tmp_path / "a.csv", [["ann", "Q1b", "output_size", "2x2", ""]])
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be\n")   # unwritable even for root
    result = run_solver("grade", FILE, answers, "--output", blocker / "grades.csv")
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "blocker"]


def test_a_huge_cell_is_one_invalid_row_and_an_unclosed_quote_a_clear_error(tmp_path):
    huge = write_csv(tmp_path / "huge.csv", [["ann", "Q1b", "output_size", "9" * 120_000, ""],
                                             ["bob", "Q1b", "output_size", "2x2", ""]])
    result = run_solver("grade", FILE, huge, timeout=30)
    assert result.returncode == 0
    assert [r["verdict"] for r in graded(result.stdout)] == ["invalid", "correct", "total", "total"]

    unclosed = tmp_path / "unclosed.csv"
    unclosed.write_text("student,problem,answer,text\nann,Q1a,,\"" + "1 " * 5_000_000 + "\n")
    result = run_solver("grade", FILE, unclosed, timeout=30)
    assert result.returncode == 2 and result.stdout == ""
    assert f"{unclosed}, line 2" in result.stderr and "quote" in result.stderr
