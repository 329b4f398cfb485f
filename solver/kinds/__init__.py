"""The kinds of problem, by name. Adding a kind adds one line here."""
from ..errors import FieldError
from . import conv2d, conv_cost, conv_transpose2d, layers_to_size, network, pool2d

KINDS = {
    "conv2d": conv2d,
    "pool2d": pool2d,
    "conv_transpose2d": conv_transpose2d,
    "conv_cost": conv_cost,
    "layers_to_size": layers_to_size,
    "network": network,
}


def get_kind(name):
    if name not in KINDS:
        raise FieldError("kind", f"unknown kind {name!r}; the kinds are {', '.join(KINDS)}")
    return KINDS[name]
