"""The Kind base (solver/kinds/base.py): mistakes are the problem computed under changed rules
or a changed given, checked against sizes written out here; checking never derives; a new
kind gets the shared mistakes by naming them."""
import math
import random
from fractions import Fraction
from dataclasses import dataclass
from typing import Any

import pytest

from solver.commands.check import check_file
from solver.answers.types import format_answer
from solver.core.fields import ONE, ZERO, Pair, given_field, pair
from solver.kinds import get_kind
from solver.kinds.base import Kind
from solver.kinds.conv.conv2d import Conv2d
from solver.kinds.mistakes import SHARED_MISTAKES
from solver.core.model import Answer
from solver.problems.load import load

from conftest import PROBLEM_FILES


def wrong(kind, name, given) -> dict:
    [(_, found)] = next(m for m in kind.mistakes if m.name == name).cases(kind.read(given))
    return found


def size(h, k, s=1, p=0, d=1, rounding=math.floor, padded=None, span=None):
    """The number of window positions, written out: (padded length - span) / stride, rounded, + 1."""
    padded = h + 2 * p if padded is None else padded
    span = d * (k - 1) + 1 if span is None else span
    return rounding((padded - span) / s) + 1


def draw_sizes(rng):
    while True:
        h, k, s, p, d = rng.randint(4, 30), rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 3), rng.randint(1, 3)
        if d * (k - 1) + 1 <= h + 2 * p:
            return {"input_size": h, "kernel_size": k, "stride": s, "padding": p, "dilation": d}


@pytest.mark.parametrize("seed", range(30))
def test_conv2d_size_mistakes_are_the_formula_with_that_change(seed):
    g = draw_sizes(random.Random(seed))
    h, k, s, p, d = g["input_size"], g["kernel_size"], g["stride"], g["padding"], g["dilation"]
    conv2d = get_kind("conv2d")
    assert wrong(conv2d, "ceil_instead_of_floor", g)["output_size"] == size(h, k, s, p, d, math.ceil)
    once = size(h, k, s, p, d, padded=h + p)
    if p:
        assert wrong(conv2d, "padding_once", g) == ({"output_size": once} if once >= 1 else {})
    k_times_d = size(h, k, s, p, d, span=k * d)
    if d > 1:
            assert wrong(conv2d, "dilation_as_k_times_d", g) == ({"output_size": k_times_d} if k_times_d >= 1 else {})
    unrounded = Fraction(h + 2 * p - d * (k - 1) - 1, s) + 1
    assert wrong(conv2d, "floor_dropped", g)["output_size"] == unrounded


@pytest.mark.parametrize("seed", range(30))
def test_pool2d_size_mistakes_are_the_formula_with_that_change(seed):
    rng = random.Random(seed)
    k = rng.randint(2, 5)
    h, s, p = rng.randint(k, 30), rng.randint(1, 4), rng.randint(0, k // 2)
    g = {"input_size": h, "kernel_size": k, "stride": s, "padding": p}
    pool2d = get_kind("pool2d")
    ceil = size(h, k, s, p, rounding=math.ceil)
    dropped = ceil - 1 if (ceil - 1) * s >= h + p else ceil      # PyTorch's last window starts in the input
    assert wrong(pool2d, "ceil_instead_of_floor", g)["output_size"] == dropped
    assert wrong(pool2d, "floor_instead_of_ceil", dict(g, ceil_mode=True))["output_size"] == size(h, k, s, p)
    if dropped != ceil:
        assert wrong(pool2d, "ceil_window_kept", dict(g, ceil_mode=True))["output_size"] == ceil
    if p:
        assert wrong(pool2d, "padding_once", g)["output_size"] == size(h, k, s, p, padded=h + p)


def test_pool2d_ceil_mistake_is_torch_in_ceil_mode():
    torch = pytest.importorskip("torch")
    x = [[float(v) for v in range(r * 7, r * 7 + 7)] for r in range(7)]
    found = wrong(get_kind("pool2d"), "ceil_instead_of_floor", {"input": x, "kernel_size": 2, "stride": 2})
    expected = torch.nn.functional.max_pool2d(torch.tensor([x]), 2, 2, ceil_mode=True)[0].numpy()
    assert found["output"].tolist() == expected.tolist()


PROBLEM = """\
title: t
problems:
  - id: a
    kind: conv2d
    given:
      input: [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]
      kernel: [[1, 0], [0, -1]]
      padding: 1
      stride: 2
"""


def test_checking_a_conv2d_answer_never_derives(tmp_path, monkeypatch):
    def derive(self, given, answers):
        raise AssertionError("check built the derivation")
    monkeypatch.setattr(Conv2d, "derive", derive)
    path = tmp_path / "p.yaml"
    path.write_text(PROBLEM)
    # Padded 6×6, each window x_pad[i, j] - x_pad[i + 1, j + 1] at rows and columns 0, 2, 4.
    assert check_file(path, "a:output", "[[-1, -3, 0], [-9, -5, 8], [0, 14, 16]]").verdict == "correct"
    verdict = check_file(path, "a:output", "[[1, 3, 0], [9, 5, -8], [0, -14, -16]]")
    assert (verdict.verdict, verdict.mistake) == ("incorrect", "kernel_flipped")      # a change of the rules
    # (4 + 2·1 - 2)/2 + 1 = 3; with stride 1, 4 + 1 = 5.
    assert check_file(path, "a:output_size", "3x3").verdict == "correct"
    verdict = check_file(path, "a:output_size", "5x5")
    assert (verdict.verdict, verdict.mistake) == ("incorrect", "stride_ignored")      # a change of the given


CONV_FAMILY = ("conv2d", "pool2d", "conv_transpose2d", "conv2d_backward")
SHIPPED = [pytest.param(path, p.id, id=f"{path.stem}:{p.id}") for path in PROBLEM_FILES
           for p in load(path).problems if p.kind in CONV_FAMILY]


@pytest.mark.parametrize("path, problem_id", SHIPPED)
def test_checking_any_shipped_conv_family_answer_never_derives(path, problem_id, monkeypatch):
    """Every answer of the family's shipped problems: its own value is correct and a mistake's
    wrong value is diagnosed, with every derive of the family raising."""
    def derive(self, given, answers):
        raise AssertionError("check built the derivation")
    for name in CONV_FAMILY:
        monkeypatch.setattr(type(get_kind(name)), "derive", derive)
    problem = load(path, only=problem_id).problems[0]
    kind = get_kind(problem.kind)
    for answer in kind.compute(problem.given).values():
        spec = f"{problem_id}:{answer.name}"
        assert check_file(path, spec, format_answer(answer.value, answer.type)).verdict == "correct"
        for mistake in kind.mistakes:
            value = mistake.cases(problem.given)[0][1].get(answer.name)
            text = None if value is None else format_answer(value, answer.type)
            if text is not None and text != format_answer(answer.value, answer.type):
                assert check_file(path, spec, text).mistake is not None
                break


EVERY_SHIPPED = [pytest.param(path, id=path.stem) for path in PROBLEM_FILES]


@pytest.mark.parametrize("path", EVERY_SHIPPED)
def test_checking_any_kinds_shown_answers_never_derives(path, monkeypatch):
    """Every kind: each shipped problem's first two shown answers (a formula, a matrix, a count)
    judged right, with every kind's derive raising."""
    def derive(self, given, answers):
        raise AssertionError("check built the derivation")
    from solver.kinds import KINDS
    for name in KINDS:
        monkeypatch.setattr(type(get_kind(name)), "derive", derive)
    for problem in load(path).problems:
        answers = get_kind(problem.kind).compute(problem.given)
        shown = [name for name in (problem.ask or answers) if "[" not in name and answers[name].type != "text"]
        for name in shown[:2]:
            answer = answers[name]
            verdict = check_file(path, f"{problem.id}:{name}", format_answer(answer.value, answer.type))
            assert verdict.verdict == "correct", (problem.id, name, verdict)


NETWORK = """
problems:
  - id: n
    kind: network
    given:
      input_shape: 3x16x16
      layers:
        - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
        - {type: maxpool2d, kernel_size: 2, ceil_mode: true}
        - {type: conv_transpose2d, out_channels: 2, kernel_size: 2, stride: 2}
        - {type: upsample, scale_factor: 2}
        - {type: flatten}
"""


def test_checking_a_network_never_writes_a_layers_size_lines(tmp_path, monkeypatch):
    """A wrong shape, judged with every mistake re-solved in every layer, and no layer's size
    lines written: those are the derivation's."""
    import solver.kinds.network_layers as nl
    from solver.kinds.conv import conv2d, conv_transpose2d, pool2d

    def lines(*args):
        raise AssertionError("check wrote a layer's size lines")
    for module, name in ((conv2d, "conv_length"), (pool2d, "conv_length"), (pool2d, "pool_ceil_length"),
                         (conv_transpose2d, "transposed_length"), (nl, "distinct_lines")):
        monkeypatch.setattr(module, name, lines)
    nl.compute.cache_clear()          # layers computed by earlier tests
    path = tmp_path / "n.yaml"
    path.write_text(NETWORK)
    # padding forgotten in layer 1: 16 - 3 + 1 = 14, pooled 14/2 = 7, scattered (7 - 1)·2 + 2 = 14
    h = size(size(16, 3), 2, s=2)
    verdict = check_file(path, "n:output_shape[3]", f"2x{(h - 1) * 2 + 2}x{(h - 1) * 2 + 2}")
    assert (verdict.verdict, verdict.mistake) == ("incorrect", "padding_forgotten")
    assert check_file(path, "n:output_shape", str(2 * 32 * 32)).verdict == "correct"


# ---- a new kind names the shared mistakes ------------------------------------------

@dataclass(frozen=True)
class WindowRules:
    rounding: str = "floor"
    padding_sides: int = 2


@dataclass(frozen=True, kw_only=True)
class Windows:
    length: Any = given_field(pair(1, False), doc="the input length")
    window: Any = given_field(pair(1, False), doc="the window length")
    stride: Pair = given_field(pair(1, False), ONE, "the step")
    padding: Pair = given_field(pair(0, False), ZERO, "zeros on each side")


class WindowCount(Kind):
    """How many windows fit along one axis: the whole kind."""
    name, summary, answers = "window_count", "windows along an axis", {"count": "the number of windows"}
    Given, Rules = Windows, WindowRules
    mistakes = ["padding_forgotten", "padding_once", "stride_ignored", "ceil_instead_of_floor"]

    def compute(self, given, rules=WindowRules()):
        rounding = {"floor": math.floor, "ceil": math.ceil}[rules.rounding]
        padded = given.length.h + rules.padding_sides * given.padding.h
        return {"count": Answer("count", "integer", rounding((padded - given.window.h) / given.stride.h) + 1)}


def test_a_new_kind_gets_the_catalogue_mistakes_by_naming_them():
    kind = WindowCount()
    assert [(m.name, m.feedback) for m in kind.mistakes] == [
        (name, SHARED_MISTAKES[name]) for name in ("padding_forgotten", "padding_once", "stride_ignored",
                                                   "ceil_instead_of_floor")]
    given = kind.read({"length": 10, "window": 3, "stride": 2, "padding": 1})
    assert kind.compute(given)["count"].value == 5                 # (10 + 2 - 3) // 2 + 1
    found = {m.name: m.cases(given)[0][1]["count"] for m in kind.mistakes}
    assert found == {"padding_forgotten": 4,                       # (10 - 3) // 2 + 1
                     "padding_once": 5,                            # (10 + 1 - 3) // 2 + 1
                     "stride_ignored": 10,                         # (10 + 2 - 3) + 1
                     "ceil_instead_of_floor": 6}                   # ceil((10 + 2 - 3) / 2) + 1
    assert [m.cases(kind.read({"length": 10, "window": 3}))[0][1] for m in kind.mistakes[:2]] == [{}, {}]
