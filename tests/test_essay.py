"""Essay problems: the model answer is on solution sheets and keys, never on a
problem sheet, and nothing of theirs is checked."""
import csv

from conftest import assert_bad_input, run_solver

MODEL = "Because XOR is not linearly separable: no line puts (0,1) and (1,0) apart from (0,0) and (1,1)."


def write_set(tmp_path, model_answer=MODEL):
    path = tmp_path / "set.yaml"
    path.write_text(f"""title: Essays & sizes
problems:
  - id: "e1"
    kind: essay
    statement: Why can one linear layer not compute XOR?
    given:
      model_answer: {model_answer!r}
  - id: "s1"
    kind: conv2d
    given: {{input_size: 5, kernel_size: 3}}
""")
    return path


def test_model_answer_on_solutions_and_key_but_not_on_problem_sheet(tmp_path):
    path = write_set(tmp_path)
    for mode in ("--solutions", "--key"):
        sheet = run_solver("sheet", path, mode, "--format", "md")
        assert sheet.returncode == 0, sheet.stderr
        assert "not linearly separable" in sheet.stdout
    problems = run_solver("sheet", path, "--problems", "--format", "md")
    assert "Why can one linear layer" in problems.stdout and "linearly separable" not in problems.stdout


def test_checking_an_essay_is_refused_clearly(tmp_path):
    result = run_solver("check", write_set(tmp_path), "e1", "it is not separable")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert 'problem "e1"' in result.stderr and "no answer to check" in result.stderr


def test_grading_marks_essay_rows_invalid_and_goes_on(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("student,problem,answer,text\nada,e1,,because\nada,s1,,3\n")
    result = run_solver("grade", write_set(tmp_path), answers, "--output", tmp_path / "grades.csv")
    assert result.returncode == 0, result.stderr
    rows = {row["problem"]: row for row in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["e1"]["verdict"] == "invalid" and "no answer to check" in rows["e1"]["feedback"]
    assert rows["s1"]["verdict"] == "correct"


def test_selftest_passes_an_essay(tmp_path):
    result = run_solver("selftest", write_set(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_empty_model_answer_is_bad_input(tmp_path):
    path = write_set(tmp_path, model_answer="  ")
    assert_bad_input(run_solver("solve", path), path, "e1", "model_answer", "is empty")
