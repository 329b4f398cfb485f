"""conv_transpose2d: PyTorch's ConvTranspose2d by scatter-add, its size, and the
output_padding that reaches a target size."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import (ONE, ZERO, Pair, array, bound_cells, bound_windows, choice, given_field, integer, optional,
                       pair)
from ...math.nodes import Indexed, Number, Product, Symbol
from ...math.notation import quantity, written
from ...core.model import Answer, Step
from ..sizes import Axis, output_padding_needed, transposed_length, transposed_size
from ..base import Kind
from ..common import exact_array, shown_cells
from ..mistakes import Change, pads_both_sides, shared
from .common import (activated, activation_steps, as_channels, check_not_symbolic_with_matrices, read_bias,
                     size_answer as common_size_answer, size_under_rules, squeeze_output)


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(optional(array((2, 3), "an H×W matrix or a C_in×H×W tensor")), None,
                             "the input matrix (H×W) or tensor (C_in×H×W)")
    kernel: Any = given_field(optional(array((2, 3, 4), "a Kh×Kw matrix or a C_in×(C_out/groups)×Kh×Kw tensor")),
                              None, "the kernel: Kh×Kw, C_in×Kh×Kw, or C_in×(C_out/groups)×Kh×Kw")
    bias: Any = given_field(optional(read_bias), None, "one number per output channel")
    input_size: Any = given_field(optional(pair(1, True)), None, "H, or [H, W], for size-only problems")
    kernel_size: Any = given_field(optional(pair(1, True)), None, "K, or [Kh, Kw], for size-only problems")
    stride: Pair = given_field(pair(1, True), ONE, "spacing of the scattered kernels (default 1)")
    padding: Pair = given_field(pair(0, True), ZERO, "rows/columns cropped from every side (default 0)")
    output_padding: Any = given_field(optional(pair(0, True)), None,
                                      "rows/columns added at the bottom/right (default 0)")
    dilation: Pair = given_field(pair(1, True), ONE, "spacing between kernel taps (default 1)")
    groups: int = given_field(integer(1, "a positive integer"), 1, "channel groups (default 1)")
    target_size: Any = given_field(optional(pair(1, True)), None,
                                   "a wanted output size: answers the output_padding reaching it")
    activation: Any = given_field(optional(choice("relu")), None, "relu: apply ReLU to the output")


@dataclass(frozen=True)
class Rules:
    """conv_transpose2d's conventions, PyTorch's by default; a mistake changes one."""
    padding: str = "crop"             # P cropped from every side of the scattered result ("add": added around it)
    output_padding_side: str = "end"  # output_padding's rows and columns at the bottom/right ("start": top/left)
    padding_sides: int = 2            # the size formula's 2P (1: P, cropped from one side only)
    dilation_span: str = "D(K-1)+1"   # a dilated kernel's span ("KD": K·D)
    flip: bool = False                # the kernel as it is (True: rotated by 180°)

    def windows_defined(self) -> bool:
        """A size rule other than PyTorch's gives a size only: the scatter is PyTorch's."""
        return (self.padding_sides, self.dilation_span) == (2, "D(K-1)+1")


RULES = Rules()


def output_padding_of(given) -> Pair:
    if given.target_size is not None:
        return Pair(*(op for op, _ in needed_padding(given)))
    return given.output_padding if given.output_padding is not None else ZERO


def kernel_tensor(given, rotated: bool = False) -> np.ndarray:
    """The kernel as C_in×(C_out/groups)×Kh×Kw (`rotated` by 180°: the mistake kernel_flipped)."""
    w = given.kernel
    w = w[None, None] if w.ndim == 2 else (w[:, None] if w.ndim == 3 else w)
    return w[..., ::-1, ::-1] if rotated else w


def input_hw(given):
    return Pair(*given.input.shape[-2:]) if given.input is not None else given.input_size


def kernel_hw(given):
    return Pair(*given.kernel.shape[-2:]) if given.kernel is not None else given.kernel_size


def axes(given, output_padding=None) -> list[Axis]:
    n, k = input_hw(given), kernel_hw(given)
    op = output_padding if output_padding is not None else (
        given.output_padding if given.output_padding is not None else ZERO)
    return [Axis(n=n[a], k=k[a], s=given.stride[a], d=given.dilation[a], before=given.padding[a],
                 after=given.padding[a], output_padding=op[a], letter="HW"[a])
            for a in range(2)]


def needed_padding(given):
    target = given.target_size
    return [output_padding_needed(axis, target[a]) for a, axis in enumerate(axes(given, ZERO))]


def validate(given: Given):
    has_matrices = given.input is not None or given.kernel is not None
    if has_matrices and (given.input is None or given.kernel is None):
        raise FieldError("kernel" if given.input is not None else "input",
                         "is needed too: give both `input` and `kernel`, or `input_size` and `kernel_size`")
    if not has_matrices and (given.input_size is None or given.kernel_size is None):
        raise FieldError("input_size", "and `kernel_size` are required when no `input`/`kernel` matrices are given")
    if has_matrices:
        if given.input_size is not None or given.kernel_size is not None:
            raise FieldError("input_size", "must not be given with `input`/`kernel`: their shapes are the sizes")
        check_not_symbolic_with_matrices(given, ("stride", "padding", "dilation", "output_padding", "target_size"))
        validate_channels(given)
    if given.target_size is not None and given.output_padding is not None:
        raise FieldError("output_padding", "must not be given with `target_size`: it is what the problem asks for")
    validate_output_padding(given)
    for a, axis in enumerate(axes(given, output_padding_of(given))):
        size = transposed_size(axis)
        if isinstance(size, int) and size < 1:
            raise FieldError("padding", f"crops more than the result has: the output "
                                        f"{'height' if a == 0 else 'width'} would be {size}")
    if given.input is not None:
        bound_arrays(given)


def bound_arrays(given):
    """The uncropped result, the output and the products scattered stay small enough to compute."""
    (ah, aw), w = axes(given), kernel_tensor(given)
    channels = w.shape[1] * given.groups
    full = [(a.n - 1) * a.s + a.d * (a.k - 1) + 1 for a in (ah, aw)]
    bound_cells("stride", "the result before cropping", (channels, *full))
    output = (channels, *output_sizes(given))
    bound_cells("output_padding", "the output", output)
    bound_windows("kernel", given.input.shape, w.shape[1:])


def validate_channels(given):
    x, w = as_channels(given.input), kernel_tensor(given)
    c_in, g = x.shape[0], given.groups
    if w.shape[0] != c_in:
        raise FieldError("kernel", f"has {w.shape[0]} input channels (its first axis); the input has {c_in}")
    if c_in % g:
        raise FieldError("groups", f"must divide the input channels ({c_in})")
    if given.bias is not None and len(given.bias) != w.shape[1] * g:
        raise FieldError("bias", f"has {len(given.bias)} values; it needs one per output channel ({w.shape[1] * g})")


def validate_output_padding(given):
    """PyTorch: output_padding must be smaller than the stride or the dilation."""
    if given.target_size is not None:
        for a, (op, _) in enumerate(needed_padding(given)):
            s, d = given.stride[a], given.dilation[a]
            if isinstance(op, int) and isinstance(s, int) and isinstance(d, int) and not 0 <= op < max(s, d):
                raise FieldError("target_size", f"cannot be reached: it needs output_padding {op}, but "
                                                f"output_padding must be between 0 and max(stride, dilation) - 1 = {max(s, d) - 1}")
        return
    for a, op in enumerate(output_padding_of(given)):
        s, d = given.stride[a], given.dilation[a]
        if all(isinstance(v, int) for v in (op, s, d)) and op >= max(s, d):
            raise FieldError("output_padding", f"is {op} but must be smaller than the stride ({s}) "
                                               f"or the dilation ({d}), as PyTorch requires")


# ---- solving --------------------------------------------------------------

def scatter(given, rotated: bool = False) -> np.ndarray:
    """The uncropped result: each input cell times the kernel, added at (i·S, j·S)."""
    x, w = as_channels(given.input), kernel_tensor(given, rotated)
    (ah, aw) = axes(given)
    c_in, c_group = w.shape[0], w.shape[1]
    full = ((ah.n - 1) * ah.s + ah.d * (ah.k - 1) + 1, (aw.n - 1) * aw.s + aw.d * (aw.k - 1) + 1)
    canvas = np.zeros((c_group * given.groups,) + full, dtype=object)
    for c, i, j in np.ndindex(*x.shape):
        out = slice_of_group(c, c_in, c_group, given.groups)
        rows = slice(i * ah.s, i * ah.s + ah.d * (ah.k - 1) + 1, ah.d)
        cols = slice(j * aw.s, j * aw.s + aw.d * (aw.k - 1) + 1, aw.d)
        canvas[out, rows, cols] = canvas[out, rows, cols] + x[c, i, j] * w[c]
    return canvas


def slice_of_group(c, c_in, c_group, groups) -> slice:
    group = c // (c_in // groups)
    return slice(group * c_group, (group + 1) * c_group)


def crop(given, canvas, output_padding, padding_side="crop", extra_side="end") -> np.ndarray:
    """Crop P from every side and add output_padding rows/columns at the end
    (the mistakes put padding on instead, or the extra rows at the start)."""
    ax = axes(given, output_padding)
    c = canvas.shape[0]
    if padding_side == "add":
        sizes = [n + 2 * a.before + a.output_padding for n, a in zip(canvas.shape[1:], ax)]
        out = np.zeros((c, *sizes), dtype=object)
        out[:, ax[0].before:ax[0].before + canvas.shape[1], ax[1].before:ax[1].before + canvas.shape[2]] = canvas
        return out
    ops = [a.output_padding for a in ax]
    lead = ops if extra_side == "start" else [0, 0]
    extended = np.zeros((c, canvas.shape[1] + ops[0], canvas.shape[2] + ops[1]), dtype=object)
    extended[:, lead[0]:lead[0] + canvas.shape[1], lead[1]:lead[1] + canvas.shape[2]] = canvas
    sizes = [n - 2 * a.before + a.output_padding for n, a in zip(canvas.shape[1:], ax)]
    return extended[:, ax[0].before:ax[0].before + sizes[0], ax[1].before:ax[1].before + sizes[1]]


def with_bias(given, y) -> np.ndarray:
    if given.bias is not None:
        y = y + np.array(given.bias, dtype=object)[:, None, None]
    return exact_array(y)


def output_size(given, rules: Rules = RULES):
    """Sizes per axis and their derivation lines (under a mistake's rules: with the padding
    added, or subtracted once, or a kernel K·D wide)."""
    ax = axes(given, output_padding_of(given))
    if rules.dilation_span == "KD":
        ax = [dataclasses.replace(a, k=a.k * a.d, d=1) for a in ax]
    if rules.padding == "add":
        ax = [dataclasses.replace(a, before=-a.before, after=-a.after) for a in ax]
    sizes = [transposed_length(a) for a in ax]
    if rules.padding_sides == 1:
        sizes = [(size + a.before, lines) for (size, lines), a in zip(sizes, ax)]
    return sizes


def output_sizes(given) -> tuple:
    """output_size's sizes alone."""
    return tuple(transposed_size(axis) for axis in axes(given, output_padding_of(given)))


def size_answer(given, sizes) -> Answer:
    return common_size_answer(given, sizes, axes(given, output_padding_of(given)))


def padding_answer(given, op) -> Answer:
    if given.target_size.scalar and op.h == op.w:
        return Answer("output_padding", "integer" if isinstance(op.h, int) else "expression", op.h,
                      written("P_out"))
    # a pair, not a shape: its entries may be 0 (and a mistake's negative)
    return Answer("output_padding", "matrix", np.array([op.h, op.w], dtype=object), written("P_out"))


CONVENTION = ("As in PyTorch, the transposed convolution scatters: every input cell X[i, j] "
              "multiplies the whole kernel, and the product is added into the result with its top-left "
              "corner at row (i - 1)S + 1, column (j - 1)S + 1 (kernel taps D apart when dilated). The padding "
              "P is then cropped from every side of that full result, and output_padding adds rows and "
              "columns at the bottom and right only. Rows and columns are numbered from 1.")


def padding_steps(given) -> list[Step]:
    if given.target_size is None:
        return []
    lines = [[quantity("P_out")] + lines for _, lines in needed_padding(given)]
    if axes(given)[0] == axes(given)[1] and given.target_size.h == given.target_size.w:
        lines = lines[:1]
    return [Step("Output padding for the target size",
                 "The size without output_padding is (H - 1)S - 2P + D(K - 1) + 1; output_padding "
                 "makes up the difference to the target size. It is needed because several input "
                 "sizes give the same convolution output size (the floor in the convolution's size "
                 "formula), so the transposed convolution cannot tell which one to return.", lines)]


def size_step(given, sizes) -> Step:
    ax = axes(given, output_padding_of(given))
    same = ax[0] == ax[1]
    names = ["H_out"] if same else ["H_out", "W_out"]
    lines = [[quantity(name)] + lines for name, (_, lines) in zip(names, sizes)]
    return Step("Output size", "PyTorch's output size of a transposed convolution, per axis "
                               "(H input, S stride, P padding, D dilation, K kernel, P_out output_padding):",
                lines)


KERNEL = Symbol("W")


def scatter_steps(given, canvas, y, op) -> list[Step]:
    x, w = as_channels(given.input), kernel_tensor(given)
    (ah, aw) = axes(given)
    cells, complete = shown_cells(x.shape)
    running = np.zeros_like(canvas)
    shown = []
    for c, i, j in np.ndindex(*x.shape):
        out = slice_of_group(c, x.shape[0], w.shape[1], given.groups)
        rows = slice(i * ah.s, i * ah.s + ah.d * (ah.k - 1) + 1, ah.d)
        cols = slice(j * aw.s, j * aw.s + aw.d * (aw.k - 1) + 1, aw.d)
        running[out, rows, cols] = running[out, rows, cols] + x[c, i, j] * w[c]
        if (c, i, j) in cells:
            changed = np.zeros(running.shape, dtype=bool)
            changed[out, rows, cols] = True
            scaled = exact_array(x[c, i, j] * w[c])
            shown.append({"name": Product([Indexed("X", (c + 1, i + 1, j + 1) if x.shape[0] > 1 else (i + 1, j + 1)),
                                            KERNEL], dot=True),
                          "product": Product([Number(x[c, i, j]), KERNEL], dot=True),
                          "scaled": scaled[0] if scaled.shape[0] == 1 else scaled,
                          "at": (i * ah.s + 1, j * aw.s + 1),
                          "running": squeeze_output(exact_array(running.copy()), given.input.ndim),
                          "changed": squeeze_output(changed, given.input.ndim)})
    text = "Scatter each input cell's multiple of the kernel into the full result and keep a running sum."
    if not complete:
        text += (f" The input has {x.size} cells; the first {len(cells)} are shown, the others "
                 "are added the same way.")
    full = squeeze_output(exact_array(canvas), given.input.ndim)
    crop_text = (f"The full result is {canvas.shape[1]}×{canvas.shape[2]}. Crop {ah.before} row(s) "
                 f"from the top and bottom and {aw.before} column(s) from the left and right")
    crop_text += (f", then add {op.h} row(s) at the bottom and {op.w} column(s) at the right "
                  "(output_padding; a cell there keeps any kernel contribution that reaches it)."
                  if (op.h or op.w) else ".")
    if given.bias is not None:
        crop_text += " Finally add the bias to every cell of its output channel."
    return [Step("Scatter and add", text, layout="conv_transpose2d.scatter",
                 data={"cells": shown, "sum": quantity("Sigma")}),
            Step("Crop and output padding", crop_text,
                 [[quantity("Y_full"), full], [Symbol("Y"), squeeze_output(y, given.input.ndim)]])]


class ConvTranspose2d(Kind):
    name = "conv_transpose2d"
    summary = ("transposed convolution as PyTorch computes it (scatter-add, then crop), its size, or the "
               "output_padding for a target size")
    answers = {
        "output": "the output matrix or C_out×H_out×W_out tensor; needs input and kernel",
        "output_size": "[H_out, W_out]; one value or a formula where the problem gives one size",
        "output_padding": "the output_padding that reaches target_size; needs target_size",
    }
    # Where a problem gives no `vary`: each matrix redrawn within its own range (solver/variants.py).
    vary = {"input": {}, "kernel": {}}
    Given, Rules = Given, Rules
    mistakes = [
        Change("padding_added_instead_of_cropped", "The padding was added around the result; in a "
               "transposed convolution P is cropped from every side (the inverse of the convolution's padding).",
               rules={"padding": "add"}, applies=pads_both_sides),
        shared("padding_once", applies=lambda g: g.target_size is None and pads_both_sides(g)),
        Change("output_padding_forgotten", "output_padding was left out: it adds rows and columns at "
               "the bottom and right of the result.",
               given=lambda g: {"output_padding": ZERO}, applies=lambda g: g.target_size is None),
        Change("output_padding_wrong_side", "output_padding was put at the top/left; PyTorch adds the "
               "extra rows and columns at the bottom and right only.",
               rules={"output_padding_side": "start"}, applies=lambda g: any(output_padding_of(g))),
        "stride_ignored", "kernel_flipped", "bias_forgotten", "dilation_as_k_times_d",
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        op, sizes = output_padding_of(given), output_size(given, rules)
        answers = {}
        if given.input is not None and rules.windows_defined():
            canvas = scatter(given, rules.flip)
            y = squeeze_output(with_bias(given, crop(given, canvas, op, rules.padding, rules.output_padding_side)),
                               given.input.ndim)
            answers["output"] = Answer("output", "matrix", activated(y, given.activation), "Y")
        answers["output_size"] = size_under_rules(size_answer(given, sizes), sizes, unrounded=False)
        if given.target_size is not None:
            if rules.padding == "add":     # what reaches the target from the size with the padding added
                op = Pair(*(t - (size - o) for t, (size, _), o in zip(given.target_size, sizes, op)))
            answers["output_padding"] = padding_answer(given, op)
        return answers

    def derive(self, given, answers) -> list[Step]:
        steps = padding_steps(given) + [size_step(given, output_size(given))]
        if given.input is None:
            return steps
        op = output_padding_of(given)
        canvas = scatter(given)
        y = with_bias(given, crop(given, canvas, op))
        return ([Step("Convention", CONVENTION)] + steps + scatter_steps(given, canvas, y, op)
                + activation_steps(answers["output"].value, given.activation, "Y"))


KIND = ConvTranspose2d()
