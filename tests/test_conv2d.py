"""conv2d and conv_transpose2d mistakes against torch run with the wrong setting (issue 10):
the bias forgotten, and the padding counted on one side only (P instead of 2P)."""
import random

import numpy as np
import pytest

from solver.answers.check import check_value
from solver.problems.load import Problem
from solver.kinds import get_kind

conv2d, conv_transpose2d = get_kind("conv2d"), get_kind("conv_transpose2d")


def one(kind, name, given):
    [(_, found)] = next(m for m in kind.mistakes if m.name == name).cases(kind.read(given))
    return found


def draw(rng, transposed=False):
    c, o = rng.randint(1, 3), rng.randint(1, 3)
    h, w, k = rng.randint(3, 6), rng.randint(3, 6), rng.randint(1, 3)
    x = [[[rng.randint(-4, 4) for _ in range(w)] for _ in range(h)] for _ in range(c)]
    outer, inner = (c, o) if transposed else (o, c)       # C_in×C_out×K×K transposed, C_out×C_in×K×K else
    kernel = [[[[rng.randint(-2, 2) for _ in range(k)] for _ in range(k)] for _ in range(inner)] for _ in range(outer)]
    return {"input": x, "kernel": kernel, "bias": [rng.randint(1, 5) for _ in range(o)],
            "stride": rng.randint(1, 2), "padding": rng.randint(1, k) if not transposed else rng.randint(1, k - 1 or 1)}


def tensors(given):
    torch = pytest.importorskip("torch")
    return (torch.tensor(given["input"], dtype=torch.float64)[None],
            torch.tensor(given["kernel"], dtype=torch.float64))


@pytest.mark.parametrize("seed", range(15))
def test_conv2d_bias_forgotten_is_torch_without_bias(seed):
    torch = pytest.importorskip("torch")
    given = draw(random.Random(seed))
    x, w = tensors(given)
    expected = torch.nn.functional.conv2d(x, w, None, given["stride"], given["padding"])[0].numpy()
    found = one(conv2d, "bias_forgotten", given)["output"]
    np.testing.assert_array_equal(np.array(found, dtype=float), expected)
    right = conv2d.solve(conv2d.read(given)).answers["output"]
    verdict = check_value(Problem("p", "conv2d", conv2d.read(given)), right, str(expected.astype(int).tolist()),
                          conv2d.mistakes)
    assert verdict.mistake == "bias_forgotten", verdict


@pytest.mark.parametrize("seed", range(15))
def test_conv2d_padding_once_is_torch_padded_on_one_side(seed):
    torch = pytest.importorskip("torch")
    given = draw(random.Random(seed))
    x, w = tensors(given)
    p = given["padding"]
    shape = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (p, 0, p, 0)), w, stride=given["stride"]).shape
    assert one(conv2d, "padding_once", given)["output_size"] == tuple(shape[-2:])


def test_conv2d_padding_once_in_a_formula():
    import sympy
    H, K, P, S = (sympy.Symbol(n, integer=True, positive=True) for n in "HKPS")
    found = one(conv2d, "padding_once", {"input_size": "H", "kernel_size": "K", "padding": "P", "stride": "S"})
    assert sympy.simplify(found["output_size"] - (sympy.floor((H + P - K) / S) + 1)) == 0


@pytest.mark.parametrize("seed", range(15))
def test_conv_transpose2d_mistakes_are_torch_with_the_wrong_setting(seed):
    torch = pytest.importorskip("torch")
    given = draw(random.Random(seed), transposed=True)
    x, w = tensors(given)
    s, p = given["stride"], given["padding"]
    if 2 * p >= (x.shape[-1] - 1) * s + w.shape[-1]:
        pytest.skip("padding crops everything")
    no_bias = torch.nn.functional.conv_transpose2d(x, w, None, s, p)[0].numpy()
    np.testing.assert_array_equal(np.array(one(conv_transpose2d, "bias_forgotten", given)["output"], dtype=float),
                                  no_bias)
    uncropped = torch.nn.functional.conv_transpose2d(x, w, None, s, 0)[..., p:, p:]    # cropped at the top/left only
    assert one(conv_transpose2d, "padding_once", given)["output_size"] == tuple(uncropped.shape[-2:])


@pytest.mark.parametrize("seed", range(15))
def test_conv_transpose2d_own_mistakes_are_torch_rearranged_with_the_relu(seed):
    """The padding added around the full result instead of cropped, and output_padding at the
    top/left: torch's uncropped result sliced or padded so, plus the bias, then the problem's ReLU
    (before the Kind base these two left the ReLU out)."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = random.Random(seed)
    given = dict(draw(rng, transposed=True), stride=2, activation="relu")
    given["padding"] = rng.randint(1, 2)
    given["output_padding"] = 1                                      # below the stride, at most the padding
    x, w = tensors(given)
    p, op = given["padding"], given["output_padding"]
    bias = torch.tensor(given["bias"], dtype=torch.float64)[:, None, None]
    full = F.conv_transpose2d(x, w, None, 2, 0)[0]
    added = F.pad(full, (p, p + op, p, p + op)) + bias
    found = one(conv_transpose2d, "padding_added_instead_of_cropped", given)["output"]
    np.testing.assert_array_equal(np.array(found, dtype=float), torch.relu(added).numpy())
    h, w_ = full.shape[-2:]
    at_start = full[:, p - op:h - p, p - op:w_ - p] + bias
    found = one(conv_transpose2d, "output_padding_wrong_side", given)["output"]
    np.testing.assert_array_equal(np.array(found, dtype=float), torch.relu(at_start).numpy())


def test_a_negative_bias_is_added_in_brackets_in_each_window():
    """Y[0, 0] = 1·1 + 2·(-1) + 4·0 + 5·2 + (-2) = 7, as torch computes it; the bias reads + (-2), never + -2."""
    torch = pytest.importorskip("torch")
    from solver.render import render_solution
    x, w = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, -1], [0, 2]]
    solution = conv2d.solve(conv2d.read({"input": x, "kernel": w, "bias": -2}))
    want = torch.nn.functional.conv2d(torch.tensor([[x]]), torch.tensor([[w]]), torch.tensor([-2]))[0, 0]
    assert np.array_equal(np.array(solution.answers["output"].value, dtype=int), want.numpy())
    latex = render_solution(solution, "latex")
    assert r"5 \cdot 2 + \left(-2\right) \\" in latex and "+ -2" not in latex
