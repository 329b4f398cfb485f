"""`solver export --to canvas`: the QTI 1.2 zip is read back: a manifest naming the
assessment, items of the types Canvas imports, whose response conditions take the
right values (from `solver solve --format json`) and not the mistakes' values."""
import html
import re
import xml.etree.ElementTree as ET
import zipfile

import pytest

from solver.answers.check import check_value
from solver.commands.grade import solve_once
from solver.commands.selftest import mistake_answers

from conftest import PROBLEM_FILES, ROOT, run_solver
from test_export_moodle import COUNT, SEED, expected_problems, typed

QTI = "{http://www.imsglobal.org/xsd/ims_qtiasiv1p2}"
CP = "{http://www.imsglobal.org/xsd/imsccv1p1/imscp_v1p1}"
TYPES = {"numerical_question", "true_false_question", "essay_question", "fill_in_multiple_blanks_question"}


def export(path, tmp_path, *more):
    result = run_solver("export", path, "--to", "canvas", "--output", tmp_path, *more, timeout=600)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / f"{path.stem}-canvas.zip") as archive:
        manifest = ET.fromstring(archive.read("imsmanifest.xml"))
        [resource] = manifest.iter(f"{CP}resource")
        assert resource.get("type") == "imsqti_xmlv1p2"
        [file] = resource.iter(f"{CP}file")
        assessment = ET.fromstring(archive.read(file.get("href")))
    return assessment, result.stderr


def field(item, label):
    return next(f.findtext(f"{QTI}fieldentry") for f in item.iter(f"{QTI}qtimetadatafield")
                if f.findtext(f"{QTI}fieldlabel") == label)


def items_by_problem(assessment):
    """{problem id: [(item, its group's selection_number or None)]}."""
    found = {}
    root = assessment.find(f"{QTI}assessment/{QTI}section")
    for child in root:
        pick = child.findtext(f"{QTI}selection_ordering/{QTI}selection/{QTI}selection_number")
        for item in ([child] if child.tag == f"{QTI}item" else child.findall(f"{QTI}item")):
            found.setdefault(item.get("title").split(" ")[0], []).append((item, pick))
    return found


def texts(item):
    """The question text and the general feedback, as HTML."""
    question = item.findtext(f"{QTI}presentation/{QTI}material/{QTI}mattext")
    feedback = item.findtext(f"{QTI}itemfeedback/{QTI}flow_mat/{QTI}material/{QTI}mattext")
    return question, feedback


def check_numerical(item, solved, answer, value):
    condition = item.find(f"{QTI}resprocessing/{QTI}respcondition[@continue='No']/{QTI}conditionvar/{QTI}or")
    low = float(condition.findtext(f"{QTI}and/{QTI}vargte"))
    high = float(condition.findtext(f"{QTI}and/{QTI}varlte"))
    assert float(condition.findtext(f"{QTI}varequal")) == pytest.approx(float(value))
    assert low <= float(value) <= high
    if answer.type != "matrix":
        for _, wrong, _ in mistake_answers(solved, answer):
            said = check_value(solved.problem, answer, typed(wrong), solved.mistakes)
            assert (low <= float(wrong) <= high) == (said.verdict == "correct"), (answer.name, wrong)


def blank_answers(item):
    """The right text of each blank, in the order the question text names them."""
    question, _ = texts(item)
    names = re.findall(r"\[(b\d+)\]", question)
    right = {}
    for response in item.iter(f"{QTI}response_lid"):
        name = response.findtext(f"{QTI}material/{QTI}mattext")
        [label] = response.iter(f"{QTI}response_label")
        right[name] = label.findtext(f"{QTI}material/{QTI}mattext")
    scores = [float(s.text) for s in item.iter(f"{QTI}setvar") if s.get("action") == "Add"]
    assert sorted(right) == sorted(names) and sum(scores) == pytest.approx(100, abs=0.01)
    return [right[name] for name in names]


def expected_texts(answer):
    if answer.type == "shape":
        return [str(v) for v in answer.value]
    if answer.type == "matrix":
        return [str(int(v)) for v in answer.value.flat]
    if answer.type == "boolean":
        return ["yes" if answer.value else "no"]
    return [str(answer.value)]


def check_problem(items, problem, shown):
    solved = solve_once(problem)
    answers = [solved.solution.answers[name] for name in shown]
    for item, _ in items:
        assert field(item, "question_type") in TYPES
        question, feedback = texts(item)
        assert "\\(" not in question + feedback and ("<math" in question + feedback or problem.kind == "essay")
        for answer in answers:
            for _, _, text in mistake_answers(solved, answer):
                said = check_value(problem, answer, text, solved.mistakes)
                if said.mistake:           # no feedback per wrong answer: all in the general feedback
                    assert said.feedback in html.unescape(feedback)
    kinds = [field(item, "question_type") for item, _ in items]
    if problem.kind == "essay":
        assert kinds == ["essay_question"]
        return
    if kinds == ["fill_in_multiple_blanks_question"]:
        assert blank_answers(items[0][0]) == [t for a in answers for t in expected_texts(a)]
        return
    parts = iter(items)
    for answer in answers:
        if answer.type == "boolean":
            item, _ = next(parts)
            assert field(item, "question_type") == "true_false_question"
            assert item.findtext(f".//{QTI}varequal") == str(answer.value).lower()
        elif answer.type in ("integer", "rational", "real"):
            check_numerical(next(parts)[0], solved, answer, answer.value)
        elif answer.type == "matrix" and not all(float(v).is_integer() for v in answer.value.flat):
            for value in answer.value.flat:
                check_numerical(next(parts)[0], solved, answer, value)
        else:
            assert blank_answers(next(parts)[0]) == expected_texts(answer)
    assert next(parts, None) is None


@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_every_file_reads_back(path, tmp_path):
    assessment, stderr = export(path, tmp_path)
    found = items_by_problem(assessment)
    for (problem_id, _), (problem, shown) in expected_problems(path, tmp_path, False).items():
        shown = {name: a for name, a in shown.items()              # Canvas checks no formula and no table
                 if a["type"] not in ("expression", "table")}
        if not shown and problem.kind != "essay":
            assert problem_id not in found and f"problem {problem_id} is left out" in stderr
            continue
        items = found.pop(problem_id)
        check_problem(items, problem, shown)
        assert all(pick == (str(len(items)) if len(items) > 1 else None) for _, pick in items)
    assert not found


def test_variants_are_groups_that_pick_one(tmp_path):
    path = ROOT / "problems" / "comp433-a3.yaml"
    assessment, stderr = export(path, tmp_path, "--variants", COUNT, "--seed", SEED)
    found = items_by_problem(assessment)
    expected = expected_problems(path, tmp_path, True)
    varied = [problem_id for problem_id, items in found.items() if items[0][1] == "1"]
    assert "Q1a" in varied
    for problem_id in varied:
        assert len(found[problem_id]) == COUNT
        for number, (item, _) in enumerate(found[problem_id], 1):
            assert f"(variant {number})" in item.get("title")
            check_problem([(item, "1")], *expected[(problem_id, number)])
    for problem_id in set(found) - set(varied):          # the same in every variant: asked once
        assert not any("(variant" in item.get("title") for item, _ in found[problem_id]), problem_id
        check_problem(found[problem_id], *expected[(problem_id, 1)])
    left_out = re.findall(r"problem (\S+) is left out of the Canvas quiz: it needs several questions", stderr)
    assert left_out and not set(left_out) & set(found)


def test_a_table_is_named_as_left_out(tmp_path):
    source = tmp_path / "table.yaml"
    source.write_text("title: T\nproblems:\n  - id: net\n    kind: network\n    ask: [table]\n    given:\n"
                      "      input_shape: 3x8x8\n      layers:\n        - {type: conv2d, out_channels: 2, kernel_size: 3}\n")
    result = run_solver("export", source, "--to", "canvas", "--output", tmp_path)
    assert result.returncode == 2 and "problem net is left out (`table`: tables are not exported to Canvas" \
        in result.stderr, result.stderr
