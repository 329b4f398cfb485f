"""mlp: a small fully connected network evaluated by hand, input by input, and
whether a target truth table is linearly separable.

Conventions, stated in the derivation:
- Layer k computes z(k) = W(k) a(k-1) + b(k), then a(k) = f(z(k)), from a(0) = x.
  As in PyTorch's nn.Linear, W has one row per unit (units × inputs); a bias
  given as one number is every unit's.
- step(z) is 1 for z > 0 and 0 for z < 0; step(0) is `step_at_zero`: 1 unless
  the problem says 0 (torch.heaviside(z, 1)).
- The network implements the target when every output equals its target; with
  a `threshold` t, an output y counts as step(y - t) (1 where y >= t).
- `linearly_separable` is answered where the target is one column of 0s and 1s
  and the network has at most one layer (no layers: the problem is only about
  the target). It says whether some w, b give step(w·x + b) = target on every
  input, decided exactly by the simplex method over Fractions: either a
  separating (w, b) is found and checked input by input, or nonnegative weights
  under which the target-1 inputs and the target-0 inputs have the same average
  (their convex hulls meet); those weights add the inputs' conditions on w, b up
  to a contradiction, as in the classic argument that no line separates XOR.
Numbers given as decimals are read exactly (0.1 is 1/10); sigmoid and tanh give floats.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, choice, given_field, number, optional, read_given
from ...math.activations import ACTIVATIONS as FUNCTIONS
from ...math.nodes import Apply, Array, Formula, Group, Negative, Number, Product, Relation, Sum, Symbol
from ...math.notation import at_layer, subscripted, words
from ...math.printing import float_latex, latex
from ...core.model import Answer, Step
from ..base import Kind
from ..common import exact
from ..mistakes import Change, Places

SUMMARY = ("a small fully connected network on given inputs, layer by layer; whether it implements "
           "a target truth table; whether the target is linearly separable")
ANSWERS = {
    "outputs": "the network's outputs: one row per input, one column per output unit",
    "implements_target": "yes if every output equals its target (after the threshold, if one is given)",
    "linearly_separable": "yes if one linear layer with a step can output the target "
                          "(a 0/1 target, with no layers or one)",
}
# A variant draws a new truth table for the same inputs: the weights sit in the
# statement's prose (a sheet shows only the given matrices), so they stay.
VARY = {"target": {}}
ACTIVATIONS = ("relu", "step", "sigmoid", "tanh", "identity", "abs")
MAX_INPUTS = 64           # keeps the exact simplex method fast
INPUTS_IN_FULL = 8        # more inputs: the first few in full, every one in the table
INPUTS_IN_FULL_WHEN_MANY = 4


# ---- reading ------------------------------------------------------------------

def exact_number(name, x):
    """A decimal as the exact fraction it spells (0.1 is 1/10), so step(0) is never a rounding."""
    if isinstance(x, float):
        if not math.isfinite(x):
            raise FieldError(name, f"must contain only finite numbers; found {x!r}")
        return exact(Fraction(repr(x)))
    return x


def exact_numbers(read):
    """`read`, with every number of the array it returns made exact."""
    def read_exact(name, value):
        out = read(name, value)
        for index, x in np.ndenumerate(out):
            out[index] = exact_number(name, x)
        return out
    return read_exact


def read_number(name, value):
    return exact_number(name, number(name, value))


def read_bit(name, value):
    if isinstance(value, bool) or value not in (0, 1):
        raise FieldError(name, f"must be 0 or 1, got {value!r}")
    return value


def read_bias(name, value):
    """One number for every unit, or a list with one per unit."""
    values = value if isinstance(value, list) else [value]
    return tuple(exact_numbers(array((1,), "a number, or a list of numbers with one per unit"))(name, values))


@dataclass(frozen=True, kw_only=True)
class Layer:
    weight: Any = given_field(exact_numbers(array((1, 2), "a matrix with one row per unit (units × inputs)")),
                              dataclasses.MISSING, "W, one row per unit and one column per input (as nn.Linear)")
    bias: tuple = given_field(read_bias, (0,), "b, one number per unit or one for all (default 0)")
    activation: str = given_field(choice(*ACTIVATIONS), "identity",
                                  f"f, one of {', '.join(ACTIVATIONS)} (default identity)")

    @property
    def units(self) -> int:
        return self.weight.shape[0]


def read_layers(name, value):
    if not isinstance(value, list) or not value:
        raise FieldError(name, "must be a non-empty list of layers, each {weight: ..., bias: ..., "
                               "activation: ...}; leave it out when the problem is only about the target")
    return tuple(read_layer(f"{name}[{k}]", raw) for k, raw in enumerate(value, start=1))


def read_layer(where: str, raw) -> Layer:
    if not isinstance(raw, dict):
        raise FieldError(where, f"must be a mapping {{weight: ..., bias: ..., activation: ...}}; got {raw!r}")
    try:
        layer = read_given(Layer, raw, "mlp layer")
    except FieldError as error:
        raise FieldError(f"{where}.{error.field}", error.detail) from None
    weight = layer.weight if layer.weight.ndim == 2 else layer.weight[None]     # one row: one unit
    units = weight.shape[0]
    if len(layer.bias) not in (1, units):
        raise FieldError(f"{where}.bias", f"has {len(layer.bias)} numbers, but the layer has {units} units "
                                          "(rows of its weight): give one per unit, or one for all")
    return dataclasses.replace(layer, weight=weight, bias=layer.bias * (units // len(layer.bias)))


@dataclass(frozen=True, kw_only=True)
class Given:
    layers: tuple = given_field(read_layers, (),
                                "the layers in order, each {weight: W, bias: b, activation: f} with f one of "
                                f"{', '.join(ACTIVATIONS)}; leave out to ask only whether the target is "
                                "linearly separable")
    inputs: Any = given_field(exact_numbers(array((2,), "a list of input vectors, e.g. [[0, 0], [0, 1], "
                                                        "[1, 0], [1, 1]]")),
                              dataclasses.MISSING, "the input vectors, one per row")
    target: Any = given_field(optional(exact_numbers(array((1, 2), "one target per input: a list of numbers, "
                                                                   "or of lists for several outputs"))),
                              None, "the truth table: one target per input (a list per input for several outputs)")
    threshold: Any = given_field(optional(read_number), None,
                                 "t: an output y counts as step(y - t) when compared with the target")
    step_at_zero: int = given_field(read_bit, 1, "step(0): 1 (default, torch.heaviside(z, 1)) or 0")

    def shown_arrays(self) -> list[tuple[str, Any]]:
        """What a sheet shows of the given (a statement cannot show a matrix): the inputs, the
        target, and each layer's weights, biases and activation."""
        shown = [(words("inputs"), self.inputs)] + ([(words("target"), self.target)] if self.target is not None else [])
        z = Symbol("z")
        for k, layer in enumerate(self.layers, start=1):
            shown += [(at_layer("W", k), layer.weight), (at_layer("b", k), np.array(layer.bias, dtype=object)),
                      (latex(Apply(Symbol(at_layer("f", k)), z)), Apply(layer.activation, z))]
        return shown


def validate(given: Given):
    if len(given.inputs) > MAX_INPUTS:
        raise FieldError("inputs", f"has {len(given.inputs)} inputs; at most {MAX_INPUTS} are supported")
    check_chain(given)
    check_target(given)
    if given.threshold is not None and given.target is None:
        raise FieldError("threshold", "is only used to compare the outputs with a `target`; give the target too")


def check_chain(given):
    """Each weight has one column per output of the layer before (per input entry for layer 1)."""
    width = given.inputs.shape[1]
    for k, layer in enumerate(given.layers, start=1):
        columns = layer.weight.shape[1]
        if columns != width and k == 1:
            raise FieldError("inputs", f"are vectors of {width} entries, but layers[1].weight has {columns} "
                                       f"columns: it takes inputs of {columns} entries")
        if columns != width:
            raise FieldError(f"layers[{k}].weight", f"has {columns} columns, but layer {k - 1} has {width} "
                                                    f"units (rows of layers[{k - 1}].weight); they must match")
        width = layer.units


def check_target(given):
    if given.target is None:
        if not given.layers:
            raise FieldError("target", "is required when there are no layers: the problem then asks whether "
                                       "the target is linearly separable")
        return
    rows = given.target.shape[0]
    if rows != len(given.inputs):
        raise FieldError("target", f"has {rows} entries, but there are {len(given.inputs)} inputs; "
                                   "give one target per input")
    width = 1 if given.target.ndim == 1 else given.target.shape[1]
    if given.layers and width != given.layers[-1].units:
        raise FieldError("target", f"has {width} value(s) per input, but the network has "
                                   f"{given.layers[-1].units} output unit(s)")
    if not given.layers and not binary_column(given.target):
        raise FieldError("target", "must be one 0 or 1 per input when there are no layers: the problem then "
                                   "asks whether the target is linearly separable")


def binary_column(target) -> bool:
    return (target.ndim == 1 or target.shape[1] == 1) and all(t in (0, 1) for t in target.flat)


# ---- the forward pass -------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """mlp's conventions, PyTorch's by default; a mistake changes one."""
    bias_after_activation: bool = False     # z = W a + b, then f(z) (True: f(W a) + b)


RULES = Rules()


def activate(name: str, z, at_zero: int):
    """f(z); step(0) is the problem's `step_at_zero` (torch.heaviside(z, step_at_zero))."""
    if name == "step":
        return at_zero if z == 0 else int(z > 0)
    return FUNCTIONS[name].value(z)


@dataclass
class Pass:
    """One layer applied to one input: what it takes, z = W a + b, and f(z)."""
    layer: Layer
    input: np.ndarray
    z: np.ndarray
    a: np.ndarray


def forward(given, x, bias_after_activation=False) -> list[Pass]:
    passes, a = [], x
    for layer in given.layers:
        z = layer.weight.dot(a)
        bias = np.array(layer.bias, dtype=object)
        if not bias_after_activation:
            z = z + bias
        activated = np.array([activate(layer.activation, v, given.step_at_zero) for v in z], dtype=object)
        if bias_after_activation:
            activated = activated + bias
        passes.append(Pass(layer, a, exact_vector(z), exact_vector(activated)))
        a = passes[-1].a
    return passes


def exact_vector(v) -> np.ndarray:
    return np.array([exact(x) for x in v], dtype=object)


def as_table(rows) -> np.ndarray:
    """One row per input (a student's flat list of single outputs is read as a column too)."""
    table = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        table[i] = row
    return table


def decision(given, y):
    """What an output counts as against the target: itself, or step(y - t) with a threshold."""
    if given.threshold is None:
        return y
    return activate("step", y - given.threshold, given.step_at_zero)


# ---- solving --------------------------------------------------------------------

def computed(given, rules: Rules) -> dict[str, Answer]:
    answers = {}
    if given.layers:
        runs = [forward(given, x, rules.bias_after_activation) for x in given.inputs]
        answers["outputs"] = Answer("outputs", "matrix", as_table([run[-1].a for run in runs]), "y")
        if given.target is not None:
            answers["implements_target"] = Answer("implements_target", "boolean", not failures(given, runs),
                                                  words("implements the target"))
    if separability_asked(given):
        separable = separating_hyperplane(*points_and_labels(given)) is not None
        answers["linearly_separable"] = Answer("linearly_separable", "boolean", separable,
                                               words("linearly separable"))
    return answers


def derivation(given) -> list[Step]:
    steps = []
    if given.layers:
        runs = [forward(given, x) for x in given.inputs]
        steps += [convention_step(given), forward_step(given, runs), table_step(given, runs)]
        if given.target is not None:
            steps.append(target_step(given, runs))
    if separability_asked(given):
        steps += separability(given)
    return steps


def separability_asked(given) -> bool:
    return given.target is not None and len(given.layers) <= 1 and binary_column(given.target)


DEFINITIONS = {
    "identity": "identity: a = z",
    "relu": "ReLU(z) = max(0, z)",
    "step": "step(z) = 1 for z > 0, 0 for z < 0, and step(0) = {at_zero}",
    "sigmoid": "sigmoid(z) = 1/(1 + exp(-z))",
    "tanh": "tanh(z) = (exp(z) - exp(-z))/(exp(z) + exp(-z))",
    "abs": "abs(z), the absolute value of z",
}


def convention_step(given) -> Step:
    used = dict.fromkeys(layer.activation for layer in given.layers)
    text = ("Layer k multiplies the previous layer's output a(k-1) (the input x for layer 1) by its weight "
            "matrix, which has one row per unit as in PyTorch's nn.Linear, adds its bias, and applies its "
            "activation f to every entry. Activations here: "
            + "; ".join(DEFINITIONS[name].format(at_zero=given.step_at_zero) for name in used) + ".")
    if given.threshold is not None:
        text += (f" Against the target, an output y counts as step(y - t) with t = {plain(given.threshold)}: "
                 f"1 where y {'≥' if given.step_at_zero else '>'} t, else 0.")
    z = Symbol(at_layer("z", "k"))
    return Step("Convention", text, [
        [z, Symbol(at_layer("W", "k")) * Symbol(at_layer("a", "k-1")) + Symbol(at_layer("b", "k"))],
        [Symbol(at_layer("a", "k")), Symbol(f"f({z.latex})")]])


def column(v):
    """A column vector; one entry is shown as a number."""
    v = np.asarray(v, dtype=object)
    return v[0] if v.size == 1 else v.reshape(-1, 1)


def substituted(p) -> Formula:
    """W a + b with the layer's numbers in."""
    weight, before, bias = (as_node(v) for v in (p.layer.weight, column(p.input), column(p.layer.bias)))
    return Product([weight, before], spaced=True) + bias


def as_node(value) -> Formula:
    return Array(value) if isinstance(value, np.ndarray) else Number(value)


def forward_step(given, runs) -> Step:
    shown = runs if len(runs) <= INPUTS_IN_FULL else runs[:INPUTS_IN_FULL_WHEN_MANY]
    cases = [{"x": column(x), "layers": [dict(layer_formulas(p.layer.activation, k), substituted=substituted(p),
                                              z=column(p.z), a=column(p.a)) for k, p in enumerate(run, start=1)]}
             for x, run in zip(given.inputs, shown)]
    text = "Each input goes through the layers in turn."
    if len(shown) < len(runs):
        text += f" The first {len(shown)} of the {len(runs)} inputs are shown in full; the table has them all."
    return Step("Input by input", text, layout="mlp.forward", data={"cases": cases})


def layer_formulas(activation: str, k: int) -> dict:
    """Layer k's formulas: z^(k) = W^(k) a^(k-1) + b^(k) (x for k = 1), and a^(k) = f(z^(k)) (none for the identity)."""
    z, before = Symbol(at_layer("z", k)), Symbol("x") if k == 1 else Symbol(at_layer("a", k - 1))
    return {"z_name": z, "a_name": Symbol(at_layer("a", k)),
            "linear": Product([Symbol(at_layer("W", k)), before], spaced=True) + Symbol(at_layer("b", k)),
            "applied": None if activation == "identity" else Apply(activation, z)}


def layer_columns(layer) -> tuple[str, ...]:
    """What the table shows of a layer: z, and a = f(z) unless f is the identity."""
    return ("z",) if layer.activation == "identity" else ("z", "a")


def table_step(given, runs) -> Step:
    columns = [{"math": Symbol("x")}] + [{"math": Symbol(at_layer(symbol, k))}
                                         for k, layer in enumerate(given.layers, start=1)
                                         for symbol in layer_columns(layer)]
    if given.threshold is not None:
        columns.append({"math": Apply("step", Symbol("y") - Number(given.threshold))})
    columns += [{"words": words} for words in ("target", "match")] if given.target is not None else []
    rows = []
    for i, (x, run) in enumerate(zip(given.inputs, runs)):
        cells = [list(x)] + [list(getattr(p, symbol)) for p in run for symbol in layer_columns(p.layer)]
        if given.target is not None:
            decided, wanted = judged(given, run[-1].a, i)
            cells += [decided] * (given.threshold is not None) + [wanted, decided == wanted]
        rows.append(cells)
    return Step("All inputs", "", layout="mlp.table", data={"columns": columns, "rows": rows})


def judged(given, y, i) -> tuple[list, list]:
    """(what input i's outputs count as, its target), as lists."""
    wanted = list(given.target[i]) if given.target.ndim == 2 else [given.target[i]]
    return [decision(given, v) for v in y], wanted


def failures(given, runs) -> list[str]:
    """Each input whose outputs do not count as its target, described."""
    found = []
    for i, (x, run) in enumerate(zip(given.inputs, runs)):
        decided, wanted = judged(given, run[-1].a, i)
        if decided != wanted:
            counts = f", which counts as {vector_text(decided)}" if given.threshold is not None else ""
            found.append(f"input {i + 1}, x = {vector_text(x)} (output {vector_text(run[-1].a)}{counts}; "
                         f"target {vector_text(wanted)})")
    return found


def target_step(given, runs) -> Step:
    failed = failures(given, runs)
    if not failed:
        return Step("Target", "Every output matches its target, so the network implements the target.")
    return Step("Target", "The network does not implement the target: it fails on " + "; on ".join(failed) + ".")


def plain(x) -> str:
    return float_latex(x) if isinstance(x, float) else str(x)


def vector_text(values) -> str:
    values = list(values)
    return plain(values[0]) if len(values) == 1 else "(" + ", ".join(map(plain, values)) + ")"


# ---- linear separability -------------------------------------------------------------

def points_and_labels(given) -> tuple[list, list]:
    return list(map(list, given.inputs)), [int(t) for t in given.target.flat]


def separability(given) -> list[Step]:
    """The argument whether step(w·x + b) can equal the target on every input."""
    points, labels = points_and_labels(given)
    found = separating_hyperplane(points, labels)
    conditions = conditions_step(given, points, labels)
    if found is not None:
        return [conditions, separating_step(given, points, labels, *found)]
    weights = common_average(points, labels)
    return [conditions] + contradiction_steps(given, points, labels, weights)


def weight_symbols(n: int) -> list[Symbol]:
    return [Symbol(f"w_{k}", subscripted("w", k)) for k in range(1, n + 1)]


B = Symbol("b")


def pre_activation(x) -> Formula:
    """w_1·x_1 + ... + w_n·x_n + b with the input's numbers in it."""
    return Sum([w * Number(v) for w, v in zip(weight_symbols(len(x)), x)] + [B])


def linear_form(coefficients, bias_coefficient) -> Formula:
    """Σ c_k w_k + c b as written by hand: no zero terms, no 1·, minus signs."""
    terms = []
    for c, symbol in zip([*coefficients, bias_coefficient], [*weight_symbols(len(coefficients)), B]):
        if c != 0:
            magnitude = symbol if abs(c) == 1 else Number(exact(abs(c))) * symbol
            terms.append(Negative(magnitude) if c < 0 else magnitude)
    if not terms:
        return Number(0)
    return terms[0] if len(terms) == 1 else Sum(terms)


def relation(given, label: int) -> str:
    """The sign z must have for output `label`: step(0) decides which side takes 0."""
    if label == 1:
        return ">=" if given.step_at_zero else ">"
    return "<" if given.step_at_zero else "<="


def condition(x, t, parts, op) -> dict:
    """One condition on w and b, its sides written out: z = ... op 0."""
    return {"input": x, "target": t, "parts": parts[:-1], "condition": Relation(parts[-1], op, 0)}


def conditions_step(given, points, labels) -> Step:
    rows = []
    for x, t in zip(points, labels):
        rows.append(condition(x, t, distinct([pre_activation(x), linear_form(x, 1)]), relation(given, t)))
    one = "z ≥ 0" if given.step_at_zero else "z > 0"
    text = (f"One linear layer with a step outputs step(z), z = w·x + b: 1 where {one}, else 0 "
            f"(step(0) = {given.step_at_zero}). A threshold other than 0, or a sigmoid or tanh read against "
            "a threshold, only shifts b. So it outputs the target exactly when w and b meet one condition "
            "per input:")
    return Step("One linear layer", text, layout="mlp.relations", data={"rows": rows})


def distinct(parts: list[Formula]) -> list[Formula]:
    """The parts of a line, without one that reads the same as the one before."""
    kept = parts[:1]
    for part in parts[1:]:
        if latex(part) != latex(kept[-1]):
            kept.append(part)
    return kept


def separating_step(given, points, labels, w, b) -> Step:
    values = {**{s.name: v for s, v in zip(weight_symbols(len(w)), w)}, "b": b}
    rows = []
    for x, t in zip(points, labels):
        z = pre_activation(x).substitute(values)
        rows.append(condition(x, t, [z, Number(z.value())], relation(given, t)))
    text = ("The target is linearly separable: these w and b (found exactly by linear programming) meet "
            "every condition.")
    return Step("A separating line", text, [[Symbol("w"), np.array(w, dtype=object)], [B, b]],
                layout="mlp.relations", data={"rows": rows})


def contradiction_steps(given, points, labels, weights) -> list[Step]:
    scale = math.lcm(*(c.denominator for c in weights))
    counts = [int(c * scale) for c in weights]
    n = len(points[0])
    rows = []
    for side in (1, 0):
        used = [(c, x) for c, x, t in zip(counts, points, labels) if t == side and c]
        weighted = [Number(c) * grouped(linear_form(x, 1)) if c != 1 else grouped(linear_form(x, 1))
                    for c, x in used]
        total = linear_form([sum(c * x[k] for c, x in used) for k in range(n)], sum(c for c, _ in used))
        rows.append(condition(None, None, distinct([Sum(weighted) if len(weighted) > 1 else weighted[0], total]),
                              relation(given, side)))
    point = np.array([exact(sum(Fraction(c, scale) * x[k] for c, x, t in zip(counts, points, labels) if t == 1))
                      for k in range(n)], dtype=object)
    adding = Step("Adding conditions", "Add the conditions of the target-1 inputs, and apart those of the "
                  "target-0 inputs, each times the whole number in front of it (1 where none is written):",
                  layout="mlp.relations", data={"rows": rows})
    text = ("Both sums are the same expression in w and b, which cannot be both "
            f"{'at least' if given.step_at_zero else 'above'} 0 and "
            f"{'below' if given.step_at_zero else 'at most'} 0. So no w and b meet every condition: the "
            "target is not linearly separable, and no single linear layer outputs it. Geometrically, with those "
            "numbers as weights, the target-1 inputs and the target-0 inputs have the same average p, so the "
            "two groups' convex hulls meet and no line (hyperplane) has them on opposite sides:")
    return [adding, Step("No w and b exist", text, [[Symbol("p"), point]])]


def grouped(formula: Formula) -> Formula:
    return Group(formula) if isinstance(formula, Sum) else formula


def separating_hyperplane(points, labels) -> tuple[list, Any] | None:
    """(w, b) with s·(w·x + b) >= 1 on every point, s = +1 for target 1 and -1 for
    target 0; None if there is none. Variables w = w⁺ - w⁻, b = b⁺ - b⁻ and one
    surplus per point, all >= 0."""
    n, m = len(points[0]), len(points)
    rows = []
    for i, (x, t) in enumerate(zip(points, labels)):
        s = 1 if t == 1 else -1
        surplus = [-1 if j == i else 0 for j in range(m)]
        rows.append([s * v for v in x] + [-s * v for v in x] + [s, -s] + surplus)
    z = nonnegative_solution(rows, [1] * m)
    if z is None:
        return None
    return [exact(z[k] - z[n + k]) for k in range(n)], exact(z[2 * n] - z[2 * n + 1])


def common_average(points, labels) -> list[Fraction]:
    """Weights y >= 0, summing to 1 over each target, with Σ y·x the same for both
    targets. One exists exactly when no (w, b) separates (Gordan's theorem)."""
    n = len(points[0])
    signs = [1 if t == 1 else -1 for t in labels]
    rows = [[s * x[k] for s, x in zip(signs, points)] for k in range(n)]
    rows += [[int(t == side) for t in labels] for side in (1, 0)]
    return nonnegative_solution(rows, [0] * n + [1, 1])


def nonnegative_solution(rows, rhs) -> list[Fraction] | None:
    """A vertex z >= 0 of {rows·z = rhs} (rhs >= 0), or None if there is none.

    Phase one of the simplex method over Fractions: one artificial variable per
    row, whose sum is minimized; Bland's rule (smallest index enters and leaves)
    cannot cycle. The last row of the tableau holds the reduced costs."""
    m, n = len(rows), len(rows[0])
    table = [[Fraction(v) for v in row] + [Fraction(int(i == j)) for j in range(m)] + [Fraction(r)]
             for i, (row, r) in enumerate(zip(rows, rhs))]
    table.append([-sum(row[j] for row in table) for j in range(n)] + [Fraction(0)] * m
                 + [-sum(row[-1] for row in table)])
    basis = list(range(n, n + m))
    while (entering := next((j for j in range(n + m) if table[-1][j] < 0), None)) is not None:
        _, _, leaving = min((row[-1] / row[entering], basis[i], i)
                            for i, row in enumerate(table[:-1]) if row[entering] > 0)
        pivot(table, leaving, entering)
        basis[leaving] = entering
    if table[-1][-1] != 0:
        return None
    solution = [Fraction(0)] * n
    for i, j in enumerate(basis):
        if j < n:
            solution[j] = table[i][-1]
    return solution


def pivot(table, r: int, e: int):
    table[r] = [v / table[r][e] for v in table[r]]
    for i, row in enumerate(table):
        if i != r and row[e] != 0:
            table[i] = [v - row[e] * p for v, p in zip(row, table[r])]


# ---- mistakes -------------------------------------------------------------------

def in_each_layer(change):
    """The mistake made in one layer at a time: [(where, given fields, rules)], where `change`
    gives the layer as mistaken (None where it cannot be made)."""
    def places(given):
        found = []
        for k, layer in enumerate(given.layers, start=1):
            mistaken = change(layer)
            if mistaken is not None:
                found.append((f"layer {k}", {"layers": given.layers[:k - 1] + (mistaken,) + given.layers[k:]}, {}))
        return found
    return places


OWN_MISTAKES = [
    Places("activation_skipped", "This is the output with that layer's activation left out: each layer "
           "applies its activation to W a + b before the next layer takes it.",
           in_each_layer(lambda layer: None if layer.activation == "identity"
                         else dataclasses.replace(layer, activation="identity"))),
    Places("weight_transposed", "This is the output with that layer's weight matrix transposed: as in "
           "PyTorch's nn.Linear, W has one row per unit, and z = W a + b (not W^T a).",
           in_each_layer(lambda layer: dataclasses.replace(layer, weight=layer.weight.T))),
    Change("bias_after_activation", "This is the output with each bias added after the activation: the "
           "bias is part of z = W a + b, before the activation.",
           rules={"bias_after_activation": True}, applies=lambda g: bool(g.layers)),
    Change("step_at_zero", "This is the output with step(0) taken the other way: the derivation states "
           "which value step(0) has here, and a unit whose z is exactly 0 outputs that value.",
           given=lambda g: {"step_at_zero": 1 - g.step_at_zero},
           applies=lambda g: any(layer.activation == "step" for layer in g.layers)),
]


class MLP(Kind):
    name = "mlp"
    summary = SUMMARY
    answers = ANSWERS
    vary = VARY
    Given, Rules = Given, Rules
    mistakes = OWN_MISTAKES

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        return computed(given, rules)

    def derive(self, given, answers) -> list[Step]:
        return derivation(given)

    def answers_with(self, given, fields: dict, rules: dict) -> dict:
        """A mistake's outputs: what its feedback speaks of (not whether they meet the target)."""
        found = super().answers_with(given, fields, rules)
        return {"outputs": found["outputs"]} if "outputs" in found else {}


KIND = MLP()
