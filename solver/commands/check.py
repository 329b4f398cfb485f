"""`solver check`: one answer to one problem of a file, judged and diagnosed."""
from __future__ import annotations

from ..answers.check import Verdict, check_value, default_answer, nothing_to_check
from ..core.errors import UsageError
from ..kinds import get_kind
from ..problems.load import load


def check_file(path, spec: str, text: str) -> Verdict:
    """`spec` is ID or ID:ANSWER; the answer defaults to the problem's first asked one."""
    problem_id, _, answer_name = spec.rpartition(":") if ":" in spec else (spec, "", "")
    problem = load(path, only=problem_id).problems[0]
    kind = get_kind(problem.kind)
    answers = kind.compute(problem.given)          # the numbers only: checking builds no derivation
    if answer_name and answer_name not in answers:
        raise UsageError(f'{path}, problem "{problem_id}": no answer named `{answer_name}`'
                         f"{kind.unasked(answer_name)}; its answers are {', '.join(answers)}")
    if not answers:
        raise UsageError(f'{path}, problem "{problem_id}": {nothing_to_check(problem.kind)}')
    answer = answers[answer_name] if answer_name else default_answer(problem, answers)
    return check_value(problem, answer, text, kind.mistakes)
