"""dropout against F.dropout: its masks drawn by PyTorch itself (torch.manual_seed), given to our kind, the
outputs compared; evaluation mode against F.dropout(training=False); the expectation against the mean over
many of PyTorch's draws (a statistical test with a stated tolerance); each mistake's wrong answer against an
independent computation of it; the CLI as a user runs it."""
import json
import random

import numpy as np
import pytest

from conftest import compared_members, numeric, one_problem_file, require_module, run_solver
from corpus import draw_dropout

KIND = "dropout"


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def tensor(torch, value):
    return torch.tensor(np.array(value, dtype=float), dtype=torch.float64)


def torch_scale(torch, p: float, training: bool) -> float:
    """The factor F.dropout gives a kept unit: the largest entry it makes of many ones (1 in evaluation)."""
    torch.manual_seed(0)
    return torch.nn.functional.dropout(torch.ones(10_000, dtype=torch.float64), p, training=training).max().item()


def torch_dropout(torch, given: dict) -> dict:
    """What PyTorch makes of a problem whose mask is given: in training the kept units times F.dropout's own
    scale, in evaluation F.dropout(training=False); the expectation is the input (F.dropout's evaluation)."""
    F = torch.nn.functional
    x, p, training = tensor(torch, given["input"]), float(given["p"]), given.get("training", True)
    identity = F.dropout(x, p, training=False)
    scale = torch_scale(torch, p, training)
    output = x * tensor(torch, given["mask"]) * scale if training else F.dropout(x, p, training=False)
    return {"output": output.numpy(), "scale": scale, "expected_output": identity.numpy()}


def assert_close(ours, expected, what):
    ours = np.asarray(np.asarray(ours, dtype=object).astype(float))
    assert ours.shape == np.shape(expected) and np.allclose(ours, expected, rtol=1e-12, atol=1e-12), \
        (what, ours, expected)


def answers_of(given: dict, rules=None) -> dict:
    k = kind()
    read = k.read(given)
    return {name: answer.value for name, answer in (k.compute(read) if rules is None else
                                                     k.compute(read, rules)).items()}


def torch_draw(torch, shape, p: float, seed: int):
    """A mask as F.dropout draws it (seeded): the units of a tensor of ones it keeps."""
    torch.manual_seed(seed)
    return (torch.nn.functional.dropout(torch.ones(shape, dtype=torch.float64), p, training=True) != 0).long()


GIVENS = [draw_dropout(random.Random(f"dropout-{seed}")) for seed in range(60)]


@pytest.mark.torch
@pytest.mark.parametrize("seed", range(40))
def test_output_agrees_with_f_dropout_under_its_own_draw(seed):
    """PyTorch draws the mask (torch.manual_seed, then F.dropout); the same seed makes F.dropout draw it
    again on the input; our kind, given that mask, must give F.dropout's output exactly."""
    torch = require_module("torch")
    rng = random.Random(seed)
    shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(1, 4)))
    p = rng.choice([0.1, 0.2, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9])
    x = tensor(torch, np.round(np.array([rng.uniform(-4, 4) for _ in range(int(np.prod(shape)))]), 1)
               ).reshape(shape)
    mask = torch_draw(torch, shape, p, seed)
    torch.manual_seed(seed)
    expected = torch.nn.functional.dropout(x, p, training=True)
    given = {"input": x.tolist(), "p": p, "mask": mask.tolist()}
    answers = answers_of(given)
    assert_close(answers["output"], expected.numpy(), "output")
    assert_close(answers["scale"], torch_scale(torch, p, True), "scale")
    assert_close(answers["expected_output"], x.numpy(), "expected_output")


@pytest.mark.torch
@pytest.mark.parametrize("given", GIVENS, ids=[f"random{i}" for i in range(len(GIVENS))])
def test_random_problems_agree_with_pytorch(given):
    torch = require_module("torch")
    answers = answers_of(given)
    for name, expected in torch_dropout(torch, given).items():
        assert_close(answers[name], expected, name)


@pytest.mark.torch
def test_the_expected_output_is_the_mean_over_many_draws():
    """The mean of 200,000 of F.dropout's outputs. Each unit's output is x/(1 - p) with probability 1 - p, else 0:
    its standard deviation is |x|·√(p/(1 - p)), so the mean of N draws is within 6 of those over √N of the
    expectation (a false alarm about once in 10^8 per unit)."""
    torch = require_module("torch")
    given = {"input": [[1.5, -2, 0.5], [3, -0.25, 4]], "p": 0.3, "mask": [[1, 0, 1], [1, 1, 0]]}
    x, p, draws = tensor(torch, given["input"]), 0.3, 200_000
    torch.manual_seed(1)
    mean = torch.nn.functional.dropout(x.expand(draws, *x.shape), p, training=True).mean(dim=0).numpy()
    tolerance = 6 * np.abs(x.numpy()) * np.sqrt(p / (1 - p)) / np.sqrt(draws)
    ours = np.asarray(answers_of(given)["expected_output"], dtype=float)
    assert (np.abs(ours - mean) <= tolerance).all(), (ours, mean, tolerance)


def mistake_answers(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.answers(read) for m in k.mistakes}


@pytest.mark.torch
def test_each_mistake_gives_the_wrong_answer_computed_independently():
    torch = require_module("torch")
    F = torch.nn.functional
    given = {"input": [[1.5, -2, 0.5, 3], [4, 1, -1, 2]], "p": 0.25, "mask": [[1, 0, 1, 1], [0, 1, 1, 1]]}
    x, m, p = tensor(torch, given["input"]), tensor(torch, given["mask"]), 0.25
    found = mistake_answers(given)
    assert_close(found["dropout_not_scaled"]["output"], (x * m).numpy(), "not scaled")
    assert_close(found["dropout_not_scaled"]["scale"], 1, "not scaled")
    assert_close(found["dropout_not_scaled"]["expected_output"], ((1 - p) * x).numpy(), "not scaled: E")
    assert_close(found["dropout_scaled_by_p"]["output"], (x * m * p).numpy(), "times p")
    assert_close(found["dropout_scaled_by_keep_probability"]["output"], (x * m * (1 - p)).numpy(), "times 1 - p")
    # p read as the keep probability: F.dropout with drop probability 1 - p scales the kept units by 1/p.
    assert_close(found["p_as_keep_probability"]["output"], (x * m * torch_scale(torch, 1 - p, True)).numpy(),
                 "p as keep")
    assert found["dropout_scaled_at_evaluation"] == {}          # training: no evaluation to scale

    evaluation = {"input": [0.8, -1.2, 2.4], "p": 0.4, "training": False}
    x = tensor(torch, evaluation["input"])
    found = mistake_answers(evaluation)
    assert_close(found["dropout_scaled_at_evaluation"]["output"],
                 (F.dropout(x, 0.4, training=False) / (1 - 0.4)).numpy(), "scaled at evaluation")
    assert_close(found["dropout_scaled_at_evaluation"]["scale"], torch_scale(torch, 0.4, True), "scale at eval")
    assert all(found[name] == {} for name in found if name != "dropout_scaled_at_evaluation")


def test_a_mistake_that_cannot_be_made_here_gives_nothing():
    half = mistake_answers({"input": [1, 2], "p": 0.5, "mask": [1, 0]})
    assert half["p_as_keep_probability"] == {}                   # 1/p is 1/(1 - p) at p = 1/2
    none = mistake_answers({"input": [1, 2], "p": 0, "mask": [1, 1]})
    assert none["p_as_keep_probability"] == {}                   # 1/p divides by 0
    assert mistake_answers({"input": [1, 2], "p": 0, "training": False})["dropout_scaled_at_evaluation"] == {}


def test_exact_values():
    """Hand-worked: p = 0.3 gives s = 10/7; the kept 0.5 becomes 5/7; the expectation is the input."""
    from fractions import Fraction
    answers = answers_of({"input": [[1, -2, 0.5]], "p": 0.3, "mask": [[1, 0, 1]]})
    assert answers["scale"] == Fraction(10, 7)
    assert answers["output"].tolist() == [[Fraction(10, 7), 0, Fraction(5, 7)]]
    assert answers["expected_output"].tolist() == [[1, -2, Fraction(1, 2)]]


def write_set(tmp_path, given, ask=None):
    return one_problem_file(tmp_path, KIND, given, ask)


def test_check_accepts_the_output_and_names_the_missing_scale(tmp_path):
    path = write_set(tmp_path, {"input": [[2, -1], [0.5, 3]], "p": 0.5, "mask": [[1, 0], [1, 1]]})
    result = run_solver("solve", path, "--format", "text")
    assert result.returncode == 0 and "1/(1 - p)" in result.stdout, result.stderr
    result = run_solver("check", path, "p:output", "[[4, 0], [1, 6]]", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:output", "[[2, 0], [0.5, 3]]", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "dropout_not_scaled", result.stdout
    result = run_solver("check", path, "p:scale", "0.5", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] in (
        "dropout_scaled_by_p", "dropout_scaled_by_keep_probability"), result.stdout


def test_check_names_scaling_at_evaluation(tmp_path):
    path = write_set(tmp_path, {"input": [0.8, -1.2, 2.4], "p": 0.4, "training": False})
    result = run_solver("check", path, "p:output", "[0.8, -1.2, 2.4]")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:output", "[4/3, -2, 4]", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "dropout_scaled_at_evaluation", \
        result.stdout


@pytest.mark.parametrize("given, field, words", [
    ({"input": [1, 2], "p": 1, "mask": [0, 0]}, "p", "less than 1"),
    ({"input": [1, 2], "p": -0.1, "mask": [1, 1]}, "p", "at least 0"),
    ({"input": [1, 2], "p": 0.5, "mask": [1, 0, 1]}, "mask", "the input's shape 2"),
    ({"input": [[1, 2]], "p": 0.5, "mask": [1, 0]}, "mask", "the input's shape 1×2"),
    ({"input": [1, 2], "p": 0.5, "mask": [1, 2]}, "mask", "only 0"),
    ({"input": [1, 2], "p": 0.5, "mask": [1, 0.5]}, "mask", "only 0"),
    ({"input": [1, 2], "p": 0.5}, "mask", "needed in training"),
    ({"input": [1, 2], "p": 0, "mask": [1, 0]}, "mask", "p = 0"),
    ({"input": [1, 2], "p": "half", "mask": [1, 0]}, "p", "a number"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = write_set(tmp_path, given)
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("given", GIVENS[:20], ids=[f"random{i}" for i in range(20)])
def test_every_displayed_equation_holds(given):
    """Each member of a line that has a value equals the line's last member (the letters' members have none)."""
    k = kind()
    checked = compared_members(k.solve(k.read(given)), numeric, lambda a, b: np.allclose(a, b, rtol=1e-12))
    assert checked >= 1 or not given.get("training", True)       # evaluation: the input, nothing worked out
