"""The `network` kind against an independent oracle: PyTorch.

Random small networks are drawn with fixed seeds as `given:` mappings. The
oracle builds the same layers as real torch.nn modules from the mapping alone
(each module's input channels or features are read off the tensor that reaches
it) and runs a zero tensor through them in eval mode. From torch come the
shapes, the parameters (`p.numel()`, split on names ending in "bias"), the
multiply-adds (torch.utils.flop_counter counts 2 FLOPs per multiply-add), and,
for transposed convolutions, how many products land on each output cell (an
all-ones input through an all-ones kernel). Additions of convolutions and
linear layers, and the counts of pooling and batch norm, follow the definitions
written out below (network_layers.py states the same convention). Nothing is
copied from solver output.

Rule for invalid draws: when torch refuses a network, the solver must refuse
it with a FieldError; when torch accepts it, the solver must accept it and
agree. Two differences are by design: an output with a size 0 counts as
refused (see EmptyOutput), and a linear layer on a 4-D input is never drawn
(torch applies it to the last axis; the solver asks for a flatten first).
"""
import functools
import random
import warnings
from dataclasses import dataclass

import pytest

from conftest import optional_module
from solver.core.errors import FieldError
from solver.kinds import get_kind

network = get_kind("network")

torch = optional_module("torch")      # a test that uses torch skips alone without it (fails in CI)
F = optional_module("torch.nn.functional")
nn = optional_module("torch.nn")
FlopCounterMode = optional_module("torch.utils.flop_counter").FlopCounterMode

SEEDS = range(150)
MAX_DRAWS = 200                    # redraws per seed until torch accepts a network
MAX_TRANSPOSED = 2                 # transposed convolutions per network, so sizes stay small


class EmptyOutput(RuntimeError):
    """A layer's output has a size 0. torch's conv_transpose2d refuses that on a
    batch of 1 but returns an empty tensor on larger batches; the solver refuses
    it always (issue 3: a size zero is bad input), so the oracle does too."""


TORCH_REFUSES = (RuntimeError, ValueError, IndexError)  # IndexError: avg pooling a vector
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
               "gelu": nn.GELU, "elu": nn.ELU, "softplus": nn.Softplus}
WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


# ---- drawing random networks ----------------------------------------------

def size_param(rng, low, high):
    """An int, or (sometimes) an [h, w] pair."""
    if rng.random() < 0.6:
        return rng.randint(low, high)
    return [rng.randint(low, high), rng.randint(low, high)]


def hw(v) -> tuple:
    """(h, w) from an int or an [h, w] list."""
    return (v, v) if isinstance(v, int) else tuple(v)


def maybe(rng, layer, name, value, chance=0.5):
    """Set layer[name] = value with probability `chance` (else the default applies)."""
    if rng.random() < chance:
        layer[name] = value


def draw_channels(rng, layer, channels):
    """out_channels and groups; groups mostly divide both channel counts."""
    groups = rng.choice([1, 1, 2, 3])
    if rng.random() < 0.85:
        groups = max(g for g in range(1, groups + 1) if channels % g == 0)
        layer["out_channels"] = groups * rng.randint(1, 2)
    else:  # torch refuses most of these
        layer["out_channels"] = rng.randint(1, 4)
    if groups > 1 or rng.random() < 0.2:
        layer["groups"] = groups
    maybe(rng, layer, "in_channels", "?", 0.3)


def draw_conv2d(rng, channels):
    layer = {"type": "conv2d", "kernel_size": size_param(rng, 1, 4)}
    draw_channels(rng, layer, channels)
    maybe(rng, layer, "stride", size_param(rng, 1, 3))
    maybe(rng, layer, "padding", rng.choice([rng.randint(0, 2), [rng.randint(0, 2), rng.randint(0, 2)],
                                             "same", "valid"]), 0.6)
    if layer.get("padding") == "same" and rng.random() < 0.8:  # else: torch refuses 'same' with stride > 1
        layer["stride"] = rng.choice([1, [1, 1]])
    maybe(rng, layer, "dilation", size_param(rng, 1, 2), 0.3)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    return layer


def draw_conv_transpose2d(rng, channels):
    layer = {"type": "conv_transpose2d", "kernel_size": size_param(rng, 1, 3)}
    draw_channels(rng, layer, channels)
    maybe(rng, layer, "stride", size_param(rng, 1, 2), 0.7)
    maybe(rng, layer, "padding", size_param(rng, 0, 2), 0.4)
    if rng.random() < 0.7:  # torch wants it below the stride or the dilation; sometimes it is not
        beyond = rng.random() < 0.2
        layer["output_padding"] = [rng.randint(0, s - 1 + beyond) for s in hw(layer.get("stride", 1))]
    maybe(rng, layer, "dilation", size_param(rng, 1, 2), 0.3)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    return layer


def draw_pool(rng, kind):
    layer = {"type": kind, "kernel_size": size_param(rng, 1, 3)}
    maybe(rng, layer, "stride", size_param(rng, 1, 3))
    if rng.random() < 0.4:  # torch wants at most half the kernel; sometimes it is not
        beyond = rng.random() < 0.2
        layer["padding"] = [rng.randint(0, k // 2 + beyond) for k in hw(layer["kernel_size"])]
    maybe(rng, layer, "ceil_mode", rng.random() < 0.7, 0.4)
    if kind == "maxpool2d":
        maybe(rng, layer, "dilation", size_param(rng, 1, 2), 0.3)
    return layer


def draw_batchnorm2d(rng):
    layer = {"type": "batchnorm2d"}
    maybe(rng, layer, "num_features", "?", 0.3)
    maybe(rng, layer, "affine", rng.random() < 0.5, 0.4)
    return layer


def draw_linear(rng):
    layer = {"type": "linear", "out_features": rng.randint(1, 8)}
    maybe(rng, layer, "in_features", "?", 0.3)
    maybe(rng, layer, "bias", rng.random() < 0.5, 0.4)
    return layer


def draw_element_wise(rng):
    if rng.random() < 0.3:
        layer = {"type": "dropout"}
        maybe(rng, layer, "p", round(rng.uniform(0, 0.9), 2))
        return layer
    return {"type": rng.choice(list(ACTIVATIONS))}


# (draw(rng, channels of its input), weight); `channels` only guides the groups
MAP_LAYERS = [(draw_conv2d, 30), (draw_conv_transpose2d, 12), (lambda r, _: draw_pool(r, "maxpool2d"), 12),
              (lambda r, _: draw_pool(r, "avgpool2d"), 12), (lambda r, _: draw_batchnorm2d(r), 10),
              (lambda r, _: draw_element_wise(r), 20)]
VECTOR_LAYERS = [(lambda r, _: draw_linear(r), 60), (lambda r, _: draw_element_wise(r), 30),
                 (lambda r, _: {"type": "flatten"}, 10)]


def pick(rng, table, channels):
    draws, weights = zip(*table)
    return rng.choices(draws, weights)[0](rng, channels)


def draw_network(rng) -> dict:
    """A random `network` mapping in C×H×W (or a vector), valid or not for torch."""
    vector_input = rng.random() < 0.1
    c, h, w = rng.randint(1, 4), rng.randint(5, 20), rng.randint(5, 20)
    given = {"input_shape": [rng.randint(1, 20)] if vector_input else
             rng.choice([[c, h, w], f"{c}x{h}x{w}"])}
    maybe(rng, given, "batch_size", rng.randint(1, 3))
    layers, flattened, transposed = [], vector_input, 0
    count = rng.randint(2, 8)
    while len(layers) < count:
        if not flattened and rng.random() < 0.12:
            layer, flattened = {"type": "flatten"}, True
        elif flattened and rng.random() < 0.03:  # a map layer on a vector: torch refuses it
            layer = pick(rng, MAP_LAYERS, c)
        else:
            layer = pick(rng, VECTOR_LAYERS if flattened else MAP_LAYERS, c)
        if rng.random() < 0.15:
            layer["repeat"] = rng.randint(2, 3)
        if layer["type"] == "conv_transpose2d":
            transposed += layer.get("repeat", 1)
            if transposed > MAX_TRANSPOSED:
                continue
        c = layer.get("out_channels", c)
        layers.append(layer)
    given["layers"] = layers
    return given


def input_chw(given) -> tuple:
    """The input shape as a tuple (C, H, W) or (F,), from a C×H×W mapping."""
    shape = given["input_shape"]
    return tuple(int(v) for v in shape.split("x")) if isinstance(shape, str) else tuple(shape)


def written_in_hwc(given) -> dict:
    """The same network, its input written H×W×C with layout hwc."""
    shape = input_chw(given)
    if len(shape) == 3:
        shape = shape[1:] + shape[:1]
    return dict(given, layout="hwc", input_shape=list(shape))


# ---- the oracle: the same network in torch ---------------------------------

def pair(v):
    """torch takes an int, a tuple or a padding string; YAML pairs are lists."""
    return tuple(v) if isinstance(v, list) else v


def torch_layer(layer, x) -> nn.Module:
    """The torch module for one layer mapping, its input sizes read off x."""
    kind, get = layer["type"], lambda name, default: pair(layer.get(name, default))
    if kind == "conv2d":
        return nn.Conv2d(x.shape[1], layer["out_channels"], pair(layer["kernel_size"]), get("stride", 1),
                         get("padding", 0), get("dilation", 1), layer.get("groups", 1), layer.get("bias", True))
    if kind == "conv_transpose2d":
        return nn.ConvTranspose2d(x.shape[1], layer["out_channels"], pair(layer["kernel_size"]), get("stride", 1),
                                  get("padding", 0), get("output_padding", 0), layer.get("groups", 1),
                                  layer.get("bias", True), get("dilation", 1))
    if kind == "maxpool2d":
        return nn.MaxPool2d(pair(layer["kernel_size"]), get("stride", None), get("padding", 0),
                            get("dilation", 1), ceil_mode=layer.get("ceil_mode", False))
    if kind == "avgpool2d":
        return nn.AvgPool2d(pair(layer["kernel_size"]), get("stride", None), get("padding", 0),
                            ceil_mode=layer.get("ceil_mode", False))
    if kind == "batchnorm2d":
        return nn.BatchNorm2d(x.shape[1], affine=layer.get("affine", True))
    if kind == "linear":
        return nn.Linear(x.shape[-1], layer["out_features"], layer.get("bias", True))
    if kind == "flatten":
        return nn.Flatten()
    if kind == "dropout":
        return nn.Dropout(layer.get("p", 0.5))
    return ACTIVATIONS[kind]()


@dataclass
class Ran:
    """One torch layer run on the zero tensor."""
    layer: dict          # the mapping it was built from
    module: nn.Module
    x: torch.Tensor      # its input
    y: torch.Tensor      # its output


def torch_network(given) -> list[Ran]:
    """Every layer (repeats expanded) built and run in eval mode on zeros of the
    batch size (1 when none is given); raises when torch refuses."""
    x = torch.zeros((given.get("batch_size", 1),) + input_chw(given))
    ran = []
    with warnings.catch_warnings():  # 'same' with an even kernel: a note on speed only
        warnings.simplefilter("ignore", UserWarning)
        for layer in given["layers"]:
            for _ in range(layer.get("repeat", 1)):
                module = torch_layer(layer, x).eval()
                with torch.no_grad():
                    y = module(x)
                if y.numel() == 0:
                    raise EmptyOutput(f"{layer} gives {tuple(y.shape)}")
                ran.append(Ran(layer, module, x, y))
                x = y
    return ran


def torch_refuses(given) -> bool:
    try:
        torch_network(given)
    except TORCH_REFUSES:
        return True
    return False


def solve(given) -> dict:
    """The solver's answers {name: value}."""
    return {name: a.value for name, a in network.solve(network.read(given)).answers.items()}


def solver_refuses(given) -> bool:
    try:
        network.solve(network.read(given))
    except FieldError:
        return True
    return False


@functools.lru_cache(maxsize=None)
def valid_case(seed):
    """(mapping, torch's layers, solver answers) for the first network torch
    accepts; every network it refuses on the way must be refused by the solver."""
    rng = random.Random(f"network-{seed}")
    for _ in range(MAX_DRAWS):
        given = draw_network(rng)
        try:
            ran = torch_network(given)
        except TORCH_REFUSES:
            assert solver_refuses(given), f"torch refuses this network but the solver accepts it: {given}"
            continue
        return given, ran, solve(given)
    raise AssertionError("no valid network drawn (test bug)")


def per_layer(answers, name, ran):
    """[answers[name[1]], answers[name[2]], ...] for every torch layer."""
    return [answers[f"{name}[{i}]"] for i in range(1, len(ran) + 1)]


# ---- 1. shapes ------------------------------------------------------------

def as_written(given, shape) -> tuple:
    """torch's N×C×H×W (or N×F) shape as the solver writes it: in the problem's
    layout, with the batch only when batch_size is given."""
    shape = tuple(shape)
    if given.get("layout") == "hwc" and len(shape) == 4:
        shape = (shape[0], shape[2], shape[3], shape[1])
    return shape if "batch_size" in given else shape[1:]


@pytest.mark.parametrize("seed", SEEDS)
def test_network_shapes_match_torch(seed):
    given, ran, answers = valid_case(seed)
    layers = sum(name.startswith("output_shape[") for name in answers)
    assert layers == len(ran), f"{layers} layers, torch has {len(ran)} (repeats expanded) for {given}"
    got = per_layer(answers, "output_shape", ran)
    want = [as_written(given, r.y.shape) for r in ran]
    assert [tuple(s) for s in got] == want, f"for {given}"
    assert tuple(answers["output_shape"]) == want[-1], f"for {given}"
    assert per_layer(answers, "neurons", ran) == [r.y[0].numel() for r in ran], f"for {given}"
    assert answers["neurons"] == sum(r.y[0].numel() for r in ran if isinstance(r.module, WEIGHTED))


@pytest.mark.parametrize("seed", SEEDS)
def test_network_inferred_fields_are_the_input_sizes(seed):
    """A field given as ? is the size torch reads off the layer's input."""
    given, ran, answers = valid_case(seed)
    for i, r in enumerate(ran, start=1):
        for name in ("in_channels", "num_features", "in_features"):
            if r.layer.get(name) == "?":
                want = r.x.shape[-1] if name == "in_features" else r.x.shape[1]
                assert answers[f"{name}[{i}]"] == want, f"{name}[{i}] for {given}"


def test_network_rejections_agree_with_torch():
    """Over many draws, torch and the solver refuse exactly the same networks."""
    rng = random.Random("network-rejections")
    refused = 0
    for _ in range(200):
        given = draw_network(rng)
        torch_ok = not torch_refuses(given)
        assert solver_refuses(given) != torch_ok, (
            f"torch {'accepts' if torch_ok else 'refuses'} but the solver "
            f"{'refuses' if torch_ok else 'accepts'}: {given}")
        refused += not torch_ok
    assert refused > 0, "no invalid draws: the rejection check tested nothing"


# ---- 2. parameters ------------------------------------------------------------

def torch_params(module) -> dict:
    """Parameters counted by torch: weights are those not named *bias."""
    params = dict(module.named_parameters())
    biases = sum(p.numel() for name, p in params.items() if name.endswith("bias"))
    weights = sum(p.numel() for name, p in params.items() if not name.endswith("bias"))
    return {"params": weights + biases, "biases": biases, "weights": weights, "params_without_bias": weights}


@pytest.mark.parametrize("seed", SEEDS)
def test_network_params_match_torch(seed):
    given, ran, answers = valid_case(seed)
    for name in ("params", "biases", "weights", "params_without_bias"):
        want = [torch_params(r.module)[name] for r in ran]
        assert per_layer(answers, name, ran) == want, f"{name} for {given}"
        assert answers[name] == sum(want), f"total {name} for {given}"
    whole = nn.Sequential(*(r.module for r in ran))
    assert answers["params"] == sum(p.numel() for p in whole.parameters()), f"for {given}"


# ---- 3. multiply-adds: torch's FLOP counter -----------------------------------

def flops_counted(run) -> int:
    """The FLOPs torch's counter sees while run() runs."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


@pytest.mark.parametrize("seed", SEEDS)
def test_network_flops_match_torch_counter(seed):
    given, ran, answers = valid_case(seed)
    whole = nn.Sequential(*(r.module for r in ran)).eval()
    assert answers["flops"] == flops_counted(lambda: whole(ran[0].x)) == 2 * answers["macs"], f"for {given}"
    flops = [flops_counted(lambda: r.module(r.x)) for r in ran]
    assert per_layer(answers, "flops", ran) == flops, f"for {given}"
    assert [2 * m for m in per_layer(answers, "macs", ran)] == flops, f"for {given}"
    weighted = [i for i, r in enumerate(ran) if isinstance(r.module, WEIGHTED)]
    mults = per_layer(answers, "mults", ran)
    assert [2 * mults[i] for i in weighted] == [flops[i] for i in weighted], f"mults of conv/linear for {given}"


# ---- 4. additions (and the other layers' multiplications), by definition -------

def landing_counts(r) -> torch.Tensor:
    """For a transposed convolution: how many products land on each output
    cell of one example, from torch run on all ones."""
    m = r.module
    ones = torch.ones((1,) + tuple(r.x.shape[1:]), dtype=torch.float64)
    return F.conv_transpose2d(ones, torch.ones_like(m.weight, dtype=torch.float64), None, m.stride, m.padding,
                              m.output_padding, m.groups, m.dilation)


def window_area(kernel_size) -> int:
    kh, kw = hw(kernel_size)
    return kh * kw


def defined_ops(r) -> tuple[int, int]:
    """(multiplications, additions) of one layer for the whole batch, written out:
    an output of a convolution or linear layer sums its products (one addition
    fewer than products) and adds the bias; average pooling sums its window and
    scales once; batch norm scales and shifts each value."""
    m, outputs, bias = r.module, r.y.numel(), int(getattr(r.module, "bias", None) is not None)
    if isinstance(m, nn.Conv2d):
        products = m.weight[0].numel()                 # (C_in/g)·Kh·Kw per output
        return outputs * products, outputs * (products - 1 + bias)
    if isinstance(m, nn.Linear):
        return outputs * m.in_features, outputs * (m.in_features - 1 + bias)
    if isinstance(m, nn.ConvTranspose2d):
        n = landing_counts(r)
        reached = n[n > 0]
        per_example = int((reached - 1).sum().item()) + bias * reached.numel()
        return r.x.numel() * m.weight[0].numel(), r.x.shape[0] * per_example
    if isinstance(m, nn.AvgPool2d):
        return outputs, outputs * (window_area(m.kernel_size) - 1)
    if isinstance(m, nn.BatchNorm2d):
        return outputs, outputs
    return 0, 0


@pytest.mark.parametrize("seed", SEEDS)
def test_network_mults_and_adds_match_definition(seed):
    given, ran, answers = valid_case(seed)
    mults, adds = zip(*(defined_ops(r) for r in ran))
    assert per_layer(answers, "mults", ran) == list(mults), f"for {given}"
    assert per_layer(answers, "adds", ran) == list(adds), f"for {given}"
    assert (answers["mults"], answers["adds"]) == (sum(mults), sum(adds)), f"for {given}"


def test_conv_transpose2d_adds_cover_output_padding_and_cropping():
    """A layer where cropping drops products and output_padding adds cells no
    product reaches: both must be left out of the additions."""
    given = {"input_shape": [2, 3, 4], "batch_size": 2,
             "layers": [{"type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3, "stride": 3,
                         "padding": 1, "output_padding": 2, "dilation": 2, "groups": 2}]}
    (r,) = torch_network(given)
    n = landing_counts(r)
    assert n.sum() < r.x[0].numel() * r.module.weight[0].numel(), "the case must crop products (test bug)"
    assert (n == 0).any(), "the case must have unreached cells (test bug)"
    assert solve(given)["adds[1]"] == defined_ops(r)[1]


# ---- 5. the layout --------------------------------------------------------------

def chw_to_hwc(shape) -> tuple:
    """A solver shape of a chw problem ((B,) C, H, W or (B,) F) as the hwc one writes it."""
    shape = tuple(shape)
    if len(shape) < 3:
        return shape
    *batch, c, h, w = shape
    return (*batch, h, w, c)


@pytest.mark.parametrize("seed", SEEDS)
def test_network_hwc_layout_matches_chw(seed):
    given, _, chw = valid_case(seed)
    hwc = solve(written_in_hwc(given))
    assert hwc.keys() == chw.keys(), f"for {given}"
    for name, value in chw.items():
        if name == "table":
            continue
        want = chw_to_hwc(value) if name.startswith("output_shape") else value
        got = tuple(hwc[name]) if name.startswith("output_shape") else hwc[name]
        assert got == want, f"{name} in hwc for {given}"
