"""pool2d's LP pooling against torch.nn.functional.lp_pool2d: ceil_mode, p = 1 with
negative sums, size-only problems without norm_type (issue 10). Expected values come
from torch, never from solver output."""
import random
import textwrap

import numpy as np
import pytest

from conftest import assert_bad_input, run_solver
from solver.kinds import get_kind
from solver.render import render_solution

pool2d = get_kind("pool2d")


def torch_lp(x, p, k, stride, ceil_mode):
    torch = pytest.importorskip("torch")
    t = torch.tensor(np.array(x, dtype=float), dtype=torch.float64)
    return torch.nn.functional.lp_pool2d(t[None, None], p, k, stride, ceil_mode)[0, 0].numpy()


def solve(given):
    return pool2d.solve(pool2d.read(given))


def as_float(a):
    return np.array(np.asarray(a, dtype=object), dtype=float)


def lp_case(rng):
    """A random LP problem: negative entries only where p = 1 (torch gives nan for a
    negative sum under a root), windows that run over the edge in ceil_mode."""
    p = rng.choice([1, 1, 2, 3, 1.5])
    h, w = rng.randint(1, 6), rng.randint(1, 6)
    low = -6 if p == 1 else 0
    x = [[rng.randint(low, 6) for _ in range(w)] for _ in range(h)]
    k = [rng.randint(1, min(3, h)), rng.randint(1, min(3, w))]
    stride = [rng.randint(1, 3), rng.randint(1, 3)]
    return {"input": x, "mode": "lp", "norm_type": p, "kernel_size": k, "stride": stride,
            "ceil_mode": rng.random() < 0.7}


@pytest.mark.parametrize("seed", range(60))
def test_lp_pooling_matches_torch(seed):
    given = lp_case(random.Random(seed))
    want = torch_lp(given["input"], given["norm_type"], given["kernel_size"], given["stride"], given["ceil_mode"])
    got = as_float(solve(given).answers["output"].value).reshape(want.shape)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=str(given))


def test_p1_returns_a_negative_sum_as_torch_does():
    x = [[1, -2, 3], [-5, 1, -4]]
    got = as_float(solve({"input": x, "mode": "lp", "norm_type": 1, "kernel_size": 2, "stride": 1})
                   .answers["output"].value)
    np.testing.assert_array_equal(got, torch_lp(x, 1, 2, 1, False))


def test_ceil_mode_partial_window_is_scaled_and_shown():
    """The right column's windows cover 2 of 4 cells: torch scales their sum of squares by 4/2."""
    x = [[1, -2, 3, 0, 5], [2, 1, -4, 1, 1]]
    solution = solve({"input": x, "mode": "lp", "norm_type": 2, "kernel_size": 2, "ceil_mode": True})
    want = torch_lp(x, 2, 2, None, True)
    np.testing.assert_allclose(as_float(solution.answers["output"].value), want, rtol=1e-12)
    latex = render_solution(solution, "latex")
    assert r"\frac{4}{2} \left(5^{2} + 1^{2}\right)" in latex and r"\frac{4}{2} \cdot 26" in latex


def test_a_scaled_sum_of_powers_that_is_a_fraction_is_bracketed_under_its_root():
    """The last window covers 4 of 2×3 cells: 1² + 2² = 5 scaled by 6/4 is 15/2, whose root is
    (15/2)^(1/2), not 15 over √2."""
    x = [[0, 0, 0, 1, 2], [0, 0, 0, 0, 0]]
    solution = solve({"input": x, "mode": "lp", "norm_type": 2, "kernel_size": [2, 3], "ceil_mode": True})
    np.testing.assert_allclose(as_float(solution.answers["output"].value), torch_lp(x, 2, (2, 3), None, True),
                               rtol=1e-12)
    assert r"\left(\frac{15}{2}\right)^{1/2}" in render_solution(solution, "latex")


@pytest.mark.parametrize("size, k, s", [(7, 2, 2), (5, 3, 2), (6, 4, 3), (1, 1, 1)])
def test_size_only_lp_needs_no_norm_type(size, k, s):
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.lp_pool2d(torch.ones(1, 1, size, size), 2, k, s, True).shape[-1]
    answer = solve({"input_size": size, "mode": "lp", "kernel_size": k, "stride": s, "ceil_mode": True})
    assert answer.answers["output_size"].value == want


@pytest.mark.parametrize("given, field, words", [
    ({"input": [[1, -2], [3, 4]], "norm_type": 1.5}, "input", "fractional norm_type"),
    ({"input": [[1, -3], [1, 1]], "norm_type": 3}, "input", "negative sum"),
    ({"input": [[1, 2], [3, 4]]}, "norm_type", "required"),
    ({"input": [[1, 2], [3, 4]], "norm_type": 2, "padding": 1}, "padding", "no padding"),
])
def test_lp_bad_input(tmp_path, given, field, words):
    given = {"mode": "lp", "kernel_size": 2, **given}
    path = tmp_path / "lp.yaml"
    body = textwrap.indent("\n".join(f"{k}: {v}" for k, v in given.items()), " " * 6)
    path.write_text(f"title: t\nproblems:\n  - id: p\n    kind: pool2d\n    given:\n{body}\n")
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


# ---- mistakes against an independent computation of the wrong answer (issue 10) ----------

def cases(name, given):
    return dict(next(m for m in pool2d.mistakes if m.name == name).cases(pool2d.read(given)))


@pytest.mark.parametrize("h, k, s, p", [(5, 2, 2, 1), (5, 3, 3, 1), (6, 2, 3, 0), (10, 4, 3, 2), (11, 3, 3, 1)])
def test_last_ceil_window_kept(h, k, s, p):
    """Where torch drops the last ceil_mode window, the mistake is the count without the drop,
    ceil((H + 2P − K)/S) + 1, written out here."""
    torch = pytest.importorskip("torch")
    dropped = torch.nn.functional.max_pool2d(torch.zeros(1, 1, h, h), k, s, p, ceil_mode=True).shape[-1]
    kept = -(-(h + 2 * p - k) // s) + 1
    assert kept == dropped + 1            # each case is one where torch drops a window
    found = cases("ceil_window_kept", {"input_size": h, "kernel_size": k, "stride": s, "padding": p, "ceil_mode": True})
    assert found[""] == {"output_size": kept}


@pytest.mark.parametrize("h, k, s, p", [(5, 2, 2, 1), (5, 3, 3, 1), (6, 2, 3, 0), (10, 4, 3, 2), (11, 3, 3, 1)])
def test_every_line_of_a_dropped_ceil_window_size_is_the_size_torch_gives(h, k, s, p):
    """The chain was "⌈5/2⌉ + 1 = 4 = 4 − 1 = 3", asserting 4 = 3: each line after the
    formula now has torch's size as its value (the drop is part of every line)."""
    torch = pytest.importorskip("torch")
    from solver.kinds.conv.pool2d import output_size
    size = torch.nn.functional.max_pool2d(torch.zeros(1, 1, h, h), k, s, p, ceil_mode=True).shape[-1]
    given = pool2d.read({"input_size": h, "kernel_size": k, "stride": s, "padding": p, "ceil_mode": True})
    found, lines, _ = output_size(given)[0]
    assert found == size
    assert [line.value() if hasattr(line, "value") else line for line in lines[1:]] == [size] * (len(lines) - 1)


@pytest.mark.parametrize("h, w, k, s, p", [(7, 6, 3, 2, 1), (9, 9, 4, 1, 2), (5, 8, 2, 2, 1)])
def test_padding_once_is_torch_padded_on_one_side(h, w, k, s, p):
    torch = pytest.importorskip("torch")
    x = torch.nn.functional.pad(torch.zeros(1, 1, h, w), (p, 0, p, 0))
    expected = torch.nn.functional.max_pool2d(x, k, s).shape[-2:]
    found = cases("padding_once", {"input_size": [h, w], "kernel_size": k, "stride": s, "padding": p})
    assert found[""] == {"output_size": tuple(expected)}


def test_default_stride_ignored_is_torch_with_stride_1():
    torch = pytest.importorskip("torch")
    x = [[1, 5, 2, 0], [3, 4, 8, 1], [0, 2, 7, 6]]
    expected = torch.nn.functional.max_pool2d(torch.tensor([x], dtype=torch.float64), 2, 1)[0]
    np.testing.assert_array_equal(as_float(cases("stride_ignored", {"input": x, "kernel_size": 2})[""]["output"]),
                                  expected.numpy())
