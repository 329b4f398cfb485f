"""conv_design: the kernel and bias with which a convolution computes a stated linear map.

The problem gives a convolution's shape (channels, kernel size, stride, padding,
bias or not) and a target map. Both sides are written as linear expressions in
the input entries; their coefficients are equated at every output position and
the linear system in the unknown weights and biases is solved with sympy's
linsolve. The result is one kernel and bias, none (and the equations that
conflict), or a family with free parameters.

Conventions (the derivation states them too):
- PyTorch's Conv2d, a cross-correlation (the kernel is not flipped), with
  PyTorch's 0-based indices for channels, rows, columns and kernel taps:
      Y[l, i, j] = b_l + sum_c sum_α sum_β w[l, c, α, β] X[c, S_h·i + α − P_h, S_w·j + β − P_w],
  where X reads 0 outside the input (the padding zeros).
- The target gives, per output channel l, a linear combination of input
  entries X[c, row, col] (X[row, col] when there is one input channel) whose
  row and column are whole-number combinations of i and j, plus a constant:
  "X[i+1, j] - X[i, j]", "0.299*X[0, i, j] + 0.587*X[1, i, j] + 0.114*X[2, i, j]".
  Or a named map: {avg_pool: k} is PyTorch's AvgPool2d(k) (stride k, no
  padding), each channel on its own. An entry the target names outside the
  input reads 0 as well, so at the borders both sides use the same zeros.
- The target is equated with Y[l, i, j] at every output position (i, j) of the
  convolution applied to an input of `input_size`.
- Answers: `kernel` is the weight tensor in PyTorch's layout C_out×C_in×Kh×Kw;
  `bias` has one value per output channel; both only when the solution is
  unique. `solution_dimension` is the dimension of the solution set: −1 when no
  kernel and bias work (the dimension of the empty set), 0 when exactly one
  does, d ≥ 1 for a family with d free parameters.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..answers.grammar import CONSTANT, Entry, Linear, LinearFormError, parse_linear
from ..core.errors import FieldError
from ..core.fields import ONE, ZERO, Pair, boolean, given_field, integer, optional, pair
from ..math.nodes import Formula, Indexed, Negative, Number, Sum, Summation, Symbol
from ..math.notation import quantity, subscripted, written
from ..core.model import Answer, Step
from .sizes import Axis, conv_length
from .base import Kind
from .conv import conv2d
from .common import exact
from .mistakes import Change, shared

ANSWERS = {
    "kernel": "the weights W, C_out×C_in×Kh×Kw as in PyTorch; only when the solution is unique",
    "bias": "one value per output channel; only with bias: true and a unique solution",
    "solution_dimension": "dimension of the solution set: -1 none, 0 exactly one, d >= 1 a family "
                          "with d free parameters",
}
# Where a problem gives no `vary`: a given input size redrawn within its own range (solver/variants.py).
VARY = {"input_size": {}}

MAX_CHANNELS = 64
MAX_INPUT = 50             # per axis: every interior position gives the same equations
MAX_WORK = 200_000         # positions × output channels × taps, each written out one by one
QUOTED = 80                # characters of a formula an error message quotes
MAX_SHOWN_EQUATIONS = 40   # per output channel; the derivation says how many more there are
CHECK_SEED = 455           # the check's input is the same on every run
CHECK_VALUES = (-3, 9)     # its entries: small whole numbers

TARGET_FORMS = ("A target is one formula per output channel: a linear combination of input entries "
                "X[c, row, col] (or X[row, col] when there is one input channel), rows and columns "
                "written in i and j, plus a constant, e.g. 'X[i+1, j] - X[i, j]' or "
                "'0.299*X[0, i, j] + 0.587*X[1, i, j] + 0.114*X[2, i, j]'; or the named map "
                "{avg_pool: k}.")


# ---- the target: linear forms in the entries of X ------------------------------

@dataclass(frozen=True)
class Target:
    """What the convolution must compute: formulas as written, or {avg_pool: k}."""
    formulas: tuple[str, ...] = ()
    forms: tuple[dict, ...] = ()      # the formulas' linear forms
    pool: int | None = None           # k of {avg_pool: k}
    divisor: int | None = None        # the pool's divisor: k² (a mistake changes it)
    decimal: bool = False             # written with decimals, so shown with decimals

    def linear_forms(self, channels: int) -> list[dict]:
        """One linear form per output channel."""
        if self.pool is None:
            return list(self.forms)
        k = self.pool
        weight = Fraction(1, self.divisor or k * k)
        return [{Entry(c, (k, 0, a), (0, k, b)): weight for a in range(k) for b in range(k)}
                for c in range(channels)]


def read_target(name, value) -> Target:
    """A formula, a list of formulas (one per output channel), or {avg_pool: k}."""
    if isinstance(value, dict):
        k = value.get("avg_pool")
        if set(value) != {"avg_pool"} or isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_INPUT:
            raise FieldError(name, f"as a mapping must be {{avg_pool: k}} with a whole number k from 1 to {MAX_INPUT}; "
                                   f"got {value!r}. " + TARGET_FORMS)
        return Target(pool=k)
    formulas = [value] if isinstance(value, str) else value
    if not isinstance(formulas, list) or not formulas or len(formulas) > MAX_CHANNELS \
            or not all(isinstance(f, str) for f in formulas):
        raise FieldError(name, f"must be a formula or a list of 1 to {MAX_CHANNELS} formulas; got {value!r}. "
                               + TARGET_FORMS)
    read = [linear(name, text, channel) for channel, text in enumerate(formulas)]
    return Target(formulas=tuple(formulas), forms=tuple(f.form for f in read), decimal=any(f.decimal for f in read))


def linear(name, text: str, channel: int) -> Linear:
    """One output channel's formula, read by the grammar's linear dialect."""
    try:
        return parse_linear(text)
    except LinearFormError as error:
        where = f", at character {error.position + 1}," if error.position is not None else ""
        quoted = text if len(text) <= QUOTED else text[:QUOTED] + "…"
        raise FieldError(name, f"output channel {channel}'s formula {quoted!r}{where} {error.what}. "
                               + TARGET_FORMS) from None


# ---- the given fields ----------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Given:
    in_channels: int = given_field(integer(1, "a positive integer"), dataclasses.MISSING,
                                   "input channels C_in")
    out_channels: int = given_field(integer(1, "a positive integer"), dataclasses.MISSING,
                                    "output channels C_out: one target formula each")
    kernel_size: Pair = given_field(pair(1, False), dataclasses.MISSING, "K, or [Kh, Kw]")
    stride: Pair = given_field(pair(1, False), ONE, "step between windows (default 1)")
    padding: Pair = given_field(pair(0, False), ZERO, "zeros added on each side (default 0)")
    bias: bool = given_field(boolean, True, "the convolution has a bias per output channel (default true)")
    input_size: Any = given_field(optional(pair(1, False)), None,
                                  "H, or [H, W]: the input whose output positions are equated "
                                  "(default K + 2P + S per axis)")
    target: Target = given_field(read_target, dataclasses.MISSING,
                                 "the map to compute: one linear formula per output channel in entries "
                                 "X[c, row, col] with i, j (e.g. 'X[i+1, j] - X[i, j]'), or {avg_pool: k}")


@dataclass(frozen=True)
class Rules:
    """How the answers are read off the solved system; each of the kind's own mistakes changes one."""
    flip: bool = False                 # the kernel as solved (a cross-correlation's), or rotated by 180°
    diagonal_only: bool = True         # False: a channel-wise kernel's slices copied to every input channel
    counted: str = "dimension"         # "solutions": the solutions counted, not the dimension of their set


RULES = Rules()


def validate(given: Given):
    for name in ("in_channels", "out_channels"):
        if getattr(given, name) > MAX_CHANNELS:
            raise FieldError(name, f"is {getattr(given, name)}; at most {MAX_CHANNELS} are supported")
    if max(input_hw(given)) > MAX_INPUT:
        default = "" if given.input_size is not None else f" (by default K + 2P + S = {max(input_hw(given))})"
        raise FieldError("input_size", f"must be at most {MAX_INPUT} per axis{default}: every interior "
                                       "position gives the same equations, so a small input shows them all")
    validate_target(given)
    for a, axis in enumerate(axes(given)):
        if conv_length(axis)[0] < 1:
            raise FieldError("kernel_size", f"is {axis.k} but the padded input has only {axis.n + 2 * axis.before} "
                                            f"{'rows' if a == 0 else 'columns'}; the kernel must fit inside it")
    (ho, wo), (kh, kw) = output_hw(given), given.kernel_size
    if ho * wo * given.out_channels * given.in_channels * kh * kw > MAX_WORK:
        raise FieldError("input_size", "gives too many output positions × taps to write every equation out; "
                                       "use a smaller input_size, kernel or padding (the equations repeat at "
                                       "every interior position)")


def validate_target(given: Given):
    target, c_in, c_out = given.target, given.in_channels, given.out_channels
    if target.pool is not None:
        if c_in != c_out:
            raise FieldError("target", f"{{avg_pool: {target.pool}}} keeps every channel apart, so it needs "
                                       f"out_channels = in_channels; they are {c_out} and {c_in}")
        return
    if len(target.forms) != c_out:
        raise FieldError("target", f"has {len(target.forms)} formula(s) but out_channels is {c_out}: "
                                   "give one formula per output channel. " + TARGET_FORMS)
    for l, (text, form) in enumerate(zip(target.formulas, target.forms)):
        for entry in form:
            if entry is CONSTANT:
                continue
            if entry.channel is None and c_in > 1:
                raise FieldError("target", f"output channel {l}'s formula {text!r} writes X[row, col], but "
                                           f"there are {c_in} input channels: write X[c, row, col] with c "
                                           f"from 0 to {c_in - 1}")
            if entry.channel is not None and not 0 <= entry.channel < c_in:
                raise FieldError("target", f"output channel {l}'s formula {text!r} reads input channel "
                                           f"{entry.channel}, but in_channels is {c_in}: channels are "
                                           f"numbered from 0 to {c_in - 1}")


# ---- the geometry --------------------------------------------------------------

def input_hw(given) -> Pair:
    """The input the equations cover: the given size, or K + 2P + S per axis (an
    interior window and a window at every border)."""
    if given.input_size is not None:
        return given.input_size
    k, p, s = given.kernel_size, given.padding, given.stride
    return Pair(k.h + 2 * p.h + s.h, k.w + 2 * p.w + s.w)


def axes(given) -> list[Axis]:
    n, k, s, p = input_hw(given), given.kernel_size, given.stride, given.padding
    return [Axis(n=n[a], k=k[a], s=s[a], before=p[a], after=p[a], letter="HW"[a]) for a in range(2)]


def output_hw(given) -> tuple[int, int]:
    return tuple(conv_length(axis)[0] for axis in axes(given))


def taps(given):
    """(c, α, β) for every weight of one output channel."""
    return list(itertools.product(range(given.in_channels), range(given.kernel_size.h),
                                  range(given.kernel_size.w)))


def tap_position(given, i, j, alpha, beta) -> tuple[int, int]:
    return (given.stride.h * i + alpha - given.padding.h, given.stride.w * j + beta - given.padding.w)


def inside(given, row, col) -> bool:
    h, w = input_hw(given)
    return 0 <= row < h and 0 <= col < w


def positions(given) -> list[tuple[int, int]]:
    """Output positions, the interior ones (no tap on padding) first."""
    every = list(itertools.product(*map(range, output_hw(given))))
    return sorted(every, key=lambda p: not interior(given, *p))


def interior(given, i, j) -> bool:
    kh, kw = given.kernel_size
    return inside(given, *tap_position(given, i, j, 0, 0)) and inside(given, *tap_position(given, i, j, kh - 1, kw - 1))


# ---- the linear system ---------------------------------------------------------

@dataclass
class Channel:
    """The coefficient equations of one output channel and what linsolve makes of them."""
    unknowns: list                       # sympy symbols w_{l,c,α,β}, then b_l
    equations: list[tuple[Any, Fraction]]   # distinct (convolution side, target side), interior first
    from_border: int                     # how many of them (the last ones) only border positions give
    names: dict                          # unknown -> as prose writes it: w[0,1,2,0], b[0]
    solution: dict | None = None         # unknown -> value (free unknowns stand for themselves); None: none
    conflict: list = dataclasses.field(default_factory=list)   # equations that cannot all hold

    @property
    def free(self) -> list:
        if self.solution is None:
            return []
        used = set().union(*(sympy_of(v).free_symbols for v in self.solution.values()))
        return [u for u in self.unknowns if u in used]


@dataclass
class Design:
    given: Given
    forms: list[dict]
    channels: list[Channel]

    @property
    def dimension(self) -> int:
        if any(c.solution is None for c in self.channels):
            return -1
        return sum(len(c.free) for c in self.channels)

    def particular(self):
        """(kernel C_out×C_in×Kh×Kw, bias) of the solution with every free parameter 0; None if none."""
        if self.dimension < 0:
            return None
        g = self.given
        kernel = np.zeros((g.out_channels, g.in_channels, *g.kernel_size), dtype=object)
        bias = []
        for l, channel in enumerate(self.channels):
            values = {u: fraction(sympy_of(v).subs({f: 0 for f in channel.free}))
                      for u, v in channel.solution.items()}
            for (c, a, b), u in zip(taps(g), channel.unknowns):
                kernel[l, c, a, b] = values[u]
            if g.bias:
                bias.append(values[channel.unknowns[-1]])
        return kernel, (np.array(bias, dtype=object) if g.bias else None)


def sympy_of(x):
    """Our own numbers (the 0 of an entry no tap reads) as sympy numbers."""
    import sympy
    return sympy.Integer(x) if isinstance(x, int) else x


def fraction(x):
    """A sympy rational as an exact int or Fraction."""
    return exact(Fraction(int(x.p), int(x.q)))


def weight_symbol(l, c, a, b):
    import sympy
    return sympy.Symbol(subscripted("w", f"{l},{c},{a},{b}"))


def bias_symbol(l):
    import sympy
    return sympy.Symbol(subscripted("b", l))


def plain_name(l, c=None, a=None, b=None) -> str:
    """An unknown as prose writes it: w[0,1,2,0], b[0]."""
    return f"b[{l}]" if c is None else f"w[{l},{c},{a},{b}]"


def design(given: Given) -> Design:
    forms = given.target.linear_forms(given.in_channels)
    return Design(given, forms, [channel_system(given, l, form) for l, form in enumerate(forms)])


def channel_system(given, l, form) -> Channel:
    unknowns = [weight_symbol(l, c, a, b) for c, a, b in taps(given)]
    bias = bias_symbol(l) if given.bias else 0
    unknowns += [bias] if given.bias else []
    found: dict[tuple, None] = {}
    interior_count = 0
    for i, j in positions(given):
        for equation in position_equations(given, i, j, l, form, bias):
            found.setdefault(equation)
        if interior(given, i, j):
            interior_count = len(found)
    names = {u: plain_name(l, *tap) for tap, u in zip(taps(given), unknowns)} | ({bias: plain_name(l)} if given.bias else {})
    channel = Channel(unknowns, list(found), len(found) - interior_count, names)
    solve_channel(channel)
    return channel


def position_equations(given, i, j, l, form, bias) -> list[tuple]:
    """(convolution's coefficient, target's coefficient) of every input entry at (i, j), then the constants."""
    convolution = {}
    for c, a, b in taps(given):
        row, col = tap_position(given, i, j, a, b)
        if inside(given, row, col):
            convolution[(c, row, col)] = weight_symbol(l, c, a, b)
    target = {}
    for entry, coefficient in form.items():
        if entry is not CONSTANT and inside(given, *entry.at(i, j)[1:]):
            target[entry.at(i, j)] = target.get(entry.at(i, j), 0) + coefficient
    keys = list(convolution) + [key for key in target if key not in convolution]
    equations = [(convolution.get(key, 0), Fraction(target.get(key, 0))) for key in keys]
    equations.append((bias, Fraction(form.get(CONSTANT, 0))))
    return [(lhs, rhs) for lhs, rhs in equations if not (lhs == 0 and rhs == 0)]


def solve_channel(channel: Channel):
    """linsolve; where there is no solution, a minimal set of equations that conflict."""
    import sympy
    if not channel.equations:
        channel.solution = {u: u for u in channel.unknowns}
        return
    expressions = [sympy_of(lhs) - sympy.Rational(rhs.numerator, rhs.denominator) for lhs, rhs in channel.equations]
    found = sympy.linsolve(expressions, channel.unknowns)
    if found != sympy.EmptySet:
        channel.solution = dict(zip(channel.unknowns, next(iter(found))))
        return
    chosen = conflicting(expressions, channel.unknowns)
    channel.conflict = [channel.equations[k] for k in chosen]


def conflicting(expressions, unknowns) -> list[int]:
    """Indices of a minimal set of equations with no solution: the first equation that
    makes the system inconsistent, and the earlier ones it conflicts with."""
    import sympy

    def consistent(indices):
        return not indices or sympy.linsolve([expressions[k] for k in indices], unknowns) != sympy.EmptySet

    low, high = 0, len(expressions) - 1          # the shortest inconsistent prefix ends at `high`
    while low < high:
        middle = (low + high) // 2
        low, high = (middle + 1, high) if consistent(range(middle + 1)) else (low, middle)
    chosen, symbols = [high], set(expressions[high].free_symbols)
    grown = True
    while grown:                                 # the earlier equations tied to it through unknowns
        tied = [k for k in range(high) if k not in chosen and expressions[k].free_symbols & symbols]
        chosen += tied
        symbols = symbols.union(*(expressions[k].free_symbols for k in tied))
        grown = bool(tied)
    chosen = sorted(chosen)
    for k in [k for k in chosen if k != high]:   # keep only those needed for the conflict
        if not consistent([m for m in chosen if m != k]):
            chosen.remove(k)
    return chosen


# ---- showing it ----------------------------------------------------------------

I, J, L, C = Symbol("i"), Symbol("j"), Symbol("l"), Symbol("c")
ALPHA, BETA = quantity("alpha"), quantity("beta")


def affine(terms) -> Formula:
    """c1·v1 + c2·v2 + ... from (coefficient, letter or None) pairs, 1s and 0s left out."""
    parts = []
    for coefficient, letter in terms:
        if coefficient == 0:
            continue
        size = abs(coefficient)
        part = Number(size) if letter is None else (letter if size == 1 else Number(size) * letter)
        parts.append(Negative(part) if coefficient < 0 else part)
    if not parts:
        return Number(0)
    return parts[0] if len(parts) == 1 else Sum(parts)


def x_entry(given, channel, row: Formula, col: Formula) -> Formula:
    """X with its channel index only where there are several channels."""
    return Indexed("X", [channel, row, col] if given.in_channels > 1 else [row, col])


def letter(name, values: Pair, axis: int) -> Symbol:
    """S, or S_h and S_w where the two axes differ."""
    return Symbol(name if values.h == values.w else subscripted(name, "hw"[axis]))


def general_convolution(given) -> Formula:
    """Y's formula with the parameters as letters."""
    (s_h, s_w), (p_h, p_w), (k_h, k_w) = ([letter(name, getattr(given, field), a) for a in range(2)]
                                          for name, field in (("S", "stride"), ("P", "padding"), ("K", "kernel_size")))
    entry = Indexed("X", [C, Sum([s_h * I, ALPHA, Negative(p_h)]), Sum([s_w * J, BETA, Negative(p_w)])])
    body = Indexed("w", [L, C, ALPHA, BETA]) * entry
    body = Summation(C, 0, quantity("C_in") - 1,
                     Summation(ALPHA, 0, k_h - 1, Summation(BETA, 0, k_w - 1, body)))
    return body + Indexed("b", [L]) if given.bias else body


def numeric_convolution(given) -> Formula:
    """Y's formula with this problem's numbers; a sum over one term is written out (index 0)."""
    (s_h, s_w), (p_h, p_w), (k_h, k_w) = given.stride, given.padding, given.kernel_size
    sums = [(C, given.in_channels), (ALPHA, k_h), (BETA, k_w)]
    c, alpha, beta = (var if count > 1 else Number(0) for var, count in sums)
    rows = affine([(s_h, I), (int(k_h > 1), ALPHA), (-p_h, None)])
    cols = affine([(s_w, J), (int(k_w > 1), BETA), (-p_w, None)])
    body = Indexed("w", [L, c, alpha, beta]) * x_entry(given, c, rows, cols)
    for var, count in reversed(sums):
        body = Summation(var, 0, count - 1, body) if count > 1 else body
    return body + Indexed("b", [L]) if given.bias else body


def target_formula(given, form: dict) -> Formula:
    terms = []
    for entry, coefficient in form.items():
        if entry is CONSTANT:
            continue
        row, col = (affine([(r[0], I), (r[1], J), (r[2], None)]) for r in (entry.row, entry.col))
        x = x_entry(given, entry.channel or 0, row, col)
        size = abs(coefficient)
        term = x if size == 1 else Number(shown(given, size)) * x
        terms.append(Negative(term) if coefficient < 0 else term)
    if form.get(CONSTANT):
        constant = form[CONSTANT]
        terms.append(Negative(Number(shown(given, -constant))) if constant < 0 else Number(shown(given, constant)))
    if not terms:
        return Number(0)
    return terms[0] if len(terms) == 1 else Sum(terms)


def shown(given, x):
    """Exact values as written: a decimal target shows its decimals (0.299, not 299/1000)."""
    if isinstance(x, Fraction) and given.target.decimal and only_twos_and_fives(x.denominator):
        return exact(float(x))
    return exact(x)


def only_twos_and_fives(n: int) -> bool:
    for p in (2, 5):
        while n % p == 0:
            n //= p
    return n == 1


def y_label(l) -> Formula:
    return Indexed("Y", [l, I, J])


# ---- solving -------------------------------------------------------------------

def steps(given, found: Design) -> list[Step]:
    derivation = [convention_step(given), size_step(given), convolution_step(given), target_step(given, found)]
    derivation += [equations_step(given, l, channel) for l, channel in enumerate(found.channels)]
    derivation.append(solution_step(given, found))
    particular = found.particular()
    if particular is not None:
        derivation.append(check_step(given, found, *particular))
    return derivation


def answers_of(given, found: Design, rules: Rules = RULES) -> dict[str, Answer]:
    """The kernel and bias where the solution is unique, and the solution set's dimension, as the rules read them."""
    answers = {}
    if found.dimension == 0:
        kernel, bias = found.particular()
        if rules.flip:
            kernel = kernel[:, :, ::-1, ::-1]
        if not rules.diagonal_only:
            kernel = every_channel(kernel)
        answers["kernel"] = Answer("kernel", "matrix", shown_array(given, kernel), "W")
        if bias is not None:
            answers["bias"] = Answer("bias", "matrix", shown_array(given, bias), "b")
    dimension = found.dimension
    if rules.counted == "solutions":
        if dimension > 0:
            raise ValueError("a family of solutions has no count")
        dimension += 1
    answers["solution_dimension"] = Answer("solution_dimension", "integer", dimension, written("solution_dimension"))
    return answers


def shown_array(given, a: np.ndarray) -> np.ndarray:
    out = np.empty(a.shape, dtype=object)
    for index, v in np.ndenumerate(a):
        out[index] = shown(given, v) if isinstance(v, (int, Fraction)) else v
    return out


def convention_step(given) -> Step:
    h, w = input_hw(given)
    return Step("Convention", "As in PyTorch, the convolution is a cross-correlation (the kernel is not "
                "flipped), and every index counts from 0: channels, rows, columns and the kernel taps α, β. "
                f"The input X is {given.in_channels}×{h}×{w} (channel × row × column); an entry outside it, "
                "whether a tap of the convolution reads it (the padding) or the target names it, is 0. "
                "The target must equal the convolution's output at every one of its positions (i, j).")


def size_step(given) -> Step:
    ax = axes(given)
    lines = [[quantity(name)] + conv_length(axis)[1] for name, axis in zip(("H_out", "W_out"), ax)]
    ho, wo = output_hw(given)
    return Step("Output positions", f"PyTorch's output size per axis, with input length H, padding P, "
                f"kernel size K and stride S: there are {ho}·{wo} = {ho * wo} positions (i, j) to match.",
                lines[:1] if ax[0] == ax[1] else lines)


def convolution_step(given) -> Step:
    unknowns = given.out_channels * (given.in_channels * given.kernel_size.h * given.kernel_size.w + given.bias)
    text = ("Output channel l of the convolution, with weights w and bias b as unknowns, in general and "
            "with this problem's numbers" if given.bias else
            "Output channel l of the convolution (no bias), with weights w as unknowns, in general and "
            "with this problem's numbers")
    return Step("The convolution", f"{text}; there are {unknowns} unknowns.",
                [[y_label(L), general_convolution(given), numeric_convolution(given)]])


def target_step(given, found: Design) -> Step:
    if given.target.pool is not None:
        k = given.target.pool
        text = (f"Average pooling with a {k}×{k} window and stride {k} (PyTorch's AvgPool2d({k})) averages each "
                f"channel on its own: output channel l is the mean of the {k * k} entries of input channel l in "
                f"the window at row {k}i, column {k}j.")
    else:
        text = "The map the convolution must compute, one formula per output channel."
    lines = [[y_label(l), target_formula(given, form)] for l, form in enumerate(found.forms)]
    return Step("The target", f"{text} {border_note(given, found.forms)}", lines)


def border_note(given, forms) -> str:
    """Where the target names an entry outside the input, with the first example."""
    for i, j in sorted(itertools.product(*map(range, output_hw(given)))):
        for form in forms:
            for entry in form:
                if entry is not CONSTANT and not inside(given, *entry.at(i, j)[1:]):
                    c, row, col = entry.at(i, j)
                    name = f"X[{c}, {row}, {col}]" if given.in_channels > 1 else f"X[{row}, {col}]"
                    return (f"At some positions the target names entries outside the input, for example "
                            f"{name} at (i, j) = ({i}, {j}); they read 0, like the padding the convolution "
                            "reads there.")
    return "Every entry the target names lies inside the input, at every position."


def equations_step(given, l, channel: Channel) -> Step:
    n, border = len(channel.equations), channel.from_border
    if n == border:
        origin = "No position is interior (every window reads some padding); the positions give these"
    elif border:
        origin = (f"The interior positions (every tap on a real entry) give the first {n - border}; the border "
                  f"positions, where taps read padding zeros, add the last {border}")
    else:
        origin = ("The interior positions (every tap on a real entry) all give these; a border position "
                  "gives some of them and no new one, since a tap on the padding and a target entry outside "
                  "the input both drop out there")
    text = (f"At each position (i, j), both sides are linear in the entries of X: the coefficient of every "
            f"entry must agree, and so must the constant terms. {origin}: {n} distinct equation(s)"
            " (the convolution's coefficient = the target's).")
    lines = [[lhs, shown(given, rhs)] for lhs, rhs in channel.equations[:MAX_SHOWN_EQUATIONS]]
    if n > MAX_SHOWN_EQUATIONS:
        text += f" The first {MAX_SHOWN_EQUATIONS} are shown; the other {n - MAX_SHOWN_EQUATIONS} have the same form."
    return Step(f"Equations for output channel {l}", text, lines)


def solution_step(given, found: Design) -> Step:
    dimension = found.dimension
    if dimension < 0:
        return no_solution_step(given, found)
    lines = kernel_lines(given, found.channels)
    if dimension == 0:
        text = ("sympy's linsolve finds exactly one solution: every weight and bias is fixed by an "
                "equation. The kernel, slice by slice (w[l, c] is the Kh×Kw kernel from input channel c "
                "to output channel l), and the bias:")
    else:
        free = [channel.names[u] for channel in found.channels for u in channel.free]
        names = ", ".join(free[:12]) + (", ..." if len(free) > 12 else "")
        text = (f"sympy's linsolve finds infinitely many solutions: {dimension} unknown(s) ({names}) appear in "
                "no equation, because at every output position their taps read padding zeros; they may take "
                f"any value. The solution set has dimension {dimension}, and every solution is, with those "
                "unknowns as free parameters:")
    return Step("Solution", text, lines)


def kernel_lines(given, channels: list[Channel]) -> list[list]:
    lines = []
    for l, channel in enumerate(channels):
        for c in range(given.in_channels):
            slice_ = np.empty(tuple(given.kernel_size), dtype=object)
            for (tap_c, a, b), u in zip(taps(given), channel.unknowns):
                if tap_c == c:
                    slice_[a, b] = shown_value(given, channel.solution[u])
            lines.append([Indexed("w", [l, c]), slice_])
    if given.bias:
        bias = np.array([shown_value(given, channel.solution[channel.unknowns[-1]]) for channel in channels],
                        dtype=object)
        lines.append([Symbol("b"), bias])
    return lines


def shown_value(given, value):
    """A solved value: a number as written, or a sympy expression in the free parameters."""
    value = sympy_of(value)
    return shown(given, fraction(value)) if value.is_Rational else value


def no_solution_step(given, found: Design) -> Step:
    lines, parts = [], []
    for l, channel in enumerate(found.channels):
        if channel.solution is None:
            parts.append(f"output channel {l}: {len(channel.conflict)} equation(s) below")
            lines += [[lhs, shown(given, rhs)] for lhs, rhs in channel.conflict]
    text = ("sympy's linsolve finds no solution: no kernel and bias make this convolution compute the target. "
            "Equations that cannot all hold (" + "; ".join(parts) + "). An equation 0 = c ≠ 0 asks for a "
            "term no tap can produce (an entry out of the kernel's reach, or a constant without a bias); "
            "two equations with different values for one unknown ask one weight to be two numbers. "
            "The solution set is empty: its dimension is −1.")
    return Step("No solution", text, lines)


def check_step(given, found: Design, kernel, bias) -> Step:
    """Apply the kernel with conv2d to a fixed, random-looking input and compare with the target."""
    h, w = input_hw(given)
    rng = np.random.default_rng(CHECK_SEED)
    x = np.array(rng.integers(*CHECK_VALUES, size=(given.in_channels, h, w), endpoint=True).tolist(), dtype=object)
    convolution = conv2d.Given(input=x, kernel=kernel, bias=None if bias is None else tuple(bias),
                               stride=given.stride, padding=given.padding)
    y = conv2d.KIND.compute(convolution)["output"].value
    expected = target_map(given, found.forms, x)
    agree = sum(1 for index, v in np.ndenumerate(y) if v == expected[index])
    verdict = (f"They agree in all {y.size} cells." if agree == y.size
               else f"They differ in {y.size - agree} of {y.size} cells.")
    which = "this kernel and bias" if found.dimension == 0 else "the solution with every free parameter 0"
    return Step("Check", f"Apply {which} (with the conv2d kind) to an input of small random-looking whole "
                "numbers, and compute the target map from the same input directly. " + verdict,
                [[Symbol("X"), single_channel(x)],
                 [quantity("conv(X)"), shown_array(given, single_channel(y))],
                 [quantity("target(X)"), shown_array(given, single_channel(expected))]])


def single_channel(a: np.ndarray) -> np.ndarray:
    """A C×H×W tensor with one channel shown as its H×W matrix."""
    return a[0] if a.shape[0] == 1 else a


def target_map(given, forms, x: np.ndarray) -> np.ndarray:
    """The target at every output position, entries outside the input read as 0."""
    ho, wo = output_hw(given)
    out = np.zeros((len(forms), ho, wo), dtype=object)
    for (l, form), i, j in itertools.product(enumerate(forms), range(ho), range(wo)):
        total = Fraction(0)
        for entry, coefficient in form.items():
            if entry is CONSTANT:
                total += coefficient
            elif inside(given, *entry.at(i, j)[1:]):
                total += coefficient * x[entry.at(i, j)]
        out[l, i, j] = exact(total)
    return out


# ---- mistakes ------------------------------------------------------------------

def every_channel(kernel: np.ndarray) -> np.ndarray:
    """Each output channel's diagonal slice copied to every input channel; only for
    a kernel that keeps the channels apart (zero off the diagonal)."""
    c_out, c_in = kernel.shape[:2]
    off_diagonal = [kernel[l, c] for l in range(c_out) for c in range(c_in) if l != c]
    if c_out != c_in or c_in == 1 or any(np.any(s != 0) for s in off_diagonal):
        raise ValueError("the kernel does not keep the channels apart")
    return np.stack([np.stack([kernel[l, l]] * c_in) for l in range(c_out)])


def always(given) -> bool:
    return True


class ConvDesign(Kind):
    name = "conv_design"
    summary = ("the kernel and bias with which a convolution computes a stated linear map (finite "
               "differences, channel mixing, average pooling), or that none or many do")
    answers = ANSWERS
    vary = VARY
    Given, Rules = Given, Rules
    mistakes = [
        Change("padding_offset_ignored", "The kernel entries sit one padding width too far up and to the left: "
               "with padding P, tap (α, β) of the window at (i, j) reads X[S·i + α − P, S·j + β − P]; this "
               "kernel was matched to X[S·i + α, S·j + β], as if there were no padding.",
               given=lambda g: {"padding": ZERO}, applies=lambda g: tuple(g.padding) != (0, 0), only=("kernel",)),
        shared("kernel_flipped", applies=always, only=("kernel",)),
        Change("pool_divisor_k", "The weights are 1/k: average pooling divides the sum of the k·k entries of "
               "its window by k², so every weight is 1/k².",
               given=lambda g: {"target": dataclasses.replace(g.target, divisor=g.target.pool)},
               applies=lambda g: bool(g.target.pool and g.target.pool > 1), only=("kernel",)),
        Change("weights_on_every_channel", "The weights were put on every input channel: output channel l must "
               "use input channel l only (the map keeps the channels apart), so w[l, c] is zero for c ≠ l and "
               "the weights sit only on the diagonal slices w[l, l].", rules={"diagonal_only": False},
               only=("kernel",)),
        Change("solutions_counted", "This counts the solutions; the answer is the dimension of the solution set: "
               "0 when exactly one kernel and bias work, −1 when none does, d for a family with d free parameters.",
               rules={"counted": "solutions"}, only=("solution_dimension",)),
    ]

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        return answers_of(given, design(given), rules)

    def derive(self, given, answers) -> list[Step]:
        return steps(given, design(given))


KIND = ConvDesign()
