"""Activation memory of a network's forward pass: the bytes of every layer's output.

Each layer's output counts as a tensor of its own, B·N elements (N its values per
example, B the batch where given) of the element type's size; the input is not
counted. An element-wise layer's output counts as well, as a forward pass that keeps
every layer's output for the backward pass holds it; a flatten's output too (PyTorch's
is a view of its input, sharing its storage).
"""
from __future__ import annotations

from ..math.nodes import ElidedSum, Number, Product, Symbol
from ..math.notation import named_words
from ..core.model import Step
from . import network_layers as nl
from .sizes import distinct

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}
DEFAULT = "float32"
N, BYTE = Symbol("N"), named_words("bytes")


def per_layer(neurons: list[int], batch: int, dtype: str) -> list[int]:
    """Bytes of each layer's output, for a batch of `batch`."""
    return [batch * n * BYTES[dtype] for n in neurons]


def memory_step(entries, neurons: list[int], batch_size, dtype: str, label, total_label) -> Step:
    """One line per layer, bytes = B·N·bytes per element, then the total. `label(number)`:
    a layer's answer label; `total_label`: the total's."""
    size = BYTES[dtype]
    factors = ([nl.B] if batch_size else []) + [N, BYTE]
    values = {"B": batch_size or 1, "bytes": size}
    lines = []
    for entry, n in zip(entries, neurons):
        formula = Product(factors, dot=True)
        lines.append([Symbol(f"m{entry.number}", label(entry.number))]
                     + nl.distinct_lines(formula, dict(values, N=n)))
    memories = per_layer(neurons, batch_size or 1, dtype)
    lines.append(distinct([Symbol("m", total_label), ElidedSum([Number(m) for m in memories]), Number(sum(memories))]))
    batch_text = f" for the batch of B = {batch_size}" if batch_size else ""
    text = (f"Each layer's output is held as a tensor of its own{batch_text}: N values per example (the product of "
            f"its shape), {size} bytes each in {dtype}. Every layer's output is counted, the outputs of "
            "element-wise layers and of a flatten too (PyTorch's flatten returns a view sharing its input's "
            "storage); the network's input is not counted. This is one forward pass: training keeps these "
            "outputs for the backward pass and holds their gradients too, about twice as many bytes.")
    return Step("Activation memory", text, lines)
