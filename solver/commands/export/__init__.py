"""Quizzes for learning management systems, made from the same solutions and mistakes
as everything else: Moodle XML (moodle.py) and Canvas QTI 1.2 (canvas.py).

This module gathers what both need: each problem (or each variant of it, the same
variants `solver variants` makes for that seed), the answers it asks for that the
target can hold, the checker's tolerance, and the wrong answers the kind's mistakes
give with the feedback `solver check` gives for them. A target writes bytes; the
command writes the file.
"""
from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...answers.check import check_value
from ...core.errors import UsageError
from ..grade import Solved, remembered
from ...kinds import get_kind
from ...core.model import Answer
from ...problems.load import ProblemSet
from ...math.printing import latex
from ...render import asked, environment
from ..selftest import mistake_answers
from ...problems.load import solve_file
from ...problems.variants import Variants
from ..variants import MAX_COUNT
from ...answers.tolerance import DEFAULT
from ...answers.types import answer_type

WHY_LEFT_OUT = {       # target -> {answer type: why the export leaves it out}
    "moodle": {},
    "moodle --no-stack": {"expression": "formulas need Moodle's STACK plugin, which --no-stack leaves out"},
    "canvas": {"expression": "Canvas cannot check a formula (Moodle can, with STACK)",
               "table": "tables are not exported to Canvas yet (Moodle takes them as a grid)"},
}
CATCH_ALL = "Not one of the common mistakes: compare your steps with the worked solution."


@dataclass
class Wrong:
    """A wrong answer a mistake gives, and what `solver check` says to it."""
    value: Any
    feedback: str
    diagnosis: str = ""     # the mistake named, without what the feedback says of this very value


@dataclass
class Question:
    """One problem of the set (of one variant, with variants): what a quiz asks."""
    solved: Solved
    answers: list[Answer]            # the asked answers this target can hold
    variant: int | None
    earlier: list                    # (problem, solution) pairs before it in its set
    varies: bool = False             # with variants: does this problem change from one to the next?

    @property
    def problem(self):
        return self.solved.problem

    @property
    def solution(self):
        return self.solved.solution

    @property
    def essay(self) -> bool:
        return not self.solution.answers

    def wrong_answers(self, answer: Answer) -> list[Wrong]:
        """The different wrong values the kind's mistakes give for `answer`, first
        mistake first (the order the checker tries them), each with the feedback
        `solver check` gives to a student who typed it."""
        found = []
        for _, value, text in mistake_answers(self.solved, answer):
            verdict = check_value(self.problem, answer, text, self.solved.mistakes)
            if verdict.verdict == "incorrect":
                found.append(Wrong(value, verdict.feedback, verdict.diagnosis))
        return found

    def html(self, macro: str, *args) -> str:
        """A macro of templates/html/lms.j2: HTML with TeX in \\( \\) and \\[ \\]."""
        return str(getattr(environment("html").get_template("lms.j2").module, macro)(*args)).strip()

    def text_html(self) -> str:
        return self.html("question", self.problem, self.earlier)

    def solution_html(self) -> str:
        return self.html("worked", undrawn(self.solution), self.problem.ask)

    def mistakes_html(self, types) -> str:
        """What each mistake says and gives, for the answers of these types, answer type
        classes ("" if none)."""
        items = [f"<li>{html.escape(wrong.feedback)} It gives \\({html.escape(answer.label)} = "
                 f"{html.escape(latex(wrong.value))}\\).</li>"
                 for answer in self.answers if isinstance(answer_type(answer.type), types) for wrong in self.wrong_answers(answer)]
        return "<h3>Common mistakes</h3>\n<ul>\n" + "\n".join(items) + "\n</ul>" if items else ""


def undrawn(solution):
    """The solution without its pictures: an LMS's sanitizer strips inline SVG, and would leave its
    labels as loose text in the feedback."""
    def steps(items):
        return [dataclasses.replace(step, diagram=None, substeps=steps(step.substeps)) for step in items]
    return dataclasses.replace(solution, steps=steps(solution.steps))


@dataclass
class Export:
    pset: ProblemSet
    questions: list[list[Question]]     # per problem: its question, or one per variant
    warnings: list[str]


def gather(path, count: int | None, seed: int | None, left_out: dict[str, str]) -> Export:
    """The questions of the problem file at `path`: each problem once, or `count`
    variants of each (made as `solver variants --seed` makes them), without the answers
    of the types `left_out` names (type -> why)."""
    if (count is None) != (seed is None):
        raise UsageError("--variants and --seed go together: give the ones you gave `solver variants`")
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise UsageError(f"--variants must be from 1 to {MAX_COUNT}; got {count}")
    plans = []
    if count is None:
        pset, solutions = solve_file(path)
        sets = [(None, pset, solutions)]
    else:
        variants = Variants(path, seed)
        pset, plans = variants.pset, variants.plans
        sets = [(n, (v := variants.make(n)).pset, v.solutions) for n in range(1, count + 1)]
    warnings: dict[str, None] = {}           # in order, each once however many variants
    questions = [[] for _ in pset.problems]
    for number, variant_set, solutions in sets:
        pairs = list(zip(variant_set.problems, solutions))
        for index, (problem, solution) in enumerate(pairs):
            mistakes = remembered(get_kind(problem.kind).mistakes, problem.given)
            shown = asked(solution, problem.ask)
            kept = [a for a in shown if a.type not in left_out]
            if len(kept) < len(shown):
                warnings[left_out_text(problem.id, [a for a in shown if a.type in left_out], left_out,
                                       whole=not kept)] = None
            if shown and not kept:
                continue
            questions[index].append(Question(Solved(problem, solution, mistakes), kept, number, pairs[:index],
                                             bool(plans and plans[index])))
    return Export(pset, [q for q in questions if q], list(warnings))


def left_out_text(problem_id: str, answers, why: dict[str, str], whole: bool) -> str:
    """One warning per problem: which answers are left out, and why (`why`: type or name -> reason)."""
    names = {}
    for answer in answers:
        names.setdefault(why.get(answer.type) or why[answer.name], []).append(f"`{answer.name}`")
    reasons = "; ".join(f"{', '.join(listed)}: {reason}" for reason, listed in names.items())
    return (f"problem {problem_id} is left out ({reasons})" if whole
            else f"problem {problem_id}: answers left out, the rest exported ({reasons})")


def tolerance(type_name: str, value) -> float:
    """The checker's margin for a decimal a student types (types.same_number): none
    for answers compared exactly (whole numbers), else its default tolerance (3 significant figures)."""
    if answer_type(type_name).exact:
        return 0.0
    return float(f"{DEFAULT.allowed(float(value)):.12g}")     # 0.018, not 0.018000000000000002


def decimal(x) -> str:
    """A number as plain decimal text, never 1e-05 (Moodle's Cloze reads no exponent)."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    return np.format_float_positional(float(x), trim="-")


def export_file(path, target: str, count: int | None = None, seed: int | None = None,
                progress: Callable[[str], None] = lambda message: None, stack: bool = True) -> tuple[str, bytes]:
    """(file name, contents) of the quiz for `target`, "moodle" or "canvas"; formulas go to
    Moodle as STACK questions unless `stack` is False."""
    export = gather(path, count, seed, WHY_LEFT_OUT[target if stack or target != "moodle" else "moodle --no-stack"])
    if target == "moodle":
        from .moodle import moodle_xml as write
    else:
        from .canvas import canvas_zip as write
    data = write(export)                # a target may leave out more, and say so in the warnings
    for message in export.warnings:
        progress(f"warning: {message}")
    if not any(export.questions):
        raise UsageError(f"{path}: no problem has an answer a quiz can check, so nothing was written")
    suffix = {"moodle": "moodle.xml", "canvas": "canvas.zip"}[target]
    return f"{Path(path).stem}-{suffix}", data
