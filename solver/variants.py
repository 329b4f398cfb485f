"""Variants: randomized versions of a problem set, one per student.

A problem's `vary` (or, where it has none, its kind's `VARY`) maps given fields
to a list of choices, or to a range `{min: a, max: b}`; for a list value (a
matrix, a pair) every number in it is redrawn in the range and the shape kept.
Numbers are drawn with the decimals the original value is written with (0.3:
tenths), and a bound left out is the original's smallest (largest) number
rounded down (up) to one decimal fewer (0.3 gives 0 to 1; whole numbers stay).
A drawn value stays a meaningful problem: no 0 in a field that has none, no row
of zeros (a zero vector, token or weight row) in a field that has none.

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

import csv
import dataclasses
import io
import math
import os
import re
import secrets
import shutil
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from .errors import FieldError, ProblemError, SolverError, UsageError
from .fields import MAX_SIZE
from .kinds import get_kind
from .kinds.common import exact
from .model import Solution
from .problems import PLACEHOLDER, Problem, ProblemSet, read_yaml, statement_fields
from .solve import solve_file

MAX_DRAWS = 100              # per problem and variant, before giving up on a `vary`
MAX_COUNT = 10_000           # variants in one run
SHEETS = ("solutions", "key")
KEY_COLUMNS = ("variant", "problem", "answer", "text")
PROGRESS_EVERY = 20          # variants between progress messages
MAX_PLACES = 6               # decimals a drawn number has at most
RANGE = ("min", "max")
SPEC_FORM = "a list of choices, or a range {min: a, max: b}"
PROSE_NUMBER = re.compile(r"(?<![\w^{.\-])-?\d+(?:\.\d+)?")   # not after a letter: x_1, W1, h_{t-1}


# ---- reading `vary` ----------------------------------------------------------

def read_vary(kind, given: dict, vary) -> dict:
    """A problem's `vary`, checked against its kind's fields and its given values."""
    if not isinstance(vary, dict):
        raise ProblemError(f"must be a mapping from given fields to {SPEC_FORM}", field="vary")
    fields = [f.name for f in dataclasses.fields(kind.Given)]
    for name, spec in vary.items():
        if name not in fields:
            raise ProblemError(f"`{name}` is not a given field of kind `{kind.name}`; it takes "
                               f"{', '.join(fields)}", field=f"vary.{name}")
        resolved(name, spec, given.get(name))
    return vary


@dataclass(frozen=True)
class Range:
    """The numbers low/10^places to high/10^places: whole numbers, or decimals
    written to `places` decimals as the problem writes its own."""
    low: int
    high: int
    places: int

    def number(self, draws: Draws, nonzero: bool):
        """One number of the range; never 0 if `nonzero`, unless 0 is all it holds."""
        if nonzero and self.low <= 0 <= self.high and self.low < self.high:
            k = draws.integer(self.low, self.high - 1)
            k += k >= 0                       # 0 is left out: the numbers above it move down one
        else:
            k = draws.integer(self.low, self.high)
        return k if self.places == 0 else float(Fraction(k, 10**self.places))

    @property
    def only_zero(self) -> bool:
        return self.low == self.high == 0


def resolved(name: str, spec, original):
    """The spec as drawn: its list of choices, or a Range. Numbers are drawn to the
    decimals the original value is written with; a bound left out is the original's
    smallest (largest) number, rounded down (up) to one decimal fewer: 0.3 gives
    0 to 1, 0.15 gives 0.1 to 0.2, whole numbers stay as they are."""
    where = f"vary.{name}"
    if isinstance(spec, list):
        if not spec:
            raise ProblemError("is an empty list; list at least one choice", field=where)
        return spec
    if not isinstance(spec, dict) or not set(spec) <= set(RANGE):
        raise ProblemError(f"must be {SPEC_FORM}; got {spec!r}", field=where)
    numbers = numbers_in(original)
    places = max(map(decimals, numbers), default=0)
    unit = Fraction(1, 10**max(places - 1, 0))
    exact = [exact_number(x) for x in numbers]
    defaults = (math.floor(min(exact) / unit) * unit, math.ceil(max(exact) / unit) * unit) \
        if numbers else (None, None)
    bounds = [spec.get(bound, default) for bound, default in zip(RANGE, defaults)]
    low, high = (in_steps(value, places, bound, where) for bound, value in zip(RANGE, bounds))
    if low > high:
        raise ProblemError(f"has min {written(bounds[0])} larger than max {written(bounds[1])}", field=where)
    return Range(low, high, places)


def in_steps(value, places: int, bound: str, where: str) -> int:
    """A bound as a whole number of steps of 10^-places."""
    if value is None:
        raise ProblemError(f"needs `{bound}`: the given value has no numbers to take it from", field=where)
    number = isinstance(value, (int, float, Fraction)) and not isinstance(value, bool) \
        and math.isfinite(value) and abs(value) <= MAX_SIZE
    steps = exact_number(value) * 10**places if number else None
    if steps is None or steps.denominator != 1:
        form = "a whole number" if places == 0 else f"a number with at most {places} decimals, as the given value,"
        raise ProblemError(f"`{bound}` must be {form} between -{MAX_SIZE} and {MAX_SIZE}; got {value!r}",
                           field=where)
    return int(steps)


def written(x) -> str:
    """A bound as the problem would write it: 1, 0.3 (not 3/10)."""
    x = exact_number(x)
    return str(x) if x.denominator == 1 else str(float(x))


def numbers_in(value) -> list:
    """The numbers of a number or nested list (or a mapping of them: named tensors); [] if
    anything else is in it."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        found = [numbers_in(item) for item in value]
        return [x for part in found for x in part] if all(found) else []
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def exact_number(x) -> Fraction:
    """A YAML number as written: 0.3 is 3/10, not the float nearest it."""
    return Fraction(repr(x)) if isinstance(x, float) else Fraction(x)


def decimals(x) -> int:
    """Decimals a number is written with: none for an int, at least one for a float
    (2.0), at most MAX_PLACES (a 1e-20 is drawn to MAX_PLACES decimals)."""
    if not isinstance(x, float):
        return 0
    return min(MAX_PLACES, max(1, -Decimal(repr(x)).as_tuple().exponent))


def shown_fields(problem: Problem, statement) -> set[str]:
    """The fields a student sees: the arrays every sheet prints (render.given_arrays)
    and the fields the statement shows as `{{ field }}`."""
    given = problem.given
    arrays = {f.name for f in dataclasses.fields(given) if isinstance(getattr(given, f.name), np.ndarray)} \
        if dataclasses.is_dataclass(given) else set()
    return arrays | statement_fields(statement)


def has_zero_row(value) -> bool:
    """Whether a nested list (or a mapping of them) has a row (a list of numbers) of zeros only."""
    if isinstance(value, dict):
        return any(has_zero_row(item) for item in value.values())
    if not isinstance(value, list):
        return False
    if value and not any(isinstance(item, (list, dict)) for item in value):
        return not any(value)
    return any(has_zero_row(item) for item in value)


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

class Draws:
    """Whole numbers drawn from PCG64's raw stream for a key. NumPy keeps a bit
    generator's stream and SeedSequence the same across versions, but not the
    streams of Generator methods, so variants are made again identically (to grade
    them) on any NumPy."""

    def __init__(self, key: list[int]):
        self.bits = np.random.PCG64(np.random.SeedSequence(key))

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high]: rejection keeps the modulo unbiased."""
        span = high - low + 1
        limit = 2**64 - 2**64 % span
        while (raw := int(self.bits.random_raw())) >= limit:
            pass
        return low + raw % span


def draw(draws: Draws, spec, original):
    """One value: a choice, or new numbers in the range in the original's shape. A
    value stays a meaningful problem: no 0 in a field that has none, no row of
    zeros (an all-zero vector, token or weight row) in a field that has none, and
    never all zeros."""
    if isinstance(spec, list):
        return spec[draws.integer(0, len(spec) - 1)]
    nonzero = 0 not in numbers_in(original)
    zero_rows = has_zero_row(original) or spec.only_zero
    while True:            # zero rows where the original has one, but never all zeros where it has a number
        value = redrawn(original, lambda: spec.number(draws, nonzero), zero_rows)
        if any(numbers_in(value)) or not any(numbers_in(original)) or spec.only_zero:
            return value


def redrawn(value, number: Callable[[], Any], zero_rows: bool):
    if isinstance(value, dict):                   # named tensors keep their names
        return {key: redrawn(item, number, zero_rows) for key, item in value.items()}
    if not isinstance(value, list):
        return number()
    if value and not any(isinstance(item, (list, dict)) for item in value):      # a row of numbers
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
                validated = kind.read(given)
                solution = kind.solve(validated)
            except FieldError as error:
                refusal = error
                continue
            for name, value in drawn.items():
                memo.setdefault(keys[name], value)
            return given, dataclasses.replace(problem, given=validated, vary=None), solution
        raise ProblemError(f"no valid variant in {MAX_DRAWS} draws: the kind refused every one "
                           f"(the last because `{refusal.field}` {refusal.detail}); give the problem a `vary` "
                           "whose draws fit (`vary: {}` keeps it as it is)", file=self.path, problem=problem.id,
                           field="vary")


# ---- writing -------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Plain YAML: a given shared by several problems is written out each time."""

    def ignore_aliases(self, data):
        return True


def _text(dumper, text: str):
    """Prose as an instructor writes it: folded (>) if one paragraph, literal (|) if several lines."""
    lines = text.rstrip("\n").count("\n")
    style = None if "\n" not in text else (">" if lines == 0 else "|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def variant_yaml(variant: Variant, source: Path, seed: int) -> str:
    header = f"# Variant {variant.number} of {source.name}, made by `solver variants --seed {seed}`.\n"
    return header + yaml.dump(variant.data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=100)


def key_rows(variant: Variant) -> list[list]:
    """The answers each sheet shows, as a student would type them: exact where exact,
    decimals to the fewest significant figures the checker accepts."""
    from .answers.tolerance import tolerance_of
    from .answers.types import format_rounded, same_number
    from .render import asked

    def accepts(problem, answer):
        return lambda typed, value: same_number(typed, value, tolerance_of(problem, answer.name))
    return [[variant.number, problem.id, answer.name,
             format_rounded(answer.value, answer.type, accepts(problem, answer))]
            for problem, solution in zip(variant.pset.problems, variant.solutions)
            for answer in asked(solution, problem.ask)]


def write_variants(path, count: int, seed: int, output="output", fmt: str = "latex",
                   progress: Callable[[str], None] = lambda message: None) -> Path:
    """Write `count` variants of the problem file at `path` into OUTPUT/STEM-variants/:
    each one's problem file, solutions and key sheets, and one CSV answer key.
    The folder is filled beside its place and then moved in: a failure leaves the
    previous one, if any, as it was."""
    from .render import EXTENSIONS, render
    from .sheets import sheet_stem
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"--count must be from 1 to {MAX_COUNT}; got {count}")
    path = Path(path)
    variants = Variants(path, seed)
    target = Path(output) / f"{path.stem}-variants"
    key = io.StringIO()
    writer = csv.writer(key, lineterminator="\n")
    writer.writerow(KEY_COLUMNS)
    with staged(target) as folder:
        for number in range(1, count + 1):
            variant = variants.make(number)
            name = f"{path.stem}-v{number:0{len(str(count))}d}"
            write_text(folder / f"{name}.yaml", variant_yaml(variant, path, seed))
            for mode in SHEETS:
                write_text(folder / f"{sheet_stem(name, mode)}.{EXTENSIONS[fmt]}",
                           render(variant.pset, variant.solutions, fmt, mode))
            writer.writerows(key_rows(variant))
            if number % PROGRESS_EVERY == 0:
                progress(f"variants: {number} of {count}")
        write_text(folder / f"{path.stem}-variants-key.csv", key.getvalue())
    return target


def write_text(path: Path, text: str):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(text)


@contextmanager
def staged(target: Path):
    """A new folder that takes `target`'s place once the body has filled it."""
    if target.exists() and not target.is_dir():
        raise SolverError(f"cannot write the variants to {target}: it exists and is not a folder")
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.mkdir()                   # mkdir, unlike mkdtemp, gives the umask's permissions
        yield temp
        with signals_held():
            replace_folder(temp, target)
    except OSError as error:
        raise SolverError(f"cannot write to {target.parent}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM wait for the end of the block: a swap of folders is never
    left half done (the old folder moved aside, the new one not yet in its place)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def replace_folder(new: Path, target: Path):
    """Rename `new` to `target`; an older `target` is moved aside first, then removed."""
    if not target.exists():
        os.rename(new, target)
        return
    old = target.with_name(f".{target.name}.{secrets.token_hex(6)}.old")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
