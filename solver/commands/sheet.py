"""Sheets: a whole problem set as one document, and its PDF.

A sheet is worked solutions, an answer key or a problem sheet for students
(render.SHEET_TITLES), in LaTeX, Markdown or HTML. The PDF is made in a temporary
directory by latexmk, or else by pdflatex run twice (longtable settles its
column widths on the second pass), never with shell escape, and handed back as
bytes: the caller decides where it goes, so a failed run leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

from ..core.errors import SolverError
from ..render import SHEET_TITLES, render
from ..problems.load import solve_file

MODES = tuple(SHEET_TITLES)
FORMATS = ("latex", "md", "html")
TEX_TIMEOUT = 300          # seconds for one TeX run; a sheet takes a few
TEX_OPTIONS = ("-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape")
ERROR_LINES = 4            # of the log, from its first error on
NO_TEX = ("--pdf needs a TeX engine, pdflatex, and it is not on the PATH. "
          "Install TeX Live (Debian/Ubuntu: apt-get install texlive-latex-base "
          "texlive-latex-recommended texlive-latex-extra; macOS: MacTeX or BasicTeX; "
          "others: https://tug.org/texlive/), or leave out --pdf to get the LaTeX source "
          "(with --output DIR to save it) and compile it elsewhere, e.g. on Overleaf.")


def build_sheet(path, mode: str = "solutions", fmt: str = "latex") -> str:
    """The sheet of one mode (MODES) for the problem file at `path`, in one format (FORMATS)."""
    pset, solutions = solve_file(path)
    return render(pset, solutions, fmt, mode=mode)


def sheet_stem(path, mode: str) -> str:
    """The file name of a sheet without its extension: hw2.yaml, key -> hw2-key."""
    return f"{Path(path).stem}-{mode}"


def compile_pdf(latex: str, name: str, progress: Callable[[str], None] = lambda message: None,
                timeout: float = TEX_TIMEOUT) -> bytes:
    """The PDF of a LaTeX document; `name` names its files (and the messages)."""
    runs = tex_runs(f"{name}.tex")
    with tempfile.TemporaryDirectory(prefix="solver-tex-") as work:
        Path(work, f"{name}.tex").write_text(latex, encoding="utf-8")
        pdf = Path(work, f"{name}.pdf")
        for label, command in runs:
            progress(f"compiling {name}.tex: {label}")
            returncode, output = run_tex(command, work, timeout)
            if returncode != 0 or not pdf.exists():
                raise SolverError(f"{Path(command[0]).name} could not compile {name}.tex, so no PDF "
                                  f"was written. First error: {first_error(Path(work, f'{name}.log'), output)} "
                                  f"(To see the LaTeX, leave out --pdf.)")
        return pdf.read_bytes()


def tex_runs(source: str) -> list[tuple[str, list[str]]]:
    """The commands that turn `source` into a PDF, each with a label for the progress line."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        raise SolverError(NO_TEX)
    latexmk = shutil.which("latexmk")
    if latexmk is not None:     # -norc: no rc file may add commands to run
        return [("latexmk (as many pdflatex passes as needed)",
                 [latexmk, "-pdf", "-norc", *TEX_OPTIONS, source])]
    return [(f"pdflatex pass {n}/2", [pdflatex, *TEX_OPTIONS, source]) for n in (1, 2)]


def run_tex(command: list[str], work: str, timeout: float) -> tuple[int, str]:
    """Run one TeX command in `work`: its exit status and output.

    It runs in its own process group so that a timeout also stops the pdflatex
    that latexmk started.
    """
    engine = Path(command[0]).name
    try:
        with subprocess.Popen(command, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              start_new_session=True) as process:
            try:
                output, _ = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):     # it may have just ended
                    os.killpg(process.pid, signal.SIGKILL)
                raise SolverError(f"{engine} took more than {timeout:g} s and was stopped; "
                                  "no PDF was written") from None
    except OSError as error:
        raise SolverError(f"cannot run {engine}: {error.strerror or error}") from None
    return process.returncode, output


def first_error(log: Path, output: str) -> str:
    """The first LaTeX error of the log (`! message` and its `l.NN` line), on one line;
    without one, the end of the output."""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = output
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("!")), None)
    if start is None:
        shown = [line for line in lines if line][-ERROR_LINES:]
    else:
        message = list(itertools.takewhile(bool, lines[start:]))[:ERROR_LINES]
        shown = message + [line for line in lines[start:start + 20] if re.match(r"l\.\d+ ", line)][:1]
    return re.sub(r"\s+", " ", " ".join(shown))
