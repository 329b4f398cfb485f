"""Check a student's answer against the computed one and name the likely mistake."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..core.budget import CHECK_SECONDS, OutOfTime, time_budget
from ..core.errors import InternalError, InvalidAnswer, SolverError
from ..kinds import KINDS, get_kind
from .tables import judge_rows, missing_text, read_table
from .tolerance import tolerance_of
from .types import answer_type, as_sympy, compare, compare_formulas, parse_answer


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
    diagnosis: str = ""                  # the mistake named and its wording, as in `feedback`, alone

    @property
    def exit_code(self) -> int:
        return {"correct": 0, "incorrect": 1, "invalid": 2}[self.verdict]


def default_answer(problem, answers):
    """The first of `answers` the problem asks for (its `ask`), else the kind's first."""
    asked = next((name for name in problem.ask or () if name in answers), None)
    return answers[asked] if asked else next(iter(answers.values()))


def nothing_to_check(kind: str) -> str:
    return (f"problems of kind `{kind}` have no answer to check; the model answer is on the solution "
            "sheet and the answer key")


def check_value(problem, answer, text, mistakes) -> Verdict:
    """The verdict on `text` as the answer `answer` of `problem` (a solver.problems.load.Problem),
    checked within the time budget. An unexpected error is raised as InternalError naming
    the problem and answer: a bug in the tool."""
    try:
        with time_budget(CHECK_SECONDS):
            if answer_type(answer.type).by_rows:
                return check_table(problem.id, answer, text, mistakes, problem.given)
            return check_single(problem, answer, text, mistakes)
    except OutOfTime:
        return Verdict(problem.id, answer.name, "invalid", 0.0,
                       f"The answer could not be checked within the {CHECK_SECONDS:g} s each answer is "
                       "given; write it more simply (a formula as short as the expected one).")
    except InvalidAnswer as error:      # read, but too large to compare
        return Verdict(problem.id, answer.name, "invalid", 0.0, f"Could not check the answer: {error}")
    except SolverError:
        raise
    except Exception as error:
        raise InternalError(f'checking problem "{problem.id}", answer {answer.name}', error) from error


def check_single(problem, answer, text, mistakes) -> Verdict:
    tolerance = tolerance_of(problem, answer.name)
    same = partial(compare, tolerance=tolerance)
    if answer_type(answer.type).symbolic:
        # A formula may use the problem's givens and named quantities; the named ones are put in on both sides.
        named, given = named_quantities(problem), given_symbols(problem.given)
        reading = {"names": (*answer.value.free_symbols, *given), "named": named}
        known = given.union(*(value.free_symbols for value in named.values()))
        same = partial(compare_formulas, named=named, known=known)
    else:
        reading = {"named": lambda: named_quantities(problem)}      # sympy only for a number written as a formula
    try:
        student = parse_answer(text, answer.type, **reading)
    except InvalidAnswer as error:
        return Verdict(problem.id, answer.name, "invalid", 0.0, f"Could not read the answer: {error}")
    score, wrong, detail = same(answer.type, student, answer.value)
    if score == 1.0:
        return Verdict(problem.id, answer.name, "correct", 1.0, "Correct.")
    found = diagnose(problem.given, mistakes, {answer.name: (answer.type, student, answer.value)}, same=same)
    return Verdict(problem.id, answer.name, "incorrect", score, with_mistake(detail, found),
                   found[0].name if found else None, [list(i) for i in wrong], diagnosis=with_mistake("", found)
                   if found else "")


def named_quantities(problem) -> dict:
    """{name: sympy value} of the quantities the problem defines (y, h_3, v_1) that an answer
    may use: the kind's `named(given)`, if it has one, less the names the problem gives itself."""
    named = get_kind(problem.kind).named if problem.kind in KINDS else None
    if named is None:
        return {}
    given = {symbol.name for symbol in given_symbols(problem.given)}
    return {name: as_sympy(value) for name, value in named(problem.given).items() if name not in given}


def given_symbols(given) -> set:
    """The sympy symbols in a problem's given fields (x_3, H): names an answer may use."""
    found, values = set(), [given]
    while values:
        value = values.pop()
        if dataclasses.is_dataclass(value):
            values += [getattr(value, f.name) for f in dataclasses.fields(value)]
        elif isinstance(value, np.ndarray):
            values += list(value.flat)
        elif isinstance(value, (list, tuple)):       # its items one by one: arrays of several shapes too
            values += list(value)
        elif getattr(value, "free_symbols", None):
            found |= value.free_symbols
    return found


def diagnose(given, mistakes, cells, keep=None, same=None):
    """The first (mistake, where) whose re-solved answers give the student's
    values. `cells` maps answer names to (type, student value, right value);
    `keep` maps answer names to (type, value) a matching mistake must leave as
    they are (a table's right rows); `same` compares two values as `compare` does (the
    default). None when the time budget runs out first."""
    same = same or compare
    try:
        for mistake in mistakes:
            for where, answers in mistake.cases(given):
                if gives(answers, cells, same) and not changes(answers, keep or {}, same):
                    return mistake, where
    except OutOfTime:
        pass
    return None


def gives(answers, cells, same) -> bool:
    """Do a mistake's `answers` change the cells, to the student's values?"""
    values = [answers.get(name) for name in cells]
    try:
        if any(v is None for v in values) or all(same(t, v, right)[0] == 1.0
                                             for (t, _, right), v in zip(cells.values(), values)):
            return False              # not applicable, or changes nothing here
        return all(same(t, student, v)[0] == 1.0 for (t, student, _), v in zip(cells.values(), values))
    except InvalidAnswer:             # a formula too large to compare with this mistake's
        return False


def changes(answers, keep, same) -> bool:
    return any(name in answers and same(t, answers[name], value)[0] < 1.0 for name, (t, value) in keep.items())


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
        rows = read_table(text, table, parse_answer)
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
