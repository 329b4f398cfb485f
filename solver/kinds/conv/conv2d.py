"""conv2d: PyTorch's Conv2d (cross-correlation) by hand, or its output size."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import (ONE, ZERO, Pair, array, boolean, bound_cells, bound_windows, choice, given_field, integer,
                       optional, pair)
from ...math.nodes import Array, Hadamard, Indexed, Symbol
from ...math.notation import quantity
from ...core.model import Answer, Step
from ..sizes import Axis, conv_length, conv_size, general_conv_derivation
from ..base import Kind
from ..common import exact_array, padding_amounts, read_padding, shown_cells
from .common import (activated, activation_steps, as_channels, check_not_symbolic_with_matrices, pad, read_bias,
                     size_answer as common_size_answer, size_under_rules, squeeze_output)


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(optional(array((2, 3), "an H×W matrix or a C×H×W tensor")), None,
                             "the input matrix (H×W) or tensor (C×H×W)")
    kernel: Any = given_field(optional(array((2, 3, 4), "a Kh×Kw matrix or an O×(C/groups)×Kh×Kw tensor")),
                              None, "the kernel: Kh×Kw, (C/groups)×Kh×Kw, or O×(C/groups)×Kh×Kw")
    bias: Any = given_field(optional(read_bias), None, "one number per output channel")
    input_size: Any = given_field(optional(pair(1, True)), None, "H, or [H, W], for size-only problems")
    kernel_size: Any = given_field(optional(pair(1, True)), None, "K, or [Kh, Kw], for size-only problems")
    stride: Pair = given_field(pair(1, True), ONE, "step between windows (default 1)")
    padding: Any = given_field(read_padding, ZERO, "zeros added on each side, 'same' or 'valid'")
    dilation: Pair = given_field(pair(1, True), ONE, "spacing between kernel taps (default 1)")
    groups: int = given_field(integer(1, "a positive integer"), 1, "channel groups (default 1)")
    flip: bool = given_field(boolean, False, "true: flip the kernel (true convolution)")
    activation: Any = given_field(optional(choice("relu")), None, "relu: apply ReLU to the output")


@dataclass(frozen=True)
class Rules:
    """conv2d's conventions, PyTorch's by default; a mistake of the catalogue changes one."""
    rounding: str = "floor"          # the window count rounded down ("ceil" up, "exact" not rounded)
    padding_sides: int = 2           # P on both sides of each axis: H + 2P
    dilation_span: str = "D(K-1)+1"  # a dilated kernel's span ("KD": K·D)
    flip: bool = False               # the kernel as it is (a cross-correlation), or as `flip` asks

    def windows_defined(self) -> bool:
        """Only PyTorch's size rule places the windows: under another, only the size is computed."""
        return (self.rounding, self.padding_sides, self.dilation_span) == ("floor", 2, "D(K-1)+1")


RULES = Rules()


# ---- the geometry ---------------------------------------------------------

def input_hw(given):
    if given.input is not None:
        return Pair(*given.input.shape[-2:])
    return given.input_size


def kernel_hw(given):
    if given.kernel is not None:
        return Pair(*given.kernel.shape[-2:])
    return given.kernel_size


def axes(given) -> list[Axis]:
    n, k = input_hw(given), kernel_hw(given)
    result = []
    for a in range(2):
        before, after = padding_amounts(given.padding, k[a], given.dilation[a], a)
        result.append(Axis(n=n[a], k=k[a], s=given.stride[a], d=given.dilation[a],
                           before=before, after=after, letter="HW"[a]))
    return result


def size_axes(given, rules: Rules) -> list[Axis]:
    """The axes as the rules count them (the padding on one side, a kernel K·D wide)."""
    result = axes(given)
    if rules.padding_sides == 1:
        result = [dataclasses.replace(axis, after=0) for axis in result]
    if rules.dilation_span == "KD":
        result = [dataclasses.replace(axis, k=axis.k * axis.d, d=1) for axis in result]
    return result


def kernel_tensor(given, rotated: bool = False) -> np.ndarray:
    """The kernel as O×(C/groups)×Kh×Kw, flipped for a true convolution (or, `rotated`, for the
    other one: the mistake kernel_flipped)."""
    w = given.kernel
    w = w[None, None] if w.ndim == 2 else (w[None] if w.ndim == 3 else w)
    return w[..., ::-1, ::-1] if given.flip != rotated else w


def validate(given: Given):
    has_matrices = given.input is not None or given.kernel is not None
    if has_matrices and (given.input is None or given.kernel is None):
        missing = "kernel" if given.input is not None else "input"
        raise FieldError(missing, "is needed too: give both `input` and `kernel`, or neither and "
                                  "`input_size` with `kernel_size`")
    if has_matrices:
        for name in ("input_size", "kernel_size"):
            if getattr(given, name) is not None:
                raise FieldError(name, "must not be given with `input`/`kernel`: their shapes are the sizes")
        check_not_symbolic_with_matrices(given, ("stride", "padding", "dilation"))
        validate_channels(given)
    else:
        for name in ("input_size", "kernel_size"):
            if getattr(given, name) is None:
                raise FieldError(name, "is required: give `input` and `kernel` matrices, or "
                                       "`input_size` and `kernel_size`")
        validate_symbols(given)
    if given.padding == "same" and tuple(given.stride) != (1, 1):
        raise FieldError("padding", "'same' requires stride 1 (as in PyTorch)")
    validate_fits(given)


def validate_channels(given):
    x, w = as_channels(given.input), kernel_tensor(given)
    c, o, g = x.shape[0], w.shape[0], given.groups
    if given.kernel.ndim == 2 and c != 1:
        raise FieldError("kernel", f"must be O×{c}×Kh×Kw (or {c}×Kh×Kw) for a {c}-channel input")
    if c % g or o % g:
        raise FieldError("groups", f"must divide the input channels ({c}) and output channels ({o})")
    if w.shape[1] != c // g:
        raise FieldError("kernel", f"has {w.shape[1]} input channels; with {c} input channels and "
                                   f"groups={g} it needs {c // g}")
    if given.bias is not None and len(given.bias) != o:
        raise FieldError("bias", f"has {len(given.bias)} values; it needs one per output channel ({o})")


def validate_symbols(given):
    symbolic = [name for name in ("input_size", "kernel_size", "stride", "padding", "dilation")
                if isinstance(getattr(given, name), Pair) and getattr(given, name).symbolic]
    for name in symbolic:
        value = getattr(given, name)
        if not value.scalar:
            raise FieldError(name, "must be one value (not a pair) when it is a symbol")
    if symbolic and given.padding == "same":
        raise FieldError("padding", "'same' needs numbers; write the padding as a symbol, e.g. P")


def validate_fits(given):
    for a, axis in enumerate(axes(given)):
        if any(not isinstance(v, int) for v in (axis.n, axis.k, axis.d, axis.before)):
            continue
        span = axis.d * (axis.k - 1) + 1
        padded = axis.n + axis.before + axis.after
        if span > padded:
            field = "kernel" if given.kernel is not None else "kernel_size"
            raise FieldError(field, f"spans {span} {'rows' if a == 0 else 'columns'} "
                                    f"(dilation included) but the padded input has only {padded}; "
                                    "the kernel must fit inside the padded input")
    if given.input is not None:
        bound_arrays(given)


def bound_arrays(given):
    """The padded input, the output and its windows stay small enough to compute."""
    ax, w = axes(given), kernel_tensor(given)
    bound_cells("padding", "the padded input", (as_channels(given.input).shape[0],
                                                 *(a.n + a.before + a.after for a in ax)))
    output = (w.shape[0], *(conv_size(a) for a in ax))
    bound_cells("kernel", "the output", output)
    bound_windows("kernel", output, w.shape[1:])


# ---- solving --------------------------------------------------------------

def output_size(given, rules: Rules = RULES):
    """Sizes per axis and their derivation lines."""
    return [conv_length(axis, rules.rounding) for axis in size_axes(given, rules)]


def output_sizes(given) -> tuple:
    """output_size's sizes alone."""
    return tuple(conv_size(axis) for axis in axes(given))


def padded_input(given) -> np.ndarray:
    """The input as C×H×W with its padding zeros."""
    return pad(as_channels(given.input), [(a.before, a.after) for a in axes(given)])


def correlate(given, rotated: bool = False) -> np.ndarray:
    """O×H_out×W_out output, exact for integer inputs (object arrays)."""
    xp, w = padded_input(given), kernel_tensor(given, rotated)
    ax = axes(given)
    (ho, _), (wo, _) = output_size(given)
    o_count, cg = w.shape[0], w.shape[1]
    y = np.zeros((o_count, ho, wo), dtype=object)
    for o in range(o_count):
        group = o // (o_count // given.groups)
        for c in range(cg):
            for a in range(w.shape[2]):
                for b in range(w.shape[3]):
                    rows = slice(a * ax[0].d, a * ax[0].d + ax[0].s * (ho - 1) + 1, ax[0].s)
                    cols = slice(b * ax[1].d, b * ax[1].d + ax[1].s * (wo - 1) + 1, ax[1].s)
                    y[o] = y[o] + xp[group * cg + c, rows, cols] * w[o, c, a, b]
        if given.bias is not None:
            y[o] = y[o] + given.bias[o]
    return exact_array(y)


def window(given, xp, w, o, i, j):
    """The input entries output cell (o, i, j) sees, channel by channel."""
    ax = axes(given)
    cg = w.shape[1]
    group = o // (w.shape[0] // given.groups)
    rows = slice(i * ax[0].s, i * ax[0].s + ax[0].d * (w.shape[2] - 1) + 1, ax[0].d)
    cols = slice(j * ax[1].s, j * ax[1].s + ax[1].d * (w.shape[3] - 1) + 1, ax[1].d)
    return xp[group * cg:(group + 1) * cg, rows, cols]


def size_answer(given, sizes) -> Answer:
    return common_size_answer(given, sizes, axes(given))


CONVENTION = ("As in PyTorch, the convolution is a cross-correlation: the kernel slides over the "
              "input without being flipped, and each output cell is the sum of the products of a "
              "window with the kernel. Rows and columns are numbered from 1.")
TRUE_CONVOLUTION = ("This problem asks for a true convolution: the kernel is first rotated by "
                    "180° (flipped in both directions), then slid over the input as a cross-correlation.")


def matrix_steps(given, y) -> list[Step]:
    steps = [Step("Convention", TRUE_CONVOLUTION if given.flip else CONVENTION)]
    if given.flip:
        steps.append(Step("Flipped kernel", "Rotate the kernel by 180°.",
                          [[Symbol("W'"), kernel_tensor(given)[0, 0] if given.kernel.ndim == 2
                            else kernel_tensor(given)]]))
    ax = axes(given)
    if any(a.before or a.after for a in ax):
        xp = padded_input(given)
        shown = xp[0] if given.input.ndim == 2 else xp
        steps.append(Step("Padding", f"Add {describe_padding(ax)} of zeros around the input.",
                          [[quantity("X_pad"), shown]]))
    if any(a.d > 1 for a in ax):
        dilated = dilate(kernel_tensor(given)[0, 0], ax[0].d, ax[1].d)
        k_eff = Symbol("D") * (Symbol("K") - 1) + 1
        lines = [[quantity("K_eff"), k_eff, k_eff.substitute(ax[0].values()),
                  ax[0].d * (ax[0].k - 1) + 1]]
        if dilated.size <= 100:
            lines.append([quantity("W_dilated"), dilated])
        steps.append(Step("Dilation", "With dilation D the kernel taps are D apart: the kernel acts like "
                          "a larger kernel with zeros between its entries, D(K - 1) + 1 wide.", lines))
    return steps


def describe_padding(ax) -> str:
    (top, bottom), (left, right) = (ax[0].before, ax[0].after), (ax[1].before, ax[1].after)
    if top == bottom == left == right:
        return f"{top} row{'s' if top != 1 else ''} and column{'s' if top != 1 else ''}"
    return f"{top} row(s) at the top, {bottom} at the bottom, {left} column(s) at the left and {right} at the right"


def dilate(k: np.ndarray, dh: int, dw: int) -> np.ndarray:
    """Entries dh rows and dw columns apart (zeros between), on the last two axes."""
    out = np.zeros(k.shape[:-2] + (dh * (k.shape[-2] - 1) + 1, dw * (k.shape[-1] - 1) + 1), dtype=object)
    out[..., ::dh, ::dw] = k
    return out


def size_steps(given, sizes) -> list[Step]:
    ax = axes(given)
    steps = []
    if any(not isinstance(v, int) for a in ax for v in (a.n, a.k, a.s, a.d, a.before)):
        steps += general_conv_derivation()
    same = ax[0] == ax[1]
    names = ["H_out"] if same else ["H_out", "W_out"]
    lines = [[quantity(name)] + lines for name, (_, lines) in zip(names, sizes)]
    if same and given.input is not None:
        lines[0].insert(1, quantity("W_out"))
    text = ("PyTorch's output size, per axis, with input length H, padding P, dilation D, "
            "kernel size K and stride S:")
    if given.padding == "same":
        text += " padding 'same' pads D(K - 1) in total, the odd one at the end."
    steps.append(Step("Output size", text, lines))
    return steps


def window_cells(given, y, name=lambda index: Indexed("Y", index)) -> tuple[list[dict], bool]:
    """The cells of y (O×H_out×W_out) a derivation shows, as the conv2d.windows layout
    takes them (the cell's name, window ⊙ kernel, products, value), and whether that is all
    of them. `name` names the cell at an index ((o, i, j), or (i, j) for one output channel)."""
    xp, w = padded_input(given), kernel_tensor(given)
    cells, complete = shown_cells(y.shape)
    shown = []
    for o, i, j in cells:
        win = window(given, xp, w, o, i, j)
        terms = [(win[c, a, b], w[o, c, a, b]) for c in range(win.shape[0])
                 for a in range(win.shape[1]) for b in range(win.shape[2])]
        single = win.shape[0] == 1
        shown.append({"name": name((o + 1, i + 1, j + 1) if y.shape[0] > 1 else (i + 1, j + 1)),
                      "product": Hadamard(Array(win[0] if single else win), Array(w[o, 0] if single else w[o])),
                      "terms": terms, "row_length": w.shape[3],
                      "bias": None if given.bias is None else given.bias[o], "value": y[o, i, j]})
    return shown, complete


def window_start(index: str, stride: int) -> str:
    """Where window `index` (from 1) starts with this stride: i, or S(i - 1) + 1."""
    return index if stride == 1 else f"{stride}({index} - 1) + 1"


def window_steps(given, y) -> list[Step]:
    ax = axes(given)
    shown, complete = window_cells(given, y)
    text = ("Each output cell Y[i, j] is the sum, over the window whose top-left corner is at "
            f"row {window_start('i', ax[0].s)} and column {window_start('j', ax[1].s)} of the padded input, "
            "of each entry times the kernel entry over it" + (", plus the bias." if given.bias is not None else "."))
    if not complete:
        text += (f" The output has {y.size} cells; the first {len(shown)} are shown in full and "
                 "the others follow the same rule.")
    result = squeeze_output(y, given.input.ndim)
    return [Step("Window by window", text, layout="conv2d.windows", data={"cells": shown}),
            Step("Result", "", [[Symbol("Y"), result]])]


class Conv2d(Kind):
    name = "conv2d"
    summary = "2-D convolution as PyTorch computes it (cross-correlation), or its output size"
    answers = {
        "output": "the output matrix (H_out×W_out) or tensor (O×H_out×W_out); needs input and kernel",
        "output_size": "[H_out, W_out]; one value or a formula where the problem gives one size",
    }
    # Where a problem gives no `vary`: each matrix redrawn within its own range (solver/variants.py).
    vary = {"input": {}, "kernel": {}}
    Given, Rules = Given, Rules
    mistakes = ["kernel_flipped", "bias_forgotten", "padding_forgotten", "padding_once", "stride_ignored",
                "ceil_instead_of_floor", "floor_dropped", "dilation_as_k_times_d"]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        answers = {}
        if given.input is not None and rules.windows_defined():
            y = squeeze_output(correlate(given, rules.flip), given.input.ndim)
            answers["output"] = Answer("output", "matrix", activated(y, given.activation), "Y")
        sizes = output_size(given, rules)
        answers["output_size"] = size_under_rules(size_answer(given, sizes), sizes, rules.rounding == "exact")
        return answers

    def derive(self, given, answers) -> list[Step]:
        steps = size_steps(given, output_size(given))
        if given.input is None:
            return steps
        y = correlate(given)
        return (matrix_steps(given, y) + steps + window_steps(given, y)
                + activation_steps(answers["output"].value, given.activation, "Y"))


KIND = Conv2d()
