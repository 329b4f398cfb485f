"""The lstm and gru kinds against PyTorch: nn.LSTM / nn.GRU loaded with the problem's weights
for the forward pass, autograd for the loss's gradients; each mistake against a torch
re-implementation of the cell with that one change; symbolic cells at random points; the CLI."""
import json
import random

import numpy as np
import pytest

from conftest import assert_bad_input, one_problem_file, optional_module, require_module, run_solver

torch = optional_module("torch")

GATES = {"lstm": "ifgo", "gru": "rzn"}
LOSSES = ("mse_last", "mse_all", "sse_last", "torch_mse_all", "sum_last", "sum_all")


def kind(name):
    from solver.kinds import get_kind
    return get_kind(name)


def answers(name, given, rules=None) -> dict:
    k = kind(name)
    read = k.read(given)
    found = k.compute(read) if rules is None else k.compute(read, rules)
    return {n: a.value for n, a in found.items()}


def tenth(rng):
    return rng.randint(-10, 10) / 10


def random_case(rng, cell):
    """A problem as a file writes it, and the same numbers for torch (stacked, canonical shapes)."""
    n = len(GATES[cell])
    hidden, inputs, steps = rng.randint(1, 3), rng.randint(1, 3), rng.randint(1, 4)
    draw = lambda *shape: np.array([tenth(rng) for _ in range(int(np.prod(shape)))]).reshape(shape)  # noqa: E731
    case = {"x": draw(steps, inputs), "weight_ih": draw(n * hidden, inputs), "weight_hh": draw(n * hidden, hidden),
            "bias_ih": draw(n * hidden) if rng.random() < 0.6 else None,
            "bias_hh": draw(n * hidden) if rng.random() < 0.5 else None,
            "h0": draw(hidden) if rng.random() < 0.6 else None, "loss": rng.choice(LOSSES),
            "learning_rate": rng.choice([None, 0.1, 0.5])}
    if cell == "lstm":
        case["c0"] = draw(hidden) if rng.random() < 0.6 else None
    case["target"] = None if case["loss"].startswith("sum") else (
        draw(steps, hidden) if case["loss"].endswith("_all") else draw(hidden))
    given = {"x": (case["x"][:, 0] if inputs == 1 else case["x"]).tolist(), "loss": case["loss"]}
    for name in ("h0", "c0", "target"):
        if case.get(name) is not None:
            given[name] = squeezed(case[name])
    if case["learning_rate"] is not None:
        given["learning_rate"] = case["learning_rate"]
    if rng.random() < 0.5:
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            if case[name] is not None:
                given[name] = squeezed(case[name])
    else:
        for j, k in enumerate(GATES[cell]):
            rows = slice(j * hidden, (j + 1) * hidden)
            given[f"w_i{k}"] = squeezed(case["weight_ih"][rows])
            given[f"w_h{k}"] = squeezed(case["weight_hh"][rows])
            for side, name in (("i", "bias_ih"), ("h", "bias_hh")):
                if case[name] is not None:
                    given[f"b_{side}{k}"] = squeezed(case[name][rows])
    return given, case, hidden, inputs


def squeezed(a):
    """As a file may write it: a size-1 axis left out, one entry a number."""
    short = tuple(k for k in a.shape if k != 1)
    a = a.reshape(short)
    return a.tolist() if a.ndim else float(a)


def torch_module(case, cell, hidden, inputs):
    module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(inputs, hidden, bias=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            value = case[name] if case[name] is not None else np.zeros(len(GATES[cell]) * hidden)
            getattr(module, f"{name}_l0").copy_(torch.tensor(value, dtype=torch.float64))
    return module


def torch_loss(out, case):
    """The rnn kind's losses, written here again in torch from their definitions."""
    loss, steps = case["loss"], out.shape[0]
    read = out if loss.endswith("_all") else out[-1:]
    if loss.startswith("sum"):
        return read.sum()
    target = torch.tensor(case["target"], dtype=torch.float64).reshape(read.shape)
    squares = ((read - target) ** 2).sum()
    return {"mse": squares / 2, "sse": squares, "torch": torch.nn.functional.mse_loss(read, target)}[
        loss.split("_")[0]] if steps else None


def torch_answers(case, cell, hidden, inputs):
    module = torch_module(case, cell, hidden, inputs)
    x = torch.tensor(case["x"], dtype=torch.float64).reshape(-1, 1, inputs)
    zero = np.zeros(hidden)
    h0 = torch.tensor(case["h0"] if case["h0"] is not None else zero, dtype=torch.float64).reshape(1, 1, hidden)
    h0.requires_grad_(True)
    if cell == "lstm":
        c0 = torch.tensor(case["c0"] if case["c0"] is not None else zero, dtype=torch.float64).reshape(1, 1, hidden)
        c0.requires_grad_(True)
        out, (hn, cn) = module(x, (h0, c0))
    else:
        out, hn = module(x, h0)
    out = out[:, 0, :]
    found = {"h": out.detach().numpy(), "h[L]": hn.detach().numpy().ravel()}
    if cell == "lstm":
        found["c[L]"] = cn.detach().numpy().ravel()
    if case["loss"].startswith("sum") or case["target"] is not None:
        loss = torch_loss(out, case)
        loss.backward()
        found["loss"] = loss.item()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            found[f"grad_{name}"] = getattr(module, f"{name}_l0").grad.numpy()
        found["grad_h0"] = h0.grad.numpy().ravel()
        if cell == "lstm":
            found["grad_c0"] = c0.grad.numpy().ravel()
    return found


def close(ours, theirs, what):
    ours = np.asarray(np.asarray(ours, dtype=object).astype(float)).ravel()
    theirs = np.asarray(theirs, dtype=float).ravel()
    assert ours.shape == theirs.shape and np.allclose(ours, theirs, rtol=1e-9, atol=1e-12), (what, ours, theirs)


def gate_grad(got, name, hidden, cell, given):
    """Our gradient of a stacked tensor, put together from the per-gate answers where the problem gave those."""
    if f"grad_{name}" in got:
        return got[f"grad_{name}"]
    side = {"weight_ih": "w_i", "weight_hh": "w_h", "bias_ih": "b_i", "bias_hh": "b_h"}[name]
    parts = [np.atleast_1d(np.asarray(got[f"grad_{side}{k}"], dtype=object)) for k in GATES[cell]]
    return np.concatenate([p.reshape(hidden, -1) for p in parts], axis=0)


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("seed", range(40))
def test_random_cells_agree_with_torch(cell, seed):
    require_module("torch")
    rng = random.Random(f"{cell}-{seed}")
    given, case, hidden, inputs = random_case(rng, cell)
    got = answers(cell, given)
    expected = torch_answers(case, cell, hidden, inputs)
    close(got["h"], expected["h"], "h")
    close(got[f"h[{len(case['x'])}]"], expected["h[L]"], "h[L]")
    if cell == "lstm":
        close(got[f"c[{len(case['x'])}]"], expected["c[L]"], "c[L]")
    if "loss" not in expected:
        assert "loss" not in got
        return
    close(got["loss"], expected["loss"], "loss")
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if case[name] is not None:
            close(gate_grad(got, name, hidden, cell, given), expected[f"grad_{name}"], name)
        else:
            assert f"grad_{name}" not in got
    close(got["grad_h0"], expected["grad_h0"], "h0")
    if cell == "lstm":
        close(got["grad_c0"], expected["grad_c0"], "c0")
    if case["learning_rate"] is not None and "weight_ih" in given:
        close(got["updated_weight_ih"],
              case["weight_ih"] - case["learning_rate"] * np.asarray(expected["grad_weight_ih"]), "step")


# ---- mistakes: torch re-implementations of the cell with one change -------------------------------------

def lstm_by_hand(given, change="", leaves=None):
    """An LSTM written from its equations in torch, with one change: each gate's weights per gate, no biases;
    `leaves` (a dict) receives the weights as autograd leaves, and h_L is returned as a tensor in it."""
    t = lambda v: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)  # noqa: E731
    w = {k: (t(given[f"w_i{k}"]), t(given[f"w_h{k}"])) for k in "ifgo"}
    h, c, hs, cs = t(given.get("h0", 0)), t(given.get("c0", 0)), [], []
    if leaves is not None:
        leaves |= {f"w_i{k}": w[k][0] for k in "ifgo"} | {f"w_h{k}": w[k][1] for k in "ifgo"} | {"h0": h, "c0": c}
    for x in given["x"]:
        a = {k: w[k][0] * x + w[k][1] * h for k in "ifgo"}
        gate = {k: torch.sigmoid(a[k]) for k in "ifo"} | {"g": torch.tanh(a["g"])}
        if change.startswith("tanh_"):
            gate[change[5]] = torch.tanh(a[change[5]])
        if change == "swapped":
            c = gate["i"] * c + gate["f"] * gate["g"]
        elif change == "no_carry":
            c = gate["i"] * gate["g"]
        else:
            c = gate["f"] * c + gate["i"] * gate["g"]
        h = gate["o"] * (c if change == "o_on_c" else torch.tanh(c))
        hs.append(h.item())
        cs.append(c.item())
    if leaves is not None:
        leaves["h_L"] = h
    return hs, cs


LSTM_MISTAKES = {"forget_input_swapped": ("swapped", {"lstm_carry": "swapped"}),
                 "cell_carry_dropped": ("no_carry", {"lstm_carry": "none"}),
                 "output_gate_on_c": ("o_on_c", {"output_squashed": False}),
                 "gate_tanh_for_sigmoid": ("tanh_f", {"sigmoid_as_tanh": "f"})}
SCALAR_LSTM = {"x": [1, 0.5, -1], "h0": 0.2, "c0": 0.5, "w_ii": 0.5, "w_if": 0.4, "w_ig": 0.8, "w_io": 0.3,
               "w_hi": 0.2, "w_hf": 0.1, "w_hg": -0.5, "w_ho": 0.6}


@pytest.mark.torch
@pytest.mark.parametrize("mistake", list(LSTM_MISTAKES))
def test_lstm_mistakes_agree_with_the_changed_cell(mistake):
    require_module("torch")
    change, rules = LSTM_MISTAKES[mistake]
    from solver.kinds.recurrent.cells import Rules
    got = answers("lstm", SCALAR_LSTM, Rules(**rules))
    hs, cs = lstm_by_hand(SCALAR_LSTM, change)
    right_h, _ = lstm_by_hand(SCALAR_LSTM)
    assert not np.allclose(hs, right_h)
    close([got[f"h[{t}]"] for t in (1, 2, 3)], hs, "h")
    close([got[f"c[{t}]"] for t in (1, 2, 3)], cs, "c")
    assert mistake in {m.name for m in kind("lstm").mistakes}


# ---- symbols ----------------------------------------------------------------------------

@pytest.mark.torch
def test_symbolic_lstm_agrees_with_torch_at_random_points():
    require_module("torch")
    given = {"x": ["x_1", "x_2"], "h0": "h_0", "w_ii": "w", "w_if": 0.5, "w_ig": 1, "w_io": -1, "w_hi": 0.3,
             "w_hf": "u", "w_hg": 1, "w_ho": 0.2}
    got = answers("lstm", given)
    rng = random.Random(3)
    for _ in range(5):
        point = {name: rng.uniform(-1, 1) for name in ("x_1", "x_2", "h_0", "w", "u")}
        numeric = {k: point[v] if isinstance(v, str) else v for k, v in given.items() if k != "x"}
        numeric["x"] = [point["x_1"], point["x_2"]]
        hs, cs = lstm_by_hand(numeric)
        for t in (1, 2):
            subs = {s: point[s.name] for s in got[f"h[{t}]"].free_symbols}
            assert abs(float(got[f"h[{t}]"].subs(subs)) - hs[t - 1]) < 1e-9
            subs = {s: point[s.name] for s in got[f"c[{t}]"].free_symbols}
            assert abs(float(got[f"c[{t}]"].subs(subs)) - cs[t - 1]) < 1e-9


# ---- the CLI ----------------------------------------------------------------------------

@pytest.mark.torch
def test_check_a_right_answer_and_a_mistake(tmp_path):
    require_module("torch")
    path = one_problem_file(tmp_path, "lstm", SCALAR_LSTM)
    hs, _ = lstm_by_hand(SCALAR_LSTM)
    right = run_solver("check", path, "p:h[3]", f"{hs[2]:.6f}", "--json")
    assert right.returncode == 0, right.stdout + right.stderr
    wrong_h, _ = lstm_by_hand(SCALAR_LSTM, "swapped")
    wrong = run_solver("check", path, "p:h[3]", f"{wrong_h[2]:.6f}", "--json")
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["mistake"] == "forget_input_swapped", wrong.stdout


def test_symbolic_check_accepts_the_formula(tmp_path):
    path = one_problem_file(tmp_path, "lstm", {"x": ["x_1"], "w_ii": "w", "w_if": 1, "w_ig": 1, "w_io": 1,
                                               "w_hi": 0, "w_hf": 0, "w_hg": 0, "w_ho": 0})
    result = run_solver("check", path, "p:c[1]", "sigmoid(w*x_1)*tanh(x_1)")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("given, field, words", [
    ({"x": [1, 2], "weight_ih": [[1, 2]] * 6, "weight_hh": [[1, 0]] * 8}, "weight_ih", "4H×I = 8×1"),
    ({"x": [1, 2], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3, 4], "w_ii": 1}, "w_ii", "one way"),
    ({"x": [1, 2], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3], }, "weight_hh", "4H×H"),
    ({"x": [1, 2], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3, 4], "target": [1, 2, 3],
      "loss": "mse_all"}, "target", "one target per step"),
])
def test_bad_input_is_one_paragraph(tmp_path, given, field, words):
    path = one_problem_file(tmp_path, "lstm", given)
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


def gru_by_hand(given, change="", leaves=None):
    """A GRU written from PyTorch's equations in torch, scalar, with one change (`leaves` as lstm_by_hand's)."""
    t = lambda v: torch.tensor(float(v), dtype=torch.float64, requires_grad=True)  # noqa: E731
    p = {name: t(given.get(name, 0)) for name in ("w_ir", "w_iz", "w_in", "w_hr", "w_hz", "w_hn", "b_in", "b_hn")}
    h, hs = t(given.get("h0", 0)), []
    if leaves is not None:
        leaves |= p | {"h0": h}
    for x in given["x"]:
        r = torch.sigmoid(p["w_ir"] * x + p["w_hr"] * h)
        z = torch.sigmoid(p["w_iz"] * x + p["w_hz"] * h)
        if change == "tanh_z":
            z = torch.tanh(p["w_iz"] * x + p["w_hz"] * h)
        if change == "reset_before":
            n = torch.tanh(p["w_in"] * x + p["b_in"] + p["w_hn"] * (r * h) + p["b_hn"])
        else:
            n = torch.tanh(p["w_in"] * x + p["b_in"] + r * (p["w_hn"] * h + p["b_hn"]))
        h = z * n + (1 - z) * h if change == "z_reversed" else (1 - z) * n + z * h
        hs.append(h.item())
    if leaves is not None:
        leaves["h_L"] = h
    return hs


GRU_MISTAKES = {"reset_before_product": ("reset_before", {"reset_after_product": False}),
                "update_gate_reversed": ("z_reversed", {"z_keeps_old": False}),
                "gate_tanh_for_sigmoid": ("tanh_z", {"sigmoid_as_tanh": "z"})}
SCALAR_GRU = {"x": [1, -0.5, 2], "h0": 0.3, "w_ir": 0.5, "w_iz": -0.4, "w_in": 0.8, "w_hr": 0.7, "w_hz": 0.2,
              "w_hn": -0.6, "b_in": 0.1, "b_hn": 0.4}


@pytest.mark.torch
@pytest.mark.parametrize("mistake", list(GRU_MISTAKES))
def test_gru_mistakes_agree_with_the_changed_cell(mistake):
    require_module("torch")
    change, rules = GRU_MISTAKES[mistake]
    from solver.kinds.recurrent.cells import Rules
    got = answers("gru", SCALAR_GRU, Rules(**rules))
    hs = gru_by_hand(SCALAR_GRU, change)
    assert not np.allclose(hs, gru_by_hand(SCALAR_GRU))
    close([got[f"h[{t}]"] for t in (1, 2, 3)], hs, "h")
    assert mistake in {m.name for m in kind("gru").mistakes}


@pytest.mark.torch
def test_gru_check_diagnoses_the_reset_gate_before_the_product(tmp_path):
    require_module("torch")
    path = one_problem_file(tmp_path, "gru", SCALAR_GRU)
    right = run_solver("check", path, "p:h[3]", f"{gru_by_hand(SCALAR_GRU)[2]:.6f}")
    assert right.returncode == 0, right.stdout + right.stderr
    wrong = run_solver("check", path, "p:h[3]", f"{gru_by_hand(SCALAR_GRU, 'reset_before')[2]:.6f}", "--json")
    assert wrong.returncode == 1 and json.loads(wrong.stdout)["mistake"] == "reset_before_product", wrong.stdout


def test_gru_weight_shapes_name_3h(tmp_path):
    path = one_problem_file(tmp_path, "gru", {"x": [1], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3]})
    assert_bad_input(run_solver("solve", path), path, "p", "weight_ih", "3H×I = 3×1")


@pytest.mark.parametrize("cell, given", [
    ("lstm", {**SCALAR_LSTM, "b_if": 0.5, "b_ho": -0.2, "target": [0.1, -0.2, 0.3], "loss": "mse_all",
              "learning_rate": 0.1}),
    ("gru", {**SCALAR_GRU, "target": 0.5, "learning_rate": 0.1}),
    ("gru", {**SCALAR_GRU, "loss": "sum_all"}),
])
def test_every_displayed_equation_of_a_scalar_derivation_holds(cell, given):
    """Each line's members (the letters put in, the products, the sums) equal its last: worked out from the nodes."""
    from conftest import compared_members, numeric
    k = kind(cell)
    solution = k.solve(k.read(given))
    count = compared_members(solution, numeric, lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12))
    assert count > 40


@pytest.mark.torch
@pytest.mark.parametrize("cell, mistake", [("lstm", m) for m in LSTM_MISTAKES] + [("gru", m) for m in GRU_MISTAKES])
def test_a_mistakes_gradients_are_autograds_of_the_changed_cell(cell, mistake):
    """A student who makes the mistake in the forward pass backpropagates through the cell they computed:
    the mistake's gradients and step are autograd's through the torch cell with that change."""
    require_module("torch")
    from solver.kinds.recurrent.cells import Rules
    given = {**(SCALAR_LSTM if cell == "lstm" else SCALAR_GRU), "target": 0.25, "learning_rate": 0.5}
    change, rules = (LSTM_MISTAKES if cell == "lstm" else GRU_MISTAKES)[mistake]
    got = answers(cell, given, Rules(**rules))
    leaves = {}
    (lstm_by_hand if cell == "lstm" else gru_by_hand)(given, change, leaves)
    loss = (leaves.pop("h_L") - 0.25) ** 2 / 2
    loss.backward()
    close(got["loss"], loss.item(), "loss")
    grads = {name: 0.0 if leaf.grad is None else leaf.grad.item() for name, leaf in leaves.items()}  # unused: 0
    for name, grad in grads.items():
        if name in given:
            close(got[f"grad_{name}"], grad, name)
            if name not in ("h0", "c0"):
                close(got[f"updated_{name}"], given[name] - 0.5 * grad, f"updated {name}")
    found = {m.name: m for m in kind(cell).mistakes}[mistake]       # and the kind's mistake gives these answers
    assert any(np.isclose(float(values["grad_h0"]), grads["h0"])
               for _, values in found.cases(kind(cell).read(given)) if values)


@pytest.mark.torch
def test_symbolic_gru_agrees_with_torch_at_random_points():
    require_module("torch")
    given = {"x": ["x_1", "x_2"], "h0": "h_0", "w_ir": "a", "w_iz": 0.5, "w_in": 1, "w_hr": 0.3,
             "w_hz": "b", "w_hn": -0.5, "b_hn": 0.25}
    got = answers("gru", given)
    rng = random.Random(5)
    for _ in range(5):
        point = {name: rng.uniform(-1, 1) for name in ("x_1", "x_2", "h_0", "a", "b")}
        numeric = {k: point[v] if isinstance(v, str) else v for k, v in given.items() if k != "x"}
        numeric["x"] = [point[f"x_{t}"] for t in (1, 2)]
        hs = gru_by_hand(numeric)
        for t in (1, 2):
            subs = {s: point[s.name] for s in got[f"h[{t}]"].free_symbols}
            assert abs(float(got[f"h[{t}]"].subs(subs)) - hs[t - 1]) < 1e-9


@pytest.mark.parametrize("cell, given, field, words", [
    ("lstm", {"x": [1, 2], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3, 4], "c0": [0, 1]}, "c0",
     "one per hidden unit, H = 1"),
    ("lstm", {"x": [1], "w_ii": 1, "w_if": 1, "w_ig": 1, "w_io": 1, "w_hi": 1, "w_hf": 1, "w_hg": 1}, "w_ho",
     "is missing"),
    ("gru", {"x": [[1, 2]], "w_ir": [1, 2], "w_iz": [1, 2], "w_in": [1, 2, 3], "w_hr": 1, "w_hz": 1, "w_hn": 1},
     "w_in", "H×I = 1×2"),
    ("gru", {"x": ["x_1"], "weight_ih": [1, 0, 1, 1, 0, 1],
             "weight_hh": [[1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [1, 1]]}, "x", "symbols need a scalar cell"),
    ("gru", {"x": ["x_1"], "weight_ih": [1, 2, 3], "weight_hh": [1, 2, 3], "target": 1}, "x",
     "forward pass only"),
    ("lstm", {"x": ["x_1", "x_2", "x_3"], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3, 4]}, "x",
     "with symbols at most 2"),
    # a loss asked for without its target was dropped in silence; a negative step was taken uphill
    ("lstm", {"x": [1, 2], "weight_ih": [1, 2, 3, 4], "weight_hh": [1, 2, 3, 4], "loss": "mse_last"}, "target",
     "loss mse_last compares the outputs with a target"),
    ("gru", {"x": [1, 2], "weight_ih": [1, 2, 3], "weight_hh": [1, 2, 3], "target": 0, "learning_rate": -1},
     "learning_rate", "must be a positive step size"),
])
def test_more_bad_input(tmp_path, cell, given, field, words):
    """Each a paragraph naming the field (the symbolic steps' limit keeps a formula within an answer's 2000
    characters)."""
    path = one_problem_file(tmp_path, cell, given)
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


def test_the_loss_prints_as_math_in_the_prose(tmp_path):
    """The loss sentence wrote its formula as text: Σ_t Σ_i y_t,i with literal underscores in the PDF."""
    from solver.core.prose import escape_latex
    from solver.kinds.recurrent.common import LOSS_TEXT
    assert not [text for text in LOSS_TEXT.values() if "\\_" in escape_latex(text)]
    given = {"x": [1, 2], "loss": "sum_all", "weight_ih": [1, 1, 1], "weight_hh": [1, 1, 1]}
    result = run_solver("solve", one_problem_file(tmp_path, "gru", given), "--format", "latex")
    assert result.returncode == 0, result.stderr
    assert r"The loss is $\sum_t \sum_i y_{t,i}$, the sum" in result.stdout
