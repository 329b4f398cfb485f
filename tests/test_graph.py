"""graph: backpropagation through a written program, against PyTorch's autograd on random
programs (every primitive, depths up to 8, fan-out), on the classic examples (CS231n's (x + y)z
and the sigmoid neuron), in letters (the closed forms against autograd at random points); each
mistake's answer against autograd on the program changed to make that mistake."""
import json
import random
import re

import pytest

from conftest import compared_members, one_problem_file, optional_module, require_module, run_solver
from corpus import draw_graph

torch = optional_module("torch")
KIND = "graph"
CS231N = {"program": ["q = x + y", "f = q * z"], "values": {"x": -2, "y": 5, "z": -4}}
NEURON = {"program": "f = 1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))",
          "values": {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}}


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def solved(given: dict, rules=None) -> dict:
    k = kind()
    read = k.read(given)
    answers = k.compute(read) if rules is None else k.compute(read, rules)
    return {name: answer.value for name, answer in answers.items()}


def lines_of(given) -> list[tuple[str, str]]:
    program = given["program"]
    lines = [program] if isinstance(program, str) else program
    return [tuple(part.strip() for part in line.split("=", 1)) if "=" in line else ("f", line) for line in lines]


def torch_names(t, overrides=None):
    """The program's functions as torch computes them (an independent reading: Python's own
    parser on the test's trusted text, torch's functions)."""
    names = {"exp": t.exp, "log": t.log, "sqrt": t.sqrt, "abs": t.abs, "sigmoid": t.sigmoid, "tanh": t.tanh,
             "relu": t.relu, "square": t.square, "max": t.maximum, "min": t.minimum}
    names.update(overrides or {})
    return names


def autograd(given: dict, values: dict | None = None, overrides=None) -> dict:
    """{answer name: value} by torch autograd (float64): output, grad_NAME, value[q] and grad[q]
    of each line's name."""
    t = require_module("torch")
    values = values or given["values"]
    env = {n: t.tensor(float(v), dtype=t.float64, requires_grad=True) for n, v in values.items()}
    inputs = dict(env)
    scope = {"__builtins__": {}, **torch_names(t, overrides)}
    targets = []
    for target, text in lines_of(given):
        env[target] = eval(text.replace("^", "**"), scope, env)      # the test's own program text
        env[target].retain_grad()
        targets.append(target)
    output = env[targets[-1]]
    output.backward(t.tensor(float(given.get("upstream", 1)), dtype=t.float64))
    found = {"output": output.item()}
    for n, x in inputs.items():
        found[f"grad_{n}"] = found[f"grad[{n}]"] = x.grad.item() if x.grad is not None else 0.0
    for target in targets:
        found[f"value[{target}]"] = env[target].item()
        found[f"grad[{target}]"] = env[target].grad.item()
    return found


def close(a, b) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(1, abs(float(b)))


def assert_agrees(ours: dict, expected: dict, given):
    for name, value in expected.items():
        if name.startswith("grad_") and name not in ours:
            continue                  # an input left out of `wrt`
        assert close(ours[name], value), (name, ours[name], value, given)


GIVENS = [draw_graph(random.Random(f"graph-{seed}")) for seed in range(120)]
NUMBERS = [g for g in GIVENS if not any(isinstance(v, str) for v in g["values"].values())]
LETTERS = [g for g in GIVENS if any(isinstance(v, str) for v in g["values"].values())]


@pytest.mark.torch
@pytest.mark.parametrize("given", NUMBERS, ids=[f"random{i}" for i in range(len(NUMBERS))])
def test_random_programs_agree_with_autograd(given):
    assert_agrees(solved(given), autograd(given), given)


def test_the_random_programs_cover_every_primitive_depth_and_fan_out():
    text = " ".join(" ".join(line for _, line in lines_of(g)) for g in GIVENS)
    for op in ("exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "square", "max", "min", "/", "-", "^"):
        assert op in text, op
    assert any(len(lines_of(g)) == 8 for g in GIVENS) and len(LETTERS) >= 5
    assert any(g.get("granularity") == "assignments" for g in NUMBERS) and any("upstream" in g for g in NUMBERS)
    fanned = [g for g in GIVENS if any(len(re.findall(rf"\b{n}\b", " ".join(l for _, l in lines_of(g)))) > 1
                                       for n in g["values"])]
    assert len(fanned) > 30


@pytest.mark.torch
@pytest.mark.parametrize("given", LETTERS, ids=[f"letters{i}" for i in range(len(LETTERS))])
def test_closed_forms_agree_with_autograd_at_random_points(given):
    import sympy
    answers = solved(given)
    rng = random.Random(str(given))
    for _ in range(3):
        point = {n: round(rng.uniform(-2, 2), 3) for n in given["values"]}
        expected = autograd(given, point)
        for name in ("output", *(f"grad_{n}" for n in given["values"])):
            if name not in answers:
                continue
            value = sympy.sympify(answers[name]).subs({sympy.Symbol(n, real=True): v for n, v in point.items()})
            assert close(sympy.N(value, 30), expected[name]), (name, answers[name], point, given)


def test_cs231n_example_by_hand():
    # q = x + y = 3, f = qz = -12; ∂f/∂z = q = 3, ∂f/∂q = z = -4 = ∂f/∂x = ∂f/∂y.
    answers = solved(CS231N)
    assert answers["output"] == -12 and answers["value[q]"] == 3
    assert (answers["grad_x"], answers["grad_y"], answers["grad_z"], answers["grad[q]"]) == (-4, -4, 3, -4)


@pytest.mark.torch
@pytest.mark.parametrize("granularity", ["nodes", "assignments"])
def test_the_sigmoid_neuron_agrees_with_autograd_and_cs231n(granularity):
    given = {**NEURON, "granularity": granularity}
    answers = solved(given)
    assert_agrees(answers, autograd(given), given)
    # CS231n's numbers: f = 0.73, dw = [-0.2, -0.39, 0.2], dx = [0.39, -0.59]
    assert [round(answers[f"grad_{n}"], 2) for n in ("w0", "w1", "w2", "x0", "x1")] == \
        [-0.2, -0.39, 0.2, 0.39, -0.59]
    assert round(answers["output"], 2) == 0.73


def test_granularity_nodes_names_every_operation():
    answers = solved(NEURON)
    assert "value[n_8]" not in answers and "value[n_7]" in answers and "grad[n_5]" in answers
    assert "value[n_1]" not in solved({**NEURON, "granularity": "assignments"})


def test_a_node_name_prints_as_math_in_the_prose(tmp_path):
    """Node n_1's heading and its kink note wrote the name as text: n_1 with a literal underscore."""
    result = run_solver("solve", write_set(tmp_path, {"program": "f = relu(x - 1) * y", "values": {"x": 1, "y": 2}}),
                        "--format", "latex")
    assert result.returncode == 0 and "n\\_" not in result.stdout            # prose escapes an underscore it prints
    assert "Node $n_{2}$" in result.stdout and "At $n_{2}$, its input is 0" in result.stdout


def test_values_are_exact_where_exact():
    from fractions import Fraction
    answers = solved({"program": ["q = x / y", "f = q^2 + sqrt(y)"], "values": {"x": 1, "y": 4}})
    assert answers["output"] == Fraction(1, 16) + 2 and answers["grad_y"] == Fraction(-1, 32) + Fraction(1, 4)


def test_symbolic_cs231n_closed_form():
    import sympy
    answers = solved({**CS231N, "values": {"x": "x", "y": "y", "z": "z"}})
    x, y, z = (sympy.Symbol(n, real=True) for n in "xyz")
    assert sympy.simplify(answers["grad_x"] - z) == 0 and sympy.simplify(answers["grad_z"] - (x + y)) == 0


# ---- mistakes, each against autograd on the program changed to make it -----------------

def mistake_answers(given) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: dict(m.cases(read)) for m in k.mistakes}


def with_gradient(t, value, gradient_of):
    """A tensor with `value`'s value whose gradient is that of `gradient_of` (both of the same inputs)."""
    return value.detach() + gradient_of - gradient_of.detach()


@pytest.mark.torch
def test_fan_out_not_summed_keeps_one_path():
    given = {"program": ["q = x * y", "f = q + x"], "values": {"x": 3, "y": -2}}
    found = mistake_answers(given)["fan_out_not_summed"]
    # only the first path (through q): x's second use as a constant
    first = autograd({"program": ["q = x * y", "f = q + const(x)"], "values": given["values"]},
                     overrides={"const": lambda v: v.detach()})
    last = autograd({"program": ["q = const(x) * y", "f = q + x"], "values": given["values"]},
                    overrides={"const": lambda v: v.detach()})
    assert close(found["the first path kept"]["grad_x"], first["grad_x"]) and first["grad_x"] == -2
    assert close(found["the last path kept"]["grad_x"], last["grad_x"]) and last["grad_x"] == 1


@pytest.mark.torch
def test_max_routed_to_the_smaller_input():
    t = require_module("torch")
    given = {"program": ["m = max(x, y)", "f = m * z"], "values": {"x": 4, "y": 1, "z": 3}}
    wrong = autograd(given, overrides={"max": lambda a, b: with_gradient(t, t.maximum(a, b), t.minimum(a, b))})
    found = mistake_answers(given)["max_routed_wrongly"]["to the smaller input"]
    assert (found["grad_x"], found["grad_y"]) == (wrong["grad_x"], wrong["grad_y"]) == (0, 3)
    both = autograd(given, overrides={"max": lambda a, b: with_gradient(t, t.maximum(a, b), a + b)})
    found = mistake_answers(given)["max_routed_wrongly"]["to both inputs"]
    assert (found["grad_x"], found["grad_y"]) == (both["grad_x"], both["grad_y"]) == (3, 3)


@pytest.mark.torch
@pytest.mark.parametrize("program, values", [
    ("f = max(x, y) * z", {"x": 2, "y": 2, "z": 3}), ("f = min(x, y) * z", {"x": -1, "y": -1, "z": 3}),
    ("f = relu(x - y) + abs(y - 1)", {"x": 1, "y": 1}),
])
def test_at_a_kink_the_subgradient_is_pytorchs_and_said(tmp_path, program, values):
    given = {"program": program, "values": values}
    assert_agrees(solved(given), autograd(given), given)
    result = run_solver("solve", write_set(tmp_path, given), "--format", "text")
    said = "its inputs are equal, a tie" if "max" in program or "min" in program else "PyTorch takes the slope 0"
    assert result.returncode == 0 and said in result.stdout, result.stdout


@pytest.mark.torch
def test_sigmoid_slope_taken_at_the_input():
    t = require_module("torch")
    given = {"program": ["s = sigmoid(w * x)", "f = s * y"], "values": {"w": 0.5, "x": 2, "y": 3}}
    wrong = autograd(given, overrides={"sigmoid": lambda a: t.sigmoid(a).detach()
                                       + (a * (1 - a)).detach() * (a - a.detach())})
    found = mistake_answers(given)["sigmoid_slope_at_input"][""]
    assert close(found["grad_w"], wrong["grad_w"]) and close(found["grad_x"], wrong["grad_x"])
    assert found["grad_w"] == 0      # w·x = 1: x(1 - x) = 0, by hand


def test_upstream_not_multiplied_on_cs231n_by_hand():
    found = mistake_answers(CS231N)["upstream_not_multiplied"][""]
    # each gradient its node's local gradient alone: ∂q/∂x = 1, ∂q/∂y = 1, ∂f/∂z = q = 3
    assert (found["grad_x"], found["grad_y"], found["grad_z"]) == (1, 1, 3)


@pytest.mark.torch
def test_subtraction_sign_on_the_second_input():
    t = require_module("torch")
    given = {"program": ["d = x - y", "f = d * d"], "values": {"x": 5, "y": 2}}
    found = mistake_answers(given)["subtraction_sign"][""]
    wrong = autograd({"program": ["d = sub(x, y)", "f = d * d"], "values": given["values"]},
                     overrides={"sub": lambda a, b: with_gradient(t, a - b, a + b)})
    assert (found["grad_x"], found["grad_y"]) == (wrong["grad_x"], wrong["grad_y"]) == (6, 6)


@pytest.mark.torch
def test_quotient_rule_written_as_one_over_the_denominator():
    t = require_module("torch")
    given = {"program": ["q = x / y", "f = q + y"], "values": {"x": 6, "y": 3}}
    found = mistake_answers(given)["quotient_as_reciprocal"][""]
    wrong = autograd({"program": ["q = div(x, y)", "f = q + y"], "values": given["values"]},
                     overrides={"div": lambda a, b: with_gradient(t, a / b, (a + b) / b.detach())})
    assert close(found["grad_y"], wrong["grad_y"]) and close(found["grad_y"], 1 + 1 / 3)


def test_a_mistake_that_cannot_be_made_here_gives_nothing():
    found = mistake_answers(CS231N)
    for name in ("sigmoid_slope_at_input", "subtraction_sign", "quotient_as_reciprocal"):
        assert found[name] == {"": {}}, name
    assert found["fan_out_not_summed"] == found["max_routed_wrongly"] == {}


# ---- the command line ----------------------------------------------------------------------

def write_set(tmp_path, given, ask=None):
    return one_problem_file(tmp_path, KIND, given, ask)


def test_solve_shows_the_graph_and_both_passes(tmp_path):
    result = run_solver("solve", write_set(tmp_path, NEURON), "--format", "text")
    assert result.returncode == 0, result.stderr
    for words in ("Graph", "Forward pass", "Backward pass", "Node n_7", "0.731059", "-0.196612"):
        assert words in result.stdout, words


def test_check_a_gradient_and_name_the_upstream_mistake(tmp_path):
    path = write_set(tmp_path, CS231N)
    result = run_solver("check", path, "p:grad_x", "-4", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad[q]", "-4", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad_x", "1", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "upstream_not_multiplied", result.stdout


def test_check_a_closed_form(tmp_path):
    path = write_set(tmp_path, {**CS231N, "values": {"x": "x", "y": "y", "z": "z"}})
    result = run_solver("check", path, "p:grad_z", "x + y", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad_x", "q", "--json")      # q = x + y, not z
    assert result.returncode == 1, result.stdout + result.stderr
    result = run_solver("check", path, "p:grad_z", "q", "--json")      # a node's name stands for its value
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:output", "(x + y) z", "--json")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("given, field, words", [
    ({"program": "f = softplus(x)", "values": {"x": 1}}, "program", "softplus, which is not a function"),
    ({"program": ["f = q * z", "q = x + y"], "values": {"x": 1, "y": 2, "z": 3}}, "program",
     "which line 1 uses before it is assigned"),
    ({"program": ["q = x + y", "q = q * z"], "values": {"x": 1, "y": 2, "z": 3}}, "program", "to compute q itself"),
    ({"program": ["q = x + y", "r = q * z", "q = r + 1"], "values": {"x": 1, "y": 2, "z": 3}}, "program",
     "assigns q again"),
    ({"program": ["q = x + y", "f = q * z"], "values": {"x": 1, "y": 2}}, "values", "no value for z"),
    ({"program": "f = x ^ y", "values": {"x": 1, "y": 2}}, "program", "not a constant number"),
    ({"program": "f = log(x)", "values": {"x": -1}}, "values", "positive numbers only"),
    ({"program": "f = 2x", "values": {"x": 1}}, "program", "write the operator"),
    ({"program": ["q = x + y", "f = q * z"], "values": {"x": 1, "y": 2, "z": 3, "q": 4}}, "values",
     "only the inputs"),
    ({"program": "f = relu(x)", "values": {"x": "x"}}, "program", "kink"),
    ({"program": "f = x * y", "values": {"x": 1, "y": 2}, "wrt": ["z"]}, "wrt", "not an input"),
    ({"program": ["q = x + y", "r = x * 2", "f = q * 3"], "values": {"x": 1, "y": 2}}, "program",
     "no later line uses"),
    ({"program": "f = " + " + ".join(["x"] * 200), "values": {"x": 1}}, "program", "longer than 500 characters"),
    ({"program": "f = sqrt(x - 1)", "values": {"x": 1}}, "values", "take the square root of 0, which has no finite gradient"),
    ({"program": "f = x^64", "values": {"x": 1e15}}, "values", "more than 1e+15 in size at f"),
    ({"program": "f = 1e999 * x", "values": {"x": 1}}, "program", "numbers in a program are at most"),
    ({"program": "f = " + "(" * 60 + "x" + ")" * 60, "values": {"x": 1}}, "program", "levels of nesting"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = write_set(tmp_path, given)
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr


def test_every_displayed_equation_holds():
    """Each forward and backward line is a chain of equal members where a member has a value."""
    k = kind()
    same = lambda a, b: close(a, b) or abs(a - b) < 1e-5  # noqa: E731
    for given in NUMBERS[:30]:
        value = lambda member: float(member.value())  # noqa: E731
        errors = (ValueError, TypeError, AttributeError, KeyError)
        assert compared_members(k.solve(k.read(given)), value, same, errors), given


def compound_rules(given) -> dict:
    """{(node, input): the compound local gradient as the Backward pass writes it in letters}."""
    from solver.math.nodes import Partial
    k = kind()
    steps = k.solve(k.read(given)).steps
    found = {}
    for sub in next(step for step in steps if step.title == "Backward pass").substeps:
        for line in sub.math:
            if isinstance(line[0], Partial) and line[0].of.name != line[0].by.name and len(line) == 3 \
                    and not isinstance(line[1].x, (int, float)):
                found[line[0].of.name, line[0].by.name] = line[1].x
    return found


def test_a_compound_local_gradient_is_written_with_sigma_and_the_nodes_own_output(tmp_path):
    import sympy
    given = {"program": ["s = sigmoid(w * x)", "f = sigmoid(s * y) * y"], "values": {"w": 0.5, "x": 2, "y": 1},
             "granularity": "assignments"}
    rules = compound_rules(given)
    w, x, y, s = (sympy.Symbol(n, real=True) for n in "wxys")
    sigmoid = lambda u: 1 / (1 + sympy.exp(-u))  # noqa: E731

    def unfolded(expr, own):
        return expr.replace(sympy.Function("sigma"), sigmoid).subs(s, own) if own is not None else \
            expr.replace(sympy.Function("sigma"), sigmoid)
    # s's rule in its own output (s (1 - s) x), f's with σ(sy): each equal to sympy's own derivative
    assert rules["s", "w"].free_symbols == {s, x} and "exp" not in str(rules["s", "w"])
    assert sympy.simplify(unfolded(rules["s", "w"], sigmoid(w * x)) - sympy.diff(sigmoid(w * x), w)) == 0
    assert "sigma" in str(rules["f", "y"])
    assert sympy.simplify(unfolded(rules["f", "y"], None) - sympy.diff(sigmoid(s * y) * y, y)) == 0
    result = run_solver("solve", write_set(tmp_path, given), "--format", "text")
    assert "1/(1 + e" not in result.stdout and "σ(s y" in result.stdout.replace("  ", " "), result.stdout
