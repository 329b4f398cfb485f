"""The classic networks of problems/classic-networks.yaml against torch.nn.

Each network problem is rebuilt as real torch.nn modules from its YAML mapping
alone (tests/test_network_oracle.py's builder), run on zeros, and its answers
from `solver solve --format json` are compared with what torch reports: the
output shapes, the parameter counts (`numel`, biases apart) and the
multiply-accumulates (torch's FLOP counter counts 2 per multiply-add). The
well-known totals (AlexNet 61,100,840; VGG-16 138,357,544; DCGAN generator
3,576,704) are asserted too, as a second, published oracle.
"""

import pytest
import yaml

from conftest import IN_CI, ROOT

NETWORKS = ROOT / "problems" / "classic-networks.yaml"
PUBLISHED_PARAMS = {"A.1": 61_100_840, "V.1": 138_357_544, "G.1": 3_576_704}


def torch_or_skip():
    if IN_CI:
        import torch  # CI must have the oracle
        return torch
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def torch_runs():
    """Problem id -> its layers as torch ran them (repeats expanded), for the networks without
    blocks (ResNet-18 and the U-Net level: tests/test_network_branches.py; torchvision's AlexNet and VGG-16,
    TV.1 and TV.2: tests/test_torchvision_networks.py; TV.3: tests/test_network_layers_oracle.py)."""
    torch_or_skip()
    from test_network_oracle import torch_network
    problems = yaml.safe_load(NETWORKS.read_text())["problems"]
    return {p["id"]: torch_network(p["given"]) for p in problems if p["id"] in CHAINS}


def torch_macs(torch, run) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with torch.no_grad(), FlopCounterMode(display=False) as counter:   # meta: shapes only, no arithmetic
        run.module.to("meta")(run.x.to("meta"))
    return counter.get_total_flops() // 2


CHAINS = ["A.1", "A.2", "V.1", "G.1"]


@pytest.mark.parametrize("problem", CHAINS)
def test_classic_network_matches_torch(problem, classic_answers, torch_runs):
    torch = torch_or_skip()
    answers, runs = classic_answers[problem], torch_runs[problem]
    batched = "G.1" == problem          # the only one with a batch_size
    for i, run in enumerate(runs, start=1):
        shape = tuple(run.y.shape) if batched else tuple(run.y.shape[1:])
        assert tuple(answers[f"output_shape[{i}]"]) == shape, (problem, i)
        params = [p for p in run.module.parameters()]
        assert answers[f"params[{i}]"] == sum(p.numel() for p in params), (problem, i)
        assert answers[f"biases[{i}]"] == sum(p.numel() for n, p in run.module.named_parameters()
                                              if n.endswith("bias")), (problem, i)
        assert answers[f"macs[{i}]"] == torch_macs(torch, run), (problem, i)
    assert answers["params"] == sum(p.numel() for run in runs for p in run.module.parameters())
    assert answers["macs"] == sum(torch_macs(torch, run) for run in runs)


@pytest.mark.parametrize("problem, total", PUBLISHED_PARAMS.items())
def test_classic_network_totals_are_the_published_ones(problem, total, classic_answers):
    assert classic_answers[problem]["params"] == total

