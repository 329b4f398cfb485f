"""conv_cost: parameters, multiplications and additions of standard, grouped,
depthwise, pointwise and depthwise-separable convolution, compared.

Every count is a formula tree in the letters B, C, N, g, m, K, H_out, W_out;
the derivation prints it, then with the problem's values put in, then its
value. The answers are those values, so the two cannot disagree. A mistake
re-counts under `Rules` with one rule (or the given's bias) changed.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..answers.types import answer_type
from ..core.errors import FieldError
from ..core.fields import ONE, ZERO, Pair, boolean, count_or_symbol, given_field, optional, pair
from ..math.nodes import Formula, Fraction_, Group, Number, Squared, Symbol
from ..math.notation import named_words, quantity, words
from ..math.printing import node_latex
from ..core.model import Answer, Step
from .sizes import Axis, conv_length, distinct
from .base import Kind
from .common import padding_amounts, read_padding
from .counting import conv_counts, times
from .mistakes import Change, Mistake, shared

VARIANTS = {
    "standard": "the standard convolution (K×K, C to N channels)",
    "grouped": "the grouped convolution (groups g); only when groups is not 1",
    "depthwise": "the depthwise convolution (K×K, groups C, C·m outputs, m = depth_multiplier)",
    "pointwise": "the pointwise convolution (1×1, C·m to N channels)",
    "separable": "the depthwise-separable convolution (depthwise then pointwise)",
}
COUNTS = {"params": "weights + biases", "params_without_bias": "weights",
          "mults": "multiplications (= MACs)", "adds": "additions"}
COUNT_WORDS = {"params": "params", "params_without_bias": "params without bias",
               "mults": "multiplications", "adds": "additions"}
OPERATIONS = ("mults", "adds")
ANSWERS = {f"{variant}_{count}": f"{what} of {desc}" + ("; needs input_size" if count in OPERATIONS else "")
           for variant, desc in VARIANTS.items() for count, what in COUNTS.items()}
ANSWERS.update(params_ratio="separable params / standard params, simplified",
               mults_ratio="separable mults / standard mults, simplified (needs input_size)")
# Where a problem gives no `vary`, a variant redraws these fields, but only those the
# statement shows as {{ field }} (solver/variants.py); a draw the kind refuses is redrawn.
VARY = {
    "in_channels": [3, 8, 16, 32, 64, 128],
    "out_channels": [8, 16, 32, 64, 128, 256],
    "kernel_size": [1, 3, 5, 7],
    "input_size": [7, 14, 28, 32, 56, 64, 112, 224],
    "stride": [1, 2],
    "groups": [2, 4, 8],
    "depth_multiplier": [1, 2, 4],
    "batch_size": [1, 8, 16, 32, 64],
}


@dataclass(frozen=True, kw_only=True)
class Given:
    in_channels: Any = given_field(count_or_symbol, dataclasses.MISSING, "input channels C")
    out_channels: Any = given_field(count_or_symbol, dataclasses.MISSING, "output channels (filters) N")
    kernel_size: Pair = given_field(pair(1, True), dataclasses.MISSING, "K, or [Kh, Kw]")
    input_size: Any = given_field(optional(pair(1, True)), None,
                                  "H, or [H, W]; needed for multiplications and additions")
    stride: Pair = given_field(pair(1, True), ONE, "step between windows (default 1)")
    padding: Any = given_field(read_padding, ZERO, "zeros added on each side, 'same' or 'valid' (default 0)")
    groups: Any = given_field(count_or_symbol, 1, "groups g of the grouped convolution (default 1: none)")
    depth_multiplier: Any = given_field(count_or_symbol, 1,
                                        "filters per channel m of the depthwise step (default 1)")
    batch_size: Any = given_field(count_or_symbol, 1, "inputs in the batch B (default 1)")
    bias: bool = given_field(boolean, True, "every filter has a bias (default true, as in PyTorch)")


def validate(given: Given):
    check_groups_divide(given)
    if given.padding == "same" and tuple(given.stride) != (1, 1):
        raise FieldError("padding", "'same' requires stride 1 (as in PyTorch)")
    if given.input_size is not None and given.padding != "same":
        check_kernel_fits(given)


def check_groups_divide(given):
    g = given.groups
    channels = {"in_channels": given.in_channels, "out_channels": given.out_channels}
    undivided = [f"{name} ({c})" for name, c in channels.items()
                 if isinstance(g, int) and isinstance(c, int) and c % g]
    if undivided:
        raise FieldError("groups", f"is {g}, which must divide in_channels ({given.in_channels}) and "
                                   f"out_channels ({given.out_channels}); it does not divide "
                                   f"{' or '.join(undivided)}")


def check_kernel_fits(given):
    for a, axis in enumerate(axes(given)):
        if all(isinstance(v, int) for v in (axis.n, axis.k, axis.s, axis.before)):
            if conv_length(axis)[0] < 1:
                padded, lines = axis.n + 2 * axis.before, "rows" if a == 0 else "columns"
                raise FieldError("kernel_size", f"is {axis.k} but the padded input has only {padded} {lines}; "
                                                "the kernel must fit inside the padded input")


# ---- output size ----------------------------------------------------------

H_OUT, W_OUT = quantity("H_out", "H_o"), quantity("W_out", "W_o")


def axes(given) -> list[Axis]:
    result = []
    for a in range(2):
        before, after = padding_amounts(given.padding, given.kernel_size[a], 1, a)
        result.append(Axis(n=given.input_size[a], k=given.kernel_size[a], s=given.stride[a],
                           before=before, after=after, letter="HW"[a]))
    return result


def output_sizes(given) -> list[tuple[Any, list]]:
    """(size, derivation lines) per axis; 'same' with stride 1 keeps the input size."""
    if given.padding == "same":
        return [(n, distinct([Symbol(letter), Number(n)])) for n, letter in zip(given.input_size, "HW")]
    return [conv_length(axis) for axis in axes(given)]


def square_output(given) -> bool:
    """Both axes give the same size by the same computation: show one line."""
    if given.padding == "same":
        return given.input_size.h == given.input_size.w
    height, width = axes(given)
    return height == width


def size_step(given, sizes) -> Step:
    if given.padding == "same":
        text = "Padding 'same' with stride 1 keeps the input size."
    else:
        text = ("PyTorch's output size per axis (input length H, padding P, kernel size K, stride S, "
                "dilation D = 1). Padding and stride change only this size: they change the "
                "operation counts, never the parameter counts.")
    if square_output(given):
        return Step("Output size", text, [[H_OUT, W_OUT] + sizes[0][1]])
    return Step("Output size", text, [[name] + lines for name, (_, lines) in zip((H_OUT, W_OUT), sizes)])


# ---- formulas -------------------------------------------------------------

B, C, N, G, M = Symbol("B"), Symbol("C"), Symbol("N"), Symbol("g"), Symbol("m")
K, KH, KW = Squared("K"), Symbol("K_h"), Symbol("K_w")


def shown(letter, value):
    """A letter whose value is 1 (a batch of one, depth multiplier 1) is left out."""
    return None if value == 1 else letter


@dataclass(frozen=True)
class Layer:
    """One convolution of the comparison, in letters."""
    name: str
    intro: str
    filters: Formula            # output channels: one filter each
    depth: Formula              # channels each filter sees (C_in/groups)
    c_in: Formula               # the layer's input channels (what a wrong depth ignores groups for)
    area: Formula | None        # taps per channel; None for 1×1
    sum_text: str               # the products summed in one output element, in words


def layers(given) -> dict[str, Layer]:
    square = given.kernel_size.scalar
    area, k = (K, "K×K") if square else (times(KH, KW), "K_h×K_w")
    taps = "K·K" if square else "K_h·K_w"
    m = shown(M, given.depth_multiplier)
    cm, cm_text = times(C, m), "C·m" if m else "C"
    result = {"standard": Layer(
        "standard", f"Each of the N filters is C×{k}, one {k} slice per input channel.",
        N, C, C, area, f"C·{taps}")}
    if has_groups(given):
        result["grouped"] = Layer(
            "grouped", f"The C input channels and the N filters are split into g groups; each of the "
            f"N/g filters of a group sees only the C/g channels of its group, so it is (C/g)×{k}, and "
            f"there are g·(N/g) = N filters: g times fewer weights than the standard convolution.",
            N, Group(Fraction_(C, G)), C, area, f"(C/g)·{taps}")
    result["depthwise"] = Layer(
        "depthwise", f"With groups = C, every input channel gets its own "
        f"{'m filters' if m else 'filter'} of depth 1, each {k}: {cm_text} output channels.",
        cm, Number(1), C, area, taps)
    result["pointwise"] = Layer(
        "pointwise", f"A 1×1 convolution from the {cm_text} depthwise outputs to N "
        f"channels, with stride 1 and no padding, so it keeps the size H_out×W_out: each of the N "
        f"filters is {'(C·m)' if m else 'C'}×1×1.", N, cm, cm, None, cm_text)
    return result


def has_groups(given) -> bool:
    return given.groups != 1


@dataclass(frozen=True)
class Rules:
    """How counting is done. Rules() is the convention; each mistake changes one rule."""
    kernel_depth: str = "input"     # C_in/g per filter; "ungrouped": C_in; "one": depth 1 (in_channels ignored)
    bias_per_filter: bool = True    # False: one bias per layer
    adds_minus_one: bool = True     # False: n products summed with n additions
    mults_per_mac: int = 1          # 2: FLOPs (two per multiply-add) given as multiplications
    output_size: bool = True        # False: operations counted over the input size

    def depth(self, layer):
        return {"input": layer.depth, "ungrouped": layer.c_in, "one": Number(1)}[self.kernel_depth]


RULES = Rules()


def layer_formulas(layer, given, rules) -> dict[str, Formula]:
    """params, params_without_bias and (with an input size) mults and adds, in letters."""
    elements = times(shown(B, given.batch_size), layer.filters, H_OUT, W_OUT)
    counts = conv_counts(layer.filters, rules.depth(layer), layer.area, elements, Number(1) if given.bias else None,
                         rules.adds_minus_one, rules.mults_per_mac)
    weights = counts["weights"]
    biases = layer.filters if rules.bias_per_filter else Number(1)
    formulas = {"params": weights + biases if given.bias else weights, "params_without_bias": weights}
    if given.input_size is not None:
        formulas.update(mults=counts["mults"], adds=counts["adds"])
    return formulas


def all_formulas(given, rules) -> dict[str, dict[str, Formula]]:
    """Per variant, per count; the separable one is the sum of its two steps."""
    formulas = {name: layer_formulas(layer, given, rules) for name, layer in layers(given).items()}
    depthwise, pointwise = formulas["depthwise"], formulas["pointwise"]
    formulas["separable"] = {count: depthwise[count] + pointwise[count] for count in depthwise}
    return formulas


def letter_values(given, sizes_used) -> dict:
    values = {"B": given.batch_size, "C": given.in_channels, "N": given.out_channels, "g": given.groups,
              "m": given.depth_multiplier, "K": given.kernel_size.h, "K_h": given.kernel_size.h,
              "K_w": given.kernel_size.w}
    if sizes_used is not None:
        values.update(H_o=sizes_used[0], W_o=sizes_used[1])
    return values


def sizes_counted(given, rules):
    """The H_out, W_out the operations are counted over (None without an input size)."""
    if given.input_size is None:
        return None
    return tuple(given.input_size) if not rules.output_size else tuple(s for s, _ in output_sizes(given))


# ---- values ---------------------------------------------------------------

def ratio(a, b):
    """a/b exactly: a Fraction for numbers, the simplest sympy form for formulas."""
    if isinstance(a, int) and isinstance(b, int):
        return Fraction(a, b)
    import sympy
    cancelled = sympy.cancel(a / b)
    return min([sympy.expand(cancelled), sympy.factor(cancelled), cancelled], key=sympy.count_ops)


def tidy(value):
    """A symbolic product with its common factors pulled together; sums stay
    sums (depthwise + pointwise reads better than one factored polynomial)."""
    if isinstance(value, int) or value.is_Add:
        return value
    import sympy
    return sympy.factor_terms(value)


def shown_values(letters) -> dict:
    """The letters the derivation puts values in for: numbers and plain symbols.
    A size like floor((H + 2P - 3)/S) + 1 stays H_out until the result."""
    return {name: v for name, v in letters.items() if isinstance(v, int) or v.is_Symbol}


def counted(given, rules) -> dict[str, Any]:
    """Every answer's value under `rules`."""
    values = letter_values(given, sizes_counted(given, rules))
    result = {f"{variant}_{count}": tidy(formula.substitute(values).value())
              for variant, per_count in all_formulas(given, rules).items()
              for count, formula in per_count.items()}
    result["params_ratio"] = ratio(result["separable_params"], result["standard_params"])
    if given.input_size is not None:
        result["mults_ratio"] = ratio(result["separable_mults"], result["standard_mults"])
    return result


def answer_order(values) -> list[str]:
    order = [f"{v}_{c}" for v in VARIANTS for c in COUNTS] + ["params_ratio", "mults_ratio"]
    return [name for name in order if name in values]


def make_answer(name, value) -> Answer:
    if name.endswith("_ratio"):
        kind = "rational" if isinstance(value, Fraction) else "expression"
        count = name.split("_")[0]
        label = node_latex(Fraction_(named_words(f"separable {count}"), named_words(f"standard {count}")))
    else:
        kind = "integer" if isinstance(value, int) else "expression"
        variant, count = name.split("_", 1)
        label = words(f"{variant} {COUNT_WORDS[count]}")
    return Answer(name, kind, value, label)


# ---- the derivation -------------------------------------------------------

LINE_LABELS = {"params_without_bias": "weights", "params": "params", "mults": "mults", "adds": "adds"}


def derivation_lines(formula, values, result) -> list:
    return distinct([formula, formula.substitute(values), Number(result)])


def convention_step(given) -> Step:
    text = ("Take a convolution from C_in to C_out channels with g groups and a K_h×K_w kernel. "
            "Each filter sees C_in/g channels, so the layer has C_out · (C_in/g) · K_h · K_w weights "
            "and, with a bias, one bias per filter: C_out biases. Each output element is a sum of "
            "(C_in/g) · K_h · K_w products, so it takes that many multiplications and one fewer "
            "additions, plus one addition for the bias. Totals multiply by the number of output "
            "elements, B · C_out · H_out · W_out. Padding zeros are multiplied like any other entry, "
            "as PyTorch does. A MAC is one multiply-add, so the MACs equal the multiplications; "
            "FLOPs = 2 · MACs.")
    if given.input_size is None:
        text += (" No input size is given, so only parameters are counted: they depend on neither "
                 "the input size nor the padding or stride.")
    elif given.batch_size == 1:
        text += " There is one input (B = 1), so B is left out of the formulas."
    if not given.bias:
        text += " The layers have no bias here, so the parameters are the weights."
    return Step("Counting convention", text)


def variant_step(layer, given, formulas, values, answers) -> Step:
    text = layer.intro
    if given.input_size is not None:
        n = layer.sum_text
        text += (f" Each output element is a sum of {n} products: {n} multiplications and {n} - 1 "
                 f"additions{', plus 1 addition for the bias' if given.bias else ''}.")
    return Step(f"{layer.name.capitalize()} convolution", text,
                count_lines(layer.name, given, formulas, values, answers))


def count_lines(variant, given, formulas, values, answers) -> list:
    names = ["params_without_bias"] + (["params"] if given.bias else []) + \
        [c for c in OPERATIONS if c in formulas]
    # Without a bias the weights are the params: the one line says so.
    label = dict(LINE_LABELS, params_without_bias=LINE_LABELS["params_without_bias" if given.bias else "params"])
    return [[named_words(name, label[name])]
            + derivation_lines(formulas[name], values, answers[f"{variant}_{name}"].value) for name in names]


def separable_step(given, formulas, values, answers) -> Step:
    text = ("The depthwise convolution followed by the pointwise one. "
            "Like the standard convolution it maps C channels to N channels of size H_out×W_out; "
            "each of its counts is the depthwise count plus the pointwise count.")
    return Step("Depthwise-separable convolution", text,
                count_lines("separable", given, formulas, values, answers))


def comparison_step(given, answers) -> Step:
    counts = ["params"] + [c for c in OPERATIONS if given.input_size is not None]
    rows = [{"name": variant, "counts": [answers[f"{variant}_{c}"].value for c in counts]}
            for variant in VARIANTS if f"{variant}_params" in answers]
    return Step("Comparison", "The variants side by side (params include the biases when there are any).",
                layout="conv_cost.table", data={"columns": [COUNT_WORDS[c] for c in counts], "rows": rows})


def ratio_step(given, formulas, values, answers) -> Step:
    counts = ["params"] + (["mults"] if given.input_size is not None else [])
    ratios = [answers[f"{count}_ratio"] for count in counts]
    lines = [[Symbol(r.name, r.label)] + derivation_lines(
        Fraction_(formulas["separable"][count], formulas["standard"][count]), values, r.value)
        for count, r in zip(counts, ratios)]
    text = "The separable convolution over the standard one."
    if not any(answer_type(r.type).symbolic for r in ratios):      # numbers, not formulas
        shares = [f"{float(r.value):.1%} of the {COUNT_WORDS[c]}" for c, r in zip(counts, ratios)]
        text += f" The separable convolution needs {' and '.join(shares)} of the standard one."
    return Step("Ratios", text, lines)


def steps(given, answers) -> list[Step]:
    formulas = all_formulas(given, RULES)
    letters = shown_values(letter_values(given, sizes_counted(given, RULES)))
    derivation = [convention_step(given)]
    if given.input_size is not None:
        derivation.append(size_step(given, output_sizes(given)))
    derivation += [variant_step(layer, given, formulas[name], letters, answers)
                   for name, layer in layers(given).items()]
    return derivation + [separable_step(given, formulas["separable"], letters, answers),
                         comparison_step(given, answers), ratio_step(given, formulas, letters, answers)]


# ---- mistakes -------------------------------------------------------------

def separable_part_only(given) -> list[tuple[str, dict]]:
    """The separable counts taken as the depthwise step's alone, or the pointwise step's."""
    right = counted(given, RULES)
    cases = []
    for part in ("depthwise", "pointwise"):
        found = {f"separable_{count}": right[f"{part}_{count}"] for count in COUNTS if f"{part}_{count}" in right}
        found.update({f"{count}_ratio": ratio(found[f"separable_{count}"], right[f"standard_{count}"])
                      for count in ("params", "mults") if f"{count}_ratio" in right})
        cases.append((f"only the {part} part", {name: v for name, v in found.items() if v != right[name]}))
    return cases


class ConvCost(Kind):
    name = "conv_cost"
    summary = ("parameters, multiplications and additions of standard, grouped, depthwise, pointwise "
               "and depthwise-separable convolution, compared")
    answers = ANSWERS
    vary = VARY
    Given, Rules = Given, Rules
    changes_only = True
    mistakes = [
        shared("bias_forgotten", given=lambda g: {"bias": False}, applies=lambda g: g.bias),
        "bias_counted", "bias_per_layer", "in_channels_ignored",
        Mistake("separable_part_only", "This counts only one part of the depthwise-separable convolution: it is "
                "the depthwise convolution followed by the pointwise one, so each of its counts is the "
                "depthwise count plus the pointwise count.", separable_part_only),
        Change("groups_not_dividing_depth", "With g groups each filter sees only C/g input channels, so "
               "its depth is C/g (1 for a depthwise convolution): the weights and multiplications are "
               "g times fewer than N·C·K·K.", rules={"kernel_depth": "ungrouped"}),
        Change("adds_minus_one_forgotten", "Summing n products takes n - 1 additions, not n: each output "
               "element needs (C/g)·K·K - 1 additions, plus one for the bias.", rules={"adds_minus_one": False}),
        Change("flops_as_mults", "This is twice the number of multiplications: it counts FLOPs, 2 per "
               "multiply-add (PyTorch's FLOP counter convention). A MAC is one multiply-add, so the "
               "multiplications equal the MACs.", rules={"mults_per_mac": 2}),
        Change("output_size_ignored", "The operations were counted over the input size H×W; there is one "
               "output element per window position, H_out×W_out, which padding and stride change.",
               rules={"output_size": False}),
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        values = counted(given, rules)
        return {name: make_answer(name, values[name]) for name in answer_order(values)}

    def derive(self, given, answers) -> list[Step]:
        return steps(given, answers)


KIND = ConvCost()
