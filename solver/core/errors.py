"""One exception hierarchy for everything a user can get wrong.

The CLI prints any `SolverError` as one paragraph and exits with status 2;
anything else is a bug in the tool: one line and exit status 3 (the traceback
with --debug). `InternalError` carries where such a bug was met.
"""


class SolverError(Exception):
    """A problem with the user's input, reported as one clear paragraph."""


class UsageError(SolverError):
    """The command line itself is wrong (unknown problem id, answer name, ...)."""


class ProblemError(SolverError):
    """A problem file, or one field of one problem in it, is invalid."""

    def __init__(self, message, *, file=None, problem=None, field=None):
        self.file, self.problem, self.field, self.detail = file, problem, field, message
        super().__init__(self._compose())

    def located(self, *, file=None, problem=None):
        """The same error with the file and problem filled in where unknown."""
        return ProblemError(self.detail, file=self.file or file,
                            problem=self.problem or problem, field=self.field)

    def _compose(self):
        where = []
        if self.file:
            where.append(str(self.file))
        if self.problem is not None:
            where.append(f'problem "{self.problem}"')
        if self.field:
            where.append(f"field `{self.field}`")
        return (", ".join(where) + ": " if where else "") + self.detail


class FieldError(ProblemError):
    """One given field has a value the kind cannot accept."""

    def __init__(self, field, message):
        super().__init__(message, field=field)


class InvalidAnswer(SolverError):
    """A student's answer text cannot be read as the expected type.

    Invalid is not wrong: the message says where reading failed.
    """


class InternalError(Exception):
    """An unexpected error (a bug in the tool, not in the input) met while `doing`
    something the user can be told about: checking a problem's answer."""

    def __init__(self, doing: str, cause: BaseException):
        self.doing, self.cause = doing, cause
        super().__init__(f"{doing}: {type(cause).__name__}: {cause}")


MAX_BUG_TEXT = 300           # characters of an unexpected error's message that are shown


def bug_text(error: BaseException) -> str:
    """An unexpected error (or the cause an InternalError carries) on one short line."""
    cause = error.cause if isinstance(error, InternalError) else error
    return " ".join(f"{type(cause).__name__}: {cause}".split())[:MAX_BUG_TEXT]
