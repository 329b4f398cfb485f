"""pool2d: PyTorch's MaxPool2d, AvgPool2d and LPPool2d by hand, or their output size.

LP pooling is torch.nn.functional.lp_pool2d: (Σ x^p)^(1/p) over each window, no
padding. In ceil_mode a window cut short by the edge is computed as lp_pool2d
does it, as average pooling of x^p times K_h·K_w: its sum of powers is scaled
by K_h·K_w / (the cells it covers) before the root.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import (ONE, ZERO, Pair, array, boolean, bound_cells, bound_windows, choice, given_field, integer,
                       number, optional, pair)
from ...math.nodes import (Apply, Arguments, Array, Formula, Fraction_, Indexed, Number, Power, Product, Slash, Sum,
                           Symbol)
from ...math.notation import quantity
from ...core.model import Answer, Step
from ..sizes import (Axis, conv_length, conv_size, dropped_window_note, last_window_dropped, pool_ceil_length,
                     pool_ceil_size)
from ..base import Kind
from ..common import exact, shown_cells
from ..mistakes import Change, shared
from .common import (activated, activation_steps, as_channels, check_not_symbolic_with_matrices,
                     size_answer as common_size_answer, size_under_rules, squeeze_output)


@dataclass(frozen=True, kw_only=True)
class Given:
    input: Any = given_field(optional(array((2, 3), "an H×W matrix or a C×H×W tensor")), None,
                             "the input matrix (H×W) or tensor (C×H×W)")
    input_size: Any = given_field(optional(pair(1, True)), None, "H, or [H, W], for size-only problems")
    mode: str = given_field(choice("max", "avg", "lp"), "max", "max, avg or lp (default max)")
    kernel_size: Pair = given_field(pair(1, True), dataclasses.MISSING, "the window size K or [Kh, Kw]")
    stride: Any = given_field(optional(pair(1, True)), None, "step between windows (default: kernel_size)")
    padding: Pair = given_field(pair(0, True), ZERO, "padding on each side (default 0)")
    dilation: Pair = given_field(pair(1, True), ONE, "spacing of window taps, max only (default 1)")
    ceil_mode: bool = given_field(boolean, False, "round the size up (PyTorch's ceil_mode)")
    count_include_pad: bool = given_field(boolean, True, "avg: count padding zeros in the divisor (default true)")
    divisor_override: Any = given_field(optional(integer(1, "a positive integer")), None,
                                        "avg: divide by this instead")
    norm_type: Any = given_field(optional(number), None, "lp: the power p (e.g. 2); needs input")
    activation: Any = given_field(optional(choice("relu")), None, "relu: apply ReLU to the output")


@dataclass(frozen=True)
class Rules:
    """pool2d's conventions, PyTorch's by default; a mistake of the catalogue changes one.
    Under any other, only the size is computed (the windows are PyTorch's)."""
    rounding: str = "ceil_mode"          # down, or up in ceil_mode ("exact": not rounded)
    padding_sides: int = 2               # P on both sides of each axis: H + 2P
    ceil_drops_last_window: bool = True  # in ceil_mode, a window that would start in the end padding


RULES = Rules()


def stride_of(given) -> Pair:
    return given.stride if given.stride is not None else given.kernel_size


def input_hw(given):
    return Pair(*given.input.shape[-2:]) if given.input is not None else given.input_size


def axes(given) -> list[Axis]:
    n, k, s = input_hw(given), given.kernel_size, stride_of(given)
    return [Axis(n=n[a], k=k[a], s=s[a], d=given.dilation[a], before=given.padding[a],
                 after=given.padding[a], letter="HW"[a]) for a in range(2)]


def validate(given: Given):
    if (given.input is None) == (given.input_size is None):
        raise FieldError("input", "give either `input` (a matrix) or `input_size`, not both or neither")
    if given.input is not None:
        check_not_symbolic_with_matrices(given, ("kernel_size", "stride", "padding", "dilation"))
    if given.mode != "max" and tuple(given.dilation) != (1, 1):
        raise FieldError("dilation", f"is only for max pooling (PyTorch's {given.mode} pooling has none)")
    if given.mode == "lp":
        validate_lp(given)
    elif given.norm_type is not None:
        raise FieldError("norm_type", "is only for mode lp")
    if given.mode != "avg":
        for name in ("divisor_override",):
            if getattr(given, name) is not None:
                raise FieldError(name, "is only for mode avg")
    for a, axis in enumerate(axes(given)):
        if any(not isinstance(v, int) for v in (axis.n, axis.k, axis.s, axis.d, axis.before)):
            continue
        if 2 * axis.before > axis.k:
            raise FieldError("padding", f"is {axis.before} but may be at most half the kernel size "
                                        f"({axis.k}), as PyTorch requires")
        size = pool_ceil_size(axis) if given.ceil_mode else conv_size(axis)
        if size < 1:
            raise FieldError("kernel_size", f"spans {axis.d * (axis.k - 1) + 1} but the padded input has "
                                            f"only {axis.n + 2 * axis.before} {'rows' if a == 0 else 'columns'}: "
                                            "no window fits")
    if given.input is not None:
        bound_arrays(given)


def bound_arrays(given):
    """The padded input and the output's windows stay small enough to compute."""
    ax, channels = axes(given), as_channels(given.input).shape[0]
    bound_cells("padding", "the padded input", (channels, *(a.n + 2 * a.before for a in ax)))
    output = (channels, *output_sizes(given))
    bound_windows("kernel_size", output, tuple(given.kernel_size))


def validate_lp(given):
    """lp_pool2d's rules: a positive finite p (needed only to pool an input), no padding."""
    if given.input is not None and given.norm_type is None:
        raise FieldError("norm_type", "is required for mode lp with an input: the power p (e.g. 2)")
    if given.norm_type is not None and not 0 < given.norm_type < float("inf"):
        raise FieldError("norm_type", f"must be a positive number (e.g. 2); got {given.norm_type!r}")
    if tuple(given.padding) != (0, 0):
        raise FieldError("padding", "must be 0 for mode lp: PyTorch's LP pooling takes no padding")
    if (given.input is not None and not float(given.norm_type).is_integer()
            and any(v < 0 for v in np.asarray(given.input).flat)):
        raise FieldError("input", f"has a negative entry, whose power {given.norm_type} is not real "
                                  "(PyTorch gives nan); a fractional norm_type needs entries >= 0")


# ---- solving --------------------------------------------------------------

def output_size(given, rules: Rules = RULES):
    """Sizes per axis, their derivation lines, and any ceil_mode note."""
    result = []
    for axis in axes(given):
        axis = dataclasses.replace(axis, after=0) if rules.padding_sides == 1 else axis
        if rules.rounding == "exact":
            result.append(conv_length(axis, "exact") + ("",))
        elif given.ceil_mode and rules.ceil_drops_last_window:
            result.append(pool_ceil_length(axis))
        else:
            result.append(conv_length(axis, "ceil" if given.ceil_mode else "floor") + ("",))
    return result


def output_sizes(given) -> tuple:
    """output_size's sizes alone."""
    return tuple(pool_ceil_size(axis) if given.ceil_mode else conv_size(axis) for axis in axes(given))


def ceil_note(given) -> str:
    """output_size's notes alone: where ceil_mode drops a last window."""
    windows = [(axis, conv_size(axis, "ceil")) for axis in axes(given)] if given.ceil_mode else []
    return " ".join(dropped_window_note(axis, n) for axis, n in windows if last_window_dropped(axis, n))


def window_cells(given, axis_list, c, i, j):
    """Index ranges (rows, cols) of window (i, j) in the padded frame, and its clipped bounds."""
    ranges = []
    for axis, o in zip(axis_list, (i, j)):
        start = o * axis.s - axis.before
        ranges.append([start + t * axis.d for t in range(axis.k)])
    return ranges


def pool_cell(given, x, axis_list, c, i, j):
    """One output cell: its value and what the derivation shows for it."""
    rows, cols = window_cells(given, axis_list, c, i, j)
    (h, w) = x.shape[1:]
    inside = lambda r, q: 0 <= r < h and 0 <= q < w  # noqa: E731
    pad_value = float("-inf") if given.mode == "max" else 0
    window = np.array([[x[c, r, q] if inside(r, q) else pad_value for q in cols if q < w + axis_list[1].after]
                       for r in rows if r < h + axis_list[0].after], dtype=object)
    values = [x[c, r, q] for r in rows for q in cols if inside(r, q)]
    if given.mode == "max":       # a window over padding only gives -inf, as in PyTorch
        return max(values, default=float("-inf")), {"window": window, "op": "max"}
    if given.mode == "avg":
        divisor = avg_divisor(given, axis_list, rows, cols, h, w)
        total = sum(values)
        return exact(Fraction(total) / divisor if not isinstance(total, float) else total / divisor), \
            {"window": window, "op": "avg", "divisor": divisor, "total": total}
    return lp_cell(given, window, values, (i, j))


def lp_cell(given, window, values, where):
    """(Σ x^p)^(1/p), a window cut short in ceil_mode scaled by K_h·K_w/cells first
    (lp_pool2d is average pooling of x^p times K_h·K_w); p = 1 gives the sum itself."""
    p, area = given.norm_type, given.kernel_size.h * given.kernel_size.w
    total = exact(sum(v ** p for v in values))
    scaled = total if len(values) == area else exact(
        total * area / len(values) if isinstance(total, float) else Fraction(total * area, len(values)))
    if scaled < 0 and p != 1:
        raise FieldError("input", f"window {where} has a negative sum of x^{exact(p)}; its {exact(p)}-th root is "
                                  "not real (PyTorch gives nan)")
    detail = {"window": window, "op": "lp", "p": exact(p), "total": total}
    if len(values) != area:
        detail.update(area=area, cells=len(values), scaled=scaled)
    return lp_root(scaled, p), detail


def avg_divisor(given, axis_list, rows, cols, h, w) -> int:
    """PyTorch's AvgPool2d divisor: override, or the window clipped to the
    padded input (count_include_pad) or to the input itself."""
    if given.divisor_override is not None:
        return given.divisor_override
    (ah, aw) = axis_list
    if given.count_include_pad:
        clip = lambda idx, n, a: [t for t in idx if t < n + a.before]  # noqa: E731
    else:
        clip = lambda idx, n, a: [t for t in idx if 0 <= t < n]  # noqa: E731
    return len(clip(rows, h, ah)) * len(clip(cols, w, aw))


def lp_root(total, p):
    """(sum x^p)^(1/p): exact (a radical) for exact data and integer p; p = 1 is the sum itself."""
    if p == 1:
        return exact(total)
    if isinstance(total, (int, Fraction)) and float(p).is_integer():
        import sympy
        root = sympy.root(sympy.Rational(total.numerator, total.denominator), int(p))
        return int(root) if root.is_Integer else root
    return float(total) ** (1.0 / p)


def pooled(given) -> tuple[np.ndarray, list]:
    x = as_channels(given.input)
    sizes = output_size(given)
    ax = axes(given)
    (ho, wo) = sizes[0][0], sizes[1][0]
    y = np.empty((x.shape[0], ho, wo), dtype=object)
    details = {}
    for c, i, j in np.ndindex(*y.shape):
        y[c, i, j], details[(c, i, j)] = pool_cell(given, x, ax, c, i, j)
    return y, details


def size_answer(given, sizes) -> Answer:
    return common_size_answer(given, sizes, axes(given))


def convention(given) -> str:
    s = stride_of(given)
    text = {"max": "Max pooling takes the largest entry of each window; padding counts as -∞, "
                   "so it never wins.",
            "avg": "Average pooling divides the sum of each window by its divisor. ",
            "lp": f"LP pooling with p = {exact(given.norm_type)} takes (Σ x^p)^(1/p) over each window."}[given.mode]
    if given.mode == "avg":
        if given.divisor_override is not None:
            text += f"Here the divisor is fixed at {given.divisor_override} (divisor_override)."
        elif given.count_include_pad:
            text += ("As in PyTorch's default (count_include_pad=True), padding zeros count in the "
                     "divisor, which is the window clipped to the padded input.")
        else:
            text += "With count_include_pad=False only the input cells in the window count in the divisor."
    if given.mode == "lp" and given.ceil_mode:
        text += (" As torch.nn.functional.lp_pool2d computes it (average pooling of x^p, times K_h·K_w), a "
                 "window cut short by the edge has its sum of powers scaled by K_h·K_w over the cells it "
                 "covers before the root.")
    if given.stride is None:
        text += f" The stride defaults to the kernel size, {s.h}×{s.w}: windows do not overlap."
    return text + " Rows and columns are numbered from 1."


def size_step(given, sizes) -> Step:
    ax = axes(given)
    same = ax[0] == ax[1]
    names = ["H_out"] if same else ["H_out", "W_out"]
    lines = [[quantity(name)] + lines for name, (_, lines, _) in zip(names, sizes)]
    notes = " ".join(dict.fromkeys(note for _, _, note in sizes if note))
    text = "The output size per axis, as for a convolution (H input, P padding, D dilation, K window, S stride)"
    text += (": in ceil_mode the division is rounded up." if given.ceil_mode else ":")
    return Step("Output size", (text + " " + notes).strip(), lines)


def window_steps(given, y, details) -> list[Step]:
    cells, complete = shown_cells(y.shape)
    shown = []
    for c, i, j in cells:
        d = details[(c, i, j)]
        shown.append({"name": Indexed("Y", (c + 1, i + 1, j + 1) if y.shape[0] > 1 else (i + 1, j + 1)),
                      "pooled": Apply(d["op"], Array(d["window"])), "members": pooled_members(d, y[c, i, j])})
    text = "Each output cell pools one window of the input."
    if not complete:
        text += (f" The output has {y.size} cells; the first {len(cells)} are shown and the others "
                 "follow the same rule.")
    return [Step("Window by window", text, layout="pool2d.windows", data={"cells": shown}),
            Step("Result", "", [[Symbol("Y"), squeeze_output(y, given.input.ndim)]])]


def pooled_members(detail, value) -> list[Formula]:
    """How one window pools, after `op(window) =`: max(entries), or their sum over the divisor, or
    (Σ x^p)^(1/p) (its sum of powers scaled by K_h·K_w over the cells covered in a window cut
    short), each worked to the value."""
    entries = [Number(v) for v in detail["window"].flat if v != float("-inf")]
    if detail["op"] == "max":
        return [Apply("max", Arguments(entries)), Number(value)]
    if detail["op"] == "avg":
        divisor = Number(detail["divisor"])
        return [Fraction_(Sum(entries), divisor), Fraction_(Number(detail["total"]), divisor), Number(value)]
    p = Number(detail["p"])
    root = Slash(1, p)
    powers = Sum([Power(entry, p) for entry in entries])
    if "scaled" not in detail:
        return [Power(powers, root), Power(Number(detail["total"]), root), Number(value)]
    share = Fraction_(Number(detail["area"]), Number(detail["cells"]))
    return [Power(Product([share, powers], spaced=True), root), Power(share * Number(detail["total"]), root),
            Power(Number(detail["scaled"]), root), Number(value)]


def averaging(given) -> bool:
    """Average pooling whose divisor PyTorch chooses (no divisor_override)."""
    return given.mode == "avg" and given.divisor_override is None


class Pool2d(Kind):
    name = "pool2d"
    summary = "max, average or LP pooling as PyTorch computes it, or its output size"
    answers = {
        "output": "the pooled matrix or C×H_out×W_out tensor; needs input",
        "output_size": "[H_out, W_out]; one value or a formula where the problem gives one size",
    }
    # Where a problem gives no `vary`: each matrix redrawn within its own range (solver/variants.py).
    vary = {"input": {}}
    Given, Rules = Given, Rules
    mistakes = [
        "padding_forgotten", "padding_once", "stride_ignored",
        # ceil_mode is a given here: rounding up is the problem with ceil_mode on
        shared("ceil_instead_of_floor", rules={}, given=lambda g: {"ceil_mode": True},
               applies=lambda g: not g.ceil_mode),
        "floor_instead_of_ceil", "ceil_window_kept", "floor_dropped",
        Change("avg_wrong_divisor_padding", "The divisor is wrong: count_include_pad decides whether "
               "padding cells count in an average window's divisor.",
               given=lambda g: {"count_include_pad": not g.count_include_pad}, applies=averaging),
        Change("avg_divisor_full_window", "Every window was divided by K·K; PyTorch divides a window "
               "that hangs over the edge by the cells it covers.",
               given=lambda g: {"divisor_override": g.kernel_size.h * g.kernel_size.w},
               applies=lambda g: averaging(g) and g.input is not None),
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        answers = {}
        if given.input is not None and rules == RULES:
            y = squeeze_output(pooled(given)[0], given.input.ndim)
            answers["output"] = Answer("output", "matrix", activated(y, given.activation), "Y")
        sizes = output_size(given, rules)
        answers["output_size"] = size_under_rules(size_answer(given, sizes), sizes, rules.rounding == "exact")
        return answers

    def derive(self, given, answers) -> list[Step]:
        steps = [size_step(given, output_size(given))]
        if given.input is None:
            return steps
        y, details = pooled(given)
        return ([Step("Convention", convention(given))] + steps + window_steps(given, y, details)
                + activation_steps(answers["output"].value, given.activation, "Y"))


KIND = Pool2d()
