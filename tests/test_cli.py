"""The CLI as a user runs it: every command, every format, every shipped problem file."""
import json

import pytest

from conftest import PROBLEM_FILES, ROOT, one_problem_file, run_solver


def test_help_lists_the_commands():
    result = run_solver("--help")
    assert result.returncode == 0
    for command in ("kinds", "solve", "check"):
        assert command in result.stdout


def test_kinds_lists_fields_and_answers():
    result = run_solver("kinds")
    assert result.returncode == 0
    for word in ("conv2d", "pool2d", "conv_transpose2d", "output_padding", "target_size", "ceil_mode"):
        assert word in result.stdout


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["md", "latex", "text", "json"])
def test_every_problem_file_solves_in_every_format(path, fmt):
    result = run_solver("solve", path, "--format", fmt)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and len(result.stdout) > 200


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_json_follows_the_design_shape(path):
    data = json.loads(run_solver("solve", path, "--format", "json").stdout)
    assert set(data) == {"title", "problems"}
    for problem in data["problems"]:
        assert set(problem) == {"id", "kind", "answers", "steps"}
        for step in problem["steps"]:
            assert {"title", "text", "math"} <= set(step) <= {"title", "text", "math", "display", "diagram", "steps"}
        for answer in problem["answers"].values():
            assert set(answer) == {"type", "value", "latex"}
            if answer["type"] == "integer":
                assert isinstance(answer["value"], int)
            if answer["type"] in ("shape", "matrix"):
                assert isinstance(answer["value"], list)


def test_markdown_shows_window_products_and_size_formula():
    out = run_solver("solve", "problems/cpen455-hw2.yaml", "--problem", "4.1", "--format", "md").stdout
    assert r"\left\lfloor \frac{H + 2P - D\left(K - 1\right) - 1}{S} \right\rfloor + 1" in out
    assert r"\left\lfloor \frac{5 + 2 \cdot 2 - 2\left(3 - 1\right) - 1}{2} \right\rfloor + 1" in out
    assert "cross-correlation" in out and r"\odot" in out and "$$" in out


def test_text_format_has_no_latex_left():
    out = run_solver("solve", "problems/comp433-a3.yaml", "--format", "text").stdout
    assert "\\frac" not in out and "\\begin" not in out and "⌊" in out


def test_output_dir_gets_the_file(tmp_path):
    result = run_solver("solve", "problems/comp433-a3.yaml", "--format", "latex", "--output", tmp_path)
    assert result.returncode == 0 and result.stdout == ""
    written = tmp_path / "comp433-a3.tex"
    assert written.read_text().startswith("\\documentclass")
    assert list(tmp_path.iterdir()) == [written], "no temporary files left behind"


def test_problem_file_text_is_escaped_in_latex(tmp_path):
    path = tmp_path / "weird.yaml"
    path.write_text('title: "50% of a_b & #1 \\\\input{/etc/passwd}"\nproblems:\n'
                    '  - id: "x_1"\n    kind: conv2d\n    statement: "100% {literally}"\n'
                    '    given: {input_size: 5, kernel_size: 3}\n')
    out = run_solver("solve", path, "--format", "latex").stdout
    assert r"50\% of a\_b \& \#1" in out and "\\input{" not in out and r"100\% \{literally\}" in out


@pytest.mark.parametrize("target, text, code, verdict", [
    ("Q1a", "[[7, 9, 8], [7, 9, 10], [8, 5, 8]]", 0, "correct"),
    ("Q1a", r"\begin{bmatrix} 7 & 9 & 8 \\ 7 & 9 & 10 \\ 8 & 5 & 8 \end{bmatrix}", 0, "correct"),
    ("Q1a:output_size", "3 x 3", 0, "correct"),
    ("Q1a", "[[7, 9, 8], [7, 9, 10], [8, 5, 9]]", 1, "incorrect"),
    ("Q1a", "[[7, 9", 2, "invalid"),
])
def test_check_exit_codes(target, text, code, verdict):
    result = run_solver("check", "problems/comp433-a3.yaml", target, text, "--json")
    assert result.returncode == code, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == verdict and {"score", "feedback", "mistake"} <= set(data)


def test_check_reads_an_answer_starting_with_a_minus(tmp_path):
    """f = (x + y) z: df/dx = z = -1/2. A TEXT starting with "-" is the answer, wherever the options are."""
    path = one_problem_file(tmp_path, "graph", {"program": ["q = x + y", "f = q * z"],
                                                "values": {"x": -2, "y": 5, "z": -0.5}})
    for args in (["-1/2", "--json"], ["--json", r"-\frac{1}{2}"], ["-0.5", "--json"], ["--json", "--", "-2/4"]):
        result = run_solver("check", path, "p:grad_x", *args)
        assert result.returncode == 0 and json.loads(result.stdout)["verdict"] == "correct", result.stderr
    for text in ("-x", "-h"):
        result = run_solver("check", path, "p:grad_x", text, "--json")
        assert result.returncode == 2 and json.loads(result.stdout)["verdict"] == "invalid", result.stderr
    assert run_solver("check", "-h").stdout.startswith("usage: solver check")


def test_check_names_wrong_cells_and_scores():
    result = run_solver("check", "problems/comp433-a3.yaml", "Q1a", "[[7, 9, 8], [7, 9, 10], [8, 5, 9]]", "--json")
    data = json.loads(result.stdout)
    assert data["wrong_cells"] == [[2, 2]] and data["score"] == pytest.approx(8 / 9)    # numpy's indices
    assert "([row,column], from 1): [3,3]" in data["feedback"]          # the derivation's, as it numbers cells


def test_check_does_not_import_sympy_for_numeric_answers():
    code = ("import sys; from solver.commands.check import check_file; "
            "v = check_file('problems/comp433-a3.yaml', 'Q1a', '[[7,9,8],[7,9,10],[8,5,8]]'); "
            "print(v.verdict, 'sympy' in sys.modules)")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True).stdout
    assert out.split() == ["correct", "False"]


def test_runs_outside_the_repo_with_packaged_templates(tmp_path):
    """From another folder Python imports the installed package: in CI a wheel,
    whose templates must have shipped inside it."""
    result = run_solver("solve", ROOT / "problems" / "comp433-a3.yaml", "--format", "latex", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\\documentclass" in result.stdout


def test_large_problem_shows_first_windows_and_the_rule(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    matrix = rng.integers(-5, 6, size=(30, 30)).tolist()
    path = tmp_path / "large.yaml"
    path.write_text(f"title: Large\nproblems:\n  - id: big\n    kind: conv2d\n    given:\n"
                    f"      input: {matrix}\n      kernel: [[1, 0, -1], [2, 0, -2], [1, 0, -1]]\n      padding: 1\n")
    out = run_solver("solve", path, "--format", "md").stdout
    assert out.count(r"\odot") == 4 and "900 cells; the first 4 are shown" in out
    data = json.loads(run_solver("solve", path, "--format", "json").stdout)
    assert np.array(data["problems"][0]["answers"]["output"]["value"]).shape == (30, 30)
