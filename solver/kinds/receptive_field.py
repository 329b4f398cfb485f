"""Receptive fields of a network's layers, by the standard recurrence.

Per axis, from the input (r_0 = 1, j_0 = 1, start_0 = 0) through each layer with a
window (kernel K, stride S, padding P before the first input, dilation D):

    K_eff = D(K - 1) + 1,  j_i = j_(i-1)·S,  r_i = r_(i-1) + (K_eff - 1)·j_(i-1),
    start_i = start_(i-1) + ((K_eff - 1)/2 - P)·j_(i-1).

r is the field's size in input pixels, j the distance in input pixels between two
neighbouring outputs (the jump), start the centre of the first output's field, in
input pixel coordinates whose first pixel's centre is 0. The size counts positions in
the padding too: near the border part of a field lies outside the image.

Element-wise layers (activations, dropout, batch norm) keep the field; a flatten keeps
each feature's field, that of the map position it comes from, but a vector has no jump
or start; a linear layer's outputs each see every input feature, so its field, and that
of every later layer, is the whole input image. A transposed convolution of stride 1 is
a convolution with padding D(K - 1) - P, and follows the recurrence as one; with a larger
stride its outputs do not all see the same number of inputs (⌈K/S⌉ or ⌊K/S⌋ of them,
by position), so one field size does not exist and the solver refuses.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from ..core.errors import FieldError
from ..math.nodes import Fraction_, Number, Relation, Symbol, floor
from ..math.notation import quantity, subscripted
from ..math.printing import latex
from ..core.model import Step
from . import network_blocks as nb
from . import network_layers as nl
from .common import padding_amounts

K, S, P, D = Symbol("K"), Symbol("S"), Symbol("P"), Symbol("D")
K_EFF = quantity("K_eff")
KEEPS = (nl.Activation, nl.Dropout, nl.BatchNorm2d, nl.LocalResponseNorm)   # the field passes through


@dataclass(frozen=True)
class Window:
    """One axis of a layer that slides a window: kernel, stride, padding before the first
    input (top or left), dilation."""
    k: int
    s: int
    before: int
    d: int

    def k_eff(self, dilation_used: bool = True) -> int:
        return self.d * (self.k - 1) + 1 if dilation_used else self.k


@dataclass(frozen=True)
class Field:
    """After one layer: (h, w) of the field's size, of the jump and of the start; the jump and
    the start are None for a vector (after a flatten or a linear layer)."""
    size: tuple
    jump: tuple | None = None
    start: tuple | None = None
    whole: bool = False         # the whole input image: a linear layer or one after it


INPUT = Field((1, 1), (1, 1), (0, 0))
KEEP, FLATTEN, WHOLE, JOIN = "keep", "flatten", "whole", "join"
KNOWN = ("convolutions, pooling, transposed convolutions of stride 1, adaptive pooling to 1×1, flatten, "
         "linear, element-wise and batch or local response normalization layers, and residual and "
         "concatenation blocks")


def rule(entry):
    """How a layer changes the field: (Window, Window) per axis, KEEP, FLATTEN, WHOLE or JOIN.
    A FieldError for a layer the recurrence does not describe."""
    layer, number = entry.layer, entry.number
    if isinstance(layer, nb.Join):
        return JOIN
    if isinstance(layer, KEEPS):
        return KEEP
    if isinstance(layer, nl.Flatten):
        return FLATTEN
    if isinstance(layer, nl.Linear) or isinstance(layer, nl.AdaptiveMaxPool2d) and tuple(layer.output_size) == (1, 1):
        return WHOLE
    if isinstance(layer, nl.ConvTranspose2d):
        if tuple(layer.stride) != (1, 1):
            raise FieldError(f"{entry.field}.stride",
                             f"(layer {number}, a transposed convolution of stride {shape_pair(layer.stride)}) "
                             "has no one receptive field: with a stride S > 1 its outputs see ⌈K/S⌉ or ⌊K/S⌋ "
                             "inputs each, by position, so the recurrence does not apply; receptive fields "
                             "are given for a transposed convolution of stride 1 only")
        return tuple(Window(k, 1, d * (k - 1) - p, d) for k, p, d in
                     zip(layer.kernel_size, layer.padding, layer.dilation))
    if isinstance(layer, nl.Conv2d):
        return tuple(Window(k, s, padding_amounts(layer.padding, k, d, axis)[0], d) for axis, (k, s, d) in
                     enumerate(zip(layer.kernel_size, layer.stride, layer.dilation)))
    if isinstance(layer, nl.MaxPool2d):          # average pooling too
        stride = layer.stride or layer.kernel_size
        return tuple(Window(k, s, p, d) for k, s, p, d in
                     zip(layer.kernel_size, stride, layer.padding, layer.dilation))
    raise FieldError(f"{entry.field}.type",
                     f"(layer {number}, {layer.TYPE}) is not a layer the receptive-field recurrence covers: the "
                     f"solver computes receptive fields through {KNOWN}")


def shape_pair(pair) -> str:
    h, w = pair
    return str(h) if h == w else f"{h}×{w}"


def source_fields(entry, found: dict) -> list:
    return [found[source] if source else INPUT for source in entry.sources]


def fields(entries, image: tuple, jump_used: bool = True, dilation_used: bool = True) -> dict:
    """{row number: the field after it}, each row on the fields of the rows it takes; `image`:
    the input's (H, W). The rules a mistake breaks: `jump_used` (False: the field grows by
    K_eff - 1, the jump left out) and `dilation_used` (False: K_eff taken as K)."""
    found = {}
    for entry in entries:
        how, before = rule(entry), source_fields(entry, found)
        if how == JOIN:
            field = union(entry, before, image)
        elif before[0].whole or how == WHOLE:
            field = Field(tuple(image), whole=True)
        elif how == FLATTEN:
            field = Field(before[0].size)
        elif how == KEEP:
            field = before[0]
        else:
            field = Field(*zip(*(advance(window, r, j, start, jump_used, dilation_used) for window, r, j, start
                                 in zip(how, before[0].size, before[0].jump, before[0].start))))
        found[entry.number] = field
    return found


def union(entry, paths: list, image: tuple) -> Field:
    """A join's field: the union of its paths' fields at one position (an add's output depends on
    both; a concat's channels each on their own branch's, and the layer's field is the union)."""
    if any(path.whole for path in paths):
        return Field(tuple(image), whole=True)
    if any(path.jump is None for path in paths):
        return Field(tuple(max(sizes) for sizes in zip(*(path.size for path in paths))))
    jumps = {path.jump for path in paths}
    if len(jumps) > 1:
        raise FieldError(entry.field, f"(layer {entry.number}, {entry.name}) joins paths whose outputs lie "
                                      f"{' and '.join(shape_pair(j) for j in sorted(jumps))} input pixels apart, "
                                      "so its outputs' fields are not all alike: no one receptive field")
    ends = [span(path) for path in paths]
    first = tuple(min(e[axis][0] for e in ends) for axis in range(2))
    last = tuple(max(e[axis][1] for e in ends) for axis in range(2))
    return Field(tuple(b - a + 1 for a, b in zip(first, last)), paths[0].jump,
                 tuple(exact(Fraction(a + b, 2)) for a, b in zip(first, last)))


def span(field: Field) -> tuple:
    """Per axis, the first and the last input pixel of the first output's field."""
    return tuple((exact(start - Fraction(r - 1, 2)), exact(start + Fraction(r - 1, 2)))
                 for r, start in zip(field.size, field.start))


def advance(window: Window, r, j, start, jump_used: bool = True, dilation_used: bool = True) -> tuple:
    """(r, j, start) after one windowed layer, on one axis."""
    k_eff = window.k_eff(dilation_used)
    grown = r + (k_eff - 1) * (j if jump_used else 1)
    return grown, j * window.s, exact(start + (Fraction(k_eff - 1, 2) - window.before) * j)


def exact(q: Fraction):
    return q.numerator if q.denominator == 1 else q


# ---- the derivation -----------------------------------------------------------

def convention() -> str:
    effective = latex(Relation(K_EFF, "=", D * (K - 1) + 1))
    r0, j0, start0 = (latex(Relation(named(letter, 0), "=", value)) for letter, value in (("r", 1), ("j", 1), ("start", 0)))
    return ("The receptive field of a layer's output is the patch of input pixels it depends on. Per axis, "
            f"from ${r0}$, ${j0}$ and ${start0}$ at the input, each layer with a window (kernel K, stride S, "
            "padding P before the first input, dilation D, so an effective kernel "
            f"${effective}$) gives the jump j (the distance, in input pixels, between "
            "neighbouring outputs), the field's size r and the start (the centre of the first output's field, in "
            "input pixels counted from 0, the first pixel's centre). The size counts padding positions too: near "
            "the border part of a field lies outside the image.")


def named(letter: str, number: int, axis: str = "") -> Symbol:
    index = f"{number},{axis}" if axis else number
    return Symbol(f"{letter}{number}{axis}", subscripted(letter, index))


def window_lines(entry, window: Window, before: Field, axis_index, axis: str = "") -> list:
    """The lines of one windowed layer on one axis (both axes where `axis` is "")."""
    r, j, start = (named(letter, entry.sources[0], axis) for letter in ("r", "j", "start"))
    values = {r.name: before.size[axis_index], j.name: before.jump[axis_index],
              start.name: before.start[axis_index], "K": window.k, "S": window.s, "P": window.before,
              "D": window.d, "K_eff": window.k_eff()}
    kernel = K_EFF if window.d != 1 else K
    lines = []
    if window.d != 1:
        lines.append([K_EFF] + nl.distinct_lines(D * (K - 1) + 1, values))
    lines.append([named("j", entry.number, axis)] + nl.distinct_lines(j * S, values))
    lines.append([named("r", entry.number, axis)] + nl.distinct_lines(r + (kernel - 1) * j, values))
    lines.append([named("start", entry.number, axis)]
                 + nl.distinct_lines(start + (Fraction_(kernel - 1, Number(2)) - P) * j, values))
    return lines


def square(*fields: Field) -> bool:
    return all(len(set(pair)) == 1 for field in fields for pair in (field.size, field.jump, field.start))


WHOLE_WHY = {nl.Linear: "A linear layer's every output takes every input feature",
             nl.AdaptiveMaxPool2d: "Pooling to 1×1 takes every position of its input in one window"}


def layer_step(entry, how, before: list, after: Field) -> Step:
    title = f"Layer {entry.number}: {entry.name}"
    layer = entry.layer
    if after.whole and how != JOIN:
        h, w = after.size
        why = ("Its input already depends on the whole image" if before[0].whole
               else next(text for cls, text in WHOLE_WHY.items() if isinstance(layer, cls)))
        return Step(title, f"{why}, so its receptive field is the whole input image, {h}×{w} pixels; jump and "
                           "start are not given from here on.")
    if how == FLATTEN:
        return Step(title, "Each feature of the flattened vector is one value of the map before it, so it keeps "
                           "that value's receptive field; a vector has no jump or start.")
    if how == JOIN:
        return join_step(entry, before, after)
    notes = []
    if isinstance(layer, nl.ConvTranspose2d):
        notes.append("A transposed convolution of stride 1 is a convolution of the same kernel with padding "
                     "D(K − 1) − P, so P below is that padding (with a larger stride its outputs would not all "
                     "see as many inputs, and the solver refuses).")
    elif isinstance(layer, nl.Conv2d) and layer.padding == "same":
        notes.append(f"With padding 'same', P is the padding at the top and left, ${latex(floor(D * (K - 1) / 2))}$.")
    if isinstance(layer, nl.MaxPool2d) and layer.stride is None:
        notes.append("Pooling's stride is its kernel size by default.")
    h, w = how
    if h == w and square(before[0]):
        lines = window_lines(entry, h, before[0], 0)
    else:
        notes.append("The two axes differ, so each has its lines (h: height, w: width).")
        lines = window_lines(entry, h, before[0], 0, "h") + window_lines(entry, w, before[0], 1, "w")
    return Step(title, " ".join(notes), lines)


FIRST, LAST = Symbol("a"), Symbol("b")


def join_step(entry, paths: list, after: Field) -> Step:
    """A join: the union of its paths' fields at one position."""
    what = ("An output of the add depends on both paths at its position" if isinstance(entry.layer, nb.Add)
            else "Each channel of the concatenation has its own branch's field; the layer's field is their union")
    if after.jump is None:
        return Step(f"Layer {entry.number}: {entry.name}",
                    f"{what}: the largest of its inputs' fields, {shape_pair(after.size)}; a vector has no jump or "
                    "start.")
    axes = [0] if square(after, *paths) else [0, 1]
    if len(axes) == 1:
        ends = "; ".join(f"{source_name(source)} from pixel {span(path)[0][0]} to {span(path)[0][1]}"
                         for source, path in zip(entry.sources, paths))
    else:
        ends = "; ".join(f"{source_name(source)} from pixel {first_h} to {last_h} (height) and {first_w} to "
                         f"{last_w} (width)" for source, path in zip(entry.sources, paths)
                         for (first_h, last_h), (first_w, last_w) in [span(path)])
    text = (f"{what}, with the same jump: in input pixels, the first output's field runs {ends}. Its field runs "
            "from the first of these, a, to the last, b:")
    lines = []
    for axis in axes:
        suffix = "" if len(axes) == 1 else "hw"[axis]
        a, b = min(span(p)[axis][0] for p in paths), max(span(p)[axis][1] for p in paths)
        values = {"a": a, "b": b}
        lines.append([named("j", entry.number, suffix), Number(after.jump[axis])])
        lines.append([named("r", entry.number, suffix)] + nl.distinct_lines(LAST - FIRST + 1, values))
        lines.append([named("start", entry.number, suffix)] + nl.distinct_lines(Fraction_(FIRST + LAST, Number(2)),
                                                                                values))
    return Step(f"Layer {entry.number}: {entry.name}", text, lines)


def source_name(source: int) -> str:
    return "for the network's input" if source == 0 else f"for layer {source}"


def field_step(entries, found: dict) -> Step:
    """The step "Receptive fields": the convention, the layers that keep the field, and a
    sub-step per layer that changes it; `found` as `fields` gives it."""
    steps, kept = [], []
    for entry in entries:
        how = rule(entry)
        if how == KEEP:
            kept.append(entry)
        else:
            steps.append(layer_step(entry, how, source_fields(entry, found), found[entry.number]))
    text = convention()
    if kept:
        listed = ", ".join(f"{entry.number} ({entry.name})" for entry in kept)
        text += (f" Element-wise and normalization layers keep the field, the jump and the start of the layer "
                 f"they take: layer{'s' if len(kept) > 1 else ''} {listed}.")
    return Step("Receptive fields", text, substeps=steps)


def answer_values(found: dict) -> dict:
    """{name: value} of receptive_field[i], jump[i], start[i]: one number per answer where both
    axes agree in every layer, else (h, w) pairs."""
    same = all(len(set(pair)) == 1 for field in found.values()
               for pair in (field.size, field.jump or (1, 1), field.start or (0, 0)))
    values = {}
    for number, field in found.items():
        for name, pair in (("receptive_field", field.size), ("jump", field.jump), ("start", field.start)):
            if pair is not None:
                values[f"{name}[{number}]"] = pair[0] if same else tuple(pair)
    return values
