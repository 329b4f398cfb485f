"""The time budget of checking one answer (solver/budget.py) and the grammar's own limit
count CPU time: the same answer gets the same verdict whatever else the machine runs."""
import time

import pytest

from solver.answers.grammar import _Timeout, _time_limit
from solver.core.budget import OutOfTime, check_time, time_budget


def test_the_budget_is_cpu_time_so_a_busy_machine_changes_no_verdict():
    """Waiting for the processor (a class graded beside other jobs) spends none of an
    answer's budget; working does. Wall time made verdicts depend on the machine's load."""
    with time_budget(0.2):
        time.sleep(0.4)
        check_time()
    with pytest.raises(OutOfTime), time_budget(0.2):
        while True:
            check_time()


def test_sympy_work_on_an_answer_is_bounded_in_cpu_time_too():
    """The grammar's own limit (reading, simplifying) counts CPU time as the budget does."""
    with _time_limit(0.2):
        time.sleep(0.4)
    start = time.process_time()
    with pytest.raises(_Timeout), _time_limit(0.2):
        while True:
            pass
    assert time.process_time() - start < 2
