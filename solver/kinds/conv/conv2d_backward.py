"""conv2d_backward: the gradients of a 2-D convolution, by hand, as backpropagation gets them.

Conventions (each stated in the derivation):
- The forward pass is conv2d's (solver/kinds/conv/conv2d.py), with its fields: PyTorch's
  cross-correlation, or a true convolution with `flip: true`; `input` and `kernel` are required.
- `upstream` U is the gradient of the loss with respect to the output Y, one number per output
  cell (default all ones). The loss is L = Σ U ⊙ Y: the loss whose gradient at Y is U; with U
  all ones it is the sum of the output.
- W is the kernel as applied, O×(C/g)×Kh×Kw (rotated by 180° when `flip`), S the stride, P the
  padding, D the dilation, X_pad the padded input; indices from 1. Then
    ∂L/∂b[o]          = Σ_{p,q} U[o, p, q];
    ∂L/∂W[o, c, a, b] = Σ_{p,q} U[o, p, q] X_pad[c', (p - 1)S + (a - 1)D + 1, (q - 1)S + (b - 1)D + 1]
                        (c' = channel c of o's group): the cross-correlation of X_pad with U,
                        U's taps S apart;
    ∂L/∂X             = the cross-correlation of U, spread S apart and padded by D(K - 1) on every
                        side ("full") less the forward padding P, with rot180(W) dilated by D,
                        input and output channels swapped within each group. With stride 1, no
                        padding and no dilation this is the full convolution of U with the kernel.
- With `flip: true` the given kernel is rot180(W), so its gradient is rot180(∂L/∂W).
- grad_bias is answered without a `bias` field too: the gradient with respect to a bias of 0.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import Pair, array, given_field, optional
from ...math.nodes import Apply, Entry, Indexed, Number, Partial, Product, Slash, Sum, Summation, Symbol, divide, symbols
from ...math.notation import quantity, written
from ...math.printing import latex
from ...core.model import Answer, Step
from ..base import Kind
from ..common import exact, exact_array
from ..mistakes import Change
from . import conv2d
from .common import as_channels, pad, squeeze_output

FORWARD_FIELDS = ("input", "kernel", "bias", "stride", "padding", "dilation", "groups", "flip")
REQUIRED = ("input", "kernel")          # conv2d's size-only problems have no gradients
MAX_TERMS = 12                          # a longer sum is shown by its formula and value only


def _forward_field(f: dataclasses.Field):
    default = dataclasses.MISSING if f.name in REQUIRED else f.default
    return f.name, f.type, dataclasses.field(default=default, metadata=f.metadata)


# conv2d's fields (readers, defaults, docs) and `upstream`.
Given = dataclasses.make_dataclass(
    "Given",
    [_forward_field(f) for f in dataclasses.fields(conv2d.Given) if f.name in FORWARD_FIELDS] + [
        ("upstream", Any, given_field(
            optional(array((2, 3), "an H_out×W_out matrix or an O×H_out×W_out tensor")), None,
            "∂L/∂Y, one number per output cell (default all ones: L is the sum of the output)"))],
    frozen=True, kw_only=True)
Given.__module__ = __name__


@dataclass(frozen=True)
class Rules:
    """Backpropagation's rules for a convolution; a mistake changes one."""
    input_gradient_flip: bool = True     # ∂L/∂X correlates U with rot180(W) (False: W as it is)
    input_gradient_full: bool = True     # ... with U padded to a full correlation (False: 'valid')
    bias_gradient: str = "sum"           # Σ U over the channel ("mean", or "one")
    upstream_rotated: bool = False       # ∂L/∂W correlates X_pad with U as it is (True: rot180(U))


RULES = Rules()


def forward_given(given) -> conv2d.Given:
    return conv2d.Given(**{name: getattr(given, name) for name in FORWARD_FIELDS})


def validate(given):
    for name in REQUIRED:
        if getattr(given, name) is None:
            raise FieldError(name, "is required: the gradients are those of a convolution of a given "
                                   "input with a given kernel")
    conv2d.validate(forward_given(given))
    expected = output_shape(given)
    one_channel = expected[1:] if len(expected) == 3 and expected[0] == 1 else expected
    if given.upstream is not None and given.upstream.shape not in (expected, one_channel):
        raise FieldError("upstream", f"must have the output's shape {shape_text(expected)} (one "
                                     f"gradient per output cell); got {shape_text(given.upstream.shape)}")


def output_shape(given) -> tuple:
    """The shape of the `output` answer: H_out×W_out for one channel in and out, else O×H_out×W_out."""
    forward = forward_given(given)
    (ho, _), (wo, _) = conv2d.output_size(forward)
    channels = conv2d.kernel_tensor(forward).shape[0]
    return (ho, wo) if given.input.ndim == 2 and channels == 1 else (channels, ho, wo)


def shape_text(shape) -> str:
    return "×".join(map(str, shape))


# ---- the gradients ----------------------------------------------------------

def upstream_tensor(given) -> np.ndarray:
    """U as O×H_out×W_out; all ones by default."""
    u = given.upstream if given.upstream is not None else np.ones(output_shape(given), dtype=object)
    return as_channels(u)


def bias_gradient(u, how="sum") -> np.ndarray:
    """Σ U per output channel (the mistakes: its mean, or 1)."""
    sums = u.sum(axis=(1, 2))
    if how == "mean":
        return np.array([divide(s, u[0].size) for s in sums], dtype=object)
    return exact_array(np.ones_like(sums) if how == "one" else sums)


def kernel_parts(given, u, flip_upstream=False) -> list[tuple]:
    """((o, c), problem, ∂L/∂W[o, c]) per kernel slice: ∂L/∂W[o, c] is the conv2d of X_pad's
    channel c' with U[o] as its kernel, U's taps S apart (dilation S), windows D apart
    (stride D), cut to the kernel's size (a window past it would reach input the
    forward pass never used)."""
    forward = forward_given(given)
    xp, w, ax = conv2d.padded_input(forward), conv2d.kernel_tensor(forward), conv2d.axes(forward)
    per_group = w.shape[0] // given.groups
    parts = []
    for o, c in np.ndindex(*w.shape[:2]):
        part = conv2d.Given(input=xp[o // per_group * w.shape[1] + c], kernel=u[o], flip=flip_upstream,
                            stride=Pair(ax[0].d, ax[1].d), dilation=Pair(ax[0].s, ax[1].s))
        parts.append(((o, c), part, conv2d.correlate(part)[:, :w.shape[2], :w.shape[3]]))
    return parts


def kernel_gradient(given, parts) -> np.ndarray:
    """∂L/∂K in the kernel's given shape (rotated back when the forward pass flipped it)."""
    forward = forward_given(given)
    grad = np.empty(conv2d.kernel_tensor(forward).shape, dtype=object)
    for (o, c), _, value in parts:
        grad[o, c] = value[0]
    grad = grad[..., ::-1, ::-1] if given.flip else grad
    return exact_array(grad).reshape(given.kernel.shape)


def input_part(given, u, flip_kernel=True, full=True) -> conv2d.Given:
    """∂L/∂X as a conv2d problem: U spread S apart (and made 'full', see full_upstream)
    cross-correlated with rot180(W) dilated by D, input and output channels swapped
    within each group. The mistakes leave out the flip or the padding."""
    forward = forward_given(given)
    ax, w = conv2d.axes(forward), conv2d.kernel_tensor(forward)
    spread = conv2d.dilate(u, ax[0].s, ax[1].s)
    return conv2d.Given(input=full_upstream(spread, ax) if full else spread,
                        kernel=swap_channels(w, given.groups), dilation=Pair(ax[0].d, ax[1].d),
                        groups=given.groups, flip=flip_kernel)


def full_upstream(spread, ax) -> np.ndarray:
    """Padded by D(K - 1) on every side, so each window that overlaps U is taken (the
    bottom/right also by the padded input's rows no forward window reached); then the
    forward padding P cut from each side, as those rows and columns are not input."""
    padded = [a.n + a.before + a.after for a in ax]
    full = pad(spread, [(a.d * (a.k - 1), n - length)
                        for a, n, length in zip(ax, padded, spread.shape[1:])])
    rows, cols = (slice(a.before, a.before + a.n + a.d * (a.k - 1)) for a in ax)
    return full[:, rows, cols]


def swap_channels(w, groups) -> np.ndarray:
    """O×(C/g)×Kh×Kw becomes C×(O/g)×Kh×Kw: in the backward pass the output channels are the inputs."""
    o, cg, kh, kw = w.shape
    by_group = w.reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)
    return by_group.reshape(groups * cg, o // groups, kh, kw)


def plain(given) -> bool:
    """Stride 1, no padding, no dilation: the case the derivation states first."""
    return all(a.s == a.d == 1 and a.before == a.after == 0 for a in conv2d.axes(forward_given(given)))


def scalar_answer(name, value, label) -> Answer:
    return Answer(name, "real" if isinstance(value, float) else "rational", value, label)


def bias_value(values: np.ndarray):
    """One number for one output channel, else the vector."""
    return values[0] if values.size == 1 else values


def bias_answer(grad_b) -> Answer:
    if grad_b.size == 1:
        return scalar_answer("grad_bias", bias_value(grad_b), latex(GRAD["b"]))
    return Answer("grad_bias", "matrix", grad_b, latex(GRAD["b"]))


# ---- solving --------------------------------------------------------------

L = Symbol("L")
GRAD = {name: Partial(L, Symbol(name)) for name in "XWKb"}      # ∂L/∂X, ∂L/∂W, ∂L/∂K, ∂L/∂b
P, Q, A, B, I, J, S, D, PADDING = symbols("p q a b i j S D P")


def padded_row(output, tap):
    """(p - 1)S + (a - 1)D + 1: the padded input's row that tap a of output row p reads (from 1)."""
    return (output - 1) * S + (tap - 1) * D + 1


def kernel_tap(row, output):
    """(i + P - 1 - (p - 1)S)/D + 1: the tap of output row p that reads input row i (from 1)."""
    return Slash(row + PADDING - 1 - (output - 1) * S, D) + 1


def gradient_entry(name: str, index) -> Entry:
    """[∂L/∂W]_{o,c,a,b}: one entry of a gradient, as a window-by-window layout names it."""
    return Entry(GRAD[name], ",".join(map(str, index)))


def loss_step(given, u) -> Step:
    default = given.upstream is None
    text = ("Backpropagation gets the gradient U of the loss with respect to every output cell "
            "(the upstream gradient) and passes it back to the input, the kernel and the bias. "
            "The loss with exactly that gradient is L = Σ U ⊙ Y, the sum over the output cells of "
            "U times Y; every gradient below is of this L.")
    if default:
        text += " Here U is all ones, so L is the sum of the output."
    return Step("Loss and upstream gradient", text, [[Symbol("U"), squeeze_output(u, given.input.ndim)]])


def summed(values) -> list:
    """The terms of a sum written out (when short) and its value."""
    values = list(values)
    total = exact(sum(values))
    if len(values) > MAX_TERMS:
        return [total]
    return [Sum([Number(v) for v in values]), total] if len(values) > 1 else [total]


def loss_value_step(u, y, loss) -> Step:
    terms = [Number(yv) if uv == 1 else Number(uv) * Number(yv) for uv, yv in zip(u.flat, y.flat)]
    index = symbols("o i j" if u.shape[0] > 1 else "i j")
    line = [L, Summation(Symbol(",".join(letter.name for letter in index)), None, None,
                         Product([Indexed("U", index), Indexed("Y", index)], spaced=True))]
    if 1 < len(terms) <= MAX_TERMS:
        line.append(Sum(terms))
    return Step("Loss", "", [line + [loss]])


def bias_step(u, grad_b) -> Step:
    """∂L/∂b[o] = Σ U[o]: the bias is added to every cell of its output channel."""
    several = grad_b.size > 1
    cell = [I, J]
    lines = [[Partial(L, Indexed("b", [o])) if several else GRAD["b"],
              Summation(Symbol("i,j"), None, None, Indexed("U", [o, *cell] if several else cell)),
              *summed(u[o].flat)] for o in range(grad_b.size)]
    return Step("Gradient with respect to the bias",
                "The bias of an output channel is added once to each of its cells, and each cell's "
                "U says how much the loss grows per unit of that cell, so the bias gradient is the "
                "sum of U over the channel (not its mean, and not 1).", lines)


def kernel_step(given, parts, grad_k) -> Step:
    several = len(parts) > 1
    text = ("Kernel entry W[a, b] multiplies X_pad[(p - 1)S + (a - 1)D + 1, (q - 1)S + (b - 1)D + 1] in output "
            "cell Y[p, q], so its "
            "gradient sums U[p, q] times that input entry over all output cells: the cross-correlation "
            "of the padded input with U" + (
                "." if plain(given) else ", U's entries taken S apart (the stride) and the windows D "
                                         "apart (the dilation)."))
    if several:
        text += (" With channels, slice W[o, c] sees U[o] and channel c of its group in the input; "
                 "the windows of ∂L/∂W[1, 1] are shown, the other slices follow the same rule.")
    (o, c), part, value = parts[0]
    cells, complete = conv2d.window_cells(part, value, lambda index: gradient_entry(
        "W", (o + 1, c + 1, *index) if several else index))
    windows = Step("Window by window", "" if complete else
                   f"The first {len(cells)} of the {value.size} entries are shown in full.",
                   layout="conv2d.windows", data={"cells": cells})
    result = [[GRAD["W"], grad_k[..., ::-1, ::-1] if given.flip else grad_k]]
    if given.flip:
        result.append([GRAD["K"], Apply("rot180", GRAD["W"]), grad_k])
    kernel_text = ("The kernel given is K = rot180(W), so its gradient is ∂L/∂W rotated back."
                   if given.flip else "")
    return Step("Gradient with respect to the kernel", text,
                [[Partial(L, Indexed("W", [A, B])),
                  Summation(Symbol("p,q"), None, None, Product(
                      [Indexed("U", [P, Q]), Indexed(written("X^pad"), [padded_row(P, A), padded_row(Q, B)])],
                      spaced=True))]],
                substeps=[windows, Step("Result", kernel_text, result)])


def input_step(given, part, grad_x) -> Step:
    text = ("Input entry X[i, j] is multiplied by W[a, b] in every output cell Y[p, q] whose window "
            "covers it, where i + P = (p - 1)S + (a - 1)D + 1 (and j likewise), so its gradient sums U[p, q] times "
            "that kernel entry over those cells.")
    if as_channels(given.input).shape[0] > 1:
        text += " With channels the sum runs also over the output channels of the input channel's group."
    text += (" Read as a sliding window this is a full convolution: with stride 1, no padding and no "
             "dilation, pad U with K - 1 zeros on every side and cross-correlate it with the kernel "
             "rotated by 180°, that is, convolve U with the kernel.")
    if not plain(given):
        text += (" With stride S, U's entries are first spread S apart; with dilation D the padding is "
                 "D(K - 1) and the kernel's taps are D apart; padding P takes P of those zeros back, "
                 "since the padding is not part of the input.")
    flipped, full = conv2d.kernel_tensor(part), part.input
    one_channel = flipped.shape[:2] == (1, 1)
    cells, complete = conv2d.window_cells(part, grad_x, lambda index: gradient_entry("X", index))
    shown = "" if complete else f" The first {len(cells)} of the {grad_x.size} entries are shown in full."
    steps = [Step("Full upstream gradient",
                  "U padded with K - 1 zeros on every side." if plain(given) else
                  "U with S - 1 zeros between its entries, padded with D(K - 1) zeros on every side, "
                  "less the padding P (the bottom and right also get the rows and columns of the "
                  "padded input that no forward window reached).",
                  [[quantity("U_full"), full[0] if full.shape[0] == 1 else full]]),
             Step("Flipped kernel", "Rotate the kernel by 180°" + ("." if one_channel else
                  "; its input and output channels swap places, as the gradient flows from the output "
                  "channels back to the input channels."),
                  [[Apply("rot180", Symbol("W")), flipped[0, 0] if one_channel else flipped]]),
             Step("Window by window", "Each entry is the window of U_full at its position times "
                  "rot180(W), summed." + shown,
                  layout="conv2d.windows", data={"cells": cells}),
             Step("Result", "", [[GRAD["X"], squeeze_output(grad_x, given.input.ndim)]])]
    return Step("Gradient with respect to the input", text,
                [[Partial(L, Indexed("X", [I, J])),
                  Summation(Symbol("p,q"), None, None, Product(
                      [Indexed("U", [P, Q]), Indexed("W", [kernel_tap(I, P), kernel_tap(J, Q)])],
                      spaced=True))]],
                substeps=steps)


class Conv2dBackward(Kind):
    name = "conv2d_backward"
    summary = "gradients of a 2-D convolution with respect to its input, kernel and bias, by hand"
    answers = {
        "output": "the forward output Y (H_out×W_out or O×H_out×W_out), as conv2d computes it",
        "loss": "L = Σ upstream ⊙ Y, the loss whose gradient at the output is `upstream`",
        "grad_input": "∂L/∂X, the input's shape",
        "grad_kernel": "∂L/∂K, the kernel's shape (as given, so rotated back when flip is true)",
        "grad_bias": "∂L/∂b: one number, or one per output channel when there are several",
    }
    # Where a problem gives no `vary`: each matrix redrawn within its own range (solver/variants.py).
    vary = {"input": {}, "kernel": {}, "upstream": {}}
    Given, Rules = Given, Rules
    mistakes = [
        "bias_forgotten",            # the forward pass without it: the output and the loss change
        Change("input_gradient_kernel_not_flipped", "This is U cross-correlated with the kernel as it is: "
               "the input gradient is the full convolution of U with the kernel, i.e. the cross-correlation "
               "with the kernel rotated by 180°.", rules={"input_gradient_flip": False}),
        Change("input_gradient_not_full", "U was not padded: the input gradient is a full convolution, so "
               "U is first padded by K - 1 zeros on every side (D(K - 1) when dilated); a 'valid' "
               "correlation gives a result smaller than the input.", rules={"input_gradient_full": False}),
        Change("bias_gradient_one", "The bias gradient is not 1: the bias is added to every output cell "
               "of its channel, so its gradient is the sum of U over that channel.", rules={"bias_gradient": "one"}),
        Change("bias_gradient_mean", "This is the mean of U: the bias is added to every output cell of "
               "its channel, so its gradient is the sum of U over that channel.", rules={"bias_gradient": "mean"}),
        Change("kernel_gradient_upstream_flipped", "U was rotated by 180°: the kernel gradient is the "
               "cross-correlation of the padded input with U as it is.", rules={"upstream_rotated": True}),
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        output = conv2d.KIND.compute(forward_given(given))["output"]
        y, u = as_channels(output.value), upstream_tensor(given)
        grad_k = kernel_gradient(given, kernel_parts(given, u, rules.upstream_rotated))
        part = input_part(given, u, rules.input_gradient_flip, rules.input_gradient_full)
        if not (rules.input_gradient_flip and rules.input_gradient_full):
            conv2d.validate(part)    # U too small for the kernel: no valid correlation
        grad_x = squeeze_output(conv2d.correlate(part), given.input.ndim)
        return {"output": output, "loss": scalar_answer("loss", exact((u * y).sum()), "L"),
                "grad_input": Answer("grad_input", "matrix", grad_x, latex(GRAD["X"])),
                "grad_kernel": Answer("grad_kernel", "matrix", grad_k, latex(GRAD["K" if given.flip else "W"])),
                "grad_bias": bias_answer(bias_gradient(u, rules.bias_gradient))}

    def derive(self, given, answers) -> list[Step]:
        forward = conv2d.KIND.derive(forward_given(given), {"output": answers["output"]})
        y, u = as_channels(answers["output"].value), upstream_tensor(given)
        parts, part = kernel_parts(given, u), input_part(given, u)
        return [loss_step(given, u), Step("Forward pass", "The output Y, computed as in conv2d.", substeps=forward),
                loss_value_step(u, y, answers["loss"].value), bias_step(u, bias_gradient(u)),
                kernel_step(given, parts, answers["grad_kernel"].value),
                input_step(given, part, conv2d.correlate(part))]


KIND = Conv2dBackward()
