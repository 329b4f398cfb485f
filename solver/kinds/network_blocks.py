"""The blocks of a `network` problem: residual blocks and concatenations, and the
numbering of their layers.

A `layers:` list holds layers and blocks, nested freely; a block takes `name`
and `repeat: n` as a layer does:
- `{type: residual, layers: [...], shortcut: [...]}`: the main path and the
  shortcut both read the block's input and their outputs are added (PyTorch's
  `out + identity`); without `shortcut` (or with an empty one) the shortcut is
  the identity, the input itself; with one it is a projection (a 1×1 convolution
  and batch norm, say). The two shapes must be equal.
- `{type: concat, branches: [[...], [...], ...]}`: every branch reads the
  block's input and their outputs are concatenated along the channels
  (`torch.cat(..., dim=1)`); an empty branch is the input itself. Heights and
  widths must be equal (or every branch a vector, whose features are joined).

Numbering (the per-layer answers `params[i]`, `output_shape[i]`, ... and the
rows of the layer table): rows are counted from 1, depth first, in the order
the problem lists them: a residual block's main path, then its shortcut's
layers, then the add; a concatenation's branches one after the other, then the
concat. The join (the add or the concat) is a row of its own, right after its
paths. A network without blocks is numbered as it always was: 1, 2, ... in
listed order, a repeat as its copies.

Each row records the rows whose outputs it takes (`sources`, 0 for the network's
input): the row before it on its path, the block's input for a path's first
layer, and the last row of each path (or the block's input for an identity
path) for the join. Counts: an add does one addition per output element (no
multiplication, no MAC); a concat does no arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import FieldError
from ..core.fields import integer
from ..math.nodes import Symbol
from ..math.notation import quantity
from . import network_layers as nl

MAX_LAYERS = 2000           # rows, once repeats are counted and joins are rows
MAX_DEPTH = 12              # blocks inside blocks
BLOCK_KEYS = {"residual": ("type", "name", "repeat", "layers", "shortcut"),
              "concat": ("type", "name", "repeat", "branches")}
AXES = {3: (nl.C, nl.H, nl.W), 2: (nl.L, nl.F), 1: (nl.F,)}      # the letters of a shape's sizes, by rank


@dataclass(frozen=True)
class Entry:
    """One row of the expanded network: a layer, or the join of a block."""
    number: int                  # from 1, depth first
    layer: Any
    name: str                    # as the table and the derivation call it
    sources: tuple = ()          # the rows whose outputs it takes; 0: the network's input
    depth: int = 0               # blocks it is inside (a join: its block's own depth)
    field: str = ""              # where the problem gives it, for messages: layers[3], layers[4].shortcut[1]
    path: str = ""               # on the first layer of a shortcut or branch: "shortcut", "branch 2"


# ---- the joins ------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Join(nl.Layer):
    """Where a block's paths meet, computed on their output shapes (a tuple of shapes).
    `paths` names each input ("the main path", "the identity shortcut", ...)."""
    paths: tuple = ()
    block: str = ""

    def mismatch(self, shapes) -> str:
        """Why these inputs cannot be joined, or ""."""
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class Add(Join):
    TYPE = "add"
    SUMMARY = "the residual sum of the main path and the shortcut"

    def mismatch(self, shapes):
        if any(shape != shapes[0] for shape in shapes):
            return "an add needs equal shapes"
        return ""

    def compute(self, shapes):
        shape = shapes[0]
        letters = AXES[len(shape)]
        formula = letters[0]
        for letter in letters[1:]:
            formula = formula * letter
        values = {letter.name: size for letter, size in zip(letters, shape)}
        n = nl.product(shape)
        return nl.Computed(shape, adds=(len(shapes) - 1) * n, count_lines=[("adds", formula, values)],
                           note="The add keeps the shape and does one addition per output element "
                                "(no multiplication, so no MAC).")


@dataclass(frozen=True, kw_only=True)
class Concat(Join):
    TYPE = "concat"
    SUMMARY = "channel concatenation of the branches (torch.cat, dim=1)"

    def mismatch(self, shapes):
        if len({len(shape) for shape in shapes}) > 1:
            return "torch.cat cannot join shapes of different ranks (a C×H×W map, an L×F sequence, a vector)"
        if any(shape[1:] != shapes[0][1:] for shape in shapes):
            return ("torch.cat along dim=1 (the channels of a map, the positions of a sequence) needs the other "
                    "sizes equal: heights and widths, or features")
        return ""

    def compute(self, shapes):
        letter = AXES[len(shapes[0])][0].name
        parts = [quantity(f"{letter}_{k}", f"{letter}{k}") for k in range(1, len(shapes) + 1)]
        values = {f"{letter}{k}": shape[0] for k, shape in enumerate(shapes, start=1)}
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        shape = (sum(shape[0] for shape in shapes),) + shapes[0][1:]
        return nl.Computed(shape, size_lines=lambda: [[Symbol(letter)] + nl.distinct_lines(total, values)],
                           note="The concat stacks its inputs along dim=1 (torch.cat), the channels of a map: "
                                "those sizes add up, the rest of the shape is kept, and nothing is computed.")


# ---- reading the nested lists -------------------------------------------------------

def block_type(raw) -> str | None:
    """"residual" or "concat" where the mapping is a block, else None (a layer)."""
    if isinstance(raw, dict) and isinstance(raw.get("type"), str):
        key = nl.type_key(raw["type"])
        return next((name for name in BLOCK_KEYS if nl.type_key(name) == key), None)
    return None


def read_network(name, value) -> tuple[Entry, ...]:
    """The `layers:` list, blocks and all -> its rows, numbered depth first."""
    if not isinstance(value, list) or not value:
        raise FieldError(name, "must be a non-empty list of layers, each a mapping with a `type`")
    reader = Reader()
    reader.read_list(value, name, source=0, depth=0)
    return tuple(reader.entries)


class Reader:
    def __init__(self):
        self.entries: list[Entry] = []

    def add(self, **entry) -> int:
        if len(self.entries) >= MAX_LAYERS:
            raise FieldError("layers", f"has more than {MAX_LAYERS} layers once repeats are counted "
                                       "(each add or concat is one)")
        self.entries.append(Entry(number=len(self.entries) + 1, **entry))
        return len(self.entries)

    def read_list(self, value, where, source, depth, path="") -> int:
        """Read one list of layers and blocks fed by row `source`; the number of its last row
        (`source` itself for an empty list: the identity)."""
        top = depth == 0
        for position, raw in enumerate(value, start=1):
            first = len(self.entries) + 1
            field = f"layers[{first}]" if top else f"{where}[{position}]"
            place = f"(layer {first}, entry {position} of the list)" if top else \
                f"(layer {first}, entry {position} of {where})"
            kind = block_type(raw)
            try:
                repeat = integer(1, "a positive integer")("repeat", raw.get("repeat", 1)) \
                    if isinstance(raw, dict) else 1
                if kind is None:
                    layer, label, _ = nl.read_layer(raw)
            except FieldError as error:
                raise FieldError(f"{field}.{error.field}", f"{place} {error.detail}") from None
            if kind is None and top and len(self.entries) + repeat > MAX_LAYERS:
                raise FieldError(where, f"has more than {MAX_LAYERS} layers once repeats are counted")
            for copy in range(repeat):
                if kind is not None:
                    source = self.read_block(kind, raw, field, source, depth)
                else:
                    number = len(self.entries) + 1
                    source = self.add(layer=layer, name=label or layer.describe(), sources=(source,),
                                      depth=depth, field=f"layers[{number}]" if top else field,
                                      path=path if position == 1 and copy == 0 else "")
        return source

    def read_block(self, kind, raw, field, source, depth) -> int:
        """One copy of a block fed by row `source`: its paths, then its join; the join's number."""
        if depth >= MAX_DEPTH:
            raise FieldError(field, f"nests blocks more than {MAX_DEPTH} deep")
        for key in raw:
            if key not in BLOCK_KEYS[kind]:
                raise FieldError(f"{field}.{key}", f"is not a field of a {kind} block; it takes "
                                                   f"{', '.join(BLOCK_KEYS[kind])}")
        name = raw.get("name")
        if name is not None and not isinstance(name, (str, int)):
            raise FieldError(f"{field}.name", f"must be text, got {name!r}")
        paths = self.residual_paths(raw, field, source, depth) if kind == "residual" else \
            self.concat_paths(raw, field, source, depth)
        ends, labels = zip(*paths)
        join = (Add if kind == "residual" else Concat)(paths=labels, block=field)
        inputs = [str(end) if end else "input" for end in ends]
        text = f"{join.TYPE} of {', '.join(inputs[:-1])} and {inputs[-1]}"
        return self.add(layer=join, name=f"{name}: {text}" if name is not None else text, sources=ends,
                        depth=depth, field=field)

    def residual_paths(self, raw, field, source, depth) -> list:
        main = raw.get("layers")
        if not isinstance(main, list) or not main:
            raise FieldError(f"{field}.layers", "must be a non-empty list of layers: the residual block's "
                                                "main path (its shortcut is `shortcut`, the identity when absent)")
        end = self.read_list(main, f"{field}.layers", source, depth + 1)
        shortcut = raw.get("shortcut")
        if shortcut is None or shortcut == []:
            return [(end, "the main path"), (source, "the identity shortcut")]
        if not isinstance(shortcut, list):
            raise FieldError(f"{field}.shortcut", "must be a list of layers (a projection, e.g. a 1×1 conv2d "
                                                  "and a batchnorm2d), or absent for the identity")
        return [(end, "the main path"),
                (self.read_list(shortcut, f"{field}.shortcut", source, depth + 1, "shortcut"), "the shortcut")]

    def concat_paths(self, raw, field, source, depth) -> list:
        branches = raw.get("branches")
        if not isinstance(branches, list) or len(branches) < 2 or not all(isinstance(b, list) for b in branches):
            raise FieldError(f"{field}.branches", "must be a list of at least two branches, each a list of "
                                                  "layers ([] for the block's input itself)")
        paths = []
        for k, branch in enumerate(branches, start=1):
            end = self.read_list(branch, f"{field}.branches[{k}]", source, depth + 1, f"branch {k}")
            paths.append((end, f"branch {k}" + (", the identity" if not branch else "")))
        return paths
