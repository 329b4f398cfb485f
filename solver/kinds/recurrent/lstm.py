"""lstm: PyTorch's nn.LSTM cell run over a sequence, its loss, BPTT and one gradient step.

PyTorch's equations (the derivation states them), for t = 1..L:
  i_t = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)     input gate
  f_t = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)     forget gate
  g_t = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)  candidate
  o_t = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)     output gate
  c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t,   h_t = o_t ⊙ tanh(c_t)
weight_ih = [W_ii; W_if; W_ig; W_io] (4H×I), weight_hh likewise (4H×H), bias_ih, bias_hh (4H).
BPTT: δh_t = ∂ℓ/∂h_t (the loss's, plus Σ_k W_hkᵀ ∂ℓ/∂a_{k,t+1}); δc_t = δh_t ⊙ o_t ⊙ (1 − tanh²c_t)
+ δc_{t+1} ⊙ f_{t+1}; ∂ℓ/∂a_o = δh_t ⊙ tanh(c_t) ⊙ o(1 − o), ∂ℓ/∂a_f = δc_t ⊙ c_{t−1} ⊙ f(1 − f),
∂ℓ/∂a_i = δc_t ⊙ g_t ⊙ i(1 − i), ∂ℓ/∂a_g = δc_t ⊙ i_t ⊙ (1 − g²); ∂ℓ/∂c_0 = δc_1 ⊙ f_1.
"""
from __future__ import annotations

from ...core.model import Step
from ...math.nodes import Apply, Group, Negative, Number, Power, Product, Sum
from ..mistakes import Change, shared
from ..sizes import distinct
from .common import plus
from ...math.notation import indexed
from .cells import RULES, Cell, GatedCell, Model, Rules, activation, affine, apply, as_node, dl, entrywise, \
    error_text, gate_line, gate_parameter, gate_tanh_for_sigmoid, given_symbols, inline, letter, make_given, \
    own_error, recurrent_weight, slope_of_output


CELL = Cell("lstm", "nn.LSTM", ("i", "f", "g", "o"),
            {"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid"}, ("h", "c"),
            {"i": "input gate", "f": "forget gate", "g": "candidate (cell gate)", "o": "output gate"})
Given = make_given(CELL, __name__)
GIVEN_SYMBOLS = given_symbols(CELL)


def carried(rules: Rules) -> tuple:
    """The gates that scale c_{t−1} and g_t: (f, i) as PyTorch; (i, f) swapped; (None, i) the carry dropped."""
    return {"forget": ("f", "i"), "swapped": ("i", "f"), "none": (None, "i")}[rules.lstm_carry]


def step(m: Model, x, prev: dict, rules: Rules = RULES) -> dict:
    a = {k: affine(m, k, x, prev["h"]) for k in CELL.gates}
    gates = {k: apply(activation(m, k, rules), a[k]) for k in CELL.gates}
    keep, write = carried(rules)
    c = gates[write] * gates["g"] + (gates[keep] * prev["c"] if keep else 0)
    squashed = apply("tanh", c) if rules.output_squashed else c
    return {"a": a, "gates": gates, "squashed": squashed, "states": {"h": gates["o"] * squashed, "c": c}}


def back(m: Model, record: dict, before: dict, x, into: dict, rules: Rules = RULES) -> dict:
    """One step back: from ∂ℓ/∂h_t and ∂ℓ/∂c_t (`into`), the gates' pre-activation errors and
    what reaches h_{t−1}, c_{t−1}."""
    gates, prev = record["gates"], before["states"]
    dh = into["h"]
    dc = into["c"] + dh * gates["o"] * (slope_of_output("tanh", record["squashed"]) if rules.output_squashed else 1)
    keep, write = carried(rules)
    d = {"o": dh * record["squashed"], "g": dc * gates[write], write: dc * gates["g"]}
    if keep:
        d[keep] = dc * prev["c"]
    errors = {k: d.get(k, 0 * dc) * slope_of_output(activation(m, k, rules), gates[k]) for k in CELL.gates}
    dh_prev = sum(m.p[f"w_h{k}"].T @ errors[k] for k in CELL.gates)
    dc_prev = dc * gates[keep] if keep else 0 * dc
    return {"a_i": errors, "a_h": errors, "h_op": {k: prev["h"] for k in CELL.gates},
            "prev": {"h": dh_prev, "c": dc_prev}, "dc": dc}


# ---- the derivation --------------------------------------------------------------

def model_step(m: Model) -> Step:
    def affine_letters(k):
        terms = [gate_parameter(f"w_i{k}") * letter("x", "t")] + \
            ([gate_parameter(f"b_i{k}")] if f"b_i{k}" in m.p else []) + \
            [gate_parameter(f"w_h{k}") * letter("h", "t-1")] + ([gate_parameter(f"b_h{k}")] if f"b_h{k}" in m.p else [])
        return Sum(terms)
    lines = [[letter(k, "t"), Apply(CELL.activations[k], affine_letters(k))] for k in CELL.gates]
    lines.append([letter("c", "t"), entrywise(m, letter("f", "t"), letter("c", "t-1")) +
                  entrywise(m, letter("i", "t"), letter("g", "t"))])
    lines.append([letter("h", "t"), entrywise(m, letter("o", "t"), Apply("tanh", letter("c", "t")))])
    sizes = f"H = {m.hidden} hidden unit{'s' if m.hidden > 1 else ''}, I = {m.inputs} input entr" + \
        ("ies" if m.inputs > 1 else "y")
    text = (f"PyTorch's nn.LSTM ({sizes}) reads {inline(letter('x', 1))}, ..., {inline(letter('x', m.steps))} one "
            "step at a time. Its four gates, in the order PyTorch stacks them, are the input gate i, the forget gate "
            "f, the candidate g and the output gate o; σ is the sigmoid 1/(1 + e^(−a))" +
            (", ⊙ multiplies entry by entry, and vectors are columns" if m.hidden > 1 else "") +
            ". The forget gate scales the old cell state, the input gate the candidate, and the new hidden state is "
            "the output gate times tanh of the new cell state. Steps count from 1; "
            f"{inline(letter('h', 0))} and {inline(letter('c', 0))} are zeros where the problem does not give them, "
            "as nn.LSTM takes them" + ("." if len([n for n in m.p if n[0] == "b"]) == 8 else
                                       ", and a bias not given is 0."))
    return Step("The cell", text.strip(), lines)


def step_text(m: Model, t: int) -> str:
    if t == 1:
        return (f"The four gates from {inline(letter('x', 1))} and {inline(letter('h', 0))}, then the new cell "
                "state and hidden state." +
                (f" With symbols, a later step writes the states before it as {inline(letter('h', 't-1'))} and "
                 f"{inline(letter('c', 't-1'))}: the answers put their formulas in." if m.symbolic else ""))
    return f"The same with {inline(letter('x', t))} and the states of step {t - 1}."


def forward_lines(m: Model, t: int, records: list) -> list:
    lines = [gate_line(m, k, t, records) for k in CELL.gates]
    record = records[t]

    def shown(name, step):
        if name in CELL.gates:
            return as_node(records[step]["gates"][name])
        if m.symbolic and step < t:
            return letter(name, step) if step > 0 else as_node(m.states0[name])
        return as_node(records[step]["states"][name])
    c_values = entrywise(m, shown("f", t), shown("c", t - 1)) + entrywise(m, shown("i", t), shown("g", t))
    h_values = entrywise(m, shown("o", t), Apply("tanh", as_node(record["states"]["c"])))
    lines.append(distinct([letter("c", t), entrywise(m, letter("f", t), letter("c", t - 1)) +
                       entrywise(m, letter("i", t), letter("g", t))] + ([] if m.symbolic else [c_values]) +
                      [as_node(record["states"]["c"])]))
    lines.append(distinct([letter("h", t), entrywise(m, letter("o", t), Apply("tanh", letter("c", t)))] +
                      ([] if m.symbolic else [h_values]) + [as_node(record["states"]["h"])]))
    return lines


def back_text(m: Model, t: int) -> str:
    if t == m.steps:
        return ("Backpropagation through time, from the last step back. " + error_text(m) + ". The cell state's "
                f"error {inline(dl(letter('c', 't')))} comes through {inline(letter('h', 't'))} (times the output "
                "gate and tanh's slope) and from the next step through "
                f"{inline(letter('c', 't+1'))} (times {inline(letter('f', 't+1'))}). Each gate's pre-activation "
                f"error {inline(dl(indexed('a', 'k', 't')))} multiplies in the slope of its activation, written "
                "with its output: σ' = σ(1 − σ), tanh' = 1 − tanh².")
    return (f"{inline(letter('h', t))} also reached step {t + 1}'s four gates through their recurrent weights, and "
            f"{inline(letter('c', t))} reached {inline(letter('c', t + 1))} through {inline(letter('f', t + 1))}.")


def backward_lines(m: Model, t: int, records: list, bw: dict) -> list:
    found, record = bw["steps"][t], records[t]
    gates = record["gates"]
    h_terms, h_values = [], []
    if t in bw["dh_out"]:
        h_terms.append(dl(indexed("y", t)))
        h_values.append(own_error(m, t, records))
    if t < m.steps:
        h_terms += [Product([recurrent_weight(m, k), dl(indexed("a", k, t + 1))]) for k in CELL.gates]
        h_values += [Product([as_node(m.p[f"w_h{k}"].T), as_node(bw["steps"][t + 1]["a_i"][k])]) for k in CELL.gates]
    dh, dc = found["into"]["h"], found["dc"]
    lines = [distinct([dl(indexed("h", t)), plus(h_terms), plus(h_values), as_node(dh)])]
    c_terms = [entrywise(m, entrywise(m, dl(indexed("h", t)), letter("o", t)),
                         Sum([Number(1), Negative(Power(Apply("tanh", letter("c", t))))]))]
    if t < m.steps:
        c_terms.append(entrywise(m, dl(indexed("c", t + 1)), letter("f", t + 1)))
    put_in = [entrywise(m, entrywise(m, as_node(dh), as_node(gates["o"])),
                        Sum([Number(1), Negative(Power(as_node(record["squashed"])))]))]
    if t < m.steps:
        put_in.append(entrywise(m, as_node(bw["steps"][t + 1]["dc"]), as_node(records[t + 1]["gates"]["f"])))
    lines.append(distinct([dl(indexed("c", t)), plus(c_terms), plus(put_in), as_node(dc)]))
    source = {"o": (dl(indexed("h", t)), Apply("tanh", letter("c", t)), dh, record["squashed"]),
              "f": (dl(indexed("c", t)), letter("c", t - 1), dc, records[t - 1]["states"]["c"]),
              "i": (dl(indexed("c", t)), letter("g", t), dc, gates["g"]),
              "g": (dl(indexed("c", t)), letter("i", t), dc, gates["i"])}
    for k in ("o", "f", "i", "g"):
        error, other, error_value, other_value = source[k]
        slope = Sum([Number(1), Negative(Power(letter(k, t)))]) if k == "g" else \
            Product([letter(k, t), Group(Sum([Number(1), Negative(letter(k, t))]))])
        slope_value = slope_of_output(CELL.activations[k], gates[k])
        lines.append(distinct([dl(indexed("a", k, t)), entrywise(m, entrywise(m, error, other), Group(slope)),
                           entrywise(m, entrywise(m, as_node(error_value), as_node(other_value)), as_node(slope_value)),
                           as_node(found["a_i"][k])]))
    return lines


MISTAKES = [
    Change("forget_input_swapped", "The forget and input gates are swapped: c_t = f_t ⊙ c_(t−1) + i_t ⊙ g_t, the "
           "forget gate scaling the old cell state and the input gate the candidate.",
           rules={"lstm_carry": "swapped"}),
    gate_tanh_for_sigmoid(("i", "f", "o")),
    Change("cell_carry_dropped", "The c_(t−1) term is missing: the cell state carries over, c_t = f_t ⊙ c_(t−1) + "
           "i_t ⊙ g_t.", rules={"lstm_carry": "none"}),
    Change("output_gate_on_c", "The output gate was applied to c_t itself: h_t = o_t ⊙ tanh(c_t), the cell state "
           "squashed by tanh first.", rules={"output_squashed": False}),
    shared("update_sign_flipped", applies=lambda g: g.learning_rate is not None),
]


class Lstm(GatedCell):
    name = "lstm"
    summary = ("PyTorch's nn.LSTM over a sequence: the gates, cell and hidden states step by step, the loss, "
               "gradients by backpropagation through time, one gradient-descent step")
    cell = CELL
    Given = Given
    mistakes = MISTAKES
    answers = {
        "i[t]": "the input gate i_t, steps counted from 1 (f[t], g[t], o[t] the same for f, g, o)",
        "f[t]": "the forget gate f_t", "g[t]": "the candidate g_t", "o[t]": "the output gate o_t",
        "c[t]": "the cell state c_t", "h[t]": "the hidden state h_t",
        "h": "every hidden state h_1..h_L (a list, or one row per step; nn.LSTM's output); numeric problems",
        "c": "every cell state c_1..c_L; numeric problems",
        "loss": "the loss ℓ of the outputs y_t = h_t, with a loss (a target for the squared ones)",
        "grad_FIELD": "∂ℓ/∂FIELD for each weight and bias as given (grad_weight_ih, grad_bias_hh, or grad_w_ii, "
                      "grad_b_hf, ...), in its shape; grad_h0 and grad_c0",
        "updated_FIELD": "FIELD − η ∂ℓ/∂FIELD, with a learning_rate",
    }
    step = staticmethod(step)
    back = staticmethod(back)
    model_step = staticmethod(model_step)
    step_text = staticmethod(step_text)
    forward_lines = staticmethod(forward_lines)
    back_text = staticmethod(back_text)
    backward_lines = staticmethod(backward_lines)


KIND = Lstm()
