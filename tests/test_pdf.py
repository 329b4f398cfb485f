"""Generated LaTeX compiles with a real TeX engine and the PDF carries the answers."""
import subprocess

import pytest

from conftest import PROBLEM_FILES, require_program, run_solver

pytestmark = pytest.mark.tex


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_latex_compiles_to_pdf(path, tmp_path):
    pdflatex = require_program("pdflatex")
    result = run_solver("solve", path, "--format", "latex", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    tex = tmp_path / f"{path.stem}.tex"
    compiled = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
                               tex.name], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    pdf = tmp_path / f"{path.stem}.pdf"
    assert compiled.returncode == 0 and pdf.exists(), compiled.stdout[-3000:]
    pdftotext = require_program("pdftotext")
    text = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True).stdout
    assert "Problem" in text and "Answer" in text
