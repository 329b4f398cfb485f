"""`solver sheet` as a user runs it: every shipped file, every sheet, both formats, PDFs.

What a sheet must show is read from the file itself (`ask`) and the answers from
`solver solve --format json`; the sheets are then searched for exactly those values.
"""
import copy
import json
import os
import re
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import yaml

from conftest import PROBLEM_FILES, ROOT, require_program, run_solver

MODES = ("solutions", "key", "problems")
SUBTITLES = {"solutions": "Worked solutions", "key": "Answer key", "problems": "Problems"}
STEP_HEADING = {"md": re.compile(r"^### \d+\. ", re.M), "latex": re.compile(r"\\subsection\*\{\d+\. ")}
ANSWER_HEADING = {"md": "### Answer\n", "latex": "\\subsection*{Answer}"}
PROBLEM_HEADING = {"md": "## Problem {}\n", "latex": "\\section*{{Problem {}}}"}
NO_TEX_HINT = "apt-get install texlive-latex-base texlive-latex-recommended texlive-latex-extra"
SMALL_FILE = ROOT / "problems" / "dsga1008-hw2.yaml"


def sheet(path, mode, fmt, *more):
    result = run_solver("sheet", path, f"--{mode}", "--format", fmt, *more)
    assert result.returncode == 0, result.stderr
    return result


TABLE_ROW = {"md": "| ${}$ | ", "latex": "${}$ & "}       # how a table answer's row starts


def shown_answers(path):
    """{problem id: {answer name: JSON answer}} for the answers a sheet shows: those the
    problem's `ask` lists, else its whole-problem answers (per-layer NAME[i] are details)."""
    asks = {str(p["id"]): p.get("ask") for p in yaml.safe_load(path.read_text())["problems"]}
    data = json.loads(run_solver("solve", path, "--format", "json").stdout)
    return {p["id"]: {name: answer for name, answer in p["answers"].items()
                      if (name in asks[p["id"]] if asks[p["id"]] is not None else "[" not in name)}
            for p in data["problems"]}


def section(text, fmt, problem):
    """The part of a sheet under one problem's heading (up to the next problem's)."""
    start = text.index(PROBLEM_HEADING[fmt].format(problem))
    end = text.find(PROBLEM_HEADING[fmt].format("").rstrip("}\n"), start + 1)
    return text[start:end if end > 0 else None]


def joined(text):
    """A sheet with each long display member's continuation rows (see step.j2's `member`) joined back."""
    return re.sub(r" \\\\\n&\\quad (\\cdot )?", " ", text)


def letters(text):
    return re.sub(r"[^A-Za-z]", "", text)


def model_answers(path):
    """{problem id: model answer} of the essay problems."""
    return {str(p["id"]): p["given"]["model_answer"] for p in yaml.safe_load(path.read_text())["problems"]
            if p["kind"] == "essay"}


@pytest.mark.parametrize("fmt", ["md", "latex"])
@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_every_file_builds_all_three_sheets(path, fmt):
    text = {mode: sheet(path, mode, fmt) for mode in MODES}
    for mode, result in text.items():
        assert result.stderr == "" and len(result.stdout) > 200
        assert SUBTITLES[mode] in result.stdout
        if fmt == "md":         # math as GitHub and Jupyter read it: $…$ and $$…$$, no LaTeX document
            assert result.stdout.count("$$") % 2 == 0 and "\\begin{document}" not in result.stdout
    text = {mode: joined(result.stdout) for mode, result in text.items()}
    assert STEP_HEADING[fmt].search(text["solutions"])
    assert not STEP_HEADING[fmt].search(text["key"]), "the key shows no derivation"
    assert not STEP_HEADING[fmt].search(text["problems"])
    assert len(text["key"]) < len(text["solutions"])
    essays = model_answers(path)
    for problem, answers in shown_answers(path).items():
        assert answers or problem in essays, problem
        for name, answer in answers.items():
            if answer["type"] == "table":         # a table of its own, a row a layer
                rows = [TABLE_ROW[fmt].format(row["layer"]) for row in answer["value"]]
                for mode in ("solutions", "key"):
                    assert all(row in section(text[mode], fmt, problem) for row in rows), (problem, name, mode)
                continue
            shown = f"&= {answer['latex']}"       # `label &= value`, as the Answer section shows it
            assert shown in text["solutions"] and shown in text["key"], (problem, name)
            # The key's `label &= value` line is not on the student's sheet (a given may have the
            # same value under its own label: the gradient g_1 = 1 and the answer b_1 = 1).
            key_lines = re.findall(rf"^\s*(\S.*?{re.escape(shown)})(?: \\\\)?(?:\[4pt\])?$",
                                   section(text["key"], fmt, problem), re.M)
            assert key_lines, (problem, name)
            for line in key_lines:
                assert line not in section(text["problems"], fmt, problem), (problem, name)
    assert ANSWER_HEADING[fmt] in text["key"] and ANSWER_HEADING[fmt] not in text["problems"]
    for words in essays.values():
        opening = letters(words)[:40]           # escaping and line breaks leave the letters as they are
        assert opening in letters(text["key"]) and opening in letters(text["solutions"])
        assert opening not in letters(text["problems"])


def test_problem_sheet_names_an_earlier_answer_instead_of_printing_it(tmp_path):
    """A problem given an earlier problem's answer must not print it to students."""
    data = yaml.safe_load(SMALL_FILE.read_text())
    solved = json.loads(run_solver("solve", SMALL_FILE, "--format", "json").stdout)["problems"]
    source = next(p for p in solved if p["answers"].get("output", {}).get("type") == "matrix")
    output = source["answers"]["output"]
    follow_up = copy.deepcopy(next(p for p in data["problems"] if str(p["id"]) == source["id"]))
    follow_up.update(id="follow-up", statement="Do the same to the result.")
    follow_up["given"]["input"] = output["value"]
    data["problems"].append(follow_up)
    path = tmp_path / "chained.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    problems = sheet(path, "problems", "md").stdout
    assert f"is the answer to Problem {source['id']}" in problems.split("## Problem follow-up")[1]
    assert output["latex"] not in problems
    assert output["latex"] in sheet(path, "solutions", "md").stdout


def test_a_problem_sheet_shows_an_mlps_weights_biases_and_activations(tmp_path):
    """A student cannot compute an MLP's outputs without its layers; the sheet printed only the inputs."""
    path = tmp_path / "mlp.yaml"
    path.write_text(yaml.safe_dump({"problems": [{"id": "m", "kind": "mlp", "statement": "Compute the outputs.",
                                                  "given": {"inputs": [[0, 0], [1, 1]], "layers": [
                                                      {"weight": [[3, -7]], "bias": [5], "activation": "relu"}]}}]}))
    problems = sheet(path, "problems", "md").stdout
    assert all(text in problems for text in (r"3 & -7", r"\begin{bmatrix} 5 \end{bmatrix}", r"\mathrm{ReLU}"))


def test_solution_displays_itself_in_a_notebook():
    from solver.problems.load import solve_file
    _, solutions = solve_file(SMALL_FILE)
    for solution in (s for s in solutions if s.answers):        # essays have no Answer
        md = solution._repr_markdown_()
        assert "### 1. " in md and "### Answer" in md and md.count("$$") % 2 == 0
        assert solution.first_answer().label in md


def weird_file(tmp_path):
    """A shipped file with text that TeX and Markdown would otherwise read as markup."""
    data = yaml.safe_load(SMALL_FILE.read_text())
    data["title"] = r"50% of a_b & #1 \input{x}"
    data["problems"][0].update(id="x_1", statement="100% {literally} $5")
    path = tmp_path / "weird.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("mode", MODES)
def test_problem_file_text_is_escaped_in_every_sheet(mode, tmp_path):
    path = weird_file(tmp_path)
    latex = sheet(path, mode, "latex").stdout
    assert r"50\% of a\_b \& \#1 {\textbackslash}input\{x\}" in latex and "\\input{" not in latex
    assert r"Problem x\_1" in latex and r"100\% \{literally\} \$5" in latex
    md = sheet(path, mode, "md").stdout
    assert r"# 50% of a\_b & \#1 \\input\{x\}" in md and r"100% \{literally\} \$5" in md


def test_output_dir_gets_the_sheet_and_nothing_else(tmp_path):
    result = sheet(SMALL_FILE, "key", "md", "--output", tmp_path)
    written = tmp_path / "dsga1008-hw2-key.md"
    assert result.stdout == "" and str(written) in result.stderr
    assert list(tmp_path.iterdir()) == [written] and "Answer key" in written.read_text()


def test_unwritable_output_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_solver("sheet", SMALL_FILE, "--key", "--output", blocker / "out")
    assert result.returncode == 2 and result.stdout == ""
    assert "cannot write to" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == [blocker]


def test_pdf_needs_latex_format():
    result = run_solver("sheet", SMALL_FILE, "--format", "md", "--pdf")
    assert result.returncode == 2 and "--pdf" in result.stderr and "Traceback" not in result.stderr


def run_with_path(path_dirs, *args, cwd):
    """`solver ARGS...` from this checkout with PATH set to only `path_dirs` (Python is
    run by its full path), in `cwd`."""
    env = dict(os.environ, PATH=os.pathsep.join(map(str, path_dirs)), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_no_tex_engine_says_how_to_get_one(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    output = tmp_path / "output"
    result = run_with_path([empty], "sheet", SMALL_FILE, "--pdf", "--output", output, cwd=ROOT)
    assert result.returncode == 2 and result.stdout == ""
    message = result.stderr
    assert NO_TEX_HINT in message and "pdflatex" in message and message.count("\n") == 1, message
    assert not output.exists() or list(output.iterdir()) == []


# ---- PDFs: need TeX (skipped without it on a user's machine, required in CI) ----

def pdf_text(pdf, *options):
    text = subprocess.run([require_program("pdftotext"), *options, str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    text = text.replace("\u2212", "-")                 # TeX's minus sign
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 397,434 is one number


def sections(text, ids):
    """The PDF text of each problem: from its `Problem ID` heading to the next one."""
    starts = []
    for problem_id in ids:
        match = re.compile(rf"^Problem {re.escape(problem_id)}$", re.M).search(text, starts[-1] if starts else 0)
        assert match, problem_id
        starts.append(match.start())
    return {pid: text[start:end] for pid, start, end in zip(ids, starts, starts[1:] + [len(text)])}


def integers(text):
    """The whole numbers printed in `text`, as a multiset."""
    return Counter(int(n) for n in re.findall(r"(?<![\w.])-?\d+(?![\w.])", text))


def assert_answer_printed(section, answer, where):
    value, kind = answer["value"], answer["type"]
    if kind == "integer":
        assert integers(section)[value] >= 1, where
    elif kind == "shape":
        assert "×".join(map(str, value)) in re.sub(r"\s", "", section), where
    elif kind == "matrix" and all(isinstance(v, int) for v in np.ravel(value).tolist()):
        # pdftotext reads a matrix in no fixed order: every entry, as often as it occurs
        assert not Counter(np.ravel(value).tolist()) - integers(section), where


@pytest.mark.tex
@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_every_sheet_compiles_and_the_key_prints_the_answers(path, tmp_path):
    require_program("pdflatex")
    for mode in MODES:
        result = sheet(path, mode, "latex", "--pdf", "--output", tmp_path)
        assert "compiling" in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{path.stem}-{m}.pdf" for m in MODES)
    answers = shown_answers(path)
    key = sections(pdf_text(tmp_path / f"{path.stem}-key.pdf"), list(answers))
    checked = 0
    for problem, shown in answers.items():
        for name, answer in shown.items():
            assert_answer_printed(key[problem], answer, (problem, name))
            checked += answer["type"] in ("integer", "shape", "matrix")
    assert checked, "the file has answers the test can read back"
    problems = pdf_text(tmp_path / f"{path.stem}-problems.pdf")
    assert "Problems" in problems and "\nAnswer\n" not in problems


@pytest.mark.tex
def test_escaped_text_compiles_and_prints_literally(tmp_path):
    require_program("pdflatex")
    path = weird_file(tmp_path)
    for mode in MODES:
        sheet(path, mode, "latex", "--pdf", "--output", tmp_path / "out")
        text = pdf_text(tmp_path / "out" / f"weird-{mode}.pdf", "-raw")    # in the order it was written
        assert r"50% of a_b & #1 \input{x}" in text, text[:500]
        assert "Problem x_1" in text and "100% {literally} $5" in text


@pytest.mark.tex
def test_a_file_without_a_title_compiles_titled_by_its_name(tmp_path):
    """No `title`: pdflatex stopped at an empty {\\LARGE }\\\\ ("There's no line here to end")."""
    require_program("pdflatex")
    path = tmp_path / "homework3.yaml"
    path.write_text("problems:\n  - id: a\n    kind: essay\n    given: {model_answer: Yes.}\n")
    result = sheet(path, "solutions", "latex", "--pdf", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "homework3" in pdf_text(tmp_path / "out" / "homework3-solutions.pdf")


def test_characters_latex_cannot_print_are_refused_at_load(tmp_path):
    data = yaml.safe_load(SMALL_FILE.read_text())
    data["title"] = "Problem set \u6f22"           # a CJK character: pdflatex's inputenc has no glyph for it
    path = tmp_path / "cjk.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = run_solver("sheet", path, "--pdf", "--output", tmp_path / "output")
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert str(path) in result.stderr and "`title`" in result.stderr and "\u6f22 (U+6F22)" in result.stderr
    assert not (tmp_path / "output").exists()


@pytest.mark.tex
def test_latex_errors_are_reported_and_nothing_is_written(tmp_path):
    require_program("pdflatex")
    data = yaml.safe_load(SMALL_FILE.read_text())
    data["problems"][0]["statement"] = r"Math TeX does not know: $\nosuchmacro x$."
    path = tmp_path / "undefined.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    output = tmp_path / "output"
    result = run_solver("sheet", path, "--pdf", "--output", output)
    assert result.returncode == 2 and result.stdout == ""
    message = result.stderr.splitlines()[-1]
    assert "could not compile" in message and "Undefined control sequence" in message and "l." in message
    assert not output.exists() or list(output.iterdir()) == []


@pytest.mark.tex
def test_pdflatex_alone_runs_twice_and_unwritable_output_is_clean(tmp_path):
    """Without latexmk, pdflatex runs twice (longtable); the PDF goes to output/ by default."""
    pdflatex = require_program("pdflatex")
    only_pdflatex = tmp_path / "bin"
    only_pdflatex.mkdir()
    (only_pdflatex / "pdflatex").symlink_to(pdflatex)
    result = run_with_path([only_pdflatex], "sheet", SMALL_FILE, "--key", "--pdf", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pdflatex pass 1/2" in result.stderr and "pdflatex pass 2/2" in result.stderr
    assert [p.name for p in (tmp_path / "output").iterdir()] == ["dsga1008-hw2-key.pdf"]

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_solver("sheet", SMALL_FILE, "--pdf", "--output", blocker / "out")
    assert result.returncode == 2 and "cannot write to" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "bin", "output"]


@pytest.mark.tex
def test_a_tex_run_that_never_ends_is_stopped():
    require_program("pdflatex")
    from solver.core.errors import SolverError
    from solver.commands.sheet import compile_pdf
    endless = "\\documentclass{article}\\begin{document}\\def\\x{\\x}\\x\\end{document}\n"
    with pytest.raises(SolverError, match="took more than 2 s and was stopped"):
        compile_pdf(endless, "endless", timeout=2)
