"""conv2d_backward against independent oracles: torch autograd (float64) on random
convolutions and upstream gradients, the adjoint identities, and DS-GA 1008 1(d)
derived by hand. Nothing expected here is copied from solver output."""
import dataclasses
import random
import textwrap

import numpy as np
import pytest

from conftest import ROOT, assert_bad_input, optional_module, run_solver
from solver.core.errors import FieldError
from solver.kinds import get_kind
from test_oracle import (as_exact_ints, draw_conv_case, draw_until_valid, matrix,
                         solve, torch_conv, torch_ints)

conv2d, conv2d_backward = get_kind("conv2d"), get_kind("conv2d_backward")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")

# DS-GA 1008 problem 1 (the seeds README's reconstruction): image A, kernel B.
A = [[4, 5, 2, 2, 1], [3, 3, 2, 2, 4], [4, 3, 4, 1, 1], [5, 1, 4, 1, 2], [5, 1, 3, 1, 4]]
B = [[4, 3, 3], [5, 5, 5], [2, 4, 3]]


def draw_backward_case(rng) -> dict:
    """conv2d's random case without what conv2d_backward does not take (activation)."""
    case = draw_conv_case(rng)
    case.pop("activation", None)
    return case


def with_upstream(rng, case, output_shape) -> dict:
    """The case with a random upstream gradient of the output's shape (or the default ones)."""
    if rng.random() < 0.2:
        return case
    return dict(case, upstream=matrix(rng, tuple(output_shape)))


def torch_backward(case) -> dict:
    """Autograd's answers for L = Σ upstream ⊙ conv(input), shaped as the solver answers them."""
    x = torch.tensor(case["input"], dtype=torch.float64, requires_grad=True)
    k = torch.tensor(case["kernel"], dtype=torch.float64, requires_grad=True)
    w = k.reshape((1,) * (4 - k.dim()) + tuple(k.shape))       # torch's O×(C/groups)×Kh×Kw
    w = torch.flip(w, dims=(-2, -1)) if case.get("flip") else w
    given_bias = case.get("bias", 0)      # none given: the gradient at a bias of 0
    b = torch.tensor(given_bias if isinstance(given_bias, list) else [given_bias] * w.shape[0],
                     dtype=torch.float64, requires_grad=True)
    y = F.conv2d(x.reshape((1,) * (4 - x.dim()) + tuple(x.shape)), w, b,
                 stride=pair(case.get("stride", 1)), padding=pair(case.get("padding", 0)),
                 dilation=pair(case.get("dilation", 1)), groups=case.get("groups", 1))[0]
    y = y[0] if x.dim() == 2 and y.shape[0] == 1 else y
    u = torch.tensor(case["upstream"], dtype=torch.float64) if "upstream" in case else torch.ones_like(y)
    loss = (u * y).sum()
    loss.backward()
    return {"output": y, "loss": loss, "grad_input": x.grad, "grad_kernel": k.grad,
            "grad_bias": b.grad[0] if b.grad.numel() == 1 else b.grad}


def pair(v):
    return tuple(v) if isinstance(v, list) else v


def solved_case(seed):
    """A random valid case (torch accepts its forward pass) with a random upstream."""
    rng = random.Random(seed)
    case, forward = draw_until_valid(rng, draw_backward_case, torch_conv, conv2d_backward)
    return with_upstream(rng, case, forward.shape)


# ---- torch autograd ---------------------------------------------------------

@pytest.mark.parametrize("seed", range(150))
def test_every_answer_matches_autograd(seed):
    case = solved_case(seed)
    got, want = solve(conv2d_backward, case), torch_backward(case)
    assert set(got) == set(want)
    for name, expected in want.items():
        value = as_exact_ints(got[name])
        assert value.shape == tuple(expected.shape), f"{name}: shape {value.shape} for {case}"
        want_values = torch_ints(expected)
        assert np.array_equal(value, want_values), f"{name} for {case}\nsolver:\n{value}\ntorch:\n{want_values}"


def test_rejections_agree_with_torch():
    """A forward pass torch refuses is refused; one it accepts is solved."""
    rng = random.Random(4321)
    refused = 0
    for _ in range(200):
        case = draw_backward_case(rng)
        try:
            torch_conv(case)
        except RuntimeError:
            refused += 1
            with pytest.raises(FieldError):
                conv2d_backward.read(case)
        else:
            conv2d_backward.solve(conv2d_backward.read(case))
    assert refused > 5, "the draw should include refused cases (test bug)"


# ---- identities that need no oracle -------------------------------------------

def inner(a, b) -> int:
    return int(np.sum(np.asarray(a, dtype=object) * np.asarray(b, dtype=object)))


@pytest.mark.parametrize("seed", range(100))
def test_adjoint_identities(seed):
    """The loss is linear in the input and in the kernel, so
    L = <X, ∂L/∂X> + <b, ∂L/∂b> = <K, ∂L/∂K> + <b, ∂L/∂b>: in particular, without a bias,
    <conv(x), u> == <x, grad_input(u)>."""
    case = solved_case(1000 + seed)
    got = solve(conv2d_backward, case)
    bias = case.get("bias", 0)
    bias_part = inner(bias if isinstance(bias, list) else [bias], np.atleast_1d(got["grad_bias"]))
    assert got["loss"] == inner(case["input"], got["grad_input"]) + bias_part, case
    assert got["loss"] == inner(case["kernel"], got["grad_kernel"]) + bias_part, case
    upstream = case.get("upstream", np.ones(np.shape(got["output"]), dtype=int))
    assert got["loss"] == inner(got["output"], upstream), case


@pytest.mark.parametrize("seed", range(40))
def test_input_gradient_is_the_full_convolution_with_the_flipped_kernel(seed):
    """Stride 1, no padding, one channel: ∂L/∂X is U padded by K - 1 and cross-correlated
    with rot180(K), i.e. the full convolution of U with K; torch computes that convolution."""
    rng = random.Random(seed)
    h, w, k = rng.randint(2, 6), rng.randint(2, 6), rng.randint(1, 2)
    case = {"input": matrix(rng, (h, w)), "kernel": matrix(rng, (k, k)),
            "upstream": matrix(rng, (h - k + 1, w - k + 1))}
    u = torch.tensor(case["upstream"], dtype=torch.float64)[None, None]
    kernel = torch.tensor(case["kernel"], dtype=torch.float64)[None, None]
    full = F.conv2d(u, torch.flip(kernel, dims=(-2, -1)), padding=k - 1)[0, 0]
    assert np.array_equal(as_exact_ints(solve(conv2d_backward, case)["grad_input"]), torch_ints(full))


# ---- DS-GA 1008 1(d), by hand ---------------------------------------------------

def test_dsga1008_1d_by_hand():
    """U all ones, stride 1, no padding: L = Σ Y; ∂L/∂A[i, j] sums B[a, b] over the output
    cells (i - a, j - b) that exist; ∂L/∂B[a, b] sums A over the window shifted by (a, b);
    ∂L/∂b is the number of output cells."""
    n, k = len(A), len(B)
    m = n - k + 1
    conv = [[sum(A[p + a][q + b] * B[a][b] for a in range(k) for b in range(k)) for q in range(m)]
            for p in range(m)]
    grad_a = [[sum(B[a][b] for a in range(k) for b in range(k) if 0 <= i - a < m and 0 <= j - b < m)
               for j in range(n)] for i in range(n)]
    grad_b = [[sum(A[p + a][q + b] for p in range(m) for q in range(m)) for b in range(k)] for a in range(k)]
    got = solve(conv2d_backward, {"input": A, "kernel": B})
    assert got["loss"] == sum(map(sum, conv))
    assert np.array_equal(as_exact_ints(got["grad_input"]), np.array(grad_a))
    assert np.array_equal(as_exact_ints(got["grad_kernel"]), np.array(grad_b))
    assert got["grad_bias"] == m * m


def test_dsga1008_1d_writeup_method_gives_the_answer():
    """The writeup's method: B padded by 2 zeros, convolved with a 3×3 matrix of ones. (Its
    1(c) numbers are wrong, and it gives no numbers for 1(d).) Ones are symmetric, so
    convolving equals cross-correlating."""
    padded = np.pad(np.array(B), 2)
    expected = [[int(padded[i:i + 3, j:j + 3].sum()) for j in range(5)] for i in range(5)]
    result = run_solver("check", ROOT / "problems" / "dsga1008-hw2.yaml", "1d:grad_input", str(expected))
    assert result.returncode == 0, result.stdout + result.stderr


# ---- mistakes --------------------------------------------------------------------

def mistake_answers(name, case) -> dict:
    mistake = next(m for m in conv2d_backward.mistakes if m.name == name)
    return mistake.answers(conv2d_backward.read(case))


@pytest.mark.parametrize("seed", range(20))
def test_mistakes_give_the_named_wrong_answers(seed):
    """Each mistake against torch computing that wrong step on a one-channel, stride-1 case."""
    rng = random.Random(seed)
    n, k = rng.randint(3, 6), rng.randint(2, 3)
    case = {"input": matrix(rng, (n, n)), "kernel": matrix(rng, (k, k)),
            "upstream": matrix(rng, (n - k + 1, n - k + 1))}
    u = torch.tensor(case["upstream"], dtype=torch.float64)
    kernel = torch.tensor(case["kernel"], dtype=torch.float64)[None, None]
    not_flipped = F.conv2d(u[None, None], kernel, padding=k - 1)[0, 0]
    not_flipped_answer = mistake_answers("input_gradient_kernel_not_flipped", case)["grad_input"]
    assert np.array_equal(as_exact_ints(not_flipped_answer), torch_ints(not_flipped))
    valid = mistake_answers("input_gradient_not_full", case)
    if n - k + 1 >= k:
        expected = F.conv2d(u[None, None], torch.flip(kernel, dims=(-2, -1)))[0, 0]
        assert np.array_equal(as_exact_ints(valid["grad_input"]), torch_ints(expected))
    else:
        assert valid == {}, "U smaller than the kernel has no valid correlation"
    assert mistake_answers("bias_gradient_one", case)["grad_bias"] == 1
    assert mistake_answers("bias_gradient_mean", case)["grad_bias"] * u.numel() == int(u.sum())
    flipped_u = dict(case, upstream=torch.flip(u, dims=(0, 1)).int().tolist())
    flipped_answer = mistake_answers("kernel_gradient_upstream_flipped", case)["grad_kernel"]
    assert np.array_equal(as_exact_ints(flipped_answer), torch_ints(torch_backward(flipped_u)["grad_kernel"]))


# ---- bad input, as a user meets it ------------------------------------------------

def one_problem(tmp_path, given_yaml):
    path = tmp_path / "set.yaml"
    given = textwrap.indent(textwrap.dedent(given_yaml), " " * 6)
    path.write_text(f"title: T\nproblems:\n  - id: \"p1\"\n    kind: conv2d_backward\n    given:\n{given}")
    return path


@pytest.mark.parametrize("given, field, words", [
    ("input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nkernel: [[1, 0], [0, 1]]\nupstream: [[1, 1, 1], [1, 1, 1]]\n",
     "upstream", "shape 2×2"),
    ("input: [[1, 2], [3, 4]]\nkernel: [[1]]\nupstream: [[[1, 1], [1, 1]], [[1, 1], [1, 1]]]\n",
     "upstream", "shape 2×2"),
    ("kernel: [[1]]\n", "input", "required"),
    ("input: [[1, 2], [3, 4]]\nkernel: [[1]]\ninput_size: 2\n", "input_size", "not a field"),
])
def test_bad_input_names_file_problem_field_and_what_is_valid(tmp_path, given, field, words):
    path = one_problem(tmp_path, given)
    assert_bad_input(run_solver("solve", path), path, "p1", field, words)


def test_fields_are_conv2d_matrix_fields_and_upstream():
    """conv2d's fields for a convolution of given matrices, with their docs; not its size-only
    fields nor its activation."""
    fields = {f.name: f for f in dataclasses.fields(conv2d_backward.Given)}
    forward = {f.name: f for f in dataclasses.fields(conv2d.Given)}
    assert list(fields) == ["input", "kernel", "bias", "stride", "padding", "dilation", "groups", "flip",
                            "upstream"]
    assert all(fields[name].metadata == forward[name].metadata for name in fields if name != "upstream")


@pytest.mark.parametrize("seed", range(10))
def test_bias_forgotten_is_torchs_forward_pass_without_bias(seed):
    case = solved_case(seed)
    if "bias" not in case:
        kernel = np.array(case["kernel"])
        case = dict(case, bias=[2] * (kernel.shape[0] if kernel.ndim == 4 else 1))
    wrong = torch_backward({k: v for k, v in case.items() if k != "bias"})      # a bias of 0
    found = mistake_answers("bias_forgotten", case)
    np.testing.assert_allclose(np.array(found["output"], dtype=float), wrong["output"].detach().numpy())
    assert float(found["loss"]) == pytest.approx(wrong["loss"].item())
