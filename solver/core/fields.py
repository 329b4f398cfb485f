"""Readers for the `given:` fields of a problem, shared by every kind.

A kind declares its inputs as a frozen dataclass whose fields carry a reader
(`metadata["read"]`). Each reader turns the YAML value into a typed value or
raises FieldError saying what would be valid. `read_given` applies them.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .errors import FieldError

# A symbol name as the answer grammar reads it back (w_in, x_1, H): letters, digits, one subscript.
IDENTIFIER = re.compile(r"(?=.{1,16}\Z)[A-Za-z]+[0-9]*(_[A-Za-z0-9]+)?\Z")
MAX_CELLS = 10_000            # entries of one given matrix or tensor
MAX_COMPUTED_CELLS = 100_000  # entries of an array a kind computes (a padded input, an output)
MAX_WINDOW_ENTRIES = 1_000_000   # output cells times the entries each one's window adds up
MAX_SIZE = 10**9
MAX_NUMBER = 10**15           # any number in a problem: answers then stay within the answer grammar's digits
NUMBER_LIMIT = f"10^{len(str(MAX_NUMBER)) - 1}"


@dataclass(frozen=True)
class Pair:
    """A per-axis parameter: (h, w). `scalar` remembers it was given as one value."""
    h: Any
    w: Any
    scalar: bool = False

    def __iter__(self):
        return iter((self.h, self.w))

    def __getitem__(self, axis):
        return (self.h, self.w)[axis]

    def map(self, f) -> Pair:
        return Pair(f(self.h), f(self.w), self.scalar)

    @property
    def symbolic(self) -> bool:
        return not all(isinstance(v, int) for v in self)


ONE, ZERO = Pair(1, 1, scalar=True), Pair(0, 0, scalar=True)


def given_field(read: Callable, default=dataclasses.MISSING, doc: str = "", key: str | None = None):
    """A dataclass field with its reader and a one-line description; `key`: the name a problem
    file gives it where that is no Python name (`lambda`)."""
    metadata = {"read": read, "doc": doc} if key is None else {"read": read, "doc": doc, "key": key}
    return dataclasses.field(default=default, metadata=metadata)


def field_key(f: dataclasses.Field) -> str:
    """The name a problem file gives a field: its own, or its `key` (`lambda` for the field lambda_)."""
    return f.metadata.get("key", f.name)


def read_given(cls, raw: Any, kind: str):
    """Build the kind's dataclass from the YAML mapping, field by field."""
    if not isinstance(raw, dict):
        raise FieldError("given", f"must be a mapping of field names to values for kind "
                                  f"`{kind}`; it takes {field_list(cls)}")
    fields = {field_key(f): f for f in dataclasses.fields(cls)}
    for name in raw:
        if name not in fields:
            raise FieldError(str(name), f"is not a field of kind `{kind}`; it takes {field_list(cls)}")
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[f.name] = f.metadata["read"](name, raw[name])
        elif f.default is dataclasses.MISSING:
            raise FieldError(name, f"is required for kind `{kind}`: {f.metadata['doc']}")
    return cls(**values)


def field_list(cls) -> str:
    return ", ".join(field_key(f) for f in dataclasses.fields(cls))


def check_numbers(name: str, value, where: str = "") -> None:
    """Every number in a given (or a vary), however nested, is finite and at most
    MAX_NUMBER in size: an infinite cell would match any answer, and a huge one
    gives answers a student cannot type."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_numbers(name, item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_numbers(name, item, f"{where}[{i}]")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        at = f" at {name}{where}" if where else ""
        if not math.isfinite(value):
            raise FieldError(name, f"has {value}{at}; numbers must be finite")
        if abs(value) > MAX_NUMBER:
            raise FieldError(name, f"has {value:.3g}{at}; numbers in a problem are at most "
                                   f"{NUMBER_LIMIT} in size")


def bound_cells(name: str, what: str, shape, limit: int = MAX_COMPUTED_CELLS) -> None:
    """Refuse, before computing it, an array of more than `limit` entries: a 3×3
    input with padding 5000 would take gigabytes."""
    cells = math.prod(shape)
    if cells > limit:
        raise FieldError(name, f"makes {what} {'×'.join(map(str, shape))}, {cells:,} entries; at most "
                               f"{limit:,} are supported")


def bound_windows(name: str, output_shape, window_shape) -> None:
    """Refuse an output whose windows add up more than MAX_WINDOW_ENTRIES entries in all."""
    bound_cells(name, "the output's windows (output cells × window entries)",
                (math.prod(output_shape), math.prod(window_shape)), MAX_WINDOW_ENTRIES)


# ---- readers -------------------------------------------------------------

def integer(minimum: int, what: str):
    def read(name, value):
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SIZE:
            raise FieldError(name, f"must be {what}, got {value!r}")
        return value
    return read


def boolean(name, value):
    if not isinstance(value, bool):
        raise FieldError(name, f"must be true or false, got {value!r}")
    return value


def choice(*options):
    def read(name, value):
        if value not in options:
            raise FieldError(name, f"must be one of {', '.join(map(str, options))}; got {value!r}")
        return value
    return read


def number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise FieldError(name, f"must be a number, got {value!r}")
    return value


def text(name, value):
    if not isinstance(value, str):
        raise FieldError(name, f"must be text, got {value!r}")
    return value


def names(what: str, empty: bool = True):
    """A reader of a list of names (one name alone is a list of one); `what` says what they are."""
    def read(name, value):
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not (items or empty) or not all(isinstance(v, str) for v in items):
            raise FieldError(name, f"must be {what}; got {value!r}")
        return tuple(items)
    return read


def optional(read):
    """None (YAML `null` or absent) stays None; anything else goes to `read`."""
    def read_optional(name, value):
        return None if value is None else read(name, value)
    return read_optional


def pair(minimum: int, allow_symbol: bool):
    """An int, a [h, w] pair, or (for sizes) a symbol name like H."""
    what = f"an integer >= {minimum}, or a pair [h, w] of them"
    if allow_symbol:
        what += ", or a symbol name such as H"

    def one(name, value):
        if allow_symbol and isinstance(value, str) and IDENTIFIER.match(value):
            return size_symbol(value)
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_SIZE:
            raise FieldError(name, f"must be {what}; got {value!r}")
        return value

    def read(name, value):
        if isinstance(value, (list, tuple)):
            if len(value) != 2:
                raise FieldError(name, f"must be {what}; a list must have exactly 2 entries, got {len(value)}")
            return Pair(one(name, value[0]), one(name, value[1]))
        v = one(name, value)
        return Pair(v, v, scalar=True)
    return read


def count_or_symbol(name, value):
    """A positive whole number (channels, groups, batch, features) or a symbol name like C."""
    if isinstance(value, str) and IDENTIFIER.match(value):
        return size_symbol(value)
    return integer(1, "an integer >= 1 or a symbol name such as C")(name, value)


def number_or_symbol(**assumptions):
    """A number, or a symbol name (a letter such as g) standing for a number with `assumptions`
    (positive=True, real=True): the problem is then the general formula."""
    def read(name, value):
        if isinstance(value, str) and IDENTIFIER.match(value):
            import sympy
            return sympy.Symbol(value, **assumptions)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise FieldError(name, f"must be a number or a symbol name such as g; got {value!r}")
        return value
    return read


def size_symbol(name: str):
    """A size letter: a positive integer symbol (so floor(H - 1) simplifies)."""
    import sympy
    return sympy.Symbol(name, integer=True, positive=True)


def array(ndims: tuple[int, ...], what: str):
    """A rectangular nested list of numbers with one of the allowed ranks."""
    def read(name, value):
        shape = nested_shape(name, value)
        if len(shape) not in ndims:
            raise FieldError(name, f"must be {what}; got {len(shape)} dimension(s)")
        if 0 in shape:
            raise FieldError(name, f"must be {what}; it has an empty dimension")
        arr = np.array(value, dtype=object)
        if arr.size > MAX_CELLS:
            raise FieldError(name, f"has {arr.size} entries; at most {MAX_CELLS} are supported")
        for cell in arr.flat:
            if isinstance(cell, bool) or not isinstance(cell, (int, float)) or cell != cell:
                raise FieldError(name, f"must contain only numbers; found {cell!r}")
        return arr
    return read


def nested_shape(name, value, path=()):
    """Shape of a nested list, or a FieldError naming the first ragged row."""
    if not isinstance(value, (list, tuple)):
        return ()
    if len(value) > MAX_CELLS:
        raise FieldError(name, f"is too large ({len(value)} entries along one axis)")
    shapes = [nested_shape(name, item, path + (i,)) for i, item in enumerate(value)]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            where = "".join(f"[{j}]" for j in path)
            raise FieldError(name, f"is not rectangular: {name}{where}[{i}] has shape "
                                   f"{shape_text(s)} but {name}{where}[0] has shape {shape_text(shapes[0])}")
    return (len(value),) + (shapes[0] if shapes else ())


def shape_text(shape) -> str:
    """A shape as the derivations and messages write it: 3×224×224."""
    return "×".join(map(str, shape)) if shape else "a single number"
