"""`solver export --to moodle`: the XML is read back as Moodle's importer reads it, and
Moodle's grading rule is applied to it.

Moodle's numerical question (and a Cloze NUMERICAL field) takes the first answer
whose value is within its tolerance, `*` taking anything. Applied to the exported
answers: the right value must score 100 %, and every wrong value a mistake gives
must get what `solver check` says to it (the same feedback, naming the mistake).
The expected values come from `solver solve --format json` (of the files `solver
variants` writes, for variants); Cloze fields are read with Moodle's own pattern
for them (question/type/multianswer), written out again here.

Formulas go to STACK questions. Maxima (the CAS under STACK, from Debian's packages)
is the oracle for them: each teacher's answer and each mistake's formula, as the
export writes it, must have the value our formula has at random points; and STACK's
rule (the first PRT node whose test holds gives its score and feedback), with
equivalence taken as equal values at those points, must give the right formula full
marks and each mistake's formula the feedback `solver check` gives it.
"""
import random
import subprocess
import html
import json
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest
import yaml

from solver.answers.check import check_value
from solver.answers.types import format_answer
from solver.commands.grade import solve_once
from solver.problems.load import load
from solver.commands.selftest import mistake_answers

from conftest import PROBLEM_FILES, ROOT, require_program, run_solver

SEED, COUNT = 7, 2
ESSAY_FILE = ROOT / "problems" / "csci5922-ps3.yaml"

# Moodle's Cloze grammar (qtype_multianswer), as regular expressions.
FRACTION = r"=|%(-?[0-9]+(?:\.[0-9]+)?)%"
ANSWER = r".+?(?<!\\)(?<!&)(?<!&amp;)(?=[~#}]|$)"
FEEDBACK = r".*?(?<!\\)(?=[~}]|$)"
ALTERNATIVE = re.compile(rf"({FRACTION})?({ANSWER})(?:#({FEEDBACK}))?", re.S)
FIELD = re.compile(r"\{([0-9]*):(NUMERICAL|NM|MULTICHOICE|MC):(.*?)(?<!\\)\}", re.S)
NUMBER = r"-?(?:(?:[0-9]+[.,]?[0-9]*|[.,][0-9]+)(?:[eE][-+]?[0-9]+)?)"
NUMBER_AND_MARGIN = re.compile(rf"^({NUMBER})(?::({NUMBER}))?$")


# ---- reading the export as Moodle does -----------------------------------------

def export(path, *more, tmp_path):
    result = run_solver("export", path, "--to", "moodle", "--output", tmp_path, *more, timeout=600)
    assert result.returncode == 0, result.stderr
    target = tmp_path / f"{path.stem}-moodle.xml"
    return ET.parse(target).getroot(), result.stderr


def cloze_fields(text):
    """[(type, [(fraction, answer, feedback as shown)])] of every Cloze field, in order,
    read as qtype_multianswer reads them."""
    fields = []
    for match in FIELD.finditer(text):
        alternatives, rest = [], match.group(3)
        while rest:
            found = ALTERNATIVE.match(rest)
            assert found, rest
            mark, percent, answer, feedback = found.groups()
            fraction = 100.0 if mark == "=" else float(percent or 0)
            stored = html.unescape(feedback or "")           # Moodle keeps this as the feedback's HTML
            alternatives.append((fraction, answer, html.unescape(stored)))
            rest = rest[found.end():]
            assert rest == "" or rest.startswith("~"), rest
            rest = rest[1:]
        fields.append((match.group(2), alternatives))
    return fields


def numerical_choices(alternatives):
    """A Cloze NUMERICAL field's answers as (fraction, value or '*', margin, feedback)."""
    choices = []
    for fraction, answer, feedback in alternatives:
        found = NUMBER_AND_MARGIN.match(answer)             # else kept as it is, as "*" is
        number, margin = found.groups() if found else (answer, None)
        choices.append((fraction, number, float(margin or 0), feedback))
    return choices


def question_choices(question):
    """A numerical question's <answer>s as (fraction, value or '*', margin, feedback)."""
    return [(float(a.get("fraction")), a.findtext("text"), float(a.findtext("tolerance")),
             html.unescape(a.findtext("feedback/text"))) for a in question.findall("answer")]


def moodle_grade(choices, typed: str):
    """Moodle's rule: the first answer within its tolerance; (fraction, feedback)."""
    x = float(typed)
    for fraction, value, margin, feedback in choices:
        if value == "*" or abs(x - float(value)) <= margin:
            return fraction, feedback
    return 0.0, None


# ---- what the answers should be ----------------------------------------------------

def expected_problems(path, tmp_path, variants):
    """{(problem id, variant or None): (Problem, {answer name: JSON answer})}."""
    sources = {None: path}
    if variants:
        result = run_solver("variants", path, "--count", COUNT, "--seed", SEED, "--format", "md",
                            "--output", tmp_path / "variants")
        assert result.returncode == 0, result.stderr
        folder = tmp_path / "variants" / f"{path.stem}-variants"
        sources = {n: next(folder.glob(f"{path.stem}-v{n}.yaml")) for n in range(1, COUNT + 1)}
    found = {}
    for number, source in sources.items():
        asks = {str(p["id"]): p.get("ask") for p in yaml.safe_load(source.read_text())["problems"]}
        data = json.loads(run_solver("solve", source, "--format", "json").stdout)
        problems = {p.id: p for p in load(source).problems}
        for p in data["problems"]:
            ask = asks[p["id"]]
            answers = p["answers"]
            shown = ({name: answers[name] for name in dict.fromkeys(ask) if name in answers} if ask is not None
                     else {name: a for name, a in answers.items() if "[" not in name})     # in the order asked
            found[(p["id"], number)] = (problems[p["id"]], shown)
    return found


def number(json_value):
    return float(Fraction(json_value)) if isinstance(json_value, str) else float(json_value)


def typed(value) -> str:
    """What a student types into Moodle for a value: a plain decimal."""
    return repr(float(value))


def verdict(solved, answer, text):
    return check_value(solved.problem, answer, text, solved.mistakes)


def diagnosis(feedback: str) -> str:
    """The mistake a feedback names: the same for every value within the checker's tolerance,
    where the sentence before it (how close a decimal is) depends on the digits typed."""
    return feedback[feedback.index("Likely mistake"):] if "Likely mistake" in feedback else feedback


# ---- the checks ------------------------------------------------------------------------

def check_scalar(solved, answer, choices):
    fraction, _ = moodle_grade(choices, typed(answer.value))
    assert fraction == 100.0, (solved.problem.id, answer.name, choices)
    for _, value, _ in mistake_answers(solved, answer):
        said = verdict(solved, answer, typed(value))
        fraction, feedback = moodle_grade(choices, typed(value))
        assert fraction == (100.0 if said.verdict == "correct" else 0.0), (answer.name, value, choices)
        if said.mistake:
            assert diagnosis(feedback) == diagnosis(said.feedback), (answer.name, value, feedback, said.feedback)


def check_question(question, problem, shown):
    solved = solve_once(problem)
    answers = [solved.solution.answers[name] for name in shown]
    qtype = question.get("type")
    feedback_text = html.unescape(question.findtext("generalfeedback/text"))
    if qtype == "essay":
        assert not shown and problem.given.model_answer.split("\n")[0][:40] in html.unescape(
            question.findtext("graderinfo/text"))
        return
    if qtype == "numerical":
        [answer] = answers
        assert answer.type in ("integer", "rational", "real")
        assert question.findtext("showunits") == "3"
        choices = question_choices(question)
        assert choices[-1][1] == "*"
        check_scalar(solved, answer, choices)
        return
    if qtype == "stack":
        check_stack(question, solved, answers)
        return
    if qtype == "truefalse":
        [answer] = answers
        assert answer.type == "boolean"
        by_text = {a.findtext("text"): a for a in question.findall("answer")}
        right, wrong = by_text[str(answer.value).lower()], by_text[str(not answer.value).lower()]
        assert right.get("fraction") == "100" and wrong.get("fraction") == "0"
        said = verdict(solved, answer, format_answer(not answer.value, "boolean"))
        assert html.unescape(wrong.findtext("feedback/text")) == said.feedback
        return
    assert qtype == "cloze", qtype
    fields = iter(cloze_fields(question.findtext("questiontext/text")))
    for answer in answers:
        check_cloze_answer(solved, answer, fields, feedback_text)
    assert next(fields, None) is None, "more Cloze fields than answers"


def check_cloze_answer(solved, answer, fields, general_feedback):
    if answer.type == "table":              # a grid: each cell the per-layer answer of its row and column
        for number in range(1, len(answer.value.rows) + 1):
            for column in answer.value.columns:
                check_cloze_answer(solved, solved.solution.answers[f"{column}[{number}]"], fields, general_feedback)
        return
    if answer.type == "boolean":
        kind, alternatives = next(fields)
        assert kind == "MULTICHOICE"
        marks = {text: (fraction, feedback) for fraction, text, feedback in alternatives}
        right, other = ("yes", "no") if answer.value else ("no", "yes")
        assert marks[right][0] == 100.0 and marks[other][0] == 0.0
        assert marks[other][1] == verdict(solved, answer, other).feedback
        return
    if answer.type in ("integer", "rational", "real"):
        kind, alternatives = next(fields)
        assert kind == "NUMERICAL"
        check_scalar(solved, answer, numerical_choices(alternatives))
        return
    cells = list(answer.value) if answer.type == "shape" else list(answer.value.flat)
    choices = []
    for cell in cells:
        kind, alternatives = next(fields)
        assert kind == "NUMERICAL"
        choices.append(numerical_choices(alternatives))
        assert moodle_grade(choices[-1], typed(cell))[0] == 100.0, (answer.name, cell, choices[-1])
    for _, value, text in mistake_answers(solved, answer):
        said = verdict(solved, answer, text)
        if not said.mistake:
            continue
        if answer.type == "matrix":
            assert said.feedback in general_feedback, (answer.name, said.feedback)
            continue
        graded = [moodle_grade(axis, typed(size)) for axis, size in zip(choices, value)]
        assert any(fraction == 0.0 and said.feedback in (feedback or "") for fraction, feedback in graded), \
            (answer.name, value, graded, said.feedback)


# ---- STACK, with Maxima as the oracle --------------------------------------------------

def maxima_values(variables: str, names: list[str], points: list[dict]) -> dict:
    """{(name, point index): float}: each question variable's value at each point, computed by
    Maxima from the question's own variables (exactly, then as a float: radicals are not fractions)."""
    script = ["display2d:false$", variables.replace(";", "$")]
    for index, point in enumerate(points):
        at = ", ".join(f"{symbol} = {value.numerator}/{value.denominator}" for symbol, value in point.items())
        script += [f'print("@@", "{name}", {index}, float(ev({name}, [{at}])))$' for name in names]
    result = subprocess.run([require_program("maxima"), "--very-quiet", "--batch-string=" + "\n".join(script)],
                            capture_output=True, text=True, timeout=120)
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("@@ "):
            _, name, index, value = line.split(maxsplit=3)
            found[(name, int(index))] = float(value)
    missing = [(n, i) for n in names for i in range(len(points)) if (n, i) not in found]
    assert not missing, (missing, result.stdout[-2000:], result.stderr[-2000:])
    return found


def exact_value(value, point: dict) -> float | None:
    """Our formula's value at a point (sympy, exactly, then to 30 digits), or None where it
    is not a finite real number there."""
    import sympy
    found = sympy.sympify(value).xreplace({s: sympy.Rational(point[str(s)].numerator, point[str(s)].denominator)
                                           for s in getattr(value, "free_symbols", ())}).evalf(30)
    return float(found) if found.is_real and found.is_finite else None


def same_value(a, b, margin=0.0) -> bool:
    return a is not None and abs(a - b) <= margin + 1e-9 * max(1.0, abs(a), abs(b))


def random_points(symbols, rng, count=4):
    """Points whose coordinates are positive fractions, as sizes and weights may be."""
    return [{s: Fraction(rng.randint(1, 60), rng.randint(1, 7)) for s in symbols} for _ in range(count)]


def check_stack(question, solved, answers):
    """Every formula the question holds has our value (Maxima's check of the translation),
    and STACK's first-node-wins rule gives each answer and each mistake's answer what
    `solver check` gives it."""
    variables = question.findtext("questionvariables/text")
    names = [line.split(":")[0] for line in variables.splitlines()]
    inputs = {node.findtext("name"): node.findtext("tans") for node in question.findall("input")}
    trees = {prt.findtext("name"): prt.findall("node") for prt in question.findall("prt")}
    assert len(inputs) == len(trees) == len(answers)
    rng = random.Random(1)
    wrongs = {a.name: [(value, verdict(solved, a, text)) for _, value, text in mistake_answers(solved, a)]
              for a in answers}
    formulas = [a.value for a in answers] + [value for found in wrongs.values() for value, _ in found]
    symbols = sorted({str(s) for f in formulas for s in getattr(f, "free_symbols", ())})
    points = [p for p in random_points(symbols, rng, 8) if all(exact_value(f, p) is not None for f in formulas)][:4]
    assert points, "no point where the answers are finite"
    values = maxima_values(variables, names, points)
    for number, answer in enumerate(answers, start=1):
        assert inputs[f"ans{number}"] == f"ta{number}"
        ours = [exact_value(answer.value, p) for p in points]
        assert all(same_value(ours[i], values[(f"ta{number}", i)]) for i in range(len(points))), \
            (answer.name, variables, ours)
        nodes = trees[f"prt{number}"]
        assert first_node(nodes, ours, values, points) == (1.0, "Correct.")
        for value, said in wrongs[answer.name]:
            if not said.mistake:
                continue
            theirs = [exact_value(value, p) for p in points]
            score, feedback = first_node(nodes, theirs, values, points)
            assert score == 0.0 and feedback == said.diagnosis, (answer.name, value, feedback, said.feedback)


def first_node(nodes, student, values, points):
    """STACK's rule on a PRT: from node 0, a node whose test holds ends with its true score
    and feedback, else its false branch; (score, feedback text) where it ends."""
    by_name = {node.findtext("name"): node for node in nodes}
    node = by_name["0"]
    while True:
        target = [values[(node.findtext("tans"), i)] for i in range(len(points))]
        test = node.findtext("answertest")
        margin = float(node.findtext("testoptions") or 0) if test == "NumAbsolute" else 0.0
        holds = all(same_value(s, t, margin) for s, t in zip(student, target))
        branch = "true" if holds else "false"
        following = node.findtext(f"{branch}nextnode")
        if following == "-1":
            text = re.sub(r"</?p>", "", html.unescape(node.findtext(f"{branch}feedback/text") or ""))
            return float(node.findtext(f"{branch}score")), text
        node = by_name[following]


def questions_of(root):
    """{(problem id, variant or None): question} and the category paths, in order."""
    found, categories = {}, []
    for question in root.findall("question"):
        if question.get("type") == "category":
            categories.append(question.findtext("category/text"))
            continue
        idnumber = question.findtext("idnumber")
        problem_id, _, variant = idnumber.rpartition("-v") if re.search(r"-v\d+$", idnumber) else (idnumber, "", "")
        found[(problem_id, int(variant) if variant else None)] = question
    return found, categories


@pytest.mark.parametrize("variants", [False, True], ids=["file", "variants"])
@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.name)
def test_every_file_grades_as_the_checker_does(path, variants, tmp_path):
    more = ("--variants", COUNT, "--seed", SEED) if variants else ()
    root, stderr = export(path, *more, tmp_path=tmp_path)
    assert root.tag == "quiz"
    questions, categories = questions_of(root)
    title = yaml.safe_load(path.read_text())["title"]
    expected = expected_problems(path, tmp_path, variants)
    for (problem_id, number), (problem, shown) in expected.items():
        if not shown and problem.kind != "essay":
            assert (problem_id, number) not in questions
            assert f"problem {problem_id} is left out" in stderr
            continue
        question = questions[(problem_id, number)]
        check_question(question, problem, shown)
        if variants:
            assert f"(variant {number})" in question.findtext("name/text")
    assert len(questions) == sum(1 for _, shown in expected.values() if shown) + sum(
        1 for problem, _ in expected.values() if problem.kind == "essay")
    root_category = f"$course$/solver/{title.replace('/', '//')}"
    if variants:
        ids = list(dict.fromkeys(problem_id for problem_id, _ in questions))
        assert categories == [f"{root_category}/{problem_id.replace('/', '//')}" for problem_id in ids]
    else:
        assert categories == [root_category]


def test_formula_answers_are_named_as_left_out_without_stack(tmp_path):
    root, stderr = export(ROOT / "problems" / "cpen455-hw2.yaml", "--no-stack", tmp_path=tmp_path)
    assert "problem 3.1 is left out (`output_size`: formulas need" in stderr
    assert "STACK" in stderr
    assert {q.findtext("idnumber") for q in root.findall("question")} >= {"2.4", "3.3a", "1.1"}


def test_essay_carries_the_model_answer_for_the_grader(tmp_path):
    root, _ = export(ESSAY_FILE, tmp_path=tmp_path)
    questions, _ = questions_of(root)
    essay = questions[("Q1a", None)]
    assert essay.get("type") == "essay"
    model = yaml.safe_load(ESSAY_FILE.read_text())["problems"][0]["given"]["model_answer"]
    grader = html.unescape(essay.findtext("graderinfo/text"))
    assert " ".join(model.split()[:8]) in " ".join(grader.split())


NASTY = "a < b && c > d ]]> \\frac{1}{2} 50% $x_1$ #3 {braces} ~tilde } / \"quote\" 'apostrophe'"
SHOWN = NASTY.replace("$x_1$", "\\(x_1\\)")       # prose's $...$ is math, for Moodle's MathJax


def test_any_text_stays_valid_xml(tmp_path):
    source = tmp_path / "nasty.yaml"
    source.write_text(yaml.safe_dump({"title": f"Set {NASTY}", "course": NASTY, "problems": [
        {"id": "q/1 <&>", "kind": "conv2d", "statement": f"Statement {NASTY}",
         "given": {"input": [[1, 2, 3], [4, 5, 6], [7, 8, 9]], "kernel": [[1, 0], [0, -1]], "padding": 1}},
        {"id": "e", "kind": "essay", "statement": NASTY, "given": {"model_answer": f"Model {NASTY}"}}]}))
    root, _ = export(source, tmp_path=tmp_path)            # parses: the XML is well formed
    questions, categories = questions_of(root)
    assert categories == [f"$course$/solver/Set {NASTY.replace('/', '//')}"]
    conv = questions[("q/1 <&>", None)]
    assert f"Statement {SHOWN}" in html.unescape(conv.findtext("questiontext/text"))
    assert len(cloze_fields(conv.findtext("questiontext/text"))) == 16 + 2      # 4x4 cells, 2 axes
    essay = questions[("e", None)]
    assert f"Model {SHOWN}" in html.unescape(essay.findtext("graderinfo/text"))


def test_cloze_feedback_keeps_any_text():
    """A Cloze field's feedback with Cloze's own special characters reads back as written."""
    from solver.commands.export.moodle import Choice, numerical
    feedback = "Kernel {flipped} ~ twice # or / \\ \"so\" <b>&"
    field = numerical([Choice("3", "0", "100", "Correct."), Choice("4", "0.5", "0", feedback),
                       Choice("*", "0", "0", "Other.")])
    [(kind, alternatives)] = cloze_fields(field)
    assert kind == "NUMERICAL"
    assert numerical_choices(alternatives) == [(100.0, "3", 0.0, "Correct."), (0.0, "4", 0.5, feedback),
                                               (0.0, "*", 0.0, "Other.")]


def test_bad_input_writes_nothing(tmp_path):
    path = ROOT / "problems" / "dsga1008-hw2.yaml"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for args, words in (((path, "--output", blocker), f"cannot write to {blocker}"),
                        ((path, "--variants", 2), "--variants and --seed go together"),
                        ((path, "--variants", 0, "--seed", 1), "--variants must be from 1 to"),
                        ((tmp_path / "missing.yaml",), "no such problem file")):
        result = run_solver("export", *args, "--to", "moodle")
        assert result.returncode == 2 and result.stdout == "", result.stderr
        assert "Traceback" not in result.stderr and words in result.stderr, result.stderr
    assert blocker.read_text() == "not a folder"


def test_a_file_with_only_formulas_is_refused(tmp_path):
    source = tmp_path / "formulas.yaml"
    source.write_text("title: T\nproblems:\n  - id: a\n    kind: conv2d\n"
                      "    given: {input_size: H, kernel_size: 3}\n")
    result = run_solver("export", source, "--to", "moodle", "--no-stack", "--output", tmp_path)
    assert result.returncode == 2 and "problem a is left out" in result.stderr
    assert "nothing was written" in result.stderr and not (tmp_path / "formulas-moodle.xml").exists()


def test_a_formula_maxima_cannot_read_is_named_and_left_out(tmp_path):
    source = tmp_path / "words.yaml"
    source.write_text("title: T\nproblems:\n  - id: a\n    kind: conv2d\n"
                      "    given: {input_size: beta, kernel_size: 3}\n"
                      "  - id: b\n    kind: conv2d\n    given: {input_size: H, kernel_size: 3}\n")
    root, stderr = export(source, tmp_path=tmp_path)
    assert "problem a is left out" in stderr and "the symbol `beta` is a word of Maxima's" in stderr
    questions, _ = questions_of(root)
    assert set(questions) == {("b", None)} and questions[("b", None)].get("type") == "stack"


def test_a_formula_beside_a_matrix_is_left_out_and_the_rest_exported():
    """No shipped kind asks a formula beside a matrix; the rule is checked on such a question."""
    from types import SimpleNamespace
    import sympy
    from solver.commands.export import Question
    from solver.commands.export.moodle import with_formulas_fit
    from solver.core.model import Answer
    formula = Answer("size", "expression", sympy.Symbol("H") + 1, "H_out")
    matrix = Answer("output", "matrix", __import__("numpy").array([[1, 2]]), "Y")
    question = Question(SimpleNamespace(problem=SimpleNamespace(id="p")), [formula, matrix], None, [])
    warnings = []
    kept = with_formulas_fit(question, warnings)
    assert kept.answers == [matrix]
    assert warnings == ["problem p: answers left out, the rest exported (`size`: a formula asked beside a matrix, "
                        "a shape or a yes/no answer: a STACK question here holds formulas and numbers only)"]


def test_a_table_is_a_grid_of_fields_each_graded_as_its_own_answer(tmp_path):
    source = tmp_path / "table.yaml"
    source.write_text("title: T\nproblems:\n  - id: net\n    kind: network\n    ask: [table]\n    given:\n"
                      "      input_shape: 3x32x32\n      layers:\n"
                      "        - {type: conv2d, out_channels: 8, kernel_size: 5, padding: 2, stride: 2}\n"
                      "        - {type: maxpool2d, kernel_size: 2}\n        - {type: flatten}\n"
                      "        - {type: linear, out_features: 10}\n")
    root, stderr = export(source, tmp_path=tmp_path)
    assert "left out" not in stderr
    questions, _ = questions_of(root)
    question = questions[("net", None)]
    assert question.get("type") == "cloze"
    problem = load(source).problems[0]
    solved = solve_once(problem)
    table = solved.solution.answers["table"].value
    grid = question.findtext("questiontext/text")
    assert grid.count("<tr>") == len(table.rows) + 1 and all(f"<th>{label}</th>" in grid for label in table.labels)
    fields = iter(cloze_fields(grid))
    general = html.unescape(question.findtext("generalfeedback/text"))
    check_cloze_answer(solved, solved.solution.answers["table"], fields, general)
    assert next(fields, None) is None, "more Cloze fields than cells"
