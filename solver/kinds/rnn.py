"""rnn: a recurrent network run over a sequence, its loss, its gradients by
backpropagation through time (BPTT), and one gradient-descent step.

Conventions (the derivation states them):
- a_t = W_in x_t + W_hh h_{t-1} + b and h_t = f(a_t) for t = 1..L, with f the
  identity (`activation: linear`, the default) or tanh; y_t = W_hy h_t + b_y,
  or y_t = h_t where no W_hy is given. h_0 defaults to zeros.
- Losses (see LOSS_TEXT): mse_last ½‖y_L − target‖² (the default; the course's
  "squared error", not torch's mean), mse_all ½Σ_t‖y_t − target_t‖²; sse_last and
  sse_all the same without ½; torch_mse_last and torch_mse_all nn.MSELoss()'s
  mean over every entry; sum_last Σ_i y_L,i, sum_all Σ_t Σ_i y_t,i. A squared
  loss without a target is a forward pass only.
- BPTT: δ_t = ∂ℓ/∂h_t and g_t = ∂ℓ/∂a_t = δ_t ⊙ f'(a_t) (1 − h_t² for tanh);
  δ_L = W_hyᵀ ∂ℓ/∂y_L and δ_{t−1} = W_hyᵀ ∂ℓ/∂y_{t−1} + W_hhᵀ g_t (the first
  term only where the loss reads y_{t−1}). ∂ℓ/∂W_in = Σ_t g_t x_tᵀ,
  ∂ℓ/∂W_hh = Σ_t g_t h_{t−1}ᵀ, ∂ℓ/∂b = Σ_t g_t, ∂ℓ/∂h_0 = W_hhᵀ g_1,
  ∂ℓ/∂W_hy = Σ_t ∂ℓ/∂y_t h_tᵀ, ∂ℓ/∂b_y = Σ_t ∂ℓ/∂y_t. One step: w − η ∂ℓ/∂w.
- Vectors are columns; a quantity with one entry is a scalar; each gradient has
  the shape its field was given in.
- Numbers are exact: a decimal is the fraction it spells (0.3 is 3/10), so
  y = 0.01248 is exact; tanh makes floats.
- Symbols (`w_in`, `x_1`, `h_0`, `y_r`) are real sympy symbols, the ones a
  student's `w_{in}`, `x_1`, `h_0`, `y_r` parse to. They need the scalar,
  linear RNN: h_t is unrolled first, h_t = w_hh^t h_0 + Σ_s w_hh^{t−s}(w_in x_s + b),
  and the gradients are its derivatives (closed forms). tanh takes numbers
  only: its closed forms nest tanh L deep.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.errors import FieldError
from ..core.fields import choice, given_field, optional
from ..math.nodes import Apply, Arguments, Array, Dots, Formula, Group, Hadamard, Indexed, Negative, Norm, Number, \
    Partial, Power, Product, Relation, Sum, Summation, Symbol
from ..math.notation import after_update, derivative, indexed, listing, quantity, written
from ..math.notation import transposed as transposed_
from ..math.printing import latex
from ..core.model import Answer, Step
from .base import Kind
from .common import exact, exact_array
from .mistakes import Change, Places, shared
from .sizes import distinct
from .recurrent import common as recurrent
from .recurrent.common import LOSS_TEXT, LOSSES, asked_loss, fit, inline, plus, times, loss_and_targets, read_rate, \
    read_sequence, read_tensor, squeezed, symbolic_fields, sympy_number, exact_number, words

# How the derivation writes each given (a sheet labels the givens with it).
GIVEN_SYMBOLS = {field: written(name) for field, name in (("x", "x"), ("h0", "h_0"), ("w_in", "w_in"), ("w_hh", "w_hh"),
                                                     ("w_hy", "w_hy"), ("b", "b"), ("b_y", "b_y"), ("target", "y_r"))}
WEIGHTS = ("w_in", "w_hh", "w_hy")
PARAMETERS = WEIGHTS + ("b", "b_y")        # what one gradient-descent step updates
MAX_STEPS = 50
MAX_SYMBOLIC_STEPS = 6     # the unrolled closed forms grow as L²


# ---- reading ----------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Given:
    x: Any = given_field(read_sequence, doc="the sequence x_1..x_L: numbers or symbols, or one row per step")
    h0: Any = given_field(optional(read_tensor), None, "the initial state h_0 (default zeros)")
    w_in: Any = given_field(read_tensor, doc="input weights: a number or symbol, or an n×d matrix")
    w_hh: Any = given_field(read_tensor, doc="recurrent weights: a number or symbol, or an n×n matrix")
    b: Any = given_field(optional(read_tensor), None, "hidden bias, one per hidden unit (default none)")
    w_hy: Any = given_field(optional(read_tensor), None, "output weights, m×n (default none: y_t = h_t)")
    b_y: Any = given_field(optional(read_tensor), None, "output bias, one per output (needs w_hy)")
    activation: str = given_field(choice("linear", "tanh"), "linear", "linear (default) or tanh")
    target: Any = given_field(optional(read_tensor), None,
                              "the target of y_L, or one per step for the _all losses (squared losses)")
    loss: Any = given_field(optional(choice(*LOSSES)), None, "mse_last where a target is given; " + "; ".join(
        f"{name}: {text}" for name, text in LOSS_TEXT.items()))
    learning_rate: Any = given_field(optional(read_rate), None, "η for one gradient-descent step")


@dataclass(frozen=True)
class Rules:
    """The RNN's conventions (nn.RNN's recurrence, BPTT, gradient descent); each mistake changes one."""
    h0_used: bool = True                 # h_0 as given (False: taken as 0)
    biases_used: bool = True             # b and b_y added (False: left out)
    tanh_used: bool = True               # the problem's activation (False: the linear RNN)
    error_factor: int = 1                # ∂ℓ/∂y times this (-1: y* − y; 2: the ½ of the mse not cancelled)
    chain: str = "every step"            # the error through h_{t−1}: "none", or "last term" (only t = L kept)
    w_hh_transposed: bool = True         # δ_{t−1} gets W_hhᵀ g_t (False: W_hh g_t)
    tanh_slope: bool = True              # g_t = δ_t ⊙ (1 − h_t²) (False: the slope left out)
    extra_power: bool = False            # every power of w_hh one too high
    h0_in_states: bool = True            # the states the weight gradients multiply hold h_0 (False: its term dropped)
    term_changed: tuple = ()             # (decomposition, gradient, term, times): one term dropped (1) or flipped (2)
    gradients_transposed: bool = False   # ∂ℓ/∂W = Σ_t g_t x_tᵀ (True: its transpose)
    update_sign: int = -1                # w − η ∂ℓ/∂w (+1: the step added)

    def closed_forms(self) -> bool:
        """With symbols, the gradients are the unrolled closed forms; a mistake in BPTT itself
        is made in BPTT (its formulas nest where the closed forms do not)."""
        return (self.error_factor, self.chain, self.w_hh_transposed, self.tanh_slope, self.extra_power,
                self.h0_in_states) == (1, "every step", True, True, False, True)


RULES = Rules()


# ---- the model in column form -------------------------------------------------

@dataclass
class Model:
    """The problem as exact numbers (or sympy): vectors (k,), matrices (r, c)."""
    xs: list                 # x_1..x_L
    h0: np.ndarray
    w_in: np.ndarray
    w_hh: np.ndarray
    b: np.ndarray | None
    w_hy: np.ndarray | None
    b_y: np.ndarray | None
    targets: dict            # step -> target of y_t, for the steps the loss reads
    tanh: bool
    loss: str | None         # None: a forward pass only
    lr: Any
    symbolic: bool
    shapes: dict             # answer name -> the shape it is given in (() for a scalar)

    @property
    def steps(self) -> int:
        return len(self.xs)

    @property
    def loss_steps(self) -> list[int]:
        return recurrent.loss_steps(self.loss, self.steps)

    @property
    def scalar(self) -> bool:
        """One input, one hidden unit, one output."""
        return all(a.size == 1 for a in (self.w_in, self.w_hh, self.w_hy) if a is not None)

    def zeros(self) -> np.ndarray:
        return np.zeros(self.w_hh.shape[0], dtype=object)


def model(g: Given, rules: Rules = RULES) -> Model:
    """The problem in column form, as the rules read it."""
    m = given_model(g)
    changes = {"h0": m.zeros()} if not rules.h0_used else {}
    changes |= {"b": None, "b_y": None} if not rules.biases_used else {}
    changes |= {"tanh": False} if not rules.tanh_used else {}
    return dataclasses.replace(m, **changes) if changes else m


def given_model(g: Given) -> Model:
    x = g.x if g.x.ndim == 2 else g.x[:, None]
    steps, d = x.shape
    n = hidden_size(g.w_hh)
    fields = fitted(g, n, d)
    m = n if g.w_hy is None else fields["w_hy"].shape[0]
    loss, targets = loss_and_targets(g, steps, m)
    named = symbolic_fields(g)
    check_sizes(g, steps, named, max(n, d, m))
    convert = sympy_number if named else exact_number

    def cast(a):
        return None if a is None else np.vectorize(convert, otypes=[object])(a)
    return Model(xs=list(cast(x)), h0=cast(fields["h0"]), w_in=cast(fields["w_in"]), w_hh=cast(fields["w_hh"]),
                 b=cast(fields["b"]), w_hy=cast(fields["w_hy"]), b_y=cast(fields["b_y"]),
                 targets={t: cast(v) for t, v in (targets or {}).items()}, tanh=g.activation == "tanh",
                 loss=loss, lr=None if g.learning_rate is None else convert(g.learning_rate),
                 symbolic=bool(named), shapes=answer_shapes(g, n, m, bool(named)))


def fitted(g: Given, n: int, d: int) -> dict:
    """The weights, biases and h_0 in column form (h_0 zeros where not given)."""
    found = {"w_in": fit("w_in", g.w_in, (n, d), f"hidden size {n} × input size {d}"),
             "w_hh": fit("w_hh", g.w_hh, (n, n), "square"),
             "h0": np.zeros(n, dtype=object) if g.h0 is None else fit("h0", g.h0, (n,), f"one per hidden unit, {n}"),
             "b": None if g.b is None else fit("b", g.b, (n,), f"one per hidden unit, {n}"),
             "w_hy": None if g.w_hy is None else output_weights(g.w_hy, n)}
    if g.b_y is not None and g.w_hy is None:
        raise FieldError("b_y", "needs w_hy: without output weights y_t = h_t has no output bias")
    m = n if g.w_hy is None else found["w_hy"].shape[0]
    found["b_y"] = None if g.b_y is None else fit("b_y", g.b_y, (m,), f"one per output, {m}")
    return found


def answer_shapes(g: Given, n: int, m: int, symbolic: bool) -> dict:
    """Each answer in the shape its field was given in; a 1×1 matrix of symbols is a formula."""
    shapes = {f"grad_{name}": np.shape(getattr(g, name)) for name in ("w_in", "w_hh", "b", "w_hy", "b_y")}
    shapes.update(grad_h0=np.shape(g.h0) if g.h0 is not None else squeezed((n,)),
                  y=squeezed((m,)), state=squeezed((n,)), grad_x=np.shape(g.x), input=squeezed(np.shape(g.x)[1:]))
    return dict.fromkeys(shapes, ()) if symbolic else shapes


def hidden_size(w_hh) -> int:
    shape = np.shape(w_hh)
    if shape == ():
        return 1
    if len(shape) != 2 or shape[0] != shape[1]:
        raise FieldError("w_hh", f"must be a number or a square n×n matrix (n hidden units); got {words(shape)}")
    return shape[0]


def output_weights(w_hy, n) -> np.ndarray:
    """m×n; one row (m = 1), or one column (n = 1), may be written as a list, one weight as a number."""
    shape = np.shape(w_hy)
    rows = shape[0] if len(shape) == 2 or (len(shape) == 1 and n == 1) else 1
    return fit("w_hy", w_hy, (rows, n), f"outputs × hidden size {n}")



def check_sizes(g, steps, named, widest):
    if steps > MAX_STEPS:
        raise FieldError("x", f"has {steps} steps; at most {MAX_STEPS} are supported")
    if not named:
        return
    if g.activation == "tanh":
        raise FieldError("activation", "tanh needs numbers: with symbols the RNN must be linear "
                                       "(a closed form would nest tanh L deep)")
    if widest > 1:
        raise FieldError(named[0], "symbols need a scalar RNN (one input, one hidden unit, one output); "
                                "with vectors or matrices give numbers")
    if steps > MAX_SYMBOLIC_STEPS:
        raise FieldError("x", f"has {steps} steps; with symbols at most {MAX_SYMBOLIC_STEPS} are supported")


# ---- forward, loss, backward --------------------------------------------------

@dataclass
class Forward:
    a: list      # a_t at index t (index 0 unused)
    h: list      # h_0..h_L
    y: list      # y_t at index t (index 0 unused)


def forward(m: Model, h0=None) -> Forward:
    a, h, y = [None], [m.h0 if h0 is None else h0], [None]
    for x in m.xs:
        pre = m.w_in @ x + m.w_hh @ h[-1] + (0 if m.b is None else m.b)
        if m.symbolic:
            import sympy
            pre = np.array([sympy.expand(v) for v in pre], dtype=object)
        a.append(pre)
        h.append(np.array([math.tanh(v) for v in pre], dtype=object) if m.tanh else pre)
        y.append(output(m, h[-1]))
    return Forward(a, h, y)


def output(m: Model, h):
    if m.w_hy is None:
        return h
    return m.w_hy @ h + (0 if m.b_y is None else m.b_y)


def squared(m: Model) -> bool:
    return recurrent.squared(m.loss)


def loss_scale(m: Model) -> Fraction:
    """c in ℓ = c Σ (y − y*)²: ½ (mse), 1 (sse), or 1 over the entries averaged (torch_mse)."""
    return recurrent.loss_scale(m.loss, m.targets)


def error_factor(m: Model):
    """2c, the factor of y − y* in ∂ℓ/∂y: 1 for mse."""
    return recurrent.error_factor(m.loss, m.targets)


def output_grads(m: Model, fw: Forward) -> dict:
    """∂ℓ/∂y_t for the steps the loss reads: 2c (y_t − y*_t), or 1 for a sum."""
    return recurrent.output_grads(m.loss, {t: fw.y[t] for t in m.loss_steps}, m.targets)


def loss_value(m: Model, fw: Forward, scale=None):
    return recurrent.loss_value(m.loss, {t: fw.y[t] for t in m.loss_steps}, m.targets, scale)


def slope(m: Model, fw: Forward, t):
    """f'(a_t): 1 − h_t² for tanh, 1 for the linear RNN."""
    return np.array([1 - v * v for v in fw.h[t]], dtype=object) if m.tanh else 1


@dataclass
class Backward:
    dy: dict     # step -> ∂ℓ/∂y_t
    delta: list  # δ_t at index t
    g: list      # g_t at index t
    terms: dict  # gradient name -> [(step, term)] whose sum is the gradient
    dx: list     # ∂ℓ/∂x_t = W_inᵀ g_t at index t − 1

    @property
    def grads(self) -> dict:
        """Each parameter's gradient, and grad_x: the inputs' gradients stacked, one row per step."""
        grads = {name: sum(v for _, v in terms) for name, terms in self.terms.items()}
        return grads | {"grad_x": np.array(self.dx, dtype=object)}


def backward(m: Model, fw: Forward, dy=None, *, chain=True, transposed=True, derivative=True,
             extra_power=False, local=None) -> Backward:
    """BPTT. The flags make a mistake's version: no chain through h_{t−1}, W_hh not
    transposed, f' left out, one power of W_hh too many; `local` is the forward
    pass whose states the weight gradients multiply (h_0 left out of them)."""
    dy = output_grads(m, fw) if dy is None else dy
    local = local or fw
    back = m.w_hh.T if transposed else m.w_hh
    steps, zero = m.steps, m.zeros()
    delta, g = [None] * (steps + 1), [None] * (steps + 2)
    for t in range(steps, 0, -1):
        own = m.w_hy.T @ dy[t] if m.w_hy is not None and t in dy else dy.get(t, zero)
        delta[t] = own + (back @ g[t + 1] if chain and t < steps else zero)
        g[t] = delta[t] * slope(m, fw, t) if derivative else delta[t]
    if extra_power:
        g = [None] + [back @ v for v in g[1:steps + 1]]
    every = range(1, steps + 1)
    terms = {"grad_w_in": [(t, np.outer(g[t], m.xs[t - 1])) for t in every],
             "grad_w_hh": [(t, np.outer(g[t], local.h[t - 1])) for t in every]}
    if m.b is not None:
        terms["grad_b"] = [(t, g[t]) for t in every]
    terms["grad_h0"] = [(1, back @ g[1])]
    if m.w_hy is not None:
        terms["grad_w_hy"] = [(t, np.outer(v, local.h[t])) for t, v in dy.items()]
    if m.b_y is not None:
        terms["grad_b_y"] = list(dy.items())
    return Backward(dy, delta, g, terms, [m.w_in.T @ g[t] for t in every])


# ---- the unrolled closed forms (scalar, linear) ------------------------------------

def unrolled_state(m: Model, t) -> list[tuple]:
    """h_t = w_hh^t h_0 + Σ_s w_hh^{t−s}(w_in x_s + b), term by term. Each term is
    w_hh^k · θ · c for its own parameter θ (h_0, w_in or b): (label, k, θ's gradient name, θ, c)."""
    w, h0 = m.w_hh.flat[0], m.h0[0]
    terms = [("h_0", t, "grad_h0", h0, 1)]
    terms += [(f"x_{s}", t - s, "grad_w_in", m.w_in.flat[0], m.xs[s - 1][0]) for s in range(1, t + 1)]
    if m.b is not None:
        terms += [(f"b (step {s})", t - s, "grad_b", m.b[0], 1) for s in range(1, t + 1)]
    return [(label, k, own, theta, c, w) for label, k, own, theta, c in terms]


def unrolled_derivatives(m: Model, t) -> dict[str, list]:
    """∂h_t/∂θ of the unrolled h_t, term by term: ∂(w^k θ c)/∂θ = w^k c, ∂/∂w_hh = k w^(k−1) θ c."""
    found = {"grad_w_in": [], "grad_w_hh": [], "grad_h0": []} | ({"grad_b": []} if m.b is not None else {})
    for label, k, own, theta, c, w in unrolled_state(m, t):
        found[own].append((label, w ** k * c))
        if k:
            found["grad_w_hh"].append((label, k * w ** (k - 1) * theta * c))
    return found


def state_errors(m: Model, dy: dict) -> dict:
    """∂ℓ/∂h_t through y_t alone: w_hy ∂ℓ/∂y_t (scalars)."""
    weight = 1 if m.w_hy is None else m.w_hy.flat[0]
    return {t: weight * v[0] for t, v in dy.items()}


def closed_forms(m: Model, fw: Forward, dy: dict) -> dict:
    """Every gradient as Σ_t (∂ℓ/∂h_t through y_t)·∂h_t/∂θ of the unrolled h_t."""
    errors = state_errors(m, dy)
    grads = {}
    for t, error in errors.items():
        for name, terms in unrolled_derivatives(m, t).items():
            grads[name] = grads.get(name, 0) + error * total(terms)
    if m.w_hy is not None:
        grads["grad_w_hy"] = sum(v[0] * fw.h[t][0] for t, v in dy.items())
    if m.b_y is not None:
        grads["grad_b_y"] = sum(v[0] for v in dy.values())
    grads["grad_x"] = np.array([[total(input_terms(m, errors, s))] for s in range(1, m.steps + 1)], dtype=object)
    return grads


def input_terms(m: Model, errors: dict, s) -> list[tuple]:
    """∂ℓ/∂x_s term by term: x_s reaches h_t (t ≥ s) as w_hh^(t−s) w_in x_s."""
    w, w_in = m.w_hh.flat[0], m.w_in.flat[0]
    return [(t, error * w ** (t - s) * w_in) for t, error in errors.items() if t >= s]


def unrolled_terms(m: Model, dy: dict) -> dict:
    """gradient name -> [(which term, its value)]: a closed form's terms, as a student writes them."""
    found = {}
    for t, error in state_errors(m, dy).items():
        for name, terms in unrolled_derivatives(m, t).items():
            found.setdefault(name, []).extend((f"the {label} term of ∂h_{t}/∂{name[5:]}", error * v)
                                              for label, v in terms)
    if m.w_hy is not None:
        found["grad_w_hy"] = [(f"the {label} term of h_{t}", v[0] * w ** k * theta * c) for t, v in dy.items()
                              for label, k, _, theta, c, w in unrolled_state(m, t)]
    return found


def total(terms) -> Any:
    if terms and not isinstance(terms[0][1], (int, Fraction, float)):
        import sympy
        return sympy.Add(*(v for _, v in terms))
    return sum(v for _, v in terms)


# ---- answers --------------------------------------------------------------------

def shaped(value, shape):
    """An internal column-form value in the shape its field was given in; a size-1 value is a scalar."""
    array = np.asarray(value, dtype=object).reshape(shape)
    return exact(array.item()) if shape == () else exact_array(array)


def answer_values(m: Model, fw: Forward, grads: dict | None, sign=-1) -> dict:
    """Every answer's value, from one forward pass and one set of gradients (the step taken with `sign`)."""
    state = m.shapes["state"]
    values = {}
    if not m.symbolic:
        values["h"] = exact_array(np.array([fw.h[t] if state else fw.h[t][0]
                                            for t in range(1, m.steps + 1)], dtype=object))
    values["y"] = shaped(fw.y[m.steps], m.shapes["y"])
    if grads is not None:
        values["loss"] = exact(loss_value(m, fw))
        inputs = grads.pop("grad_x")
        values.update({name: shaped(v, m.shapes[name]) for name, v in grads.items()})
        if not m.symbolic:
            values["grad_x"] = shaped(inputs, m.shapes["grad_x"])
        values.update({f"grad_x[{t}]": shaped(inputs[t - 1], m.shapes["input"]) for t in range(1, m.steps + 1)})
        if m.lr is not None:
            values.update(updated(m, values, sign))
    values.update({f"h[{t}]": shaped(fw.h[t], state) for t in range(1, m.steps + 1)})
    if m.symbolic:           # a formula even where it is a number, as ∂ℓ/∂b_y = 1 of a sum
        import sympy
        values = {name: sympy.sympify(v) for name, v in values.items()}
    return values


def updated(m: Model, values: dict, sign=-1) -> dict:
    """One gradient-descent step (sign −1; +1 is the step taken uphill)."""
    found = {}
    for name in PARAMETERS:
        weight = getattr(m, name)
        if weight is not None:
            step = np.asarray(values[f"grad_{name}"], dtype=object).reshape(weight.shape)
            found[f"updated_{name}"] = shaped(weight + sign * m.lr * step, m.shapes[f"grad_{name}"])
    return found


def gradients(m: Model, fw: Forward, rules: Rules) -> dict:
    """Every gradient, as the rules compute it: BPTT's numbers, or the closed forms where
    there are symbols."""
    dy = output_grads(m, fw)
    if rules.error_factor != 1:
        dy = {t: rules.error_factor * v for t, v in dy.items()}
    if m.symbolic and rules.closed_forms():
        grads = closed_forms(m, fw, dy)
    else:
        local = None if rules.h0_in_states else forward(m, h0=m.zeros())
        bw = backward(m, fw, dy, chain=rules.chain != "none", transposed=rules.w_hh_transposed,
                      derivative=rules.tanh_slope, extra_power=rules.extra_power, local=local)
        grads = bw.grads
        if rules.chain == "last term":
            grads |= {name: terms[-1][1] for name, terms in bw.terms.items() if name != "grad_h0"}
    return grads


def term_decompositions(m: Model, fw: Forward, dy: dict) -> list[dict]:
    """Each gradient as a sum of terms, {name: [(which term, its value)]}: over the steps, and
    (scalar, linear) over the unrolled closed form's terms, as a student writes them."""
    bw = backward(m, fw, dy)
    found = [{name: [(f"the t = {t} term of the sum over the steps", v) for t, v in terms]
              for name, terms in bw.terms.items()}]
    if m.scalar and not m.tanh and m.steps <= MAX_SYMBOLIC_STEPS:
        found.append(unrolled_terms(m, dy))
    return found


def transposed_gradients(m: Model, values: dict) -> dict:
    """Each square weight gradient that is not symmetric, transposed, and its step with it."""
    found = {}
    for name in WEIGHTS:
        grad = values.get(f"grad_{name}")
        if isinstance(grad, np.ndarray) and grad.ndim == 2 and grad.shape[0] == grad.shape[1] \
                and not (grad == grad.T).all():
            found[f"grad_{name}"] = grad.T
    if found and m.lr is not None:
        found.update({k: v for k, v in updated(m, {**values, **found}).items() if f"grad_{k[8:]}" in found})
    return found


_LAST = [None]      # (given, its parts): a mistake's cases change one term each of the same gradients


def right_parts(given) -> tuple:
    """The model, forward pass, gradients and their terms of the problem, worked out once for it."""
    if _LAST[0] is None or _LAST[0][0] is not given:
        m = model(given)
        fw = forward(m)
        dy = output_grads(m, fw)
        _LAST[0] = (given, (m, fw, gradients(m, fw, RULES), term_decompositions(m, fw, dy)))
    return _LAST[0][1]


def term_changed_values(given, change: tuple) -> dict:
    """The answers with one term of one gradient's sum taken `times` times fewer."""
    decomposition, name, index, times = change
    m, fw, grads, decompositions = right_parts(given)
    term = decompositions[decomposition][name][index][1]
    term = term if isinstance(grads[name], np.ndarray) else scalar_or(term)
    return answer_values(m, fw, {**grads, name: grads[name] - times * term})


def compute_values(given, rules: Rules = RULES) -> dict:
    """{answer name: value} under the rules."""
    if rules.term_changed:
        return term_changed_values(given, rules.term_changed)
    m = model(given, rules)
    fw = forward(m)
    if m.loss is None:
        return answer_values(m, fw, None)
    values = answer_values(m, fw, gradients(m, fw, rules), rules.update_sign)
    if rules.error_factor != 1:        # the loss a student who doubled the error has: twice the squares
        values["loss"] = exact(loss_value(m, fw, abs(rules.error_factor) * loss_scale(m)))
    if rules.gradients_transposed:
        values |= transposed_gradients(m, values)
    return values


def answer_type(value) -> str:
    if isinstance(value, np.ndarray):
        return "matrix"
    if isinstance(value, float):
        return "real"
    return "rational" if isinstance(value, (int, Fraction)) else "expression"


QUANTITY_OF = {"w_in": "w_in", "w_hh": "w_hh", "b": "b", "w_hy": "w_hy", "b_y": "b_y", "h0": "h_0"}   # field: quantity


def parameter(field: str, m: Model | None = None) -> str:
    """The quantity a given is named by: w_in, or W_in where the model holds it as a matrix."""
    name = QUANTITY_OF[field]
    return "W" + name[1:] if m is not None and field in WEIGHTS and getattr(m, field).size > 1 else name


def named(given: Given) -> dict:
    """The quantities the problem defines, by value (or formula, with symbols), so that an
    answer may use them: a_t, h_t, y_t for t = 1..L, y = y_L, and the givens under the
    derivation's letters (x_t, h_0, w_in, ...). Only those with one entry: a formula is scalar."""
    m = model(given)
    fw = forward(m)
    found = {"h_0": m.h0, "w_in": m.w_in, "w_hh": m.w_hh, "w_hy": m.w_hy, "b": m.b, "b_y": m.b_y, "y": fw.y[-1]}
    for t in range(1, m.steps + 1):
        found.update({f"x_{t}": m.xs[t - 1], f"a_{t}": fw.a[t], f"h_{t}": fw.h[t], f"y_{t}": fw.y[t]})
    return {name: exact(np.asarray(v).flat[0]) for name, v in found.items() if v is not None and np.size(v) == 1}


def answer_label(m: Model, name) -> str:
    """The answer's name in the derivation's letters: W for a matrix, y_3 for y_L."""
    if name.startswith("h["):
        return latex(indexed("h", name[2:-1]))
    if name.startswith("grad_x["):
        return derivative("loss", latex(indexed("x", name[7:-1])))
    whole = {"h": lambda: listing("h_1", "h_L"), "y": lambda: latex(indexed("y", m.steps)),
             "loss": lambda: written("loss"),
             "grad_x": lambda: listing(derivative("loss", "x_1"), derivative("loss", "x_L"))}
    if name in whole:
        return whole[name]()
    kind, field = name.split("_", 1)
    return derivative("loss", parameter(field, m)) if kind == "grad" else after_update(parameter(field, m))


# ---- how the derivation shows values --------------------------------------------

def as_node(v, row: bool = False) -> Formula:
    """A number, vector (a column, or a row when `row`) or matrix put into a formula. Exact
    values with a short decimal expansion show as decimals: 0.06, not 3/50."""
    if isinstance(v, np.ndarray):
        return Array(v if v.ndim == 2 else v.reshape((1, -1) if row else (-1, 1)), decimal=True)
    return Number(v, decimal=True)


# ---- the derivation ------------------------------------------------------------------

class Notation:
    """Letters and values of one problem: a formula is built twice, with `letter(name, t)`
    leaves and with `value(name, t)` leaves (the numbers, or symbols, put in)."""
    NAMES = {"x": "x", "h": "h", "a": "a", "y": "y", "g": "g", "delta": "delta", "eta": "eta", "target": "y*"}

    def __init__(self, m: Model, fw: Forward, bw: Backward | None = None):
        self.m, self.fw, self.bw = m, fw, bw

    def raw(self, name, t=None):
        m, fw, bw = self.m, self.fw, self.bw
        found = {"x": lambda: m.xs[t - 1], "h": lambda: fw.h[t], "a": lambda: fw.a[t],
                 "y": lambda: fw.y[t], "target": lambda: m.targets[t], "dy": lambda: bw.dy[t],
                 "delta": lambda: bw.delta[t], "g": lambda: bw.g[t], "eta": lambda: m.lr}
        return found[name]() if name in found else getattr(m, name)

    def shown(self, name, t=None, transposed=False):
        """The value as the derivation writes it: a scalar where it has one entry."""
        v = self.raw(name, t)
        if isinstance(v, np.ndarray) and v.size == 1:
            return v.flat[0]
        return v.T if transposed and isinstance(v, np.ndarray) and v.ndim == 2 else v

    def value(self, name, t=None, transposed=False):
        v = self.shown(name, t, transposed)
        return as_node(v, row=transposed)

    def letter(self, name, t=None, transposed=False):
        """The quantity's letter, with its step t (and transposed), as one letter of a formula."""
        base = "delta" if name == "g" and not self.m.tanh else name      # linear: g_t is δ_t
        if name == "dy":
            node = Partial(quantity("loss"), indexed("y", t))
        else:
            written_as = parameter(base, self.m) if base in QUANTITY_OF else self.NAMES[base]
            stepped = t is not None and (name != "target" or (self.m.loss or "").endswith("_all"))
            node = indexed(written_as, t) if stepped else quantity(written_as)
        if transposed and np.size(self.raw(name, t)) > 1:
            node = transposed_(node)
        return as_letter(f"{name}{t or ''}{'T' if transposed else ''}", node)


def as_letter(key: str, node: Formula) -> Symbol:
    """A formula named as one letter (∂ℓ/∂h_3, h_{t-1}ᵀ), so that a product writes it side by side."""
    return Symbol(key, latex(node))




def sum_line(n: Notation, head, products, result) -> list:
    """head = Σ products: the letters, the values put in, each product worked out, the result.
    `products` holds ([(name, t, transposed), ...], the product's value) pairs."""
    letters = plus([times([n.letter(*spec) for spec in specs]) for specs, _ in products])
    values = plus([times([n.value(*spec) for spec in specs]) for specs, _ in products])
    worked = plus([as_node(scalar_or(v)) for _, v in products])
    if n.m.symbolic:         # each product is already as simple as it gets
        return distinct([head, letters, values, as_node(scalar_or(result))])
    return distinct([head, letters, values, worked, as_node(scalar_or(result))])


def scalar_or(v):
    return v.flat[0] if isinstance(v, np.ndarray) and v.size == 1 else v


def derivation(m: Model, fw: Forward, values: dict) -> list[Step]:
    n = Notation(m, fw)
    steps = [model_step(m, n), forward_step(m, n)]
    if m.w_hy is not None:
        steps.append(output_step(m, n))
    if m.loss is None:
        return steps
    steps.append(loss_step(m, n))
    dy = output_grads(m, fw)
    n.bw = backward(m, fw, dy)
    steps += symbolic_gradient_steps(m, n, values) if m.symbolic else bptt_steps(m, n, values)
    if m.lr is not None:
        steps.append(update_step(m, n, values))
    return steps


def model_step(m: Model, n: Notation) -> Step:
    pre = Sum([n.letter("w_in") * n.letter("x", "t"), n.letter("w_hh") * n.letter("h", "t-1")]
              + ([n.letter("b")] if m.b is not None else []))
    lines = [[n.letter("a", "t"), pre], [n.letter("h", "t"), Apply("tanh", n.letter("a", "t"))]] if m.tanh \
        else [[n.letter("h", "t"), pre]]
    if m.w_hy is not None:
        lines.append([n.letter("y", "t"), plus([n.letter("w_hy") * n.letter("h", "t")]
                                               + ([n.letter("b_y")] if m.b_y is not None else []))])
    if m.loss is not None:
        lines.append([quantity("loss"), loss_letters(m, n)])
    activation = "tanh" if m.tanh else "no activation (a linear RNN)"
    xs = [n.letter("x", 1), Dots(), n.letter("x", m.steps)] if m.steps > 2 else \
        [n.letter("x", t) for t in range(1, m.steps + 1)]
    sentences = [f"The RNN reads {inline(Arguments(xs))} one step at a time, with {activation}; "
                 f"{inline(n.letter('h', 0))} is the initial state.",
                 "" if m.w_hy is not None else
                 "There are no output weights: the output is the state, "
                 f"{inline(n.letter('y', 't'), n.letter('h', 't'))}.",
                 loss_text(m), "" if m.scalar else "Vectors are columns."]
    return Step("The model", " ".join(s for s in sentences if s), lines)


def loss_text(m: Model) -> str:
    return "" if m.loss is None else f"The loss is {LOSS_TEXT[m.loss]}."


def loss_letters(m: Model, n: Notation):
    steps = m.loss_steps
    if m.loss.startswith("sum"):
        if len(steps) == 1 and np.size(n.raw("y", steps[0])) == 1:
            return n.letter("y", steps[0])
        t, i = Symbol("t"), Symbol("i")
        if len(steps) > 1:
            return Summation(t, 1, m.steps, Summation(i, None, None, Indexed("y", [t, i])))
        return Summation(i, None, None, Indexed("y", [steps[0], i]))
    if m.shapes["y"] == ():
        return scaled(loss_scale(m), plus([Power(n.letter("y", t) - n.letter("target", t)) for t in steps]))
    if len(steps) == 1:
        squares = Power(Norm(indexed("y", steps[0]) - quantity("y*")))
    else:
        squares = Summation(Symbol("t"), 1, m.steps, Power(Norm(indexed("y", "t") - indexed("y*", "t"))))
    return squares if loss_scale(m) == 1 else side_by_side(Number(loss_scale(m)), squares)


def scaled(coefficient, formula: Formula) -> Formula:
    """c·formula, or the formula alone where c is 1."""
    return formula if coefficient == 1 else Number(exact(coefficient)) * formula


def forward_step(m: Model, n: Notation) -> Step:
    lines = []
    for t in range(1, m.steps + 1):
        head = n.letter("a" if m.tanh else "h", t)
        products = [([("w_in",), ("x", t)], m.w_in @ m.xs[t - 1]),
                    ([("w_hh",), ("h", t - 1)], m.w_hh @ n.fw.h[t - 1])]
        if m.b is not None:
            products.append(([("b",)], m.b))
        lines.append(sum_line(n, head, products, n.fw.a[t]))
        if m.tanh:
            lines.append(distinct([n.letter("h", t), Apply("tanh", n.letter("a", t)), Apply("tanh", n.value("a", t)),
                               n.value("h", t)]))
    if m.symbolic:
        t, s = Symbol("t"), Symbol("s")
        fed = plus([side_by_side(n.letter("w_in"), n.letter("x", "s"))] + ([n.letter("b")] if m.b is not None else []))
        unrolled = Sum([from_initial_state(n),
                        Summation(s, None, None, side_by_side(Power(n.letter("w_hh"), t - s), Group(fed)))])
        text = (f"Each step feeds the state before it back in. Putting each {inline(n.letter('h', 't-1'))} into the "
                f"next step unrolls the recurrence: {inline(n.letter('h', 't'))} written with "
                f"{inline(n.letter('h', 0))} and the inputs alone, {inline(n.letter('h', 't'), unrolled)}.")
    else:
        text = ("One step at a time: the input term" + (", the recurrent term and the bias"
                if m.b is not None else " and the recurrent term") + " are added" +
                (", then tanh is applied entry by entry." if m.tanh else "."))
    return Step("Forward pass", text, lines)


def output_step(m: Model, n: Notation) -> Step:
    lines = []
    for t in (m.loss_steps or [m.steps]):
        products = [([("w_hy",), ("h", t)], m.w_hy @ n.fw.h[t])]
        if m.b_y is not None:
            products.append(([("b_y",)], m.b_y))
        lines.append(sum_line(n, n.letter("y", t), products, n.fw.y[t]))
    return Step("Output", "The output weights map the state to the output.", lines)


def loss_step(m: Model, n: Notation) -> Step:
    steps = m.loss_steps
    loss = loss_value(m, n.fw)
    head = quantity("loss")
    if not squared(m):
        entries = [as_node(v) for t in steps for v in n.fw.y[t]]
        return Step("Loss", "The loss adds up the entries of the outputs it reads.",
                    [distinct([head, loss_letters(m, n), plus(entries), as_node(loss)])])
    pairs = [(y, tg) for t in steps for y, tg in zip(n.fw.y[t], m.targets[t])]
    c = loss_scale(m)
    put_in = scaled(c, plus([Power(as_node(y) - as_node(tg)) for y, tg in pairs]))
    worked = scaled(c, plus([Power(as_node(y - tg)) for y, tg in pairs]))
    return Step("Loss", f"The loss is {LOSS_TEXT[m.loss]}.", [distinct([head, loss_letters(m, n), put_in, worked, as_node(loss)])])


def bptt_steps(m: Model, n: Notation, values: dict) -> list[Step]:
    bw = n.bw
    lines = [dy_line(m, n, t) for t in m.loss_steps]
    steps = [Step("Error at the outputs", f"{inline(n.letter('dy', 't'))} for each output the loss reads" +
                  (f": {error_text(m)}." if squared(m) else ": every entry counts once, so 1."),
                  lines)]
    lines = []
    for t in range(m.steps, 0, -1):
        products = []
        if t in bw.dy:
            products.append(([("w_hy", None, True), ("dy", t)] if m.w_hy is not None else [("dy", t)],
                             m.w_hy.T @ bw.dy[t] if m.w_hy is not None else bw.dy[t]))
        if t < m.steps:
            products.append(([("w_hh", None, True), ("g", t + 1)], m.w_hh.T @ bw.g[t + 1]))
        lines.append(sum_line(n, n.letter("delta", t), products, bw.delta[t]))
        if m.tanh:
            lines.append(distinct([n.letter("g", t), Hadamard(n.letter("delta", t), one_minus_square(n.letter("h", t))),
                               Hadamard(n.value("delta", t), as_node(scalar_or(slope(m, n.fw, t)))),
                               n.value("g", t)]))
    lines.append(sum_line(n, Partial(quantity("loss"), indexed("h", 0)),
                          [([("w_hh", None, True), ("g", 1)], bw.terms["grad_h0"][0][1])], bw.terms["grad_h0"][0][1]))
    delta, g, a = indexed("delta", "t"), indexed("g", "t"), Symbol("a")
    dl_da, tanh_slope = dl(indexed("a", "t")), Apply("tanh'", a)
    through_output = inline(n.letter("w_hy", transposed=True)) if m.w_hy is not None else \
        f"{inline(transposed_('W_hy'))}, here the identity"
    text = (f"Backpropagation through time, from the last step back: "
            f"{inline(delta, dl(indexed('h', 't')))} collects the error from "
            f"{inline(n.letter('y', 't'))} (through {through_output}) and from step $t + 1$ (through "
            f"{inline(n.letter('w_hh', transposed=True))}). " +
            (f"{inline(g, dl_da, Hadamard(delta, one_minus_square(indexed('h', 't'))))}, since "
             f"{inline(tanh_slope, one_minus_square(Apply('tanh', a)))}." if m.tanh else
             f"With no activation {inline(g, dl_da)} is {inline(delta)} itself, so the formulas below write "
             f"{inline(quantity('delta'))} for {inline(Symbol('g'))}."))
    steps.append(Step("Backpropagation through time", text, lines))
    input_error = side_by_side(n.letter("w_in", transposed=True), g)
    inputs = [sum_line(n, Symbol(f"grad_x[{t}]", answer_label(m, f"grad_x[{t}]")),
                       [([("w_in", None, True), ("g", t)], bw.dx[t - 1])], bw.dx[t - 1]) for t in range(1, m.steps + 1)]
    steps.append(Step("Gradients", "Each weight is used at every step, so its gradient is a sum over "
                                   "the steps: the error at the step times what the weight multiplied there. "
                                   f"Each input {inline(n.letter('x', 't'))} is used once, at step $t$: "
                                   f"{inline(dl(n.letter('x', 't')), input_error)}.",
                      [gradient_line(m, n, name) for name in bw.terms if name != "grad_h0"] + inputs))
    return steps


def from_initial_state(n: Notation) -> Formula:
    """w_hh^t h_0, the part of h_t the initial state gives."""
    return side_by_side(Power(n.letter("w_hh"), Symbol("t")), n.letter("h", 0))


def side_by_side(*factors: Formula) -> Product:
    """Factors written next to each other with a space, as a course writes w_hh^t h_0."""
    return Product(list(factors), spaced=True)


def dl(of: Formula) -> Formula:
    """∂ℓ/∂of."""
    return Partial(quantity("loss"), of)


def one_minus_square(x: Formula) -> Formula:
    return Sum([Number(1), Negative(Power(x))])


def dy_line(m: Model, n: Notation, t) -> list:
    head = n.letter("dy", t)
    if not squared(m):
        return [head, n.value("dy", t)]
    c = error_factor(m)
    return distinct([head, scaled(c, n.letter("y", t) - n.letter("target", t)),
                 scaled(c, n.value("y", t) - n.value("target", t)), n.value("dy", t)])


def error_text(m: Model) -> str:
    """∂ℓ/∂y_t in words: the derivative of c(y − y*)² is 2c(y − y*)."""
    c, scale = error_factor(m), loss_scale(m)
    error = indexed("y", "t") - indexed("y*", "t")
    if c == 1:
        return f"{inline(error)} (the ½ cancels the 2 of the derivative)"
    squares = scaled(scale, Power(Group(Symbol("y") - quantity("y*"))))
    return f"{inline(scaled(c, Group(error)))}, the derivative of {inline(squares)}"


GRADIENT_FACTORS = {"grad_w_in": ("g", "x"), "grad_w_hh": ("g", "h-1"), "grad_b": ("g", None),
                    "grad_w_hy": ("dy", "h"), "grad_b_y": ("dy", None)}


def gradient_line(m: Model, n: Notation, name) -> list:
    error, other = GRADIENT_FACTORS[name]
    products = []
    for t, term in reversed(n.bw.terms[name]):
        specs = [(error, t)]
        if other is not None:
            specs.append(("h", t - 1, True) if other == "h-1" else (other, t, True))
        products.append((specs, term))
    return sum_line(n, Symbol(name, answer_label(m, name)), products, n.bw.grads[name])


def symbolic_gradient_steps(m: Model, n: Notation, values: dict) -> list[Step]:
    dy = n.bw.dy
    chain = []
    for t in m.loss_steps:
        chain.append(dy_line(m, n, t))
        if m.w_hy is not None:
            chain.append(distinct([state_error_letter(t), n.letter("w_hy") * n.letter("dy", t),
                               short_error(m, n, t)]))
    y, h = n.letter("y", "t"), n.letter("h", "t")
    output = h if m.w_hy is None else \
        plus([side_by_side(n.letter("w_hy"), h)] + ([n.letter("b_y")] if m.b_y is not None else []))
    steps = [Step("Chain rule at the outputs", f"The loss reaches {inline(h)} through {inline(y, output)}. Below, "
                  f"{inline(y)} stands for its unrolled form above until the last line.", chain)]
    lines = [[derivative_letter(t, name), as_node(total(terms))]
             for t in m.loss_steps for name, terms in unrolled_derivatives(m, t).items()]
    steps.append(Step("Derivatives of the unrolled state",
                      f"Differentiate the unrolled {inline(h)} term by term: a power "
                      f"{inline(Power(n.letter('w_hh'), Symbol('k')))} brings down $k$, and {inline(n.letter('h', 0))} "
                      f"enters {inline(h)} only through {inline(from_initial_state(n))}.",
                      lines))
    lines = []
    for name in (k for k in values if k.startswith("grad_") and not k.startswith("grad_x")):
        if name in ("grad_w_hy", "grad_b_y"):
            letters = [times([n.letter("dy", t)] + ([n.letter("h", t)] if name == "grad_w_hy" else []))
                       for t in dy]
            put_in = [times([output_error(m, n, t)] + ([n.value("h", t)] if name == "grad_w_hy" else []))
                      for t in dy]
        else:
            letters = [state_error_letter(t) * derivative_letter(t, name) for t in m.loss_steps]
            put_in = [short_error(m, n, t) * as_node(total(unrolled_derivatives(m, t)[name]))
                      for t in m.loss_steps]
        lines.append(distinct([Symbol(name, answer_label(m, name)), plus(letters), plus(put_in), as_node(values[name])]))
    errors = {t: short_error(m, n, t) for t in m.loss_steps}
    for s in range(1, m.steps + 1):
        terms = input_terms(m, errors, s)
        letters = [state_error_letter(t) * as_letter(f"dh{t}dx{s}", Partial(indexed("h", t), indexed("x", s)))
                   for t, _ in terms]
        lines.append(distinct([Symbol(f"grad_x[{s}]", answer_label(m, f"grad_x[{s}]")), plus(letters),
                           plus([error * as_node(n.m.w_hh.flat[0] ** (t - s) * n.m.w_in.flat[0]) for t, error in terms]),
                           as_node(values[f"grad_x[{s}]"])]) if terms else
                     [Symbol(f"grad_x[{s}]", answer_label(m, f"grad_x[{s}]")), as_node(values[f"grad_x[{s}]"])])
    t, s = Symbol("t"), Symbol("s")
    reach = side_by_side(Power(n.letter("w_hh"), t - s), n.letter("w_in"), n.letter("x", "s"))
    steps.append(Step("Gradients", f"The chain rule through the unrolled states; writing {inline(y)} out gives "
                                   f"each gradient in the given symbols alone. An input {inline(n.letter('x', 's'))} "
                                   f"reaches {inline(h)} ({inline(Relation(t, '>=', s))}) as {inline(reach)}.", lines))
    return steps


def state_error_letter(t) -> Symbol:
    return as_letter(f"dh{t}", Partial(quantity("loss"), indexed("h", t)))


def derivative_letter(t, name) -> Symbol:
    return as_letter(f"d{t}{name}", Partial(indexed("h", t), quantity(QUANTITY_OF[name[5:]])))


def output_error(m: Model, n: Notation, t) -> Formula:
    """∂ℓ/∂y_t with y_t as a letter: y_t − y*_t, or 1 for a sum."""
    if not squared(m):
        return Number(1)
    return scaled(error_factor(m), n.letter("y", t) - n.value("target", t))


def short_error(m: Model, n: Notation, t) -> Formula:
    """∂ℓ/∂h_t through y_t, with y_t as a letter: w_hy (y_t − y*_t)."""
    error = output_error(m, n, t)
    return error if m.w_hy is None else (n.value("w_hy") if not squared(m) else n.value("w_hy") * error)


def update_step(m: Model, n: Notation, values: dict) -> Step:
    lines = []
    for name in PARAMETERS:
        if getattr(m, name) is None:
            continue
        grad = np.asarray(values[f"grad_{name}"], dtype=object)
        grad_shown = scalar_or(grad.reshape(getattr(m, name).shape))
        gradient = Symbol(name, answer_label(m, f"grad_{name}"))
        letters = n.letter(name) - n.letter("eta") * gradient
        put_in = n.value(name) - n.value("eta") * as_node(grad_shown)
        worked = n.value(name) - as_node(scalar_or(m.lr * grad.reshape(getattr(m, name).shape)))
        lines.append(distinct([Symbol(f"new {name}", answer_label(m, f"updated_{name}")), letters, put_in, worked,
                           as_node(values[f"updated_{name}"])]))
    return Step("Gradient-descent step", "Each weight and bias moves against its gradient, scaled by the "
                                         "learning rate η.", lines)


# ---- mistakes -------------------------------------------------------------------

def has_loss(g) -> bool:
    """A loss to descend: a sum of the outputs, or a squared loss with its target."""
    return (asked_loss(g) or "").startswith("sum") or g.target is not None


def nonzero(value) -> bool:
    """Given, and not all zeros (a symbol counts as not zero)."""
    return value is not None and any(v != 0 for v in np.asarray(value, dtype=object).flat)


def asymmetric(value) -> bool:
    """A matrix of more than one row that differs from its transpose."""
    return np.ndim(value) == 2 and len(value) > 1 and not (value == value.T).all()


def square_weights(g) -> bool:
    return any(np.ndim(w) == 2 and len(w) > 1 and np.shape(w)[0] == np.shape(w)[1]
               for w in (g.w_in, g.w_hh, g.w_hy) if w is not None)


def chain_places(g) -> list:
    """Truncated BPTT: no error through h_(t−1) at all, or only the last step's term kept
    (a different answer where the loss reads every step)."""
    if not has_loss(g):
        return []
    places = [("", {}, {"chain": "none"})]
    if len(g.x) > 1 and (asked_loss(g) or "").endswith("_all") and not symbolic_fields(g):
        places.append(("only the t = L term kept", {}, {"chain": "last term"}))
    return places


def term_places(times: int):
    """One place per term of each gradient's sum (over the steps, and over the unrolled
    closed form's terms), that term taken `times` times fewer: 1 drops it, 2 flips its sign."""
    def places(g) -> list:
        if not has_loss(g):
            return []
        found = []
        for d, terms_of in enumerate(right_parts(g)[3]):
            for name, terms in terms_of.items():
                for index, (where, term) in enumerate(terms if len(terms) > 1 else []):
                    if np.any(np.asarray(term, dtype=object) != 0):
                        found.append((where, {}, {"term_changed": (d, name, index, times)}))
        return found
    return places


MISTAKES = [
    Change("h0_forgotten", "This is the result with h_0 left out (taken as 0): the first step is "
           "h_1 = w_in x_1 + w_hh h_0 + b, and h_0 is given.", rules={"h0_used": False},
           applies=lambda g: nonzero(g.h0)),
    shared("bias_forgotten", given=None, rules={"biases_used": False}, applies=lambda g: nonzero(g.b) or nonzero(g.b_y)),
    Change("tanh_forgotten", "This is the linear RNN's result: tanh is applied to a_t at every step.",
           rules={"tanh_used": False}, applies=lambda g: g.activation == "tanh"),
    Change("update_added", "The gradient step was added: gradient descent subtracts it, "
           "w − η ∂ℓ/∂w, to go downhill.", rules={"update_sign": 1},
           applies=lambda g: has_loss(g) and g.learning_rate is not None),
    Change("error_sign_flipped", "Every gradient has the wrong sign: ∂ℓ/∂y = y − y*, not y* − y.",
           rules={"error_factor": -1}, applies=lambda g: g.target is not None and not asked_loss(g).startswith("sum")),
    Change("half_forgotten", "This is twice the answer: the ½ in ½(y − y*)² cancels the 2 of the "
           "derivative, so ∂ℓ/∂y = y − y*.", rules={"error_factor": 2},
           applies=lambda g: g.target is not None and asked_loss(g).startswith("mse")),
    Places("chain_through_time_forgotten", "Only the last step's term is there: h_t also depends on "
           "the weights through h_(t−1), so the error flows back through every earlier step "
           "(δ_(t−1) gets W_hh^T δ_t).", chain_places),
    Change("w_hh_power_off_by_one", "Every power of w_hh is one too high: x_t reaches h_L through "
           "L − t recurrent steps, so it is multiplied by w_hh^(L−t), and h_0 by w_hh^L.",
           rules={"extra_power": True}, applies=lambda g: has_loss(g) and g.activation != "tanh"),
    Change("h0_term_dropped", "The h_0 term is missing: unrolled, h_t = w_hh^t h_0 + ..., and that "
           "term has a derivative too (t w_hh^(t−1) h_0 with respect to w_hh).", rules={"h0_in_states": False},
           applies=lambda g: has_loss(g) and g.activation != "tanh" and nonzero(g.h0)),
    # Dropped first: a term dropped and a term half its size flipped give the same value.
    Places("term_dropped", "One term of the sum is missing: the gradient adds up a term for every step "
           "(and every term of the unrolled state) that the parameter reaches the loss through.", term_places(1)),
    Places("term_sign_flipped", "One term of the sum has the wrong sign.", term_places(2)),
    Change("tanh_derivative_forgotten", "The derivative of tanh is missing: backpropagating through "
           "h_t = tanh(a_t) multiplies by 1 − h_t².", rules={"tanh_slope": False},
           applies=lambda g: has_loss(g) and g.activation == "tanh"),
    Change("w_hh_not_transposed", "The error was sent back through W_hh instead of its transpose: "
           "δ_(t−1) gets W_hh^T g_t.", rules={"w_hh_transposed": False},
           applies=lambda g: has_loss(g) and asymmetric(g.w_hh)),
    Change("gradient_transposed", "This gradient is transposed: ∂ℓ/∂W = Σ_t g_t x_t^T has one row "
           "per output of W (g_t times the transposed input).", rules={"gradients_transposed": True},
           applies=lambda g: has_loss(g) and square_weights(g)),
]


class Rnn(Kind):
    name = "rnn"
    summary = ("a recurrent network over a sequence: forward pass, loss, gradients by backpropagation "
               "through time, one gradient-descent step")
    answers = {
        "h": "every hidden state h_1..h_L (a list, or one row per step); numeric problems",
        "y": "the last output y_L (h_L where no w_hy is given)",
        "loss": "the loss ℓ; needs a target for the squared losses (mse_, sse_, torch_mse_)",
        "grad_w_in": "∂ℓ/∂w_in",
        "grad_w_hh": "∂ℓ/∂w_hh",
        "grad_b": "∂ℓ/∂b, where b is given",
        "grad_w_hy": "∂ℓ/∂w_hy, where w_hy is given",
        "grad_b_y": "∂ℓ/∂b_y, where b_y is given",
        "grad_h0": "∂ℓ/∂h_0",
        "grad_x": "∂ℓ/∂x_t for every input x_1..x_L, in the shape x is given (W_inᵀ g_t); numeric problems",
        "grad_x[i]": "∂ℓ/∂x_i, steps counted from 1 (a formula where the problem has symbols)",
        "updated_w_in": "w_in − η ∂ℓ/∂w_in, with a learning_rate",
        "updated_w_hh": "w_hh − η ∂ℓ/∂w_hh, with a learning_rate",
        "updated_w_hy": "w_hy − η ∂ℓ/∂w_hy, with a learning_rate and w_hy",
        "updated_b": "b − η ∂ℓ/∂b, with a learning_rate and b",
        "updated_b_y": "b_y − η ∂ℓ/∂b_y, with a learning_rate and b_y",
        "h[i]": "the hidden state h_i, steps counted from 1 (a formula where the problem has symbols)",
    }
    # Where a problem gives no `vary`: each number redrawn within its field's range (solver/variants.py).
    vary = {name: {} for name in ("x", "h0", "w_in", "w_hh", "b", "w_hy", "b_y", "target")}
    Given, Rules = Given, Rules
    mistakes = MISTAKES
    named = staticmethod(named)

    def validate(self, given) -> None:
        model(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        m = model(given, rules)
        return {name: Answer(name, answer_type(v), v, answer_label(m, name), detail="[" in name, decimal=True)
                for name, v in compute_values(given, rules).items()}

    def derive(self, given, answers) -> list[Step]:
        m = model(given)
        return derivation(m, forward(m), {name: answer.value for name, answer in answers.items()})

    def answers_with(self, given, fields: dict, rules: dict) -> dict:
        """A mistake's answers; with symbols, only those it changes, in the right answers' symbols:
        an unchanged formula written otherwise (BPTT's nesting, not the closed form) would cost the
        checker an expansion to set aside, and a letter the right answer lacks, the checker reads as
        another symbol, so it could never match."""
        found = super().answers_with(given, fields, rules)
        if not found or not symbolic_fields(given):
            return found
        point, right = self.right_at_point(given)
        return {name: v for name, v in found.items() if name in right and v != right[name][0]
                and v.free_symbols <= right[name][1] and v.xreplace(point) != right[name][2]}

    _at_point = None

    def right_at_point(self, given) -> tuple[dict, dict]:
        """A point for the problem's symbols, and each right answer as (value, its symbols, its
        value there): worked out once for all the mistakes of one problem."""
        if self._at_point is None or self._at_point[0] is not given:
            right = {name: answer.value for name, answer in self.posed_answers(given).items()}
            symbols = sorted(set().union(*(v.free_symbols for v in right.values())), key=str)
            point = {s: (-1) ** i * Fraction(2 * i + 3, i + 7) for i, s in enumerate(symbols)}
            self._at_point = (given, point, {name: (v, v.free_symbols, v.xreplace(point))
                                             for name, v in right.items()})
        return self._at_point[1:]

KIND = Rnn()
