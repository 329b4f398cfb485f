"""network: a layer-by-layer table of shapes, parameters and operation counts.

The layers, and the counting convention, are in network_layers.py. Answers
are named per layer, `params[3]`, counted from 1 in the order the problem
lists them (a `repeat: n` entry stands for n layers), and for the whole
network, `params`. The `table` answer holds every row, so a student's whole
table can be checked at once, each row judged from the student's row before.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from ..errors import FieldError
from ..fields import choice, given_field, integer, optional, read_given
from ..math.nodes import Number, Symbol
from ..math.notation import QUANTITIES
from ..math.printing import latex
from ..model import Answer, Solution, Step
from ..answers.tables import Table
from . import network_layers as nl
from .common import Mistake, shared_mistake

NAME = "network"
SUMMARY = "a network's layer-by-layer output shapes, neurons, parameters and operation counts"
COUNTS = {
    "neurons": "output values per example (in total: those of the conv and linear layers)",
    "weights": "weights (kernel and matrix entries, batch-norm scales)",
    "biases": "biases (one per filter or output; batch-norm shifts)",
    "params": "parameters: weights + biases",
    "params_without_bias": "parameters without the biases",
    "mults": "multiplications, for the whole batch",
    "adds": "additions, for the whole batch",
    "macs": "multiply-accumulates of conv and linear layers, for the whole batch",
    "flops": "FLOPs, 2 × MACs (PyTorch's FLOP counter)",
}
PER_LAYER = ("output_shape",) + tuple(COUNTS)
INFERRED = ("in_channels", "in_features", "num_features")
ANSWERS = {
    "output_shape": "the last layer's output shape (with the batch when batch_size is given)",
    **{name: f"the network's {doc}" for name, doc in COUNTS.items()},
    "output_shape[i]": "layer i's output shape; layers are counted from 1, a repeat as its copies",
    **{f"{name}[i]": f"layer i's {doc.split(' (')[0]}" for name, doc in COUNTS.items()},
    **{f"{name}[i]": f"the {name} of layer i, where the problem gives it as ?" for name in INFERRED},
    "table": "every layer's row at once: check a CSV or JSON table (layer, output_shape, params, ...)",
}
# Where a problem gives no `vary`, a variant redraws these fields, but only those the
# statement shows as {{ field }} (solver/variants.py); a draw the kind refuses is redrawn.
VARY = {"batch_size": [1, 8, 16, 32, 64, 100, 128, 256]}
LAYOUT_NAMES = {"chw": "C×H×W", "hwc": "H×W×C"}
IDENTICAL_RUN = 3            # this many identical layers in a row share one table row
MAX_LAYERS = 2000


@dataclass(frozen=True)
class Entry:
    """One layer of the expanded list: its number (from 1) and display name."""
    number: int
    layer: Any
    name: str


def read_shape(name, value):
    """[3, 512, 512], "3x512x512" or "3×512×512"; 3 numbers or 1 (a vector)."""
    if isinstance(value, str):
        parts = re.split(r"\s*[x×*,]\s*", value.strip())
        value = [int(p) if p.isdigit() else p for p in parts]
    if (not isinstance(value, list) or len(value) not in (1, 3)
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)):
        raise FieldError(name, f"must be three positive integers (C×H×W, or H×W×C with layout hwc) "
                               f"or one (a vector of features), e.g. [3, 224, 224] or \"3x224x224\"; got {value!r}")
    return tuple(value)


def read_layers(name, value):
    if not isinstance(value, list) or not value:
        raise FieldError(name, "must be a non-empty list of layers, each a mapping with a `type`")
    entries = []
    for position, raw in enumerate(value, start=1):
        try:
            layer, label, repeat = nl.read_layer(raw)
        except FieldError as error:
            raise FieldError(f"layers[{len(entries) + 1}].{error.field}",
                             f"(layer {len(entries) + 1}, entry {position} of the list) {error.detail}") from None
        if len(entries) + repeat > MAX_LAYERS:
            raise FieldError(name, f"has more than {MAX_LAYERS} layers once repeats are counted")
        for copy in range(repeat):
            entries.append(Entry(len(entries) + 1, layer, label or layer.describe()))
    return tuple(entries)


@dataclass(frozen=True, kw_only=True)
class Given:
    input_shape: tuple = given_field(read_shape, dataclasses.MISSING,
                                     "C×H×W per example (H×W×C with layout hwc), or [F] for a vector")
    layout: str = given_field(choice("chw", "hwc"), "chw", "how shapes are written: chw (default) or hwc")
    batch_size: Any = given_field(optional(integer(1, "a positive integer")), None,
                                  "examples per batch; shapes and operation counts then include it")
    layers: tuple = given_field(read_layers, dataclasses.MISSING,
                                "the layers in order, each {type: ..., its fields, optional name and "
                                "repeat: n}; types: " + nl.describe_types())


def read(raw) -> Given:
    given = read_given(Given, raw, NAME)
    validate(given)
    return given


def validate(given):
    """Every layer must fit its input: analyze reports the first that does not."""
    analyze(given)


# ---- shapes in the problem's layout -----------------------------------------

def per_example(given, shape) -> tuple:
    """The problem's way of writing a shape -> C×H×W (or F)."""
    return (shape[2], shape[0], shape[1]) if given.layout == "hwc" and len(shape) == 3 else shape


def as_written(given, shape) -> tuple:
    """C×H×W (or F) -> the problem's layout, with the batch in front when given."""
    shape = (shape[1], shape[2], shape[0]) if given.layout == "hwc" and len(shape) == 3 else shape
    return (given.batch_size,) + shape if given.batch_size else shape


# ---- computing ----------------------------------------------------------------

def analyze(given, change=None) -> list:
    """Each layer computed on the previous one's output: [(entry, Computed)].
    `change(entry, shape)` may swap in another layer (a mistake) or a shape."""
    shape = per_example(given, given.input_shape)
    rows = []
    for entry in given.layers:
        layer = entry.layer
        if change is not None:
            layer, shape = change(entry, layer, shape)
        try:
            computed = nl.compute(layer, shape)
        except FieldError as error:
            raise FieldError(f"layers[{entry.number}].{error.field}",
                             f"(layer {entry.number}, {entry.name}, on an input of "
                             f"{shape_text(as_written(given, shape))}) {error.detail}") from None
        rows.append((entry, computed))
        shape = computed.output_shape
    return rows


def batch(given) -> int:
    return given.batch_size or 1


def layer_values(given, computed) -> dict:
    """The per-layer answers of one computed layer."""
    b = batch(given)
    params = computed.weights + computed.biases
    return {"output_shape": as_written(given, computed.output_shape), "neurons": computed.neurons,
            "weights": computed.weights, "biases": computed.biases, "params": params,
            "params_without_bias": computed.weights, "mults": b * computed.mults,
            "adds": b * computed.adds, "macs": b * computed.macs, "flops": 2 * b * computed.macs}


def has_units(entry) -> bool:
    """Layers whose outputs are computed by weighted units: they count as neurons."""
    return isinstance(entry.layer, (nl.Conv2d, nl.ConvTranspose2d, nl.Linear))


def values_of(given, rows) -> dict:
    """Every answer value by name: per layer, totals, inferred fields."""
    values = {}
    per_layer = [layer_values(given, computed) for _, computed in rows]
    for (entry, computed), row in zip(rows, per_layer):
        values.update({f"{name}[{entry.number}]": v for name, v in row.items()})
        values.update({f"{name}[{entry.number}]": v for name, v in computed.inferred.items()})
    values["output_shape"] = per_layer[-1]["output_shape"]
    for name in COUNTS:
        units = [row[name] for (entry, _), row in zip(rows, per_layer) if name != "neurons" or has_units(entry)]
        values[name] = sum(units)
    return values


def answer_type(name) -> str:
    return "shape" if name.startswith("output_shape") else "integer"


def solve(given: Given) -> Solution:
    rows = analyze(given)
    values = values_of(given, rows)
    # The totals first: `solver check ID` without a name checks the output shape.
    answers = {name: Answer(name, answer_type(name), value, label(name)) for name, value in values.items()
               if "[" not in name}
    answers.update({name: Answer(name, answer_type(name), value, label(name), detail=True)
                    for name, value in values.items() if "[" in name})
    answers["table"] = Answer("table", "table", table_of(given, rows), r"\text{table}", detail=True)
    steps = [input_step(given), table_step(given, rows)] + layer_steps(given, rows) + [total_step(given, rows, values)]
    return Solution(NAME, given, steps, answers)


def label(name) -> str:
    base, _, index = name.partition("[")
    text = {"output_shape": r"\text{output shape}", "params_without_bias": r"\text{params without bias}",
            "macs": r"\text{MACs}", "flops": r"\text{FLOPs}", "in_channels": QUANTITIES["C_in"],
            "in_features": QUANTITIES["F_in"], "num_features": r"\text{num\_features}"}.get(base, rf"\text{{{base}}}")
    return "{" + text + "}" + (rf"_{{{index[:-1]}}}" if index else r"_{\text{total}}" if base in COUNTS else "")


def table_of(given, rows) -> Table:
    def expected_row(number, previous):
        """Row `number` judged from the student's row before it (carry forward)."""
        entry = given.layers[number - 1]
        shape = per_example(given, previous_shape(given, previous)) if previous else None
        if shape is None:
            return row_values[number - 1]
        try:
            return layer_values(given, nl.compute(entry.layer, shape))
        except (FieldError, ValueError):
            return row_values[number - 1]

    row_values = [layer_values(given, computed) for _, computed in rows]
    return Table(columns={name: answer_type(name) for name in PER_LAYER},
                 rows=row_values, labels=[str(entry.number) for entry, _ in rows],
                 carry=expected_row)


def previous_shape(given, previous):
    """The student's previous output shape, without the batch, if they wrote one."""
    shape = previous.get("output_shape")
    if shape is None:
        return None
    shape = tuple(shape)
    if given.batch_size and len(shape) in (2, 4) and shape[0] == given.batch_size:
        shape = shape[1:]
    return shape if len(shape) in (1, 3) else None


def shape_text(shape) -> str:
    return "×".join(map(str, shape))


# ---- the derivation -----------------------------------------------------------

CONVENTION = (
    "Shapes are written {layout}{batch}. Parameters are the learnable weights and biases. "
    r"Operation counts: each convolution output takes $(C_{{\text{{in}}}}/g) \cdot K_h \cdot K_w$ multiplications "
    r"and one addition fewer, plus one for the bias; each linear output takes $F_{{\text{{in}}}}$ multiplications "
    r"and $F_{{\text{{in}}}} - 1$ additions, plus the bias; padding zeros are multiplied like any entry. Average "
    "pooling adds its window and scales once per output; batch norm (at inference) scales and "
    "shifts each value once; max pooling, activations, dropout and flatten do no arithmetic. "
    "A MAC is one multiply-add of a convolution or linear layer, and FLOPs = 2 × MACs, as "
    "PyTorch's FLOP counter counts them. Neurons are the output values of a layer per example; "
    "the network's total counts those of its convolution and linear layers.")


def input_step(given) -> Step:
    batch_text = (f", with the batch of {given.batch_size} in front" if given.batch_size else "")
    text = CONVENTION.format(layout=LAYOUT_NAMES[given.layout], batch=batch_text)
    if given.batch_size:
        text += " Multiplications, additions, MACs and FLOPs are for the whole batch."
    return Step("Conventions", text, [[Symbol(r"\text{input}"), as_written(given, per_example(given, given.input_shape))]])


def runs(rows) -> list[list]:
    """Consecutive layers with the same configuration and parameter count, grouped."""
    groups = []
    for entry, computed in rows:
        last = groups[-1][-1] if groups else None
        if last and last[0].layer == entry.layer and last[1].weights == computed.weights \
                and not computed.inferred:
            groups[-1].append((entry, computed))
        else:
            groups.append([(entry, computed)])
    split = []
    for group in groups:
        split.extend([group] if len(group) >= IDENTICAL_RUN else [[row] for row in group])
    return split


def table_step(given, rows) -> Step:
    """One row per layer (per run of identical layers): number, name, shape(s), counts."""
    body = []
    for group in runs(rows):
        (first, c1), (last, c2) = group[0], group[-1]
        v1 = layer_values(given, c1)
        if len(group) == 1:
            body.append({"number": str(first.number), "name": first.name, "shapes": [v1["output_shape"]],
                         "counts": [v1["neurons"], v1["params"], v1["macs"]]})
            continue
        body.append({"number": f"{first.number}–{last.number}", "name": first.name,
                     "shapes": [v1["output_shape"], layer_values(given, c2)["output_shape"]],
                     "counts": [sum(c.neurons for _, c in group), Number(len(group)) * Number(v1["params"]),
                                sum(batch(given) * c.macs for _, c in group)]})
    text = "Each layer's output is the next layer's input."
    if any(len(group) > 1 for group in runs(rows)):
        text += (" Runs of identical layers (same configuration and the same parameters) share a row; "
                 "its neurons and MACs are the run's totals.")
    return Step("Layer by layer", text, layout="network.table", data={"rows": body})


WHY_INFERRED = {
    "in_channels": "a kernel spans every channel of its input",
    "in_features": "a linear layer takes every feature of its input",
    "num_features": "batch norm keeps one mean and variance per channel of its input",
}


def count_line(given, name, formula, values):
    """name = formula = numbers = result; operations are counted for the batch."""
    if given.batch_size and name in ("mults", "adds"):
        formula, values = nl.B * formula, dict(values, B=given.batch_size)
    return [Symbol(name, rf"\text{{{name}}}")] + nl.distinct_lines(formula, values)


def layer_steps(given, rows) -> list[Step]:
    steps = []
    previous = ("the network's input", per_example(given, given.input_shape))
    for group in runs(rows):
        entry, computed = group[0]
        steps.append(layer_step(given, entry, computed, previous))
        if len(group) > 1:
            steps.append(run_step(given, group))
        last_entry, last = group[-1]
        previous = (f"layer {last_entry.number}'s output", last.output_shape)
    return steps


def layer_step(given, entry, computed, source) -> Step:
    where, shape = source
    notes = [f"Its input is {where}, {shape_text(as_written(given, shape))}."]
    for name, value in computed.inferred.items():
        unit = "features" if name == "in_features" else "channels"
        notes.append(f"The {name} marked ? is {value}: {WHY_INFERRED[name]}, and {where} has {value:,} {unit}.")
    if computed.note:
        notes.append(computed.note)
    if not computed.size_lines and not computed.count_lines:
        notes.append("The shape is unchanged, and there is nothing to count.")
    lines = list(computed.size_lines)
    lines += [count_line(given, name, formula, values) for name, formula, values in computed.count_lines]
    if computed.macs:
        macs = batch(given) * computed.macs
        lines.append([Symbol("macs", r"\text{MACs}"), Symbol("mults", r"\text{mults}"), Number(macs)])
        lines.append([Symbol("flops", r"\text{FLOPs}"), Number(2) * Symbol("macs", r"\text{MACs}"),
                      Number(2) * Number(macs), Number(2 * macs)])
    return Step(f"Layer {entry.number}: {entry.name}", " ".join(notes), lines)


def run_step(given, group) -> Step:
    (first, c1), (second, c2), (last, c3) = group[0], group[1], group[-1]
    shapes = [shape_text(as_written(given, c.output_shape)) for c in (c1, c2, c3)]
    text = (f"Layers {second.number}–{last.number} are identical to layer {first.number}: the same "
            f"configuration on the same number of channels, so each has {c1.weights + c1.biases:,} "
            f"parameters. The same size formula applies to each in turn, so the output goes "
            f"{shapes[0]} → {shapes[1]} → … → {shapes[2]}.")
    return Step(f"Layers {second.number}–{last.number}", text)


def total_step(given, rows, values) -> Step:
    lines = []
    for name in COUNTS:
        terms = []
        for group in runs(rows):
            entry, computed = group[0]
            if name == "neurons" and not has_units(entry):
                continue
            per = [layer_values(given, c)[name] for _, c in group]
            if not any(per):
                continue
            if len(set(per)) == 1 and len(per) > 1:
                terms.append(Number(len(per)) * Number(per[0]))
            else:
                terms.extend(Number(v) for v in per if v)
        lines.append(total_line(name, terms, values[name]))
    text = ("The network's totals add up the layers' rows" +
            (" (neurons: those of the convolution and linear layers)." if values["neurons"] else "."))
    return Step("Totals", text, lines)


SUM_WIDTH = 90      # characters of LaTeX a sum may take on one line before it is cut short


def total_line(name, terms, total):
    """total = t1 + t2 + ... = result (runs of equal terms as n · t)."""
    head = Symbol(name, label(name))
    if sum(len(latex(t)) + 3 for t in terms) > SUM_WIDTH:
        terms = terms[:2] + [Symbol("dots", r"\cdots"), terms[-1]]
    if not terms:
        return [head, Number(0)]
    formula = terms[0]
    for term in terms[1:]:
        formula = formula + term
    return [head] + ([formula] if latex(formula) != latex(Number(total)) else []) + [Number(total)]


# ---- mistakes -----------------------------------------------------------------

def _reanalyzed(given, change) -> dict:
    try:
        return values_of(given, analyze(given, change))
    except (FieldError, ValueError, ZeroDivisionError):
        return {}


def _fields(**fields):
    """A layer changed by `fields`, on the same input."""
    return lambda layer, shape: (dataclasses.replace(layer, **fields), shape)


def _with_layer(alter, applies):
    """`alter(layer, shape)` every layer where `applies(layer)`."""
    def change(entry, layer, shape):
        return alter(layer, shape) if applies(layer) else (layer, shape)
    return change


def _in_one_layer(given, alter, applies, what) -> list:
    """The mistake made in one layer at a time, then in every layer: [(where, answers)].
    `alter(layer, shape)` gives the mistaken layer and the input it computes on."""
    cases = []
    for entry in given.layers:
        if applies(entry.layer):
            def change(e, layer, shape, target=entry.number):
                return alter(layer, shape) if e.number == target else (layer, shape)
            found = _reanalyzed(given, change)
            if found:
                cases.append((f"in layer {entry.number}, {entry.name}", found))
    if sum(1 for e in given.layers if applies(e.layer)) > 1:
        everywhere = _reanalyzed(given, _with_layer(alter, applies))
        if everywhere:
            cases.append((f"{what} in every layer", everywhere))
    return cases


def _padded(layer) -> bool:
    return isinstance(getattr(layer, "padding", None), nl.Pair) and tuple(layer.padding) != (0, 0)


def _padding_once(layer, shape):
    """H + P instead of H + 2P: no padding, on an input P longer (a convolution or pooling)."""
    c, h, w = shape
    return dataclasses.replace(layer, padding=nl.ZERO), (c, h + layer.padding.h, w + layer.padding.w)


def _strided(layer) -> bool:
    """A stride other than 1, given or (pooling) the kernel size by default."""
    if isinstance(layer, nl.MaxPool2d) and layer.stride is None:
        return tuple(layer.kernel_size) != (1, 1)
    return getattr(layer, "stride", None) is not None and tuple(layer.stride) != (1, 1)


def _last_window_kept(layer, shape):
    """ceil_mode's count without PyTorch's drop: ceil((n + 2P − K_eff)/S) + 1 is
    floor((n + S − 1 + 2P − K_eff)/S) + 1, so floor mode on an input S − 1 longer."""
    c, h, w = shape
    s = layer.stride or layer.kernel_size
    return dataclasses.replace(layer, ceil_mode=False), (c, h + s.h - 1, w + s.w - 1)


def _has_bias(layer):
    return getattr(layer, "bias", False) is True


def _bias_per_layer(given):
    rows = analyze(given)
    found = {}
    for entry, computed in rows:
        if computed.biases and not isinstance(entry.layer, nl.BatchNorm2d):
            found[f"biases[{entry.number}]"] = 1
            found[f"params[{entry.number}]"] = computed.weights + 1
    if not found:
        return {}
    real = values_of(given, rows)
    layers_with_bias = sum(1 for name in found if name.startswith("biases["))
    found["biases"] = real["biases"] - sum(real[n] for n in found if n.startswith("biases[")) + layers_with_bias
    found["params"] = real["weights"] + found["biases"]
    return found


def _kernel_depth(given, depth_of):
    """Weights as if every kernel's depth were depth_of(input channels)."""
    rows = analyze(given)
    found = {}
    for entry, computed in rows:
        if isinstance(entry.layer, nl.Conv2d):
            kh, kw = entry.layer.kernel_size
            weights = entry.layer.out_channels * depth_of(given) * kh * kw
            found[f"weights[{entry.number}]"] = found[f"params_without_bias[{entry.number}]"] = weights
            found[f"params[{entry.number}]"] = weights + computed.biases
    real = values_of(given, rows)
    if not found or all(found[k] == real[k] for k in found):
        return {}
    for total in ("weights", "params_without_bias", "params"):
        found[total] = real[total] + sum(found[k] - real[k] for k in found if k.startswith(total + "["))
    return found


def _pools_before_flatten(layers) -> set[int]:
    """The pooling layers a flatten follows (with only activations or dropout between)."""
    pools, pending = set(), []
    for entry in layers:
        if isinstance(entry.layer, nl.MaxPool2d):        # average pooling too
            pending.append(entry.number)
        elif isinstance(entry.layer, nl.Flatten):
            pools.update(pending)
        if not isinstance(entry.layer, (nl.MaxPool2d, nl.Activation, nl.Dropout)):
            pending = []
    return pools


def _flatten_before_pooling(given):
    """The flattened size taken from the shape before the pooling in front of it."""
    skipped = _pools_before_flatten(given.layers)
    if not skipped:
        return {}

    def change(entry, layer, shape):
        return (nl.Activation() if entry.number in skipped else layer), shape
    found = _reanalyzed(given, change)
    return {name: v for name, v in found.items() if name.partition("[")[2][:-1] not in map(str, skipped)}


def _layout_swapped(given):
    other = "chw" if given.layout == "hwc" else "hwc"
    swapped = dataclasses.replace(given, layout=other, input_shape=as_written_input(given, other))
    found = _reanalyzed(swapped, None)
    return {k: v for k, v in found.items() if k.startswith("output_shape")}


def as_written_input(given, layout):
    c, *rest = per_example(given, given.input_shape) if len(given.input_shape) == 3 else (None,)
    if c is None:
        return given.input_shape
    h, w = rest
    return (h, w, c) if layout == "hwc" else (c, h, w)


def _macs_flops_swapped(given):
    values = values_of(given, analyze(given))
    found = {}
    for name, v in values.items():
        base, _, index = name.partition("[")
        if base == "macs":
            found[name] = values["flops" + (f"[{index}" if index else "")]
        elif base == "flops":
            found[name] = values["macs" + (f"[{index}" if index else "")]
    return found


MISTAKES = [
    shared_mistake("bias_forgotten", lambda g: _reanalyzed(g, _with_layer(_fields(bias=False), _has_bias))),
    shared_mistake("bias_counted", lambda g: _in_one_layer(g, _fields(bias=True), lambda layer: getattr(
        layer, "bias", True) is False, "biases counted")),
    shared_mistake("bias_per_layer", _bias_per_layer),
    shared_mistake("in_channels_ignored", lambda g: _kernel_depth(g, lambda _: 1)),
    shared_mistake("image_channels_everywhere",
                   lambda g: _kernel_depth(g, lambda given: per_example(given, given.input_shape)[0])),
    shared_mistake("padding_forgotten", lambda g: _in_one_layer(
        g, _fields(padding=nl.ZERO), lambda layer: getattr(layer, "padding", nl.ZERO) not in (nl.ZERO, "valid"),
        "padding left out")),
    shared_mistake("padding_once", lambda g: _in_one_layer(
        g, _padding_once, lambda layer: _padded(layer) and not isinstance(layer, nl.ConvTranspose2d),
        "padding on one side")),
    shared_mistake("stride_ignored", lambda g: _in_one_layer(g, _fields(stride=nl.ONE), _strided, "stride 1")),
    shared_mistake("ceil_window_kept", lambda g: _in_one_layer(
        g, _last_window_kept, lambda layer: getattr(layer, "ceil_mode", False), "last window kept")),
    Mistake("flatten_before_pooling", "The flattened size was taken before the pooling: flatten the "
            "pooled output.", _flatten_before_pooling),
    Mistake("layout_swapped", "The shape is written in the other order (C×H×W and H×W×C swapped); "
            "keep the order the problem uses.", _layout_swapped),
    Mistake("macs_flops_swapped", "MACs and FLOPs are swapped: one multiply-add is one MAC and two FLOPs.",
            _macs_flops_swapped),
]
