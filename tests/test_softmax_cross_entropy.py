"""softmax_cross_entropy against F.cross_entropy and autograd, over random problems of every option;
each mistake's answer against an independent computation of that wrong answer."""
import json
import random

import numpy as np
import pytest
import yaml

from conftest import compared_members, numeric, require_module, run_solver
from corpus import draw_softmax_cross_entropy

KIND = "softmax_cross_entropy"


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def torch_answers(torch, given: dict, logits=None, target=None, **changes) -> dict:
    """F.cross_entropy's loss, autograd's gradient, softmax and log-softmax over the last axis."""
    F = torch.nn.functional
    z = torch.tensor(np.array(given["logits"] if logits is None else logits, dtype=float), requires_grad=True)
    target = given["target"] if target is None else target
    is_index = isinstance(target, int) or isinstance(target[0], int)
    y = torch.tensor(target, dtype=torch.long) if is_index else torch.tensor(np.array(target, dtype=float))
    weight = torch.tensor(np.array(given["weight"], dtype=float)) if "weight" in given else None
    options = {"reduction": given.get("reduction", "mean"), "label_smoothing": given.get("label_smoothing", 0.0),
               "weight": weight, **changes}
    loss = F.cross_entropy(z, y, **options)
    loss.backward()
    return {"probabilities": F.softmax(z, -1).detach().numpy(), "log_probabilities": F.log_softmax(z, -1).detach().numpy(),
            "loss": loss.item(), "grad_logits": z.grad.numpy()}


def assert_close(ours, expected, what):
    ours = np.asarray(ours, dtype=float)
    assert ours.shape == np.shape(expected) and np.allclose(ours, expected, rtol=1e-9, atol=1e-12), \
        (what, ours, expected)


GIVENS = [draw_softmax_cross_entropy(random.Random(seed)) for seed in range(80)]


@pytest.mark.torch
@pytest.mark.parametrize("given", GIVENS, ids=[f"random{i}" for i in range(len(GIVENS))])
def test_answers_agree_with_f_cross_entropy_and_autograd(given):
    torch = require_module("torch")
    answers = kind().compute(kind().read(given))
    for name, expected in torch_answers(torch, given).items():
        assert_close(answers[name].value, expected, name)


def mistake_answers(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.answers(read) for m in k.mistakes}


def one_hot_smoothed_over_others(target, classes, eps):
    rows = [[eps / (classes - 1)] * classes for _ in target]
    for row, y in zip(rows, target):
        row[y] = 1 - eps
    return rows


@pytest.mark.torch
def test_each_mistake_gives_the_wrong_answer_computed_independently():
    torch = require_module("torch")
    F = torch.nn.functional
    given = {"logits": [[2, 1, 0.5, -1], [0.25, 2.5, -1, 1]], "target": [0, 2], "label_smoothing": 0.2}
    found = mistake_answers(given)
    right = torch_answers(torch, given)
    assert_close(found["mean_divisor_forgotten"]["loss"], torch_answers(torch, given, reduction="sum")["loss"], "sum")
    assert_close(found["gradient_sign_flipped"]["grad_logits"], -right["grad_logits"], "sign")
    assert_close(found["wrong_class"]["loss"], torch_answers(torch, given, target=[1, 3])["loss"], "class + 1")
    twice = F.softmax(torch.tensor(np.array(given["logits"], dtype=float)), -1).numpy()
    assert_close(found["softmax_twice"]["loss"], torch_answers(torch, given, logits=twice)["loss"], "softmax twice")
    others = one_hot_smoothed_over_others(given["target"], 4, 0.2)
    assert_close(found["smoothing_over_other_classes"]["loss"],
                 torch_answers(torch, given, target=others, label_smoothing=0.0)["loss"], "smoothing over K - 1")
    assert found["logits_as_probabilities"] == {}              # negative logits have no logarithm
    positive = {"logits": [[0.5, 0.25, 0.25], [0.2, 0.3, 0.5]], "target": [0, 2]}
    nll = F.nll_loss(torch.log(torch.tensor(np.array(positive["logits"]))), torch.tensor([0, 2]))
    assert_close(mistake_answers(positive)["logits_as_probabilities"]["loss"], nll.item(), "logits as probabilities")


WEIGHTED = {"logits": [[1, 0], [0, 1], [2, 2], [-1, 3]], "target": [0, 0, 1, 1], "weight": [3, 0.5]}
SMOOTHED = {"logits": [[2, -1, 0], [0, 0, 0]], "target": [[0.7, 0.2, 0.1], [0, 0, 1]], "label_smoothing": 0.2,
            "weight": [1, 2, 1]}
CHANGED_OPTIONS = [  # (mistake, where, given, torch's options for its loss, then divided by)
    ("class_weights_forgotten", "", WEIGHTED, {"weight": None}, 1),
    ("label_smoothing_forgotten", "", SMOOTHED, {"label_smoothing": 0.0}, 1),
    ("weighted_mean_over_batch", "", WEIGHTED, {"reduction": "sum"}, 4),
    ("sum_taken_as_mean", "by the target classes' total weight", {**WEIGHTED, "reduction": "sum"},
     {"reduction": "mean"}, 1),
    ("sum_taken_as_mean", "by the batch size", {**WEIGHTED, "reduction": "sum"}, {}, 4),
    ("sum_taken_as_mean", "", {"logits": [[1, 0], [0, 1], [2, 2]], "target": [0, 0, 1], "reduction": "sum"},
     {"reduction": "mean"}, 1),
]


@pytest.mark.torch
@pytest.mark.parametrize("name, where, given, options, divisor", CHANGED_OPTIONS,
                         ids=[f"{case[0]} {case[1]}" for case in CHANGED_OPTIONS])
def test_an_option_changed_gives_torchs_loss_with_it_changed_and_check_names_it(tmp_path, name, where, given,
                                                                                options, divisor):
    torch = require_module("torch")
    wrong = torch_answers(torch, given, **options)["loss"] / divisor
    cases = dict(next(m for m in kind().mistakes if m.name == name).cases(kind().read(given)))
    assert_close(cases[where]["loss"], wrong, (name, where))
    assert not np.isclose(wrong, torch_answers(torch, given)["loss"], rtol=1e-3)
    result = run_solver("check", write_set(tmp_path, given), "p:loss", f"{wrong:.6g}", "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == name, result.stdout


def softmax_over_batch(torch, given) -> np.ndarray:
    """p/B: the gradient with the target left out."""
    z = np.array(given["logits"], dtype=float)
    return torch.nn.functional.softmax(torch.tensor(z), -1).numpy() / (len(z) if z.ndim == 2 else 1)


TARGET_LEFT_OUT = [{"logits": [0.5, -1.25, 3, 3, 0], "target": 3},
                   {"logits": [[2, 1, 0.5], [0.25, 2.5, -1]], "target": [0, 2], "label_smoothing": 0.3}]


@pytest.mark.torch
@pytest.mark.parametrize("given", TARGET_LEFT_OUT)
def test_the_gradient_without_the_target_is_p_and_check_names_it(tmp_path, given):
    torch = require_module("torch")
    wrong = softmax_over_batch(torch, given)
    assert_close(mistake_answers(given)["target_not_subtracted"]["grad_logits"], wrong, "p")
    cells = json.dumps(np.round(wrong, 6).tolist())
    result = run_solver("check", write_set(tmp_path, given), "p:grad_logits", cells, "--json")
    assert result.returncode == 1 and json.loads(result.stdout)["mistake"] == "target_not_subtracted", result.stdout


def test_a_mistake_that_cannot_be_made_here_gives_nothing():
    found = mistake_answers({"logits": [1, 2, 3], "target": 2, "reduction": "sum"})
    assert found["mean_divisor_forgotten"] == {} and found["smoothing_over_other_classes"] == {}
    assert found["class_weights_forgotten"] == {} and found["label_smoothing_forgotten"] == {}
    assert mistake_answers({"logits": [1, 2, 3], "target": 2})["sum_taken_as_mean"] == []
    assert mistake_answers({**WEIGHTED, "weight": None})["weighted_mean_over_batch"] == {}
    assert found["wrong_class"] == {}                          # class 2 + 1 is out of range


def write_set(tmp_path, given) -> str:
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [{"id": "p", "kind": KIND, "given": given}]}))
    return path


@pytest.mark.torch
def test_check_names_the_forgotten_mean_and_accepts_the_right_loss(tmp_path):
    torch = require_module("torch")
    given = {"logits": [[2, 1, 0.5], [0.25, 2.5, -1], [1, 1, 3]], "target": [0, 2, 1]}
    path = write_set(tmp_path, given)
    right = torch_answers(torch, given)["loss"]
    summed = torch_answers(torch, given, reduction="sum")["loss"]
    result = run_solver("check", path, "p:loss", f"{right:.4f}", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_solver("check", path, "p:loss", f"{summed:.4f}", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 1 and verdict["mistake"] == "mean_divisor_forgotten", result.stdout


LARGE_LOGITS = [{"logits": [[0, 800]], "target": [0]}, {"logits": [1000, -1000, 3], "target": 1},
                {"logits": [[0, 800], [2, 1]], "target": [[0.5, 0.5], [0, 1]], "label_smoothing": 0.1}]


@pytest.mark.torch
def test_large_logits_give_torchs_answers_through_the_cli_without_warnings(tmp_path):
    """A probability that underflows to 0 has a finite log: log-softmax from the shifted logits."""
    torch = require_module("torch")
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [
        {"id": f"p{i}", "kind": KIND, "given": given} for i, given in enumerate(LARGE_LOGITS)]}))
    result = run_solver("solve", path, "--format", "json")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    solved = json.loads(result.stdout)["problems"]
    for given, problem in zip(LARGE_LOGITS, solved):
        for name, expected in torch_answers(torch, given).items():
            assert_close(problem["answers"][name]["value"], expected, name)
    assert [problem["answers"]["loss"]["value"] for problem in solved[:2]] == [800, 2000]


@pytest.mark.parametrize("given", LARGE_LOGITS)
def test_large_logits_derivation_lines_hold(given):
    k = kind()
    same = lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12)  # noqa: E731
    assert compared_members(k.solve(k.read(given)), numeric, same, errors=(ValueError, AttributeError)) >= 2


@pytest.mark.parametrize("given, field, words", [
    ({"logits": [[1, 2], [3, 4]], "target": [0, 2]}, "target", "classes 0 to 1"),
    ({"logits": [[1, 2], [3, 4]], "target": [0]}, "target", "2 row(s)"),
    ({"logits": [1, 2, 3], "target": [0.5, 0.25, 0.5]}, "target", "sum to 1"),
    ({"logits": [1, 2, 3], "target": 1, "weight": [1, 2]}, "weight", "one per class (3)"),
    ({"logits": [1, 2, 3], "target": 1, "label_smoothing": 1.5}, "label_smoothing", "between 0 and 1"),
    ({"logits": [1, 2, 3], "target": True}, "target", "class index"),
    ({"logits": [[1, 2], [3, 4]], "target": [0.5, 1]}, "target", "whole numbers from 0"),
])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, given, field, words):
    path = write_set(tmp_path, given)
    result = run_solver("solve", path)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    assert f"`{field}`" in result.stderr and words in result.stderr and '"p"' in result.stderr, result.stderr


@pytest.mark.parametrize("given", GIVENS[:30], ids=[f"random{i}" for i in range(30)])
def test_every_displayed_equation_holds(given):
    """Each line of the derivation is a chain of equal members: evaluating a member's formula gives the
    number it is set equal to (the symbols' lines, like ∂L/∂z = (p - y)/B, are the answers themselves)."""
    k = kind()
    same = lambda a, b: np.allclose(a, b, rtol=1e-9, atol=1e-12)  # noqa: E731
    assert compared_members(k.solve(k.read(given)), numeric, same, errors=(ValueError, AttributeError)) >= 2


def test_rows_count_from_1_and_classes_from_0(tmp_path):
    """As every derivation counts rows from 1 (README); a class index stays PyTorch's, from 0."""
    path = write_set(tmp_path, {"logits": [[0, 8, 1], [2, 1, 0]], "target": [0, 2]})
    text = run_solver("solve", path, "--format", "text").stdout
    for line in ("m_1 = 8", "m_2 = 2", "p_1,0 = ", "p_2,2 = ", "ℓ_1 = -log p_1,0", "ℓ_2 = -log p_2,2",
                 "L = (ℓ_1 + ℓ_2)/2"):
        assert line in text, (line, text)
    assert "m_0" not in text and "ℓ_0" not in text and "p_0," not in text, text
