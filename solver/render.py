"""Render solutions as LaTeX, Markdown, terminal text or JSON.

LaTeX and Markdown come from Jinja templates; text is the Markdown with its
math turned into Unicode by pylatexenc; JSON follows DESIGN.md. Both template
sets use ((* *)) and ((( ))) as delimiters: LaTeX math (in either format) is
full of braces that Jinja's {{ }} and {% %} would clash with.
"""
from __future__ import annotations

import dataclasses
import html
import json
import re
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import numpy as np

from .formula import Formula, number_tex
from .tables import Table

FORMATS = ("md", "latex", "text", "json", "html")
EXTENSIONS = {"md": "md", "latex": "tex", "text": "txt", "json": "json", "html": "html"}
# What a sheet shows (see templates/common/problem.j2), and the subtitle that says so.
SHEET_TITLES = {"solutions": "Worked solutions", "key": "Answer key", "problems": "Problems"}


def templates_dir() -> Path:
    """Templates ship inside the wheel (solver/templates) and live at the repo top."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


PROSE = {"latex": lambda s: escape_latex(s), "md": lambda s: escape_markdown(s), "text": str,
         "html": lambda s: escape_html(s)}
INLINE_MATH = {"html": lambda s: rf"\({html.escape(s)}\)"}     # the others: $...$
FOLDERS = {"latex": "latex", "html": "html"}                     # the others: markdown


@lru_cache(maxsize=None)
def environment(fmt: str) -> jinja2.Environment:
    """Jinja for one format; text uses the Markdown templates with plain prose."""
    root = templates_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([root / FOLDERS.get(fmt, "markdown"), root / "common"]),
        block_start_string="((*", block_end_string="*))",
        variable_start_string="(((", variable_end_string=")))",
        comment_start_string="((=", comment_end_string="=))",
        undefined=jinja2.StrictUndefined, autoescape=False,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        bytecode_cache=template_cache())
    env.filters.update(tex=tex, products=products, prose=PROSE[fmt],
                       inline_math=INLINE_MATH.get(fmt, lambda s: f"${s}$"),
                       asked=asked, arrays=given_arrays, dollar_math=dollar_math)
    return env


def template_cache():
    """Compiled templates kept between runs (a tenth of a second per run), in Jinja's
    private per-user temporary folder; none where that cannot be made."""
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def render(pset, solutions, fmt: str, mode: str = "solutions") -> str:
    """The whole problem set in one format; `mode` (a SHEET_TITLES key) says what each problem shows."""
    if fmt == "json":
        return json.dumps(to_json(pset, solutions), indent=2, ensure_ascii=False) + "\n"
    text = environment(fmt).get_template("sheet.j2").render(
        pset=pset, items=list(zip(pset.problems, solutions)), mode=mode, sheet_title=SHEET_TITLES[mode])
    return finish(text, fmt)


def render_solution(solution, fmt: str = "md") -> str:
    """One solution on its own (steps and answers, no statement), as a notebook shows it."""
    return finish(str(environment(fmt).get_template("problem.j2").module.worked(solution)), fmt)


def finish(text: str, fmt: str) -> str:
    text = re.sub(r"\n{3,}", "\n\n", text)
    if fmt == "html":
        from .mathml import typeset
        return typeset(text)
    return markdown_to_text(text) if fmt == "text" else text


class Labelled(NamedTuple):
    label: str
    value: Any
    source: str | None = None     # the id of the earlier problem whose answer this is


def asked(solution, ask) -> list:
    """The answers a sheet shows: those the problem asks for, else all but the details."""
    return [a for a in solution.answers.values()
            if (a.name in ask if ask is not None else not a.detail)]


def given_arrays(given, earlier=()) -> list[Labelled]:
    """The matrices a problem gives, named by their fields: a statement cannot show them.

    One that is the answer of an `earlier` (problem, solution) names that problem
    as its source: a problem sheet must not print it.
    """
    def source(value):
        return next((problem.id for problem, solution in earlier for answer in solution.answers.values()
                     if isinstance(answer.value, np.ndarray) and np.array_equal(answer.value, value)), None)
    return [Labelled(rf"\text{{{f.name.replace('_', ' ')}}}", value, source(value))
            for f in dataclasses.fields(given) if isinstance(value := getattr(given, f.name), np.ndarray)]


# ---- values to LaTeX -------------------------------------------------------

def tex(value) -> str:
    """LaTeX math for any value a step or answer holds."""
    if isinstance(value, bool):
        return r"\text{yes}" if value else r"\text{no}"
    if isinstance(value, np.ndarray):
        return array_tex(value)
    if isinstance(value, tuple):
        return r" \times ".join(tex(v) for v in value)
    if isinstance(value, list):
        return r",\ ".join(tex(v) for v in value)
    return number_tex(value)


def array_tex(a: np.ndarray) -> str:
    if a.ndim == 0:
        return tex(a.item())
    if a.ndim == 1:
        return r"\begin{bmatrix} " + " & ".join(tex(v) for v in a) + r" \end{bmatrix}"
    if a.ndim == 2:
        rows = (" & ".join(tex(v) for v in row) for row in a)
        return r"\begin{bmatrix} " + r" \\ ".join(rows) + r" \end{bmatrix}"
    return r"\left(" + r",\ ".join(array_tex(sub) for sub in a) + r"\right)"


def products(terms, per_row: int) -> list[str]:
    """`x \\cdot w` terms of a window sum, `per_row` to a display row."""
    def factor(v):
        t = tex(v)
        return rf"\left({t}\right)" if t.startswith("-") else t
    parts = [rf"{factor(x)} \cdot {factor(w)}" for x, w in terms]
    return [" + ".join(parts[i:i + per_row]) for i in range(0, len(parts), per_row)]


# ---- prose ----------------------------------------------------------------

@lru_cache(maxsize=4096)           # statements and step texts recur in every variant and sheet
def escape_latex(s: str) -> str:
    """Instructors' text printed literally: %, _, &, #, \\input{...} and all."""
    return latex_encoder().unicode_to_latex(str(s))


@lru_cache(maxsize=1)
def latex_encoder():
    """pylatexenc's encoder, with × · | < > from the math fonts: pylatexenc's text-companion
    glyphs are bitmaps in a basic TeX install, and PDF text tools read them as other letters
    (| < > in the default OT1 text font print as — ¡ ¿)."""
    from pylatexenc import latexencode as enc
    math_signs = enc.UnicodeToLatexConversionRule(enc.RULE_DICT, {
        ord("×"): r"\ensuremath{\times}", ord("·"): r"\ensuremath{\cdot}",
        ord("|"): r"\ensuremath{|}", ord("<"): r"\ensuremath{<}", ord(">"): r"\ensuremath{>}"})
    return enc.UnicodeToLatexEncoder(conversion_rules=[math_signs, "defaults"],
                                     non_ascii_only=False, unknown_char_warning=False)


MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|$])")


def escape_markdown(s: str) -> str:
    return MARKDOWN_SPECIAL.sub(r"\\\1", str(s))


def escape_html(s: str) -> str:
    """Instructors' text as HTML text; $ and \\ as entities, so no prose reads as math;
    a blank line starts a paragraph, as in LaTeX."""
    text = html.escape(str(s)).replace("$", "&#36;").replace("\\", "&#92;")
    return re.sub(r"\n\s*\n\s*", '\n<br class="paragraph">\n', text)


def dollar_math(cell) -> str:
    """A table cell's $...$ math (kind templates write it so) as HTML's \\( \\)."""
    return re.sub(r"\$(.+?)\$", lambda m: rf"\({html.escape(m[1])}\)", str(cell))


MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.S)


def markdown_to_text(md: str) -> str:
    """Markdown with every $...$ and $$...$$ turned into readable Unicode."""
    converter = text_converter()

    def replace(match):
        display, inline = match.groups()
        body = converter.latex_to_text(display or inline).strip()
        if display is not None:
            return "\n".join("    " + line.strip() for line in body.splitlines() if line.strip())
        return body
    return MATH_SPAN.sub(replace, md)


@lru_cache(maxsize=1)
def text_converter():
    from pylatexenc import latex2text

    def fraction(node, l2tobj):
        top, bottom = (l2tobj.nodelist_to_text([arg]).strip() for arg in node.nodeargd.argnlist[-2:])
        wrap = lambda s: s if re.fullmatch(r"-?[\w.]+", s) else f"({s})"  # noqa: E731
        return f"{wrap(top)}/{wrap(bottom)}"

    context = latex2text.get_default_latex_context_db().filter_context(keep_categories=None)
    context.add_context_category("solver", prepend=True, macros=[
        latex2text.MacroTextSpec("frac", simplify_repl=fraction),
        latex2text.MacroTextSpec("dfrac", simplify_repl=fraction),
        latex2text.MacroTextSpec("left", ""), latex2text.MacroTextSpec("right", ""),
    ])
    return latex2text.LatexNodes2Text(latex_context=context, math_mode="text")


# ---- JSON -----------------------------------------------------------------

def to_json(pset, solutions) -> dict:
    return {"title": pset.title, "problems": [
        {"id": p.id, "kind": p.kind,
         "answers": {a.name: {"type": a.type, "value": json_value(a.value), "latex": tex(a.value)}
                     for a in s.answers.values()}}
        for p, s in zip(pset.problems, solutions)]}


def json_value(v):
    """ints stay ints; exact rationals and expressions become strings sympy reads."""
    if isinstance(v, np.ndarray):
        return [json_value(x) for x in v]
    if isinstance(v, (tuple, list)):
        return [json_value(x) for x in v]
    if isinstance(v, bool) or isinstance(v, (int, float)):
        return v
    if isinstance(v, Fraction):
        return str(v)
    if isinstance(v, Formula):
        return json_value(v.value())
    if isinstance(v, Table):
        return [dict(layer=label, **{k: json_value(x) for k, x in row.items()})
                for label, row in zip(v.labels, v.rows)]
    return str(v)
