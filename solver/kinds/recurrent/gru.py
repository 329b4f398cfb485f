"""gru: PyTorch's nn.GRU cell run over a sequence, its loss, BPTT and one gradient step.

PyTorch's equations (the derivation states them), for t = 1..L:
  r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)               reset gate
  z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)               update gate
  n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))    candidate (PyTorch's form: r_t after the product)
  h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}
weight_ih = [W_ir; W_iz; W_in] (3H×I), weight_hh likewise (3H×H), bias_ih, bias_hh (3H).
BPTT: ∂ℓ/∂a_n = δh_t ⊙ (1 − z_t) ⊙ (1 − n_t²), ∂ℓ/∂a_z = δh_t ⊙ (h_{t−1} − n_t) ⊙ z(1 − z),
∂ℓ/∂a_r = ∂ℓ/∂a_n ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1 − r); W_hn and b_hn take r_t ⊙ ∂ℓ/∂a_n;
δh_{t−1} = δh_t ⊙ z_t + W_hrᵀ ∂ℓ/∂a_r + W_hzᵀ ∂ℓ/∂a_z + W_hnᵀ (r_t ⊙ ∂ℓ/∂a_n).
"""
from __future__ import annotations

from ...core.model import Step
from ...math.nodes import Apply, Group, Negative, Number, Power, Product, Sum
from ...math.notation import indexed
from ..mistakes import Change, shared
from ..sizes import distinct
from .common import plus
from .cells import RULES, Cell, GatedCell, Model, Rules, activation, apply, as_node, dl, entrywise, error_text, \
    gate_line, gate_parameter, gate_tanh_for_sigmoid, given_symbols, inline, letter, make_given, own_error, \
    recurrent_weight, slope_of_output


CELL = Cell("gru", "nn.GRU", ("r", "z", "n"), {"r": "sigmoid", "z": "sigmoid", "n": "tanh"}, ("h",),
            {"r": "reset gate", "z": "update gate", "n": "candidate (new gate)"})
Given = make_given(CELL, __name__)
GIVEN_SYMBOLS = given_symbols(CELL)


def hidden_part(m: Model, h) -> object:
    """W_hn h + b_hn."""
    return m.p["w_hn"] @ h + (m.p["b_hn"] if "b_hn" in m.p else 0)


def step(m: Model, x, prev: dict, rules: Rules = RULES) -> dict:
    h = prev["h"]
    a, gates = {}, {}
    for k in ("r", "z"):
        a[k] = m.p[f"w_i{k}"] @ x + m.p[f"w_h{k}"] @ h + sum(m.p[b] for b in (f"b_i{k}", f"b_h{k}") if b in m.p)
        gates[k] = apply(activation(m, k, rules), a[k])
    inner = m.p["w_in"] @ x + (m.p["b_in"] if "b_in" in m.p else 0)
    part = hidden_part(m, h) if rules.reset_after_product else hidden_part(m, gates["r"] * h)
    a["n"] = inner + (gates["r"] * part if rules.reset_after_product else part)
    gates["n"] = apply("tanh", a["n"])
    z = gates["z"]
    new = (1 - z) * gates["n"] + z * h if rules.z_keeps_old else z * gates["n"] + (1 - z) * h
    return {"a": a, "gates": gates, "part": part, "states": {"h": new}}


def back(m: Model, record: dict, before: dict, x, into: dict, rules: Rules = RULES) -> dict:
    gates, h = record["gates"], before["states"]["h"]
    r, z, n = gates["r"], gates["z"], gates["n"]
    dh = into["h"]
    if rules.z_keeps_old:
        dn, dz, direct = dh * (1 - z), dh * (h - n), dh * z
    else:
        dn, dz, direct = dh * z, dh * (n - h), dh * (1 - z)
    da_n = dn * (1 - n * n)
    if rules.reset_after_product:
        hidden_error, operand = da_n * r, h
        dr = da_n * record["part"]
        through_n = m.p["w_hn"].T @ hidden_error
    else:
        hidden_error, operand = da_n, r * h
        du = m.p["w_hn"].T @ da_n
        dr, through_n = du * h, du * r
    da_r = dr * slope_of_output(activation(m, "r", rules), r)
    da_z = dz * slope_of_output(activation(m, "z", rules), z)
    dh_prev = direct + through_n + m.p["w_hr"].T @ da_r + m.p["w_hz"].T @ da_z
    return {"a_i": {"r": da_r, "z": da_z, "n": da_n}, "a_h": {"r": da_r, "z": da_z, "n": hidden_error},
            "h_op": {"r": h, "z": h, "n": operand}, "prev": {"h": dh_prev}}


# ---- the derivation --------------------------------------------------------------

def affine_letters(m: Model, k: str, t) -> tuple:
    inner = [gate_parameter(f"w_i{k}") * letter("x", t)] + ([gate_parameter(f"b_i{k}")] if f"b_i{k}" in m.p else [])
    hidden = [gate_parameter(f"w_h{k}") * letter("h", t - 1 if isinstance(t, int) else "t-1")] + \
        ([gate_parameter(f"b_h{k}")] if f"b_h{k}" in m.p else [])
    return inner, hidden


def model_step(m: Model) -> Step:
    lines = []
    for k in ("r", "z"):
        inner, hidden = affine_letters(m, k, "t")
        lines.append([letter(k, "t"), Apply("sigmoid", Sum(inner + hidden))])
    inner, hidden = affine_letters(m, "n", "t")
    lines.append([letter("n", "t"), Apply("tanh", Sum(inner + [entrywise(m, letter("r", "t"), Group(plus(hidden)))]))])
    lines.append([letter("h", "t"), entrywise(m, Group(Sum([Number(1), Negative(letter("z", "t"))])), letter("n", "t"))
                  + entrywise(m, letter("z", "t"), letter("h", "t-1"))])
    sizes = f"H = {m.hidden} hidden unit{'s' if m.hidden > 1 else ''}, I = {m.inputs} input entr" + \
        ("ies" if m.inputs > 1 else "y")
    reset = entrywise(m, letter("r", "t"), Group(plus(affine_letters(m, "n", "t")[1])))
    text = (f"PyTorch's nn.GRU ({sizes}) reads {inline(letter('x', 1))}, ..., {inline(letter('x', m.steps))} one "
            "step at a time. Its gates, in the order PyTorch stacks them, are the reset gate r, the update gate z "
            "and the candidate n; σ is the sigmoid" +
            (", ⊙ multiplies entry by entry, and vectors are columns" if m.hidden > 1 else "") +
            f". PyTorch's candidate applies the reset gate after the product, {inline(reset)}, the recurrent bias "
            "inside (the original paper applies it to the state first). The update gate keeps the old state: where "
            f"it is 1, {inline(letter('h', 't'), letter('h', 't-1'))}. Steps count from 1; "
            f"{inline(letter('h', 0))} is zeros where the problem does not give it, as nn.GRU takes it" +
            ("." if len([n for n in m.p if n[0] == "b"]) == 6 else ", and a bias not given is 0."))
    return Step("The cell", text, lines)


def step_text(m: Model, t: int) -> str:
    if t == 1:
        return (f"The reset and update gates from {inline(letter('x', 1))} and {inline(letter('h', 0))}, then the "
                "candidate and the new state." +
                (f" With symbols, a later step writes the state before it as {inline(letter('h', 't-1'))}: the "
                 "answers put its formula in." if m.symbolic else ""))
    return f"The same with {inline(letter('x', t))} and {inline(letter('h', t - 1))}."


def forward_lines(m: Model, t: int, records: list) -> list:
    lines = [gate_line(m, k, t, records) for k in ("r", "z")]
    lines.append(gate_line(m, "n", t, records, reset=True))
    record = records[t]
    previous = letter("h", t - 1) if m.symbolic and t > 1 else as_node(records[t - 1]["states"]["h"])
    z = as_node(record["gates"]["z"])
    put_in = entrywise(m, Group(Sum([Number(1), Negative(z)])), as_node(record["gates"]["n"])) + \
        entrywise(m, z, previous)
    lines.append(distinct([letter("h", t), entrywise(m, Group(Sum([Number(1), Negative(letter("z", t))])), letter("n", t))
                       + entrywise(m, letter("z", t), letter("h", t - 1))] + ([] if m.symbolic else [put_in]) +
                      [as_node(record["states"]["h"])]))
    return lines


def back_text(m: Model, t: int) -> str:
    if t == m.steps:
        return ("Backpropagation through time, from the last step back. " + error_text(m) + ". The new state mixes "
                f"the candidate (weight 1 − z) and the old state (weight z), so {inline(dl(letter('h', 't')))} "
                "reaches the candidate times 1 − z and the update gate times the old state minus the candidate; the "
                "reset gate is reached through the candidate, times what it multiplied, "
                f"{inline(plus(affine_letters(m, 'n', 't')[1]))}. Each pre-activation error multiplies in its "
                "activation's slope, written with its output: σ' = σ(1 − σ), tanh' = 1 − tanh².")
    return (f"{inline(letter('h', t))} reached {inline(letter('h', t + 1))} directly (times "
            f"{inline(letter('z', t + 1))}) and through step {t + 1}'s three gates.")


def backward_lines(m: Model, t: int, records: list, bw: dict) -> list:
    found, record = bw["steps"][t], records[t]
    gates, h = record["gates"], records[t - 1]["states"]["h"]
    terms = [dl(indexed("y", t))] if t in bw["dh_out"] else []
    values = [own_error(m, t, records)] if t in bw["dh_out"] else []
    if t < m.steps:
        after, later = records[t + 1]["gates"], bw["steps"][t + 1]
        terms.append(entrywise(m, dl(indexed("h", t + 1)), letter("z", t + 1)))
        values.append(entrywise(m, as_node(later["into"]["h"]), as_node(after["z"])))
        terms += [Product([recurrent_weight(m, k), dl(indexed("a", k, t + 1)) if k != "n" else
                           Group(entrywise(m, letter("r", t + 1), dl(indexed("a", "n", t + 1))))])
                  for k in ("r", "z", "n")]
        values += [Product([as_node(m.p[f"w_h{k}"].T), as_node(later["a_h"][k])]) for k in ("r", "z", "n")]
    dh = found["into"]["h"]
    lines = [distinct([dl(indexed("h", t)), plus(terms), plus(values), as_node(dh)])]
    one_minus_z = Group(Sum([Number(1), Negative(letter("z", t))]))
    lines.append(distinct([dl(indexed("a", "n", t)),
                       entrywise(m, entrywise(m, dl(indexed("h", t)), one_minus_z),
                                 Group(Sum([Number(1), Negative(Power(letter("n", t)))]))),
                       entrywise(m, entrywise(m, as_node(dh), as_node(1 - gates["z"])),
                                 as_node(1 - gates["n"] * gates["n"])),
                       as_node(found["a_i"]["n"])]))
    lines.append(distinct([dl(indexed("a", "z", t)),
                       entrywise(m, entrywise(m, dl(indexed("h", t)), Group(letter("h", t - 1) - letter("n", t))),
                                 Group(Product([letter("z", t), Group(Sum([Number(1), Negative(letter("z", t))]))]))),
                       entrywise(m, entrywise(m, as_node(dh), as_node(h - gates["n"])),
                                 as_node(slope_of_output("sigmoid", gates["z"]))),
                       as_node(found["a_i"]["z"])]))
    hidden = plus([gate_parameter("w_hn") * letter("h", t - 1)] + ([gate_parameter("b_hn")] if "b_hn" in m.p else []))
    lines.append(distinct([dl(indexed("a", "r", t)),
                       entrywise(m, entrywise(m, dl(indexed("a", "n", t)), Group(hidden)),
                                 Group(Product([letter("r", t), Group(Sum([Number(1), Negative(letter("r", t))]))]))),
                       entrywise(m, entrywise(m, as_node(found["a_i"]["n"]), as_node(record["part"])),
                                 as_node(slope_of_output("sigmoid", gates["r"]))),
                       as_node(found["a_i"]["r"])]))
    return lines


MISTAKES = [
    Change("reset_before_product", "The reset gate was applied to h_(t−1) before the product: PyTorch's candidate "
           "is n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_(t−1) + b_hn)), r_t multiplying W_hn h_(t−1) + b_hn, "
           "its bias too.", rules={"reset_after_product": False}),
    Change("update_gate_reversed", "z weights the two states the wrong way round: PyTorch's GRU keeps the old "
           "state where z is 1, h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_(t−1).", rules={"z_keeps_old": False}),
    gate_tanh_for_sigmoid(("r", "z")),
    shared("update_sign_flipped", applies=lambda g: g.learning_rate is not None),
]


class Gru(GatedCell):
    name = "gru"
    summary = ("PyTorch's nn.GRU over a sequence: the gates and hidden states step by step, the loss, gradients "
               "by backpropagation through time, one gradient-descent step")
    cell = CELL
    Given = Given
    mistakes = MISTAKES
    answers = {
        "r[t]": "the reset gate r_t, steps counted from 1", "z[t]": "the update gate z_t",
        "n[t]": "the candidate n_t", "h[t]": "the hidden state h_t",
        "h": "every hidden state h_1..h_L (a list, or one row per step; nn.GRU's output); numeric problems",
        "loss": "the loss ℓ of the outputs y_t = h_t, with a loss (a target for the squared ones)",
        "grad_FIELD": "∂ℓ/∂FIELD for each weight and bias as given (grad_weight_ih, grad_bias_hh, or grad_w_ir, "
                      "grad_b_hn, ...), in its shape; grad_h0",
        "updated_FIELD": "FIELD − η ∂ℓ/∂FIELD, with a learning_rate",
    }
    step = staticmethod(step)
    back = staticmethod(back)
    model_step = staticmethod(model_step)
    step_text = staticmethod(step_text)
    forward_lines = staticmethod(forward_lines)
    back_text = staticmethod(back_text)
    backward_lines = staticmethod(backward_lines)


KIND = Gru()
