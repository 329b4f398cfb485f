"""torchvision's AlexNet and VGG-16 (problems/classic-networks.yaml, TV.1 and TV.2) against
the same models built from torch.nn as torchvision.models builds them (issue 15).

torchvision is not a dependency, so its two builders are written out here from its source
(torchvision/models/alexnet.py, vgg.py: `features`, `avgpool`, `torch.flatten(x, 1)`,
`classifier`), on the meta device: shapes and parameter sizes without memory or arithmetic.
Every layer's output shape, parameters (biases apart) and multiply-accumulates (torch's FLOP
counter counts 2 FLOPs per multiply-add) must be the solver's, and so must the totals; no
number is typed in here.
"""

import pytest

from conftest import ROOT, optional_module

torch = optional_module("torch")
nn = optional_module("torch.nn")
FlopCounterMode = optional_module("torch.utils.flop_counter").FlopCounterMode

NETWORKS = ROOT / "problems" / "classic-networks.yaml"
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def alexnet() -> list:
    """torchvision.models.AlexNet(num_classes=1000, dropout=0.5), its modules in forward order."""
    features = [nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2),
                nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2)]
    classifier = [nn.Dropout(p=0.5), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True), nn.Dropout(p=0.5),
                  nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 1000)]
    return features + [nn.AdaptiveAvgPool2d((6, 6)), nn.Flatten(1)] + classifier


def vgg16() -> list:
    """torchvision.models.vgg16(): make_layers(cfgs["D"], batch_norm=False), then VGG's head."""
    features, channels = [], 3
    for v in VGG16_CONFIG:
        if v == "M":
            features.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            features += [nn.Conv2d(channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            channels = v
    classifier = [nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=0.5), nn.Linear(4096, 4096),
                  nn.ReLU(True), nn.Dropout(p=0.5), nn.Linear(4096, 1000)]
    return features + [nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(1)] + classifier


def macs_of(module, x) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(x)
    return counter.get_total_flops() // 2, y


@pytest.mark.parametrize("problem, build", [("TV.1", alexnet), ("TV.2", vgg16)])
def test_torchvision_models_layer_by_layer(problem, build, classic_answers):
    answers = classic_answers[problem]
    with torch.device("meta"):
        modules = build()
        x = torch.zeros(1, 3, 224, 224)
    assert sum(name.startswith("params[") for name in answers) == len(modules)
    total_macs = 0
    for i, module in enumerate(modules, start=1):
        macs, x = macs_of(module, x)
        total_macs += macs
        assert tuple(answers[f"output_shape[{i}]"]) == tuple(x.shape[1:]), (problem, i, module)
        named = dict(module.named_parameters())
        assert answers[f"params[{i}]"] == sum(p.numel() for p in named.values()), (problem, i, module)
        assert answers[f"biases[{i}]"] == sum(p.numel() for n, p in named.items() if n == "bias"), (problem, i)
        assert answers[f"macs[{i}]"] == macs, (problem, i, module)
    model = nn.Sequential(*modules)
    assert answers["params"] == sum(p.numel() for p in model.parameters())
    assert answers["macs"] == total_macs == macs_of(model, torch.zeros(1, 3, 224, 224, device="meta"))[0]
