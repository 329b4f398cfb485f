"""Grade many students' answers at once: a CSV of answers in, the same rows with a
verdict, score, feedback and mistake out, a total per student, and a summary of
the common mistakes per problem for the instructor.

Each row is checked by `check_value`, as `solver check` does. Every problem is
solved once, and its mistakes re-solved at most once, however many rows ask
about it: that is what makes ten thousand rows quick.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..answers.check import Verdict, check_value, default_answer, nothing_to_check
from ..core.errors import ProblemError, SolverError, UsageError, bug_text
from ..kinds import get_kind
from ..core.model import Solution
from ..problems.load import Problem, ProblemSet, load
from ..problems.variants import Variant, Variants

REQUIRED_COLUMNS = ("student", "problem", "answer", "text")
VARIANT_COLUMN = "variant"
ADDED_COLUMNS = ("verdict", "score", "feedback", "mistake")
TOTAL = "TOTAL"              # the problem cell of a student's total row, whose verdict is "total"
MAX_FILE_BYTES = 50_000_000
MAX_CELL = 1_000_000         # characters in one cell; the answer grammar refuses long answers sooner
PROGRESS_EVERY = 1000        # rows between progress messages (so small files print none)
NAMES_LISTED = 10            # answer names an "unknown answer" message lists
COMMON_MISTAKES = 3          # mistakes the summary names per problem
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")    # what makes a spreadsheet read a cell as a formula


@dataclass
class Solved:
    """A problem solved once, with its mistakes' re-solved answers remembered."""
    problem: Problem
    solution: Solution
    mistakes: list


def solve_once(problem: Problem, kind=None) -> Solved:
    kind = kind or get_kind(problem.kind)
    return Solved(problem, kind.solve(problem.given), remembered(kind.mistakes, problem.given))


def remembered(mistakes, given) -> list:
    """The mistakes, each re-solving `given` on first use only: diagnosing a wrong
    answer asks every mistake for its answers."""
    return [dataclasses.replace(m, answers=_Once(m.answers, given)) for m in mistakes]


class _Once:
    def __init__(self, answers: Callable, given):
        self.answers, self.given, self.found = answers, given, None

    def __call__(self, given):
        if given is not self.given:
            return self.answers(given)
        if self.found is None:
            self.found = self.answers(given)
        return self.found


@dataclass
class Tally:
    """Scores and verdicts of one student, or of one problem."""
    score: float = 0.0
    verdicts: Counter = field(default_factory=Counter)
    mistakes: Counter = field(default_factory=Counter)

    def add(self, verdict: Verdict):
        self.score += verdict.score
        self.verdicts[verdict.verdict] += 1
        if verdict.mistake:
            self.mistakes[verdict.mistake] += 1

    @property
    def count(self) -> int:
        return sum(self.verdicts.values())

    def counts_text(self) -> str:
        return ", ".join(f"{self.verdicts[v]} {v}" for v in ("correct", "incorrect", "invalid"))


@dataclass
class Grades:
    source: str
    header: list[str]                          # the input's columns, then ADDED_COLUMNS
    rows: list[list[str]]
    students: dict[str, Tally]
    problems: dict[str, Tally]
    bugs: int = 0                              # rows graded invalid because the tool failed on them

    def csv(self) -> str:
        """The graded rows, then one total row per student (problem TOTAL, verdict total)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(map(inert, self.header))
        writer.writerows(map(inert, row) for row in self.rows)
        for student, tally in self.students.items():
            total = {"student": student, "problem": TOTAL, "verdict": "total", "score": score_text(tally.score),
                     "feedback": f"{score_text(tally.score)} of {tally.count} "
                                 f"(mean {tally.score / tally.count:.2f}): {tally.counts_text()}"}
            writer.writerow(inert(total.get(column.strip().lower(), "")) for column in self.header)
        return out.getvalue()

    def summary(self) -> str:
        """Per problem: how many answers were right, wrong and unreadable, and the common mistakes."""
        lines = [f"Graded {counted(sum(t.count for t in self.problems.values()), 'answer')} of "
                 f"{counted(len(self.students), 'student')} against {self.source}:"]
        for problem, tally in self.problems.items():
            common = ", ".join(f"{name} ({n})" for name, n in tally.mistakes.most_common(COMMON_MISTAKES))
            lines.append(f"  {problem or '(no problem)'}: {counted(tally.count, 'answer')}, "
                         f"{tally.counts_text()}, mean score {tally.score / tally.count:.2f}"
                         + (f"; common mistakes: {common}" if common else ""))
        if self.bugs:
            lines.append(f"{counted(self.bugs, 'row')} met a bug in solver and {'was' if self.bugs == 1 else 'were'} "
                         "graded invalid: grade them by hand, and please report it (run with --debug for details).")
        return "\n".join(lines)


def grade_file(problem_path, answers_path, progress: Callable[[str], None] | None = None,
               seed: int | None = None, count: int | None = None, debug: bool = False) -> Grades:
    """Grade every row of `answers_path` against the problems of `problem_path`;
    a row with a variant number against that variant of `solver variants
    --seed SEED --count COUNT`. Bad input (a file that cannot be read, missing
    columns) raises SolverError; a bad row (unknown problem or answer, unreadable
    text, a variant out of range) is graded invalid, and so is a row that meets a
    bug in the tool (said on `progress`, with the traceback if `debug`)."""
    if count is not None and count < 1:
        raise UsageError(f"--count must be at least 1; got {count}")
    header, records = read_answers(Path(answers_path))
    grader = Grader(load(problem_path), seed, count)
    column = {name.strip().lower(): i for i, name in reversed(list(enumerate(header)))}
    grades = Grades(str(problem_path), header + list(ADDED_COLUMNS), [], {}, {})
    for number, cells in enumerate(records, start=1):
        cell = {name: cells[i] for name, i in column.items()}
        verdict, failed = grade_row(grader, cell, len(cells) - len(header), number, progress, debug)
        grades.bugs += failed
        student = cell["student"].strip()
        if student:
            grades.students.setdefault(student, Tally()).add(verdict)
        grades.problems.setdefault(cell["problem"].strip(), Tally()).add(verdict)
        grades.rows.append(cells[:len(header)] + [verdict.verdict, score_text(verdict.score),
                                                  verdict.feedback, verdict.mistake or ""])
        if progress and number % PROGRESS_EVERY == 0:
            progress(f"graded {number} of {len(records)} rows")
    order = {problem.id: i for i, problem in enumerate(grader.pset.problems)}   # unknown ids last
    grades.problems = dict(sorted(grades.problems.items(), key=lambda item: order.get(item[0], len(order))))
    return grades


def grade_row(grader, cell: dict, extra_cells: int, number: int, progress, debug: bool) -> tuple[Verdict, bool]:
    """The row's verdict, and whether the tool failed on it: a bug makes the row invalid, and grading goes on."""
    try:
        return grader.grade(cell, extra_cells), False
    except SolverError:
        raise
    except Exception as error:
        reason = bug_text(error)
        if progress:
            progress(f"row {number}: internal error ({reason}), a bug in solver; the row is graded invalid"
                     + ("\n" + traceback.format_exc().rstrip() if debug else ""))
        return Verdict(cell["problem"].strip(), cell["answer"].strip(), "invalid", 0.0,
                       f"Internal error while checking this answer (a bug in the tool, not in the answer): "
                       f"{reason}"), True


class Grader:
    """Checks rows against one problem set, or its variants, solving each problem
    (and making each variant) the first time it is asked."""

    def __init__(self, pset: ProblemSet, seed: int | None = None, count: int | None = None):
        self.pset, self.seed, self.count = pset, seed, count
        self.solved: dict[tuple, Solved] = {}         # (variant number or None, problem id) -> Solved
        self.variants: Variants | None = None
        self.made: dict[int, Variant] = {}

    def grade(self, cell: dict, extra_cells: int) -> Verdict:
        problem_id, answer_name = cell["problem"].strip(), cell["answer"].strip()

        def invalid(feedback):
            return Verdict(problem_id, answer_name, "invalid", 0.0, feedback)

        if extra_cells > 0:
            return invalid(f"The row has {extra_cells} more cells than the header has columns; "
                           "quote a text that contains commas.")
        if not cell["student"].strip():
            return invalid("The student cell is empty.")
        variant = cell.get(VARIANT_COLUMN, "").strip()
        refused = variant and self.refused_variant(variant)
        if refused:
            return invalid(refused)
        solved = self.solved_problem(problem_id, int(variant) if variant else None)
        if solved is None:
            return invalid(f'{self.pset.path} has no problem "{problem_id}"; its problems are: '
                           f"{', '.join(p.id for p in self.pset.problems)}.")
        answers = solved.solution.answers
        if not answers:
            return invalid(f'Problem "{problem_id}": {nothing_to_check(solved.problem.kind)}.')
        if answer_name and answer_name not in answers:
            return invalid(f'Problem "{problem_id}" has no answer named `{answer_name}`'
                           f"{get_kind(solved.problem.kind).unasked(answer_name)}; its answers are {listed(answers)}.")
        answer = answers[answer_name] if answer_name else default_answer(solved.problem, solved.solution.answers)
        return check_value(solved.problem, answer, cell["text"], solved.mistakes)

    def refused_variant(self, text: str) -> str | None:
        """Why a variant cell cannot be graded, or None."""
        if self.count is None:
            return (f"The row is for variant {text}, but no --seed was given: grade with the --seed and "
                    "--count you gave `solver variants`.")
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= self.count:
            return f"Variant {text!r} is out of range: the variants are 1 to {self.count}."
        return None

    def solved_problem(self, problem_id: str, number: int | None = None) -> Solved | None:
        """The problem of that id, of variant `number` (None: the file's own)."""
        key = (number, problem_id)
        if key not in self.solved:
            pset = self.pset if number is None else self.variant(number).pset
            index = next((i for i, p in enumerate(pset.problems) if p.id == problem_id), None)
            if index is None:
                return None
            self.solved[key] = self.solve(index, number)
        return self.solved[key]

    def solve(self, index: int, number: int | None) -> Solved:
        if number is not None:
            variant = self.variant(number)
            problem = variant.pset.problems[index]
            mistakes = remembered(get_kind(problem.kind).mistakes, problem.given)
            return Solved(problem, variant.solutions[index], mistakes)
        problem = self.pset.problems[index]
        try:
            return solve_once(problem)
        except ProblemError as error:
            raise error.located(file=self.pset.path, problem=problem.id) from None

    def variant(self, number: int) -> Variant:
        if self.variants is None:
            self.variants = Variants(self.pset.path, self.seed)
        if number not in self.made:
            self.made[number] = self.variants.make(number)
        return self.made[number]


def read_answers(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows), each row padded to the header's length; blank lines are skipped.
    SolverError names the file and what is wrong with it."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise SolverError(f"{path}: is larger than {MAX_FILE_BYTES:,} bytes; split it into several files")
        text = path.read_text(encoding="utf-8-sig")          # -sig: a spreadsheet's byte-order mark
    except FileNotFoundError:
        raise SolverError(f"{path}: no such answers file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SolverError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)     # strict: an unclosed quote is an error
    try:
        with cell_limit(MAX_CELL):
            records = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as error:
        if "field limit" in str(error):
            raise SolverError(f"{path}, line {reader.line_num}: has a cell of more than {MAX_CELL:,} characters; "
                              "a cell holds one answer (a quote never closed also runs to the end of the "
                              "file)") from None
        raise SolverError(f"{path}, line {reader.line_num}: is not valid CSV ({error}); a quote that is "
                          "never closed is the usual cause") from None
    header = records[0] if records else []
    missing = [c for c in REQUIRED_COLUMNS if c not in {h.strip().lower() for h in header}]
    if missing:
        problem = f"lacks the column{'s' * (len(missing) > 1)} {', '.join(missing)}" if header else "is empty"
        raise SolverError(f"{path}: {problem}; an answers file has a header row naming the columns "
                          f"{', '.join(REQUIRED_COLUMNS)} and optionally {VARIANT_COLUMN}, in any order")
    clashing = [c for c in ADDED_COLUMNS if c in {h.strip().lower() for h in header}]
    if clashing:
        raise SolverError(f"{path}: already has the columns {', '.join(clashing)}, which grading adds; "
                          "grade the students' answers, not a grades file")
    return header, [r + [""] * (len(header) - len(r)) for r in records[1:]]


@contextmanager
def cell_limit(limit: int):
    """csv's cell size limit (a module-wide setting), raised for one read and then restored."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def inert(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs as a formula (OWASP's rule for
    CSV injection): one starting with =, +, -, @, a tab or a carriage return gets a ' in front."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def listed(names, limit: int = NAMES_LISTED) -> str:
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def score_text(score: float) -> str:
    """1 -> "1", 0.5 -> "0.5", 2/3 -> "0.667"."""
    return f"{score:.3f}".rstrip("0").rstrip(".")
