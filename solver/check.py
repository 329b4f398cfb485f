"""Check a student's answer against the computed one and name the likely mistake."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .answers import parse_answer
from .budget import CHECK_SECONDS, OutOfTime, time_budget
from .errors import InternalError, InvalidAnswer, SolverError, UsageError
from .kinds import get_kind
from .problems import load
from .tables import judge_rows, missing_text, read_table

RTOL, ATOL = 1e-3, 1e-6      # decimals students round: 0.2034 for 0.2033947
MAX_NAMED_CELLS = 10


@dataclass
class Verdict:
    problem: str
    answer: str
    verdict: str                         # correct, incorrect or invalid
    score: float
    feedback: str
    mistake: str | None = None
    wrong_cells: list[list[int]] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)      # a table's rows: score, wrong columns

    @property
    def exit_code(self) -> int:
        return {"correct": 0, "incorrect": 1, "invalid": 2}[self.verdict]


def check_file(path, spec: str, text: str) -> Verdict:
    """`spec` is ID or ID:ANSWER; the answer defaults to the problem's first."""
    problem_id, _, answer_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    problem = load(path, only=problem_id).problems[0]
    kind = get_kind(problem.kind)
    solution = kind.solve(problem.given)
    if answer_name and answer_name not in solution.answers:
        raise UsageError(f'{path}, problem "{problem_id}": no answer named `{answer_name}`; '
                         f"its answers are {', '.join(solution.answers)}")
    if not solution.answers:
        raise UsageError(f'{path}, problem "{problem_id}": {nothing_to_check(problem.kind)}')
    answer = solution.answers[answer_name] if answer_name else solution.first_answer()
    return check_value(problem_id, answer, text, kind.MISTAKES, problem.given)


def nothing_to_check(kind: str) -> str:
    return (f"problems of kind `{kind}` have no answer to check; the model answer is on the solution "
            "sheet and the answer key")


def check_value(problem_id, answer, text, mistakes, given) -> Verdict:
    """The verdict on `text`, checked within the time budget. An unexpected error
    is raised as InternalError naming the problem and answer: a bug in the tool."""
    try:
        with time_budget(CHECK_SECONDS):
            if answer.type == "table":
                return check_table(problem_id, answer, text, mistakes, given)
            return check_single(problem_id, answer, text, mistakes, given)
    except OutOfTime:
        return Verdict(problem_id, answer.name, "invalid", 0.0,
                       f"The answer could not be checked within the {CHECK_SECONDS:g} s each answer is "
                       "given; write it more simply (a formula as short as the expected one).")
    except InvalidAnswer as error:      # read, but too large to compare
        return Verdict(problem_id, answer.name, "invalid", 0.0, f"Could not check the answer: {error}")
    except SolverError:
        raise
    except Exception as error:
        raise InternalError(f'checking problem "{problem_id}", answer {answer.name}', error) from error


def check_single(problem_id, answer, text, mistakes, given) -> Verdict:
    names = answer.value.free_symbols if answer.type == "expression" else ()
    try:
        student = parse_answer(text, answer.type, names=names)
    except InvalidAnswer as error:
        return Verdict(problem_id, answer.name, "invalid", 0.0, f"Could not read the answer: {error}")
    score, wrong, detail = compare(answer.type, student, answer.value)
    if score == 1.0:
        return Verdict(problem_id, answer.name, "correct", 1.0, "Correct.")
    found = diagnose(given, mistakes, {answer.name: (answer.type, student, answer.value)})
    return Verdict(problem_id, answer.name, "incorrect", score, with_mistake(detail, found),
                   found[0].name if found else None, [list(i) for i in wrong])


def diagnose(given, mistakes, cells, keep=None):
    """The first (mistake, where) whose re-solved answers give the student's
    values. `cells` maps answer names to (type, student value, right value);
    `keep` maps answer names to (type, value) a matching mistake must leave as
    they are (a table's right rows). None when the time budget runs out first."""
    try:
        for mistake in mistakes:
            for where, answers in mistake.cases(given):
                if gives(answers, cells) and not changes(answers, keep or {}):
                    return mistake, where
    except OutOfTime:
        pass
    return None


def gives(answers, cells) -> bool:
    """Do a mistake's `answers` change the cells, to the student's values?"""
    values = [answers.get(name) for name in cells]
    try:
        if any(v is None for v in values) or all(compare(t, v, right)[0] == 1.0
                                             for (t, _, right), v in zip(cells.values(), values)):
            return False              # not applicable, or changes nothing here
        return all(compare(t, student, v)[0] == 1.0 for (t, student, _), v in zip(cells.values(), values))
    except InvalidAnswer:             # a formula too large to compare with this mistake's
        return False


def changes(answers, keep) -> bool:
    return any(name in answers and compare(t, answers[name], value)[0] < 1.0 for name, (t, value) in keep.items())


def with_mistake(detail: str, found) -> str:
    if found is None:
        return detail or "Incorrect."
    mistake, where = found
    return f"{detail} Likely mistake{f' ({where})' if where else ''}: {mistake.feedback}".strip()


def check_table(problem_id, answer, text, mistakes, given) -> Verdict:
    """Every cell of a table answer; a row after a wrong one is judged from it.
    The score is the share of all the table's cells answered right: a missing
    row or a blank cell counts as wrong."""
    table = answer.value
    try:
        rows = read_table(text, table)
    except InvalidAnswer as error:
        return Verdict(problem_id, answer.name, "invalid", 0.0, f"Could not read the table: {error}")
    results = judge_rows(table, rows, compare)
    score = sum(r.score for r in results) / len(results)
    rows_json = [r.as_json() for r in results]
    if all(r.score == 1.0 and not r.carried for r in results):
        return Verdict(problem_id, answer.name, "correct", 1.0, "Correct.", rows=rows_json)
    found, detail = None, ""
    first = next((r for r in results if r.wrong), None)
    if first is not None:
        found = diagnose_row(table, dict(rows), results.index(first), first.wrong, mistakes, given)
        detail = (f"Row {first.label} is the first wrong row ({', '.join(first.wrong)}). Later rows are "
                  "judged from your own previous row, so that error counts once.")
    feedback = with_mistake(detail, found)
    missing = missing_text(results, len(table.columns))
    if missing:
        feedback = f"{feedback} {missing}" if first is not None else missing
    columns = list(table.columns)
    wrong_cells = [[p, columns.index(c)] for p, r in enumerate(results) for c in columns
                   if c in r.wrong or c in r.missing]
    return Verdict(problem_id, answer.name, "incorrect", score, feedback,
                   found[0].name if found else None, wrong_cells, rows_json)


def diagnose_row(table, given_rows, position, wrong, mistakes, given):
    """The mistake that gives the wrong cells of the first wrong row and leaves the
    rows before it as the student gave them (right): a mistake in a later layer,
    or in every layer, would have changed those too."""
    label, cells = table.labels[position], given_rows[position]
    wrong_cells = {f"{c}[{label}]": (table.columns[c], cells[c], table.rows[position][c]) for c in wrong}
    keep = {f"{c}[{table.labels[p]}]": (table.columns[c], v)
            for p in range(position) for c, v in given_rows.get(p, {}).items()}
    return diagnose(given, mistakes, wrong_cells, keep)


def compare(kind: str, student, expected) -> tuple[float, list, str]:
    """(score in [0, 1], wrong cell indices, a sentence on what differs)."""
    if kind == "matrix":
        return compare_matrices(student, expected)
    if kind == "expression":
        from .expressions import equivalent     # here: only formulas need sympy
        same, detail = equivalent(student, expected)
        return (1.0, [], "") if same else (0.0, [], detail)
    if kind == "shape":
        s, e = tuple(student), tuple(expected)
        if s == e:
            return 1.0, [], ""
        return 0.0, [], f"The shape {'×'.join(map(str, s))} is not the expected one."
    if kind == "boolean":
        return (1.0, [], "") if student == expected else (0.0, [], "The yes/no answer is not correct.")
    return (1.0, [], "") if same_number(student, expected) else (0.0, [], "The value is not correct.")


def compare_matrices(student, expected):
    student, expected = np.asarray(student, dtype=object), np.asarray(expected, dtype=object)
    if student.shape != expected.shape:
        if student.size == expected.size and student.squeeze().shape == expected.squeeze().shape:
            student = student.reshape(expected.shape)
        else:
            return 0.0, [], (f"The answer has shape {shape_text(student.shape)}; the expected "
                             f"shape is {shape_text(expected.shape)}.")
    wrong = [index for index, e in np.ndenumerate(expected) if not same_number(student[index], e)]
    score = 1.0 - len(wrong) / expected.size
    if not wrong:
        return 1.0, [], ""
    names = ", ".join("[" + ",".join(map(str, i)) + "]" for i in wrong[:MAX_NAMED_CELLS])
    more = f" and {len(wrong) - MAX_NAMED_CELLS} more" if len(wrong) > MAX_NAMED_CELLS else ""
    return score, wrong, (f"{len(wrong)} of {expected.size} cells are wrong "
                          f"(0-based [row,column]): {names}{more}.")


def same_number(student, expected) -> bool:
    """Exact values compare exactly, and so does a whole number (7.006 is not 7);
    a decimal against any other value gets a tolerance."""
    if isinstance(student, (int, Fraction)) and isinstance(expected, (int, Fraction)) or is_whole(expected):
        return student == expected
    try:
        s, e = float(student), float(expected)
    except (TypeError, ValueError):
        return False
    return abs(s - e) <= max(ATOL, RTOL * abs(e))


def is_whole(value) -> bool:
    """An integer, or an exact fraction equal to one (not a float that happens to be)."""
    return (isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            or isinstance(value, Fraction) and value.denominator == 1)


def shape_text(shape) -> str:
    return "×".join(map(str, shape)) or "a single number"
