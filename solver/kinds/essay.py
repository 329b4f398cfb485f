"""essay: a question answered in words (a definition, a comparison, a proof).

It has no answer to check. Its model answer, written by the instructor, is shown
on solution sheets and answer keys, and never on a problem sheet.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..core.errors import FieldError
from ..core.fields import given_field, text
from ..core.model import Step
from .base import Kind

MAX_LENGTH = 20_000


def model_text(name, value):
    value = text(name, value).strip()
    if not value:
        raise FieldError(name, "is empty; write the answer a good student would give")
    if len(value) > MAX_LENGTH:
        raise FieldError(name, f"has {len(value):,} characters; keep it under {MAX_LENGTH:,}")
    return value


@dataclass(frozen=True, kw_only=True)
class Given:
    model_answer: str = given_field(model_text, dataclasses.MISSING,
                                    "the answer shown on solution sheets and keys (plain text; "
                                    "a blank line starts a new paragraph)")


class Essay(Kind):
    name = "essay"
    summary = "a question answered in words; shows the instructor's model answer, checks nothing"
    Given = Given

    def compute(self, given, rules=None) -> dict:
        return {}

    def derive(self, given, answers) -> list[Step]:
        return [Step("Model answer", text=given.model_answer)]


KIND = Essay()
