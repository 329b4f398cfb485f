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
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import numpy as np

from ..math.printing import (abbreviated, answer_value, column_groups, display_rows, latex, marked, member_values,
                             members, products, split_columns, table_parts, text_display)
from ..core.prose import escape_html, escape_latex, html_literal, escape_markdown, math_to_text, prose_text
from ..answers.types import answer_type
from .diagram import laid_out, mermaid_text

FORMATS = ("md", "latex", "text", "json", "html")
EXTENSIONS = {"md": "md", "latex": "tex", "text": "txt", "json": "json", "html": "html"}
# What a sheet shows (see templates/common/problem.j2), and the subtitle that says so.
SHEET_TITLES = {"solutions": "Worked solutions", "key": "Answer key", "problems": "Problems"}


def templates_dir() -> Path:
    """Templates ship inside the wheel (solver/templates) and live at the repo top."""
    package = Path(__file__).resolve().parent.parent
    packaged = package / "templates"
    return packaged if packaged.is_dir() else package.parent / "templates"


PROSE = {"latex": lambda s: escape_latex(s), "md": lambda s: escape_markdown(s), "text": lambda s: prose_text(s),
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
    env.filters.update(tex=latex, products=products, prose=PROSE[fmt],
                       inline_math=INLINE_MATH.get(fmt, lambda s: f"${s}$"),
                       asked=asked, arrays=given_arrays, dollar_math=dollar_math,
                       title_text=lambda s: html_literal(prose_text(s)),
                       table_parts=table_parts, column_groups=column_groups, split_columns=split_columns, display_rows=display_rows,
                       marked=marked, members=members, member_values=member_values, abbreviated=abbreviated,
                       shown=answer_value,
                       tall_blank=lambda answer: answer_type(answer.type).tall_blank,
                       laid_out=lambda diagram: laid_out(diagram, fmt), mermaid=mermaid_text, drawn=drawn)
    env.globals["format"] = fmt
    env.tests.update(by_rows=lambda answer: answer_type(answer.type).by_rows)
    return env


def drawn(solutions) -> bool:
    """Does any step (or sub-step) of these solutions draw a graph (a LaTeX sheet then loads TikZ)?"""
    def any_drawn(steps):
        return any(step.diagram is not None or any_drawn(step.substeps) for step in steps)
    return any(any_drawn(solution.steps) for solution in solutions)


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
    """The answers a sheet shows: those the problem asks for, in the order it asks them,
    else all but the details, in the kind's order."""
    if ask is not None:
        return [solution.answers[name] for name in dict.fromkeys(ask) if name in solution.answers]
    return [a for a in solution.answers.values() if not a.detail]


def given_arrays(given, earlier=()) -> list[Labelled]:
    """The matrices a problem gives, named as the kind's derivation writes them (its
    GIVEN_SYMBOLS, or the given's own `shown_arrays()`), else by their fields: a statement cannot show them.

    One that is the answer of an `earlier` (problem, solution) names that problem
    as its source: a problem sheet must not print it.
    """
    def source(value):
        return next((problem.id for problem, solution in earlier for answer in solution.answers.values()
                     if isinstance(answer.value, np.ndarray) and np.array_equal(answer.value, value)), None)
    if hasattr(given, "shown_arrays"):          # a given whose tensors are not fields of their own (named ones)
        return [Labelled(label, value, source(value)) for label, value in given.shown_arrays()]
    symbols = getattr(sys.modules.get(type(given).__module__), "GIVEN_SYMBOLS", {})
    return [Labelled(symbols.get(f.name, rf"\text{{{f.name.replace('_', ' ')}}}"), value, source(value))
            for f in dataclasses.fields(given) if isinstance(value := getattr(given, f.name), np.ndarray)]


# ---- text: the Markdown laid out for a terminal ---------------------------------

def dollar_math(cell) -> str:
    """A table cell's $...$ math (kind templates write it so) as HTML's \\( \\)."""
    return re.sub(r"\$(.+?)\$", lambda m: rf"\({html.escape(m[1])}\)", str(cell))


DISPLAY = re.compile(r"\$\$\s*(?:\\begin\{aligned\}(.*?)\\end\{aligned\}|(.*?))\s*\$\$", re.S)
INLINE = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$", re.S)


def markdown_to_text(md: str) -> str:
    """The Markdown as plain text: math in Unicode, displays aligned at "=", matrices as
    rows, tables as columns, no markup."""
    md = DISPLAY.sub(lambda m: "\n".join(text_display(m.group(1) or m.group(2))), md)
    md = INLINE.sub(lambda m: math_to_text(m.group(1)), md)
    return "\n".join(plain_lines(md.split("\n")))



def plain_lines(lines: list[str]) -> list[str]:
    """Markdown markup as text: headings underlined, emphasis marks dropped, tables as columns."""
    out, table = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            rows = [[cell.strip(" ") for cell in row.strip().strip("|").split("|")] for row in table]
            is_table = len(rows) > 1 and all(re.fullmatch(r":?-+:?", cell) for cell in rows[1])
            out += table_lines(rows) if is_table else table
            table = []
        if heading := re.match(r"(#+) (.*)", line):
            level, title = len(heading.group(1)), heading.group(2)
            out += [title] + (["=-"[level - 1] * len(title)] if level <= 2 else [])
        else:
            out.append(re.sub(r"^\*\*?(.*?)\*\*?$", r"\1", line))
    return out[:-1]


def table_lines(rows) -> list[str]:
    """A Markdown table (header, alignment row, rows) as aligned columns."""
    header, align, body = rows[0], rows[1], rows[2:]
    widths = [max(len(row[j]) for row in [header] + body if j < len(row)) for j in range(len(header))]
    def line(row):
        return "  ".join(cell.rjust(w) if a.endswith(":") else cell.ljust(w)
                         for cell, w, a in zip(row, widths, align)).rstrip()
    return [line(header), "  ".join("-" * w for w in widths)] + [line(row) for row in body]


# ---- JSON -----------------------------------------------------------------

def to_json(pset, solutions) -> dict:
    return {"title": pset.title, "problems": [
        {"id": p.id, "kind": p.kind,
         "answers": {a.name: answer_json(a) for a in s.answers.values()},
         "steps": [step_json(step) for step in s.steps]}
        for p, s in zip(pset.problems, solutions)]}


def answer_json(answer) -> dict:
    kind = answer_type(answer.type)
    return {"type": answer.type, "value": kind.to_json(answer.value), "latex": kind.latex(answer)}


def step_json(step) -> dict:
    """A derivation step as data: its title and text (prose, `$...$` is math), each math line
    as one LaTeX equation, a kind's own layout as the LaTeX display a sheet shows, and sub-steps."""
    out = {"title": step.title, "text": step.text,
           "math": [" = ".join([latex(line[0]), *members(line)]) for line in step.math]}
    if step.layout:
        kind, name = step.layout.split(".")
        layouts = environment("latex").get_template(f"kinds/{kind}.j2").module
        out["display"] = re.sub(r"\n{2,}", "\n", str(getattr(layouts, name)(step.data))).strip()
    if step.diagram is not None:
        out["diagram"] = diagram_json(step.diagram)
    if step.substeps:
        out["steps"] = [step_json(sub) for sub in step.substeps]
    return out


def diagram_json(diagram) -> dict:
    """A drawn graph as data: its vertices and wires, each math value as LaTeX (null where it has none)."""
    def written(value):
        return None if value is None else latex(value)
    return {"vertices": [{field.name: value if field.name == "id" else written(value)
                          for field in dataclasses.fields(vertex) for value in [getattr(vertex, field.name)]}
                         for vertex in diagram.vertices],
            "wires": [{"source": wire.source, "target": wire.target, "value": written(wire.value),
                       "gradient": written(wire.gradient)} for wire in diagram.wires]}

