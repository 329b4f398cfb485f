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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..core.errors import FieldError
from ..core.fields import ONE, ZERO, Pair, boolean, given_field, integer, number, optional, pair, read_given
from ..math.nodes import Formula, Number, Symbol, same
from ..math.notation import quantity
from .sizes import distinct
from .conv import conv2d, conv_transpose2d, pool2d
from .common import read_padding
from .counting import conv_counts, linear_counts, norm_counts

UNKNOWN = "?"
B, CI, CO, G = Symbol("B"), quantity("C_in", "Ci"), quantity("C_out", "Co"), Symbol("g")
C, H, W = Symbol("C"), Symbol("H"), Symbol("W")
HO, WO = quantity("H_out", "Ho"), quantity("W_out", "Wo")
KH, KW = quantity("K_h", "Kh"), quantity("K_w", "Kw")
FI, FO = quantity("F_in", "Fi"), quantity("F_out", "Fo")
BIAS = Symbol("b")


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
    size_lines: list = field(default_factory=list)   # display lines for H_out (and W_out)
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


def needs_map(layer, shape):
    if len(shape) != 3:
        raise FieldError("type", f"{layer.TYPE} needs a C×H×W input, but its input is a vector of "
                                 f"{shape[0]} features (after a flatten or linear layer)")


def sizes_and_lines(sizes):
    """[(size, lines, ...)] per axis from a kind -> (Ho, Wo), display lines."""
    (ho, h_lines, *_), (wo, w_lines, *_) = sizes
    lines = [[HO] + h_lines]
    if same(h_lines[1:], w_lines[1:]):          # one line says both: the same numbers, the same steps
        lines[0].insert(1, WO)
    else:
        lines.append([WO] + w_lines)
    return ho, wo, lines


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
        ho, wo, lines = sizes_and_lines(conv2d.output_size(given))
        kh, kw = self.kernel_size
        values = dict(Ci=c, g=g, Kh=kh, Kw=kw, Co=self.out_channels, Ho=ho, Wo=wo, b=int(self.bias))
        formulas = dict(conv_counts(CO, CI / G if g > 1 else CI, KH * KW, CO * HO * WO, BIAS), biases=CO * BIAS)
        counts = {name: formula.substitute(values).value() for name, formula in formulas.items()}
        return Computed(
            (self.out_channels, ho, wo), weights=counts["weights"], biases=counts["biases"], mults=counts["mults"],
            adds=counts["adds"], macs=counts["mults"], inferred=inferred, size_lines=lines,
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
        ho, wo, lines = sizes_and_lines(conv_transpose2d.output_size(given))
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
            macs=c * h * w * per_input, inferred=inferred, size_lines=lines,
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
        sizes = pool2d.output_size(given)
        ho, wo, lines = sizes_and_lines(sizes)
        note = " ".join(n for *_, n in sizes if n)
        return Computed((c, ho, wo), size_lines=lines, note=note, count_lines=self.count_lines(c, ho, wo))

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
    SUMMARY = "fully connected: out_features, bias, in_features"
    out_features: int = chosen_count("the number of outputs")
    in_features: Any = channels_field("the input's features")
    bias: bool = given_field(boolean, True, "default true")

    def describe(self):
        return f"linear {self.out_features}"

    def compute(self, shape):
        if len(shape) != 1:
            raise FieldError("type", f"linear needs a vector input, but its input is "
                                     f"{'×'.join(map(str, shape))}: put a flatten layer before it")
        (f,) = shape
        inferred = inferred_channels("in_features", self.in_features, f)
        o = self.out_features
        values = dict(Fi=f, Fo=o, b=int(self.bias))
        formulas = linear_counts(FI, FO, BIAS)
        counts = {name: formula.substitute(values).value() for name, formula in formulas.items()}
        return Computed((o,), weights=counts["weights"], biases=counts["biases"], mults=counts["mults"],
                        adds=counts["adds"], macs=counts["mults"], inferred=inferred,
                        count_lines=[(name, formula, values) for name, formula in formulas.items()])


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    TYPE = "flatten"
    SUMMARY = "C×H×W to one vector of C·H·W features"

    def compute(self, shape):
        if len(shape) == 1:
            return Computed(shape)
        c, h, w = shape
        formula = C * H * W
        return Computed((c * h * w,), size_lines=[[Symbol("F")] + distinct_lines(formula, dict(C=c, H=h, W=w))])


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


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "softplus")
LAYER_TYPES = {cls.TYPE: cls for cls in (Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, BatchNorm2d,
                                         Linear, Flatten, Dropout)}
LAYER_TYPES.update({name: activation(name) for name in ACTIVATIONS})
# PyTorch's module names, as instructors copy them from their code (nn.Conv2d, ...).
TORCH_NAMES = {"conv2d": "Conv2d", "conv_transpose2d": "ConvTranspose2d", "maxpool2d": "MaxPool2d",
               "avgpool2d": "AvgPool2d", "batchnorm2d": "BatchNorm2d", "linear": "Linear",
               "flatten": "Flatten", "dropout": "Dropout", "relu": "ReLU", "leaky_relu": "LeakyReLU",
               "sigmoid": "Sigmoid", "tanh": "Tanh", "gelu": "GELU", "elu": "ELU", "softplus": "Softplus"}
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
