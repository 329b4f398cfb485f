"""The solver against an independent oracle: PyTorch.

Every expected value here comes from torch (float64) or from an identity
that holds exactly; nothing is copied from solver output. Cases are drawn at
random with fixed seeds, so a failure names a seed and prints the case, and
re-running reproduces it.

Rule for invalid draws: when torch refuses a configuration (RuntimeError),
the solver must refuse it too, with a FieldError; when torch accepts it, the
solver must accept it and agree.
"""
import functools
import numbers
import random
import warnings
from fractions import Fraction

import numpy as np
import pytest

from conftest import optional_module
from solver.core.errors import FieldError
from solver.kinds import get_kind

conv2d, conv_transpose2d, pool2d = get_kind("conv2d"), get_kind("conv_transpose2d"), get_kind("pool2d")
torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")

MAX_DRAWS = 200  # redraws per seed until torch accepts a configuration


# ---- helpers shared by every test ----------------------------------------

def solve(kind, given):
    """The solver's answers {name: value} for a `given:` mapping."""
    return {name: a.value for name, a in kind.solve(kind.read(given)).answers.items()}


def solver_rejects(kind, given):
    """True when the solver refuses the mapping with a FieldError."""
    try:
        kind.solve(kind.read(given))
    except FieldError:
        return True
    return False


def as_float(value) -> np.ndarray:
    """A solver matrix (ints, Fractions, sympy radicals) as a float array."""
    a = np.asarray(value, dtype=object)
    try:
        return np.array(a, dtype=float)
    except (TypeError, ValueError):
        return np.array([float(v) for v in a.flat], dtype=float).reshape(a.shape)


def as_exact_ints(value) -> np.ndarray:
    """A solver matrix that must hold only integers, as an int64 array."""
    a = np.asarray(value, dtype=object)
    bad = [v for v in a.flat if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
    assert not bad, f"expected exact integers, found {bad[:3]!r}"
    return a.astype(np.int64)


def torch_ints(t) -> np.ndarray:
    """A float64 torch result that is exactly integral, as int64."""
    a = t.detach().numpy()
    assert np.array_equal(a, np.round(a)), "torch result is not integral (test bug)"
    return np.round(a).astype(np.int64)


def pair(v):
    """torch takes an int, a tuple, or a padding string; YAML pairs are lists."""
    return tuple(v) if isinstance(v, list) else v


def hw(v):
    """(h, w) from an int or an [h, w] list."""
    return (v, v) if isinstance(v, int) else tuple(v)


def torch_result(f):
    """f() or None when torch refuses the configuration."""
    try:
        return f()
    except RuntimeError:
        return None


def draw_until_valid(rng, draw, oracle, kind):
    """Draw cases until torch accepts one; every refused draw must be refused
    by the solver too. Returns (case, torch output)."""
    for _ in range(MAX_DRAWS):
        case = draw(rng)
        expected = torch_result(lambda: oracle(case))
        if expected is not None:
            return case, expected
        assert solver_rejects(kind, case), f"torch refuses this case but the solver accepts it: {case}"
    raise AssertionError("no valid case drawn (test bug)")


def matrix(rng, shape, low=-5, high=5):
    return np.array([rng.randint(low, high) for _ in range(int(np.prod(shape)))],
                    dtype=np.int64).reshape(shape).tolist()


def size_param(rng, low, high, square_bias=0.5):
    """An int, or (sometimes) an [h, w] pair."""
    if rng.random() < square_bias:
        return rng.randint(low, high)
    return [rng.randint(low, high), rng.randint(low, high)]


# ---- 1. conv2d with matrices ---------------------------------------------

def draw_conv_case(rng) -> dict:
    """A random conv2d `given:` mapping, valid or not for torch."""
    groups = rng.choice([1, 1, 2])
    c = rng.choice([2, 4]) if groups == 2 else rng.choice([1, 1, 1, 2, 3, 4])
    o = rng.choice([2, 4]) if groups == 2 else rng.choice([1, 1, 1, 2, 3, 4])
    h, w = rng.randint(1, 8), rng.randint(1, 8)
    kh = rng.randint(1, 4)
    kw = kh if rng.random() < 0.5 else rng.randint(1, 4)
    x = matrix(rng, (h, w)) if c == 1 and rng.random() < 0.5 else matrix(rng, (c, h, w))
    k4 = (o, c // groups, kh, kw)
    if o == 1 and c == 1 and rng.random() < 0.5:
        kernel = matrix(rng, (kh, kw))
    elif o == 1 and rng.random() < 0.5:
        kernel = matrix(rng, k4[1:])
    else:
        kernel = matrix(rng, k4)
    given = {"input": x, "kernel": kernel}
    if rng.random() < 0.7:
        given["stride"] = size_param(rng, 1, 3, 0.7)
    if rng.random() < 0.7:
        given["padding"] = rng.choice([rng.randint(0, 2), [rng.randint(0, 2), rng.randint(0, 2)],
                                       "same", "valid"])
        if given["padding"] == "same":
            given["stride"] = rng.choice([1, [1, 1]])
    if rng.random() < 0.5:
        given["dilation"] = size_param(rng, 1, 3, 0.7)
    if groups > 1 or rng.random() < 0.2:
        given["groups"] = groups
    if rng.random() < 0.4:
        bias = [rng.randint(-5, 5) for _ in range(o)]
        given["bias"] = bias[0] if o == 1 and rng.random() < 0.5 else bias
    if rng.random() < 0.3:
        given["flip"] = True
    if rng.random() < 0.3:
        given["activation"] = "relu"
    return given


def conv_weight(given):
    """The kernel as torch's O×(C/groups)×Kh×Kw weight, flipped for flip: true."""
    w = torch.tensor(given["kernel"], dtype=torch.float64)
    w = w.reshape((1,) * (4 - w.dim()) + tuple(w.shape))
    return torch.flip(w, dims=(-2, -1)) if given.get("flip") else w


def torch_conv(given):
    """torch's answer for a conv2d mapping: the output shaped as the solver
    answers it (H×W for a 2-D input with one output channel, else O×H×W)."""
    x = torch.tensor(given["input"], dtype=torch.float64)
    w = conv_weight(given)
    bias = given.get("bias")
    b = None if bias is None else torch.tensor(bias if isinstance(bias, list) else [bias],
                                               dtype=torch.float64)
    with warnings.catch_warnings():  # 'same' with an even kernel: a note on speed only
        warnings.simplefilter("ignore", UserWarning)
        y = F.conv2d(x.reshape((1,) * (4 - x.dim()) + tuple(x.shape)), w, b,
                     stride=pair(given.get("stride", 1)), padding=pair(given.get("padding", 0)),
                     dilation=pair(given.get("dilation", 1)), groups=given.get("groups", 1))[0]
    if given.get("activation") == "relu":
        y = torch.relu(y)
    return y[0] if x.dim() == 2 and y.shape[0] == 1 else y


@pytest.mark.parametrize("seed", range(150))
def test_conv2d_matches_torch(seed):
    case, expected = draw_until_valid(random.Random(seed), draw_conv_case, torch_conv, conv2d)
    answers = solve(conv2d, case)
    got = as_exact_ints(answers["output"])
    want = torch_ints(expected)
    assert got.shape == want.shape, f"shape {got.shape} != torch {want.shape} for {case}"
    assert np.array_equal(got, want), f"for {case}\nsolver:\n{got}\ntorch:\n{want}"
    assert tuple(answers["output_size"]) == tuple(want.shape[-2:]), f"output_size for {case}"


def test_conv2d_rejections_agree_with_torch():
    """Over many draws, torch and the solver refuse exactly the same cases."""
    rng = random.Random(12345)
    refused = 0
    for _ in range(300):
        case = draw_conv_case(rng)
        torch_ok = torch_result(lambda: torch_conv(case)) is not None
        assert solver_rejects(conv2d, case) != torch_ok, (
            f"torch {'accepts' if torch_ok else 'refuses'} but the solver "
            f"{'refuses' if torch_ok else 'accepts'}: {case}")
        refused += not torch_ok
    assert refused > 0, "no invalid draws: the rejection check tested nothing"


# ---- 2. conv2d sizes only --------------------------------------------------

def draw_conv_size_case(rng) -> dict:
    given = {"input_size": size_param(rng, 1, 30), "kernel_size": size_param(rng, 1, 7)}
    if rng.random() < 0.7:
        given["stride"] = size_param(rng, 1, 4, 0.7)
    if rng.random() < 0.7:
        given["padding"] = rng.choice([rng.randint(0, 3), [rng.randint(0, 3), rng.randint(0, 3)],
                                       "same", "valid"])
        if given["padding"] == "same":
            given["stride"] = 1
    if rng.random() < 0.5:
        given["dilation"] = size_param(rng, 1, 3, 0.7)
    return given


def torch_conv_size(given):
    (h, w), (kh, kw) = hw(given["input_size"]), hw(given["kernel_size"])
    y = F.conv2d(torch.zeros(1, 1, h, w, dtype=torch.float64),
                 torch.zeros(1, 1, kh, kw, dtype=torch.float64),
                 stride=pair(given.get("stride", 1)), padding=pair(given.get("padding", 0)),
                 dilation=pair(given.get("dilation", 1)))
    return tuple(y.shape[-2:])


def is_square(given, names):
    """Every per-axis parameter the same on both axes ('same'/'valid' count as square)."""
    return all(isinstance(given.get(n, 0), (int, str)) or given[n][0] == given[n][1] for n in names)


def check_size_answer(given, got, want, names):
    """An int when input_size is one int and every parameter is square, else (H, W)."""
    if isinstance(given["input_size"], int) and is_square(given, names):
        assert isinstance(got, numbers.Integral), f"expected one int for {given}, got {got!r}"
        got = (got, got)
    else:
        assert isinstance(got, tuple), f"expected an (H, W) tuple for {given}, got {got!r}"
    assert tuple(got) == tuple(want), f"output_size {got} != torch {want} for {given}"


@pytest.mark.parametrize("seed", range(100))
def test_conv2d_size_only_matches_torch(seed):
    case, want = draw_until_valid(random.Random(1000 + seed), draw_conv_size_case,
                                  torch_conv_size, conv2d)
    got = solve(conv2d, case)["output_size"]
    check_size_answer(case, got, want, ("kernel_size", "stride", "padding", "dilation"))


# ---- 3. pool2d -------------------------------------------------------------

def draw_pool_case(rng, mode) -> dict:
    c = rng.randint(1, 3)
    h, w = rng.randint(1, 8), rng.randint(1, 8)
    low = 0 if mode == "lp" else -5
    x = matrix(rng, (h, w), low) if c == 1 and rng.random() < 0.5 else matrix(rng, (c, h, w), low)
    k = size_param(rng, 1, 4)
    kh, kw = hw(k)
    given = {"input": x, "mode": mode, "kernel_size": k}
    if rng.random() < 0.6:
        given["stride"] = size_param(rng, 1, 3, 0.7)
    if mode != "lp":
        if rng.random() < 0.6:  # PyTorch's rule: padding at most half the kernel size
            given["padding"] = rng.choice([rng.randint(0, min(kh, kw) // 2),
                                           [rng.randint(0, kh // 2), rng.randint(0, kw // 2)]])
        if rng.random() < 0.4:
            given["ceil_mode"] = True
    if mode == "max" and rng.random() < 0.5:
        given["dilation"] = size_param(rng, 1, 3, 0.7)
    if mode == "avg":
        if rng.random() < 0.5:
            given["count_include_pad"] = rng.choice([True, False])
        if rng.random() < 0.3:
            given["divisor_override"] = rng.randint(1, 10)
    if mode == "lp":
        given["norm_type"] = rng.choice([1, 2, 3])
    if mode != "lp" and rng.random() < 0.2:
        given["activation"] = "relu"
    return given


def torch_pool(given):
    """torch's pooled output, shaped as the input (H×W or C×H×W)."""
    x = torch.tensor(given["input"], dtype=torch.float64)
    x4 = x.reshape((1,) * (4 - x.dim()) + tuple(x.shape))
    k = pair(given["kernel_size"])
    stride = pair(given.get("stride", given["kernel_size"]))
    padding = pair(given.get("padding", 0))
    ceil_mode = given.get("ceil_mode", False)
    if given["mode"] == "max":
        y = F.max_pool2d(x4, k, stride, padding, pair(given.get("dilation", 1)), ceil_mode)
    elif given["mode"] == "avg":
        y = F.avg_pool2d(x4, k, stride, padding, ceil_mode, given.get("count_include_pad", True),
                         given.get("divisor_override"))
    else:
        y = F.lp_pool2d(x4, given["norm_type"], k, stride, ceil_mode)
    if given.get("activation") == "relu":
        y = torch.relu(y)
    return y.reshape(y.shape[-x.dim():])


POOL_CASES = [("max", s) for s in range(60)] + [("avg", s) for s in range(60)] + \
             [("lp", s) for s in range(30)]


@pytest.mark.parametrize("mode, seed", POOL_CASES)
def test_pool2d_matches_torch(mode, seed):
    rng = random.Random(f"{mode}-{seed}")
    case, expected = draw_until_valid(rng, lambda r: draw_pool_case(r, mode), torch_pool, pool2d)
    answers = solve(pool2d, case)
    want = expected.numpy()
    got = as_float(answers["output"])
    assert got.shape == want.shape, f"shape {got.shape} != torch {want.shape} for {case}"
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9), f"for {case}\nsolver:\n{got}\ntorch:\n{want}"
    assert tuple(answers["output_size"]) == tuple(want.shape[-2:]), f"output_size for {case}"
    if mode == "avg":
        inexact = [v for v in np.asarray(answers["output"], dtype=object).flat
                   if isinstance(v, bool) or not isinstance(v, (int, Fraction))]
        assert not inexact, f"avg of integers must be int/Fraction, found {inexact[:3]!r} for {case}"


# Each case below is minimal and found by the randomized tests above.

def test_pool2d_max_padding_rule_is_kernel_size_not_dilated_span():
    """PyTorch allows padding <= kernel_size // 2 (not half the dilated span)."""
    case = {"input": [[1, 2, 3, 4]], "mode": "max", "kernel_size": [1, 2], "stride": 1,
            "padding": [0, 2], "dilation": [1, 3]}
    assert torch_result(lambda: torch_pool(case)) is None  # the oracle refuses it
    assert solver_rejects(pool2d, case), f"torch refuses this case but the solver accepts it: {case}"


def test_pool2d_ceil_mode_window_larger_than_input():
    """In ceil_mode a window may hang past the input; PyTorch still pools what it covers."""
    for mode in ("max", "avg"):
        case = {"input": [[1]], "mode": mode, "kernel_size": 2, "stride": 2, "ceil_mode": True}
        want = torch_pool(case).numpy()
        got = as_float(solve(pool2d, case)["output"])
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9), f"for {case}: {got} != torch {want}"
    want = tuple(F.max_pool2d(torch.zeros(1, 1, 1, 1), 2, 2, 0, 1, ceil_mode=True).shape[-2:])
    got = solve(pool2d, {"input_size": 1, "kernel_size": 2, "stride": 2, "ceil_mode": True})["output_size"]
    assert (got, got) == want, f"size-only: {got} != torch {want}"


def test_pool2d_max_window_entirely_in_padding():
    """A dilated window can see only padding; PyTorch answers -inf there."""
    case = {"input": [[1, 2], [3, 4]], "mode": "max", "kernel_size": 2, "stride": 1,
            "padding": 1, "dilation": 3}
    want = torch_pool(case).numpy()
    got = as_float(solve(pool2d, case)["output"])
    assert np.array_equal(got, want), f"for {case}: {got} != torch {want}"


# ---- 4. the symbolic size formula agrees with numbers --------------------------

@functools.lru_cache(maxsize=None)
def symbolic_conv_size():
    return solve(conv2d, {"input_size": "H", "kernel_size": "K", "padding": "P",
                          "stride": "S", "dilation": "D"})["output_size"]


def draw_size_point(rng) -> dict:
    """Positive integers (the symbols' domain) for which the kernel fits."""
    while True:
        v = {"H": rng.randint(1, 40), "K": rng.randint(1, 7), "P": rng.randint(1, 3),
             "S": rng.randint(1, 4), "D": rng.randint(1, 3)}
        if v["D"] * (v["K"] - 1) + 1 <= v["H"] + 2 * v["P"]:
            return v


@pytest.mark.parametrize("seed", range(30))
def test_symbolic_conv2d_size_matches_torch(seed):
    expr = symbolic_conv_size()
    assert {s.name for s in expr.free_symbols} <= {"H", "K", "P", "S", "D"}, expr
    v = draw_size_point(random.Random(2000 + seed))
    got = expr.subs({s: v[s.name] for s in expr.free_symbols})
    want = torch_conv_size({"input_size": v["H"], "kernel_size": v["K"], "padding": v["P"],
                            "stride": v["S"], "dilation": v["D"]})[0]
    assert got.is_Integer and int(got) == want, f"{expr} at {v} gives {got}; torch says {want}"


# ---- 5. conv_transpose2d (when the kind exists) ------------------------------

def draw_transpose_case(rng) -> dict:
    """A random conv_transpose2d `given:` mapping, valid or not for torch."""
    groups = rng.choice([1, 1, 2])
    c_in = rng.choice([2, 4]) if groups == 2 else rng.randint(1, 4)
    c_group = rng.randint(1, 2)  # C_out / groups
    h, w = rng.randint(1, 6), rng.randint(1, 6)
    kh = rng.randint(1, 4)
    kw = kh if rng.random() < 0.5 else rng.randint(1, 4)
    x = matrix(rng, (h, w)) if c_in == 1 and rng.random() < 0.5 else matrix(rng, (c_in, h, w))
    if c_in == 1 and c_group == 1 and groups == 1 and rng.random() < 0.5:
        kernel = matrix(rng, (kh, kw))
    elif c_group == 1 and rng.random() < 0.5:
        kernel = matrix(rng, (c_in, kh, kw))  # C_in×Kh×Kw: one output channel per group
    else:
        kernel = matrix(rng, (c_in, c_group, kh, kw))
    given = {"input": x, "kernel": kernel}
    if rng.random() < 0.7:
        given["stride"] = size_param(rng, 1, 3, 0.7)
    if rng.random() < 0.6:
        given["padding"] = size_param(rng, 0, 2, 0.7)
    if rng.random() < 0.5:
        given["dilation"] = size_param(rng, 1, 3, 0.7)
    if rng.random() < 0.5:
        given["output_padding"] = size_param(rng, 0, 2, 0.7)
    if groups > 1 or rng.random() < 0.2:
        given["groups"] = groups
    if rng.random() < 0.4:
        bias = [rng.randint(-5, 5) for _ in range(c_group * groups)]
        given["bias"] = bias[0] if len(bias) == 1 and rng.random() < 0.5 else bias
    if rng.random() < 0.3:
        given["activation"] = "relu"
    return given


def transpose_weight(given):
    """The kernel as torch's C_in×(C_out/groups)×Kh×Kw weight."""
    w = torch.tensor(given["kernel"], dtype=torch.float64)
    if w.dim() == 2:
        return w[None, None]
    return w[:, None] if w.dim() == 3 else w


def torch_conv_transpose(given):
    """torch's answer, shaped as the solver answers it."""
    x = torch.tensor(given["input"], dtype=torch.float64)
    bias = given.get("bias")
    b = None if bias is None else torch.tensor(bias if isinstance(bias, list) else [bias],
                                               dtype=torch.float64)
    y = F.conv_transpose2d(x.reshape((1,) * (4 - x.dim()) + tuple(x.shape)), transpose_weight(given), b,
                           stride=pair(given.get("stride", 1)), padding=pair(given.get("padding", 0)),
                           output_padding=pair(given.get("output_padding", 0)),
                           groups=given.get("groups", 1), dilation=pair(given.get("dilation", 1)))[0]
    if given.get("activation") == "relu":
        y = torch.relu(y)
    return y[0] if x.dim() == 2 and y.shape[0] == 1 else y


@pytest.mark.parametrize("seed", range(150))
def test_conv_transpose2d_matches_torch(seed):
    case, expected = draw_until_valid(random.Random(3000 + seed), draw_transpose_case,
                                      torch_conv_transpose, conv_transpose2d)
    answers = solve(conv_transpose2d, case)
    got = as_exact_ints(answers["output"])
    want = torch_ints(expected)
    assert got.shape == want.shape, f"shape {got.shape} != torch {want.shape} for {case}"
    assert np.array_equal(got, want), f"for {case}\nsolver:\n{got}\ntorch:\n{want}"
    assert tuple(answers["output_size"]) == tuple(want.shape[-2:]), f"output_size for {case}"


def test_conv_transpose2d_rejections_agree_with_torch():
    rng = random.Random(54321)
    refused = 0
    for _ in range(300):
        case = draw_transpose_case(rng)
        torch_ok = torch_result(lambda: torch_conv_transpose(case)) is not None
        assert solver_rejects(conv_transpose2d, case) != torch_ok, (
            f"torch {'accepts' if torch_ok else 'refuses'} but the solver "
            f"{'refuses' if torch_ok else 'accepts'}: {case}")
        refused += not torch_ok
    assert refused > 0, "no invalid draws: the rejection check tested nothing"


# The adjoint identity <conv(x), y> = <x, convT(y)>: no oracle, solver only.

def draw_adjoint_case(rng):
    """x, a conv2d mapping for it, and y shaped like its output; the kernel fits."""
    groups = rng.choice([1, 1, 2])
    c = rng.choice([2, 4]) if groups == 2 else rng.randint(1, 3)
    o = rng.choice([2, 4]) if groups == 2 else rng.randint(1, 3)
    while True:
        h, w = rng.randint(1, 8), rng.randint(1, 8)
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        s, p, d = [rng.randint(1, 3), rng.randint(1, 3)], [rng.randint(0, 2), rng.randint(0, 2)], \
            [rng.randint(1, 3), rng.randint(1, 3)]
        if all(d[a] * (k - 1) + 1 <= n + 2 * p[a] for a, (n, k) in enumerate(((h, kh), (w, kw)))):
            break
    out = [(n + 2 * p[a] - d[a] * (k - 1) - 1) // s[a] + 1 for a, (n, k) in enumerate(((h, kh), (w, kw)))]
    conv = {"input": matrix(rng, (c, h, w)), "kernel": matrix(rng, (o, c // groups, kh, kw)),
            "stride": s, "padding": p, "dilation": d, "groups": groups}
    y = matrix(rng, (o, *out))
    # output_padding: what the convolution's floor dropped, so convT(y) is C×H×W again
    op = [n - ((m - 1) * s[a] - 2 * p[a] + d[a] * (k - 1) + 1)
          for a, (n, m, k) in enumerate(((h, out[0], kh), (w, out[1], kw)))]
    transpose = {"input": y, "kernel": conv["kernel"], "stride": s, "padding": p, "dilation": d,
                 "groups": groups, "output_padding": op}
    return conv, transpose


def inner(a, b):
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    assert a.shape == b.shape, f"shapes {a.shape} and {b.shape} differ"
    return np.sum(a * b)


@pytest.mark.parametrize("seed", range(60))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(seed):
    conv, transpose = draw_adjoint_case(random.Random(4000 + seed))
    lhs = inner(solve(conv2d, conv)["output"], transpose["input"])
    rhs = inner(conv["input"], solve(conv_transpose2d, transpose)["output"])
    assert lhs == rhs, f"<conv(x), y> = {lhs} but <x, convT(y)> = {rhs} for\n{conv}\n{transpose}"


# Sizes only, and the output_padding that reaches a target size.

def draw_transpose_size_case(rng) -> dict:
    given = {"input_size": size_param(rng, 1, 20), "kernel_size": size_param(rng, 1, 7)}
    for name, low, high in (("stride", 1, 4), ("padding", 0, 3), ("dilation", 1, 3),
                            ("output_padding", 0, 3)):
        if rng.random() < 0.6:
            given[name] = size_param(rng, low, high, 0.7)
    return given


def torch_transpose_size(given, output_padding=None):
    (h, w), (kh, kw) = hw(given["input_size"]), hw(given["kernel_size"])
    y = F.conv_transpose2d(torch.zeros(1, 1, h, w, dtype=torch.float64),
                           torch.zeros(1, 1, kh, kw, dtype=torch.float64),
                           stride=pair(given.get("stride", 1)), padding=pair(given.get("padding", 0)),
                           output_padding=pair(output_padding if output_padding is not None
                                               else given.get("output_padding", 0)),
                           dilation=pair(given.get("dilation", 1)))
    return tuple(y.shape[-2:])


@pytest.mark.parametrize("seed", range(100))
def test_conv_transpose2d_size_only_matches_torch(seed):
    case, want = draw_until_valid(random.Random(5000 + seed), draw_transpose_size_case,
                                  torch_transpose_size, conv_transpose2d)
    got = solve(conv_transpose2d, case)["output_size"]
    check_size_answer(case, got, want, ("kernel_size", "stride", "padding", "dilation", "output_padding"))


def draw_target_case(rng) -> dict:
    given = draw_transpose_size_case(rng)
    given.pop("output_padding", None)
    base = torch_result(lambda: torch_transpose_size(given, 0))
    if base is None:
        return given  # no size at all: the padding crops everything
    s, d = hw(given.get("stride", 1)), hw(given.get("dilation", 1))
    reach = [max(s[a], d[a]) for a in range(2)]  # output_padding 0 .. reach - 1 is allowed
    target = [base[a] + (rng.randint(0, reach[a] - 1) if rng.random() < 0.85
                         else rng.choice([-1, reach[a]])) for a in range(2)]  # some unreachable
    given["target_size"] = target[0] if target[0] == target[1] and rng.random() < 0.5 else target
    return given


def torch_reachable_paddings(given):
    """Per axis, the output_paddings torch accepts that give the target size."""
    target = hw(given["target_size"])
    s, d = hw(given.get("stride", 1)), hw(given.get("dilation", 1))
    found = []
    for a in range(2):
        ok = []
        for op in range(max(s[a], d[a]) + 1):
            ops = [0, 0]
            ops[a] = op
            size = torch_result(lambda: torch_transpose_size(given, tuple(ops)))
            if size is not None and size[a] == target[a]:
                ok.append(op)
        found.append(ok)
    return found


@pytest.mark.parametrize("seed", range(100))
def test_conv_transpose2d_target_size_gives_torch_output_padding(seed):
    rng = random.Random(6000 + seed)
    case = draw_target_case(rng)
    while "target_size" not in case:
        case = draw_target_case(rng)
    reachable = torch_reachable_paddings(case)
    if not all(reachable):
        assert solver_rejects(conv_transpose2d, case), f"torch cannot reach the target, solver says it can: {case}"
        return
    got = solve(conv_transpose2d, case)["output_padding"]
    if isinstance(got, numbers.Integral):
        assert isinstance(case["target_size"], int), f"one int for a pair target: {got!r} for {case}"
        got = (got, got)
    assert tuple(torch_transpose_size(case, tuple(got))) == hw(case["target_size"]), \
        f"output_padding {got} does not give the target with torch for {case}"
