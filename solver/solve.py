"""Solve a problem set: load, validate, and run each problem's kind."""
from __future__ import annotations

from .errors import ProblemError
from .kinds import get_kind
from .problems import load


def solve_file(path, problem_id=None):
    pset = load(path, only=problem_id)
    solutions = []
    for problem in pset.problems:
        try:
            solutions.append(get_kind(problem.kind).solve(problem.given))
        except ProblemError as error:
            raise error.located(file=path, problem=problem.id) from None
    return pset, solutions
