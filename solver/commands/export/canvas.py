"""Canvas: a QTI 1.2 zip (imsmanifest.xml and one assessment), as Canvas's
"QTI .zip file" import reads it.

Per problem, by what it asks:
- one integer, rational or real: `numerical_question`, the exact value with the
  checker's tolerance as its margin (varequal, or vargte and varlte);
- one yes/no: `true_false_question`; an essay: `essay_question`;
- shapes, integer matrices, several whole-number or yes/no answers:
  `fill_in_multiple_blanks_question`, one blank per axis, cell or answer;
- anything with a non-integer number besides: one `numerical_question` per number
  (per cell of a matrix) and one `true_false_question` per yes/no, in a group
  that asks them all.
With variants, a problem that varies is a group that picks one of its variants
(one that needs several questions is left out, named: a group cannot pick a set).
Canvas keeps no feedback per wrong answer, so each question's general feedback
is the worked solution and a list of the common mistakes and what they give.
Math is MathML, as on an HTML sheet.
"""
from __future__ import annotations

import dataclasses
import html
import io
import re
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

from . import Export, Question, decimal, tolerance
from ...answers.types import AnswerType, Boolean, Matrix, Number, Shape, answer_type, format_answer
from ...render.mathml import typeset

QTI = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
CP = "http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1"
ASSESSMENT = "assessment"


def canvas_zip(export: Export) -> bytes:
    title = export.pset.title or export.pset.path.stem
    root = ET.Element("questestinterop", xmlns=QTI)
    assessment = ET.SubElement(root, "assessment", ident=ASSESSMENT, title=title)
    section = ET.SubElement(assessment, "section", ident="root_section")
    kept = []
    for questions in export.questions:
        problem_id = questions[0].problem.id
        if not questions[0].varies:          # the same in every variant: asked once, as without variants
            items = parts(dataclasses.replace(questions[0], variant=None))
            if len(items) == 1:
                section.append(items[0])
            else:
                group(section, problem_id, items, pick=len(items))
        else:
            variants = [parts(q) for q in questions]
            if any(len(items) > 1 for items in variants):
                export.warnings.append(f"problem {problem_id} is left out of the Canvas quiz: it needs several "
                                       "questions, and a Canvas group picks one question, not a set")
                continue
            group(section, problem_id, [items[0] for items in variants], pick=1)
        kept.append(questions)
    export.questions[:] = kept
    ET.indent(root)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("imsmanifest.xml", xml_bytes(manifest(title)))
        out.writestr(f"{ASSESSMENT}/{ASSESSMENT}.xml", xml_bytes(root))
    return archive.getvalue()


def xml_bytes(element) -> bytes:
    return ET.tostring(element, encoding="utf-8", xml_declaration=True) + b"\n"


def manifest(title: str) -> ET.Element:
    root = ET.Element("manifest", identifier="solver_export", xmlns=CP)
    metadata = ET.SubElement(root, "metadata")
    ET.SubElement(metadata, "schema").text = "IMS Content"
    ET.SubElement(metadata, "schemaversion").text = "1.1.3"
    ET.SubElement(root, "organizations")
    resources = ET.SubElement(root, "resources")
    resource = ET.SubElement(resources, "resource", identifier=ASSESSMENT, type="imsqti_xmlv1p2")
    ET.SubElement(resource, "file", href=f"{ASSESSMENT}/{ASSESSMENT}.xml")
    ET.indent(root)
    return root


def group(section, problem_id: str, items: list, pick: int):
    """A question group: Canvas asks `pick` of its questions, a point each."""
    element = ET.SubElement(section, "section", ident=f"group_{len(section)}", title=f"Problem {problem_id}")
    selection = ET.SubElement(ET.SubElement(element, "selection_ordering"), "selection")
    ET.SubElement(selection, "selection_number").text = str(pick)
    ET.SubElement(ET.SubElement(selection, "selection_extension"), "points_per_item").text = "1"
    element.extend(items)


# ---- the questions ------------------------------------------------------------------

def parts(question: Question) -> list[ET.Element]:
    """The Canvas questions one problem (or variant) becomes."""
    answers = question.answers
    if question.essay:
        return [essay(question)]
    kinds = [answer_type(answer.type) for answer in answers]
    if len(answers) == 1 and isinstance(kinds[0], Number):
        return [numerical(question, answers[0])]
    if len(answers) == 1 and isinstance(kinds[0], Boolean):
        return [true_false(question, answers[0])]
    if all(whole_numbers(a) for a in answers):
        return [blanks(question)]
    items = []
    for answer, kind in zip(answers, kinds):
        if isinstance(kind, Boolean):
            items.append(true_false(question, answer))
        elif isinstance(kind, Matrix) and not whole_numbers(answer):
            items += [numerical(question, answer, index) for index in np.ndindex(*answer.value.shape)]
        elif isinstance(kind, Number):
            items.append(numerical(question, answer))
        else:
            items.append(blanks(question, [answer]))
    return items


def whole_numbers(answer) -> bool:
    kind = answer_type(answer.type)
    if isinstance(kind, (Shape, Boolean)):
        return True
    values = answer.value.flat if isinstance(kind, Matrix) else [answer.value]
    return all(float(v).is_integer() for v in values)


def item(question: Question, qtype: str, suffix: str, prompt: str) -> tuple[ET.Element, ET.Element]:
    """An <item> with its metadata and question text; returns it and its <presentation>."""
    problem = question.problem
    ident = f"{problem.id}-v{question.variant}" if question.variant else str(problem.id)
    title = f"{problem.id}" + (f" (variant {question.variant})" if question.variant else "") + suffix
    element = ET.Element("item", ident=re.sub(r"[^\w.-]", "_", ident + suffix), title=title)
    fields = ET.SubElement(ET.SubElement(element, "itemmetadata"), "qtimetadata")
    for label, entry in (("question_type", qtype), ("points_possible", "1.0")):
        field = ET.SubElement(fields, "qtimetadatafield")
        ET.SubElement(field, "fieldlabel").text = label
        ET.SubElement(field, "fieldentry").text = entry
    presentation = ET.SubElement(element, "presentation")
    material(presentation, typeset(question.text_html() + "\n" + prompt))
    return element, presentation


def material(parent, content: str):
    ET.SubElement(ET.SubElement(parent, "material"), "mattext", texttype="text/html").text = content


def processing(element, question: Question, conditions: list[tuple[ET.Element, str, str]]):
    """<resprocessing>: the general feedback always shown, then (condition, action, score)."""
    rules = ET.SubElement(element, "resprocessing")
    ET.SubElement(ET.SubElement(rules, "outcomes"), "decvar", maxvalue="100", minvalue="0", varname="SCORE",
                  vartype="Decimal")
    always = ET.SubElement(rules, "respcondition", attrib={"continue": "Yes"})
    ET.SubElement(ET.SubElement(always, "conditionvar"), "other")
    ET.SubElement(always, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")
    for condition, action, score in conditions:
        row = ET.SubElement(rules, "respcondition", attrib={"continue": "No"})
        row.append(condition)
        ET.SubElement(row, "setvar", action=action, varname="SCORE").text = score
    feedback = ET.SubElement(element, "itemfeedback", ident="general_fb")
    material(ET.SubElement(feedback, "flow_mat"), typeset(general_feedback(question)))


def general_feedback(question: Question) -> str:
    """The worked solution, then every mistake and what it gives: Canvas has no
    feedback per wrong answer."""
    return question.solution_html() + "\n" + question.mistakes_html(AnswerType)


def numerical(question: Question, answer, index: tuple | None = None) -> ET.Element:
    value = answer.value if index is None else answer.value[index]
    where = "" if index is None else "[" + ", ".join(map(str, index)) + "]"
    element, presentation = item(question, "numerical_question", f" {answer.name}{where}".rstrip(),
                                 f"<p>\\({html.escape(answer.label)}{where} =\\)</p>")
    response = ET.SubElement(presentation, "response_str", ident="response1", rcardinality="Single")
    ET.SubElement(ET.SubElement(response, "render_fib", fibtype="Decimal"), "response_label", ident="answer1")
    margin = tolerance(answer.type, value)
    condition = ET.Element("conditionvar")
    either = ET.SubElement(condition, "or")
    ET.SubElement(either, "varequal", respident="response1").text = decimal(value)
    within = ET.SubElement(either, "and")
    ET.SubElement(within, "vargte", respident="response1").text = decimal(float(value) - margin)
    ET.SubElement(within, "varlte", respident="response1").text = decimal(float(value) + margin)
    processing(element, question, [(condition, "Set", "100")])
    return element


def true_false(question: Question, answer) -> ET.Element:
    element, presentation = item(question, "true_false_question", f" {answer.name}",
                                 f"<p>\\({html.escape(answer.label)}\\): true or false?</p>")
    response = ET.SubElement(presentation, "response_lid", ident="response1", rcardinality="Single")
    choices = ET.SubElement(response, "render_choice")
    for ident, word in (("true", "True"), ("false", "False")):
        material(ET.SubElement(choices, "response_label", ident=ident), word)
    condition = ET.Element("conditionvar")
    ET.SubElement(condition, "varequal", respident="response1").text = "true" if answer.value else "false"
    processing(element, question, [(condition, "Set", "100")])
    return element


def essay(question: Question) -> ET.Element:
    element, presentation = item(question, "essay_question", "", "")
    response = ET.SubElement(presentation, "response_str", ident="response1", rcardinality="Single")
    ET.SubElement(ET.SubElement(response, "render_fib"), "response_label", ident="answer1", rshuffle="No")
    processing(element, question, [])
    return element


def blanks(question: Question, answers=None) -> ET.Element:
    """One blank per axis, cell or yes/no, laid out as the answer is; each right text
    scores its share."""
    answers = answers or question.answers
    texts, lines = [], []
    for answer in answers:
        lines.append(blank_line(answer, texts))
    suffix = f" {answers[0].name}" if len(answers) < len(question.answers) else ""
    element, presentation = item(question, "fill_in_multiple_blanks_question", suffix, "\n".join(lines))
    conditions = []
    for number, text in enumerate(texts, 1):
        name = f"b{number}"
        response = ET.SubElement(presentation, "response_lid", ident=f"response_{name}")
        material(response, name)
        choices = ET.SubElement(response, "render_choice")
        material(ET.SubElement(choices, "response_label", ident=f"{name}_right"), text)
        condition = ET.Element("conditionvar")
        ET.SubElement(condition, "varequal", respident=f"response_{name}").text = f"{name}_right"
        conditions.append((condition, "Add", decimal(round(100 / len(texts), 4))))
    processing(element, question, conditions)
    return element


def blank_line(answer, texts: list[str]) -> str:
    """The prompt for one answer, its blanks named [bN] in order; their right texts go in `texts`."""
    def blank(text: str) -> str:
        texts.append(text)
        return f"[b{len(texts)}]"
    label = f"<p>\\({html.escape(answer.label)} =\\)"
    kind = answer_type(answer.type)
    if isinstance(kind, Shape):
        return f"{label} " + " × ".join(blank(str(size)) for size in answer.value) + "</p>"
    if not isinstance(kind, Matrix):
        return f"{label} {blank(format_answer(answer.value, answer.type))}</p>"
    grid = answer.value.reshape(1, -1) if answer.value.ndim == 1 else answer.value
    grid = grid.reshape(-1, grid.shape[-1])           # channels one under the other
    rows = "".join("<tr>" + "".join(f"<td>{blank(str(int(v)))}</td>" for v in row) + "</tr>" for row in grid)
    return f"{label}</p>\n<table>{rows}</table>"
