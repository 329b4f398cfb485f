"""mlp_jacobian: the Jacobians of a multilayer perceptron's output, by the chain rule.

Conventions (the derivation states them too):
- Layer l = 1, ..., L computes z_l = A_l y_(l-1) + b_l and y_l = σ_l(z_l), with σ_l
  applied entry by entry; y_0 is the input and the last layer is linear, y_L = z_L.
- Vectors are columns. A Jacobian ∂u/∂v is an n_u × n_v matrix whose entry (i, j)
  is ∂u_i/∂v_j, as torch.autograd.functional.jacobian lays it out.
- ∂y_L/∂A_l: for a scalar y_L (n_L = 1), a matrix the shape of A_l with entry (i, j)
  ∂y_L/∂(A_l)_ij; for a vector y_L, an n_L × n_l × n_(l-1) array with entry (k, i, j)
  ∂(y_L)_k/∂(A_l)_ij (torch's layout: the output's axis, then A_l's axes).
- ReLU'(0) = 0, as in PyTorch.
- Identity and ReLU keep integers exact; sigmoid and tanh give floats, which a
  check compares with a tolerance.
Answers are named per layer, `jacobian_bias[2]`, layers counted from 1, as the
network kind names `params[i]`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import array, choice, given_field, optional
from ...math.activations import ACTIVATIONS as FUNCTIONS, Activation
from ...math.nodes import (Apply, Array, Diag, Dots, Entry, Function, Number, Partial, Product, Sum, Summation,
                           Symbol, Transpose)
from ...math.notation import derivative, subscripted, written
from ...core.model import Answer, Step
from ..base import Kind
from ..common import exact_array
from ..mistakes import Change

SUMMARY = ("Jacobians of an MLP's output with respect to each layer's bias, input and weights, "
           "derived by the chain rule and evaluated")
ANSWERS = {
    "output": "y_L, the network's output for the given input, a column of n_L numbers",
    "jacobian_bias[i]": "∂y_L/∂b_i, an n_L×n_i matrix; layers are counted from 1",
    "jacobian_input[i]": "∂y_L/∂y_(i-1), an n_L×n_(i-1) matrix",
    "jacobian_weight[i]": "∂y_L/∂A_i: shaped like A_i when y_L is a scalar, else n_L×n_i×n_(i-1) "
                          "with entry (k, r, c) = ∂(y_L)_k/∂(A_i)_rc",
    "local_jacobian_bias[i]": "∂y_i/∂b_i = diag(σ'(z_i)), n_i×n_i",
    "local_jacobian_input[i]": "∂y_i/∂y_(i-1) = diag(σ'(z_i)) A_i, n_i×n_(i-1)",
}
PER_LAYER = ("local_jacobian_bias", "local_jacobian_input", "jacobian_bias", "jacobian_input",
             "jacobian_weight")
# Where a problem gives no `vary`: the input redrawn within its own range (solver/variants.py
# redraws whole fields only, so the weights inside `layers` stay as given).
VARY = {"input": {}}
MAX_LAYERS = 8
MAX_WIDTH = 32
MAX_MAGNITUDE = 10**6        # keeps every value of a deep, wide network a finite float
MAX_TERMS_SHOWN = 64         # a product is shown cell by cell while it has at most this many terms


# ---- the given fields -------------------------------------------------------------

CHOICES = ("sigmoid", "tanh", "relu", "identity")     # a hidden layer's activation

@dataclass(frozen=True, eq=False)
class Layer:
    weight: np.ndarray             # A_l, n_l × n_(l-1)
    bias: np.ndarray               # b_l, n_l entries
    activation: str | None         # None: linear (the last layer)


def bounded(read):
    """An array reader whose numbers stay within ±MAX_MAGNITUDE."""
    def read_bounded(name, value):
        values = read(name, value)
        for cell in values.flat:
            if not abs(cell) <= MAX_MAGNITUDE:
                raise FieldError(name, f"must hold numbers from -{MAX_MAGNITUDE:,} to {MAX_MAGNITUDE:,}; "
                                       f"found {cell!r}")
        return values
    return read_bounded


read_matrix = bounded(array((2,), "a matrix, a list of rows such as [[1, -2], [0, 3]] "
                                  "(one row is [[1, -2]])"))
_read_list = bounded(array((1,), "a list of numbers such as [1, -2]"))


def read_vector(name, value):
    """A list of numbers; one number is a vector of one entry."""
    one_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return _read_list(name, [value] if one_number else value)


LAYER_FIELDS = ("weight", "bias", "activation")
LAYER_FORM = "{weight: A, bias: b, activation: " + " | ".join(CHOICES) + "}"


def read_layers(name, value):
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LAYERS:
        raise FieldError(name, f"must be a list of 1 to {MAX_LAYERS} layers, each {LAYER_FORM}")
    return tuple(read_layer(f"{name}[{number}]", raw) for number, raw in enumerate(value, start=1))


def read_layer(where, raw) -> Layer:
    if not isinstance(raw, dict):
        raise FieldError(where, f"must be a mapping {LAYER_FORM}")
    for key in raw:
        if key not in LAYER_FIELDS:
            raise FieldError(f"{where}.{key}", f"is not a field of a layer; a layer takes {', '.join(LAYER_FIELDS)}")
    for key in ("weight", "bias"):
        if key not in raw:
            raise FieldError(f"{where}.{key}", "is required: every layer has a weight matrix A and a bias vector b")
    activation = raw.get("activation")
    return Layer(read_matrix(f"{where}.weight", raw["weight"]), read_vector(f"{where}.bias", raw["bias"]),
                 None if activation is None else choice(*CHOICES)(f"{where}.activation", activation))


def read_layer_numbers(name, value):
    """One layer number, or a list of them."""
    numbers = value if isinstance(value, list) else [value]
    if not numbers or any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        raise FieldError(name, f"must be a layer number (counted from 1) or a list of them; got {value!r}")
    return tuple(sorted(set(numbers)))


@dataclass(frozen=True, kw_only=True)
class Given:
    layers: tuple = given_field(read_layers, dataclasses.MISSING,
                                "the layers in order, each {weight: A_l (n_l×n_(l-1)), bias: b_l (n_l numbers), "
                                "activation: sigmoid, tanh, relu or identity}; the last layer is linear and "
                                "takes no activation")
    input: Any = given_field(read_vector, dataclasses.MISSING, "y_0, the network's input: a list of numbers")
    layer: Any = given_field(optional(read_layer_numbers), None,
                             "the layer l, or list of layers, the problem asks about (default: every layer)")


def validate(given: Given):
    width, source = len(given.input), "the input y_0"
    if width > MAX_WIDTH:
        raise FieldError("input", f"has {width} entries; at most {MAX_WIDTH} are supported")
    last = len(given.layers)
    for number, layer in enumerate(given.layers, start=1):
        where = f"layers[{number}]"
        rows, columns = layer.weight.shape
        if columns != width:
            raise FieldError(f"{where}.weight", f"is {rows}×{columns}, but its input y_{number - 1} ({source}) "
                                                f"has {width} entries: A_{number} needs {width} columns")
        if rows > MAX_WIDTH:
            raise FieldError(f"{where}.weight", f"has {rows} rows; at most {MAX_WIDTH} outputs per layer are supported")
        if len(layer.bias) != rows:
            raise FieldError(f"{where}.bias", f"has {len(layer.bias)} entries; it needs one per row of "
                                              f"A_{number}, {rows}")
        if number == last and layer.activation not in (None, "identity"):
            raise FieldError(f"{where}.activation", f"is {layer.activation}, but the last layer is linear "
                                                    f"(y_L = A_L y_(L-1) + b_L): leave `activation` out "
                                                    "(or write identity)")
        if number < last and layer.activation is None:
            raise FieldError(f"{where}.activation", f"is required for a hidden layer: one of {', '.join(CHOICES)}")
        width, source = rows, f"layer {number}'s output"
    for number in given.layer or ():
        if not 1 <= number <= last:
            raise FieldError("layer", f"asks about layer {number}, but the network has {last} "
                                      f"layer{'s' if last > 1 else ''}: give numbers from 1 to {last}")


# ---- computing --------------------------------------------------------------------

def activation_of(given, number) -> Activation:
    return FUNCTIONS[given.layers[number - 1].activation or "identity"]


def asked_layers(given) -> tuple:
    return given.layer or tuple(range(1, len(given.layers) + 1))


def vector(values) -> np.ndarray:
    return exact_array(np.array(list(values), dtype=object))


@dataclass
class Forward:
    """Per layer l = 1..L (index l - 1): its input y_(l-1), z_l and y_l."""
    inputs: list
    pre: list
    post: list


def forward(given) -> Forward:
    y, result = given.input, Forward([], [], [])
    for number, layer in enumerate(given.layers, start=1):
        z = exact_array(layer.weight.dot(y) + layer.bias)
        result.inputs.append(y)
        result.pre.append(z)
        y = vector(activation_of(given, number).value(v) for v in z)
        result.post.append(y)
    return result


def slopes(given, passed: Forward, at="pre") -> list:
    """σ_l' at each z_l. The mistakes take it at y_l ("post") or leave it out ("none")."""
    def layer_slopes(number, z, y):
        if at == "none":
            return vector(1 for _ in z)
        return vector(activation_of(given, number).slope(v) for v in (z if at == "pre" else y))
    return [layer_slopes(n, z, y) for n, (z, y) in enumerate(zip(passed.pre, passed.post), start=1)]


def diag(d) -> np.ndarray:
    out = np.zeros((len(d), len(d)), dtype=object)
    for i, v in enumerate(d):
        out[i, i] = v
    return out


def chain(factors) -> np.ndarray | None:
    """The product of the factors from left to right; None where the shapes do not chain."""
    result = factors[0]
    for factor in factors[1:]:
        if result.shape[1] != factor.shape[0]:
            return None
        result = exact_array(result.dot(factor))
    return result


def weight_jacobian(bias_jacobian, y_before) -> np.ndarray:
    """(k, i, j) -> (∂y_L/∂b_l)_ki (y_(l-1))_j; a scalar y_L drops the k axis."""
    w = exact_array(bias_jacobian[:, :, None] * y_before[None, None, :])
    return w[0] if w.shape[0] == 1 else w


def values(given, passed: Forward, at="pre", reverse=False) -> dict:
    """Every answer's value by name, for every layer; `at` and `reverse` make mistakes."""
    local = [(diag(d), exact_array(d[:, None] * layer.weight))
             for d, layer in zip(slopes(given, passed, at), given.layers)]
    order = (lambda factors: factors[::-1]) if reverse else (lambda factors: factors)
    n_out = len(passed.post[-1])
    found = {"output": column(passed.post[-1])}
    for number, (bias_local, input_local) in enumerate(local, start=1):
        upstream = [j for _, j in reversed(local[number:])]          # ∂y_L/∂y_(L-1), ..., ∂y_(l+1)/∂y_l
        bias = chain(order(upstream + [bias_local]))
        candidates = {"local_jacobian_bias": bias_local, "local_jacobian_input": input_local,
                      "jacobian_bias": bias, "jacobian_input": chain(order(upstream + [input_local]))}
        if bias is not None and bias.shape == (n_out, len(bias_local)):
            candidates["jacobian_weight"] = weight_jacobian(bias, passed.inputs[number - 1])
        found.update({f"{name}[{number}]": v for name, v in candidates.items() if v is not None})
    return found


# ---- the answers --------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    """The chain rule's conventions; each mistake changes one."""
    slope_at: str = "pre"             # σ' at z_ℓ ("post": at y_ℓ = σ(z_ℓ); "none": left out)
    reverse_chain: bool = False       # the output's Jacobian on the left (True: the input's, a mistake)
    weight_transposed: bool = False   # ∂y_L/∂A_ℓ shaped like A_ℓ, entry (i, j) ∂y_L/∂(A_ℓ)_ij (True: transposed)


RULES = Rules()


def letter(name, index) -> Symbol:
    """A quantity of one layer: y_{2}, A_ℓ, z_{L-1}."""
    return Symbol(subscripted(name, index))


def by(of, index_of, by_name, index_by) -> Partial:
    """∂of_i/∂by_j, e.g. ∂y_L/∂b_{2}."""
    return Partial(letter(of, index_of), letter(by_name, index_by))


def label(name, number, last) -> str:
    """How the derivation names an answer: ∂y_L/∂b_l and the others."""
    y = lambda n: subscripted("y", n)
    return {"local_jacobian_bias": derivative(y(number), subscripted("b", number)),
            "local_jacobian_input": derivative(y(number), y(number - 1)),
            "jacobian_bias": derivative(y(last), subscripted("b", number)),
            "jacobian_input": derivative(y(last), y(number - 1)),
            "jacobian_weight": derivative(y(last), subscripted("A", number))}[name]


def computed(given, rules: Rules) -> dict[str, Answer]:
    found = values(given, forward(given), rules.slope_at, rules.reverse_chain)
    last = len(given.layers)
    answers = {"output": Answer("output", "matrix", found["output"], subscripted("y", last))}
    for number in asked_layers(given):
        for name in PER_LAYER:
            key = f"{name}[{number}]"
            if key not in found:
                continue
            value = found[key]
            if name == "jacobian_weight" and rules.weight_transposed:
                value = np.swapaxes(value, -1, -2)
            answers[key] = Answer(key, "matrix", value, label(name, number, last), detail=name.startswith("local"))
    return answers


def derivation(given) -> list[Step]:
    passed = forward(given)
    return ([network_step(given), layer_formula_step(given), chain_formula_step(), weight_formula_step(given),
             forward_step(given, passed)] + backward_steps(given, passed, values(given, passed)))


# ---- the derivation -------------------------------------------------------------------

def column(v) -> np.ndarray:
    return v.reshape(-1, 1)


def sum_of_products(pairs, plus=None):
    parts = [Number(a) * Number(b) for a, b in pairs] + ([Number(plus)] if plus is not None else [])
    return Sum(parts) if len(parts) > 1 else parts[0]


def cell_formulas(shape, terms) -> np.ndarray:
    """Each cell as the sum of products `terms(*index)` that makes it."""
    out = np.empty(shape, dtype=object)
    for index in np.ndindex(*shape):
        out[index] = terms(*index)
    return out


def product_line(head, formula, factors, terms, per_cell, result) -> list:
    """head = formula = [F1][F2] = each cell's products = result; the cell by cell
    line only while it stays short."""
    line = [head, formula, Array(factors[0]) * Array(factors[1])]
    if result.size * per_cell <= MAX_TERMS_SHOWN:
        line.append(cell_formulas(result.shape, terms))
    return line + [result]


def matrix_product_line(head, formula, left, right, result) -> list:
    return product_line(head, formula, (left, right),
                        lambda i, j: sum_of_products((left[i, k], right[k, j]) for k in range(left.shape[1])),
                        left.shape[1], result)


SLOPE = Symbol(written("sigma") + "'")        # σ', the slope of the layer's activation
ELL, BEFORE = "ℓ", "ℓ-1"                      # layer ℓ and the one before it
CONVENTION = (
    "Vectors are columns. A Jacobian ∂u/∂v has one row per entry of u and one column per entry of v "
    "(as torch.autograd.functional.jacobian lays it out). The activation σ_ℓ acts on each entry; the "
    "last layer is linear. ReLU'(0) is taken as 0, as in PyTorch.")


def slope_at(z) -> Apply:
    return Apply(SLOPE, z)


def pre_activation(index, before) -> Sum:
    """A_ℓ y_(ℓ-1) + b_ℓ."""
    return Product([letter("A", index), letter("y", before)], spaced=True) + letter("b", index)


def network_step(given) -> Step:
    lines = [[letter("z", ELL), pre_activation(ELL, BEFORE)],
             [letter("y", ELL), Apply(letter("sigma", ELL), letter("z", ELL))],
             [letter("y", "L"), letter("z", "L")],
             [Entry(Partial(Symbol("u"), Symbol("v")), "ij"), Partial(letter("u", "i"), letter("v", "j"))],
             [letter("y", 0), Array(column(given.input))]]
    for number, layer in enumerate(given.layers, start=1):
        lines.append([letter("A", number), layer.weight])
        lines.append([letter("b", number), Array(column(layer.bias))])
        if number < len(given.layers):
            lines.append([letter("sigma", number), Function(activation_of(given, number).name)])
    widths = " → ".join(str(n) for n in [len(given.input)] + [len(layer.bias) for layer in given.layers])
    text = (f"{CONVENTION} Each hidden layer ℓ < L applies its σ_ℓ; the last is linear, y_L = z_L. "
            f"Here L = {len(given.layers)}, and the layers' widths n_0, …, n_L are {widths}.")
    return Step("The network and the conventions", text, lines)


def layer_formula_step(given) -> Step:
    text = ("Entry i of y_ℓ is σ applied to entry i of z_ℓ alone, so by the chain rule its derivative by "
            "anything is σ' at (z_ℓ)_i times the derivative of (z_ℓ)_i. That entry is row i of A_ℓ times "
            "y_(ℓ−1) plus (b_ℓ)_i: its derivative by b_ℓ is row i of the identity (δ_ij is 1 if i = j, "
            "else 0), and by y_(ℓ−1) it is row i of A_ℓ. So each Jacobian is I or A_ℓ with row i scaled "
            "by σ'((z_ℓ)_i): a diagonal matrix on the left. The last layer is linear (σ' = 1): "
            "∂y_L/∂b_L = I and ∂y_L/∂y_(L−1) = A_L.")
    z, a = letter("z", ELL), letter("A", ELL)
    by_bias, by_input = by("y", ELL, "b", ELL), by("y", ELL, "y", BEFORE)
    slope_i, scaled = slope_at(Entry(z, "i")), Diag(slope_at(pre_activation(ELL, BEFORE)))
    lines = [
        [Entry(z, "i"), Summation(Symbol("k"), None, None, Entry(a, "ik") * Entry(letter("y", BEFORE), "k"))
         + Entry(letter("b", ELL), "i")],
        [Entry(by_bias, "ij"), slope_i * letter("delta", "ij")],
        [by_bias, scaled],
        [Entry(by_input, "ij"), slope_i * Entry(a, "ij")],
        [by_input, scaled * a],
    ]
    z = Symbol("z")
    for act in dict.fromkeys(activation_of(given, n) for n in range(1, len(given.layers))):
        lines.append([Apply(act.name, z), act.definition(z)])
        lines.append([Apply(act.name + "'", z), act.slope_rule(z)])
    return Step("One layer's Jacobians", text, lines)


def chain_formula_step() -> Step:
    text = ("By the chain rule the layers' Jacobians multiply with the output's side on the left: "
            "∂y_L/∂y_ℓ is n_L × n_ℓ and ∂y_ℓ/∂y_(ℓ−1) is n_ℓ × n_(ℓ−1), so only this order chains. "
            "Below they are computed from the output back, each ∂y_L/∂y_(ℓ−1) from ∂y_L/∂y_ℓ, starting "
            "from ∂y_L/∂y_L = I.")
    slope_z = Diag(slope_at(letter("z", ELL)))
    lines = [
        [by("y", "L", "y", BEFORE),
         Product([by("y", "L", "y", "L-1"), by("y", "L-1", "y", "L-2"), Dots(), by("y", ELL, "y", BEFORE)]),
         Product([letter("A", "L"), Diag(slope_at(letter("z", "L-1"))), letter("A", "L-1"), Dots(), slope_z,
                  letter("A", ELL)])],
        [by("y", "L", "b", ELL), by("y", "L", "y", ELL) * by("y", ELL, "b", ELL), by("y", "L", "y", ELL) * slope_z],
    ]
    return Step("The chain rule through the layers", text, lines)


def weight_formula_step(given) -> Step:
    text = ("Entry k of z_ℓ is Σ_j (A_ℓ)_kj (y_(ℓ−1))_j + (b_ℓ)_k, so the entry (i, j) of A_ℓ reaches y_L "
            "only through (z_ℓ)_i, just as (b_ℓ)_i does, with the factor (y_(ℓ−1))_j. And ∂y_L/∂z_ℓ is "
            "∂y_L/∂b_ℓ, because ∂z_ℓ/∂b_ℓ = I.")
    by_bias, y_before = by("y", "L", "b", ELL), letter("y", BEFORE)
    by_entry = [Partial(Entry(letter("y", "L"), "k"), Entry(letter("A", ELL), "ij")),
                Summation(Symbol("m"), None, None, Product([Entry(by("y", "L", "z", ELL), "km"),
                                                            letter("delta", "mi"), Entry(y_before, "j")])),
                Entry(by_bias, "ki") * Entry(y_before, "j")]
    if len(given.layers[-1].bias) == 1:
        text += (" Here y_L is a scalar, so ∂y_L/∂A_ℓ is a matrix the shape of A_ℓ: the column "
                 "(∂y_L/∂b_ℓ)^T times the row y_(ℓ−1)^T. For ℓ = L, ∂y_L/∂b_L = 1 and this is y_(L−1)^T, "
                 "a row like A_L.")
        whole = [by("y", "L", "A", ELL),
                 Product([Diag(slope_at(letter("z", ELL))), Transpose(by("y", "L", "y", ELL)), Transpose(y_before)]),
                 Transpose(by_bias) * Transpose(y_before)]
    else:
        text += (" Here y_L has n_L entries, so ∂y_L/∂A_ℓ is an n_L × n_ℓ × n_(ℓ−1) array whose entry "
                 "(k, i, j) is ∂(y_L)_k/∂(A_ℓ)_ij (PyTorch's layout: the output's axis first). Its slice k "
                 "is the column (row k of ∂y_L/∂b_ℓ)^T times the row y_(ℓ−1)^T.")
        whole = [Entry(by("y", "L", "A", ELL), "k"), Transpose(Entry(by_bias, "k,:")) * Transpose(y_before)]
    return Step("The weights' Jacobian", text, [by_entry, whole])


def applied_cells(act, z) -> list:
    """[f(z_1); f(z_2); ...] written out, for a nonlinear f (shown before its values)."""
    if act.name == "identity":
        return []
    return [column(np.array([Apply(act.name, Number(v)) for v in z], dtype=object))]


def forward_step(given, passed) -> Step:
    lines = []
    last = len(given.layers)
    for number, layer in enumerate(given.layers, start=1):
        y_before, z = passed.inputs[number - 1], passed.pre[number - 1]
        per_cell = layer.weight.shape[1] + 1
        line = [letter("z", number), pre_activation(number, number - 1),
                Array(layer.weight) * Array(column(y_before)) + Array(column(layer.bias))]
        if z.size * per_cell <= MAX_TERMS_SHOWN:
            line.append(cell_formulas((len(z), 1), lambda i, _: sum_of_products(
                zip(layer.weight[i], y_before), plus=layer.bias[i])))
        lines.append(line + [column(z)])
        if number == last:
            lines.append([letter("y", number), letter("z", number), column(passed.post[-1])])
        else:
            act = activation_of(given, number)
            lines.append([letter("y", number), Apply(act.name, letter("z", number))]
                         + applied_cells(act, z) + [column(passed.post[number - 1])])
    return Step("Forward pass", "Each layer's output is the next layer's input.", lines)


def backward_steps(given, passed, found) -> list[Step]:
    asked, last = asked_layers(given), len(given.layers)
    steps = []
    for number in range(last, min(asked) - 1, -1):
        steps.append(backward_step(given, passed, found, number, number in asked, min(asked)))
    return steps


def backward_step(given, passed, found, number, is_asked, lowest) -> Step:
    last = len(given.layers)
    if number == last:
        text = f"The last layer is linear: ∂y_{last}/∂b_{last} = I and ∂y_{last}/∂y_{last - 1} = A_{last}."
        lines = [[head, formula, found[f"{name}[{number}]"]]
                 for name, head, formula in (("jacobian_bias", by("y", last, "b", number), Symbol("I")),
                                             ("jacobian_input", by("y", last, "y", number - 1), letter("A", number)))
                 if is_asked or name == "jacobian_input"]
    else:
        text = "" if is_asked else f"This layer carries the chain on to layer {lowest}."
        lines = hidden_layer_lines(given, passed, found, number, is_asked)
    if is_asked:
        lines += weight_lines(given, passed, found, number)
    return Step(f"Layer {number}: back from the output", text, lines)


def hidden_layer_lines(given, passed, found, number, is_asked) -> list:
    """σ'(z_l), the layer's own Jacobians, then the chain from the output carried through it."""
    last, weight = len(given.layers), given.layers[number - 1].weight
    local_b, local_y = found[f"local_jacobian_bias[{number}]"], found[f"local_jacobian_input[{number}]"]
    d = vector(local_b[i, i] for i in range(len(local_b)))
    upstream = found[f"jacobian_input[{number + 1}]"]
    act = activation_of(given, number)
    slope = Apply(act.name + "'", letter("z", number))
    lines = [[slope] + slope_cells(act, passed.post[number - 1]) + [Array(column(d))]]
    if is_asked:
        lines.append([by("y", number, "b", number), Diag(slope), local_b])
    lines.append(product_line(by("y", number, "y", number - 1), Diag(slope) * letter("A", number), (local_b, weight),
                              lambda i, j: sum_of_products([(d[i], weight[i, j])]), 1, local_y))
    from_output = by("y", last, "y", number)
    if is_asked:
        lines.append(product_line(by("y", last, "b", number), from_output * by("y", number, "b", number),
                                  (upstream, local_b), lambda i, j: sum_of_products([(upstream[i, j], d[j])]), 1,
                                  found[f"jacobian_bias[{number}]"]))
    lines.append(matrix_product_line(by("y", last, "y", number - 1), from_output * by("y", number, "y", number - 1),
                                     upstream, local_y, found[f"jacobian_input[{number}]"]))
    return lines


def slope_cells(act, y) -> list:
    """[σ'(z_i)] written with y_i = σ(z_i), where the rule allows: y(1 - y), 1 - y²."""
    if act.slope_of_output is None:
        return []
    return [column(np.array([act.slope_of_output(Number(v)) for v in y], dtype=object))]


def weight_lines(given, passed, found, number) -> list:
    """∂y_L/∂A_l as (∂y_L/∂b_l)^T y_(l-1)^T, one line per output entry when y_L is a vector."""
    last = len(given.layers)
    bias, y_before = found[f"jacobian_bias[{number}]"], passed.inputs[number - 1]
    weight = found[f"jacobian_weight[{number}]"]
    row, row_t = y_before.reshape(1, -1), Transpose(letter("y", number - 1))
    head, by_bias = by("y", last, "A", number), by("y", last, "b", number)
    if bias.shape[0] == 1:
        return [outer_line(head, Transpose(by_bias) * row_t, column(bias[0]), row, weight)]
    return [outer_line(Entry(head, k + 1), Transpose(Entry(by_bias, f"{k + 1},:")) * row_t,
                       column(bias[k]), row, weight[k])
            for k in range(bias.shape[0])]


def outer_line(head, formula, col, row, result) -> list:
    return product_line(head, formula, (col, row), lambda i, j: sum_of_products([(col[i, 0], row[0, j])]), 1, result)


# ---- the kind -------------------------------------------------------------------------

OWN_MISTAKES = [
    Change("weight_jacobian_transposed", "∂y_L/∂A_ℓ came out transposed: its entry (i, j) is ∂y_L/∂(A_ℓ)_ij, so "
           "it has the shape of A_ℓ, the column (∂y_L/∂b_ℓ)^T times the row y_(ℓ−1)^T (not y_(ℓ−1) times "
           "∂y_L/∂b_ℓ).", rules={"weight_transposed": True}),
    Change("slope_at_activation", "σ' was evaluated at the layer's output y_ℓ = σ(z_ℓ); the chain rule "
           "needs it at the pre-activation z_ℓ = A_ℓ y_(ℓ−1) + b_ℓ.", rules={"slope_at": "post"}),
    Change("chain_reversed", "The chain rule's factors were multiplied in the wrong order: "
           "∂y_L/∂y_(ℓ−1) = (∂y_L/∂y_(L−1)) ⋯ (∂y_ℓ/∂y_(ℓ−1)), with the output's layer on the left.",
           rules={"reverse_chain": True}),
    Change("slope_forgotten", "The factor diag(σ'(z_ℓ)) is missing: a hidden layer's Jacobian is "
           "diag(σ'(z_ℓ)) A_ℓ, not A_ℓ, and ∂y_ℓ/∂b_ℓ is diag(σ'(z_ℓ)), not I.", rules={"slope_at": "none"}),
]


class MLPJacobian(Kind):
    name = "mlp_jacobian"
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


KIND = MLPJacobian()
