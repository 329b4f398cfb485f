"""Output-size formulas of convolution, pooling and transposed convolution.

Each function computes one axis and returns the display lines that derive it
(formula, numbers substituted, arithmetic, result), so the derivation and the
answer come from one computation. Values may be ints or sympy symbols.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..math.nodes import Number, Symbol, ceil, floor
from ..math.notation import named_words, quantity
from ..math.printing import latex
from ..core.model import Step

N, K, S, D, P, OP = Symbol("H"), Symbol("K"), Symbol("S"), Symbol("D"), Symbol("P"), quantity("P_out")
P_BEFORE, P_AFTER = quantity("P_begin", "P_b"), quantity("P_end", "P_e")
ROUNDINGS = {"floor": floor, "ceil": ceil, "exact": lambda x: x}
AXES = (("H", "height", "top", "bottom"), ("W", "width", "left", "right"))


@dataclass
class Axis:
    """One axis of a size computation: its inputs and the size it gives."""
    n: object            # input length
    k: object            # kernel length
    s: object = 1        # stride
    d: object = 1        # dilation
    before: object = 0   # padding at the start (top/left)
    after: object = 0    # padding at the end (bottom/right)
    output_padding: object = 0
    letter: str = field(default="H", compare=False)   # how the input length is written

    @property
    def symmetric(self):
        return self.before == self.after

    def values(self):
        values = {"H": self.n, "K": self.k, "S": self.s, "D": self.d, "P_out": self.output_padding}
        if self.symmetric:
            values["P"] = self.before
        else:
            values.update(P_b=self.before, P_e=self.after)
        return values


def _padding_term(axis: Axis):
    return 2 * P if axis.symmetric else P_BEFORE + P_AFTER


def conv_formula(axis: Axis, rounding: str = "floor"):
    """floor((H + 2P - D(K-1) - 1)/S) + 1, PyTorch's Conv2d/MaxPool2d size."""
    inner = (Symbol("H", axis.letter) + _padding_term(axis) - D * (K - 1) - 1) / S
    return ROUNDINGS[rounding](inner) + 1


def conv_size(axis: Axis, rounding: str = "floor"):
    """The size alone: the value of the line conv_length substitutes."""
    return _simplify(conv_formula(axis, rounding).substitute(axis.values()).value())


def conv_length(axis: Axis, rounding: str = "floor"):
    """The size and its derivation lines for one axis."""
    formula = conv_formula(axis, rounding)
    substituted = formula.substitute(axis.values())
    numerator = axis.n + axis.before + axis.after - axis.d * (axis.k - 1) - 1
    size = _simplify(substituted.value())
    partial = ROUNDINGS[rounding](Number(numerator) / Number(axis.s)) + 1
    if not isinstance(size, int):
        return size, distinct([formula, substituted, Number(size)])
    return size, distinct([formula, substituted, partial, Number(size)])


def pool_ceil_length(axis: Axis):
    """ceil_mode: ceil instead of floor, then drop a last window that would
    start in the end padding (PyTorch's rule, so every window sees the input)."""
    size, lines = conv_length(axis, "ceil")
    if not last_window_dropped(axis, size):
        return size, lines, ""
    # the drop is part of every line (H_out is never the 4 windows before it): ... + 1 - 1 = 4 - 1 = 3
    lines = [line - 1 for line in lines[:-1]] + [Number(size) - 1, Number(size - 1)]
    return size - 1, lines, dropped_window_note(axis, size)


def pool_ceil_size(axis: Axis):
    """pool_ceil_length's size alone."""
    size = conv_size(axis, "ceil")
    return size - 1 if last_window_dropped(axis, size) else size


def last_window_dropped(axis: Axis, windows) -> bool:
    """Whether the last of the rounded-up windows starts in the end padding."""
    return isinstance(windows, int) and (windows - 1) * axis.s >= axis.n + axis.before


def dropped_window_note(axis: Axis, windows) -> str:
    return (f"The last window would start at row {(windows - 1) * axis.s + 1} (counting from 1), inside the end "
            f"padding (the rows after H + P = {axis.n + axis.before}), so PyTorch drops it: "
            f"{windows} - 1 = {windows - 1}.")


def transposed_formula(axis: Axis):
    """(H - 1)S - 2P + D(K - 1) + P_out + 1, PyTorch's ConvTranspose2d size."""
    return (Symbol("H", axis.letter) - 1) * S - 2 * P + D * (K - 1) + OP + 1


def transposed_size(axis: Axis):
    """transposed_length's size alone."""
    return _simplify(transposed_formula(axis).substitute(axis.values()).value())


def transposed_length(axis: Axis):
    formula = transposed_formula(axis)
    substituted = formula.substitute(axis.values())
    size = _simplify(substituted.value())
    return size, distinct([formula, substituted, Number(size)])


def output_padding_needed(axis: Axis, target):
    """P_out = target - ((H - 1)S - 2P + D(K - 1) + 1): what reaches `target`."""
    base = (Symbol("H", axis.letter) - 1) * S - 2 * P + D * (K - 1) + 1
    formula = quantity("H_target", "T") - base
    values = dict(axis.values(), T=target)
    substituted = formula.substitute(values)
    return _simplify(substituted.value()), [formula, substituted, Number(_simplify(substituted.value()))]


def general_conv_derivation() -> list[Step]:
    """Why the size is floor((H + 2P - D(K-1) - 1)/S) + 1, step by step."""
    keff = D * (K - 1) + 1
    return [
        Step("Padded input", "Padding adds P rows at the top and P at the bottom.",
             [[quantity("H_pad"), N + 2 * P]]),
        Step("Effective kernel",
             "Dilation D leaves D - 1 gaps between neighbouring kernel taps, so K taps span "
             "D(K - 1) + 1 rows.",
             [[quantity("K_eff"), keff]]),
        Step("Window positions",
             "A window may start at row 0, 1, ..., up to the last row where it still fits inside "
             "the padded input, that is H_pad - K_eff.",
             [[named_words("L", "last start"), N + 2 * P - keff, N + 2 * P - D * (K - 1) - 1]]),
        Step("Counting strides",
             "Starting at 0 and moving S rows at a time, the windows that fit are those whose start "
             "is a multiple of S no larger than the last start. Their number is the floor of "
             "(last start)/S, plus 1 for the window at 0. The floor is there because a partial "
             "step that would leave the padded input is not taken.",
             [[quantity("H_out"), conv_formula(Axis(0, 0))]]),
    ]


def distinct(lines):
    """Drop a line that prints the same as the one before it."""
    kept = [lines[0]]
    for line in lines[1:]:
        if latex(line) != latex(kept[-1]):
            kept.append(line)
    return kept


def _simplify(x):
    """Sizes as sympy leaves them: its automatic evaluation already turns
    floor(H - 1) + 1 into H for integer H; `simplify` would cost seconds."""
    return x
