"""Selftest: every problem's own answers check as correct, every mistake's answer
is diagnosed as a mistake that gives that very answer, and garbage is invalid.

One line per problem with counts, then the full details of each failure. A
failure is also a check that raises: the selftest is where a kind's bugs show.
A problem that varies (solver/variants.py) is checked in a few variants too,
counted in its line.
"""
from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from ..answers.check import check_value
from ..answers.tolerance import tolerance_of
from ..answers.types import compare, format_answer
from ..core.errors import UsageError
from .grade import Solved, counted, solve_once
from ..problems.load import Problem, load
from ..problems.variants import Variant, Variants

# Unbalanced on purpose: "seven-ish" alone reads as a formula (s·e·v·e·n − i·s·h).
GARBAGE = "seven-ish ("
QUOTED_TEXT = 200            # characters of a checked answer a failure report quotes
COLUMNS = ("file", "problem", "answers", "variants", "correct", "mistakes", "garbage", "result")
VARIANTS_CHECKED = 3         # of each problem that varies
VARIANT_SEED = 0


@dataclass
class Count:
    passed: int = 0
    total: int = 0

    def __str__(self) -> str:
        return f"{self.passed}/{self.total}"


@dataclass
class Failure:
    answer: str
    check: str           # "own answer", "mistake NAME (where)" or "garbage"
    text: str            # the answer text that was checked
    outcome: str         # what happened instead of what should have

    def describe(self, file: str, problem: str) -> str:
        text = self.text if len(self.text) <= QUOTED_TEXT else self.text[:QUOTED_TEXT] + "…"
        answer = f" answer {self.answer!r}" if self.answer else ""
        checked = f"  checked: {text!r}\n" if text else ""
        return f"FAIL {file} problem {problem!r}{answer}, {self.check}:\n{checked}  {self.outcome}"


@dataclass
class Report:
    file: str
    problem: str
    answers: int = 0
    variants: int = 0
    correct: Count = field(default_factory=Count)
    mistakes: Count = field(default_factory=Count)
    garbage: Count = field(default_factory=Count)
    failures: list[Failure] = field(default_factory=list)

    def row(self) -> tuple:
        result = f"{counted(len(self.failures), 'failure')}" if self.failures else "ok"
        return (self.file, self.problem, self.answers, self.variants, self.correct, self.mistakes,
                self.garbage, result)

    def absorb(self, other: Report, label: str):
        """Count the checks of a variant of this problem in this report; its failures say which."""
        self.variants += 1
        for mine, theirs in ((self.correct, other.correct), (self.mistakes, other.mistakes),
                             (self.garbage, other.garbage)):
            mine.passed += theirs.passed
            mine.total += theirs.total
        self.failures += [dataclasses.replace(f, check=f"{label}, {f.check}") for f in other.failures]


def selftest_problem(problem: Problem, kind=None, file: str = "") -> Report:
    """Check every answer of one problem; `kind` defaults to the problem's own."""
    report = Report(str(file), problem.id)
    try:
        solved = solve_once(problem, kind)
        for answer in solved.solution.answers.values():
            report.answers += 1
            check_answer(report, solved, answer)
    except Exception as error:          # a kind's bug is a failure to report, not a crash
        report.failures.append(Failure("", "solving, or listing the mistakes' answers", "", raised(error)))
    return report


def check_answer(report: Report, solved: Solved, answer):
    own = format_answer(answer.value, answer.type)
    attempt(report, report.correct, answer.name, "own answer", own,
            lambda: own_answer_outcome(solved, answer, own))
    for label, value, text in mistake_answers(solved, answer):
        attempt(report, report.mistakes, answer.name, label, text,
                lambda: mistake_outcome(solved, answer, value, text))
    attempt(report, report.garbage, answer.name, "garbage", GARBAGE,
            lambda: garbage_outcome(solved, answer))


def attempt(report: Report, count: Count, answer: str, label: str, text: str, outcome: Callable):
    """Run one check; `outcome()` is None when it passes, else what went wrong."""
    count.total += 1
    try:
        found = outcome()
    except Exception as error:
        found = raised(error)
    if found is None:
        count.passed += 1
    else:
        report.failures.append(Failure(answer, label, text, found))


def raised(error: Exception) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"raised {type(error).__name__}: {error} (at {where.filename}:{where.lineno})"


def check(solved: Solved, answer, text: str):
    return check_value(solved.problem, answer, text, solved.mistakes)


def own_answer_outcome(solved, answer, text) -> str | None:
    verdict = check(solved, answer, text)
    if verdict.verdict == "correct" and verdict.score == 1.0:
        return None
    return f"expected correct with score 1, got {verdict.verdict} (score {verdict.score}): {verdict.feedback}"


def mistake_answers(solved: Solved, answer):
    """(label, value, text) for each different wrong answer the mistakes give, labelled
    by the first mistake that gives it. A mistake that changes nothing here is skipped."""
    seen = set()
    for mistake in solved.mistakes:
        for where, answers in mistake.cases(solved.problem.given):
            value = answers.get(answer.name)
            if value is None or same(answer.type, value, answer.value, tolerance_of(solved.problem, answer.name)):
                continue
            text = format_answer(value, answer.type)
            if text not in seen:
                seen.add(text)
                yield f"mistake {mistake.name}" + (f" ({where})" if where else ""), value, text


def mistake_outcome(solved, answer, value, text) -> str | None:
    """Incorrect, and the mistake named gives this very answer (two mistakes may
    give the same one), with its feedback shown."""
    verdict = check(solved, answer, text)
    if verdict.verdict != "incorrect" or verdict.score >= 1.0:
        return f"expected incorrect, got {verdict.verdict} (score {verdict.score}): {verdict.feedback}"
    named = next((m for m in solved.mistakes if m.name == verdict.mistake), None)
    if named is None:
        return f"incorrect, but no mistake was named: {verdict.feedback}"
    if not any(answer.name in found and same(answer.type, value, found[answer.name],     # as the checker compares:
                                             tolerance_of(solved.problem, answer.name))   # the answer against
               for _, found in named.cases(solved.problem.given)):                       # the mistake's value
        return f"diagnosed as {named.name}, which does not give this answer: {verdict.feedback}"
    if named.feedback not in verdict.feedback:
        return f"diagnosed as {named.name}, but its feedback is not shown: {verdict.feedback}"
    return None


def garbage_outcome(solved, answer) -> str | None:
    verdict = check(solved, answer, GARBAGE)
    if verdict.verdict == "invalid" and verdict.exit_code == 2:
        return None
    return f"expected invalid, got {verdict.verdict}: {verdict.feedback}"


def same(answer_type: str, a, b, tolerance=None) -> bool:
    return compare(answer_type, a, b, tolerance)[0] == 1.0


def selftest(files, out: TextIO, progress: Callable[[str], None] = lambda message: None) -> int:
    """Selftest every problem of `files` (default: problems/*.yaml), print the table
    and the failures to `out`; the number of failures."""
    paths = [Path(f) for f in files] or default_files()
    widths = (max(len(str(p)) for p in paths), 12, 7, 8, 9, 9, 9, 0)
    print(table_line(COLUMNS, widths), file=out, flush=True)
    reports = []
    for path in paths:
        pset = load(path)
        progress(f"selftest: {path}, {len(pset.problems)} problems")
        variants, made, failed = made_variants(path)
        for index, problem in enumerate(pset.problems):
            reports.append(selftest_problem(problem, file=str(path)))
            if variants and variants.plans[index]:
                for variant in made:
                    reports[-1].absorb(selftest_problem(variant.pset.problems[index], file=str(path)),
                                       f"variant {variant.number}")
            print(table_line(reports[-1].row(), widths), file=out, flush=True)
        if failed:
            reports.append(failed)
            print(table_line(failed.row(), widths), file=out, flush=True)
    failures = [f.describe(r.file, r.problem) for r in reports for f in r.failures]
    checks = sum(c.total for r in reports for c in (r.correct, r.mistakes, r.garbage))
    summary = (f"{counted(len(reports), 'problem')}, {counted(sum(r.answers for r in reports), 'answer')}, "
               f"{counted(checks, 'check')}: {counted(len(failures), 'failure')}")
    print("\n".join(["", *failures, summary]), file=out)
    return len(failures)


def made_variants(path) -> tuple[Variants | None, list[Variant], Report | None]:
    """The file's first few variants, or a report of the error that stopped making them."""
    try:
        variants = Variants(path, VARIANT_SEED)
        return variants, [variants.make(n) for n in range(1, VARIANTS_CHECKED + 1)], None
    except Exception as error:
        report = Report(str(path), "(variants)")
        report.failures.append(Failure("", f"making {VARIANTS_CHECKED} variants", "", raised(error)))
        return None, [], report


def table_line(cells, widths) -> str:
    return "  ".join(f"{cell!s:<{width}}" for cell, width in zip(cells, widths)).rstrip()


def default_files() -> list[Path]:
    """problems/*.yaml here, else the repository's own."""
    for folder in (Path("problems"), Path(__file__).resolve().parent.parent / "problems"):
        found = sorted(folder.glob("*.yaml"))
        if found:
            return found
    raise UsageError("no problem files given, and no problems/*.yaml here; name the files to test")
