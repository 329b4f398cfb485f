"""Every shipped problem: its own answers check as correct, each mistake's answer is
diagnosed as a mistake giving that very answer, and garbage is invalid."""
import pytest

from solver.answers import format_answer
from solver.check import check_value, compare
from solver.kinds import get_kind
from solver.problems import load

from conftest import PROBLEM_FILES


def checkable_answers():
    for path in PROBLEM_FILES:
        for problem in load(path).problems:
            kind = get_kind(problem.kind)
            for answer in kind.solve(problem.given).answers.values():
                yield pytest.param(kind, problem, answer, id=f"{path.stem}:{problem.id}:{answer.name}")


CASES = list(checkable_answers())


def test_there_are_cases():
    assert len(CASES) > 30


@pytest.mark.parametrize("kind, problem, answer", CASES)
def test_own_answer_is_correct(kind, problem, answer):
    verdict = check_value(problem.id, answer, format_answer(answer.value, answer.type),
                          kind.MISTAKES, problem.given)
    assert verdict.verdict == "correct" and verdict.score == 1.0


@pytest.mark.parametrize("kind, problem, answer", CASES)
def test_each_mistake_is_diagnosed(kind, problem, answer):
    for mistake in kind.MISTAKES:
        for _, answers in mistake.cases(problem.given):
            value = answers.get(answer.name)
            if value is None or compare(answer.type, value, answer.value)[0] == 1.0:
                continue
            text = format_answer(value, answer.type)
            verdict = check_value(problem.id, answer, text, kind.MISTAKES, problem.given)
            assert verdict.verdict == "incorrect" and verdict.score < 1.0
            named = next(m for m in kind.MISTAKES if m.name == verdict.mistake)
            # Two mistakes (or places) can give the same answer; the one named must give this one.
            assert any(compare(answer.type, found[answer.name], value)[0] == 1.0
                       for _, found in named.cases(problem.given) if answer.name in found)
            assert named.feedback in verdict.feedback


@pytest.mark.parametrize("kind, problem, answer", CASES)
def test_garbage_is_invalid(kind, problem, answer):
    # Unbalanced: "seven-ish" alone is a formula (s·e·v·e·n - i·s·h).
    verdict = check_value(problem.id, answer, "seven-ish (", kind.MISTAKES, problem.given)
    assert verdict.verdict == "invalid" and verdict.exit_code == 2
