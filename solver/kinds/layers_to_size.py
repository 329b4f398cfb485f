"""layers_to_size: how many identical convolution layers take a size to a target
size, and the parameters of that stack."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..core.errors import FieldError
from ..core.fields import boolean, given_field, integer, optional
from ..math.nodes import Formula, Indexed, Number, Symbol, Sum
from ..math.notation import indexed, quantity, written
from ..core.model import Answer, Step
from .sizes import Axis, conv_formula, conv_length, distinct
from .base import Kind
from .mistakes import Change, shared

SQUARE = " (one number: the sizes are square)"


def read_out_channels(name, value):
    """One count for every layer, or a list from the first layer on."""
    what = ("a positive integer, or a non-empty list of them (one per layer from the first; "
            "the last one repeats)")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise FieldError(name, f"must be {what}; got an empty list")
    return tuple(integer(1, what)(name, v) for v in values)


@dataclass(frozen=True, kw_only=True)
class Given:
    input_size: int = given_field(integer(1, "a whole number >= 1" + SQUARE), dataclasses.MISSING,
                                  "H: height (= width) of the input")
    target_size: int = given_field(integer(1, "a whole number >= 1" + SQUARE), dataclasses.MISSING,
                                   "the height (= width) the stack must reach")
    kernel_size: int = given_field(integer(1, "a whole number >= 1" + SQUARE), dataclasses.MISSING,
                                   "K: every layer's K×K kernel")
    stride: int = given_field(integer(1, "a whole number >= 1" + SQUARE), 1,
                              "every layer's stride (default 1)")
    padding: int = given_field(integer(0, "a whole number >= 0" + SQUARE), 0,
                               "zeros added on each side by every layer (default 0)")
    dilation: int = given_field(integer(1, "a whole number >= 1" + SQUARE), 1,
                                "spacing between kernel taps (default 1)")
    in_channels: Any = given_field(optional(integer(1, "a positive integer")), None,
                                   "channels of the input, for params")
    out_channels: Any = given_field(optional(read_out_channels), None,
                                    "filters per layer, for params: one number, or a list from the "
                                    "first layer on whose last value repeats")
    bias: bool = given_field(boolean, True, "one bias per filter (default true)")


@dataclass(frozen=True)
class Rules:
    """How a stack is counted, PyTorch's way by default; each mistake changes one rule."""
    size_plus_one: bool = True       # the size formula's + 1 (False: a K×K kernel removes K rows)
    padding_sides: int = 2           # P on both sides of the input: H + 2P
    bias_per_filter: bool = True     # one bias per filter (False: one per layer)
    kernel_depth: str = "input"      # each kernel as deep as its input ("image": as the input image)
    count_sizes: bool = False        # True: the sizes from input to target counted, one more than the layers


RULES = Rules()


# ---- how the size evolves ---------------------------------------------------

@dataclass(frozen=True)
class LayerMap:
    """One layer's size map h -> floor((h - r - 1)/S) + plus, with r = D(K - 1) - 2P.

    PyTorch's formula has plus = 1; a mistake may drop it.
    """
    removed: int
    stride: int
    plus: int = 1

    def next(self, h: int) -> int:
        return (h - self.removed - 1) // self.stride + self.plus

    @property
    def step(self) -> int:
        """Rows one layer removes at stride 1 (negative: rows it adds)."""
        return self.removed + 1 - self.plus


def layer_map(given, rules: Rules = RULES) -> LayerMap:
    removed = given.dilation * (given.kernel_size - 1) - rules.padding_sides * given.padding
    return LayerMap(removed, given.stride, int(rules.size_plus_one))


@dataclass
class Reach:
    """The layer count that reaches the target, or why none does.

    `sizes` is the size after each layer (from the input) when it was iterated.
    """
    layers: int | None
    sizes: list[int] = dataclasses.field(default_factory=list)
    reason: str = ""


def count_layers(given, layer: LayerMap) -> Reach:
    h, target = given.input_size, given.target_size
    if layer.stride == 1:
        return closed_form(h, target, layer.step)
    return iterate(h, target, layer)


def closed_form(h, target, step) -> Reach:
    """Stride 1: after L layers the size is h - L·step; solve h - L·step = target."""
    if step == 0:
        return Reach(None, reason=f"every layer keeps the size (it removes D(K - 1) - 2P = 0 rows), "
                                  f"so the size stays {h}")
    if (h - target) * step < 0:
        return Reach(None, reason=f"{per_layer_change(step)}, so the size moves away from {target}")
    layers, rest = divmod(h - target, step)
    if rest:
        before = h - layers * step
        reason = between(layers, before, before - step, target)
        return Reach(None, reason=f"{per_layer_change(step)}: {reason}")
    return Reach(layers)


def iterate(h, target, layer) -> Reach:
    """Stride > 1: apply the floor formula layer by layer. One layer's map is
    nondecreasing in h, so the sizes move monotonically: toward the target until
    they hit it, jump past it, or settle at a size that maps to itself."""
    sizes = [h]
    while True:
        size, after = sizes[-1], layer.next(sizes[-1])
        if after == size or (after - size) * (target - size) < 0:
            return Reach(None, sizes, f"{give(len(sizes) - 1, size)} and the next layer gives {after}, "
                                      f"so the size never reaches {target}")
        if (after - target) * (size - target) < 0:
            return Reach(None, sizes, between(len(sizes) - 1, size, after, target))
        sizes.append(after)
        if after == target:
            return Reach(len(sizes) - 1, sizes)


def per_layer_change(step) -> str:
    return f"every layer {'removes' if step > 0 else 'adds'} {plural(abs(step), 'row')}"


def plural(count, noun) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def give(layers, size) -> str:
    if layers == 0:
        return f"the input is {size}"
    return f"{plural(layers, 'layer')} give{'s' if layers == 1 else ''} {size}"


def between(layers, before, after, target) -> str:
    """Why the target falls between two consecutive layer counts."""
    nxt = (give(layers + 1, after) if after >= 1 else
           "a layer more does not fit (its kernel is larger than the padded input)")
    return f"{give(layers, before)} and {nxt}; no whole number of layers gives {target}"


# ---- validation ------------------------------------------------------------

def validate(given: Given):
    span = given.dilation * (given.kernel_size - 1) + 1
    padded = given.input_size + 2 * given.padding
    if span > padded:
        raise FieldError("kernel_size", f"spans {span} rows (dilation included) but the padded input has "
                                        f"only {padded}; the kernel must fit inside the padded input")
    if given.target_size == given.input_size:
        raise FieldError("target_size", f"equals input_size ({given.input_size}): no layer is needed; "
                                        "give a target the layers can reach")
    reach = count_layers(given, layer_map(given))
    if reach.layers is None:
        raise FieldError("target_size", f"cannot be reached: {reach.reason}")
    validate_channels(given, reach.layers)


def validate_channels(given, layers):
    if (given.in_channels is None) != (given.out_channels is None):
        missing = "in_channels" if given.in_channels is None else "out_channels"
        raise FieldError(missing, "is needed too: give both in_channels and out_channels to count the "
                                  "parameters, or neither")
    if given.out_channels is not None and len(given.out_channels) > layers:
        raise FieldError("out_channels", f"lists {len(given.out_channels)} layers but the stack has "
                                         f"{layers}; give at most {plural(layers, 'value')} "
                                         "(the last one repeats)")


# ---- parameters ------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    """Consecutive layers with the same channels, so the same parameter count."""
    first: int          # layer number, from 1
    count: int
    c_in: int
    c_out: int

    @property
    def last(self) -> int:
        return self.first + self.count - 1


def layer_runs(given, layers, rules: Rules = RULES) -> list[Run]:
    """The stack as runs of identical layers, without listing every layer (a stack
    may have millions). Each layer's C_in is the C_out before it (under the rule
    kernel_depth "image", the input's channels: a mistake)."""
    depth_of_first = rules.kernel_depth == "image"
    outs = given.out_channels[:layers]
    ins = (given.in_channels,) * len(outs) if depth_of_first else (given.in_channels, *outs[:-1])
    tail_in = given.in_channels if depth_of_first else outs[-1]
    blocks = [(c_in, c_out, 1) for c_in, c_out in zip(ins, outs)]
    blocks.append((tail_in, outs[-1], layers - len(outs)))
    runs, first = [], 1
    for c_in, c_out, count in blocks:
        if runs and (runs[-1].c_in, runs[-1].c_out) == (c_in, c_out):
            runs[-1] = dataclasses.replace(runs[-1], count=runs[-1].count + count)
        elif count:
            runs.append(Run(first, count, c_in, c_out))
        first += count
    return runs


def per_layer(run, k, bias) -> int:
    """One layer's parameters: the value of its formula, (C_in·K² + 1)·C_out with a bias."""
    return params_formula(Number(run.c_in), Number(k) * Number(k), Number(run.c_out), bias).value()


def total_params(given, runs, rules: Rules = RULES) -> int:
    """The stack's parameters; under the rule bias_per_filter False, one bias per layer."""
    bias = given.bias and rules.bias_per_filter
    biases = 0 if bias or not given.bias else sum(run.count for run in runs)
    return sum(run.count * per_layer(run, given.kernel_size, bias) for run in runs) + biases


C_IN, C_OUT = quantity("C_in"), quantity("C_out")
K_SQUARED = quantity("K^2", "K2")


def params_formula(c_in, k_squared, c_out, bias):
    """(C_in·K² + 1)·C_out with bias, C_in·K²·C_out without; letters or numbers."""
    weights = c_in * k_squared
    return (weights + 1) * c_out if bias else weights * c_out


THETA, DOTS = written("theta"), quantity("dots")


def theta(i) -> Indexed:
    """θ_i, the parameters of layer i (its number written plainly, however long)."""
    return indexed("theta", i)


def run_label(run) -> Formula:
    """θ_i for one layer, θ_i + ... + θ_j for a run."""
    if run.count == 1:
        return theta(run.first)
    return Sum([theta(run.first)] + ([DOTS] if run.count > 2 else []) + [theta(run.last)])


def run_lines(run, k, bias) -> list[list]:
    """θ_i = numbers = arithmetic = value; a run of several layers then multiplies it."""
    one = per_layer(run, k, bias)
    first = theta(run.first)
    substituted = params_formula(Number(run.c_in), Number(k) * Number(k), Number(run.c_out), bias)
    lines = [[first, substituted, Number(run.c_in * k * k + bias) * Number(run.c_out), Number(one)]]
    if run.count > 1:
        lines.append([run_label(run), Number(run.count) * first, Number(run.count) * Number(one),
                      Number(run.count * one)])
    return lines


def params_step(given, runs, total) -> Step:
    text = ("Counting convention: a convolution layer with C_in input channels and C_out filters of "
            "size K×K has C_out·C_in·K·K weights"
            + (" and one bias per filter (C_out biases), so (C_in·K² + 1)·C_out parameters. "
               if given.bias else " and no biases, so C_in·K²·C_out parameters. ")
            + f"The first layer's C_in is the input's {given.in_channels} channels; every later layer's "
              "C_in is the number of filters of the layer before it.")
    if len(given.out_channels) > 1:
        text += " Layers past the end of the list of filter counts keep its last value."
    for run in runs:
        if run.count > 1:
            text += (f" Layers {run.first}–{run.last} are identical ({run.c_in} channels in, {run.c_out} "
                     f"out): one is counted and multiplied by {run.count}.")
    lines = [[indexed("theta", "l"), params_formula(C_IN, K_SQUARED, C_OUT, given.bias)]]
    lines += [line for run in runs for line in run_lines(run, given.kernel_size, given.bias)]
    values = [run.count * per_layer(run, given.kernel_size, given.bias) for run in runs]
    lines.append(distinct([Symbol("theta", THETA), Sum([run_label(run) for run in runs]),
                                  Sum([Number(v) for v in values]), Number(total)]))
    return Step("Parameters", text, lines)


# ---- the derivation ----------------------------------------------------------

H, H_OUT, R, L = Symbol("H"), quantity("H_out"), Symbol("r"), Symbol("L")
H_IN, H_TARGET = quantity("H_in"), quantity("H_target", "T")
ROWS_REMOVED = Symbol("D") * (Symbol("K") - 1) - 2 * Symbol("P")


def axis(given, n) -> Axis:
    return Axis(n=n, k=given.kernel_size, s=given.stride, d=given.dilation,
                before=given.padding, after=given.padding)


def one_layer_step(given) -> Step:
    formula = conv_formula(axis(given, 0))
    values = {name: v for name, v in axis(given, 0).values().items() if name != "H"}
    return Step("Size after one layer",
                "PyTorch's output size of a convolution with input size H, padding P, dilation D, "
                f"kernel size K and stride S. Every layer of the stack has K = {given.kernel_size}, "
                f"S = {given.stride}, P = {given.padding} and D = {given.dilation}:",
                [[H_OUT, formula, formula.substitute(values)]])


def stride_one_steps(given, layers) -> list[Step]:
    step = layer_map(given).step
    values = {"D": given.dilation, "K": given.kernel_size, "P": given.padding}
    rows = Step("Rows removed per layer",
                "With stride 1 the division by S and the floor change nothing: each layer removes "
                "r = D(K - 1) - 2P rows" + (" (a negative r adds rows)." if step < 0 else "."),
                [[H_OUT, H - R], [R, ROWS_REMOVED, ROWS_REMOVED.substitute(values), Number(step)]])
    solved = (H_IN - H_TARGET) / R
    numbers = {"H_in": given.input_size, "T": given.target_size, "r": step}
    count = Step("Number of layers",
                 "After L layers the size is H_in - L·r. Set it equal to the target size and solve for L:",
                 [[H_IN - R * L, H_TARGET],
                  [Number(given.input_size) - Number(step) * L, Number(given.target_size)],
                  [L, solved, solved.substitute(numbers),
                   Number(given.input_size - given.target_size) / Number(step), Number(layers)]])
    return [rows, count]


def iteration_step(given, sizes) -> Step:
    lines = []
    for i, size in enumerate(sizes[:-1], start=1):
        _, derivation = conv_length(axis(given, size))
        lines.append([indexed("H", i)] + derivation[1:])
    return Step("Layer by layer",
                f"With stride {given.stride} the floor does not cancel, so apply the formula one layer "
                f"at a time, each to the size the layer before it gives, starting from "
                f"H_0 = {sizes[0]}. After {plural(len(sizes) - 1, 'layer')} the size is the target, "
                f"{sizes[-1]}.", lines)


def steps(given, answers) -> list[Step]:
    reach = count_layers(given, layer_map(given))
    derivation = [one_layer_step(given)]
    if given.stride == 1:
        derivation += stride_one_steps(given, reach.layers)
    else:
        derivation.append(iteration_step(given, reach.sizes))
    if "params" in answers:
        derivation.append(params_step(given, layer_runs(given, reach.layers), answers["params"].value))
    return derivation


# ---- the kind -------------------------------------------------------------

class LayersToSize(Kind):
    name = "layers_to_size"
    summary = ("how many identical convolution layers take input_size to target_size, and the "
               "parameters of the stack")
    answers = {
        "layers": "the number of layers L whose output size is target_size",
        "params": "parameters (weights and biases) of the whole stack; needs in_channels and out_channels",
    }
    # Where a problem gives no `vary`, a variant redraws these fields, but only those the
    # statement shows as {{ field }} (solver/variants.py); a draw the kind refuses is redrawn.
    vary = {
        "input_size": [32, 48, 64, 96, 128, 160, 224, 256],
        "target_size": {"min": 1, "max": 32},
        "kernel_size": [3, 5, 7],
        "stride": [1, 2],
        "padding": [0, 1],
        "in_channels": [1, 3],
    }
    Given, Rules = Given, Rules
    mistakes = [
        Change("kernel_rows", "Each layer was taken to remove K rows; a K×K kernel removes K - 1 (at stride 1 "
               "without padding the size goes from H to H - K + 1: the size formula ends in + 1).",
               rules={"size_plus_one": False}),
        shared("padding_forgotten", given=lambda g: {"padding": 0}, applies=lambda g: g.padding != 0),
        shared("padding_once", applies=lambda g: g.padding != 0),
        shared("bias_forgotten", given=lambda g: {"bias": False}, applies=lambda g: g.bias),
        "bias_counted", shared("bias_per_layer", only=("params",)),
        shared("image_channels_everywhere", only=("params",)),
        Change("off_by_one", "One too many: this counts the sizes from the input to the target, "
               "which is one more than the layers between them.", rules={"count_sizes": True}),
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        reach = count_layers(given, layer_map(given, rules))
        if not reach.layers:
            raise ValueError(f"no layer count: {reach.reason}")
        layers = reach.layers + rules.count_sizes
        answers = {"layers": Answer("layers", "integer", layers, "L")}
        if given.out_channels is not None:
            total = total_params(given, layer_runs(given, layers, rules), rules)
            answers["params"] = Answer("params", "integer", total, THETA)
        return answers

    def derive(self, given, answers) -> list[Step]:
        return steps(given, answers)


KIND = LayersToSize()
