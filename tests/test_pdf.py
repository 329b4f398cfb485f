"""Generated LaTeX compiles with a real TeX engine, fits the page, and the PDF carries the answers.

`compile_sheet` compiles a sheet as a user's TeX would and reads its log: nothing
may be lost off the page (no overfull \\vbox: a display too tall to break) or run
into the margin (no overfull \\hbox wider than OVERFULL_POINTS).
"""
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import PROBLEM_FILES, require_program, run_solver

pytestmark = pytest.mark.tex

MODES = ("solutions", "key", "problems")
STRESS_FILE = Path(__file__).parent / "data" / "render-stress.yaml"
OVERFULL_POINTS = 3.0          # TeX's own tolerance is 0.1pt; a few points do not reach the page edge


def compile_sheet(path, mode, tmp_path) -> tuple[Path, str]:
    """`solver sheet PATH --MODE` compiled by pdflatex (twice: longtable): the PDF and its log."""
    pdflatex = require_program("pdflatex")
    result = run_solver("sheet", path, f"--{mode}", "--format", "latex")
    assert result.returncode == 0, result.stderr
    tex = tmp_path / f"{Path(path).stem}-{mode}.tex"
    tex.write_text(result.stdout, encoding="utf-8")
    for _ in range(2):
        compiled = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                                   tex.name], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert compiled.returncode == 0, compiled.stdout[-3000:]
    log = tex.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    return tex.with_suffix(".pdf"), log


def overfull_boxes(log: str) -> list[str]:
    """The log's overfull boxes that lose or clip content: every \\vbox, an \\hbox past OVERFULL_POINTS."""
    return [line for line in log.splitlines()
            if line.startswith("Overfull \\vbox")
            or ((m := re.match(r"Overfull \\hbox \(([\d.]+)pt too wide\)", line)) and float(m.group(1)) > OVERFULL_POINTS)]


def pdf_text(pdf) -> str:
    return subprocess.run([require_program("pdftotext"), str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("path", PROBLEM_FILES + [STRESS_FILE], ids=lambda p: getattr(p, "name", p))
def test_sheet_compiles_and_fits_the_page(path, mode, tmp_path):
    pdf, log = compile_sheet(path, mode, tmp_path)
    assert overfull_boxes(log) == []
    text = pdf_text(pdf)
    assert "Problem" in text and ("Answer" in text) == (mode != "problems")


def test_overfull_boxes_are_found_in_a_log():
    """The helper itself: the lines TeX writes for a box that does not fit."""
    log = ("Overfull \\hbox (2.54048pt too wide) detected at line 175\n"
           "Overfull \\hbox (47.19206pt too wide) detected at line 266\n"
           "Overfull \\vbox (437.20802pt too high) has occurred while \\output is active []\n"
           "Underfull \\hbox (badness 10000) in paragraph at lines 5--6\n")
    assert overfull_boxes(log) == log.splitlines()[1:3]


def test_prose_prints_literally_and_its_math_is_typeset(tmp_path):
    """Quotes, dashes, ~ and ^ in prose print as typed (no ligatures, no accents); $...$ is math."""
    pdf, _ = compile_sheet(STRESS_FILE, "problems", tmp_path)
    text = pdf_text(pdf)
    assert 'Tests -- "quotes", `backticks\' & ~tildes^' in text
    assert "qi = WQ xi" in re.sub(r"\s+", " ", text)       # typeset: subscripts, no $ or backslash
    assert "$" not in text and "\\" not in text


# A program written on one line (from the generated corpus, seed 3): its closed-form gradients are
# products and roots of sums, each factor wider than the page, with no + or - outside brackets.
ONE_LINE_PROGRAM = {"program": "f = sqrt(1 + (tanh(((log(1 + square(x)) - w) * sigmoid(y) + (log(1 + square(x)) - w)))^2"
                               " + z)*(tanh(((log(1 + square(x)) - w) * sigmoid(y) + (log(1 + square(x)) - w)))^2 + z))"
                               " + x",
                    "values": {"x": "x", "y": "y", "z": "z", "w": "w"}, "granularity": "assignments"}


@pytest.mark.tex
def test_a_closed_form_wider_than_the_page_is_written_with_its_repeated_parts_named(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump({"title": "Long", "problems": [
        {"id": "long", "kind": "graph", "given": ONE_LINE_PROGRAM}]}))
    _, log = compile_sheet(path, "solutions", tmp_path)
    assert overfull_boxes(log) == []                 # it ran 176 to 1040 pt into the margin
    tex = (tmp_path / "long-solutions.tex").read_text()
    assert r"\text{with } u_{1} = " in tex and r"\Bigr)^{1/2}" in tex     # named parts; the root opened
