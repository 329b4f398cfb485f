"""Every matrix problem shipped in problems/ agrees with PyTorch: where a seed
writeup's answer differs from ours, this is the proof that ours is right."""
import numpy as np
import pytest

from solver.kinds import get_kind
from solver.kinds.conv.conv_transpose2d import output_padding_of
from solver.problems.load import load
from conftest import PROBLEM_FILES, optional_module

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")


def tensor(a):
    return torch.tensor(np.array(a, dtype=float), dtype=torch.float64)


def as_nchw(x):
    x = tensor(x)
    return x[None, None] if x.dim() == 2 else x[None]


def torch_output(kind, g):
    pad = lambda p: 0 if p == "valid" else ("same" if p == "same" else tuple(p))  # noqa: E731
    if kind == "conv2d":
        w = tensor(g.kernel)
        w = w[None, None] if w.dim() == 2 else (w[None] if w.dim() == 3 else w)
        if g.flip:
            w = torch.flip(w, dims=(-2, -1))
        bias = tensor(g.bias) if g.bias is not None else None
        y = F.conv2d(as_nchw(g.input), w, bias, stride=tuple(g.stride), padding=pad(g.padding),
                     dilation=tuple(g.dilation), groups=g.groups)
    elif kind == "conv_transpose2d":
        w = tensor(g.kernel)
        w = w[None, None] if w.dim() == 2 else (w[:, None] if w.dim() == 3 else w)
        op = tuple(output_padding_of(g))
        bias = tensor(g.bias) if g.bias is not None else None
        y = F.conv_transpose2d(as_nchw(g.input), w, bias, stride=tuple(g.stride), padding=tuple(g.padding),
                               output_padding=op, dilation=tuple(g.dilation), groups=g.groups)
    else:
        x, k = as_nchw(g.input), tuple(g.kernel_size)
        s = tuple(g.stride) if g.stride is not None else k
        if g.mode == "max":
            y = F.max_pool2d(x, k, s, tuple(g.padding), tuple(g.dilation), ceil_mode=g.ceil_mode)
        elif g.mode == "avg":
            y = F.avg_pool2d(x, k, s, tuple(g.padding), g.ceil_mode, g.count_include_pad, g.divisor_override)
        else:
            y = F.lp_pool2d(x, g.norm_type, k, s, ceil_mode=g.ceil_mode)
    if g.activation == "relu":
        y = torch.relu(y)
    return y[0].numpy()


# The forward convolution family; the other kinds' shipped problems are checked
# against torch in their own test files.
SHIPPED = [pytest.param(path, p, id=f"{path.stem}:{p.id}")
           for path in PROBLEM_FILES for p in load(path).problems
           if p.kind in ("conv2d", "conv_transpose2d", "pool2d") and p.given.input is not None]


def test_there_are_shipped_matrix_problems():
    assert len(SHIPPED) >= 12


@pytest.mark.parametrize("path, problem", SHIPPED)
def test_shipped_problem_matches_torch(path, problem):
    ours = get_kind(problem.kind).solve(problem.given).answers["output"].value
    expected = torch_output(problem.kind, problem.given)
    ours = np.array([float(v) for v in np.asarray(ours).flat]).reshape(np.asarray(ours).shape)
    assert np.allclose(ours.reshape(expected.shape), expected, rtol=1e-12, atol=1e-12), (ours, expected)
