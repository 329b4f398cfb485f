"""Variants: randomized versions of a problem set, one per student.

A problem's `vary` (or, where it has none, its kind's `VARY`) maps given fields
to a list of choices, or to a range `{min: a, max: b}`; for a list value (a
matrix, a pair) every number in it is redrawn in the range and the shape kept.
Numbers are drawn with the decimals the original value is written with (0.3:
tenths), and a bound left out is the original's smallest (largest) number
rounded down (up) to one decimal fewer (0.3 gives 0 to 1; whole numbers stay).
A drawn value stays a meaningful problem: no 0 in a field that has none, no row
of zeros (a zero vector, token or weight row) in a field that has none, and no
row of equal numbers (logits of a uniform softmax) or two equal rows in a field
that has none, where the range allows.

A kind's default varies only the fields a problem gives as numbers and shows the
student (a matrix, or a field its statement shows as `{{ field }}`), and never a
value the prose writes out: a symbolic problem stays as it is and no number the
prose tells is contradicted; `vary: {}` keeps a problem as it is.

Problem j (from 0) of variant i (from 1) draws from PCG64 seeded with
`SeedSequence([seed, i, j])` (see Draws): a seed gives byte-identical files on
every machine and NumPy version, and grading can remake variant i alone. Within a variant a story stays true:
- a value several problems give the same field (parts a to e all convolve "the
  image X"; 1a, 1b and 1c use the same target) is drawn once and used by all of
  them, if one of them varies it; the first problem that varies it says how;
- a given matrix that is an earlier problem's answer in the file ("pool the
  output of part (b)") becomes that problem's answer in the variant.
Each draw is validated and solved by its kind; a draw the kind refuses is drawn
again, at most MAX_DRAWS times.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..core.errors import FieldError, ProblemError
from ..core.fields import field_key
from ..core.model import Solution
from ..kinds import get_kind
from ..kinds.common import exact
from .vary import Draws, exact_number, numbers_in, resolved
from .load import PLACEHOLDER, Problem, ProblemSet, fill_statement, read_yaml, solve_file, statement_fields

MAX_DRAWS = 100              # per problem and variant, before giving up on a `vary`
MAX_REPEATS_REDRAWN = 100    # redraws of a value with a repetition its original lacks, before keeping one
PROSE_NUMBER = re.compile(r"(?<![\w^{.\-])-?\d+(?:\.\d+)?")   # not after a letter: x_1, W1, h_{t-1}


def shown_fields(problem: Problem, statement) -> set[str]:
    """The fields a student sees: the arrays every sheet prints (render.given_arrays), the
    fields the given says its sheet shows (`shown_fields()`: a graph's values) and the fields
    the statement shows as `{{ field }}`."""
    given = problem.given
    arrays = {field_key(f) for f in dataclasses.fields(given) if printed(getattr(given, f.name))} \
        if dataclasses.is_dataclass(given) else set()
    own = given.shown_fields() if hasattr(given, "shown_fields") else set()      # a sheet shows them otherwise
    return arrays | own | statement_fields(statement)


def printed(value) -> bool:
    """A given every sheet prints: an array, or named arrays ({W: ..., b: ...})."""
    return isinstance(value, np.ndarray) or isinstance(value, dict) and bool(value) \
        and all(isinstance(item, np.ndarray) for item in value.values())


def has_zero_row(value) -> bool:
    """Whether a nested list (or a mapping of them) has a row (a list of numbers) of zeros only."""
    if isinstance(value, dict):
        return any(has_zero_row(item) for item in value.values())
    if is_row(value):
        return not any(value)
    return isinstance(value, list) and any(has_zero_row(item) for item in value)


def repetitions(value) -> set[str]:
    """The repetitions in a nested list (or a mapping of them): a row of several equal numbers,
    two equal rows of one matrix."""
    if isinstance(value, dict):
        return set().union(*map(repetitions, value.values()))
    if not isinstance(value, list):
        return set()
    if is_row(value):
        return {"equal numbers"} if len(value) > 1 and len(set(value)) == 1 else set()
    rows = [tuple(item) for item in value if is_row(item)]
    return set().union(*map(repetitions, value)) | ({"equal rows"} if len(set(rows)) < len(rows) else set())


def is_row(value) -> bool:
    """A row: a non-empty list of numbers (not of lists or mappings)."""
    return isinstance(value, list) and bool(value) and not any(isinstance(item, (list, dict)) for item in value)


def prose_numbers(statement) -> list[Fraction]:
    """The numbers a statement writes outside `{{ }}`, in order (not the 1 of x_1 or W1)."""
    text = PLACEHOLDER.sub(" ", str(statement or "")).replace("\u2212", "-")
    return [Fraction(number) for number in PROSE_NUMBER.findall(text)]


def states(prose: list[Fraction], value) -> bool:
    """Whether the prose writes `value`: its numbers, in order, one after another."""
    wanted = [exact_number(x) for x in numbers_in(value)]
    n = len(wanted)
    return n > 0 and any(prose[i:i + n] == wanted for i in range(len(prose) - n + 1))


# ---- drawing -------------------------------------------------------------------

def draw(draws: Draws, spec, original):
    """One value: a choice, or new numbers in the range in the original's shape. A
    value stays a meaningful problem: no 0 in a field that has none, no row of
    zeros (an all-zero vector, token or weight row) in a field that has none,
    never all zeros, and no repetition the original lacks (a row of equal numbers,
    two equal rows) unless MAX_REPEATS_REDRAWN draws all have one."""
    if isinstance(spec, list):
        return spec[draws.integer(0, len(spec) - 1)]
    nonzero = 0 not in numbers_in(original)
    zero_rows = has_zero_row(original) or spec.only_zero
    allowed = repetitions(original) if spec.low < spec.high else {"equal numbers", "equal rows"}
    redraws = 0
    while True:            # zero rows where the original has one, but never all zeros where it has a number
        value = redrawn(original, lambda: spec.number(draws, nonzero), zero_rows)
        if not (any(numbers_in(value)) or not any(numbers_in(original)) or spec.only_zero):
            continue
        if repetitions(value) <= allowed or redraws == MAX_REPEATS_REDRAWN:
            return value
        redraws += 1


def redrawn(value, number: Callable[[], Any], zero_rows: bool):
    if isinstance(value, dict):                   # named tensors keep their names
        return {key: redrawn(item, number, zero_rows) for key, item in value.items()}
    if not isinstance(value, list):
        return number()
    if is_row(value):
        while not any(row := [number() for _ in value]) and not zero_rows:
            pass
        return row
    return [redrawn(item, number, zero_rows) for item in value]


def plain(value):
    """An answer as YAML can hold it: nested lists of ints (floats where not whole)."""
    if isinstance(value, np.ndarray):
        return [plain(item) for item in value]
    value = exact(value)
    return value if isinstance(value, int) else float(value)


@dataclass
class Plan:
    """How one problem varies: drawn fields, and fields that are earlier answers."""
    specs: dict[str, Any]              # field -> choices or Range
    chained: dict[str, tuple]          # field -> (index of the earlier problem, answer name)

    def __bool__(self) -> bool:
        return bool(self.specs or self.chained)


@dataclass
class Wish:
    """What one problem would vary: its own `vary` (explicit) or its kind's default,
    and which fields its student sees and its prose writes out."""
    specs: dict[str, Any]
    explicit: bool
    shown: set[str]
    stated: set[str]


@dataclass
class Variant:
    number: int
    data: dict                  # the problem file's YAML mapping
    pset: ProblemSet
    solutions: list[Solution]


class Variants:
    """The variants of one problem file for one seed; `make(i)` is variant i."""

    def __init__(self, path, seed: int):
        self.path, self.seed = Path(path), seed
        self.pset, self.solutions = solve_file(self.path)
        self.data = read_yaml(self.path)
        self.givens = [raw.get("given", {}) for raw in self.data["problems"]]
        wishes = [self.wish(index, problem) for index, problem in enumerate(self.pset.problems)]
        shared = self.shared_specs(wishes)
        self.plans: list[Plan] = []
        for index, problem in enumerate(self.pset.problems):
            self.plans.append(self.plan(index, problem, wishes[index], shared))

    def wish(self, index: int, problem: Problem) -> Wish:
        given, statement = self.givens[index], self.data["problems"][index].get("statement")
        prose = prose_numbers(statement)
        stated = {name for name, value in given.items() if states(prose, value)}
        shown = shown_fields(problem, statement)
        if problem.vary is not None:
            return Wish(problem.vary, True, shown, stated)
        default = {name: spec for name, spec in get_kind(problem.kind).vary.items()
                   if numbers_in(given.get(name))}
        return Wish(default, False, shown, stated)

    def unvaried(self) -> list[str]:
        """The problems with answers that every variant keeps as they are though their file does
        not ask it (no `vary: {}`): their kind's default varies nothing they give."""
        return [problem.id for problem, plan, solution in zip(self.pset.problems, self.plans, self.solutions)
                if not plan and problem.vary is None and solution.answers]

    def key(self, index: int, name: str) -> tuple:
        """A given value as the whole file shares it: every problem that gives this
        field this value (parts a to c with the same target) varies it the same way."""
        return name, repr(self.givens[index].get(name))

    def shared_specs(self, wishes: list[Wish]) -> dict[tuple, Any]:
        """Shared value -> how it varies, for the values that vary: those a problem's
        own `vary` names (the first such problem decides how), and those a kind varies
        by default that a student sees in some problem and no problem's prose writes
        out (its numbers would contradict the prose)."""
        holders: dict[tuple, list[int]] = {}
        for index, given in enumerate(self.givens):
            for name in given:
                holders.setdefault(self.key(index, name), []).append(index)
        explicit, default = {}, {}
        for index, wish in enumerate(wishes):
            for name, spec in wish.specs.items():
                (explicit if wish.explicit else default).setdefault(self.key(index, name), spec)
        seen = {key for key, indexes in holders.items()
                if any(key[0] in wishes[i].shown for i in indexes)
                and not any(key[0] in wishes[i].stated for i in indexes)}
        return {**{key: spec for key, spec in default.items() if key in seen}, **explicit}

    def plan(self, index: int, problem: Problem, wish: Wish, shared: dict) -> Plan:
        given = self.givens[index]
        chained = {name: source for name, source in self.earlier_answers(index, problem.given).items()
                   if self.plans[source[0]]}
        specs = {name: resolved(name, shared[self.key(index, name)], given.get(name)) for name in wish.specs
                 if name not in chained and self.key(index, name) in shared
                 and (wish.explicit or name not in wish.stated)}
        return Plan(specs, chained)

    def earlier_answers(self, index: int, given) -> dict[str, tuple]:
        """Given matrices that are the answer of an earlier problem (the nearest one)."""
        found = {}
        if not dataclasses.is_dataclass(given):
            return found
        for f in dataclasses.fields(given):
            value = getattr(given, f.name)
            if not isinstance(value, np.ndarray):
                continue
            found[f.name] = next(((k, answer.name) for k in reversed(range(index))
                                  for answer in self.solutions[k].answers.values()
                                  if isinstance(answer.value, np.ndarray) and answer.value.shape == value.shape
                                  and np.array_equal(answer.value, value)), None)
        return {name: source for name, source in found.items() if source is not None}

    def make(self, number: int) -> Variant:
        memo: dict = {}          # shared value's key -> the value drawn for it in this variant
        problems, solutions, raws = [], [], []
        for index, (problem, raw) in enumerate(zip(self.pset.problems, self.data["problems"])):
            if self.plans[index]:
                given, problem, solution = self.draw_problem(number, index, memo, solutions)
                raw = {**raw, "given": given}
            else:
                solution = self.solutions[index]
            problems.append(problem)
            solutions.append(solution)
            raws.append({key: value for key, value in raw.items() if key != "vary"})
        title = f"{self.pset.title} — variant {number}" if self.pset.title else f"Variant {number}"
        data = {"title": title, **{k: v for k, v in self.data.items() if k not in ("title", "problems")},
                "problems": raws}
        return Variant(number, data, dataclasses.replace(self.pset, title=title, problems=problems), solutions)

    def draw_problem(self, number: int, index: int, memo: dict, solutions: list):
        """(raw given, Problem, Solution) of one problem in one variant. A value an
        earlier problem drew is kept while the kind accepts the rest redrawn (half
        the draws); then everything is drawn again."""
        plan, problem, original = self.plans[index], self.pset.problems[index], self.givens[index]
        kind = get_kind(problem.kind)
        draws = Draws([self.seed, number, index])
        chained = {name: plain(solutions[k].answers[answer].value) for name, (k, answer) in plan.chained.items()}
        keys = {name: self.key(index, name) for name in plan.specs}
        refusal = None
        for attempt in range(MAX_DRAWS):
            drawn = {name: memo[keys[name]] if attempt < MAX_DRAWS // 2 and keys[name] in memo
                     else draw(draws, spec, original.get(name)) for name, spec in plan.specs.items()}
            given = {**original, **chained, **drawn}
            try:
                validated = kind.read(given, problem.ask)
                solution = kind.solve(validated)
            except FieldError as error:
                refusal = error
                continue
            for name, value in drawn.items():
                memo.setdefault(keys[name], value)
            statement = fill_statement(str(self.data["problems"][index].get("statement") or ""), given, validated)
            return given, dataclasses.replace(problem, given=validated, statement=statement, vary=None), solution
        raise ProblemError(f"no valid variant in {MAX_DRAWS} draws: the kind refused every one "
                           f"(the last because `{refusal.field}` {refusal.detail}); give the problem a `vary` "
                           "whose draws fit (`vary: {}` keeps it as it is)", file=self.path, problem=problem.id,
                           field="vary")
