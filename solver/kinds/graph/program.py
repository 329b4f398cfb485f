"""A program read into a computational graph: its assignments, read by the grammar's program
dialect (never eval), flattened into primitive nodes in topological order.

Each assignment's outermost operation is the node its name names; the operations inside it are
nodes too, named n_1, n_2, ... (another letter where the program uses n_). Names used before any
line assigns them are the inputs. A name is assigned once, after nothing has used it and before
anything uses it: so the graph has no cycle.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...answers.grammar import Assignment, Constant, Name, Operation, ProgramError, parse_assignment
from ...core.errors import FieldError

MAX_LINES = 50
MAX_NODES = 100               # primitive operations in a program
OUTPUT = "f"                  # the name of a program that is one expression with no name
AUTO_LETTERS = ("n", "u", "v", "s", "t")


@dataclass(frozen=True)
class Node:
    name: str
    op: str
    args: tuple               # each a name (str) or a Constant
    line: int                 # the program's line (from 1) it comes from


@dataclass(frozen=True)
class Line:
    """One assignment: its name, its expression (grammar values), its text and its nodes' names."""
    number: int
    target: str
    expression: object
    text: str
    nodes: tuple              # the names of its primitive nodes, in order; the last is `target`
    uses: tuple               # the names it reads (inputs and earlier targets), in order of first use


@dataclass(frozen=True)
class Program:
    lines: tuple
    nodes: tuple              # every primitive node, in topological order
    inputs: tuple             # the names no line assigns, in order of first use
    single: bool              # given as one expression (not a list)

    @property
    def output(self) -> str:
        return self.lines[-1].target

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def line(self, number: int) -> Line:
        return self.lines[number - 1]

    def ops(self) -> set:
        return {n.op for n in self.nodes}


def where(program_or_single, number: int, text: str) -> str:
    single = program_or_single if isinstance(program_or_single, bool) else program_or_single.single
    return f"`{text}`" if single else f"line {number}, `{text}`,"


def read_program(name, value) -> Program:
    if isinstance(value, str):
        texts, single = [value], True
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        texts, single = value, False
    else:
        raise FieldError(name, "must be one expression (`f = (x + y) * z`) or a list of assignments "
                               f"(`[\"q = x + y\", \"f = q * z\"]`); got {value!r}")
    if len(texts) > MAX_LINES:
        raise FieldError(name, f"has {len(texts)} lines; at most {MAX_LINES} are supported")
    parsed = []
    for number, text in enumerate(texts, 1):
        try:
            parsed.append(parse_assignment(text))
        except ProgramError as error:
            column = f" (column {error.position + 1})" if error.position is not None else ""
            raise FieldError(name, f"{where(single, number, text)} {error.what}{column}") from None
    return build(name, texts, parsed, single)


def names_in(expression) -> list:
    """The names an expression reads, in order (repeats kept)."""
    if isinstance(expression, Name):
        return [expression.name]
    if isinstance(expression, Operation):
        return [n for arg in expression.args for n in names_in(arg)]
    return []


def build(field: str, texts: list, parsed: list[Assignment], single: bool) -> Program:
    assigned, inputs, first_use = {}, [], {}
    for number, (text, (target, expression)) in enumerate(zip(texts, parsed), 1):
        at = where(single, number, text)
        if target is None:
            if not single:
                raise FieldError(field, f"{at} has no name: write each line as NAME = expression")
            target = OUTPUT
        if not isinstance(expression, Operation):
            raise FieldError(field, f"{at} assigns a name or a number alone; each line computes an operation, "
                                    "such as q = x + y")
        if target in names_in(expression):
            raise FieldError(field, f"{at} uses {target} to compute {target} itself: a graph has no cycle, and each "
                                    "name is assigned once")
        if target in assigned:
            raise FieldError(field, f"{at} assigns {target} again (line {assigned[target]} assigns it): each name is "
                                    "assigned once, so the graph has no cycle")
        if target in first_use:
            raise FieldError(field, f"{at} assigns {target}, which line {first_use[target]} uses before it is "
                                    "assigned: a name is assigned before it is used (a name no line assigns is "
                                    "an input)")
        for used in names_in(expression):
            first_use.setdefault(used, number)
            if used not in assigned and used not in inputs:
                inputs.append(used)
        assigned[target] = number
        parsed[number - 1] = Assignment(target, expression)
    for number, (target, _) in enumerate(parsed[:-1], 1):
        if not any(target in names_in(expression) for _, expression in parsed[number:]):
            raise FieldError(field, f"{where(single, number, texts[number - 1])} assigns {target}, which no later "
                                    "line uses; every line but the last feeds the output (the last line)")
    taken = set(assigned) | set(inputs)
    letter = next((a for a in AUTO_LETTERS if not any(n.startswith(a + "_") for n in taken)), None)
    if letter is None:
        raise FieldError(field, "uses names that start with each of n_, u_, v_, s_ and t_; leave one of them for "
                                "the unnamed nodes")
    nodes, lines, unnamed = [], [], []
    for number, ((target, expression), text) in enumerate(zip(parsed, texts), 1):
        mine = []

        def flatten(e, top=False):
            if not isinstance(e, Operation):
                return e.name if isinstance(e, Name) else e
            args = tuple(flatten(a) for a in e.args)
            if not top:
                unnamed.append(e)
            name = target if top else f"{letter}_{len(unnamed)}"
            nodes.append(Node(name, e.op, args, number))
            mine.append(name)
            return name
        flatten(expression, top=True)
        uses = list(dict.fromkeys(names_in(expression)))
        lines.append(Line(number, target, expression, text, tuple(mine), tuple(uses)))
        if len(nodes) > MAX_NODES:
            raise FieldError(field, f"makes more than {MAX_NODES} operations; at most {MAX_NODES} are supported")
    return Program(tuple(lines), tuple(nodes), tuple(inputs), single)


def constant(arg) -> bool:
    return isinstance(arg, Constant)
