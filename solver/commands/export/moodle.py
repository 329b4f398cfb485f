"""Moodle XML: one <quiz> that Moodle's "Moodle XML format" importer reads.

A category per set ($course$/solver/TITLE), and with variants one per problem
holding its variants, so a quiz can draw one at random. Per question, by what it asks:
- one integer, rational or real: `numerical`. Moodle takes the first answer within
  its tolerance, so the right value comes first (100 %, the checker's tolerance),
  then each different value a mistake gives (0 %, with that mistake's feedback),
  then `*` (0 %, a hint);
- one yes/no: `truefalse`; an essay: `essay` with the model answer for the grader;
- formulas (and numbers asked beside them): `stack`, the STACK plugin's question
  (stack.py), unless `--no-stack`; a formula asked beside a matrix, a shape or a yes/no
  is left out, named;
- anything else (shapes, matrices, tables, several answers): `cloze`, Moodle's
  multianswer question, one NUMERICAL field per number (an axis, a cell), yes/no as
  a choice; a table is a grid of them, row by row.
  Feedback about a whole matrix (kernel flipped) goes in the general feedback.
Text is escaped by ElementTree (no CDATA, so `]]>` is plain text too).
"""
from __future__ import annotations

import dataclasses
import html
import xml.etree.ElementTree as ET
from typing import NamedTuple

import numpy as np

from . import CATCH_ALL, Export, Question, decimal, left_out_text, tolerance
from .stack import NotMaxima, fill_stack, inputs_text, maxima, stackable
from ...answers.types import Boolean, Matrix, Number, Shape, answer_type

PENALTY = "0.3333333"          # Moodle's default: a third off per retry
CORRECT = "Correct."


def moodle_xml(export: Export) -> bytes:
    quiz = ET.Element("quiz")
    root = f"$course$/solver/{category_name(export.pset.title or export.pset.path.stem)}"
    varied = any(q.variant is not None for qs in export.questions for q in qs)
    if not varied:
        category(quiz, root)
    for questions in export.questions:
        if varied:
            category(quiz, f"{root}/{category_name(questions[0].problem.id)}")
        for question in questions:
            question = with_formulas_fit(question, export.warnings)
            if question is not None:
                quiz.append(moodle_question(question))
    ET.indent(quiz)
    return ET.tostring(quiz, encoding="utf-8", xml_declaration=True) + b"\n"


def category_name(text: str) -> str:
    """A category path's part: Moodle reads "/" as a level and "//" as a slash."""
    return str(text).replace("/", "//")


def category(quiz, path: str):
    question = ET.SubElement(quiz, "question", type="category")
    text(question, "category", path, fmt=None)
    text(question, "info", "")


def text(parent, tag: str, content: str, fmt: str | None = "html"):
    """<tag format="html"><text>content</text></tag>, Moodle's form of any text field."""
    element = ET.SubElement(parent, tag, **({"format": fmt} if fmt else {}))
    ET.SubElement(element, "text").text = content
    return element


def with_formulas_fit(question: Question, warnings: list[str]) -> Question | None:
    """The question less the formulas no Moodle question here can hold: one Maxima cannot
    read, or one asked beside a matrix, a shape or a yes/no (a STACK question here holds
    formulas and numbers); None where nothing is left. Each left out is named in `warnings`."""
    formulas = [a for a in question.answers if answer_type(a.type).symbolic]
    if not formulas:
        return question
    why = {}
    if not all(stackable(a) for a in question.answers):
        why = {a.name: "a formula asked beside a matrix, a shape or a yes/no answer: a STACK question here "
                       "holds formulas and numbers only" for a in formulas}
    for answer in formulas:
        try:
            maxima(answer.value)
        except NotMaxima as error:
            why.setdefault(answer.name, f"it cannot be written for Maxima: {error}")
    if not why:
        return question
    kept = [a for a in question.answers if a.name not in why]
    message = left_out_text(question.problem.id, [a for a in question.answers if a.name in why], why, not kept)
    if message not in warnings:
        warnings.append(message)
    return dataclasses.replace(question, answers=kept) if kept else None


def moodle_question(question: Question) -> ET.Element:
    answers = question.answers
    if question.essay:
        qtype = "essay"
    elif any(answer_type(a.type).symbolic for a in answers):
        qtype = "stack"
    elif len(answers) == 1 and isinstance(answer_type(answers[0].type), Number):
        qtype = "numerical"
    elif len(answers) == 1 and isinstance(answer_type(answers[0].type), Boolean):
        qtype = "truefalse"
    else:
        qtype = "cloze"
    element = ET.Element("question", type=qtype)
    variant = question.variant
    problem = question.problem
    text(element, "name", f"{problem.id}" + (f" (variant {variant})" if variant else ""), fmt=None)
    body = question.text_html()
    if qtype == "cloze":
        body += "\n" + "\n".join(cloze_part(question, answer) for answer in answers)
    elif qtype == "stack":
        body += "\n" + inputs_text(question)
    text(element, "questiontext", body)
    text(element, "generalfeedback", general_feedback(question))
    ET.SubElement(element, "defaultgrade").text = str(len(answers) if qtype in ("cloze", "stack") else 1)
    ET.SubElement(element, "penalty").text = PENALTY
    ET.SubElement(element, "hidden").text = "0"
    ET.SubElement(element, "idnumber").text = f"{problem.id}-v{variant}" if variant else str(problem.id)
    if qtype in FILL:                   # a Cloze question's answers are in its text
        FILL[qtype](element, question)
    return element


def general_feedback(question: Question) -> str:
    """The worked solution, then what each mistake makes of a matrix answer (its cells
    have no feedback of their own)."""
    return question.solution_html() + "\n" + question.mistakes_html(Matrix)


# ---- numerical, truefalse, essay ------------------------------------------------

def fill_numerical(element, question: Question):
    for choice in scalar_choices(question, question.answers[0]):
        answer = text(element, "answer", choice.value, fmt="moodle_auto_format")
        answer.set("fraction", choice.fraction)
        text(answer, "feedback", html.escape(choice.feedback))
        ET.SubElement(answer, "tolerance").text = choice.tolerance
    for tag, value in (("unitgradingtype", "0"), ("unitpenalty", "0.1"), ("showunits", "3"),
                       ("unitsleft", "0")):
        ET.SubElement(element, tag).text = value      # showunits 3: no units


class Choice(NamedTuple):
    value: str          # a decimal, or "*" for anything
    tolerance: str      # Moodle's absolute margin, as a decimal
    fraction: str       # "100" or "0" (per cent)
    feedback: str


def scalar_choices(question: Question, answer) -> list[Choice]:
    """The right value, each mistake's value in the order the checker tries the mistakes,
    then `*`. Moodle's first match is then the checker's diagnosis, even where two
    mistakes' values are within each other's tolerance."""
    wrongs = [choice(answer.type, wrong.value, "0", wrong.feedback) for wrong in question.wrong_answers(answer)]
    return [choice(answer.type, answer.value, "100", CORRECT), *wrongs, Choice("*", "0", "0", CATCH_ALL)]


def choice(answer_type: str, value, fraction: str, feedback: str) -> Choice:
    shown = decimal(value)
    return Choice(shown, decimal(tolerance(answer_type, float(shown))), fraction, feedback)


def fill_truefalse(element, question: Question):
    answer = question.answers[0]
    wrong = next(iter(question.wrong_answers(answer)), None)
    for value in (True, False):
        right = value == answer.value
        choice = text(element, "answer", "true" if value else "false", fmt="moodle_auto_format")
        choice.set("fraction", "100" if right else "0")
        feedback = CORRECT if right else (wrong.feedback if wrong else "The yes/no answer is not correct.")
        text(choice, "feedback", html.escape(feedback))


def fill_essay(element, question: Question):
    for tag, value in (("responseformat", "editor"), ("responserequired", "1"), ("responsefieldlines", "15"),
                       ("attachments", "0"), ("attachmentsrequired", "0")):
        ET.SubElement(element, tag).text = value
    text(element, "graderinfo", question.solution_html())
    text(element, "responsetemplate", "")


FILL = {"numerical": fill_numerical, "truefalse": fill_truefalse, "essay": fill_essay,
        "stack": lambda element, question: fill_stack(element, question, text, PENALTY)}


# ---- Cloze ----------------------------------------------------------------------

def cloze_part(question: Question, answer) -> str:
    label = f"\\({html.escape(answer.label)} =\\)"
    kind = answer_type(answer.type)
    if isinstance(kind, Number):
        return f"<p>{label} {numerical(scalar_choices(question, answer))}</p>"
    if isinstance(kind, Boolean):
        return f"<p>{label} {yes_no(question, answer)}</p>"
    if isinstance(kind, Shape):
        return f"<p>{label} {shape_fields(question, answer)}</p>"
    if kind.by_rows:
        return f"<p>{label}</p>\n{table_grid(question, answer)}"
    return f"<p>{label}</p>\n{matrix_tables(answer)}"


def numerical(choices: list[Choice]) -> str:
    """{1:NUMERICAL:=right:tol#fb~%0%wrong:tol#fb~%0%*#hint}, Moodle's Cloze syntax."""
    parts = []
    for c in choices:
        mark = "=" if c.fraction == "100" else f"%{c.fraction}%"
        margin = "" if c.value == "*" else f":{c.tolerance}"
        parts.append(f"{mark}{c.value}{margin}#{cloze_feedback(c.feedback)}")
    return "{1:NUMERICAL:" + "~".join(parts) + "}"


def cloze_feedback(feedback: str) -> str:
    """Feedback inside {...}. Moodle decodes its entities once and keeps the result as
    HTML, so the text is escaped twice; ~ and }, which would end it, become entities."""
    twice = html.escape(html.escape(feedback, quote=False), quote=False)
    return twice.replace("~", "&#126;").replace("}", "&#125;")


def yes_no(question: Question, answer) -> str:
    wrong = next(iter(question.wrong_answers(answer)), None)
    feedback = cloze_feedback(wrong.feedback if wrong else "The yes/no answer is not correct.")
    right, other = ("yes", "no") if answer.value else ("no", "yes")
    return f"{{1:MULTICHOICE:%100%{right}#{CORRECT}~%0%{other}#{feedback}}}"


def shape_fields(question: Question, answer) -> str:
    """One field per axis; a mistake's value on an axis where it differs is a 0 % choice
    there, with the feedback of every mistake that gives that value on that axis."""
    wrongs = question.wrong_answers(answer)
    fields = []
    for axis, size in enumerate(answer.value):
        feedback: dict[int, list[str]] = {}
        for wrong in wrongs:
            if len(wrong.value) == len(answer.value) and wrong.value[axis] != size:
                feedback.setdefault(wrong.value[axis], []).append(wrong.feedback)
        choices = [choice("shape", size, "100", CORRECT)]
        choices += [choice("shape", value, "0", " Or: ".join(dict.fromkeys(texts)))
                    for value, texts in feedback.items()]
        fields.append(numerical(choices + [Choice("*", "0", "0", CATCH_ALL)]))
    return " × ".join(fields)


def matrix_tables(answer) -> str:
    """One field per cell, laid out as the matrix: a table per 2-D slice (per channel)."""
    value = np.asarray(answer.value, dtype=object)
    grid = value.reshape(1, -1) if value.ndim == 1 else value
    slices = [((), grid)] if grid.ndim == 2 else [(i, grid[i]) for i in np.ndindex(*grid.shape[:-2])]
    tables = []
    for index, cells in slices:
        caption = f"<caption>[{', '.join(map(str, index))}, :, :]</caption>" if index else ""
        rows = "\n".join("<tr>" + "".join(f"<td>{numerical([choice(answer.type, x, '100', CORRECT), Choice('*', '0', '0', CATCH_ALL)])}</td>"
                                         for x in row) + "</tr>" for row in cells)
        tables.append(f'<table class="matrix">{caption}\n{rows}\n</table>')
    return "\n".join(tables)


def table_grid(question: Question, answer) -> str:
    """A table answer as a grid: each row's label, then one field per number of each cell.
    Where the kind also names a cell as an answer of its own (`params[3]`, row 3's
    `params`), the cell's field carries what each mistake gives for it, as a lone
    answer's would. Moodle grades each cell against the right value: a row is not
    judged from the student's row before it, as `solver check` judges it."""
    table, answers = answer.value, question.solution.answers
    header = "<tr><th>layer</th>" + "".join(f"<th>{html.escape(name)}</th>" for name in table.columns) + "</tr>"
    rows = []
    for number, (label, row) in enumerate(zip(table.labels, table.rows), start=1):
        cells = []
        for column, type_name in table.columns.items():
            own = answers.get(f"{column}[{number}]")
            cell = own if own is not None and own.type == type_name else None
            cells.append(cell_fields(question, cell, type_name, row[column]))
        rows.append(f"<tr><th>{html.escape(label)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f'<table class="grid">\n{header}\n' + "\n".join(rows) + "\n</table>"


def cell_fields(question: Question, cell, type_name: str, value) -> str:
    """A table cell's fields: one per axis of a shape, one for a number; with the
    mistakes' values where the cell is an answer of its own."""
    if cell is not None:
        return shape_fields(question, cell) if isinstance(answer_type(type_name), Shape) \
            else numerical(scalar_choices(question, cell))
    values = value if isinstance(answer_type(type_name), Shape) else [value]
    return " × ".join(numerical([choice(type_name, v, "100", CORRECT), Choice("*", "0", "0", CATCH_ALL)])
                      for v in values)
