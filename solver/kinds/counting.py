"""Parameters and operations counted once, for every kind that counts them: a convolution's
(conv_cost, network), a linear layer's (network, transformer), a normalisation's affine
parameters and an embedding table's. Each count is a formula in the letters the kind writes
it with (conv_cost's N, C, K; network's C_out, F_in; transformer's d, d_ff), which the
derivation shows and whose value is the count."""
from __future__ import annotations

from ..math.nodes import Formula, Number, Product, Squared, Symbol


def times(*factors) -> Formula:
    """The product of the factors that are not left out (None) or 1; a letter times itself is
    written squared (d · d is d²)."""
    kept = []
    for f in factors:
        if f is None or isinstance(f, Number) and f.x == 1:
            continue
        for factor in f.factors if isinstance(f, Product) else [f]:
            if kept and type(factor) is Symbol and type(kept[-1]) is Symbol and factor.name == kept[-1].name:
                kept[-1] = Squared(factor.name, latex=factor.latex)
            else:
                kept.append(factor)
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


def linear_counts(f_in, f_out, bias=None) -> dict:
    """{weights, biases, mults, adds} of nn.Linear(f_in, f_out): a weight f_out × f_in and, with
    a bias (`bias` the formula of whether there is one: 1, or network's letter b; None: none), f_out
    biases. Each output is a sum of f_in products: f_in multiplications (MACs) and f_in - 1
    additions, plus the bias."""
    return {"weights": times(f_out, f_in), "biases": Number(0) if bias is None else times(f_out, bias),
            "mults": times(f_out, f_in), "adds": times(f_out, f_in - 1 if bias is None else f_in - 1 + bias)}


def norm_counts(features, shift=True) -> dict:
    """{weights, biases} of a normalisation's affine step over `features` (nn.BatchNorm2d's channels,
    nn.LayerNorm's and nn.RMSNorm's last axis): a scale γ per feature, and a shift β per feature
    where it has one (LayerNorm with bias, BatchNorm; never RMSNorm)."""
    return {"weights": features, "biases": features if shift else Number(0)}


def embedding_counts(rows, dim) -> Formula:
    """The weights of nn.Embedding(rows, dim): one row of `dim` numbers per index."""
    return times(rows, dim)
