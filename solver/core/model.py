"""The plain data every output is made from: steps, answers, solutions.

A step holds values (numbers, arrays, formula trees, sympy objects), never
pre-rendered markup, so one solution renders to LaTeX, Markdown, text and JSON.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

@dataclass
class Step:
    """One stage of a derivation.

    `math` is a list of display lines; each line is a list of values shown
    joined by "=" (formula, substitution, arithmetic, result). `layout` names a
    kind-specific template macro ("conv2d.windows") that renders `data`.
    `diagram`, where the step has one, is a graph to draw (the renderer lays it out).
    """
    title: str
    text: str = ""
    math: list[list[Any]] = field(default_factory=list)
    layout: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    substeps: list[Step] = field(default_factory=list)
    diagram: Diagram | None = None


@dataclass
class Vertex:
    """A node of a drawn graph: `name` and `operation` (what it computes, in its inputs' names; None
    for an input) are math values, as are its `value`, its `gradient` and its `gate` (the operation
    as short as a picture draws it: +, e^□)."""
    id: str
    name: Any
    operation: Any = None
    value: Any = None
    gradient: Any = None
    gate: Any = None


@dataclass
class Wire:
    """A wire of a drawn graph, from vertex `source` into vertex `target`: the value it carries
    forward and the gradient it carries back."""
    source: str
    target: str
    value: Any = None
    gradient: Any = None


@dataclass
class Diagram:
    """A graph to draw, as data: its vertices in topological order and its wires. A vertex that
    feeds nothing is an output: its value and gradient leave it on a wire of its own. How it is
    laid out (columns by depth, left to right) is the renderer's business."""
    vertices: list[Vertex]
    wires: list[Wire]


@dataclass
class Answer:
    """A named, typed result. `type` names its answer type (solver.answers.types.TYPES),
    which reads, writes and compares its values.

    integer: int; rational: fractions.Fraction or int; real: float or an exact
    sympy number; shape: tuple of ints; matrix: numpy array whose cells are
    int, Fraction, float or exact sympy numbers; expression: sympy expression;
    table: Table, rows of named cells of the types above;
    boolean: bool (a yes/no answer, such as whether a network implements a target).
    """
    name: str
    type: str
    value: Any
    label: str = ""          # how the derivation names it, e.g. "Y" or "H_out"
    detail: bool = False     # a part (one layer's count, a table): on a sheet only when asked for
    decimal: bool = False    # exact numbers shown as decimals where they terminate (0.25, not 1/4), as the
                             # derivation of a problem given in decimals shows them


@dataclass
class Table:
    columns: dict[str, str]                  # column name -> answer type
    rows: list[dict]                         # the right values, row by row
    labels: list[str]                        # what the `layer` column calls each row
    carry: Callable | None = None            # (row number from 1, student's rows it takes) -> expected row
    sources: list | None = None              # per row, the rows (from 0) it takes; -1: none. None: the row before

    def inputs(self, position: int) -> tuple:
        """The positions of the rows row `position` is computed from (-1: the table's input)."""
        return self.sources[position] if self.sources is not None else (position - 1,)

    def expected(self, position: int, previous: list) -> dict:
        """Row `position` as it follows from the student's rows it takes (None where the
        student wrote none)."""
        if self.carry is None or not any(previous):
            return self.rows[position]
        return self.carry(position + 1, previous)


@dataclass
class Solution:
    kind: str
    given: Any
    steps: list[Step]
    answers: dict[str, Answer]

    def first_answer(self) -> Answer:
        return next(iter(self.answers.values()))

    def _repr_markdown_(self) -> str:
        """Jupyter shows a Solution as its worked steps and answers."""
        from ..render import render_solution
        return render_solution(self, "md")
