"""The layers a `network` problem lists: their fields, output shapes and counts.

Shapes are per example: (C, H, W) for feature maps, (F,) for vectors. Spatial
sizes, their derivation lines and their validity rules come from the conv2d,
pool2d and conv_transpose2d kinds, so a layer inside a network and the same
layer as a problem of its own always agree.

Counting convention (stated in the derivation): a convolution output element
takes (C_in/g)·K_h·K_w multiplications and one addition fewer, plus one for the
bias; a linear output takes F_in multiplications and F_in - 1 additions plus
the bias; padding zeros are multiplied like any entry. Average pooling adds
its window and scales once; max pooling, activations, dropout and flatten do
no arithmetic. Batch norm, at inference, is one scale and one shift per value.
MACs are the multiply-adds of convolutions and linear layers, FLOPs = 2 MACs
(PyTorch's FLOP counter).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any, Callable

from ..core.errors import FieldError
from ..core.fields import MAX_SIZE, ONE, ZERO, Pair, boolean, choice, given_field, integer, number, optional, pair, \
    read_given, shape_text
from ..math.nodes import Formula, Number, Product, Sum, Symbol, floor, same
from ..math.notation import quantity
from .sizes import distinct
from .conv import conv2d, conv_transpose2d, pool2d
from .common import read_padding
from .recurrent import gru, lstm
from .counting import conv_counts, embedding_counts, linear_counts, norm_counts, times

UNKNOWN = "?"
B, CI, CO, G = Symbol("B"), quantity("C_in", "Ci"), quantity("C_out", "Co"), Symbol("g")
C, H, W = Symbol("C"), Symbol("H"), Symbol("W")
HO, WO = quantity("H_out", "Ho"), quantity("W_out", "Wo")
KH, KW = quantity("K_h", "Kh"), quantity("K_w", "Kw")
FI, FO = quantity("F_in", "Fi"), quantity("F_out", "Fo")
BIAS = Symbol("b")
L, F, E, D, N = Symbol("L"), Symbol("F"), Symbol("E"), Symbol("D"), Symbol("N")


@dataclass
class Computed:
    """One layer worked out on one input shape. Counts of operations are per
    example; `network` multiplies them by the batch."""
    output_shape: tuple
    weights: int = 0
    biases: int = 0
    mults: int = 0
    adds: int = 0
    macs: int = 0
    inferred: dict = field(default_factory=dict)     # field given as ? -> its value
    size_lines: Callable[[], list] = list            # makes the display lines for H_out (and W_out): only a
                                                     # derivation shows them, a check or a mistake never does
    count_lines: list = field(default_factory=list)  # (name, formula, values) per count
    note: str = ""

    @property
    def neurons(self) -> int:
        return product(self.output_shape)


def product(values) -> int:
    result = 1
    for v in values:
        result *= v
    return result


def channels_field(what):
    """An int; '?' when the problem asks for it; absent when it goes without saying.
    Either of the last two is inferred from the layer's input."""
    def read(name, value):
        if value == UNKNOWN:
            return UNKNOWN
        return integer(1, f"a positive integer or '?' ({what})")(name, value)
    return given_field(optional(read), None, f"{what}: a number, ? to ask for it, or absent")


def chosen_count(what):
    """out_channels, out_features: the layer's own choice, so never inferred."""
    def read(name, value):
        if value == UNKNOWN:
            raise FieldError(name, f"cannot be ?: {what} is the layer's own choice, not implied by its "
                                   "input; give a positive integer")
        return integer(1, "a positive integer")(name, value)
    return given_field(read, dataclasses.MISSING, what)


def numeric_pair(minimum):
    return pair(minimum, False)


def inferred_channels(name, given, actual):
    """The value a `?` channel field stands for, or an error when a given one
    disagrees with the input."""
    if given == UNKNOWN:
        return {name: actual}
    if given is not None and given != actual:
        raise FieldError(name, f"is {given}, but the input to this layer has {actual}")
    return {}


class Layer:
    """Base of the layer types: a frozen dataclass read from the layer's mapping."""
    TYPE = ""
    SUMMARY = ""

    def compute(self, shape: tuple) -> Computed:
        raise NotImplementedError

    def describe(self) -> str:
        return self.TYPE


def check_groups(layer, channels) -> int:
    """A (transposed) convolution's groups must divide its input and output channels."""
    g = layer.groups
    if channels % g or layer.out_channels % g:
        raise FieldError("groups", f"is {g}, which must divide the input channels ({channels}) and "
                                   f"out_channels ({layer.out_channels})")
    return g


def shape_words(shape) -> str:
    """What a per-example shape is, in words: a map, a sequence or a vector."""
    if len(shape) == 3:
        return f"a {'×'.join(map(str, shape))} map (C×H×W)"
    if len(shape) == 2:
        return f"a sequence of {shape[0]} positions of {shape[1]} features (L×F)"
    return f"a vector of {shape[0]} features (after a flatten or linear layer)"


def needs_map(layer, shape):
    if len(shape) != 3:
        raise FieldError("type", f"{layer.TYPE} needs a C×H×W input, but its input is {shape_words(shape)}")


def needs_sequence(layer, shape):
    if len(shape) != 2:
        raise FieldError("type", f"{layer.TYPE} needs an L×F sequence (L positions of F features: an embedding's "
                                 f"output, or input_shape [L, F]), but its input is {shape_words(shape)}")


def counted(formulas: dict, values: dict) -> tuple[dict, list]:
    """Each count's value, and its (name, formula, values) derivation line."""
    return ({name: formula.substitute(values).value() for name, formula in formulas.items()},
            [(name, formula, values) for name, formula in formulas.items()])


def axis_lines(output_size, given) -> list:
    """The display lines of H_out and W_out from a size kind's `output_size(given)`, its
    (size, lines, ...) per axis."""
    (_, h_lines, *_), (_, w_lines, *_) = output_size(given)
    lines = [[HO] + h_lines]
    if same(h_lines[1:], w_lines[1:]):          # one line says both: the same numbers, the same steps
        lines[0].insert(1, WO)
    else:
        lines.append([WO] + w_lines)
    return lines


@dataclass(frozen=True, kw_only=True)
class Conv2d(Layer):
    TYPE = "conv2d"
    SUMMARY = "convolution: out_channels, kernel_size, stride, padding, dilation, groups, bias, in_channels"
    out_channels: int = chosen_count("the number of filters")
    in_channels: Any = channels_field("the input's channels")
    kernel_size: Pair = given_field(numeric_pair(1), dataclasses.MISSING, "K or [Kh, Kw]")
    stride: Pair = given_field(numeric_pair(1), ONE, "default 1")
    padding: Any = given_field(read_padding, ZERO, "int, [h, w], same or valid (default 0)")
    dilation: Pair = given_field(numeric_pair(1), ONE, "default 1")
    groups: int = given_field(integer(1, "a positive integer"), 1, "default 1")
    bias: bool = given_field(boolean, True, "default true")

    def describe(self):
        kh, kw = self.kernel_size
        return f"conv {kh}×{kw}, {self.out_channels}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        if isinstance(self.padding, Pair) and any(not isinstance(v, int) for v in self.padding):
            raise FieldError("padding", "must be a number in a network")
        inferred = inferred_channels("in_channels", self.in_channels, c)
        g = check_groups(self, c)
        given = conv2d.Given(input_size=Pair(h, w), kernel_size=self.kernel_size, stride=self.stride,
                             padding=self.padding, dilation=self.dilation)
        conv2d.validate(given)
        ho, wo = conv2d.output_sizes(given)
        kh, kw = self.kernel_size
        values = dict(Ci=c, g=g, Kh=kh, Kw=kw, Co=self.out_channels, Ho=ho, Wo=wo, b=int(self.bias))
        formulas = dict(conv_counts(CO, CI / G if g > 1 else CI, KH * KW, CO * HO * WO, BIAS), biases=CO * BIAS)
        counts = {name: formula.substitute(values).value() for name, formula in formulas.items()}
        return Computed(
            (self.out_channels, ho, wo), weights=counts["weights"], biases=counts["biases"], mults=counts["mults"],
            adds=counts["adds"], macs=counts["mults"], inferred=inferred,
            size_lines=partial(axis_lines, conv2d.output_size, given),
            count_lines=[(name, formulas[name], values) for name in ("weights", "biases", "mults", "adds")])


@dataclass(frozen=True, kw_only=True)
class ConvTranspose2d(Layer):
    TYPE = "conv_transpose2d"
    SUMMARY = "transposed convolution: out_channels, kernel_size, stride, padding, output_padding, ..."
    out_channels: int = chosen_count("the number of output channels")
    in_channels: Any = channels_field("the input's channels")
    kernel_size: Pair = given_field(numeric_pair(1), dataclasses.MISSING, "K or [Kh, Kw]")
    stride: Pair = given_field(numeric_pair(1), ONE, "default 1")
    padding: Pair = given_field(numeric_pair(0), ZERO, "cropped from every side (default 0)")
    output_padding: Pair = given_field(numeric_pair(0), ZERO, "rows/columns added at the end (default 0)")
    dilation: Pair = given_field(numeric_pair(1), ONE, "default 1")
    groups: int = given_field(integer(1, "a positive integer"), 1, "default 1")
    bias: bool = given_field(boolean, True, "default true")

    def describe(self):
        kh, kw = self.kernel_size
        return f"transposed conv {kh}×{kw}, {self.out_channels}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        inferred = inferred_channels("in_channels", self.in_channels, c)
        g = check_groups(self, c)
        given = conv_transpose2d.Given(input_size=Pair(h, w), kernel_size=self.kernel_size,
                                       stride=self.stride, padding=self.padding,
                                       output_padding=self.output_padding, dilation=self.dilation)
        conv_transpose2d.validate(given)
        ho, wo = conv_transpose2d.output_sizes(given)
        kh, kw = self.kernel_size
        per_input = (self.out_channels // g) * kh * kw
        kept_h, reached_h = landing_counts(given.input_size.h, kh, self.stride.h, self.dilation.h,
                                           self.padding.h, ho)
        kept_w, reached_w = landing_counts(w, kw, self.stride.w, self.dilation.w, self.padding.w, wo)
        kept, reached = kept_h * kept_w * (c // g), reached_h * reached_w
        values = dict(Ci=c, g=g, Kh=kh, Kw=kw, Co=self.out_channels, H=h, W=w, b=int(self.bias),
                      N=kept, R=reached)
        kept_sym, reached_sym = quantity("N_kept", "N"), quantity("N_reached", "R")
        share = CO / G if g > 1 else CO
        return Computed(
            (self.out_channels, ho, wo), weights=c * per_input, biases=self.out_channels * self.bias,
            mults=c * h * w * per_input,
            adds=self.out_channels * (kept - reached + self.bias * reached),
            macs=c * h * w * per_input, inferred=inferred,
            size_lines=partial(axis_lines, conv_transpose2d.output_size, given),
            count_lines=[("weights", CI * share * KH * KW, values), ("biases", CO * BIAS, values),
                         ("mults", CI * H * W * (share * KH * KW), values),
                         ("adds", CO * (kept_sym - reached_sym + BIAS * reached_sym), values)],
            note=("Every input value is multiplied by every kernel weight it meets. An output "
                  "cell that receives n products needs n - 1 additions (plus one for the bias); "
                  f"per output channel, N_kept = {kept} products land inside the cropped output "
                  f"and reach N_reached = {reached} cells."))


def landing_counts(n, k, s, d, p, size) -> tuple[int, int]:
    """On one axis of a transposed convolution: how many (input, tap) products
    land inside the cropped output, and how many output positions get any."""
    hits = [0] * size
    for i in range(n):
        for t in range(k):
            position = i * s + t * d - p
            if 0 <= position < size:
                hits[position] += 1
    return sum(hits), sum(1 for x in hits if x)


@dataclass(frozen=True, kw_only=True)
class MaxPool2d(Layer):
    TYPE = "maxpool2d"
    SUMMARY = "max pooling: kernel_size, stride (default kernel_size), padding, dilation, ceil_mode"
    MODE = "max"
    kernel_size: Pair = given_field(numeric_pair(1), dataclasses.MISSING, "K or [Kh, Kw]")
    stride: Any = given_field(optional(numeric_pair(1)), None, "default: kernel_size")
    padding: Pair = given_field(numeric_pair(0), ZERO, "default 0")
    dilation: Pair = given_field(numeric_pair(1), ONE, "default 1 (max only)")
    ceil_mode: bool = given_field(boolean, False, "default false")

    def describe(self):
        kh, kw = self.kernel_size
        return f"{self.MODE} pool {kh}×{kw}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        given = pool2d.Given(input_size=Pair(h, w), mode=self.MODE, kernel_size=self.kernel_size,
                             stride=self.stride, padding=self.padding, dilation=self.dilation,
                             ceil_mode=self.ceil_mode)
        pool2d.validate(given)
        ho, wo = pool2d.output_sizes(given)
        return Computed((c, ho, wo), size_lines=partial(axis_lines, pool2d.output_size, given),
                        note=pool2d.ceil_note(given), count_lines=self.count_lines(c, ho, wo))

    def count_lines(self, c, ho, wo):
        return []


@dataclass(frozen=True, kw_only=True)
class AvgPool2d(MaxPool2d):
    TYPE = "avgpool2d"
    SUMMARY = "average pooling: kernel_size, stride (default kernel_size), padding, ceil_mode"
    MODE = "avg"

    def compute(self, shape):
        result = super().compute(shape)
        c, ho, wo = result.output_shape
        kh, kw = self.kernel_size
        result.mults, result.adds = c * ho * wo, c * ho * wo * (kh * kw - 1)
        return result

    def count_lines(self, c, ho, wo):
        kh, kw = self.kernel_size
        values = dict(C=c, Ho=ho, Wo=wo, Kh=kh, Kw=kw)
        return [("mults", C * HO * WO, values), ("adds", C * HO * WO * (KH * KW - 1), values)]


@dataclass(frozen=True, kw_only=True)
class BatchNorm2d(Layer):
    TYPE = "batchnorm2d"
    SUMMARY = "batch normalization per channel: num_features, affine"
    num_features: Any = channels_field("the input's channels")
    affine: bool = given_field(boolean, True, "learnable scale γ and shift β (default true)")

    def describe(self):
        return "batch norm"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        inferred = inferred_channels("num_features", self.num_features, c)
        values = dict(C=c, H=h, W=w)
        affine = norm_counts(C) if self.affine else {}
        counts = {name: formula.substitute(values).value() for name, formula in affine.items()}
        return Computed(shape, weights=counts.get("weights", 0), biases=counts.get("biases", 0), mults=c * h * w,
                        adds=c * h * w, inferred=inferred,
                        count_lines=[(name, affine[name], values) for name in affine]
                        + [("mults", C * H * W, values), ("adds", C * H * W, values)],
                        note="γ (a weight) and β (a bias) per channel; the running mean and variance "
                             "are statistics, not parameters." if self.affine else "")


@dataclass(frozen=True, kw_only=True)
class Linear(Layer):
    TYPE = "linear"
    SUMMARY = "fully connected: out_features, bias, in_features (on an L×F sequence: each position)"
    out_features: int = chosen_count("the number of outputs")
    in_features: Any = channels_field("the input's features")
    bias: bool = given_field(boolean, True, "default true")

    def describe(self):
        return f"linear {self.out_features}"

    def compute(self, shape):
        if len(shape) == 3:
            raise FieldError("type", f"linear needs a vector input, but its input is "
                                     f"{'×'.join(map(str, shape))}: put a flatten layer before it")
        *positions, f = shape           # on an L×F sequence, nn.Linear acts on each position's features
        inferred = inferred_channels("in_features", self.in_features, f)
        o = self.out_features
        values = dict(Fi=f, Fo=o, b=int(self.bias), L=product(positions))
        formulas = linear_counts(FI, FO, BIAS)
        if positions:
            formulas.update({name: times(L, formulas[name]) for name in ("mults", "adds")})
        counts, lines = counted(formulas, values)
        return Computed((*positions, o), weights=counts["weights"], biases=counts["biases"], mults=counts["mults"],
                        adds=counts["adds"], macs=counts["mults"], inferred=inferred, count_lines=lines,
                        note="nn.Linear acts on each of the L positions alone." if positions else "")


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    TYPE = "flatten"
    SUMMARY = "C×H×W to one vector of C·H·W features (an L×F sequence to L·F)"

    def compute(self, shape):
        if len(shape) == 1:
            return Computed(shape)
        formula = C * H * W if len(shape) == 3 else L * F
        values = dict(zip(("C", "H", "W") if len(shape) == 3 else ("L", "F"), shape))
        return Computed((product(shape),), size_lines=lambda: [[F] + distinct_lines(formula, values)])


@dataclass(frozen=True, kw_only=True)
class Dropout(Layer):
    TYPE = "dropout"
    SUMMARY = "dropout: p (no parameters; the identity at inference)"
    p: float = given_field(number, 0.5, "drop probability (default 0.5)")

    def compute(self, shape):
        if not 0 <= self.p <= 1:
            raise FieldError("p", f"must be between 0 and 1, got {self.p}")
        return Computed(shape)


@dataclass(frozen=True, kw_only=True)
class Activation(Layer):
    """Element-wise: same shape, no parameters, not counted as arithmetic."""
    TYPE = "activation"

    def compute(self, shape):
        return Computed(shape)


def activation(name):
    return dataclasses.make_dataclass(name, [], bases=(Activation,), frozen=True, kw_only=True,
                                      namespace={"TYPE": name, "SUMMARY": f"element-wise {name}"})


# ---- pooling to a given size, normalisations, sequences, resizing ----------------------

NO_MACS = "PyTorch's FLOP counter counts no multiply-adds for it (MACs 0)."
MAX_ADAPTIVE = 100_000          # output rows or columns of an adaptive pooling (each window is summed up)
SH, SW = quantity("S_h", "Sh"), quantity("S_w", "Sw")


def adaptive_windows(n, out) -> list[int]:
    """PyTorch's adaptive pooling on one axis of n: window i (from 0) spans floor(i·n/out) up to
    ceil((i+1)·n/out), that end excluded; the windows' lengths."""
    return [-(-(i + 1) * n // out) - i * n // out for i in range(out)]


def lengths_text(lengths) -> str:
    low, high = min(lengths), max(lengths)
    return f"all {low}" if low == high else f"{low} to {high}"


@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPool2d(Layer):
    TYPE = "adaptive_max_pool2d"
    SUMMARY = "max pooling to output_size (H_out or [H_out, W_out]) in PyTorch's windows"
    MODE = "max"
    output_size: Pair = given_field(numeric_pair(1), dataclasses.MISSING, "H_out or [H_out, W_out]")

    def describe(self):
        ho, wo = self.output_size
        return f"adaptive {self.MODE} pool {ho}×{wo}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        ho, wo = self.output_size
        if max(ho, wo) > MAX_ADAPTIVE:
            raise FieldError("output_size", f"is {ho}×{wo}; at most {MAX_ADAPTIVE:,} per axis are supported")
        rows, cols = adaptive_windows(h, ho), adaptive_windows(w, wo)
        note = (f"PyTorch's windows: output row i (from 0) pools the input rows from ⌊i·H/H_out⌋ up to "
                f"⌈(i + 1)·H/H_out⌉ (that row excluded), and the columns alike: here {lengths_text(rows)} rows "
                f"high and {lengths_text(cols)} columns wide.")
        lines = [[HO, WO, Number(ho)]] if ho == wo else [[HO, Number(ho)], [WO, Number(wo)]]
        return self.count(Computed((c, ho, wo), size_lines=lambda: lines, note=note), sum(rows), sum(cols))

    def count(self, result, s_h, s_w):
        result.note += " Max pooling does no arithmetic; " + NO_MACS
        return result


@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPool2d(AdaptiveMaxPool2d):
    TYPE = "adaptive_avg_pool2d"
    SUMMARY = "average pooling to output_size (H_out or [H_out, W_out]) in PyTorch's windows"
    MODE = "avg"

    def count(self, result, s_h, s_w):
        c, ho, wo = result.output_shape
        values = dict(C=c, Ho=ho, Wo=wo, Sh=s_h, Sw=s_w)
        counts, result.count_lines = counted({"mults": C * HO * WO, "adds": C * (SH * SW - HO * WO)}, values)
        result.mults, result.adds = counts["mults"], counts["adds"]
        result.note += (" Each output adds up its window (one addition fewer than its entries) and scales once; "
                        f"the windows' heights add up to S_h = {s_h} and their widths to S_w = {s_w}, so the "
                        "windows of one channel hold S_h·S_w entries in all. " + NO_MACS)
        return result


SIZE = Symbol("n")


@dataclass(frozen=True, kw_only=True)
class LocalResponseNorm(Layer):
    TYPE = "local_response_norm"
    SUMMARY = "local response normalization across channels: size, alpha, beta, k"
    size: int = given_field(integer(1, "a positive integer"), dataclasses.MISSING, "the channels n of each window")
    alpha: float = given_field(number, 1e-4, "α (default 0.0001)")
    beta: float = given_field(number, 0.75, "β (default 0.75)")
    k: float = given_field(number, 1.0, "k (default 1)")

    def describe(self):
        return f"LRN, size {self.size}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        counts, lines = counted({"mults": Number(3) * C * H * W, "adds": SIZE * C * H * W},
                                dict(C=c, H=h, W=w, n=self.size))
        return Computed(shape, mults=counts["mults"], adds=counts["adds"], count_lines=lines, note=(
            "As nn.LocalResponseNorm: b_c = a_c·(k + (α/n)·Σ a_j²)^(−β), the sum over the n channels around c "
            "(zeros beyond the first and the last channel). Per value: the square, the scale α/n and the product "
            "with the power are 3 multiplications; the window's sum (n − 1 additions, the zeros added like any "
            "entry) and k are n additions; the power is a function, not counted. No parameters; " + NO_MACS))


def normalization_formulas(scale: bool, shift: bool) -> dict:
    """mults and adds of normalising G groups of N values (the statistics of each computed)."""
    return {"mults": times(G_, Number(3 if scale else 2) * N + 2),
            "adds": times(G_, Number(4 if shift else 3) * N - 1)}


def normalization_note(scale: bool, shift: bool) -> str:
    affine = ("; then γ, N multiplications" + (", and β, N additions" if shift else "")) if scale else ""
    return ("Per group of N values: the mean takes N − 1 additions and one multiplication by 1/N; the variance "
            "N subtractions, N squares, N − 1 additions and one multiplication by 1/N; ε one addition; "
            "normalising N multiplications by one over the square root of σ² + ε (the root a function, not counted)" + affine + ". "
            "The statistics are the example's own, not parameters; " + NO_MACS)


G_ = Symbol("G")


def read_dims(name, value) -> tuple:
    """An int (one axis) or a non-empty list of positive ints."""
    dims = [value] if not isinstance(value, list) else value
    if not dims or any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE for v in dims):
        raise FieldError(name, f"must be a positive integer or a list of them (the trailing sizes), got {value!r}")
    return tuple(dims)


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    TYPE = "layernorm"
    SUMMARY = "layer normalization over the trailing sizes normalized_shape: elementwise_affine, bias"
    normalized_shape: tuple = given_field(read_dims, dataclasses.MISSING,
                                          "the trailing sizes normalised together, as PyTorch: an int (the last "
                                          "axis, e.g. F) or a list such as [C, H, W] or [H, W]")
    elementwise_affine: bool = given_field(boolean, True, "a learnable γ per normalised value (default true)")
    bias: bool = given_field(boolean, True, "and a learnable β (default true)")

    def describe(self):
        return "layer norm"

    def compute(self, shape):
        k = len(self.normalized_shape)
        if tuple(shape[-k:]) != self.normalized_shape or k > len(shape):
            raise FieldError("normalized_shape", f"is {shape_text(self.normalized_shape)}, but its input is "
                                                 f"{shape_words(shape)}: PyTorch normalises the trailing axes "
                                                 "(counted as C×H×W, L×F or F), and they must have these sizes")
        n = product(self.normalized_shape)
        scale, shift = self.elementwise_affine, self.elementwise_affine and self.bias
        formulas = normalization_formulas(scale, shift)
        if scale:
            formulas = {**norm_counts(N, shift), **formulas}
        counts, lines = counted(formulas, dict(N=n, G=product(shape) // n))
        return Computed(shape, weights=counts.get("weights", 0), biases=counts.get("biases", 0),
                        mults=counts["mults"], adds=counts["adds"], count_lines=lines,
                        note=f"Each of the G = {product(shape) // n:,} groups is N = {n:,} values (the trailing "
                             f"{shape_text(self.normalized_shape)}). " + normalization_note(scale, shift))


@dataclass(frozen=True, kw_only=True)
class GroupNorm(Layer):
    TYPE = "groupnorm"
    SUMMARY = "group normalization: num_groups, num_channels, affine, bias"
    num_groups: int = given_field(integer(1, "a positive integer"), dataclasses.MISSING,
                                  "groups G of channels; G must divide the channels")
    num_channels: Any = channels_field("the input's channels")
    affine: bool = given_field(boolean, True, "a learnable γ per channel (default true)")
    bias: bool = given_field(boolean, True, "and a learnable β (default true)")

    def describe(self):
        return f"group norm, {self.num_groups} groups"

    def compute(self, shape):
        if len(shape) == 2:
            raise FieldError("type", f"groupnorm needs a C×H×W map or a vector of C features, but its input is "
                                     f"{shape_words(shape)}")
        c, g = shape[0], self.num_groups
        inferred = inferred_channels("num_channels", self.num_channels, c)
        if c % g:
            raise FieldError("num_groups", f"is {g}, which must divide the channels ({c}): each group normalises "
                                           f"C/num_groups channels together, as nn.GroupNorm requires; give a "
                                           f"divisor of {c}")
        scale, shift = self.affine, self.affine and self.bias
        formulas = normalization_formulas(scale, shift)
        if scale:
            formulas = {**norm_counts(C, shift), **formulas}
        n = product(shape) // g
        counts, lines = counted(formulas, dict(C=c, N=n, G=g))
        return Computed(shape, weights=counts.get("weights", 0), biases=counts.get("biases", 0),
                        mults=counts["mults"], adds=counts["adds"], inferred=inferred, count_lines=lines,
                        note=f"Each of the G = {g} groups is {c // g} channel(s), N = {n:,} values. "
                             + ("γ and β are per channel. " if scale else "") + normalization_note(scale, shift))


@dataclass(frozen=True, kw_only=True)
class Embedding(Layer):
    TYPE = "embedding"
    SUMMARY = "a table of num_embeddings rows of embedding_dim: L token ids to L×embedding_dim"
    num_embeddings: int = chosen_count("the table's rows V (the vocabulary)")
    embedding_dim: int = chosen_count("each row's features E")

    def describe(self):
        return f"embedding {self.num_embeddings}×{self.embedding_dim}"

    def compute(self, shape):
        if len(shape) != 1:
            raise FieldError("type", f"embedding needs a vector of L token ids (input_shape [L]), but its input "
                                     f"is {shape_words(shape)}")
        counts, lines = counted({"weights": embedding_counts(V, E)},
                                dict(V=self.num_embeddings, E=self.embedding_dim))
        return Computed((shape[0], self.embedding_dim), weights=counts["weights"], count_lines=lines,
                        note="Its input is a vector of L token ids; each picks one row of the V×E table, so the "
                             "output is an L×E sequence. A lookup does no arithmetic; " + NO_MACS)


V, H_, EK, EV = Symbol("V"), Symbol("h"), quantity("E_k", "Ek"), quantity("E_v", "Ev")
PROJECTIONS = 4              # nn.MultiheadAttention: Q, K, V in, and out


@dataclass(frozen=True, kw_only=True)
class MultiheadAttention(Layer):
    TYPE = "multihead_attention"
    SUMMARY = "self-attention on an L×E sequence: embed_dim, num_heads, bias, kdim, vdim"
    embed_dim: Any = channels_field("the input's features E")
    num_heads: int = given_field(integer(1, "a positive integer"), dataclasses.MISSING,
                                 "heads h; h must divide embed_dim")
    bias: bool = given_field(boolean, True, "the projections' biases (default true)")
    kdim: Any = given_field(optional(integer(1, "a positive integer")), None, "the keys' features (default E)")
    vdim: Any = given_field(optional(integer(1, "a positive integer")), None, "the values' features (default E)")

    def describe(self):
        return f"attention, {self.num_heads} heads"

    def compute(self, shape):
        needs_sequence(self, shape)
        l, e = shape
        inferred = inferred_channels("embed_dim", self.embed_dim, e)
        h = self.num_heads
        if e % h:
            raise FieldError("num_heads", f"is {h}, which must divide embed_dim ({e}): each head takes "
                                          "embed_dim/num_heads of the features, as nn.MultiheadAttention requires; "
                                          f"give a divisor of {e}")
        ek, ev = self.kdim or e, self.vdim or e
        bias = BIAS
        if ek == ev == e:
            one = linear_counts(E, E, bias)
            projections = {name: times(Number(PROJECTIONS), one[name]) for name in one}
        else:
            parts = [linear_counts(E, E, bias), linear_counts(EK, E, bias), linear_counts(EV, E, bias),
                     linear_counts(E, E, bias)]
            projections = {name: Sum([part[name] for part in parts]) for name in parts[0]}
        scores = times(Number(2), L, L, E)
        formulas = {"weights": projections["weights"], "biases": projections["biases"],
                    "mults": times(L, projections["mults"]) + scores + times(L, E) + times(H_, L, L),
                    "adds": times(L, projections["adds"]) + times(L, L, E - H_) + times(H_, L, L - 1)
                    + times(L, E, L - 1),
                    "macs": times(L, projections["mults"]) + scores}
        counts, lines = counted(formulas, dict(L=l, E=e, Ek=ek, Ev=ev, h=h, b=int(self.bias)))
        return Computed(shape, weights=counts["weights"], biases=counts["biases"], mults=counts["mults"],
                        adds=counts["adds"], macs=counts["macs"], inferred=inferred, count_lines=lines, note=(
            "Self-attention: queries, keys and values all come from the input's L positions"
            + ("; the keys' E_k and the values' E_v features from a sequence of the same L positions outside "
               "this network" if (ek, ev) != (e, e) else "")
            + ". Parameters: nn.MultiheadAttention's four projections (queries, keys, values, output), each to E "
            "features, with E biases each where bias is true. Operations: the projections as linear layers at "
            "each position; each head's scores, L² dot products of E/h terms (L²·E multiplications, L²·(E − h) "
            "additions in all); scaling the queries by one over the square root of E/h, L·E multiplications; each head's softmax, per "
            "row L divisions (counted as multiplications) and L − 1 additions, the exponential not counted; the "
            "weighted sums of the values, L²·E multiplications and L·E·(L − 1) additions. MACs are the "
            "multiply-adds of the projections, the scores and the weighted sums, as PyTorch's FLOP counter "
            "counts them (its fused inference path hides them from it)."))


@dataclass(frozen=True, kw_only=True)
class Recurrent(Layer):
    """nn.LSTM and nn.GRU on an L×I sequence: every step of every layer and direction."""
    CELL = None
    CELL_OPS = (0, 0)            # multiplications and additions per hidden unit of the state update
    UPDATE = ""
    input_size: Any = channels_field("the input's features I")
    hidden_size: int = chosen_count("the hidden features H")
    num_layers: int = given_field(integer(1, "a positive integer"), 1, "stacked layers (default 1)")
    bidirectional: bool = given_field(boolean, False, "a second direction, reading backwards (default false)")
    bias: bool = given_field(boolean, True, "bias_ih and bias_hh in every layer (default true)")

    def describe(self):
        return (f"{self.TYPE.upper()} {self.hidden_size}" + (f" ×{self.num_layers}" if self.num_layers > 1 else "")
                + (" bidir." if self.bidirectional else ""))

    def compute(self, shape):
        needs_sequence(self, shape)
        l, i = shape
        inferred = inferred_channels("input_size", self.input_size, i)
        gates = len(self.CELL.gates)
        d, both = (2, D) if self.bidirectional else (1, None)        # D written only where it is 2
        first, rest = self.one_layer(I), self.one_layer(times(both, H))
        formulas = {name: times(both, first[name]) if self.num_layers == 1
                    else times(both, first[name]) + times(N - 1, both, rest[name]) for name in first}
        formulas.update({name: times(L, formulas[name]) for name in ("mults", "adds", "macs")})
        values = dict(L=l, I=i, H=self.hidden_size, G=gates, D=d, N=self.num_layers, b=int(self.bias))
        counts, lines = counted(formulas, values)
        module = self.CELL.module
        return Computed((l, d * self.hidden_size), weights=counts["weights"], biases=counts["biases"],
                        mults=counts["mults"], adds=counts["adds"], macs=counts["macs"], inferred=inferred,
                        count_lines=lines, note=(
            f"As {module}: G = {gates} gates ({self.CELL.stack()}, stacked in that order), D = {d} "
            f"direction(s), N = {self.num_layers} layer(s). Each layer and direction has weight_ih (G·H×I, and "
            "G·H×D·H after the first layer, whose input is both directions' H features), weight_hh (G·H×H) "
            "and, with bias, bias_ih and bias_hh (G·H each). At each of the L steps: the two products "
            "(their multiply-adds are the MACs), one addition per gate value to join them (and the two biases), "
            f"then {self.UPDATE}; σ and tanh are functions, not counted. The output is every step's h of the "
            "last layer, the directions side by side: L×D·H. MACs as PyTorch's FLOP counter counts them "
            f"where {module} runs without its fused CPU kernel."))

    def one_layer(self, inputs) -> dict:
        """The counts of one layer and direction on `inputs` features per step (weights, biases:
        in all; operations: per step)."""
        gh, bias = times(G_, H), BIAS
        ih, hh = linear_counts(inputs, gh, bias), linear_counts(H, gh, bias)
        mults, adds = self.CELL_OPS
        return {"weights": ih["weights"] + hh["weights"], "biases": ih["biases"] + hh["biases"],
                "mults": ih["mults"] + hh["mults"] + times(Number(mults), H),
                "adds": ih["adds"] + hh["adds"] + gh + times(Number(adds), H),
                "macs": ih["mults"] + hh["mults"]}


I = Symbol("I")


@dataclass(frozen=True, kw_only=True)
class LSTM(Recurrent):
    TYPE = "lstm"
    SUMMARY = "LSTM layers on an L×I sequence: hidden_size, num_layers, bidirectional, bias, input_size"
    CELL = lstm.CELL
    CELL_OPS = (3, 1)
    UPDATE = "c_t = f⊙c_(t−1) + i⊙g and h_t = o⊙tanh(c_t), 3H multiplications and H additions"


@dataclass(frozen=True, kw_only=True)
class GRU(Recurrent):
    TYPE = "gru"
    SUMMARY = "GRU layers on an L×I sequence: hidden_size, num_layers, bidirectional, bias, input_size"
    CELL = gru.CELL
    CELL_OPS = (3, 2)
    UPDATE = ("n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)) and h_t = (1 − z)⊙n + z⊙h_(t−1), "
              "3H multiplications and 2H additions")


def read_scale(name, value) -> Pair:
    """A positive number, or an [h, w] pair of them."""
    def one(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= MAX_SIZE:
            raise FieldError(name, f"must be a positive number or a pair [h, w] of them, got {value!r}")
        return v
    if isinstance(value, list) and len(value) == 2:
        return Pair(one(value[0]), one(value[1]))
    return Pair(one(value), one(value), scalar=True)


S, S_H, S_W = Symbol("s"), quantity("s_h", "sh"), quantity("s_w", "sw")


@dataclass(frozen=True, kw_only=True)
class Upsample(Layer):
    TYPE = "upsample"
    SUMMARY = "upsampling by scale_factor (s or [s_h, s_w]), mode nearest or bilinear"
    scale_factor: Pair = given_field(read_scale, dataclasses.MISSING, "s or [s_h, s_w]: H_out = ⌊H·s_h⌋")
    mode: str = given_field(choice("nearest", "bilinear"), "nearest", "nearest (default) or bilinear")

    def describe(self):
        sh, sw = self.scale_factor
        return f"upsample ×{sh}" + ("" if sh == sw else f"×{sw}") + f" {self.mode}"

    def compute(self, shape):
        needs_map(self, shape)
        c, h, w = shape
        sh, sw = self.scale_factor
        ho, wo = math.floor(float(h) * sh), math.floor(float(w) * sw)     # as F.interpolate sizes it
        if min(ho, wo) < 1:
            raise FieldError("scale_factor", f"is {sh}×{sw}, which makes the {h}×{w} input {ho}×{wo}: a size 0")
        s_h, s_w = (S, S) if self.scale_factor.scalar else (S_H, S_W)

        def lines():
            axes = [distinct_lines(floor(Product([H, s_h], dot=True)), dict(H=h, sh=sh, s=sh)),
                    distinct_lines(floor(Product([W, s_w], dot=True)), dict(W=w, sw=sw, s=sw))]
            return [[HO, WO] + axes[0]] if (h, sh) == (w, sw) else [[HO] + axes[0], [WO] + axes[1]]

        result = Computed((c, ho, wo), size_lines=lines)
        if self.mode == "nearest":
            result.note = "Nearest: each output copies one input value, no arithmetic; " + NO_MACS
            return result
        counts, result.count_lines = counted({"mults": Number(4) * C * HO * WO, "adds": Number(3) * C * HO * WO},
                                             dict(C=c, Ho=ho, Wo=wo))
        result.mults, result.adds = counts["mults"], counts["adds"]
        result.note = ("Bilinear (align_corners false, PyTorch's default): each output is a weighted sum of its 4 "
                       "nearest inputs, 4 multiplications and 3 additions; the weights depend on the row and the "
                       "column only, and are not counted. " + NO_MACS)
        return result


def read_dim(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError(name, f"must be an integer axis (1 the first after the batch, -1 the last), got {value!r}")
    return value


M = Symbol("M")


@dataclass(frozen=True, kw_only=True)
class Softmax(Layer):
    TYPE = "softmax"
    SUMMARY = "softmax along dim (as nn.Softmax on the batched tensor: 1 the first axis after the batch; default -1)"
    dim: int = given_field(read_dim, -1, "the axis as PyTorch counts it on the batched tensor, the batch being 0: "
                                         "1 is C (or L, or F), -1 the last (default -1)")

    def compute(self, shape):
        rank = len(shape)
        if self.dim in (0, -rank - 1):
            raise FieldError("dim", f"is {self.dim}, the batch axis: a softmax across the examples is not a layer "
                                    f"of one example; give 1 to {rank} or -1 to -{rank}")
        if not -rank <= self.dim <= rank:
            raise FieldError("dim", f"is {self.dim}, but the input has {rank} axes after the batch "
                                    f"({shape_words(shape)}); give 1 to {rank} or -1 to -{rank}")
        n = shape[self.dim - 1 if self.dim > 0 else rank + self.dim]
        m = product(shape) // n
        counts, lines = counted({"mults": M * N, "adds": M * (N - 1)}, dict(M=m, N=n))
        return Computed(shape, mults=counts["mults"], adds=counts["adds"], count_lines=lines, note=(
            f"softmax(x)_i = exp(x_i)/Σ_j exp(x_j) over the N = {n} values along dim {self.dim}, in each of "
            f"M = {m:,} slices: N − 1 additions for the sum and N divisions (counted as multiplications); the "
            "exponential is a function, not counted. " + NO_MACS))


@dataclass(frozen=True, kw_only=True)
class Identity(Activation):
    TYPE = "identity"
    SUMMARY = "nn.Identity: its input, unchanged"


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "softplus")
LAYER_TYPES = {cls.TYPE: cls for cls in (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, BatchNorm2d,
                                         Linear, Flatten, Dropout)}
LAYER_TYPES.update({name: activation(name) for name in ACTIVATIONS})
LAYER_TYPES.update({cls.TYPE: cls for cls in (AdaptiveAvgPool2d, AdaptiveMaxPool2d, LocalResponseNorm, LayerNorm,
                                              GroupNorm, Embedding, MultiheadAttention, LSTM, GRU, Upsample, Softmax,
                                              Identity)})
NORMALIZATIONS = (BatchNorm2d, LayerNorm, GroupNorm)      # their biases are β, one per feature
# PyTorch's module names, as instructors copy them from their code (nn.Conv2d, ...).
TORCH_NAMES = {"conv2d": "Conv2d", "conv_transpose2d": "ConvTranspose2d", "maxpool2d": "MaxPool2d",
               "avgpool2d": "AvgPool2d", "batchnorm2d": "BatchNorm2d", "linear": "Linear",
               "flatten": "Flatten", "dropout": "Dropout", "relu": "ReLU", "leaky_relu": "LeakyReLU",
               "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU", "elu": "ELU", "softplus": "Softplus",
               "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "adaptive_max_pool2d": "AdaptiveMaxPool2d",
               "local_response_norm": "LocalResponseNorm", "layernorm": "LayerNorm", "groupnorm": "GroupNorm",
               "embedding": "Embedding", "multihead_attention": "MultiheadAttention", "lstm": "LSTM", "gru": "GRU",
               "upsample": "Upsample", "softmax": "Softmax", "identity": "Identity"}
COMMON_KEYS = ("type", "name", "repeat")


def type_key(name: str) -> str:
    """conv_transpose2d, ConvTranspose2d, nn.ConvTranspose2d and CONV_TRANSPOSE_2D all read alike."""
    name = name.strip()
    for prefix in ("torch.nn.", "nn."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name.lower().replace("_", "")


TYPE_KEYS = {type_key(name): name for name in LAYER_TYPES}


def describe_types() -> str:
    """The layer types, with their fields where they have any (for `solver kinds`)."""
    listed = "; ".join(f"{name} ({cls.SUMMARY})" if dataclasses.fields(cls) else name
                       for name, cls in LAYER_TYPES.items())
    return (f"{listed}. PyTorch's module names read as these types, in any case, with or without "
            f"underscores or an nn. prefix: {', '.join(TORCH_NAMES.values())}")


def distinct_lines(formula: Formula, values: dict) -> list:
    """formula, numbers substituted, result; without repeats."""
    substituted = formula.substitute(values)
    return distinct([formula, substituted, Number(substituted.value())])


def read_layer(raw) -> tuple[Layer, str | None, int]:
    """One `layers:` entry -> (layer, its display name or None, repeat count)."""
    if not isinstance(raw, dict) or "type" not in raw:
        raise FieldError("type", f"each layer must be a mapping with a `type`: one of {', '.join(LAYER_TYPES)}")
    kind = TYPE_KEYS.get(type_key(raw["type"])) if isinstance(raw["type"], str) else None
    if kind is None:
        raise FieldError("type", f"unknown layer type {raw['type']!r}; the types are {', '.join(LAYER_TYPES)} "
                                 f"(or PyTorch's module names: {', '.join(TORCH_NAMES.values())})")
    name = raw.get("name")
    if name is not None and not isinstance(name, (str, int)):
        raise FieldError("name", f"must be text, got {name!r}")
    repeat = integer(1, "a positive integer")("repeat", raw.get("repeat", 1))
    fields = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    return read_given(LAYER_TYPES[kind], fields, f"layer type {kind}"), (str(name) if name is not None else None), repeat


@lru_cache(maxsize=4096)
def compute(layer: Layer, shape: tuple) -> Computed:
    """Memoized: a mistake re-solved layer by layer meets the same layers again.
    Callers must not change the result."""
    return layer.compute(shape)
