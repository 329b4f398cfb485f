"""What the gated recurrent cells (lstm, gru) share: their givens (PyTorch's stacked weights
or one field per gate), the model read from them, the loss of the hidden states, the
answers and the derivation's frame. Each cell's own math (its gates, its step forward and
back, its mistakes) is in lstm.py and gru.py.

Conventions, PyTorch's (nn.LSTM, nn.GRU with one layer, batch_first=False, one sequence):
- weight_ih is the gates' input weights stacked row-wise in PyTorch's order (LSTM i, f, g, o:
  4H×I; GRU r, z, n: 3H×I), weight_hh the same for h_{t−1} (4H×H, 3H×H), bias_ih and bias_hh
  the biases stacked alike; or per gate, named by the subscripts of PyTorch's equations:
  w_ii, w_hi, b_ii, b_hi for the input gate i (LSTM), w_ir, w_hr, b_ir, b_hr for the reset
  gate r (GRU), and so on. A bias not given is absent (0, and no gradient).
- h_0 and c_0 default to zeros, as nn.LSTM and nn.GRU take them when not passed.
- Steps are counted from 1: h[1] is the state after the first input, h_0 the initial one.
- The output y_t is h_t; the loss is the rnn kind's (recurrent/common.py) of the outputs.
- Numbers are floats (σ and tanh make them so), shown and answered as decimals. Symbols
  need a scalar cell (one input, one hidden unit) and give a forward pass in formulas.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import choice, given_field, optional
from ...core.model import Answer, Step
from ...math.functions import VALUE_AND_SLOPE
from ...math.nodes import Apply, Array, Formula, Group, Hadamard, Negative, Number, Partial, Power, Product, \
    Sum, Summation, Symbol, Transpose
from ...math.notation import after_update, derivative, indexed, listing, quantity, words, written
from ...math.printing import latex
from ..common import exact
from . import common as recurrent
from ..base import Kind
from ..mistakes import Places
from ..sizes import distinct
from .common import LOSS_TEXT, LOSSES, fit, inline, plus, times, read_sequence, read_tensor, squeezed, \
    symbolic_fields, sympy_number, words as shape_words

MAX_STEPS = 20
MAX_SYMBOLIC_STEPS = 2         # the formulas nest a gate in a gate per step (an answer is at most 2000 characters)
MAX_HIDDEN = 16


# ---- activations: numbers, or formulas of symbols ------------------------------------

def symbolic(v) -> bool:
    return not isinstance(v, (int, float))


def sigmoid(v):
    if symbolic(v):
        import sympy
        return 1 / (1 + sympy.exp(-v))
    return VALUE_AND_SLOPE["sigmoid"][0](v)


def tanh(v):
    if symbolic(v):
        import sympy
        return sympy.tanh(v)
    return VALUE_AND_SLOPE["tanh"][0](v)


ACTIVATION = {"sigmoid": sigmoid, "tanh": tanh}


def apply(name: str, a: np.ndarray) -> np.ndarray:
    return np.array([ACTIVATION[name](v) for v in a], dtype=object)


def slope_of_output(name: str, y: np.ndarray) -> np.ndarray:
    """f'(a) written with y = f(a): σ' = y(1 − y), tanh' = 1 − y²."""
    return y * (1 - y) if name == "sigmoid" else 1 - y * y


# ---- the cell: its gates and fields ----------------------------------------------------

@dataclass(frozen=True)
class Cell:
    """A gated cell's layout: its gates in PyTorch's stacking order, each gate's activation,
    its states (h, and c for the LSTM)."""
    name: str
    module: str                 # PyTorch's module, nn.LSTM
    gates: tuple                # ("i", "f", "g", "o")
    activations: dict           # gate -> "sigmoid" or "tanh"
    states: tuple               # ("h", "c") or ("h",)
    gate_words: dict            # gate -> its name in words

    @property
    def per_gate(self) -> list[str]:
        """The per-gate fields, in PyTorch's order: w_ii, w_if, ..., w_hi, ..., b_ii, ..., b_hi, ..."""
        return [f"{p}{k}" for p in ("w_i", "w_h", "b_i", "b_h") for k in self.gates]

    def stack(self) -> str:
        return ", ".join(self.gates)


STACKED = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
STACKED_PART = {"weight_ih": "w_i", "weight_hh": "w_h", "bias_ih": "b_i", "bias_hh": "b_h"}


def make_given(cell: Cell, module: str):
    """The Given dataclass of a cell: x, the initial states, the weights either way, the loss."""
    specs = [("x", Any, given_field(read_sequence, doc="the sequence x_1..x_L: numbers or symbols, or one row "
                                                        "of I numbers per step"))]
    for state in cell.states:
        specs.append((f"{state}0", Any, given_field(optional(read_tensor), None,
                                                    f"the initial {'hidden' if state == 'h' else 'cell'} state "
                                                    f"{state}_0, H entries (default zeros, as {cell.module})")))
    n = len(cell.gates)
    stacked_doc = {"weight_ih": f"the input weights as {cell.module} stores them: {n}H×I, gates "
                                f"{cell.stack()} stacked by rows",
                   "weight_hh": f"the recurrent weights, {n}H×H, gates {cell.stack()} stacked by rows",
                   "bias_ih": f"the input biases, {n}H, gates {cell.stack()} (default none)",
                   "bias_hh": f"the recurrent biases, {n}H, gates {cell.stack()} (default none)"}
    specs += [(name, Any, given_field(optional(read_tensor), None, doc)) for name, doc in stacked_doc.items()]
    for name in cell.per_gate:
        k = name[3:]
        what = {"w_i": "input weights, H×I", "w_h": "recurrent weights, H×H", "b_i": "input bias, H",
                "b_h": "recurrent bias, H"}[name[:3]]
        specs.append((name, Any, given_field(optional(read_tensor), None,
                                             f"per gate instead of stacked: the {cell.gate_words[k]} {k}'s {what}"
                                             + (" (default none)" if name[0] == "b" else ""))))
    specs += [("target", Any, given_field(optional(read_tensor), None,
                                          "the target of h_L, or one per step for the _all losses (squared losses)")),
              ("loss", Any, given_field(optional(choice(*LOSSES)), None, "as the rnn kind's (mse_last where a target is "
                                        "given), of the outputs y_t = h_t: "
                                        + "; ".join(f"{name}: {text}" for name, text in LOSS_TEXT.items()))),
              ("learning_rate", Any, given_field(optional(recurrent.read_rate), None, "η for one gradient-descent step"))]
    given = dataclasses.make_dataclass("Given", specs, frozen=True, kw_only=True)
    given.__module__ = module
    return given


def given_symbols(cell: Cell) -> dict:
    """How a sheet labels each given: PyTorch's names for the stacked ones, the equations' letters per gate."""
    found = {"x": "x", "target": written("y*")} | {f"{s}0": latex(indexed(s, 0)) for s in cell.states}
    found |= {name: words(name) for name in STACKED}
    return found | {name: latex(gate_parameter(name)) for name in cell.per_gate}


def recurrent_weight(m, k: str) -> Formula:
    """W_hk as δ_(t−1) multiplies it: transposed where it is a matrix."""
    w = gate_parameter(f"w_h{k}")
    return Transpose(w) if m.hidden > 1 else w


def gate_parameter(name: str) -> Formula:
    """w_ii as W_ii, b_hf as b_hf: the letters of PyTorch's equations."""
    return indexed("W" if name[0] == "w" else "b", name[2:].replace("_", ""))


# ---- the model ----------------------------------------------------------------------

@dataclass
class Model:
    cell: Cell
    xs: list                 # x_1..x_L, each (I,)
    states0: dict            # "h" -> h_0 (H,), "c" -> c_0
    p: dict                  # per-gate name -> its array (H×I, H×H, H); absent biases left out
    stacked: bool            # the weights were given stacked
    targets: dict            # step -> target of h_t
    loss: str | None
    lr: Any
    symbolic: bool
    shapes: dict             # field -> the shape it was given in
    hidden: int
    inputs: int

    @property
    def steps(self) -> int:
        return len(self.xs)

    @property
    def loss_steps(self) -> list[int]:
        return recurrent.loss_steps(self.loss, self.steps)

    def parameters(self) -> list[str]:
        """The given parameter fields, stacked or per gate, in PyTorch's order."""
        names = STACKED if self.stacked else self.cell.per_gate
        return [name for name in names if name in self.shapes]


def read_model(cell: Cell, g) -> Model:
    stacked = [name for name in STACKED if getattr(g, name) is not None]
    per_gate = [name for name in cell.per_gate if getattr(g, name) is not None]
    if stacked and per_gate:
        raise FieldError(per_gate[0], f"is a per-gate weight, but the problem also gives {stacked[0]} (stacked "
                                      f"weights): give the weights one way, either weight_ih, weight_hh "
                                      f"(and bias_ih, bias_hh) as {cell.module} stores them, or every gate's "
                                      f"w_i*, w_h* (and b_i*, b_h*)")
    x = g.x if g.x.ndim == 2 else g.x[:, None]
    steps, inputs = x.shape
    if stacked:
        p, hidden = stacked_parameters(cell, g, inputs)
    else:
        p, hidden = gate_parameters(cell, g, inputs)
    if hidden > MAX_HIDDEN:
        raise FieldError("weight_hh" if stacked else f"w_h{cell.gates[0]}",
                         f"gives {hidden} hidden units; at most {MAX_HIDDEN} are supported")
    states0 = {s: (np.zeros(hidden, dtype=object) if getattr(g, f"{s}0") is None else
                   fit(f"{s}0", getattr(g, f"{s}0"), (hidden,), f"one per hidden unit, H = {hidden}"))
               for s in cell.states}
    loss, targets = recurrent.loss_and_targets(g, steps, hidden)
    named = symbolic_fields(g)
    if steps > MAX_STEPS:
        raise FieldError("x", f"has {steps} steps; at most {MAX_STEPS} are supported")
    if named:
        if hidden > 1 or inputs > 1:
            raise FieldError(named[0], "symbols need a scalar cell (one input, one hidden unit); with vectors "
                                       "or matrices give numbers")
        if steps > MAX_SYMBOLIC_STEPS:
            raise FieldError("x", f"has {steps} steps; with symbols at most {MAX_SYMBOLIC_STEPS} are "
                                  "supported (each step nests the gates of the one before)")
        if loss is not None:
            raise FieldError(named[0], "is a symbol, and symbols give the forward pass only: for the loss and "
                                       "its gradients give numbers (or drop the target)")
    convert = sympy_number if named else float

    def cast(a):
        return np.vectorize(convert, otypes=[object])(a)
    shapes = {name: np.shape(getattr(g, name)) for name in (*STACKED, *cell.per_gate, *(f"{s}0" for s in cell.states))
              if getattr(g, name) is not None}
    return Model(cell, [cast(v) for v in x], {s: cast(v) for s, v in states0.items()},
                 {name: cast(v) for name, v in p.items()}, bool(stacked),
                 {t: cast(v) for t, v in (targets or {}).items()}, loss,
                 None if g.learning_rate is None else float(g.learning_rate), bool(named), shapes, hidden, inputs)


def stacked_parameters(cell: Cell, g, inputs: int) -> tuple[dict, int]:
    n, letters = len(cell.gates), "".join(cell.gates)
    if g.weight_ih is None or g.weight_hh is None:
        missing = "weight_ih" if g.weight_ih is None else "weight_hh"
        raise FieldError(missing, f"is missing: stacked weights need both weight_ih ({n}H×I) and weight_hh "
                                  f"({n}H×H), gates {cell.stack()} stacked by rows as {cell.module} stores them")
    hh = np.shape(g.weight_hh)
    hidden = hh[1] if len(hh) == 2 else 1
    if hh != (n * hidden, hidden) and not (hidden == 1 and squeezed(hh) == (n,)):
        raise FieldError("weight_hh", f"is {shape_words(hh)}; it must be {n}H×H, the {n} gates {cell.stack()} "
                                      f"stacked by rows, each H×H (H hidden units): {n}×1 for H = 1, "
                                      f"{2 * n}×2 for H = 2")
    ih = np.shape(g.weight_ih)
    if ih != (n * hidden, inputs) and squeezed(ih) != squeezed((n * hidden, inputs)):
        entries = f"{inputs} entr{'y' if inputs == 1 else 'ies'}"
        raise FieldError("weight_ih", f"is {shape_words(ih)}, but it must be {n}H×I = {n * hidden}×{inputs}, the "
                                      f"gates {cell.stack()} stacked by rows: H = {hidden} hidden unit{'s' * (hidden > 1)}, as weight_hh, "
                                      f"{shape_words(hh)}, says, and each input x_t has I = {entries}")
    w_ih = np.array(g.weight_ih, dtype=object).reshape(n * hidden, inputs)
    w_hh = np.array(g.weight_hh, dtype=object).reshape(n * hidden, hidden)
    p = {}
    for j, k in enumerate(letters):
        rows = slice(j * hidden, (j + 1) * hidden)
        p[f"w_i{k}"], p[f"w_h{k}"] = w_ih[rows], w_hh[rows]
    for name, part in (("bias_ih", "b_i"), ("bias_hh", "b_h")):
        value = getattr(g, name)
        if value is not None:
            b = fit(name, value, (n * hidden,), f"{n}H = {n * hidden}, the gates {cell.stack()} stacked")
            p |= {f"{part}{k}": b[j * hidden:(j + 1) * hidden] for j, k in enumerate(letters)}
    return p, hidden


def gate_parameters(cell: Cell, g, inputs: int) -> tuple[dict, int]:
    weights = [f"w_i{k}" for k in cell.gates] + [f"w_h{k}" for k in cell.gates]
    missing = [name for name in weights if getattr(g, name) is None]
    if missing:
        raise FieldError(missing[0], f"is missing: give every gate's weights ({', '.join(weights)}), or the "
                                     f"stacked weight_ih and weight_hh as {cell.module} stores them")
    first = f"w_h{cell.gates[0]}"
    shape = np.shape(getattr(g, first))
    if len(shape) == 2 and shape[0] != shape[1] or len(shape) == 1:
        raise FieldError(first, f"is {shape_words(shape)}; a recurrent weight is H×H (square), or one number for "
                                "H = 1")
    hidden = shape[0] if shape else 1
    p = {}
    for name in cell.per_gate:
        value = getattr(g, name)
        if value is None:
            continue
        if name.startswith("w_h"):
            p[name] = fit(name, value, (hidden, hidden), f"H×H = {hidden}×{hidden}, as {first} is")
        elif name.startswith("w_i"):
            p[name] = fit(name, value, (hidden, inputs), f"H×I = {hidden}×{inputs}: H = {hidden} hidden units "
                                                         f"(from {first}), I = {inputs} input entries")
        else:
            p[name] = fit(name, value, (hidden,), f"one per hidden unit, H = {hidden}")
    return p, hidden


# ---- loss, gradients, answers -----------------------------------------------------

def loss_value(m: Model, hs: list):
    return recurrent.loss_value(m.loss, {t: hs[t] for t in m.loss_steps}, m.targets)


def output_grads(m: Model, hs: list) -> dict:
    return recurrent.output_grads(m.loss, {t: hs[t] for t in m.loss_steps}, m.targets)


def shaped(value, shape):
    array = np.asarray(value, dtype=object).reshape(shape)
    return array.item() if shape == () else array


def state_shape(m: Model) -> tuple:
    return squeezed((m.hidden,))


def grad_answers(m: Model, grads: dict) -> dict:
    """∂ℓ/∂(each given parameter) in the shape it was given; ∂ℓ/∂h_0 (and ∂ℓ/∂c_0)."""
    found = {}
    for name in m.parameters():
        if name in STACKED:
            part = STACKED_PART[name]
            value = np.concatenate([np.atleast_1d(grads[f"{part}{k}"]) for k in m.cell.gates], axis=0) \
                if part[0] == "b" else np.vstack([grads[f"{part}{k}"] for k in m.cell.gates])
        else:
            value = grads[name]
        found[f"grad_{name}"] = shaped(value, m.shapes[name])
    for s in m.cell.states:
        found[f"grad_{s}0"] = shaped(grads[f"{s}0"], m.shapes.get(f"{s}0", state_shape(m)))
    return found


def updated_answers(m: Model, values: dict, sign=-1) -> dict:
    """One gradient-descent step of every given parameter (not h_0, c_0: they are inputs)."""
    found = {}
    for name in m.parameters():
        weight = parameter_value(m, name)
        step = np.asarray(values[f"grad_{name}"], dtype=object).reshape(np.shape(weight))
        found[f"updated_{name}"] = shaped(weight + sign * m.lr * step, m.shapes[name])
    return found


def parameter_value(m: Model, name: str) -> np.ndarray:
    """A given parameter as the model holds it: stacked ones put back together."""
    if name not in STACKED:
        return m.p[name]
    part = STACKED_PART[name]
    return np.concatenate([m.p[f"{part}{k}"] for k in m.cell.gates], axis=0)


def answer_type(value) -> str:
    if isinstance(value, np.ndarray):
        return "matrix"
    return "real" if isinstance(value, (int, float)) else "expression"


def answer_label(m: Model, name: str) -> str:
    if "[" in name:
        letter, t = name[:-1].split("[")
        return latex(indexed(letter, t))
    if name in ("h", "c"):
        return listing(f"{name}_1", f"{name}_L")
    if name == "loss":
        return written("loss")
    kind, field = name.split("_", 1)
    letter = words(field) if field in STACKED else latex(gate_parameter(field)) if field[1] == "_" \
        else latex(indexed(field[0], 0))
    return derivative("loss", letter) if kind == "grad" else after_update(letter)


# ---- the derivation's frame ------------------------------------------------------

def as_node(v) -> Formula:
    """A value in a formula: a number, a column vector, a matrix (decimals where exact and short)."""
    if isinstance(v, np.ndarray):
        if v.size == 1:
            return as_node(v.flat[0])
        return Array(v if v.ndim == 2 else v.reshape(-1, 1), decimal=True)
    return Number(exact(v), decimal=True)




def letter(name: str, t=None) -> Formula:
    return quantity(name) if t is None else indexed(name, t)


def dl(of: Formula) -> Symbol:
    """∂ℓ/∂of as one letter."""
    return partial_letter(quantity("loss"), of)


def loss_step(m: Model, hs: list) -> Step:
    steps = m.loss_steps
    head = quantity("loss")
    if not recurrent.squared(m.loss):
        entries = [as_node(v) for t in steps for v in hs[t]]
        return Step("Loss", f"The loss is {LOSS_TEXT[m.loss]}, of the outputs {outputs()}.",
                    [distinct([head, plus(entries), as_node(loss_value(m, hs))])])
    scale = recurrent.loss_scale(m.loss, m.targets)
    pairs = [(y, target) for t in steps for y, target in zip(hs[t], m.targets[t])]
    squares = plus([Power(as_node(y) - as_node(target)) for y, target in pairs])
    put_in = squares if scale == 1 else Product([Number(exact(scale)), squares])
    return Step("Loss", f"The loss is {LOSS_TEXT[m.loss]}, of the outputs {outputs()} (the states the cell "
                        "returns).", [distinct([head, put_in, as_node(loss_value(m, hs))])])


def own_error(m: Model, t: int, records: list) -> Formula:
    """∂ℓ/∂y_t with the numbers put in: c·(h_t − y*_t) for a squared loss, 1 for a sum."""
    if not recurrent.squared(m.loss):
        return as_node(np.ones(m.hidden, dtype=object))
    difference = Sum([as_node(records[t]["states"]["h"]), Negative(as_node(m.targets[t]))])
    factor = recurrent.error_factor(m.loss, m.targets)
    return difference if factor == 1 else Product([Number(exact(factor), decimal=True), Group(difference)])


def outputs() -> str:
    return inline(letter("y", "t"), letter("h", "t"))


def error_text(m: Model) -> str:
    """∂ℓ/∂h_t from the loss, in words."""
    head = dl(letter("h", "t"))
    if not recurrent.squared(m.loss):
        return f"From the loss, {inline(head)} is 1 in every entry of each state the loss sums"
    factor = recurrent.error_factor(m.loss, m.targets)
    error = Sum([letter("h", "t"), Negative(letter("y*", "t"))])
    if factor == 1:
        return (f"From the loss, {inline(head, error)} at each step it reads (the ½ cancels the 2 of the "
                "derivative), 0 at the others")
    return f"From the loss, {inline(head, Product([Number(exact(factor), decimal=True), Group(error)]))} at each " \
        "step it reads, 0 at the others"


def update_step(m: Model, values: dict) -> Step:
    lines = []
    for name in m.parameters():
        label = words(name) if name in STACKED else latex(gate_parameter(name))
        lines.append(distinct([Symbol(f"new {name}", after_update(label)),
                           Symbol(name, label) - quantity("eta") * Symbol(f"g {name}", derivative("loss", label)),
                           as_node(parameter_value(m, name)) - Number(exact(m.lr), decimal=True) *
                           as_node(np.asarray(values[f"grad_{name}"], dtype=object)),
                           as_node(values[f"updated_{name}"])]))
    return Step("Gradient-descent step", "Each given weight and bias P moves against its gradient, scaled by the "
                                         f"learning rate: {inline(Symbol('P') - quantity('eta') * dl(Symbol('P')))}.",
                lines)


def partial_letter(of: Formula, by: Formula) -> Symbol:
    """∂of/∂by as one letter of a formula."""
    return Symbol(latex(Partial(of, by)), latex(Partial(of, by)))


# ---- forward and back through time, for any cell ----------------------------------

def affine(m: Model, k: str, x, h) -> np.ndarray:
    """W_ik x + b_ik + W_hk h + b_hk (a bias not given left out)."""
    total = m.p[f"w_i{k}"] @ x + m.p[f"w_h{k}"] @ h
    for bias in (f"b_i{k}", f"b_h{k}"):
        if bias in m.p:
            total = total + m.p[bias]
    return total


def forward(m: Model, step, rules) -> list[dict]:
    """Each step's record (index t; index 0 holds the initial states): pre-activations a[k],
    gates[k], states[s] and whatever the cell keeps for its backward pass."""
    records = [{"states": dict(m.states0)}]
    for x in m.xs:
        records.append(step(m, x, records[-1]["states"], rules))
    return records


def states(records: list, s: str) -> list:
    return [r["states"][s] for r in records]


def backward(m: Model, back, records: list, rules) -> dict:
    """BPTT: each step's errors from the cell's `back`, the parameters' gradients summed over
    the steps (each term kept, per step), ∂ℓ/∂h_0 (and ∂ℓ/∂c_0)."""
    dh_out = output_grads(m, states(records, "h"))
    zero = np.zeros(m.hidden, dtype=object)
    carried = {s: zero for s in m.cell.states}
    per_step, terms = {}, {name: [] for name in m.p}
    for t in range(m.steps, 0, -1):
        into = dict(carried)
        into["h"] = carried["h"] + dh_out.get(t, zero)
        found = back(m, records[t], records[t - 1], m.xs[t - 1], into, rules)
        found["into"] = into
        per_step[t] = found
        for k in m.cell.gates:
            terms[f"w_i{k}"].append((t, np.outer(found["a_i"][k], m.xs[t - 1])))
            terms[f"w_h{k}"].append((t, np.outer(found["a_h"][k], found["h_op"][k])))
            for side, error in (("b_i", found["a_i"][k]), ("b_h", found["a_h"][k])):
                if f"{side}{k}" in terms:
                    terms[f"{side}{k}"].append((t, error))
        carried = found["prev"]
    grads = {name: sum(v for _, v in reversed(found)) for name, found in terms.items()}
    grads |= {f"{s}0": carried[s] for s in m.cell.states}
    return {"steps": per_step, "terms": {name: list(reversed(v)) for name, v in terms.items()}, "grads": grads,
            "dh_out": dh_out}


def answer_values(m: Model, step, back, rules) -> dict:
    records = forward(m, step, rules)
    values = {}
    if not m.symbolic:
        for s in m.cell.states:
            rows = [r["states"][s] if m.hidden > 1 else r["states"][s][0] for r in records[1:]]
            values[s] = np.array(rows, dtype=object)
    for t in range(1, m.steps + 1):
        values |= {f"{k}[{t}]": shaped(records[t]["gates"][k], state_shape(m)) for k in m.cell.gates}
        values |= {f"{s}[{t}]": shaped(records[t]["states"][s], state_shape(m)) for s in m.cell.states}
    if m.loss is not None:
        values["loss"] = loss_value(m, states(records, "h"))
        values |= grad_answers(m, backward(m, back, records, rules)["grads"])
        if m.lr is not None:
            values |= updated_answers(m, values, rules.update_sign)
    if m.symbolic:
        import sympy
        values = {name: sympy.sympify(v) for name, v in values.items()}
    return {name: exact_value(v) for name, v in values.items()}


def exact_value(v):
    if isinstance(v, np.ndarray):
        return np.vectorize(exact, otypes=[object])(v)
    return exact(v)


@dataclass(frozen=True)
class Rules:
    """PyTorch's cells; each mistake changes one thing."""
    sigmoid_as_tanh: str = ""      # a gate squashed by tanh instead of σ
    lstm_carry: str = "forget"     # c_t = f ⊙ c_{t−1} + i ⊙ g; "swapped": i ⊙ c_{t−1} + f ⊙ g; "none": i ⊙ g
    output_squashed: bool = True   # h_t = o_t ⊙ tanh(c_t) (False: o_t ⊙ c_t)
    reset_after_product: bool = True   # n_t = tanh(... + r_t ⊙ (W_hn h + b_hn)) (False: W_hn (r_t ⊙ h) + b_hn)
    z_keeps_old: bool = True       # h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} (False: z ⊙ n + (1 − z) ⊙ h_{t−1})
    update_sign: int = -1


RULES = Rules()


def gate_tanh_for_sigmoid(gates: tuple) -> Places:
    """The mistake of squashing one of `gates` with tanh, one place per gate."""
    return Places("gate_tanh_for_sigmoid", "A gate was squashed with tanh: the gates use the sigmoid σ, so that "
                  "they lie between 0 and 1; tanh is for the candidate and the state.",
                  lambda g: [(f"on the {k} gate", {}, {"sigmoid_as_tanh": k}) for k in gates])


def activation(m: Model, k: str, rules: Rules) -> str:
    return "tanh" if rules.sigmoid_as_tanh == k else m.cell.activations[k]


# ---- the kind ---------------------------------------------------------------------

def entrywise(m: Model, a, b) -> Formula:
    """a ⊙ b for vectors, a b for scalars."""
    return Hadamard(a, b) if m.hidden > 1 else Product([a, b])


def operand(m: Model, records: list, name: str, t: int) -> Formula:
    """A state or input put into a formula: its value, or (symbols, an earlier step's state) its letter."""
    if name == "x":
        return as_node(m.xs[t - 1])
    if m.symbolic and t > 0:
        return letter(name, t)
    return as_node(records[t]["states"][name])


def pre_activation(m: Model, k: str, t: int, records: list, reset=None) -> tuple[Formula, Formula]:
    """W_ik x_t + b_ik + W_hk h_{t−1} + b_hk in letters and with the values put in (`reset`: the
    GRU's candidate, r_t ⊙ (W_hn h_{t−1} + b_hn))."""
    def bias(name, values):
        return [] if name not in m.p else [as_node(m.p[name]) if values else gate_parameter(name)]
    h_prev = operand(m, records, "h", t - 1)
    parts = []
    for values in (False, True):
        inner = [times([as_node(m.p[f"w_i{k}"]) if values else gate_parameter(f"w_i{k}"),
                        operand(m, records, "x", t) if values else letter("x", t)])] + bias(f"b_i{k}", values)
        hidden = [times([as_node(m.p[f"w_h{k}"]) if values else gate_parameter(f"w_h{k}"),
                         h_prev if values else letter("h", t - 1)])] + bias(f"b_h{k}", values)
        if reset is not None:
            r = as_node(records[t]["gates"]["r"]) if values else letter("r", t)
            hidden = [entrywise(m, r, Sum(hidden) if len(hidden) > 1 else hidden[0])]
        parts.append(plus(inner + hidden))
    return parts[0], parts[1]


def gate_line(m: Model, k: str, t: int, records: list, rules: Rules = RULES, reset=None) -> list:
    """k_t = f(W_ik x_t + ... ) = f(values) = f(a) = k_t's value."""
    f = activation(m, k, rules)
    letters, values = pre_activation(m, k, t, records, reset)
    record = records[t]
    line = [letter(k, t), Apply(f, letters)]
    if not m.symbolic:         # with symbols the letters go straight to the formula
        line += [Apply(f, values), Apply(f, as_node(record["a"][k]))]
    line.append(as_node(record["gates"][k]))
    return distinct(line)


class GatedCell(Kind):
    """lstm or gru: the module sets `cell`, `step`, `back` and the derivation's parts."""
    cell: Cell
    Rules = Rules
    changes_only = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Where a problem gives no `vary`: each number of the sequence, states, weights and target redrawn.
        cls.vary = {name: {} for name in ("x", *(f"{s}0" for s in cls.cell.states), *STACKED, *cls.cell.per_gate,
                                          "target")}

    def validate(self, given) -> None:
        read_model(self.cell, given)

    def model(self, given) -> Model:
        return read_model(self.cell, given)

    def compute(self, given, rules: Rules = RULES) -> dict:
        m = self.model(given)
        return {name: Answer(name, answer_type(v), v, answer_label(m, name), detail="[" in name, decimal=True)
                for name, v in answer_values(m, self.step, self.back, rules).items()}

    def answer_names(self, given) -> list[str]:
        return list(self.compute(given))

    def derive(self, given, answers) -> list[Step]:
        m = self.model(given)
        records = forward(m, self.local_step if m.symbolic else self.step, RULES)
        steps = [self.model_step(m)]
        if m.stacked:
            steps.append(split_step(m))
        for t in range(1, m.steps + 1):
            steps.append(Step(f"Step t = {t}", self.step_text(m, t), self.forward_lines(m, t, records)))
        if m.loss is None:
            return steps
        hs = states(records, "h")
        steps.append(loss_step(m, hs))
        bw = backward(m, self.back, records, RULES)
        for t in range(m.steps, 0, -1):
            steps.append(Step(f"Back through step t = {t}", self.back_text(m, t),
                              self.backward_lines(m, t, records, bw)))
        steps.append(gradient_step(m, records, bw, {name: a.value for name, a in answers.items()}))
        if m.lr is not None:
            steps.append(update_step(m, {name: a.value for name, a in answers.items()}))
        return steps

    def local_step(self, m: Model, x, prev: dict, rules) -> dict:
        """A step with the state before it as letters (h_{t−1}, c_{t−1}): how the derivation
        writes a step of a symbolic problem (the answers put the earlier formulas in)."""
        t = next(i for i, v in enumerate(m.xs) if v is x) + 1
        if t == 1:
            return self.step(m, x, prev, rules)
        local = {s: np.array([symbol_of(s, t - 1)], dtype=object) for s in m.cell.states}
        return self.step(m, x, local, rules)

    def named(self, given) -> dict:
        """The quantities a formula answer may use (scalar cells): x_t, the gates and states of each step."""
        m = self.model(given)
        records = forward(m, self.step, RULES)
        found = {}
        for t in range(1, m.steps + 1):
            found[f"x_{t}"] = m.xs[t - 1]
            found |= {f"{k}_{t}": records[t]["gates"][k] for k in m.cell.gates}
            found |= {f"{s}_{t}": records[t]["states"][s] for s in m.cell.states}
        found |= {f"{s}_0": m.states0[s] for s in m.cell.states}
        return {name: exact(np.asarray(v).flat[0]) for name, v in found.items() if np.size(v) == 1}


def symbol_of(state: str, t: int):
    from .common import real_symbol
    return real_symbol(f"{state}_{t}")


def split_step(m: Model) -> Step:
    cell, n = m.cell, len(m.cell.gates)
    lines = []
    for name in m.parameters():
        part = STACKED_PART[name]
        blocks = [gate_parameter(f"{part}{k}") for k in cell.gates]
        stacked = Array(np.array([[b] for b in blocks], dtype=object))
        lines.append([Symbol(name, words(name)), stacked])
    for name in m.parameters():
        part = STACKED_PART[name]
        for k in cell.gates:
            lines.append([gate_parameter(f"{part}{k}"), as_node(m.p[f"{part}{k}"])])
    return Step("The weights by gate", f"{cell.module} stores each weight and bias of the {n} gates stacked by rows, "
                                       f"in the order {cell.stack()}: rows 1 to H belong to {cell.gates[0]}, rows "
                                       f"H + 1 to 2H to {cell.gates[1]}, and so on (H = {m.hidden}).", lines)


def gradient_step(m: Model, records: list, bw: dict, values: dict) -> Step:
    lines = []
    for name in (name for name in m.cell.per_gate if name in m.p):
        k = name[3:]
        error = partial_letter(quantity("loss"), indexed("a", k, "t")) if name[2] == "i" or \
            bw_side_same(m, k) else Symbol(f"e{k}", latex(hidden_error_letter(m, k)))
        other = letter("x", "t") if name.startswith("w_i") else \
            (letter("h", "t-1") if name.startswith("w_h") else None)
        factors = [error] if other is None else [error, Transpose(other) if m.hidden > 1 or m.inputs > 1 else other]
        head = Symbol(f"grad {name}", derivative("loss", latex(gate_parameter(name))))
        terms = [as_node(v) for _, v in bw["terms"][name]]
        lines.append(distinct([head, Summation(Symbol("t"), 1, m.steps, times(factors)), plus(terms),
                           as_node(bw["grads"][name])]))
    if m.stacked:
        lines += [[Symbol(f"grad {name}", derivative("loss", words(name))), as_node(values[f"grad_{name}"])]
                  for name in m.parameters()]
    for s in m.cell.states:
        lines.append([Symbol(f"grad {s}0", derivative("loss", latex(indexed(s, 0)))), as_node(bw["grads"][f"{s}0"])])
    text = ("Each weight and bias is used at every step, so its gradient is a sum over the steps: the error of the "
            f"gate's pre-activation at step t times what the weight multiplied there ({inline(letter('x', 't'))}, or "
            f"{inline(letter('h', 't-1'))}); a bias takes the error itself. " +
            " and ".join(inline(dl(indexed(s, 0))) for s in m.cell.states) +
            (" are" if "c" in m.cell.states else " is") + " what step 1 sent back." +
            (" The stacked gradients put the gates' blocks back in PyTorch's order." if m.stacked else ""))
    return Step("Gradients", text, lines)


def bw_side_same(m: Model, k: str) -> bool:
    """Whether W_hk's error is the pre-activation's own (all but the GRU's candidate n)."""
    return not (m.cell.name == "gru" and k == "n")


def hidden_error_letter(m: Model, k: str) -> Formula:
    return entrywise(m, letter("r", "t"), partial_letter(quantity("loss"), indexed("a", k, "t")))
