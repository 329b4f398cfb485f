"""Bad input: one clear paragraph naming file, problem and field; exit 2; no traceback."""
import textwrap

import pytest

from conftest import assert_bad_input, run_solver

CONV = "kind: conv2d\n    given:\n"


def problem_file(tmp_path, body, name="set.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def one_problem(tmp_path, given_yaml, kind="conv2d"):
    given = textwrap.indent(textwrap.dedent(given_yaml), " " * 6)
    return problem_file(tmp_path, f"title: T\nproblems:\n  - id: \"p1\"\n    kind: {kind}\n    given:\n{given}")


CASES = [
    ("conv2d", "input: [[1, 2], [3]]\nkernel: [[1]]\n", "input", "not rectangular"),
    ("conv2d", "input: [[1, 2], [3, 4]]\nkernel: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\n", "kernel", "padded input"),
    ("conv2d", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\nstride: -1\n", "stride", "integer >= 1"),
    ("conv_transpose2d", "input: [[1, 2], [3, 4]]\nkernel: [[1, 2], [3, 4]]\nstride: 2\noutput_padding: 2\n",
     "output_padding", "smaller than the stride"),
    ("conv2d", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\nstrides: 2\n", "strides", "not a field"),
    ("conv2d", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\npadding: same\nstride: 2\n", "padding", "stride 1"),
    ("pool2d", "input: [[1, 2], [3, 4]]\nkernel_size: 2\npadding: 2\n", "padding", "at most half"),
    ("conv2d", "input: [[1, 2], [3, 4]]\nkernel: [[1, \"a\"]]\n", "kernel", "only numbers"),
    ("conv2d", "input: [[1, 2], [3, 4]]\n", "kernel", "needed too"),
    ("conv_transpose2d", "input_size: 4\nkernel_size: 3\nstride: 2\ntarget_size: 20\n", "target_size",
     "cannot be reached"),
]


@pytest.mark.parametrize("kind, given, field, words", CASES)
def test_bad_given_names_file_problem_and_field(tmp_path, kind, given, field, words):
    path = one_problem(tmp_path, given, kind)
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


def test_unknown_kind_lists_the_kinds(tmp_path):
    path = one_problem(tmp_path, "input: [[1]]\n", kind="conv3d")
    result = run_solver("solve", path)
    assert result.returncode == 2
    assert "unknown kind 'conv3d'" in result.stderr and "conv2d" in result.stderr
    assert "`kind`" in result.stderr and 'problem "p1"' in result.stderr


def test_malformed_yaml_names_line(tmp_path):
    path = problem_file(tmp_path, "title: T\nproblems:\n  - id: a\n    given: [1, 2\n")
    result = run_solver("solve", path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and "not valid YAML at line" in result.stderr


def test_float_id_is_rejected_with_a_hint(tmp_path):
    path = problem_file(tmp_path, "title: T\nproblems:\n  - id: 3.10\n    kind: conv2d\n    given: {}\n")
    result = run_solver("solve", path)
    assert result.returncode == 2 and "quote it" in result.stderr


def test_missing_file(tmp_path):
    result = run_solver("solve", tmp_path / "nope.yaml")
    assert result.returncode == 2 and "no such problem file" in result.stderr


@pytest.mark.parametrize("text", ["garbage", "", "[[1, 2], [3", "().__class__", "x" * 120_000])
def test_garbage_answer_is_invalid(text):
    result = run_solver("check", "problems/comp433-a3.yaml", "Q1a", text)
    assert result.returncode == 2 and result.stdout.startswith("invalid"), result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_problem_and_answer_names(tmp_path):
    result = run_solver("check", "problems/comp433-a3.yaml", "Q9", "1")
    assert result.returncode == 2 and 'has no problem "Q9"' in result.stderr and "Q1a" in result.stderr
    result = run_solver("check", "problems/comp433-a3.yaml", "Q1a:shape", "1")
    assert result.returncode == 2 and "no answer named `shape`" in result.stderr


def test_unwritable_output_directory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_solver("solve", "problems/comp433-a3.yaml", "--output", blocker / "sub")
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr
