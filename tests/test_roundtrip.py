"""Every shipped problem: its own answers check as correct, each mistake's answer is
diagnosed as a mistake giving that very answer, and garbage is invalid. The checks
are `solver selftest`'s (solver/selftest.py), one test per problem."""
import pytest

from solver.problems.load import load
from solver.commands.selftest import selftest_problem

from conftest import PROBLEM_FILES

PROBLEMS = [pytest.param(path, problem, id=f"{path.stem}:{problem.id}")
            for path in PROBLEM_FILES for problem in load(path).problems]


def test_there_are_problems():
    assert len(PROBLEMS) > 30


@pytest.mark.parametrize("path, problem", PROBLEMS)
def test_problem_checks_itself(path, problem):
    report = selftest_problem(problem, file=path.name)
    assert not report.failures, "\n".join(f.describe(report.file, report.problem) for f in report.failures)
    assert report.answers or problem.kind == "essay"        # an essay has nothing to check
    assert report.correct.passed == report.answers == report.garbage.passed
