"""A time budget for checking one answer, checked cooperatively inside the loops
that could run long (no signal needed, so it also works outside the main thread).

`check.check_value` opens the budget; the comparison of a formula and every
mistake's comparison share it. The budget is CPU time, not wall time: the same answer gets
the same verdict on a busy machine (a class graded beside other jobs) as on an idle one.
Nor does the garbage collector's work count: a collection walks the whole process's heap (a
class of answers graded in one process), not the answer's, so it waits until the answer is done.
"""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from contextvars import ContextVar

CHECK_SECONDS = 2.0          # one answer: its comparison and its diagnosis together

_deadline: ContextVar[float] = ContextVar("deadline", default=float("inf"))


class OutOfTime(Exception):
    """The budget of the answer being checked ran out."""


@contextmanager
def time_budget(seconds: float = CHECK_SECONDS):
    """Run the block with at most `seconds` left (an enclosing budget may leave less)."""
    with collection_deferred():             # before the clock is read
        token = _deadline.set(min(_deadline.get(), time.process_time() + seconds))
        try:
            yield
        finally:
            _deadline.reset(token)


@contextmanager
def collection_deferred():
    """No automatic garbage collection in the block (reference counting still frees what
    it can); an enclosing block that deferred it turns it back on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def remaining() -> float:
    """Seconds left in the current budget (infinite without one)."""
    return _deadline.get() - time.process_time()


def check_time() -> None:
    """Raise OutOfTime once the budget is spent."""
    if time.process_time() > _deadline.get():
        raise OutOfTime
