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
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import numpy as np

from .formula import Formula, number_tex
from .prose import escape_html, escape_latex, html_literal, escape_markdown, math_to_text, prose_text
from .answers.tables import Table

FORMATS = ("md", "latex", "text", "json", "html")
EXTENSIONS = {"md": "md", "latex": "tex", "text": "txt", "json": "json", "html": "html"}
# What a sheet shows (see templates/common/problem.j2), and the subtitle that says so.
SHEET_TITLES = {"solutions": "Worked solutions", "key": "Answer key", "problems": "Problems"}


def templates_dir() -> Path:
    """Templates ship inside the wheel (solver/templates) and live at the repo top."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    return packaged if packaged.is_dir() else here.parent / "templates"


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
    env.filters.update(tex=tex, products=products, prose=PROSE[fmt],
                       inline_math=INLINE_MATH.get(fmt, lambda s: f"${s}$"),
                       asked=asked, arrays=given_arrays, dollar_math=dollar_math,
                       title_text=lambda s: html_literal(prose_text(s)),
                       table_parts=table_parts, display_rows=display_rows,
                       marked=marked, members=members)
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
    """The matrices a problem gives, named as the kind's derivation writes them (its
    GIVEN_SYMBOLS), else by their fields: a statement cannot show them.

    One that is the answer of an `earlier` (problem, solution) names that problem
    as its source: a problem sheet must not print it.
    """
    def source(value):
        return next((problem.id for problem, solution in earlier for answer in solution.answers.values()
                     if isinstance(answer.value, np.ndarray) and np.array_equal(answer.value, value)), None)
    symbols = getattr(sys.modules.get(type(given).__module__), "GIVEN_SYMBOLS", {})
    return [Labelled(symbols.get(f.name, rf"\text{{{f.name.replace('_', ' ')}}}"), value, source(value))
            for f in dataclasses.fields(given) if isinstance(value := getattr(given, f.name), np.ndarray)]


# ---- values to LaTeX -------------------------------------------------------

class Marked(NamedTuple):
    """A value shown boxed: the cells a step changed."""
    value: Any


def marked(array: np.ndarray, changed: np.ndarray) -> np.ndarray:
    """The array with the cells where `changed` holds marked."""
    out = np.empty(array.shape, dtype=object)
    for index, value in np.ndenumerate(array):
        out[index] = Marked(value) if changed[index] else value
    return out


def tex(value) -> str:
    """LaTeX math for any value a step or answer holds."""
    if isinstance(value, Marked):
        return rf"\boxed{{{tex(value.value)}}}"
    if isinstance(value, Table):
        return table_tex(value)
    if isinstance(value, bool):
        return r"\text{yes}" if value else r"\text{no}"
    if isinstance(value, np.ndarray):
        return array_tex(value)
    if isinstance(value, tuple):
        return r" \times ".join(tex(v) for v in value)
    if isinstance(value, list):
        return r",\ ".join(tex(v) for v in value)
    return number_tex(value)


MATH_WIDTH = 60           # digits of math a display line holds right of its "=" (the text width at 11pt)


def array_tex(a: np.ndarray) -> str:
    return _array(a)[0]


def _array(a: np.ndarray) -> tuple[str, int]:
    """An array's LaTeX and about how many characters wide it prints. One too wide for
    the page is split: channels stacked, columns in blocks (each named by its columns)."""
    if a.ndim == 0:
        text = tex(a.item())
        return text, visible_length(text)
    if a.ndim >= 3:
        parts = [_array(sub) for sub in a]
        across = sum(width + 2 for _, width in parts) + 2
        if across <= MATH_WIDTH:
            return r"\left(" + r",\ ".join(text for text, _ in parts) + r"\right)", across
        stacked = r", \\[4pt] ".join(text for text, _ in parts)
        return rf"\left(\begin{{matrix}} {stacked} \end{{matrix}}\right)", max(width for _, width in parts) + 4
    rows = [[tex(v) for v in row] for row in (a if a.ndim == 2 else [a])]
    if a.size == 0:
        return r"\begin{bmatrix} \end{bmatrix}", 2
    widths = [max(visible_length(row[j]) for row in rows) + 2 for j in range(len(rows[0]))]
    blocks = column_blocks(widths)
    if len(blocks) == 1 or len(widths) <= 3:
        return bmatrix(rows, 0, len(widths)), sum(widths) + 2
    named = "entries" if a.ndim == 1 else "columns"
    stacked = r" \\[4pt] ".join(bmatrix(rows, start, stop) + rf"_{{\text{{{named} {start + 1}--{stop}}}}}"
                                 for start, stop in blocks)
    return rf"\begin{{array}}{{@{{}}l@{{}}}} {stacked} \end{{array}}", MATH_WIDTH


def bmatrix(rows, start, stop) -> str:
    body = r" \\ ".join(" & ".join(row[start:stop]) for row in rows)
    return rf"\begin{{bmatrix}} {body} \end{{bmatrix}}"


def column_blocks(widths) -> list[tuple[int, int]]:
    """(start, stop) column ranges, each at most MATH_WIDTH characters across (at least one column)."""
    blocks, start, used = [], 0, 0
    for j, width in enumerate(widths):
        if used + width > MATH_WIDTH - 6 and j > start:      # room for the block's name
            blocks.append((start, j))
            start, used = j, 0
        used += width
    return blocks + [(start, len(widths))]


def members(line) -> list[str]:
    """The LaTeX of an equation's members after its first, each once: "= 11/6 = 11/6" says 11/6 once."""
    shown = [tex(value) for value in line]
    return [text for before, text in zip(shown, shown[1:]) if text != before]


def display_rows(value) -> list[str]:
    """A value's LaTeX as display rows of at most MATH_WIDTH digits, broken before a + or -
    outside any bracket, else between bracketed factors; a row after the first starts
    with its sign (a product's with \\cdot)."""
    text = value if isinstance(value, str) else tex(value)
    breaks = top_level_breaks(text)
    signs = [(at, sign) for at, sign in breaks if sign is not None]
    breaks = signs or [(at, r"\cdot ") for at, _ in breaks]
    rows, start, last = [], (0, ""), None
    for at in breaks + [(len(text), "")]:
        if last is not None and visible_length(text[start[0]:at[0]]) > MATH_WIDTH \
                and visible_length(text[start[0]:last[0]]) >= MATH_WIDTH // 4:
            rows.append(start[1] + text[start[0]:last[0]].strip())
            start = last
        last = at
    return rows + [start[1] + text[start[0]:].strip()]


def top_level_breaks(text: str) -> list[tuple[int, str]]:
    """Where a display may break: (position, "") before " + " and " - ", and (position, None)
    between factors " \\left(" , all outside braces, \\left...\\right and environments."""
    found, depth = [], 0
    for i in range(len(text)):
        if depth == 0 and text.startswith((" + ", " - "), i):
            found.append((i, ""))
        elif depth == 0 and i > 0 and text.startswith(r" \left(", i):
            found.append((i, None))
        if text.startswith((r"\left", r"\begin{"), i) or text[i] == "{":
            depth += 1
        elif text.startswith((r"\right", r"\end{"), i) or text[i] == "}":
            depth -= 1
    return found


TABLE_WIDTH = 80          # digits of cells a printed table holds across (a page at \small)


def table_parts(table: Table) -> list[dict]:
    """A table answer as printed tables of at most TABLE_WIDTH characters across, each
    with the layer column: {"header": [prose], "rows": [[LaTeX math]]}."""
    cells = [[tex(row[name]) for name in table.columns] for row in table.rows]
    widths = [max(visible_length(t) for t in [name, *column]) + 2
              for name, column in zip(table.columns, zip(*cells))]
    parts, start, used = [], 0, 0
    for i, width in enumerate(widths + [TABLE_WIDTH + 1]):
        if i == len(widths) or (used + width > TABLE_WIDTH and i > start):
            parts.append({"header": ["layer"] + [name.replace("_", " ") for name in list(table.columns)[start:i]],
                          "rows": [[label] + row[start:i] for label, row in zip(table.labels, cells)]})
            start, used = i, 0
        used += width
    return parts


def visible_length(tex_text: str) -> int:
    """About how wide LaTeX math prints, in digits (a letter or macro one, an operator three)."""
    text = re.sub(r"\\(?:left|right)(?![A-Za-z])|[{}\s]", "", tex_text)
    operators = len(re.findall(r"(?<=[^(\[{&=,^_])[-+=]|\\cdot|\\times|\\odot", text))
    return len(re.sub(r"\\[A-Za-z]+|\\.", "x", text)) + 2 * operators


def table_tex(table: Table) -> str:
    """A table answer as one LaTeX array (the JSON `latex` of a table)."""
    names = ["layer", *table.columns]
    header = " & ".join(rf"\text{{{name.replace('_', ' ')}}}" for name in names)
    rows = [" & ".join([label] + [tex(row[name]) for name in table.columns])
            for label, row in zip(table.labels, table.rows)]
    return rf"\begin{{array}}{{{'r' * len(names)}}} {header} \\ \hline " + r" \\ ".join(rows) + r" \end{array}"


def products(terms, per_row: int) -> list[str]:
    """`x \\cdot w` terms of a window sum, `per_row` to a display row."""
    def factor(v):
        t = tex(v)
        return rf"\left({t}\right)" if t.startswith("-") else t
    parts = [rf"{factor(x)} \cdot {factor(w)}" for x, w in terms]
    return [" + ".join(parts[i:i + per_row]) for i in range(0, len(parts), per_row)]


# ---- text: the Markdown laid out for a terminal ---------------------------------

def dollar_math(cell) -> str:
    """A table cell's $...$ math (kind templates write it so) as HTML's \\( \\)."""
    return re.sub(r"\$(.+?)\$", lambda m: rf"\({html.escape(m[1])}\)", str(cell))


DISPLAY = re.compile(r"\$\$\s*(?:\\begin\{aligned\}(.*?)\\end\{aligned\}|(.*?))\s*\$\$", re.S)
INLINE = re.compile(r"(?<!\\)\$(.+?)(?<!\\)\$", re.S)
MATRIX = re.compile(r"\\begin\{([bp]?matrix|array)\}(\{[^{}]*(?:\{[^{}]*\}[^{}]*)*\})?")


def markdown_to_text(md: str) -> str:
    """The Markdown as plain text: math in Unicode, displays aligned at "=", matrices as
    rows, tables as columns, no markup."""
    md = DISPLAY.sub(lambda m: "\n".join(text_display(m.group(1) or m.group(2))), md)
    md = INLINE.sub(lambda m: math_to_text(m.group(1)), md)
    return "\n".join(plain_lines(md.split("\n")))


def text_display(body: str) -> list[str]:
    """Rows aligned at their first &, each member a box that may span lines (a matrix)."""
    rows = [re.sub(r"^\[[^\]]*\]", "", row).strip() for row in split_top(body.strip(), r"\\")]
    pairs = [aligned_at(row) for row in rows if row]
    lefts = [text_box(left) for left, _ in pairs]
    width = max((len(line) for box in lefts for line in box), default=0)
    lines = []
    for left, (_, right) in zip(lefts, pairs):
        right_box = text_box(right)
        lines += beside([[line.rjust(width) for line in left], [" "], right_box])
    return ["    " + line.rstrip() for line in lines]


def aligned_at(row: str) -> tuple[str, str]:
    """A display row as (left of its first &, the rest)."""
    parts = split_top(row, "&")
    return (parts[0], " ".join(parts[1:])) if len(parts) > 1 else ("", row)


def text_box(tex_text: str) -> list[str]:
    """LaTeX math as lines of text: matrices as aligned rows in brackets, the rest on one line."""
    boxes, at = [], 0
    for start, end, name, inner in top_matrices(tex_text):
        boxes.append([math_to_text(tex_text[at:start])])
        rows = [[text_box(cell) for cell in split_top(row, "&")]
                for row in (r.strip() for r in split_top(inner, r"\\")) if row]
        boxes.append(matrix_box(rows) if name.endswith("matrix") and name != "matrix"
                     else [line for row in rows for cell in row for line in cell])
        at = end
    boxes.append([math_to_text(tex_text[at:])])
    spaced = [part for box in boxes if box != [""] for part in ([" "], box)][1:]
    return beside(spaced) or [""]


def matrix_box(rows) -> list[str]:
    cells = [[" ".join(cell) for cell in row] for row in rows]
    widths = [max(len(row[j]) for row in cells if j < len(row)) for j in range(max(map(len, cells)))]
    return ["[ " + "  ".join(cell.rjust(w) for cell, w in zip(row, widths)) + " ]" for row in cells]


def beside(boxes) -> list[str]:
    """Boxes of lines side by side, centred on each other."""
    height = max((len(box) for box in boxes), default=0)
    out = [""] * height
    for box in boxes:
        width = max(map(len, box), default=0)
        top = (height - len(box)) // 2
        for i in range(height):
            line = box[i - top] if 0 <= i - top < len(box) else ""
            out[i] += line.ljust(width)
    return out


def top_matrices(text: str):
    """(start, end, environment, body) of each outermost matrix or array in `text`."""
    found, i = [], 0
    while (match := MATRIX.search(text, i)) is not None:
        name, depth, j = match.group(1), 1, match.end()
        while depth and j < len(text):
            if text.startswith(r"\begin{", j):
                depth += 1
            elif text.startswith(r"\end{", j):
                depth -= 1
            j += 1
        close = text.index("}", j) + 1 if depth == 0 else len(text)
        found.append((match.start(), close, name, text[match.end():j - 1]))
        i = close
    return found


def split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside braces and environments."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith(r"\begin{", i) or text.startswith(r"\left", i):
            depth += 1
        elif text.startswith(r"\end{", i) or text.startswith(r"\right", i):
            depth -= 1
        elif text[i] == "\\" and not (depth == 0 and text.startswith(separator, i)):
            i += 2
            continue
        elif text[i] in "{}":
            depth += 1 if text[i] == "{" else -1
        if depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            i = start = i + len(separator)
            continue
        i += 1
    return parts + [text[start:]]


def plain_lines(lines: list[str]) -> list[str]:
    """Markdown markup as text: headings underlined, emphasis marks dropped, tables as columns."""
    out, table = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            rows = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in table]
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
         "answers": {a.name: {"type": a.type, "value": json_value(a.value), "latex": tex(a.value)}
                     for a in s.answers.values()},
         "steps": [step_json(step) for step in s.steps]}
        for p, s in zip(pset.problems, solutions)]}


def step_json(step) -> dict:
    """A derivation step as data: its title and text (prose, `$...$` is math), each math line
    as one LaTeX equation, a kind's own layout as the LaTeX display a sheet shows, and sub-steps."""
    out = {"title": step.title, "text": step.text,
           "math": [" = ".join([tex(line[0]), *members(line)]) for line in step.math]}
    if step.layout:
        kind, name = step.layout.split(".")
        layouts = environment("latex").get_template(f"kinds/{kind}.j2").module
        out["display"] = re.sub(r"\n{2,}", "\n", str(getattr(layouts, name)(step.data))).strip()
    if step.substeps:
        out["steps"] = [step_json(sub) for sub in step.substeps]
    return out


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
