"""The generated corpus (tests/corpus.py) through every command, and against PyTorch.

For each generated problem set: `solve` in all four formats exits 0; the
solutions, key and problem sheets compile with nothing off the page and the key's text shows every
problem and its whole-number answers; `selftest` passes; three variants are
valid and keep the problem meaningful; the JSON answers agree with PyTorch
wherever PyTorch computes them (the three sets of our own in problems/ too).

CI runs a fixed slice (seed 0, one problem of every kind); the whole corpus
runs with `SOLVER_CORPUS=full python -m pytest tests/test_corpus.py`.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import yaml

import corpus
from solver.problems.load import load
from conftest import IN_CI, ROOT, require_program, run_solver
from test_pdf import overfull_boxes

FULL = os.environ.get("SOLVER_CORPUS") == "full"
SEEDS, PER_KIND = (range(1, 6), 3) if FULL else ((0,), 1)
SET_NAMES = [f"corpus-{name}-{seed}" for seed in SEEDS for name in corpus.SET_KINDS]
OWN_SETS = ["sequence-models", "tricky-conventions"]     # classic-networks: tests/test_new_sets.py
MODES = ("solutions", "key", "problems")
TEX = ("-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape")


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    for seed in SEEDS:
        corpus.write_sets(corpus.problem_sets(seed, PER_KIND), folder)
    return folder


def set_path(corpus_dir, name):
    return ROOT / "problems" / f"{name}.yaml" if name in OWN_SETS else corpus_dir / f"{name}.yaml"


_solved = {}


def solved_json(path) -> dict:
    """`solve --format json` of a file, once per session: {id: {answer: {type, value, latex}}}."""
    if path not in _solved:
        result = run_solver("solve", path, "--format", "json", timeout=600)
        assert result.returncode == 0, result.stderr
        _solved[path] = {p["id"]: p["answers"] for p in json.loads(result.stdout)["problems"]}
    return _solved[path]


@pytest.mark.parametrize("name", SET_NAMES)
def test_corpus_solves_in_every_format(name, corpus_dir):
    path = set_path(corpus_dir, name)
    for fmt in ("md", "text", "latex"):
        result = run_solver("solve", path, "--format", fmt, timeout=600)
        assert result.returncode == 0 and result.stdout and "Traceback" not in result.stderr, (fmt, result.stderr)
    problems = yaml.safe_load(path.read_text())["problems"]
    assert set(solved_json(path)) == {p["id"] for p in problems}


_compiled = {}


def compiled(path, folder) -> dict:
    """{mode: (LaTeX log, PDF text)}: each sheet written by `solver sheet` and
    compiled as `sheet --pdf` compiles it (pdflatex twice), keeping the log."""
    if path in _compiled:
        return _compiled[path]
    pdflatex, pdftotext = require_program("pdflatex"), require_program("pdftotext")
    out = {}
    for mode in MODES:
        result = run_solver("sheet", path, f"--{mode}", "--output", folder, timeout=600)
        assert result.returncode == 0, result.stderr
        stem = f"{path.stem}-{mode}"
        for _ in range(2):
            tex = subprocess.run([pdflatex, *TEX, f"{stem}.tex"], cwd=folder, capture_output=True, text=True,
                                 timeout=600)
        log = (folder / f"{stem}.log").read_text(errors="replace")
        assert tex.returncode == 0, f"{stem}.tex does not compile:\n{log[-2000:]}"
        text = subprocess.run([pdftotext, "-layout", str(folder / f"{stem}.pdf"), "-"], capture_output=True,
                              text=True).stdout
        out[mode] = (log, text)
    return _compiled.setdefault(path, out)


def shown_integers(answer) -> list[str]:
    """A whole-number or shape answer as the key prints it (397,184; 5400, as SI writes four digits; 4 × 4)."""
    if answer["type"] == "integer" and isinstance(answer["value"], int):
        value = answer["value"]
        return [f"{value:,}" if abs(value) >= 10_000 else str(value)]
    if answer["type"] == "shape":
        return [" × ".join(map(str, answer["value"]))]
    return []


@pytest.mark.tex
@pytest.mark.parametrize("name", SET_NAMES)
def test_corpus_sheets_compile_and_show_every_answer(name, corpus_dir, tmp_path_factory):
    path = set_path(corpus_dir, name)
    sheets = compiled(path, tmp_path_factory.mktemp(name))
    for mode, (log, _) in sheets.items():
        assert overfull_boxes(log) == [], (mode, overfull_boxes(log))     # nothing runs off the page
    key = " ".join(sheets["key"][1].split())
    asked = {p["id"]: p.get("ask") for p in yaml.safe_load(path.read_text())["problems"]}
    for problem, answers in solved_json(path).items():
        assert f"Problem {problem}" in key
        for name, answer in answers.items():
            # The key shows what `ask` asks; without one, every answer but the per-layer or per-step parts.
            if (name in asked[problem]) if asked[problem] is not None else "[" not in name:
                for shown in shown_integers(answer):
                    assert shown in key, (problem, shown)


@pytest.mark.parametrize("name", SET_NAMES)
def test_corpus_selftest_passes(name, corpus_dir):
    result = run_solver("selftest", set_path(corpus_dir, name), timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.stdout.splitlines()[-1].endswith(": 0 failures")


def arrays(given, prefix=""):
    """(field path, nested list) for every array in a given mapping (layers included)."""
    for name, value in given.items():
        if isinstance(value, list) and value and isinstance(value[0], (list, int, float)) \
                and not isinstance(value[0], bool) and name not in ("layers", "input_shape"):
            yield prefix + name, value
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from arrays(item, f"{prefix}{name}[{i}].")


def flat(value):
    return [x for v in value for x in flat(v)] if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", SET_NAMES)
def test_corpus_variants_are_valid_and_meaningful(name, corpus_dir, tmp_path_factory):
    """Three variants: each is written and loads (`variants` validates and solves
    every draw), and no array the problem gives becomes all zeros."""
    path, out = set_path(corpus_dir, name), tmp_path_factory.mktemp(f"{name}-variants")
    result = run_solver("variants", path, "--count", 3, "--seed", 11, "--output", out, timeout=900)
    assert result.returncode == 0, result.stderr
    originals = {p["id"]: dict(arrays(p["given"])) for p in yaml.safe_load(path.read_text())["problems"]}
    files = sorted((out / f"{path.stem}-variants").glob("*-v*.yaml"))
    assert len(files) == 3
    for file in files:
        assert len(load(file).problems) == len(originals)
        for problem in yaml.safe_load(file.read_text())["problems"]:
            for field, value in arrays(problem["given"]):
                before = flat(originals[problem["id"]][field])
                if any(before):
                    assert any(flat(value)), (file.name, problem["id"], field, "all zero")


# ---- PyTorch, the oracle --------------------------------------------------------

def torch_or_skip():
    if IN_CI:
        import torch  # CI must have the oracle
        return torch
    return pytest.importorskip("torch")


def number(v):
    """A JSON answer cell as a float: ints, floats, and exact values written as text."""
    if isinstance(v, str):
        import sympy
        return float(sympy.sympify(v))     # our own JSON output, not a student's text
    return float(v)


def as_array(value):
    return np.vectorize(number, otypes=[float])(np.array(value, dtype=object))


def close(ours, expected, what):
    ours, expected = as_array(ours).ravel(), np.asarray(expected, dtype=float).ravel()
    assert ours.shape == expected.shape and np.allclose(ours, expected, rtol=1e-9, atol=1e-9), \
        (what, ours, expected)


@pytest.mark.torch
@pytest.mark.parametrize("name", SET_NAMES + OWN_SETS)
def test_corpus_answers_agree_with_torch(name, corpus_dir):
    torch = torch_or_skip()
    path = set_path(corpus_dir, name)
    raw = {p["id"]: p for p in yaml.safe_load(path.read_text())["problems"]}
    checked = 0
    for problem in load(path).problems:
        oracle = ORACLES.get(problem.kind)
        if oracle is not None:
            answers = {n: a["value"] for n, a in solved_json(path)[problem.id].items()}
            checked += oracle(torch, raw[problem.id]["given"], problem.given, answers) is not False
    assert checked, "no problem was checked against torch"


def t(torch, value):
    return torch.tensor(np.array(value, dtype=float), dtype=torch.float64)


def conv_family(kind):
    """conv2d, conv_transpose2d, pool2d: the output and its size, as F computes them."""
    def check(torch, raw, given, answers):
        if given.input is None:
            return sizes_only(torch, kind, given, answers)
        from test_shipped_oracle import torch_output
        expected = torch_output(kind, given)
        close(answers["output"], expected, "output")
        assert tuple(np.shape(as_array(answers["output"]))[-2:]) == expected.shape[-2:]
        return True
    return check


def sizes_only(torch, kind, given, answers):
    numeric = [v for v in (given.input_size, given.kernel_size, given.stride, given.padding, given.dilation)
               if v is not None and not isinstance(v, str)]
    if any(getattr(v, "symbolic", False) for v in numeric):
        return False
    F = torch.nn.functional
    x = torch.zeros((1, 1, *given.input_size), device="meta")
    if kind == "conv2d":
        y = F.conv2d(x, torch.zeros((1, 1, *given.kernel_size), device="meta"), stride=tuple(given.stride),
                     padding=given.padding if isinstance(given.padding, str) else tuple(given.padding),
                     dilation=tuple(given.dilation))
    elif kind == "pool2d":
        k, s = tuple(given.kernel_size), tuple(given.stride) if given.stride is not None else None
        x = torch.zeros((1, 1, *given.input_size))
        if given.mode == "max":
            y = F.max_pool2d(x, k, s, tuple(given.padding), tuple(given.dilation), ceil_mode=given.ceil_mode)
        elif given.mode == "avg":
            y = F.avg_pool2d(x, k, s, tuple(given.padding), given.ceil_mode)
        else:
            y = F.lp_pool2d(x, given.norm_type, k, s, ceil_mode=given.ceil_mode)
    else:
        from solver.kinds.conv.conv_transpose2d import output_padding_of
        op = tuple(output_padding_of(given))
        y = F.conv_transpose2d(x, torch.zeros((1, 1, *given.kernel_size), device="meta"), stride=tuple(given.stride),
                               padding=tuple(given.padding), output_padding=op, dilation=tuple(given.dilation))
        if given.target_size is not None:
            assert tuple(y.shape[-2:]) == tuple(given.target_size), "output_padding misses the target"
    size = answers["output_size"]
    assert (tuple(size) if isinstance(size, list) else (size, size)) == tuple(y.shape[-2:])
    return True


def conv2d_backward(torch, raw, given, answers):
    F = torch.nn.functional
    x = t(torch, given.input)
    x = (x[None, None] if x.dim() == 2 else x[None]).requires_grad_()
    w0 = t(torch, given.kernel).requires_grad_()
    w = w0[None, None] if w0.dim() == 2 else (w0[None] if w0.dim() == 3 else w0)
    if given.flip:
        w = torch.flip(w, dims=(-2, -1))
    b = t(torch, given.bias).requires_grad_() if given.bias is not None else None
    pad = given.padding if isinstance(given.padding, str) else tuple(given.padding)
    y = F.conv2d(x, w, b, stride=tuple(given.stride), padding=pad, dilation=tuple(given.dilation),
                 groups=given.groups)
    upstream = t(torch, given.upstream).reshape(y.shape) if given.upstream is not None else torch.ones_like(y)
    loss = (upstream * y).sum()
    loss.backward()
    close(answers["output"], y.detach(), "output")
    close(answers["loss"], loss.detach(), "loss")
    close(answers["grad_input"], x.grad, "grad_input")
    close(answers["grad_kernel"], w0.grad, "grad_kernel")
    if b is not None:
        close(answers["grad_bias"], b.grad, "grad_bias")
    return True


def conv_cost(torch, raw, given, answers):
    if any(isinstance(v, str) for v in raw.values() if v not in ("same", "valid")):
        return False
    from torch import nn
    from torch.utils.flop_counter import FlopCounterMode
    c, n, k, m, g = given.in_channels, given.out_channels, tuple(given.kernel_size), given.depth_multiplier, given.groups
    pad = given.padding if isinstance(given.padding, str) else tuple(given.padding)
    conv = dict(stride=tuple(given.stride), padding=pad, bias=given.bias, device="meta")
    parts = {"standard": [nn.Conv2d(c, n, k, **conv)], "depthwise": [nn.Conv2d(c, c * m, k, groups=c, **conv)],
             "pointwise": [nn.Conv2d(c * m, n, 1, bias=given.bias, device="meta")]}
    parts["separable"] = parts["depthwise"] + parts["pointwise"]
    if g != 1:
        parts["grouped"] = [nn.Conv2d(c, n, k, groups=g, **conv)]
    for name, modules in parts.items():
        close(answers[f"{name}_params"], sum(p.numel() for mod in modules for p in mod.parameters()), name)
        close(answers[f"{name}_params_without_bias"],
              sum(p.numel() for mod in modules for p_name, p in mod.named_parameters() if p_name == "weight"), name)
    if given.input_size is None:
        return True
    for name, modules in parts.items():
        x = torch.zeros((given.batch_size, c, *given.input_size), device="meta")
        if name == "pointwise":
            x = parts["depthwise"][0](x)
        with FlopCounterMode(display=False) as counter:
            for mod in modules:
                x = mod(x)
        close(answers[f"{name}_mults"], counter.get_total_flops() // 2, f"{name}_mults")
    return True


def layers_to_size(torch, raw, given, answers):
    from torch import nn
    x, layers, params = torch.zeros((1, given.in_channels or 1, given.input_size, given.input_size)), 0, 0
    outs = given.out_channels if isinstance(given.out_channels, (list, tuple)) else [given.out_channels or 1]
    while x.shape[-1] != given.target_size:
        out = outs[min(layers, len(outs) - 1)]
        conv = nn.Conv2d(x.shape[1], out, given.kernel_size, given.stride, given.padding, given.dilation,
                         bias=given.bias)
        x, layers = conv(x), layers + 1
        params += sum(p.numel() for p in conv.parameters())
    assert answers["layers"] == layers
    if given.in_channels is not None:
        assert answers["params"] == params
    return True


def network(torch, raw, given, answers):
    from test_network_oracle import as_written
    from test_network_layers_oracle import torch_network      # every layer type, sequences too
    mapping = dict(raw)
    if mapping.get("layout") == "hwc":      # the torch builder reads C×H×W
        shape = [int(v) for v in str(mapping["input_shape"]).split("x")] if isinstance(mapping["input_shape"], str) \
            else list(mapping["input_shape"])
        mapping["input_shape"] = shape[-1:] + shape[:-1] if len(shape) == 3 else shape
    if any(layer["type"] in ("residual", "concat") for layer in mapping["layers"]):
        from test_network_branches import row_params, torch_rows
        shape = mapping["input_shape"]
        rows = torch_rows(dict(mapping, input_shape=[int(v) for v in shape.split("x")] if isinstance(shape, str)
                               else shape))
        assert sum(name.startswith("params[") for name in answers) == len(rows)
        for i, row in enumerate(rows, start=1):
            assert tuple(answers[f"output_shape[{i}]"]) == as_written(raw, row.y.shape), i
            assert answers[f"params[{i}]"] == row_params(row), i
        return True
    runs = torch_network(mapping)
    for i, (_, module, _, y) in enumerate(runs, start=1):
        assert tuple(answers[f"output_shape[{i}]"]) == as_written(raw, y.shape), i
        assert answers[f"params[{i}]"] == sum(p.numel() for p in module.parameters()), i
    return True


def batchnorm(torch, raw, given, answers):
    if given.input is None:
        return False
    x = t(torch, given.input)
    dims = {"all": (0, 1, 2, 3), "channel": (0, 2, 3), "position": (0, 1), "feature": (0,)}[given.statistics]
    mean = x.mean(dims, keepdim=True)
    biased = x.var(dims, unbiased=False, keepdim=True)
    variance = x.var(dims, unbiased=True, keepdim=True) if given.unbiased else biased
    close(answers["mean"], mean, "mean")
    close(answers["variance"], variance, "variance")
    close(answers["std"], variance.sqrt(), "std")
    shape = mean.shape
    gamma, beta = (t(torch, v).reshape(shape) if np.ndim(v) else t(torch, v) for v in (given.gamma, given.beta))
    y = (x - mean) / (biased + given.eps).sqrt() * gamma + beta
    if given.statistics == "channel" and given.eps > 0:     # BatchNorm2d in training mode (it refuses ε = 0)
        y2 = torch.nn.functional.batch_norm(x, None, None, gamma.ravel().expand(x.shape[1]),
                                            beta.ravel().expand(x.shape[1]), training=True, eps=given.eps)
        assert torch.allclose(y, y2)
    for i in range(x.shape[0]):
        close(answers[f"output[{i + 1}]"], y[i], f"output[{i + 1}]")
    return True


def mlp(torch, raw, given, answers):
    if not raw.get("layers"):
        return False
    step_at_zero = raw.get("step_at_zero", 1)
    functions = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "abs": torch.abs,
                 "identity": lambda z: z, None: lambda z: z,
                 "step": lambda z: torch.heaviside(z, torch.tensor(float(step_at_zero), dtype=z.dtype))}
    y = t(torch, raw["inputs"])
    for layer in raw["layers"]:
        w = t(torch, layer["weight"]).reshape(-1, y.shape[1])
        y = functions[layer.get("activation")](y @ w.T + t(torch, layer.get("bias", 0)))
    close(answers["outputs"], y, "outputs")
    return True


def mlp_jacobian(torch, raw, given, answers):
    from torch.autograd.functional import jacobian
    functions = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "identity": lambda z: z,
                 None: lambda z: z}
    layers = [(t(torch, l["weight"]), t(torch, l["bias"]).ravel(), functions[l.get("activation")])
              for l in raw["layers"]]

    def run(y, start=0, weights=None, biases=None):
        for i, (w, b, f) in enumerate(layers[start:], start=start):
            w = weights if weights is not None and i == start else w
            b = biases if biases is not None and i == start else b
            y = f(w @ y + b)
        return y

    ys = [t(torch, raw["input"]).ravel()]
    for w, b, f in layers:
        ys.append(f(w @ ys[-1] + b))
    close(answers["output"], ys[-1], "output")
    for i, (w, b, _) in enumerate(layers, start=1):
        if f"jacobian_bias[{i}]" not in answers:
            continue
        close(answers[f"jacobian_bias[{i}]"], jacobian(lambda bb: run(ys[i - 1], i - 1, biases=bb), b), "bias")
        close(answers[f"jacobian_input[{i}]"], jacobian(lambda yy: run(yy, i - 1), ys[i - 1]), "input")
        close(answers[f"jacobian_weight[{i}]"], jacobian(lambda ww: run(ys[i - 1], i - 1, weights=ww), w), "weight")
    return True


def rnn(torch, raw, given, answers):
    if any(isinstance(v, str) for v in flat(list(raw.values()))):
        return False
    activation = torch.tanh if raw.get("activation") == "tanh" else (lambda z: z)
    vector = lambda v: t(torch, v).reshape(-1)          # noqa: E731
    w_in, w_hh = t(torch, raw["w_in"]).requires_grad_(), t(torch, raw["w_hh"]).requires_grad_()
    n = w_hh.reshape(-1).shape[0] ** 0.5
    params = {"w_in": w_in, "w_hh": w_hh}
    h0 = vector(raw.get("h0", [0] * int(n))).requires_grad_()
    params["h0"] = h0
    for name in ("b", "w_hy", "b_y"):
        if name in raw:
            params[name] = t(torch, raw[name]).requires_grad_()
    xs = [vector(x) for x in raw["x"]]
    h, ys, hs = h0, [], []
    for x in xs:
        z = w_in.reshape(h.shape[0], -1) @ x + w_hh.reshape(h.shape[0], -1) @ h
        if "b" in params:
            z = z + params["b"].reshape(-1)
        h = activation(z)
        hs.append(h)
        y = params["w_hy"].reshape(-1, h.shape[0]) @ h if "w_hy" in params else h
        ys.append(y + params["b_y"].reshape(-1) if "b_y" in params else y)
    loss_kind = raw.get("loss", "mse_last")
    if loss_kind == "mse_last":
        loss = ((ys[-1] - vector(raw["target"])) ** 2).sum() / 2
    elif loss_kind == "mse_all":
        loss = sum(((y - vector(target)) ** 2).sum() for y, target in zip(ys, raw["target"])) / 2
    else:
        loss = ys[-1].sum() if loss_kind == "sum_last" else sum(y.sum() for y in ys)
    loss.backward()
    close(answers["h"], torch.stack(hs).detach(), "h")
    close(answers["y"], ys[-1].detach(), "y")
    if "loss" in answers:
        close(answers["loss"], loss.detach(), "loss")
    for name, p in params.items():
        grad = "grad_h0" if name == "h0" else f"grad_{name}"
        close(answers[grad], p.grad, grad)
        if f"updated_{name}" in answers:
            close(answers[f"updated_{name}"], p.detach() - raw["learning_rate"] * p.grad, f"updated_{name}")
    return True


def softmax_cross_entropy(torch, raw, given, answers):
    from test_softmax_cross_entropy import torch_answers
    for name, expected in torch_answers(torch, raw).items():
        close(answers[name], expected, name)
    return True


def dropout(torch, raw, given, answers):
    from test_dropout import torch_dropout
    for name, expected in torch_dropout(torch, raw).items():
        close(answers[name], expected, name)
    return True


def normalization(torch, raw, given, answers):
    from test_normalization import torch_answers
    for name, expected in torch_answers(torch, raw).items():
        close(answers[name], expected, name)
    return True


def optimizer(torch, raw, given, answers):
    from test_optimizer import torch_answers
    for name, expected in torch_answers(torch, raw).items():
        close(answers[name], expected, name)
    return True


def graph(torch, raw, given, answers):
    from test_graph import autograd
    from test_graph_tensors import autograd as tensor_autograd
    if any(isinstance(v, str) for v in raw["values"].values()):
        return False
    tensors = any(isinstance(v, list) for v in raw["values"].values())
    for name, expected in (tensor_autograd if tensors else autograd)(raw).items():
        if name in answers:
            close(answers[name], expected, name)
    return True


def init(torch, raw, given, answers):
    from test_init import symbolic, torch_spread
    if symbolic(raw):
        return False
    for name, expected in torch_spread(torch, raw).items():
        close(answers[name], expected, name)
    return True


def regularization(torch, raw, given, answers):
    from test_regularization import torch_regularization
    for name, expected in torch_regularization(torch, raw).items():
        close(answers[name], expected, name)
    return True


def attention(torch, raw, given, answers):
    if given.x is None:
        return False
    x, wq, wk, wv = (t(torch, raw[name]) for name in ("x", "w_q", "w_k", "w_v"))
    q, k, v = x @ wq.T, x @ wk.T, x @ wv.T
    scale = raw.get("scale", 1 / q.shape[1] ** 0.5)
    scores = q @ k.T * scale
    masked = scores.masked_fill(torch.ones_like(scores).triu(1).bool(), float("-inf")) \
        if raw.get("mask") == "causal" else scores
    weights = masked.softmax(-1)
    output = weights @ v
    sdpa = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None], scale=scale,
                                                            is_causal=raw.get("mask") == "causal")[0]
    assert torch.allclose(output, sdpa)
    rows = slice(None) if "position" not in raw else raw["position"] - 1
    for name, value in (("queries", q[rows]), ("keys", k), ("values", v), ("scores", scores[rows]),
                        ("weights", weights[rows]), ("output", output[rows])):
        close(answers[name], value, name)
    return True


ORACLES = {"conv2d": conv_family("conv2d"), "conv_transpose2d": conv_family("conv_transpose2d"),
           "pool2d": conv_family("pool2d"), "conv2d_backward": conv2d_backward, "conv_cost": conv_cost,
           "layers_to_size": layers_to_size, "network": network, "batchnorm": batchnorm,
           "normalization": normalization, "mlp": mlp,
           "mlp_jacobian": mlp_jacobian, "rnn": rnn, "attention": attention,
           "softmax_cross_entropy": softmax_cross_entropy, "dropout": dropout,
           "optimizer": optimizer, "init": init, "regularization": regularization,
           "graph": graph}


# ---- defects the corpus found, each fixed with its own test -------------------

def test_an_output_padding_pair_with_a_zero_checks_as_correct(tmp_path):
    """A 2×2 input, 3×3 kernel, stride 2 gives (2 − 1)·2 + 3 = 5 rows and columns, so
    reaching 5×6 takes output_padding [0, 1]. It was a `shape` answer, whose sizes are
    positive, so the tool's own answer "0 x 1" could not be read (found by the corpus)."""
    path = tmp_path / "op.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [{"id": "p", "kind": "conv_transpose2d", "given": {
        "input_size": [2, 2], "kernel_size": 3, "stride": 2, "target_size": [5, 6]}}]}))
    assert run_solver("check", path, "p:output_padding", "[0, 1]").returncode == 0
    wrong = run_solver("check", path, "p:output_padding", "[1, 1]")
    assert wrong.returncode == 1, wrong.stdout + wrong.stderr
    assert run_solver("selftest", path).returncode == 0
