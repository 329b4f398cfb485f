"""Check a student's answer against the computed one and name the likely mistake."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .answers import parse_answer
from .errors import InvalidAnswer, UsageError
from .kinds import get_kind
from .problems import load

RTOL, ATOL = 1e-3, 1e-6      # decimals students round: 0.2034 for 0.2033947
MAX_NAMED_CELLS = 10


@dataclass
class Verdict:
    problem: str
    answer: str
    verdict: str                         # correct, incorrect or invalid
    score: float
    feedback: str
    mistake: str | None = None
    wrong_cells: list[list[int]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {"correct": 0, "incorrect": 1, "invalid": 2}[self.verdict]


def check_file(path, spec: str, text: str) -> Verdict:
    """`spec` is ID or ID:ANSWER; the answer defaults to the problem's first."""
    problem_id, _, answer_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    problem = load(path, only=problem_id).problems[0]
    kind = get_kind(problem.kind)
    solution = kind.solve(problem.given)
    if answer_name and answer_name not in solution.answers:
        raise UsageError(f'{path}, problem "{problem_id}": no answer named `{answer_name}`; '
                         f"its answers are {', '.join(solution.answers)}")
    answer = solution.answers[answer_name] if answer_name else solution.first_answer()
    return check_value(problem_id, answer, text, kind.MISTAKES, problem.given)


def check_value(problem_id, answer, text, mistakes, given) -> Verdict:
    try:
        student = parse_answer(text, answer.type)
    except InvalidAnswer as error:
        return Verdict(problem_id, answer.name, "invalid", 0.0, f"Could not read the answer: {error}")
    score, wrong, detail = compare(answer.type, student, answer.value)
    if score == 1.0:
        return Verdict(problem_id, answer.name, "correct", 1.0, "Correct.")
    mistake = diagnose(answer, student, mistakes, given)
    feedback = detail
    if mistake is not None:
        feedback = f"{detail} Likely mistake: {mistake.feedback}".strip()
    return Verdict(problem_id, answer.name, "incorrect", score, feedback or "Incorrect.",
                   mistake.name if mistake else None, [list(i) for i in wrong])


def diagnose(answer, student, mistakes, given):
    """The first mistake whose re-solved answer is the student's."""
    for mistake in mistakes:
        value = mistake.answers(given).get(answer.name)
        if value is None or compare(answer.type, value, answer.value)[0] == 1.0:
            continue                      # not applicable, or changes nothing here
        if compare(answer.type, student, value)[0] == 1.0:
            return mistake
    return None


def compare(kind: str, student, expected) -> tuple[float, list, str]:
    """(score in [0, 1], wrong cell indices, a sentence on what differs)."""
    if kind == "matrix":
        return compare_matrices(student, expected)
    if kind == "shape":
        s, e = tuple(student), tuple(expected)
        if s == e:
            return 1.0, [], ""
        return 0.0, [], f"The shape {'×'.join(map(str, s))} is not the expected one."
    return (1.0, [], "") if same_number(student, expected) else (0.0, [], "The value is not correct.")


def compare_matrices(student, expected):
    student, expected = np.asarray(student, dtype=object), np.asarray(expected, dtype=object)
    if student.shape != expected.shape:
        if student.size == expected.size and student.squeeze().shape == expected.squeeze().shape:
            student = student.reshape(expected.shape)
        else:
            return 0.0, [], (f"The answer has shape {shape_text(student.shape)}; the expected "
                             f"shape is {shape_text(expected.shape)}.")
    wrong = [index for index, e in np.ndenumerate(expected) if not same_number(student[index], e)]
    score = 1.0 - len(wrong) / expected.size
    if not wrong:
        return 1.0, [], ""
    names = ", ".join("[" + ",".join(map(str, i)) + "]" for i in wrong[:MAX_NAMED_CELLS])
    more = f" and {len(wrong) - MAX_NAMED_CELLS} more" if len(wrong) > MAX_NAMED_CELLS else ""
    return score, wrong, (f"{len(wrong)} of {expected.size} cells are wrong "
                          f"(0-based [row,column]): {names}{more}.")


def same_number(student, expected) -> bool:
    """Exact values compare exactly; a decimal on either side gets a tolerance."""
    if isinstance(student, (int, Fraction)) and isinstance(expected, (int, Fraction)):
        return student == expected
    try:
        s, e = float(student), float(expected)
    except (TypeError, ValueError):
        return False
    return abs(s - e) <= max(ATOL, RTOL * abs(e))


def shape_text(shape) -> str:
    return "×".join(map(str, shape)) or "a single number"
