"""The attention kind against PyTorch (float64) and against a derivation by hand.

Every expected value comes from torch, from arithmetic written out below, or
from an identity; none is copied from the solver's output.
"""
import math
import random
import subprocess
import sys
import textwrap
from fractions import Fraction

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.answers.check import check_value
from solver.kinds import get_kind
from solver.problems.load import Problem

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")
attention = get_kind("attention")

CASES = 60


def solve(given: dict) -> dict:
    return {name: a.value for name, a in attention.solve(attention.read(given)).answers.items()}


def mistake(name: str, given: dict) -> dict:
    found = next(m for m in attention.mistakes if m.name == name)
    return found.answers(attention.read(given))


def as_float(value) -> np.ndarray:
    a = np.asarray(value, dtype=object)
    return np.array([float(v) for v in a.flat], dtype=float).reshape(a.shape)


def close(value, expected):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    np.testing.assert_allclose(as_float(value), expected, rtol=1e-12, atol=1e-12)


# ---- random instances against torch ---------------------------------------

def draw(rng: random.Random) -> dict:
    n, d, d_k, d_v = (rng.randint(1, 4) for _ in range(4))

    def matrix(rows, cols):
        return [[rng.randint(-3, 3) for _ in range(cols)] for _ in range(rows)]
    given = dict(x=matrix(n, d), w_q=matrix(d_k, d), w_k=matrix(d_k, d), w_v=matrix(d_v, d))
    if rng.random() < 0.5:
        given["mask"] = "causal"
    if rng.random() < 0.3:
        given["scale"] = rng.choice([1, 0.5, 0.25, 2])
    return given


def torch_attention(given: dict, *, scale=None, dim=-1, mixed="values"):
    """Q, K, V, scores, weights and output by torch; projections by nn.Linear (weight = W)."""
    x = torch.tensor(given["x"], dtype=torch.float64)

    def project(name):
        w = torch.tensor(given[name], dtype=torch.float64)
        linear = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(w)
        return linear(x).detach()
    q, k, v = project("w_q"), project("w_k"), project("w_v")
    scale = scale if scale is not None else given.get("scale", 1 / math.sqrt(q.shape[1]))
    scores = q @ k.T * scale
    everything = torch.ones(len(x), len(x), dtype=torch.bool)
    allowed = torch.tril(everything) if given.get("mask") else everything
    weights = torch.softmax(scores.masked_fill(~allowed, -math.inf), dim=dim)
    output = weights @ {"values": v, "keys": k, "inputs": x}[mixed]
    return dict(queries=q, keys=k, values=v, scores=scores, weights=weights, output=output)


@pytest.mark.parametrize("seed", range(CASES))
def test_random_instances_agree_with_torch(seed):
    given = draw(random.Random(seed))
    ours, theirs = solve(given), torch_attention(given)
    for name in ("queries", "keys", "values", "scores", "weights", "output"):
        close(ours[name], theirs[name])
    q, k, v = (theirs[name] for name in ("queries", "keys", "values"))
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=given.get("mask") == "causal",
                                           scale=given.get("scale"))
    close(ours["output"], fused)


@pytest.mark.parametrize("seed", range(0, CASES, 3))
def test_a_position_answers_its_rows(seed):
    rng = random.Random(seed)
    given = draw(rng)
    i = rng.randint(1, len(given["x"]))
    ours, theirs = solve(dict(given, position=i)), torch_attention(given)
    for name in ("queries", "scores", "weights", "output"):
        close(ours[name], theirs[name][i - 1])
    for name in ("keys", "values"):
        close(ours[name], theirs[name])


def test_one_head_multihead_attention_agrees():
    """nn.MultiheadAttention with one head, no biases and an identity output projection."""
    rng = random.Random(7)
    d, n = 3, 4
    matrix = lambda rows: [[rng.randint(-2, 2) for _ in range(d)] for _ in range(rows)]  # noqa: E731
    given = dict(x=matrix(n), w_q=matrix(d), w_k=matrix(d), w_v=matrix(d))
    mha = torch.nn.MultiheadAttention(d, 1, bias=False, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(given["w_q"] + given["w_k"] + given["w_v"], dtype=torch.float64))
        mha.out_proj.weight.copy_(torch.eye(d, dtype=torch.float64))
    x = torch.tensor(given["x"], dtype=torch.float64)[:, None, :]      # (n, batch 1, d)
    for mask in (None, "causal"):
        hidden = None if mask is None else torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
        output, weights = mha(x, x, x, attn_mask=hidden)
        ours = solve(dict(given, mask=mask))
        close(ours["output"], output[:, 0])
        close(ours["weights"], weights[0])


MISTAKE_ORACLES = {
    "scale_forgotten": dict(scale=1),
    "softmax_wrong_axis": dict(dim=0),
    "weights_on_keys": dict(mixed="keys"),
    "weights_on_inputs": dict(mixed="inputs"),
}


@pytest.mark.parametrize("name, change", MISTAKE_ORACLES.items())
@pytest.mark.parametrize("seed", range(10))
def test_mistakes_agree_with_torch_made_the_same_way(name, change, seed):
    given = draw(random.Random(100 + seed))
    given.pop("scale", None)
    wrong, theirs = mistake(name, given), torch_attention(given, **change)
    for answer in ("weights", "output") if "dim" in change or "scale" in change else ("output",):
        close(wrong[answer], theirs[answer])


def test_scale_mistakes_use_the_other_sizes():
    # d = 3 inputs, d_k = 2, d_v = 1: the sizes differ, so each scale is its own mistake.
    given = dict(x=[[1, 2, 0], [0, 1, 1]], w_q=[[1, 0, 1], [2, 1, 0]], w_k=[[0, 1, 1], [1, 1, 0]],
                 w_v=[[1, 1, 1]])
    for name, scale in (("scaled_by_d_model", 1 / math.sqrt(3)), ("scaled_by_d_v", 1.0),
                        ("scaled_by_d_k_not_root", 1 / 2)):
        close(mistake(name, given)["output"], torch_attention(given, scale=scale)["output"])


def test_transposed_projection_is_x_times_w():
    given = dict(x=[[1, 2], [0, 1], [3, 1]], w_q=[[1, 2], [0, 1]], w_k=[[2, 0], [1, 1]], w_v=[[0, 1], [1, 3]])
    flipped = {name: np.array(w).T.tolist() for name, w in given.items() if name != "x"}
    close(mistake("projection_transposed", given)["output"],
          torch_attention(dict(given, **flipped))["output"])
    non_square = dict(given, w_v=[[1, 0]])
    assert mistake("projection_transposed", non_square) == {}


def test_mistakes_that_need_the_default_scale_step_aside_for_a_given_one():
    given = dict(x=[[1, 2]], w_q=[[1, 1]], w_k=[[1, 0]], w_v=[[2, 2]], scale=0.5)
    assert mistake("scaled_by_d_model", given) == {} and mistake("scaled_by_d_v", given) == {}


# ---- Q7b, by hand -----------------------------------------------------------

# X rows x_1 = (1, 0), x_2 = (0, 1), x_3 = (1, 1); q_1 = W_Q x_1 is W_Q's first column.
Q7B = dict(x=[[1, 0], [0, 1], [1, 1]], w_q=[[2, 1], [1, 3]], w_k=[[1, 0], [1, 2]],
           w_v=[[1, 2], [0, 1]], position=1)
# k_1, k_2 are W_K's columns, k_3 = k_1 + k_2; likewise v.
Q7B_KEYS = [[1, 1], [0, 2], [1, 3]]
Q7B_VALUES = [[1, 0], [2, 1], [3, 1]]
# q_1·k_j = 2+1, 0+2, 2+3 = 3, 2, 5; d_k = 2.
Q7B_SCORES = [3 / math.sqrt(2), 2 / math.sqrt(2), 5 / math.sqrt(2)]


def test_q7b_by_hand():
    ours = solve(Q7B)
    assert ours["queries"].tolist() == [2, 1]
    assert ours["keys"].tolist() == Q7B_KEYS and ours["values"].tolist() == Q7B_VALUES
    close(ours["scores"], Q7B_SCORES)
    powers = [math.exp(s) for s in Q7B_SCORES]
    weights = [p / sum(powers) for p in powers]
    close(ours["weights"], weights)
    close(ours["output"], [sum(w * v[c] for w, v in zip(weights, Q7B_VALUES)) for c in range(2)])


def test_q7b_derivation_writes_the_weights_exactly():
    md = render(Q7B)
    # α_12 = e^{2/√2} / (e^{3/√2} + e^{2/√2} + e^{5/√2})
    assert (r"\alpha_{12} &= \frac{\exp\left(\frac{2}{\sqrt{2}}\right)}{\exp\left(\frac{3}{\sqrt{2}}\right) + "
            r"\exp\left(\frac{2}{\sqrt{2}}\right) + \exp\left(\frac{5}{\sqrt{2}}\right)}") in md
    assert r"\frac{2 \cdot 1 + 1 \cdot 1}{\sqrt{2}}" in md          # e_11 = q_1·k_1/√2


def render(given: dict) -> str:
    from solver.render import render_solution
    return render_solution(attention.solve(attention.read(given)), "md")


def test_integer_scores_stay_exact_and_show_as_powers_of_e():
    # d_k = 4, so √d_k = 2. x_1 = (1, 0), x_2 = (0, 1): q_1 = (1, 1, 0, 0), q_2 = (0, 0, 1, 1),
    # k_1 = (1, 1, 0, 0), k_2 = (2, 0, 0, 0); q_1·k = (2, 2) -> scores (1, 1); q_2·k = (0, 0).
    # W_V = I, so v_1 = (1, 0), v_2 = (0, 1) and equal weights 1/2 give z = (1/2, 1/2).
    given = dict(x=[[1, 0], [0, 1]], w_q=[[1, 0], [1, 0], [0, 1], [0, 1]],
                 w_k=[[1, 2], [1, 0], [0, 0], [0, 0]], w_v=[[1, 0], [0, 1]])
    ours = solve(given)
    assert ours["scores"].tolist() == [[1, 1], [0, 0]]
    assert ours["weights"].tolist() == [[Fraction(1, 2)] * 2] * 2      # equal scores: exactly 1/2
    assert ours["output"].tolist() == [[Fraction(1, 2)] * 2] * 2
    given["w_k"] = [[1, 4], [1, 0], [0, 0], [0, 0]]           # k_2 = (4, 0, 0, 0): scores (1, 2)
    assert r"\frac{e^{1}}{e^{1} + e^{2}}" in render(given)
    close(solve(given)["weights"][0], [1 / (1 + math.e), math.e / (1 + math.e)])


def test_a_decimal_scale_is_taken_as_written():
    # q = (1), (3) and k = (3), (4): dots [[3, 4], [9, 12]], times 1/2.
    given = dict(x=[[1, 2], [3, 1]], w_q=[[1, 0]], w_k=[[1, 1]], w_v=[[1, 0]], scale=0.5)
    assert solve(given)["scores"].tolist() == [[Fraction(3, 2), 2], [Fraction(9, 2), 6]]


def test_causal_first_token_attends_to_itself_only():
    ours = solve(dict(Q7B, mask="causal"))
    assert ours["weights"].tolist() == [1, 0, 0] and ours["output"].tolist() == Q7B_VALUES[0]


def test_exact_weights_typed_as_arithmetic_check(tmp_path):
    """x = W_Q = W_K = I, scale 1, causal: row 2 of the weights is softmax(0, 1) = (1/(1+e), e/(1+e))."""
    path = tmp_path / "set.yaml"
    path.write_text("title: t\nproblems:\n  - id: p\n    kind: attention\n    given: {x: [[1, 0], [0, 1]], "
                    "w_q: [[1, 0], [0, 1]], w_k: [[1, 0], [0, 1]], w_v: [[1, 0], [0, 1]], scale: 1, mask: causal}\n")
    result = run_solver("check", path, "p:weights", "[[1, 0], [1/(1+e), e/(1+e)]]")
    assert result.returncode == 0, result.stdout + result.stderr


def test_numeric_solve_does_not_import_sympy():
    code = ("import sys; from solver.kinds import get_kind; k = get_kind('attention'); "
            f"g = k.read({Q7B!r}); k.solve(g); [m.answers(g) for m in k.mistakes]; "
            "print('sympy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# ---- the general steps (question 7) ----------------------------------------

def check(given: dict, text: str):
    parsed = attention.read(given)
    answer = attention.solve(parsed).answers["output"]
    return check_value(Problem("Q7", "attention", parsed), answer, text, attention.mistakes)


@pytest.mark.parametrize("text", [
    "alpha_11 v_1 + alpha_12 v_2 + alpha_13 v_3",
    r"\alpha_{11} v_{1} + \alpha_{12} v_{2} + \alpha_{13} v_{3}",
    "α_13 v_3 + α_12 v_2 + α_11 v_1",
])
def test_general_output_is_the_weighted_sum_of_values(text):
    assert check(dict(tokens=3, position=1), text).verdict == "correct"


def test_general_output_with_a_causal_mask_stops_at_the_token():
    given = dict(tokens=3, position=2, mask="causal")
    assert check(given, r"\alpha_{21} v_1 + \alpha_{22} v_2").verdict == "correct"
    assert check(given, r"\alpha_{21} v_1 + \alpha_{22} v_2 + \alpha_{23} v_3").verdict == "incorrect"
    spelled = check(given, "alpha_21*v_1 + alpha_22*v_2 + alpha_23*v_3")     # alpha_23 is α_23, not a·l·p·h·a_23
    assert spelled.verdict == "incorrect" and spelled.mistake == "causal_mask_forgotten"


@pytest.mark.parametrize("text, name", [
    ("alpha_11 k_1 + alpha_12 k_2 + alpha_13 k_3", "weights_on_keys"),
    (r"\alpha_{11} x_1 + \alpha_{12} x_2 + \alpha_{13} x_3", "weights_on_inputs"),
])
def test_general_mistakes_are_named(text, name):
    verdict = check(dict(tokens=3, position=1), text)
    assert verdict.verdict == "incorrect" and verdict.mistake == name


def test_general_steps_follow_the_question():
    md = render(dict(tokens=3, position=1))
    for line in (r"q_{1} &= W_Q x_{1}", r"k_j &= W_K x_j", r"e_{1j} &= \frac{q_{1}^{\top} k_j}{\sqrt{d_k}}",
                 r"\alpha_{1j} &= \frac{\exp(e_{1j})}{\sum_{m=1}^{3} \exp(e_{1m})}",
                 r"z_{1} &= \sum_{j=1}^{3} \alpha_{1j} v_j"):
        assert line in md, line


# ---- bad input through the CLI -----------------------------------------------

BAD = [
    ("x: [[1, 2, 3]]\nw_q: [[1, 2]]\nw_k: [[1, 2, 3]]\nw_v: [[1, 2, 3]]\n", "w_q", "x has d = 3"),
    ("x: [[1, 2]]\nw_q: [[1, 2], [3, 4]]\nw_k: [[1, 2]]\nw_v: [[1, 2]]\n", "w_k", "same size d_k"),
    ("x: [[1, 2]]\nw_q: [[1, 2]]\nw_k: [[1, 2]]\nw_v: [[1, 2]]\nposition: 2\n", "position", "from 1 to 1"),
    ("x: [[1, 2]]\nw_q: [[1, 2]]\nw_k: [[1, 2]]\nposition: 1\n", "w_v", "is needed with `x`"),
    ("x: [[1, 2]]\nw_q: [[1, 2]]\nw_k: [[1, 2]]\nw_v: [[1, 2]]\nscale: 0\n", "scale", "positive number"),
    ("position: 1\n", "tokens", "number of tokens"),
    ("tokens: 3\n", "position", "is required without `x`"),
    ("tokens: 3\nposition: 4\n", "position", "from 1 to 3"),
    ("x: [[1, 2]]\nw_q: [[1, 2]]\nw_k: [[1, 2]]\nw_v: [[1, 2]]\nmask: future\n", "mask", "causal"),
    (f"x: {[[1]] * 101}\nw_q: [[1]]\nw_k: [[1]]\nw_v: [[1]]\n", "x", "at most 100"),
    ("tokens: 21\nposition: 1\n", "tokens", "at most 20"),
]


@pytest.mark.parametrize("given, field, words", BAD)
def test_bad_given_names_file_problem_and_field(tmp_path, given, field, words):
    path = tmp_path / "set.yaml"
    body = textwrap.indent(given, " " * 6)
    path.write_text(f'title: T\nproblems:\n  - id: "a1"\n    kind: attention\n    given:\n{body}')
    assert_bad_input(run_solver("solve", path), path, "a1", field, words)


# ---- the causal mask forgotten (issue 10) -------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_causal_mask_forgotten_is_torchs_unmasked_attention(seed):
    given = dict(draw(random.Random(f"mask-{seed}")), mask="causal")
    q, k, v = (torch_attention(given)[name] for name in ("queries", "keys", "values"))
    found = mistake("causal_mask_forgotten", given)
    close(found["output"], F.scaled_dot_product_attention(q, k, v, is_causal=False, scale=given.get("scale")))
    assert mistake("causal_mask_forgotten", dict(given, mask=None)) == {}


def test_causal_mask_forgotten_is_diagnosed():
    given = attention.read({"x": [[1, 0], [0, 1], [1, 1]], "w_q": [[1, 0], [0, 1]], "w_k": [[1, 0], [0, 1]],
                            "w_v": [[2, 0], [0, 3]], "mask": "causal"})
    q = k = torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.float64)
    v = q @ torch.tensor([[2, 0], [0, 3]], dtype=torch.float64).T
    unmasked = F.scaled_dot_product_attention(q, k, v).numpy().round(6).tolist()
    answer = attention.solve(given).answers["output"]
    verdict = check_value(Problem("p", "attention", given), answer, str(unmasked), attention.mistakes)
    assert verdict.verdict == "incorrect" and verdict.mistake == "causal_mask_forgotten", verdict


def test_general_causal_mask_forgotten_sums_over_every_token():
    import sympy
    found = mistake("causal_mask_forgotten", {"tokens": 4, "position": 2, "mask": "causal"})["output"]
    alpha = [sympy.Symbol(f"alpha_2{j}", integer=True, positive=True) for j in range(1, 5)]
    v = [sympy.Symbol(f"v_{j}", integer=True, positive=True) for j in range(1, 5)]
    assert sympy.expand(found - sum(a * b for a, b in zip(alpha, v))) == 0


def test_the_sizes_print_as_math_in_the_prose():
    """d_k and d_v were written as text: a literal underscore in the PDF."""
    from solver.render import render_solution
    numeric = render_solution(attention.solve(attention.read(Q7B)), "latex")
    assert "With $n = 3$ tokens of $d = 2$ features: $d_k = 2$ and $d_v = 2$." in numeric
    general = render_solution(attention.solve(attention.read({"tokens": 4, "position": 2})), "latex")
    assert "; $d_k$ is the size of the keys." in general
