"""optimizer against torch.optim with p.grad set at each step (and autograd for an objective), over
random problems of every rule and option; each mistake's answer against an independent computation
of that wrong answer (torch with the option changed, or numpy written here)."""
import json
import random
from fractions import Fraction

import numpy as np
import pytest
import yaml

from conftest import compared_members, one_problem_file, require_module, run_solver
from corpus import draw_optimizer

KIND = "optimizer"
STATE_NAMES = ("momentum_buffer", "exp_avg", "exp_avg_sq", "sum", "square_avg")
# The objectives of the corpus, written again for torch (an independent reading of the formula).
TORCH_OBJECTIVES = {
    "(w - 3)^2 + 2*b^2": lambda t, w, b: (w - 3) ** 2 + 2 * b ** 2,
    "w^2*b + exp(w/4) - b": lambda t, w, b: w ** 2 * b + t.exp(w / 4) - b,
    "log(1 + exp(-w*b)) + b^2/2": lambda t, w, b: t.log(1 + t.exp(-w * b)) + b ** 2 / 2,
    "sigmoid(w) + (b - 1)^4 + w*b": lambda t, w, b: t.sigmoid(w) + (b - 1) ** 4 + w * b,
}


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def torch_optimizer(torch, rule, tensors, raw, **changes):
    options = {name: raw[name] for name in ("lr", "momentum", "dampening", "alpha", "eps", "weight_decay", "maximize")
               if name in raw}
    if isinstance(options.get("lr"), list):
        options["lr"] = options["lr"][0]
    if "betas" in raw:
        options["betas"] = tuple(raw["betas"])
    if rule == "nesterov":
        options["nesterov"] = True
    options.update(changes)
    classes = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
               "adam": "Adam", "adamw": "AdamW"}
    return getattr(torch.optim, classes[rule])(tensors, **options)


def torch_answers(torch, raw: dict, rule=None, **changes) -> dict:
    """{answer name: value} of torch.optim run step by step: p.grad set to the given gradient, or
    the objective's gradient by autograd."""
    named = isinstance(raw["params"], dict)
    params = raw["params"] if named else {"params": raw["params"]}
    tensors = {n: torch.tensor(np.array(v, dtype=float), dtype=torch.float64, requires_grad=True)
               for n, v in params.items()}
    optimizer = torch_optimizer(torch, rule or raw["rule"], list(tensors.values()), raw, **changes)
    steps = raw.get("steps") or len(raw["grads"])
    found = {}
    for t in range(1, steps + 1):
        if isinstance(raw.get("lr"), list):
            for group in optimizer.param_groups:
                group["lr"] = raw["lr"][t - 1]
        optimizer.zero_grad()
        if "objective" in raw:
            TORCH_OBJECTIVES[raw["objective"]](torch, tensors["w"], tensors["b"]).backward()
        else:
            for n, p in tensors.items():
                grad = raw["grads"][t - 1][n] if named else raw["grads"][t - 1]
                p.grad = torch.tensor(np.array(grad, dtype=float), dtype=torch.float64)
        optimizer.step()
        for n, p in tensors.items():
            found[f"{n}[{t}]"] = p.detach().numpy().copy()
            for key, value in optimizer.state[p].items():
                if key in STATE_NAMES and value is not None:
                    found[f"{key}_{n}[{t}]" if named else f"{key}[{t}]"] = value.numpy().copy()
    for n, p in tensors.items():
        found[n] = p.detach().numpy().copy()
    return found


def floats(value):
    return np.asarray(np.vectorize(float, otypes=[float])(np.asarray(value, dtype=object)), dtype=float)


def assert_close(ours, expected, what):
    ours = floats(ours)
    assert ours.shape == np.shape(expected) and np.allclose(ours, expected, rtol=1e-9, atol=1e-12), \
        (what, ours, expected)


def solved(given: dict, rules=None) -> dict:
    k = kind()
    answers = k.compute(k.read(given)) if rules is None else k.compute(k.read(given), rules)
    return {name: answer.value for name, answer in answers.items()}


GIVENS = [draw_optimizer(random.Random(f"optimizer-{seed}")) for seed in range(150)]


@pytest.mark.torch
@pytest.mark.parametrize("given", GIVENS, ids=[f"random{i}-{g['rule']}" for i, g in enumerate(GIVENS)])
def test_answers_agree_with_torch_optim(given):
    torch = require_module("torch")
    ours = solved(given)
    expected = torch_answers(torch, given)
    assert set(ours) == set(expected), (sorted(ours), sorted(expected))
    for name, value in expected.items():
        assert_close(ours[name], value, name)


def test_the_random_problems_cover_every_rule_and_option():
    seen = {(g["rule"], "objective" in g, isinstance(g["params"], dict), "weight_decay" in g,
             g.get("maximize", False)) for g in GIVENS}
    assert {rule for rule, *_ in seen} == {"sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"}
    for option in range(1, 5):
        assert {key[option] for key in seen} == {True, False}
    assert any("dampening" in g for g in GIVENS) and any(isinstance(g["lr"], list) for g in GIVENS)
    assert any(g["rule"] == "rmsprop" and "momentum" in g for g in GIVENS)


@pytest.mark.torch
@pytest.mark.parametrize("rule", ["sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw"])
def test_torch_defaults_apply_where_a_setting_is_left_out(rule):
    torch = require_module("torch")
    given = {"rule": rule, "params": [1.5, -0.5], "grads": [[0.3, -1.2], [0.7, 0.1], [-0.4, 0.9]]}
    if rule in ("momentum", "nesterov"):
        given["momentum"] = 0.9
    for name, value in torch_answers(torch, given).items():
        assert_close(solved(given)[name], value, name)


def test_sgd_is_exact_and_hand_checked():
    given = {"rule": "momentum", "params": 1, "grads": [2, 4], "lr": 0.1, "momentum": 0.5, "dampening": 0.5}
    answers = solved(given)
    # b1 = g1 = 2 (no dampening in step 1); θ1 = 1 - 0.2 = 0.8; b2 = 0.5·2 + 0.5·4 = 3; θ2 = 0.8 - 0.3 = 0.5
    assert answers["momentum_buffer[1]"] == 2 and answers["params[1]"] == Fraction(4, 5)
    assert answers["momentum_buffer[2]"] == 3 and answers["params"] == Fraction(1, 2)


def test_adam_first_step_moves_by_the_learning_rate():
    """Bias-corrected, Adam's first step is γ·g/(|g| + ε): about γ against the sign of g."""
    answers = solved({"rule": "adam", "params": [1, 2], "grads": [[0.5, -3]], "lr": 0.01, "eps": 0})
    assert np.allclose(floats(answers["params"]), [0.99, 2.01], rtol=1e-12)


@pytest.mark.parametrize("rule", ["sgd", "nesterov", "adam"])
@pytest.mark.torch
def test_objective_gradients_are_autograds(rule):
    torch = require_module("torch")
    for formula in TORCH_OBJECTIVES:
        given = {"rule": rule, "params": {"w": 0.5, "b": -1.5}, "objective": formula, "steps": 3, "lr": 0.1,
                 "weight_decay": 0.1}
        if rule == "nesterov":
            given["momentum"] = 0.9
        ours = solved(given)
        for name, value in torch_answers(torch, given).items():
            assert_close(ours[name], value, f"{formula}: {name}")


@pytest.mark.torch
def test_a_long_exact_run_goes_on_in_floats_once_its_fractions_grow_long():
    torch = require_module("torch")
    given = {"rule": "nesterov", "params": {"w": 0.5, "b": -1.5}, "objective": "(w - 3)^2 + 2*b^2", "steps": 60,
             "lr": 0.01, "momentum": 0.9}
    ours = solved(given)
    assert isinstance(ours["w[2]"], Fraction) and isinstance(ours["w"], float)
    for name, value in torch_answers(torch, given).items():
        assert_close(ours[name], value, name)


def test_symbols_are_bounded():
    k = kind()
    from solver.core.errors import FieldError
    with pytest.raises(FieldError, match="at most 6"):
        k.read({"rule": "sgd", "params": {"w": 1}, "objective": "w^2", "steps": 7, "lr": "eta"})
    with pytest.raises(FieldError, match="more than 1000 characters"):
        k.read({"rule": "sgd", "params": {"w": 1}, "objective": "w^4", "steps": 6, "lr": "eta"})


def test_a_symbolic_learning_rate_gives_formulas():
    import sympy
    eta, w0 = sympy.Symbol("eta", real=True), sympy.Symbol("w_0", real=True)
    answers = solved({"rule": "sgd", "params": {"w": "w_0"}, "objective": "(w - 3)^2", "steps": 2, "lr": "eta"})
    w1 = w0 - eta * (2 * w0 - 6)                       # gradient descent on (w - 3)², by hand
    w2 = w1 - eta * (2 * w1 - 6)
    assert sympy.expand(answers["w[1]"] - w1) == 0 and sympy.expand(answers["w"] - w2) == 0


def test_symbolic_momentum_and_weight_decay_by_hand():
    import sympy
    eta, mu, lam, w0, g1, g2 = sympy.symbols("eta mu lambda w_0 g_1 g_2", real=True)
    answers = solved({"rule": "momentum", "params": {"w": "w_0"}, "grads": [{"w": "g_1"}, {"w": "g_2"}],
                      "lr": "eta", "momentum": "mu", "weight_decay": "lambda"})
    d1 = g1 + lam * w0                                  # PyTorch: g + λθ, b1 = g1, b2 = μ b1 + g2
    w1 = w0 - eta * d1
    b2 = mu * d1 + g2 + lam * w1
    assert sympy.expand(answers["momentum_buffer_w[2]"] - b2) == 0
    assert sympy.expand(answers["w"] - (w1 - eta * b2)) == 0


# ---- mistakes ---------------------------------------------------------------------

def mistake_answers(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.answers(read) for m in k.mistakes}


def numpy_run(raw, step):
    """The parameters after each step of `step(t, p, g, state)`, written here in numpy."""
    p, state, found = np.array(raw["params"], dtype=float), {}, {}
    for t, g in enumerate(raw["grads"], 1):
        p = step(t, p, np.array(g, dtype=float), state)
        found[f"params[{t}]"] = p
    return found


def assert_gives(found: dict, expected: dict):
    assert found, "the mistake gave nothing"
    for name, value in expected.items():
        assert_close(found[name], value, name)


@pytest.mark.torch
def test_update_sign_flipped_is_torch_maximizing():
    torch = require_module("torch")
    for rule in ("sgd", "adam"):
        given = {"rule": rule, "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2]], "lr": 0.1}
        found = mistake_answers(given)["update_sign_flipped"]
        assert_gives(found, {k: v for k, v in torch_answers(torch, given, maximize=True).items() if "params" in k})


@pytest.mark.torch
def test_a_setting_ignored_is_torch_run_without_it(tmp_path):
    """maximize ignored, weight decay forgotten and Nesterov taken as plain momentum: torch.optim with that
    setting left out; checking names each (maximize's numbers are also a flipped update's)."""
    torch = require_module("torch")
    adam = {"rule": "adam", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2]], "lr": 0.1, "weight_decay": 0.5,
            "maximize": True}
    found = mistake_answers(adam)
    assert_gives(found["maximize_ignored"], torch_answers(torch, adam, maximize=False))
    assert_gives(found["weight_decay_forgotten"], torch_answers(torch, adam, weight_decay=0))
    nesterov = {"rule": "nesterov", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2]], "lr": 0.1, "momentum": 0.9}
    assert_gives(mistake_answers(nesterov)["nesterov_as_momentum"], torch_answers(torch, nesterov, nesterov=False))
    assert mistake_answers({**nesterov, "rule": "momentum"})["nesterov_as_momentum"] == {}
    for given, name in ((adam, "maximize_ignored"), (adam, "weight_decay_forgotten"),
                        (nesterov, "nesterov_as_momentum")):
        wrong = mistake_answers(given)[name]["params"]
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"problems": [{"id": "p", "kind": "optimizer", "given": given}]}))
        result = run_solver("check", path, "p:params", f"[{', '.join(str(float(v)) for v in wrong)}]", "--json")
        assert json.loads(result.stdout)["mistake"] == name, result.stdout


@pytest.mark.torch
def test_adamw_weight_decay_as_l2_is_torch_adam_and_the_reverse():
    torch = require_module("torch")
    given = {"rule": "adamw", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2]], "lr": 0.1, "weight_decay": 0.5}
    assert_gives(mistake_answers(given)["weight_decay_as_l2"], torch_answers(torch, given, rule="adam"))
    given["rule"] = "adam"
    assert_gives(mistake_answers(given)["weight_decay_decoupled"], torch_answers(torch, given, rule="adamw"))
    assert mistake_answers(given)["weight_decay_as_l2"] == {}


def test_adam_without_bias_correction_and_eps_inside_root_as_numpy_computes_them():
    given = {"rule": "adam", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2], [1, 1]], "lr": 0.1,
             "betas": [0.8, 0.9], "eps": 0.01}

    def adam(corrected, inside):
        def step(t, p, g, s):
            s["m"] = 0.8 * s.get("m", 0) + 0.2 * g
            s["v"] = 0.9 * s.get("v", 0) + 0.1 * g * g
            c1, c2 = (1 - 0.8 ** t, 1 - 0.9 ** t) if corrected else (1, 1)
            root = np.sqrt(s["v"] / c2 + 0.01) if inside else np.sqrt(s["v"] / c2) + 0.01
            return p - 0.1 * (s["m"] / c1) / root
        return step

    found = mistake_answers(given)
    assert_gives(found["adam_without_bias_correction"], numpy_run(given, adam(False, False)))
    assert_gives(found["eps_inside_root"], numpy_run(given, adam(True, True)))


def test_rmsprop_mistakes_as_numpy_computes_them():
    given = {"rule": "rmsprop", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2]], "lr": 0.1, "alpha": 0.9,
             "eps": 0.01}

    def rmsprop(denominator):
        def step(t, p, g, s):
            s["v"] = 0.9 * s.get("v", 0) + 0.1 * g * g
            return p - 0.1 * g / denominator(s["v"])
        return step

    found = mistake_answers(given)
    assert_gives(found["rmsprop_without_root"], numpy_run(given, rmsprop(lambda v: v + 0.01)))
    assert_gives(found["eps_inside_root"], numpy_run(given, rmsprop(lambda v: np.sqrt(v + 0.01))))
    adagrad = dict(given, rule="adagrad")
    del adagrad["alpha"]

    def inside(t, p, g, s):
        s["sum"] = s.get("sum", 0) + g * g
        return p - 0.1 * g / np.sqrt(s["sum"] + 0.01)
    assert_gives(mistake_answers(adagrad)["eps_inside_root"], numpy_run(adagrad, inside))


def test_textbook_momentum_as_numpy_computes_it():
    given = {"rule": "momentum", "params": [1, -2], "grads": [[0.5, 1], [-0.25, 2], [1, 1]], "lr": 0.1,
             "momentum": 0.9, "dampening": 0.5}

    def textbook(t, p, g, s):
        s["v"] = 0.9 * s.get("v", 0) - 0.1 * g
        return p + s["v"]
    assert_gives(mistake_answers(given)["textbook_momentum"], numpy_run(given, textbook))
    plain = dict(given, dampening=0)
    assert mistake_answers(plain)["textbook_momentum"] == {}           # the same as PyTorch's without dampening
    changing = dict(plain, lr=[0.1, 0.2, 0.1])

    def textbook_changing(t, p, g, s):
        s["v"] = 0.9 * s.get("v", 0) - [0.1, 0.2, 0.1][t - 1] * g
        return p + s["v"]
    assert_gives(mistake_answers(changing)["textbook_momentum"], numpy_run(changing, textbook_changing))


def test_a_mistake_that_cannot_be_made_here_gives_nothing():
    found = mistake_answers({"rule": "sgd", "params": 1, "grads": [1], "lr": 0.1})
    for name in ("adam_without_bias_correction", "eps_inside_root", "weight_decay_as_l2", "textbook_momentum",
                 "rmsprop_without_root"):
        assert found[name] == {}, name


# ---- the command line -------------------------------------------------------------

def write_set(tmp_path, given, ask=None):
    return one_problem_file(tmp_path, KIND, given, ask)


@pytest.mark.parametrize("rule, words", [
    ("sgd", "torch.optim.SGD"), ("momentum", "b_{1} = g_{1}"), ("nesterov", "Nesterov"),
    ("rmsprop", "centered=False"), ("adagrad", "lr_decay=0"), ("adam", "bias corrections"),
    ("adamw", "decoupled")])
def test_the_rule_states_pytorchs_conventions(rule, words):
    given = {"rule": rule, "params": [1, 2], "grads": [[1, -1]], "weight_decay": 0.1}
    if rule in ("momentum", "nesterov"):
        given["momentum"] = 0.9
    k = kind()
    rule_step = k.solve(k.read(given)).steps[0]
    assert rule_step.title == "Rule" and words in rule_step.text and "torch.optim" in rule_step.text


def test_solve_shows_every_step_with_numbers(tmp_path):
    path = write_set(tmp_path, {"rule": "nesterov", "params": [1, 2], "grads": [[1, -1], [0.5, 0.5]], "lr": 0.1,
                                "momentum": 0.9})
    result = run_solver("solve", path, "--format", "text")
    assert result.returncode == 0, result.stderr
    assert "Step 1" in result.stdout and "Step 2" in result.stdout and "torch.optim.SGD" in result.stdout


@pytest.mark.torch
def test_check_a_vector_answer_and_name_the_flipped_update(tmp_path):
    torch = require_module("torch")
    given = {"rule": "adam", "params": [1, -2, 0.5], "grads": [[0.5, 1, -1], [-0.25, 2, 0.5]], "lr": 0.1}
    path = write_set(tmp_path, given)
    right = torch_answers(torch, given)["params"]
    wrong = torch_answers(torch, given, maximize=True)["params"]
    text = lambda v: "[" + ", ".join(f"{x:.5f}" for x in v) + "]"
    result = run_solver("check", path, "p:params", text(right), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:params", text(wrong), "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "update_sign_flipped", result.stdout


def test_check_a_formula_when_the_learning_rate_is_a_symbol(tmp_path):
    path = write_set(tmp_path, {"rule": "sgd", "params": {"w": 2}, "objective": "(w - 3)^2", "steps": 2,
                                "lr": "eta"})
    # w1 = 2 + 2η; w2 = w1 - 2η(w1 - 3) = 2 + 4η - 4η², by hand
    result = run_solver("check", path, "p:w", "2 + 4*eta - 4*eta^2", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:w", "2 - 4*eta + 4*eta^2", "--json")
    assert result.returncode == 1, result.stdout + result.stderr


@pytest.mark.parametrize("given, field, words", [
    ({"rule": "adam", "params": 1, "grads": [1], "betas": [0.9, 1.0]}, "betas", "[0, 1)"),
    ({"rule": "adam", "params": 1, "grads": [1], "betas": [-0.1, 0.9]}, "betas", "[0, 1)"),
    ({"rule": "sgd", "params": 1, "grads": [1], "lr": -0.1}, "lr", ">= 0"),
    ({"rule": "sgd", "params": 1, "grads": [1, 2], "steps": 3}, "grads", "`steps` is 3"),
    ({"rule": "sgd", "params": [1, 2], "grads": [[1, 2, 3]]}, "grads", "shape 3"),
    ({"rule": "sgd", "params": {"w": 1, "b": 2}, "grads": [{"w": 1}]}, "grads", "step 1 gives w; each step needs a mapping"),
    ({"rule": "sgd", "params": {"w": 1}, "objective": "(w - u)^2"}, "objective", "u, which is not a parameter"),
    ({"rule": "sgd", "params": {"w": 3}, "objective": "abs(w - 3)", "lr": 0.1}, "objective", "subgradients"),
    ({"rule": "sgd", "params": {"w": 1}, "objective": "w^2", "grads": [1]}, "grads", "are both given"),
    ({"rule": "sgd", "params": 1}, "grads", "is missing, and so is `objective`"),     # it said "not both"
    ({"rule": "adam", "params": 1, "grads": [1], "momentum": 0.9}, "momentum", "not a setting of rule adam"),
    ({"rule": "nesterov", "params": 1, "grads": [1], "momentum": 0.9, "dampening": 0.1}, "dampening", "Nesterov"),
    ({"rule": "momentum", "params": 1, "grads": [1]}, "momentum", "μ > 0"),
    ({"rule": "adam", "params": {"w": "w_0"}, "grads": [{"w": 1}]}, "rule", "symbols"),
    ({"rule": "sgd", "params": {"w": 1}, "objective": "floor(w)"}, "objective", "piecewise constant"),
    ({"rule": "sgd", "params": {"w": 0}, "objective": "sqrt(w)"}, "objective", "no finite derivative"),
    ({"rule": "sgd", "params": 1, "objective": "w^2"}, "params", "must name the parameters"),
    ({"rule": "sgd", "params": {"w": 2}, "objective": "w^4", "steps": 30, "lr": 1}, "lr", "diverge"),
    ({"rule": "adagrad", "params": 1, "grads": [0], "eps": 0}, "eps", "divides by zero"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = write_set(tmp_path, given)
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr


@pytest.mark.parametrize("given", GIVENS[:60], ids=[f"random{i}-{g['rule']}" for i, g in enumerate(GIVENS[:60])])
def test_every_displayed_equation_holds(given):
    """Each line of a derivation is a chain of equal members: evaluating a member (the numbers put in)
    gives the number it is set equal to."""
    from sympy import SympifyError
    from solver.math.nodes import Array, Formula

    def value(member):               # a formula in letters, or a root of a vector, has no value here
        member = member.value() if isinstance(member, Formula) else member
        return floats(member.a if isinstance(member, Array) else member)
    k = kind()
    same = lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12)  # noqa: E731
    errors = (ValueError, AttributeError, TypeError, SympifyError)
    assert compared_members(k.solve(k.read(given)), value, same, errors) >= 1


def test_variants_redraw_named_parameters_and_keep_their_names(tmp_path):
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [{
        "id": "p", "kind": KIND, "vary": {"params": {"min": -2, "max": 2}, "grads": {"min": -1, "max": 1}},
        "given": {"rule": "adam", "params": {"w": 1, "b": 0.5}, "grads": [{"w": 0.5, "b": 1}, {"w": -1, "b": 0.5}],
                  "lr": 0.1}}]}))
    result = run_solver("variants", path, "--count", "3", "--seed", "1", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    for i in (1, 2, 3):
        given = yaml.safe_load((tmp_path / "out" / "set-variants" / f"set-v{i}.yaml").read_text())["problems"][0]["given"]
        assert set(given["params"]) == {"w", "b"} and all(set(g) == {"w", "b"} for g in given["grads"]), given
        assert all(-2 <= v <= 2 for v in given["params"].values())


def test_ask_and_tolerance_name_the_answers_of_this_problem(tmp_path):
    """Answers per named parameter (w, exp_avg_b[1]) may be asked for; a name the problem has not is refused."""
    given = {"rule": "adam", "params": {"w": 1, "b": 2}, "grads": [{"w": 1, "b": 1}]}
    result = run_solver("solve", write_set(tmp_path, given, ask=["w", "exp_avg_b[1]"]))
    assert result.returncode == 0, result.stderr
    result = run_solver("solve", write_set(tmp_path, given, ask=["w", "exp_avg_c[1]"]))
    assert result.returncode == 2 and "`exp_avg_c[1]` is not an answer" in result.stderr, result.stderr
    assert "exp_avg_b[1]" in result.stderr
    result = run_solver("solve", write_set(tmp_path, dict(given, params=[1, 2], grads=[[1, 1]]), ask=["w"]))
    assert result.returncode == 2 and "its answers are params, params[1]" in result.stderr, result.stderr
    path = tmp_path / "tolerance.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [
        {"id": "p", "kind": KIND, "given": given, "tolerance": {"w[i]": {"relative": 0.01}}}]}))
    result = run_solver("check", path, "p:w[1]", "0.9991", "--json")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_learning_rate_in_scientific_notation_is_the_number(tmp_path):
    """YAML 1.1 reads `lr: 5e-1` as text; a problem file means the number. SGD by hand:
    w - lr·g = 1 - 0.5·0.5 and -2 - 0.5·1."""
    path = tmp_path / "set.yaml"
    path.write_text("title: t\nproblems:\n  - id: p\n    kind: optimizer\n"
                    "    given: {rule: sgd, params: [1, -2], grads: [[0.5, 1]], lr: 5e-1}\n")
    result = run_solver("check", path, "p:params", "[0.75, -2.5]")
    assert result.returncode == 0, result.stdout + result.stderr
