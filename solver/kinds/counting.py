"""A convolution's weights and operations, counted once: as formulas in the letters a kind
writes them with (conv_cost's N, C, K; network's C_out, C_in, K_h), which the derivation
shows and whose values are the counts."""
from __future__ import annotations

from ..math.nodes import Formula, Number, Product


def times(*factors) -> Formula:
    """The product of the factors that are not left out (None) or 1."""
    kept = [f for f in factors if f is not None and not (isinstance(f, Number) and f.x == 1)]
    return Number(1) if not kept else kept[0] if len(kept) == 1 else Product(kept)


def conv_counts(filters, depth, area, elements, bias=None, adds_minus_one=True, mults_per_mac=1) -> dict:
    """{weights, mults, adds} of a convolution whose `filters` filters are each `depth` channels
    by `area` taps: each of its `elements` outputs is a sum of depth·area products (one
    multiplication each, `mults_per_mac` where a mistake counts FLOPs), so one addition fewer,
    plus the `bias` term (None: no bias)."""
    products = times(depth, area)
    additions = products - 1 if adds_minus_one else products
    return {"weights": times(filters, products),
            "mults": times(Number(mults_per_mac), elements, products),
            "adds": times(elements, additions if bias is None else additions + bias)}
