"""Hostile problem files, answer files and output paths (issue 11): every one is refused
with one paragraph naming what is wrong, exit status 2, no traceback, within a
generous time bound, touching no file it should not. Before the fix the
problem files here took minutes and gigabytes, or crashed."""
import contextlib
import csv
import io
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, assert_bad_input, run_solver

TIMEOUT = 60          # seconds; a refusal comes before any computing, in about the time Python starts


def problem_file(tmp_path, given, kind="conv2d", extra="", name="set.yaml"):
    path = tmp_path / name
    given = textwrap.indent(textwrap.dedent(given), " " * 6)
    path.write_text(f'title: T\nproblems:\n  - id: "p1"\n    kind: {kind}\n    given:\n{given}{extra}')
    return path


def files_under(folder):
    return {p: (p.lstat().st_size, p.lstat().st_mtime_ns) for p in folder.rglob("*")}


@contextlib.contextmanager
def untouched(*folders):
    """No file is created, changed or removed in `folders` (the repository's output
    folder is always watched: a run that writes by default writes there)."""
    folders = folders + (ROOT / "output",)
    before = [files_under(folder) for folder in folders]
    yield
    assert [files_under(folder) for folder in folders] == before


def refused(tmp_path, path, problem="p1", field=None, words=""):
    """Every command that reads `path` exits 2 with one clear paragraph (selftest
    prints its table's header on standard output first)."""
    for command in (["solve", path], ["sheet", path], ["selftest", path], ["check", path, problem, "1"]):
        with untouched(tmp_path):
            result = run_solver(*command, timeout=TIMEOUT)
        if command[0] == "selftest":
            result.stdout = ""
        if field is not None:
            assert_bad_input(result, path, problem, field, words)
        else:
            assert result.returncode == 2 and result.stdout == "", result.stdout + result.stderr
            assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1, result.stderr
            assert str(path) in result.stderr and words in result.stderr, result.stderr


# ---- problem files that would exhaust the machine -------------------------------------------

BOMB = """\
input:
  - &a [1, 1, 1, 1, 1, 1, 1, 1, 1]
  - &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  - &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  - &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  - &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  - &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  - &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  - &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
kernel: [[1]]
"""


def test_alias_bomb_in_input_is_refused_at_load(tmp_path):
    path = problem_file(tmp_path, BOMB)
    refused(tmp_path, path, words="aliases expand to more than 1,000,000 values")


def test_alias_bomb_under_vary_is_refused_at_load(tmp_path):
    bomb = textwrap.indent(BOMB.replace("input:", "bomb:").replace("kernel: [[1]]\n", ""), "      ")
    path = problem_file(tmp_path, "input: [[1, 2], [3, 4]]\nkernel: [[1]]\n",
                        extra=f"    vary:\n      input:\n{bomb}")
    refused(tmp_path, path, words="aliases expand")


def test_alias_inside_itself_is_refused(tmp_path):
    path = problem_file(tmp_path, "input: &a [[1, 2], *a]\nkernel: [[1]]\n")
    refused(tmp_path, path, words="an alias refers to the value that contains it")


def test_aliases_that_stay_small_still_work(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text("title: T\nproblems:\n  - id: a\n    kind: conv2d\n    given: &g\n      input: [[1, 2], [3, 4]]\n"
                    "      kernel: [[1, 1], [1, 1]]\n  - id: b\n    kind: conv2d\n    given: *g\n")
    result = run_solver("check", path, "b", "[[10]]", timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind, given, field, words", [
    ("conv2d", "input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel: [[1]]\npadding: 5000\n", "padding",
     "makes the padded input 1×10003×10003, 100,060,009 entries; at most 100,000"),
    ("conv2d", "input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel: [[1]]\npadding: 1000000000\n", "padding",
     "at most 100,000"),
    ("conv_transpose2d", "input: [[1, 2], [3, 4]]\nkernel: [[1, 2], [3, 4]]\nstride: 5000\n", "stride",
     "makes the result before cropping 1×5002×5002"),
    ("pool2d", "input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel_size: 10000\npadding: 5000\n", "padding",
     "padded input"),
    ("conv2d", "input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel: [[1]]\npadding: [0, 99999]\n", "padding",
     "padded input"),
    ("conv2d_backward", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\npadding: 5000\n", "padding", "padded input"),
])
def test_what_a_problem_asks_for_is_bounded_before_computing(tmp_path, kind, given, field, words):
    path = problem_file(tmp_path, given, kind)
    refused(tmp_path, path, field=field, words=words)


@pytest.mark.parametrize("kind, kernel, field", [("conv2d", "kernel: [[1] * 50] * 50", "kernel"),
                                                 ("pool2d", "kernel_size: 50\nstride: 1", "kernel_size")])
def test_windows_too_many_to_add_up_are_refused(tmp_path, kind, kernel, field):
    """A 100×100 input under a 50×50 window: 51² outputs of 2,500 entries each."""
    kernel = kernel.replace("[[1] * 50] * 50", str([[1] * 50] * 50))
    path = problem_file(tmp_path, f"input: {[[1] * 100] * 100}\n{kernel}\n", kind)
    with untouched(tmp_path):
        result = run_solver("solve", path, timeout=TIMEOUT)
    assert_bad_input(result, path, "p1", field, "output cells × window entries")


# ---- malformed files: no traceback ------------------------------------------------------------

def test_kind_that_is_a_list(tmp_path):
    path = problem_file(tmp_path, "input: [[1]]\nkernel: [[1]]\n", kind="[conv2d]")
    refused(tmp_path, path, field="kind", words="must be the name of a kind")


@pytest.mark.parametrize("given", [
    "input: [[1, 2], [3, 4]]\nkernel: [[1]]\nstride: " + "9" * 4400 + "\n",
    "input: [[1, 2], [3, 4]]\nkernel: [[" + "7" * 4000 + "]]\n",
    "input: [[1, 2], [3, 4]]\nkernel: [[1" + "0" * 400 + "]]\n",
])
def test_numbers_too_long_to_read_name_their_line(tmp_path, given):
    path = problem_file(tmp_path, given)
    refused(tmp_path, path, words="characters; numbers in a problem file are at most 10^15")
    result = run_solver("solve", path, timeout=TIMEOUT)
    assert "line 8" in result.stderr or "line 7" in result.stderr, result.stderr


@pytest.mark.parametrize("given, field, words", [
    ("input: [[1, 2], [3, .inf]]\nkernel: [[1]]\n", "input", "has inf at input[1][1]; numbers must be finite"),
    ("input: [[1, 2], [3, 4]]\nkernel: [[1]]\nbias: [.nan]\n", "bias", "has nan at bias[0]"),
    ("input: [[1, 2], [3, -.inf]]\nkernel: [[1]]\n", "input", "numbers must be finite"),
    ("input: [[1, 2], [3, 1.0e+999]]\nkernel: [[1]]\n", "input", "numbers must be finite"),
    ("input: [[1, 2], [3, 1.0e+308]]\nkernel: [[10]]\n", "input", "at most 10^15 in size"),
    ("input: [[1, 2], [3, 100000000000000000000]]\nkernel: [[1]]\n", "input", "at most 10^15 in size"),
])
def test_numbers_that_are_not_finite_or_too_large_are_refused(tmp_path, given, field, words):
    path = problem_file(tmp_path, given)
    refused(tmp_path, path, field=field, words=words)


def test_infinite_number_under_vary_is_refused(tmp_path):
    path = problem_file(tmp_path, "input: [[1, 2], [3, 4]]\nkernel: [[1]]\n",
                        extra="    vary:\n      input: {min: 1, max: .inf}\n")
    refused(tmp_path, path, field="vary", words="numbers must be finite")


@pytest.mark.parametrize("given, field", [
    ("input_size: H__x\nkernel_size: 3\n", "input_size"),
    ("input_size: H\nkernel_size: S_\n", "kernel_size"),
    ("input_size: H\nkernel_size: 3\npadding: P__\n", "padding"),
])
def test_symbol_names_the_checker_cannot_read_back_are_refused(tmp_path, given, field):
    path = problem_file(tmp_path, given)
    refused(tmp_path, path, field=field, words="symbol name")


def test_symbol_names_that_read_back_still_work(tmp_path):
    path = problem_file(tmp_path, "input_size: H_in\nkernel_size: K\npadding: P\n")
    result = run_solver("check", path, "p1", "H_in + 2*P - K + 1", timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_duplicate_key_is_refused_naming_key_and_line(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text('title: T\nproblems:\n  - id: "p1"\n    kind: conv2d\n    kind: pool2d\n    given: {}\n')
    refused(tmp_path, path, words="line 5, column 5: the key `kind` is given twice")


def test_nul_byte_names_its_position(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text('title: T\nproblems:\n  - id: "p1"\n    kind: conv2d\x00\n    given: {}\n')
    refused(tmp_path, path, words="at line 4, column 17: the control character U+0000")


# ---- answers from files, and echoed answers ------------------------------------------------------

COMP = ROOT / "problems" / "comp433-a3.yaml"
RIGHT_Q1A = "[[7,9,8],[7,9,10],[8,5,8]]"


@pytest.mark.parametrize("text", ["@/etc/passwd", "@/proc/self/environ", "@"])
def test_answer_starting_with_at_is_an_answer_not_a_file(text):
    result = run_solver("check", COMP, "Q1a", text, timeout=TIMEOUT)
    assert result.returncode == 2 and result.stdout.startswith("invalid"), result.stdout + result.stderr
    assert "root:" not in result.stdout and "PATH=" not in result.stdout
    assert f'in "{text}"' in result.stdout


def test_answer_file_is_an_explicit_option(tmp_path):
    answer = tmp_path / "answer.txt"
    answer.write_text(RIGHT_Q1A)
    assert run_solver("check", COMP, "Q1a", "--answer-file", answer, timeout=TIMEOUT).returncode == 0
    result = subprocess.run([sys.executable, "-m", "solver", "check", str(COMP), "Q1a", "--answer-file", "-"],
                            cwd=ROOT, input=RIGHT_Q1A, capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("args, words", [
    (["Q1a", "1", "--answer-file", "{answer}"], "not both or neither"),
    (["Q1a"], "not both or neither"),
    (["Q1a", "--answer-file", "{fifo}"], "is not a regular file"),
    (["Q1a", "--answer-file", "{folder}"], "is not a regular file"),
    (["Q1a", "--answer-file", "{folder}/missing.txt"], "cannot read the answer file"),
])
def test_answer_file_that_cannot_be_read_is_refused_without_waiting(tmp_path, args, words):
    answer, fifo = tmp_path / "answer.txt", tmp_path / "fifo"
    answer.write_text("1")
    os.mkfifo(fifo)                    # reading it would block forever
    args = [a.format(answer=answer, fifo=fifo, folder=tmp_path) for a in args]
    with untouched(tmp_path):
        result = run_solver("check", COMP, *args, timeout=TIMEOUT)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert words in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_echoed_answer_shows_control_and_bidi_characters_escaped():
    text = "[[1,2]\n correct (score 1.00) \u202e \x1b[31m \u2066"
    result = run_solver("check", COMP, "Q1a", text, timeout=TIMEOUT)
    assert result.returncode == 2 and result.stdout.count("\n") == 1, result.stdout
    for raw, escaped in (("\u202e", "\\u202e"), ("\x1b", "\\u001b"), ("\u2066", "\\u2066"), ("\n ", "\\n ")):
        assert raw not in result.stdout and escaped in result.stdout, result.stdout


# ---- where output goes ----------------------------------------------------------------------------

def answers_csv(tmp_path, rows=(("ann", "Q1a", "", RIGHT_Q1A),)):
    path = tmp_path / "answers.csv"
    with open(path, "w", newline="") as out:
        csv.writer(out).writerows([("student", "problem", "answer", "text"), *rows])
    return path


@pytest.mark.parametrize("target, words", [
    ("/dev/full", "it is a device, not a regular file"),
    ("{folder}", "it is a folder, not a regular file"),
    ("{answers}", "it is the input"),
    ("{problems}", "it is the input"),
    ("{link}", "it is a symbolic link"),
    ("{folder}/missing/grades.csv", "does not exist"),
    ("/proc/version", "no file can be made in /proc"),
])
def test_grade_output_that_is_not_a_plain_new_or_old_file_is_refused(tmp_path, target, words):
    answers = answers_csv(tmp_path)
    problems = tmp_path / "set.yaml"
    problems.write_bytes(COMP.read_bytes())
    (tmp_path / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    target = target.format(folder=tmp_path, answers=answers, problems=problems, link=tmp_path / "link.csv")
    device = os.stat("/dev/full")
    with untouched(tmp_path):
        result = run_solver("grade", problems, answers, "--output", target, timeout=TIMEOUT)
    assert result.returncode == 2 and "Traceback" not in result.stderr and words in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert os.stat("/dev/full").st_rdev == device.st_rdev and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_grade_output_over_an_earlier_grades_file_is_fine(tmp_path):
    answers, target = answers_csv(tmp_path), tmp_path / "grades.csv"
    target.write_text("old")
    result = run_solver("grade", COMP, answers, "--output", target, timeout=TIMEOUT)
    assert result.returncode == 0 and target.read_text().startswith("student,"), result.stderr


@pytest.mark.parametrize("command", [["solve"], ["sheet", "--format", "md"]])
def test_output_folder_that_is_a_file_is_named_as_such(tmp_path, command):
    result = run_solver(*command, COMP, "--output", "/proc/version", timeout=TIMEOUT)
    assert result.returncode == 2 and "/proc/version is not a folder" in result.stderr, result.stderr
    assert "File exists" not in result.stderr


def test_solve_over_its_own_problem_file_is_refused(tmp_path):
    path = tmp_path / "set.md"                   # a problem file whose name is the output's
    path.write_bytes(COMP.read_bytes())
    with untouched(tmp_path):
        result = run_solver("solve", path, "--output", tmp_path, timeout=TIMEOUT)
    assert result.returncode == 2 and "it is the input" in result.stderr, result.stderr


def test_problem_id_with_folders_stays_inside_the_output_folder(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text('title: T\nproblems:\n  - id: "../../x"\n    kind: conv2d\n    given:\n'
                    "      input: [[1, 2], [3, 4]]\n      kernel: [[1]]\n")
    out = tmp_path / "a" / "b"
    with untouched(ROOT):
        result = run_solver("solve", path, "--problem", "../../x", "--output", out, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in out.iterdir()] == ["set-.._.._x.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "set.yaml"]


# ---- grades a spreadsheet opens --------------------------------------------------------------------

def test_grades_csv_cells_never_start_a_formula(tmp_path):
    rows = [("=HYPERLINK(\"http://x\")", "Q1a", "", "=1+2"), ("+ann", "Q1a", "", "+1"),
            ("-bob", "Q1a", "", "-1"), ("@carl", "Q1a", "@SUM(A1)", "\t1"), ("dee", "Q1a", "", RIGHT_Q1A)]
    answers = answers_csv(tmp_path, rows)
    result = run_solver("grade", COMP, answers, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    graded = list(csv.reader(io.StringIO(result.stdout)))
    cells = [cell for row in graded for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert "'=HYPERLINK(\"http://x\")" in cells and "'-1" in cells and "'@SUM(A1)" in cells
    assert graded[5][:5] == ["dee", "Q1a", "", RIGHT_Q1A, "correct"]


def test_csv_cell_over_the_limit_is_named_as_such(tmp_path):
    answers = answers_csv(tmp_path, [("ann", "Q1a", "", "1" * 1_000_001)])
    result = run_solver("grade", COMP, answers, timeout=TIMEOUT)
    assert result.returncode == 2 and "has a cell of more than 1,000,000 characters" in result.stderr, \
        result.stderr
