"""Problem files: read the YAML, validate every problem, name what is wrong."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ProblemError, SolverError
from ..core.fields import NUMBER_LIMIT, check_numbers
from ..answers.tolerance import INDEXED, Tolerances, read_tolerances
from ..core.prose import MATH_IN_PROSE, prose_problem
from ..kinds import KINDS, get_kind
from .vary import read_vary

SET_KEYS = ("title", "course", "term", "instructions", "problems")
PROBLEM_KEYS = ("id", "kind", "statement", "given", "ask", "tolerance", "vary")
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")   # {{ field }} in a statement
MAX_FILE_BYTES = 2_000_000
MAX_NODES = 1_000_000       # values once aliases are expanded: what a MAX_FILE_BYTES file can write out
NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
MAX_NUMBER_TEXT = 100       # characters of one number; longer ones PyYAML cannot even read
MERGE_TAG = "tag:yaml.org,2002:merge"
NOT_YAML_TEXT = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.1 (PyYAML) reads 1e-5 as text, its floats need a point (1.0e-5); a problem file
    means the number, as YAML 1.2 reads it."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"[-+]?[0-9]+(\.[0-9]*)?[eE][-+]?[0-9]+\Z"),
                              list("-+0123456789"))


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
    meta["title"] = meta["title"] or Path(path).stem         # a sheet needs a title; the file's name is one
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
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        check_nodes(path, root)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as error:
        raise ProblemError(f"is not valid YAML{_yaml_position(error, text)}: "
                           f"{_yaml_reason(error, text)}", file=path) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ProblemError("must be a YAML mapping with `title` and `problems`", file=path)
    for key in data:
        if key not in SET_KEYS:
            raise ProblemError(f"has an unknown top-level key `{key}`; allowed: {', '.join(SET_KEYS)}", file=path)
    return data


def _yaml_position(error, text: str) -> str:
    mark = getattr(error, "problem_mark", None)
    if mark is not None:
        return f" at line {mark.line + 1}, column {mark.column + 1}"
    found = NOT_YAML_TEXT.search(text)      # libyaml marks no position for a control character
    if isinstance(error, yaml.reader.ReaderError) and found:
        line = text.count("\n", 0, found.start()) + 1
        column = found.start() - (text.rfind("\n", 0, found.start()) + 1) + 1
        return f" at line {line}, column {column}"
    return ""


def _yaml_reason(error, text: str) -> str:
    found = NOT_YAML_TEXT.search(text)
    if isinstance(error, yaml.reader.ReaderError) and found:
        return f"the control character U+{ord(found.group()):04X}, which YAML does not allow"
    return getattr(error, "problem", None) or "malformed YAML"


def check_nodes(path: Path, root) -> None:
    """Refuse, before building anything, what a small file could make huge or
    ambiguous: aliases expanding to more than MAX_NODES values (a "billion laughs"),
    an alias inside itself, a key given twice in one mapping, and a number too long
    to read. Each shared node is counted once, so the walk is linear in the file."""
    expanded = {}                   # id(node) -> its value count with aliases expanded
    open_nodes = set()              # the collections whose items are being counted
    stack = [(root, False)]
    while stack:
        node, items_counted = stack.pop()
        key = id(node)
        if items_counted:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded.get(id(item), 1) for item in _items(node))
            if expanded[key] > MAX_NODES:
                raise ProblemError(f"{_where(node)}: its aliases expand to more than {MAX_NODES:,} values; "
                                   "write the values out, or use fewer aliases", file=path)
        elif key in open_nodes:
            raise ProblemError(f"{_where(node)}: an alias refers to the value that contains it", file=path)
        elif key not in expanded:
            _check_node(path, node)
            if not isinstance(node, yaml.ScalarNode):
                open_nodes.add(key)
                stack.append((node, True))
                stack.extend((item, False) for item in _items(node))


def _items(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


def _check_node(path: Path, node) -> None:
    if isinstance(node, yaml.ScalarNode):
        if node.tag in NUMBER_TAGS and len(node.value) > MAX_NUMBER_TEXT:
            raise ProblemError(f"{_where(node)}: a number written with {len(node.value):,} characters; "
                               f"numbers in a problem file are at most {NUMBER_LIMIT} in size", file=path)
    elif isinstance(node, yaml.MappingNode):
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != MERGE_TAG:
                if (key.tag, key.value) in seen:
                    raise ProblemError(f"{_where(key)}: the key `{key.value}` is given twice in the same "
                                       "mapping; give each key once", file=path)
                seen.add((key.tag, key.value))


def _where(node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


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
    for key in raw:
        if key not in PROBLEM_KEYS:
            raise ProblemError(f"unknown key `{key}`; a problem takes {', '.join(PROBLEM_KEYS)}", field=str(key))
    if not isinstance(raw.get("kind"), str):
        raise ProblemError(f"must be the name of a kind, one of {', '.join(KINDS)}; got {raw.get('kind')!r}",
                           field="kind")
    kind = get_kind(raw["kind"])
    given_raw = raw.get("given", {})
    for name, value in (given_raw.items() if isinstance(given_raw, dict) else ()):
        check_numbers(str(name), value)
    check_numbers("vary", raw.get("vary"))
    ask = raw.get("ask")
    if ask is not None and (not isinstance(ask, list) or not all(isinstance(a, str) for a in ask)):
        raise ProblemError("must be a list of answer names", field="ask")
    given = kind.read(raw.get("given", {}), ask)
    for name, value in (raw.get("given") or {}).items():
        _given_strings(value, str(name))
    if ask is not None:
        for name in ask:
            if not is_answer(kind, name, given):
                raise ProblemError(f"`{name}` is not an answer of kind `{kind.name}`; its answers are "
                                   f"{', '.join(kind.answer_names(given) or kind.answers)}", field="ask")
    vary = raw.get("vary")
    if vary is not None:
        vary = read_vary(kind, raw.get("given", {}), vary)
    tolerance = raw.get("tolerance")
    if tolerance is not None:
        tolerance = read_tolerances(tolerance, lambda name: is_answer(kind, name, given))
    statement = fill_statement(_text(None, "statement", raw.get("statement", "")), raw.get("given", {}), given)
    return Problem(id=pid, kind=kind.name, given=given, statement=statement, ask=ask, vary=vary,
                   tolerance=tolerance)


def is_answer(kind, name: str, given=None) -> bool:
    """Is `name` an answer of `kind`: one it lists, or an indexed one (params[3] of params[i])? Where
    the given names the answers (kind.answer_names), one of those."""
    names = kind.answer_names(given) if given is not None else None
    if names is not None:
        return name in names or any(INDEXED.sub("[i]", n) == name for n in names)
    return name in kind.answers or INDEXED.sub("[i]", name) in kind.answers


def fill_statement(statement: str, given: dict, validated=None) -> str:
    """The statement with each `{{ field }}` replaced by that given's value, so a
    variant's statement tells its own numbers; a vector or matrix (from the
    `validated` given) shows its values as math."""
    spans = [match.span(1) for match in MATH_IN_PROSE.finditer(statement)]

    def value(match):
        name = match.group(1)
        if name not in given:
            raise ProblemError(f"`{match.group(0)}` names no field this problem gives; it gives "
                               f"{', '.join(given) or 'none'}", field="statement")
        array = getattr(validated, name, None)
        if getattr(array, "ndim", 0) >= 1:
            from ..math.printing import latex
            in_math = any(start <= match.start() < end for start, end in spans)
            return latex(array) if in_math else f"${latex(array)}$"
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
    return printable(str(value).strip(), key, path)


def printable(text: str, field: str, path=None) -> str:
    """`text` if a sheet can print it; else the reason, as bad input (before anything is solved)."""
    if "$" in text or not text.isascii():
        if reason := prose_problem(text):
            raise ProblemError(reason, file=path, field=field)
    return text


def _given_strings(value, field: str) -> None:
    """Text inside the given (layer names, an essay's model answer) is printed too."""
    if isinstance(value, str):
        printable(value, field)
    elif isinstance(value, dict):
        for item in value.values():
            _given_strings(item, field)
    elif isinstance(value, list):
        for item in value:
            _given_strings(item, field)


def solve_file(path, problem_id=None):
    """The problem set at `path` (or its one problem `problem_id`) and each problem's solution."""
    pset = load(path, only=problem_id)
    solutions = []
    for problem in pset.problems:
        try:
            solutions.append(get_kind(problem.kind).solve(problem.given))
        except ProblemError as error:
            raise error.located(file=path, problem=problem.id) from None
    return pset, solutions
