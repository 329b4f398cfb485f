"""The Kind base: the contract every kind of problem fulfils, held in one place.

A kind declares its `Given` (a frozen dataclass whose fields carry their readers, see
solver/fields.py), its `Rules` (its conventions as a frozen dataclass whose defaults are
PyTorch's), `compute(given, rules) -> answers` (the numbers, no steps) and
`derive(given, answers) -> steps` (the derivation). `solve` is compute then derive.

Its `mistakes` name entries of the shared catalogue (solver/kinds/mistakes.py) or its own
`Change`s: a mistake is the problem computed under a changed given or changed rules.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np

from ..answers.types import AnswerType, answer_type
from ..core.errors import FieldError
from ..core.fields import read_given
from ..core.model import Answer, Solution, Step
from .mistakes import CATALOGUE, Change, Mistake, Places


@dataclass(frozen=True)
class NoRules:
    """A kind with no convention a mistake changes."""


class Kind:
    name: str = ""
    summary: str = ""
    answers: dict[str, str] = {}          # answer name -> what it is
    vary: dict = {}                       # how `solver variants` redraws a problem that gives no `vary`
    Given: type
    Rules: type = NoRules
    mistakes: list = []                   # catalogue names, Changes, or Mistakes; bound to the kind on creation
    named = None                          # or a function: given -> {name: value} an answer may use
    changes_only = False                  # True: a mistake gives only the answers it changes

    def __init__(self):
        self.mistakes = [self.bind(m) for m in type(self).mistakes]
        self._posed = None            # (given, its answers): the last problem whose mistakes were re-solved

    def read(self, raw, ask=None):
        """The given from a problem file's `given:` mapping, read and validated; `ask`, the
        problem's list of answers, for a kind that computes some answers only when asked."""
        given = self.asking(read_given(self.Given, raw, self.name), ask or ())
        self.validate(given)
        return given

    def unasked(self, name: str) -> str:
        """Why `name`, not among a problem's answers, may be one of this kind's answers that are
        computed only where asked (said after "no answer named ..."); "" where it is not."""
        return ""

    def asking(self, given, ask):
        """The given as the problem's `ask` extends it (a kind whose answers beyond its usual
        ones are computed, and derived, only where asked); the given itself by default."""
        return given

    def validate(self, given) -> None:
        """Raise FieldError where the given values make no problem."""

    def answer_names(self, given) -> list[str] | None:
        """The names of this problem's answers where the given names them (an optimizer's w[i] for a
        parameter w), for `ask` and `tolerance` to be checked against; None: `answers` lists them."""
        return None

    def compute(self, given, rules=None) -> dict[str, Answer]:
        raise NotImplementedError

    def values(self, given, rules) -> dict:
        """{answer name: value} under the rules: what a mistake's re-solve needs. A kind whose
        answers are many (a network's per-layer counts) may compute the values alone, faster."""
        return {name: answer.value for name, answer in self.compute(given, rules).items()}

    def derive(self, given, answers: dict[str, Answer]) -> list[Step]:
        raise NotImplementedError

    def solve(self, given) -> Solution:
        answers = self.compute(given)
        return Solution(self.name, given, self.derive(given, answers), answers)

    # ---- mistakes ------------------------------------------------------------

    def bind(self, mistake) -> Mistake:
        """A catalogue name, a Change or Places as a Mistake of this kind; a Mistake as it is."""
        change = CATALOGUE[mistake] if isinstance(mistake, str) else mistake
        if isinstance(change, Change):
            return Mistake(change.name, change.feedback, partial(self.answers_under, change))
        if isinstance(change, Places):
            return Mistake(change.name, change.feedback, partial(self.answers_in_places, change))
        return change

    def answers_under(self, change: Change, given) -> dict:
        """{answer name: value} of the problem with the change made; {} where the change does
        not apply or makes no valid problem."""
        fields = change.given(given) if change.given else {}
        if not change.applies(given) or fields is None:
            return {}
        found = self.answers_with(given, fields, change.rules)
        return {name: value for name, value in found.items() if name in change.only} if change.only else found

    def answers_in_places(self, places: Places, given) -> list[tuple[str, dict]]:
        return [(where, self.answers_with(given, fields, rules)) for where, fields, rules in places.places(given)]

    def answers_with(self, given, fields: dict, rules: dict) -> dict:
        """{answer name: value} with the given fields and the Rules fields replaced; {} where
        that makes no valid problem."""
        try:
            changed = dataclasses.replace(given, **fields) if fields else given     # kinds may reuse work on it
            if fields:
                self.validate(changed)
            values = self.values(changed, dataclasses.replace(self.Rules(), **rules))
        except (FieldError, ZeroDivisionError, ValueError):
            return {}
        posed = self.posed_answers(given)
        forms = self.posed_forms(given)
        found = dict(values)            # a network's mistake has a thousand values, few of them with a form
        found.update((name, forms[name](values[name], posed[name].value)) for name in forms.keys() & values.keys())
        if self.changes_only:
            found = {name: value for name, value in found.items()
                     if name not in posed or differs(value, posed[name].value)}
        return found

    def posed_answers(self, given) -> dict[str, Answer]:
        """The problem's own answers, whose forms its mistakes' answers take (computed once
        for all the mistakes of one problem)."""
        if self._posed is None or self._posed[0] is not given:
            answers = self.compute(given)
            types = {name: answer_type(answer.type) for name, answer in answers.items()}
            forms = {name: t.in_form for name, t in types.items()      # the rest keep any value as it is
                     if type(t).in_form is not AnswerType.in_form}
            self._posed = (given, answers, forms)
        return self._posed[1]

    def posed_forms(self, given) -> dict:
        """{answer name: its type's in_form}, for the problem's own answers whose type has one."""
        self.posed_answers(given)
        return self._posed[2]


def differs(value, other) -> bool:
    """Whether two answers' values differ: a number, or a matrix cell by cell."""
    if isinstance(value, np.ndarray) or isinstance(other, np.ndarray):
        return np.shape(value) != np.shape(other) or not np.array_equal(np.asarray(value, dtype=object),
                                                                         np.asarray(other, dtype=object))
    return value != other
