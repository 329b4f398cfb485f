"""Problem files: read the YAML, validate every problem, name what is wrong."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ProblemError, SolverError
from .tolerance import Tolerances, read_tolerances

SET_KEYS = ("title", "course", "term", "instructions", "problems")
PROBLEM_KEYS = ("id", "kind", "statement", "given", "ask", "tolerance", "vary")
INDEXED = re.compile(r"\[\d+\]\Z")      # params[3] is an answer NAME[i]
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")   # {{ field }} in a statement
MAX_FILE_BYTES = 2_000_000


@dataclass
class Problem:
    id: str
    kind: str
    given: Any                      # the kind's validated dataclass
    statement: str = ""
    ask: list[str] | None = None    # answers a sheet shows; None means all
    vary: dict | None = None
    tolerance: Tolerances | None = None     # None: the checker's default


@dataclass
class ProblemSet:
    path: Path
    title: str
    course: str = ""
    term: str = ""
    instructions: str = ""
    problems: list[Problem] = field(default_factory=list)

    def problem(self, problem_id: str) -> Problem:
        for p in self.problems:
            if p.id == problem_id:
                return p
        ids = ", ".join(p.id for p in self.problems)
        raise ProblemError(f'has no problem "{problem_id}"; its problems are: {ids}', file=self.path)


def load(path, only: str | None = None) -> ProblemSet:
    """Read and validate a problem set; with `only`, validate just that problem.

    `solver check` validates only the problem it checks, so a symbolic problem
    elsewhere in the file does not make it import sympy.
    """
    path = Path(path)
    data = read_yaml(path)
    problems_raw = data.get("problems")
    if not isinstance(problems_raw, list) or not problems_raw:
        raise ProblemError("`problems` must be a non-empty list of problems", file=path)
    ids = [_problem_id(path, i, raw) for i, raw in enumerate(problems_raw)]
    seen = set()
    for pid in ids:
        if pid in seen:
            raise ProblemError(f'problem id "{pid}" is used twice; ids must be unique in a file', file=path)
        seen.add(pid)
    meta = {key: _text(path, key, data.get(key, "")) for key in ("title", "course", "term", "instructions")}
    pset = ProblemSet(path=path, **meta)
    if only is not None and only not in seen:
        raise ProblemError(f'has no problem "{only}"; its problems are: {", ".join(ids)}', file=path)
    for pid, raw in zip(ids, problems_raw):
        if only is None or pid == only:
            try:
                pset.problems.append(_read_problem(pid, raw))
            except ProblemError as error:
                raise error.located(file=path, problem=pid) from None
    return pset


def read_yaml(path: Path) -> dict:
    """The file's YAML mapping, as written (before any problem is validated)."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ProblemError(f"is larger than {MAX_FILE_BYTES} bytes; split the problem set", file=path)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SolverError(f"{path}: no such problem file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SolverError(f"{path}: cannot be read ({error})") from None
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or "malformed YAML"
        raise ProblemError(f"is not valid YAML{where}: {reason}", file=path) from None
    if not isinstance(data, dict):
        raise ProblemError("must be a YAML mapping with `title` and `problems`", file=path)
    for key in data:
        if key not in SET_KEYS:
            raise ProblemError(f"has an unknown top-level key `{key}`; allowed: {', '.join(SET_KEYS)}", file=path)
    return data


def _problem_id(path, index, raw) -> str:
    if not isinstance(raw, dict):
        raise ProblemError(f"problem number {index + 1} must be a mapping with id, kind and given", file=path)
    pid = raw.get("id")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or str(pid).strip() == "":
        hint = " (quote it: YAML reads 3.10 as the number 3.1)" if isinstance(pid, float) else ""
        raise ProblemError(f"problem number {index + 1} needs an `id` that is text or a whole number, "
                           f"got {pid!r}{hint}", file=path)
    return str(pid)


def _read_problem(pid: str, raw: dict) -> Problem:
    from .kinds import get_kind
    for key in raw:
        if key not in PROBLEM_KEYS:
            raise ProblemError(f"unknown key `{key}`; a problem takes {', '.join(PROBLEM_KEYS)}", field=str(key))
    kind = get_kind(raw.get("kind"))
    given = kind.read(raw.get("given", {}))
    ask = raw.get("ask")
    if ask is not None:
        if not isinstance(ask, list) or not all(isinstance(a, str) for a in ask):
            raise ProblemError("must be a list of answer names", field="ask")
        for name in ask:
            if not is_answer(kind, name):
                raise ProblemError(f"`{name}` is not an answer of kind `{kind.NAME}`; "
                                   f"its answers are {', '.join(kind.ANSWERS)}", field="ask")
    vary = raw.get("vary")
    if vary is not None:
        from .variants import read_vary
        vary = read_vary(kind, raw.get("given", {}), vary)
    tolerance = raw.get("tolerance")
    if tolerance is not None:
        tolerance = read_tolerances(tolerance, lambda name: is_answer(kind, name))
    statement = fill_statement(_text(None, "statement", raw.get("statement", "")), raw.get("given", {}))
    return Problem(id=pid, kind=kind.NAME, given=given, statement=statement, ask=ask, vary=vary,
                   tolerance=tolerance)


def is_answer(kind, name: str) -> bool:
    """Is `name` an answer of `kind`: one it lists, or an indexed one (params[3] of params[i])?"""
    return name in kind.ANSWERS or INDEXED.sub("[i]", name) in kind.ANSWERS


def fill_statement(statement: str, given: dict) -> str:
    """The statement with each `{{ field }}` replaced by that given's value, so a
    variant's statement tells its own numbers."""
    def value(match):
        name = match.group(1)
        if name not in given:
            raise ProblemError(f"`{match.group(0)}` names no field this problem gives; it gives "
                               f"{', '.join(given) or 'none'}", field="statement")
        return shown_value(given[name], name)
    return PLACEHOLDER.sub(value, statement)


def statement_fields(statement) -> set[str]:
    """The given fields a statement shows with `{{ field }}`."""
    return set(PLACEHOLDER.findall(str(statement or "")))


def shown_value(value, name: str) -> str:
    """A number or a symbol as written; a list of them as a size (3×224×224)."""
    items = value if isinstance(value, list) else [value]
    if items and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in items):
        return "×".join(str(v) for v in items)
    raise ProblemError(f"`{{{{ {name} }}}}` can show a number, a symbol or a list of them; `{name}` is "
                       f"{value!r} (matrices are printed on the sheet: refer to them by name)", field="statement")


def _text(path, key, value) -> str:
    if value is None:
        return ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ProblemError(f"must be text, got {type(value).__name__}", file=path, field=key)
    return str(value).strip()
