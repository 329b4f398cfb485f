"""The kinds of problem, by name. Adding a kind adds one line here.

A kind's module is imported the first time it is asked for, so checking a
conv2d answer does not pay for importing every other kind.
"""
from importlib import import_module

from ..core.errors import FieldError
from .base import Kind

KINDS = {                      # kind name -> its module in this package
    "conv2d": "conv.conv2d",
    "pool2d": "conv.pool2d",
    "conv_transpose2d": "conv.conv_transpose2d",
    "conv2d_backward": "conv.conv2d_backward",
    "conv_design": "conv_design",
    "conv_cost": "conv_cost",
    "layers_to_size": "layers_to_size",
    "network": "network",
    "batchnorm": "dense.batchnorm",
    "normalization": "dense.normalization",
    "mlp": "dense.mlp",
    "mlp_jacobian": "dense.mlp_jacobian",
    "rnn": "rnn",
    "lstm": "recurrent.lstm",
    "gru": "recurrent.gru",
    "attention": "attention",
    "softmax_cross_entropy": "training.softmax_cross_entropy",
    "dropout": "training.dropout",
    "optimizer": "training.optimizer",
    "init": "training.init",
    "regularization": "training.regularization",
    "graph": "graph.backprop",
    "transformer": "transformer",
    "essay": "essay",
}


def get_kind(name) -> Kind:
    """The kind: its module's KIND."""
    if name not in KINDS:
        raise FieldError("kind", f"unknown kind {name!r}; the kinds are {', '.join(KINDS)}")
    module = import_module(f"{__name__}.{KINDS[name]}")
    return module.KIND


def all_kinds() -> dict:
    return {name: get_kind(name) for name in KINDS}
