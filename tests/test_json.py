"""`solve --format json` carries the derivation as data: the steps a sheet shows, as LaTeX a TeX engine reads."""
import json
import re
import subprocess

import pytest

from conftest import PROBLEM_FILES, require_program, run_solver


def solved(path, fmt):
    result = run_solver("solve", path, "--format", fmt)
    assert result.returncode == 0, result.stderr
    return result.stdout


def plain(title):
    """A title without math dollars or Markdown's escapes."""
    return re.sub(r"\\(.)", r"\1", title).replace("$", "")


def flattened(steps, prefix=""):
    """(number, step) in sheet order: "1", "2", "2.1", ..."""
    for number, step in enumerate(steps, 1):
        yield f"{prefix}{number}", step
        yield from flattened(step.get("steps", []), f"{prefix}{number}.")


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_json_steps_are_the_steps_the_sheet_shows(path):
    problems = json.loads(solved(path, "json"))["problems"]
    markdown = solved(path, "md")
    for problem, shown in zip(problems, re.split(r"^## Problem .*$", markdown, flags=re.M)[1:]):
        headings = re.findall(r"^#{3,} (\d+(?:\.\d+)*)\. (.*)$", shown, flags=re.M)
        steps = [(number, step["title"]) for number, step in flattened(problem["steps"])]
        assert len(steps) == len(headings) and steps, problem["id"]
        for (number, title), (shown_number, shown_title) in zip(steps, headings):
            assert number == shown_number and plain(title) in plain(shown_title), problem["id"]


@pytest.mark.tex
def test_json_math_is_latex_a_tex_engine_compiles(tmp_path):
    pdflatex = require_program("pdflatex")
    sheet = run_solver("sheet", PROBLEM_FILES[0], "--format", "latex").stdout
    preamble = sheet[:sheet.index(r"\begin{document}")]
    body = []
    for path in PROBLEM_FILES:
        for problem in json.loads(solved(path, "json"))["problems"]:
            for _, step in flattened(problem["steps"]):
                body += [rf"\[ {line} \]" for line in step["math"]]
                body += [step["display"]] if "display" in step else []
    assert len(body) > 100
    (tmp_path / "steps.tex").write_text(preamble + "\\begin{document}\n" + "\n".join(body) + "\n\\end{document}\n")
    compiled = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "steps.tex"],
                              cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert compiled.returncode == 0, compiled.stdout[-3000:]


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_a_number_prints_in_its_answer_as_its_derivation_printed_it(path):
    """One number policy: a scalar answer's LaTeX (the answer block's, the key's) is what its
    derivation wrote, so a problem given in decimals does not end a derivation on 0.525 and
    answer 21/40 (nor a gradient -0.022631168 and -88403/3906250)."""
    for problem in json.loads(run_solver("solve", path, "--format", "json").stdout)["problems"]:
        derivation = "\n".join(line for _, step in flattened(problem["steps"]) for line in step["math"])
        for name, answer in problem["answers"].items():
            if answer["type"] in ("integer", "rational", "real") and "[" not in name:
                assert answer["latex"] in derivation, (problem["id"], name, answer["latex"])
