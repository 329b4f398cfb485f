"""optimizer: steps of a torch.optim optimizer by hand, its parameters and its state after each step.

Each rule is the single-tensor loop of torch.optim (SGD with momentum, dampening and Nesterov,
RMSprop with centered=False, Adagrad with lr_decay=0 and initial_accumulator_value=0, Adam,
AdamW), in PyTorch's order: the gradient is negated for `maximize`, then weight decay adds
λθ to it (AdamW instead shrinks θ by 1 - γλ first), then the state and the parameter are
updated. The momentum buffer starts as the first step's gradient (b_1 = g_1, no dampening);
Adam's, RMSprop's and Adagrad's averages start at 0; ε is added to the root, outside it.

SGD's rules are exact (rationals, or formulas where a given is a symbol); the adaptive rules
divide by square roots and compute in floats. With an `objective` the gradient of each step
is the objective's derivative at the parameters before that step, derived with sympy from the
formula the answer grammar reads (never eval).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from ...core.errors import FieldError, InvalidAnswer
from ...core.fields import (IDENTIFIER, MAX_CELLS, MAX_COMPUTED_CELLS, boolean, check_numbers, choice, given_field,
                       integer, nested_shape, optional, shape_text, text)
from ...math.nodes import (Apply, Array, Fraction_, Group, Indexed, Negative, Number, Partial, Power, Product, Root,
                           Slash, Sum)
from ...math.notation import at_layer, quantity, written
from ...math.printing import latex
from ...core.model import Answer, Step
from ..base import Kind
from ..common import written as written_number
from ..mistakes import Change

RULES = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")
SGD_RULES = ("sgd", "momentum", "nesterov")
TORCH = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
         "adam": "Adam", "adamw": "AdamW"}
_SGD = {"lr": 0.001, "momentum": 0, "dampening": 0, "weight_decay": 0}
DEFAULTS = {                    # torch.optim's defaults; a rule takes exactly these settings (and maximize)
    "sgd": _SGD, "momentum": _SGD, "nesterov": _SGD,
    "rmsprop": {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0, "momentum": 0},
    "adagrad": {"lr": 0.01, "eps": 1e-10, "weight_decay": 0},
    "adam": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0},
    "adamw": {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
}
STATE_LETTER = {                # PyTorch's state names and their letters in the rule
    "momentum_buffer": "b", "square_avg": "v", "sum": "s", "exp_avg": "m", "exp_avg_sq": "v"}
SETTING_TEXT = {"lr": "the learning rate γ", "momentum": "the momentum μ", "dampening": "the dampening τ",
                "weight_decay": "the weight decay λ", "alpha": "RMSprop's smoothing constant α",
                "eps": "ε, added to the root in the denominator", "betas": "Adam's (β₁, β₂)"}
MAX_STEPS = 100
MAX_SYMBOLIC_STEPS = 6      # with symbols the formulas grow with every step
MAX_FORMULA = 1000          # characters of one answer's formula
MAX_EXACT = 10**30          # numerators and denominators kept exact; longer ones become floats
STEPS_SHOWN = 10            # steps derived in full; a longer run shows the first and the last
SUBSTITUTED_CELLS = 4       # a parameter with more entries shows its updates as formula and result
UNDIFFERENTIABLE = ("floor", "ceiling")        # piecewise constant: no gradient to step along


# ---- reading ----------------------------------------------------------------

def real_symbol(name: str):
    import sympy
    return sympy.Symbol(name, real=True)


def read_cell(name, value):
    """A number, or a symbol name (γ written as eta, a starting point w_0)."""
    if isinstance(value, str) and IDENTIFIER.match(value):
        return real_symbol(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FieldError(name, f"must hold numbers (or symbol names such as eta or w_0); found {value!r}")
    check_numbers(name, value)
    return value


def read_tensor(name, value, what="a number, a list of numbers or a matrix"):
    if not isinstance(value, list):
        return np.array(read_cell(name, value), dtype=object)
    shape = nested_shape(name, value)
    if 0 in shape:
        raise FieldError(name, f"must be {what}; it has an empty dimension")
    if math.prod(shape) > MAX_CELLS:
        raise FieldError(name, f"has {math.prod(shape)} entries; at most {MAX_CELLS} are supported")
    out = np.empty(shape, dtype=object)
    out.flat[:] = [read_cell(name, v) for v in np.array(value, dtype=object).flat]
    return out


@dataclass(frozen=True)
class Tensors:
    """Named tensors: the parameters, or one step's gradients. `named`: given as a mapping
    (answers per name); else one tensor called `params`."""
    names: tuple
    values: tuple
    named: bool = False

    def __getitem__(self, name):
        return self.values[self.names.index(name)]

    def items(self):
        return zip(self.names, self.values)


def read_params(name, value):
    if isinstance(value, dict):
        if not value:
            raise FieldError(name, "must name at least one parameter")
        for key in value:
            if not isinstance(key, str) or not IDENTIFIER.match(key) or key == "params":
                raise FieldError(name, f"names its parameters with letters, digits and one `_` subscript "
                                       f"(w, b, w_1), not params; got {key!r}")
        return Tensors(tuple(value), tuple(read_tensor(f"{name}.{k}", v) for k, v in value.items()), True)
    return Tensors(("params",), (read_tensor(name, value),))


def read_grads(name, value):
    if not isinstance(value, list) or not value:
        raise FieldError(name, "must be a list with the gradient of each step: a number, list or matrix "
                               "per step, or for several parameters a mapping from each name to its gradient")
    steps = []
    for t, item in enumerate(value, 1):
        where = f"{name}[{t}]"
        if isinstance(item, dict):
            steps.append(Tensors(tuple(item), tuple(read_tensor(f"{where}.{k}", v) for k, v in item.items()), True))
        else:
            steps.append(Tensors(("params",), (read_tensor(where, item),)))
    return tuple(steps)


def read_lr(name, value):
    """γ: a number or symbol, or a list of one per step (as a scheduler sets it)."""
    if isinstance(value, list):
        if not value:
            raise FieldError(name, "must be a number, or a list with one learning rate per step")
        return tuple(read_cell(name, v) for v in value)
    return read_cell(name, value)


def read_betas(name, value):
    if not isinstance(value, list) or len(value) != 2:
        raise FieldError(name, f"must be a pair [β₁, β₂] of numbers in [0, 1), as torch.optim.Adam's betas; "
                               f"got {value!r}")
    return tuple(read_cell(name, v) for v in value)


@dataclass(frozen=True, kw_only=True)
class Given:
    rule: str = given_field(choice(*RULES), doc="sgd, momentum, nesterov, rmsprop, adagrad, adam or adamw")
    params: Any = given_field(read_params, doc="the initial parameters: a number, vector or matrix, or a mapping "
                                               "of several named ones ({w: [1, 2], b: 0.5})")
    grads: Any = given_field(optional(read_grads), None, "the gradient at each step, a list (or give `objective`)")
    objective: Any = given_field(optional(text), None, "the loss as a formula in the parameters, e.g. "
                                                       "(w - 3)^2 + 2*b^2 (or give `grads`)")
    steps: Any = given_field(optional(integer(1, f"a whole number of steps from 1 to {MAX_STEPS}")), None,
                             "how many steps (default: one per gradient in `grads`, else 1)")
    lr: Any = given_field(optional(read_lr), None, "the learning rate γ (torch.optim's default for the rule), "
                                                   "or one per step")
    momentum: Any = given_field(optional(read_cell), None, "μ (sgd, momentum, nesterov, rmsprop)")
    dampening: Any = given_field(optional(read_cell), None, "τ (sgd, momentum; default 0)")
    alpha: Any = given_field(optional(read_cell), None, "RMSprop's smoothing constant α (default 0.99)")
    betas: Any = given_field(optional(read_betas), None, "Adam's [β₁, β₂] (default [0.9, 0.999])")
    eps: Any = given_field(optional(read_cell), None, "ε added to the root (the rule's default)")
    weight_decay: Any = given_field(optional(read_cell), None, "λ (default 0; AdamW 0.01)")
    maximize: bool = given_field(boolean, False, "step up the objective instead of down (default false)")

    def shown_arrays(self) -> list[tuple[str, np.ndarray]]:
        """What a sheet prints of the given: the parameters θ_0 and the gradient given for each
        step, ∇f(θ_{t-1}) (a statement cannot show a vector or matrix, nor a mapping of them)."""
        shown = [(latex(Indexed(letter(self, n, "theta"), [0])), v) for n, v in self.params.items()]
        for t, step in enumerate(self.grads or (), 1):
            shown += [(latex(given_gradient(self, n, t - 1)), v) for n, v in step.items()]
        return shown


@dataclass(frozen=True)
class Rules:
    """PyTorch's conventions; each mistake changes one."""
    bias_correction: bool = True          # Adam divides m and v by 1 - β^t
    eps_inside_root: bool = False         # ε is added to √v, not to v under the root
    decoupled: bool | None = None         # None: as the rule says (AdamW decoupled, Adam L2 in the gradient)
    textbook_momentum: bool = False       # v ← μv - γg, θ ← θ + v (no dampening)
    root: bool = True                     # RMSprop divides by √v + ε
    update_sign: int = 1                  # -1: the update added instead of subtracted


# ---- the settings of a problem ------------------------------------------------

def setting(given, name):
    value = getattr(given, name)
    return DEFAULTS[given.rule][name] if value is None else value


def step_count(given) -> int:
    if given.steps is not None:
        return given.steps
    return len(given.grads) if given.grads is not None else (len(given.lr) if isinstance(given.lr, tuple) else 1)


def is_symbolic(value) -> bool:
    return not isinstance(value, (int, float, Fraction, bool, np.integer, np.floating))


def given_cells(given) -> list:
    cells = [c for v in given.params.values for c in v.flat]
    for name in ("lr", "momentum", "dampening", "alpha", "betas", "eps", "weight_decay"):
        value = getattr(given, name)
        cells += list(value) if isinstance(value, tuple) else [] if value is None else [value]
    for step in given.grads or ():
        cells += [c for v in step.values for c in v.flat]
    return cells


def symbolic(given) -> bool:
    return any(is_symbolic(c) for c in given_cells(given))


def exact_rule(given) -> bool:
    return given.rule in SGD_RULES


def convert(given):
    """The function that turns a given number into the one the rule computes with: a rational as
    written (0.1 is 1/10) for SGD, a sympy number where there are symbols, a float for the adaptive rules."""
    if symbolic(given):
        import sympy
        return lambda x: x if is_symbolic(x) else sympy.Rational(str(x)) if isinstance(x, float) else sympy.Integer(x)
    if exact_rule(given):
        return as_written
    return float


def as_written(x):
    """A given number exactly as the file writes it (0.1 is 1/10); a rational stays as it is."""
    return x if isinstance(x, Fraction) else written_number(x)


# ---- the objective -----------------------------------------------------------

@lru_cache(maxsize=64)
def read_objective(formula: str, names: tuple):
    """(f, {name: ∂f/∂name}) as sympy expressions, the parameters real symbols."""
    import sympy
    from ...answers.grammar import parse_expression
    symbols = [real_symbol(n) for n in names]
    try:
        f = parse_expression(formula, symbols)
    except InvalidAnswer as error:
        raise FieldError("objective", f"could not be read as a formula: {error}") from None
    unknown = sorted(str(s) for s in f.free_symbols if s not in symbols)
    if unknown:
        raise FieldError("objective", f"uses {', '.join(unknown)}, which {'is' if len(unknown) == 1 else 'are'} "
                                      f"not a parameter; the parameters are {', '.join(names)}")
    for atom in f.atoms(sympy.Function):
        if type(atom).__name__ in UNDIFFERENTIABLE:
            raise FieldError("objective", f"uses {atom}, which is piecewise constant: it has no gradient to "
                                          "step along (give `grads` instead)")
    return f, {n: sympy.diff(f, s) for n, s in zip(names, symbols)}


def kinks(f, point: dict) -> str | None:
    """Where f is not differentiable at `point` ({symbol: value}): a sentence, or None."""
    import sympy
    for atom in sorted(f.atoms(sympy.Abs), key=str):
        inside = atom.args[0]
        at = inside.subs(point)
        if at.free_symbols:
            return (f"|{inside}| has a kink where {inside} = 0, and with symbols it cannot be told whether a "
                    "step lands there; give numbers")
        if at == 0:
            return (f"|{inside}| has a kink there ({inside} = 0): its subgradients are every value from -1 to 1 "
                    f"times the derivative of {inside}, and PyTorch's autograd would take 0 (the sign of 0); "
                    "give `grads` to choose one")
    for atom in sorted(f.atoms(sympy.Max, sympy.Min), key=str):
        values = [a.subs(point) for a in atom.args]
        if any(v.free_symbols for v in values):
            return f"{atom} has a kink where its arguments are equal; with symbols give numbers"
        best = (max if isinstance(atom, sympy.Max) else min)(values)
        if sum(1 for v in values if v == best) > 1:
            return f"{atom} has a kink there: its largest (or smallest) arguments are equal"
    return None


def objective_gradients(given, params: dict, t: int, convert_value) -> dict:
    import sympy
    names = tuple(given.params.names)
    f, derivatives = read_objective(given.objective, names)
    point = {real_symbol(n): sympy_number(params[n].item()) for n in names}
    kink = kinks(f, point)
    where = ", ".join(f"{n} = {sympy_number(params[n].item())}" for n in names)
    if kink:
        raise FieldError("objective", f"is not differentiable at step {t}'s starting point {where}: {kink}")
    found = {}
    for n, d in derivatives.items():
        value = d.subs(point)
        if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or not value.free_symbols and not value.is_real:
            raise FieldError("objective", f"has no finite derivative by {n} at step {t}'s starting point {where} "
                                          f"(∂f/∂{n} = {d})")
        found[n] = np.array(from_sympy(value, convert_value), dtype=object)
    return found


def sympy_number(x):
    import sympy
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    if isinstance(x, float):
        return sympy.Float(x)
    return sympy.Integer(x) if isinstance(x, int) else x


def from_sympy(value, convert_value):
    """A derivative's value as the rule computes: as sympy has it where symbols are given; else a
    rational where it is one and the rule is exact, or a float."""
    import sympy
    if convert_value not in (as_written, float):
        return sympy.expand(value)
    if value.is_Rational and convert_value is as_written:
        return as_written(Fraction(int(value.p), int(value.q)))
    return float(value)


# ---- computing -----------------------------------------------------------------

@dataclass
class Update:
    """One parameter's update at step t."""
    before: Any                  # θ_{t-1}
    gradient: Any                # ∇f(θ_{t-1}), as given or derived
    grad: Any                    # g_t: maximize and weight decay applied
    state: dict                  # PyTorch's state after the step
    after: Any                   # θ_t
    extra: dict = field(default_factory=dict)     # Adam's m̂ and v̂


def decoupled(given, rules: Rules) -> bool:
    return given.rule == "adamw" if rules.decoupled is None else rules.decoupled and given.rule in ("adam", "adamw")


def lr_at(given, t: int, num):
    lr = setting(given, "lr")
    return num(lr[t - 1] if isinstance(lr, tuple) else lr)


def elementwise(f, x):
    out = np.empty(np.shape(x), dtype=object)
    for index, v in np.ndenumerate(np.asarray(x, dtype=object)):
        out[index] = f(v)
    return out


def root(x):
    return elementwise(lambda v: math.sqrt(v) if v >= 0 else math.nan, x)


def trajectory(given, rules: Rules = Rules()) -> list[dict[str, Update]]:
    """Each step's updates, parameter by parameter."""
    num = convert(given)
    params = {n: elementwise(num, v) for n, v in given.params.items()}
    state = {n: {} for n in params}
    wd, maximize = num(setting(given, "weight_decay")), given.maximize
    mu = num(setting(given, "momentum")) if "momentum" in DEFAULTS[given.rule] else 0
    steps = []
    for t in range(1, step_count(given) + 1):
        lr = lr_at(given, t, num)
        if given.objective is not None:
            gradients = objective_gradients(given, params, t, num)
        else:
            gradients = {n: elementwise(num, v) for n, v in given.grads[t - 1].items()}
        updates = {}
        for n, p in params.items():
            g = -gradients[n] if maximize else gradients[n]
            if wd != 0 and not decoupled(given, rules):
                g = g + wd * p
            update = Update(p, gradients[n], g, {}, None)
            if given.rule in SGD_RULES:
                after = sgd_step(given, rules, update, state[n], t, lr, mu, num)
            elif given.rule == "rmsprop":
                after = rmsprop_step(given, rules, update, state[n], lr, mu, num)
            elif given.rule == "adagrad":
                after = adagrad_step(given, rules, update, state[n], lr, num)
            else:
                after = adam_step(given, rules, update, state[n], t, lr, wd, num)
            update.grad = elementwise(tidy, update.grad)
            update.after = elementwise(tidy, after)
            state[n] = {k: elementwise(tidy, v) for k, v in state[n].items()}
            update.state = dict(state[n])
            updates[n] = update
        for n, update in updates.items():
            params[n] = update.after
            if not all(is_symbolic(v) or math.isfinite(v) for v in update.after.flat):
                raise ValueError("the steps diverge")
        steps.append(updates)
    return steps


def tidy(x):
    """Whole rationals as ints, a rational too long to show exactly as a float (an objective's
    powers make the digits grow with every step); formulas expanded, and refused past a size a
    student could write."""
    if isinstance(x, Fraction) and x.denominator == 1:
        x = x.numerator
    if isinstance(x, (int, Fraction)) and not isinstance(x, bool):
        return float(x) if max(abs(Fraction(x).numerator), Fraction(x).denominator) > MAX_EXACT else x
    if is_symbolic(x):
        import sympy
        x = sympy.expand(x)
        if len(str(x)) > MAX_FORMULA:
            raise FieldError("steps", f"make formulas of more than {MAX_FORMULA} characters with these symbols; "
                                      "take fewer steps or give numbers")
    return x


def sgd_step(given, rules, u: Update, state, t, lr, mu, num):
    p, g, sign = u.before, u.grad, rules.update_sign
    if mu == 0:
        return p - sign * lr * g
    tau = num(setting(given, "dampening"))
    if rules.textbook_momentum:
        state["momentum_buffer"] = mu * state.get("momentum_buffer", 0 * g) - lr * g
        return p + sign * state["momentum_buffer"]
    state["momentum_buffer"] = g if t == 1 else mu * state["momentum_buffer"] + (1 - tau) * g
    direction = g + mu * state["momentum_buffer"] if given.rule == "nesterov" else state["momentum_buffer"]
    return p - sign * lr * direction


def denominator(rules, v, eps, scale=1.0):
    """√(v/scale) + ε as PyTorch adds it; the mistakes' √(v/scale + ε) and v + ε."""
    if not rules.root:
        return v / scale + eps
    if rules.eps_inside_root:
        return root(v / scale + eps)
    return root(v) / math.sqrt(scale) + eps


def rmsprop_step(given, rules, u: Update, state, lr, mu, num):
    alpha, eps, g = num(setting(given, "alpha")), num(setting(given, "eps")), u.grad
    state["square_avg"] = alpha * state.get("square_avg", 0 * g) + (1 - alpha) * g * g
    avg = denominator(rules, state["square_avg"], eps)
    if mu > 0:
        state["momentum_buffer"] = mu * state.get("momentum_buffer", 0 * g) + g / avg
        return u.before - rules.update_sign * lr * state["momentum_buffer"]
    return u.before - rules.update_sign * lr * g / avg


def adagrad_step(given, rules, u: Update, state, lr, num):
    eps, g = num(setting(given, "eps")), u.grad
    state["sum"] = state.get("sum", 0 * g) + g * g
    return u.before - rules.update_sign * lr * g / denominator(rules, state["sum"], eps)


def adam_step(given, rules, u: Update, state, t, lr, wd, num):
    beta1, beta2 = (num(b) for b in setting(given, "betas"))
    eps, g, p = num(setting(given, "eps")), u.grad, u.before
    if wd != 0 and decoupled(given, rules):
        p = p * (1 - lr * wd)
    state["exp_avg"] = beta1 * state.get("exp_avg", 0 * g) + (1 - beta1) * g
    state["exp_avg_sq"] = beta2 * state.get("exp_avg_sq", 0 * g) + (1 - beta2) * g * g
    corrections = (1 - beta1 ** t, 1 - beta2 ** t) if rules.bias_correction else (1, 1)
    u.extra["m_hat"] = state["exp_avg"] / corrections[0]
    u.extra["v_hat"] = state["exp_avg_sq"] / corrections[1]
    step = lr / corrections[0]
    return p - rules.update_sign * step * state["exp_avg"] / denominator(rules, state["exp_avg_sq"], eps,
                                                                           corrections[1])


# ---- answers -----------------------------------------------------------------------

def answer_name(given, name: str, state: str | None = None, t: int | None = None) -> str:
    """params[2], w[2], exp_avg[2], exp_avg_w[2]; params, w after the last step."""
    base = name if state is None else state if not given.params.named else f"{state}_{name}"
    return base if t is None else f"{base}[{t}]"


def answer_of(name: str, value, label: str, detail: bool) -> Answer:
    value = np.asarray(value, dtype=object)
    if value.ndim:
        return Answer(name, "matrix", elementwise(plain, value), label, detail, decimal=True)
    x = plain(value.item())
    kind = "expression" if is_symbolic(x) else "real" if isinstance(x, float) else "rational"
    return Answer(name, kind, x, label, detail, decimal=True)


def plain(x):
    """A sympy number without symbols as a Fraction or float; an int for a whole Fraction."""
    if is_symbolic(x) and not x.free_symbols:
        x = Fraction(int(x.p), int(x.q)) if x.is_Rational else float(x)
    return tidy(x) if isinstance(x, Fraction) else x


def letter(given, name: str, base: str) -> str:
    """θ, g, b, ... for one parameter; w, g^(w), b^(w) for parameter w of several."""
    named = given.params.named and name is not None        # None: the rule in general letters
    if base == "theta":
        return name if named else written("theta")
    return at_layer(base, name) if named else written(base)


# ---- the kind --------------------------------------------------------------------

SETTINGS_IGNORED = [          # before update_sign_flipped: `maximize` ignored gives its numbers, with a better reason
    Change("maximize_ignored", "`maximize` was ignored: with maximize the step goes up the objective, the "
                               "gradient negated before anything else uses it.", given=lambda g: {"maximize": False},
           applies=lambda g: g.maximize),
    Change("weight_decay_forgotten", "The weight decay was left out: weight_decay λ adds λθ to the gradient (AdamW: "
                                     "shrinks θ by γλθ) at every step.", given=lambda g: {"weight_decay": 0},
           applies=lambda g: setting(g, "weight_decay") != 0),
    Change("nesterov_as_momentum", "Nesterov's step was taken as plain momentum: with nesterov the step uses "
                                   "g + μb, the gradient plus the momentum buffer, not the buffer b alone.",
           given=lambda g: {"rule": "momentum"}, applies=lambda g: g.rule == "nesterov" and setting(g, "momentum") != 0),
]

OWN_MISTAKES = [
    Change("adam_without_bias_correction", "The bias correction is missing: Adam divides m_t by 1 - β₁^t and v_t by "
                                           "1 - β₂^t (PyTorch folds them into the step size and the denominator), "
                                           "since both averages start at 0.",
           rules={"bias_correction": False}, applies=lambda g: g.rule in ("adam", "adamw")),
    Change("eps_inside_root", "ε was put under the square root: PyTorch adds it to the root, √v + ε "
                              "(for Adam √v̂ + ε), not √(v + ε).",
           rules={"eps_inside_root": True},
           applies=lambda g: g.rule in ("rmsprop", "adagrad", "adam", "adamw") and setting(g, "eps") != 0),
    Change("weight_decay_as_l2", "Weight decay was added to the gradient (L2, as Adam does): AdamW decouples it, "
                                 "shrinking the parameter by 1 - γλ before the Adam step, so it never enters m "
                                 "and v.",
           rules={"decoupled": False}, applies=lambda g: g.rule == "adamw" and setting(g, "weight_decay") != 0),
    Change("weight_decay_decoupled", "Weight decay was decoupled as in AdamW: Adam's weight_decay adds λθ to the "
                                     "gradient (L2), so it goes through m and v.",
           rules={"decoupled": True}, applies=lambda g: g.rule == "adam" and setting(g, "weight_decay") != 0),
    Change("textbook_momentum", "The textbook momentum v ← μv - γg, θ ← θ + v was used: PyTorch keeps "
                                "b ← μb + (1 - τ)g (b₁ = g₁) and steps θ ← θ - γb, which differ when there is "
                                "dampening or the learning rate changes.",
           rules={"textbook_momentum": True},
           applies=lambda g: g.rule in ("sgd", "momentum") and momentum_differs(g)),
    Change("rmsprop_without_root", "The square root is missing: RMSprop divides the gradient by √v + ε, the root "
                                   "of the running mean of squared gradients.",
           rules={"root": False}, applies=lambda g: g.rule == "rmsprop"),
]


def momentum_differs(given) -> bool:
    lr = setting(given, "lr")
    return (setting(given, "momentum") != 0
            and (setting(given, "dampening") != 0 or isinstance(lr, tuple) and len(set(lr)) > 1))


class Optimizer(Kind):
    name = "optimizer"
    summary = "steps of torch.optim's SGD (momentum, Nesterov), RMSprop, Adagrad, Adam and AdamW"
    answers = {
        "params[i]": "the parameters after step i (w[i] for a parameter named w)",
        "params": "the parameters after the last step (w for a parameter named w)",
        "momentum_buffer[i]": "SGD's (and RMSprop's, with momentum) momentum buffer after step i",
        "exp_avg[i]": "Adam's first moment m after step i",
        "exp_avg_sq[i]": "Adam's second moment v after step i",
        "square_avg[i]": "RMSprop's running mean of squared gradients after step i",
        "sum[i]": "Adagrad's sum of squared gradients after step i",
        "w[i], w, exp_avg_w[i], ...": "the same per parameter where `params` names several ({w: ..., b: ...})",
    }
    vary = {}
    Given, Rules = Given, Rules
    mistakes = [*SETTINGS_IGNORED, "update_sign_flipped", *OWN_MISTAKES]

    def validate(self, given) -> None:
        rule = given.rule
        takes = DEFAULTS[rule]
        for name in ("lr", "momentum", "dampening", "alpha", "betas", "eps", "weight_decay"):
            if getattr(given, name) is not None and name not in takes:
                raise FieldError(name, f"is not a setting of rule {rule} (torch.optim.{TORCH[rule]}); it takes "
                                       f"{', '.join(takes)} and maximize")
        if (given.grads is None) == (given.objective is None):
            problem = "and `objective` are both given" if given.grads is not None else "is missing, and so is `objective`"
            raise FieldError("grads", f"{problem}: "
                                      "give one of them, the gradient of each step as a list, or the loss as a "
                                      "formula in the parameters")
        steps = step_count(given)
        if steps > MAX_STEPS:
            raise FieldError("steps", f"must be at most {MAX_STEPS}; got {steps}")
        if steps > MAX_SYMBOLIC_STEPS and symbolic(given):
            raise FieldError("steps", f"must be at most {MAX_SYMBOLIC_STEPS} where a given is a symbol (the "
                                      f"answers are formulas that grow with every step); got {steps}")
        if given.grads is not None and len(given.grads) != steps:
            raise FieldError("grads", f"has {len(given.grads)} gradient(s); `steps` is {steps}, and each step "
                                      "takes one")
        lr = setting(given, "lr")
        if isinstance(lr, tuple) and len(lr) != steps:
            raise FieldError("lr", f"has {len(lr)} learning rates; there are {steps} steps, one each")
        self.validate_settings(given)
        self.validate_tensors(given, steps)
        if given.objective is not None:
            read_objective(given.objective, tuple(given.params.names))
        try:
            trajectory(given)
        except ZeroDivisionError:
            raise FieldError("eps", "is 0 and a squared gradient is 0, so a step divides by zero; give ε > 0 "
                                    "(PyTorch's default is tiny but positive)") from None
        except (ValueError, OverflowError):
            raise FieldError("lr", "makes the steps diverge: the parameters grow past the range of floating-point "
                                   "numbers; give a smaller learning rate or fewer steps") from None

    def validate_settings(self, given) -> None:
        rule = given.rule
        numbers = {name: setting(given, name) for name in DEFAULTS[rule]}
        lr = numbers["lr"]
        for value in lr if isinstance(lr, tuple) else (lr,):
            if not is_symbolic(value) and value < 0:
                raise FieldError("lr", f"must be >= 0, as torch.optim requires; got {value}")
        for name in ("momentum", "eps", "weight_decay", "alpha"):
            value = numbers.get(name)
            if value is not None and not is_symbolic(value) and value < 0:
                raise FieldError(name, f"must be >= 0 ({SETTING_TEXT[name]}); got {value}")
        if "dampening" in numbers and not is_symbolic(numbers["dampening"]) and not 0 <= numbers["dampening"] <= 1:
            raise FieldError("dampening", f"must be between 0 and 1; got {numbers['dampening']}")
        if "betas" in numbers:
            for i, beta in enumerate(numbers["betas"]):
                if is_symbolic(beta) or not 0 <= beta < 1:
                    raise FieldError("betas", f"β{'₁₂'[i]} must be a number in [0, 1), as torch.optim.Adam "
                                              f"requires; got {beta}")
        mu = numbers.get("momentum")
        if rule in ("momentum", "nesterov") and not is_symbolic(mu) and mu <= 0:
            raise FieldError("momentum", f"is needed for rule {rule}: μ > 0 (SGD's momentum, whose default is 0)")
        if rule == "nesterov" and numbers["dampening"] != 0:
            raise FieldError("dampening", "must be 0 with Nesterov momentum, as torch.optim.SGD requires")
        if rule == "sgd" and not is_symbolic(mu) and mu == 0 and given.dampening not in (None, 0):
            raise FieldError("dampening", "only acts with momentum: give `momentum` (μ > 0) too")
        if symbolic(given) and rule not in SGD_RULES:
            raise FieldError("rule", f"{rule} divides by square roots: symbols are taken by sgd, momentum and "
                                     "nesterov only; give numbers")

    def validate_tensors(self, given, steps) -> None:
        params = given.params
        if symbolic(given) and any(np.ndim(v) for v in params.values):
            raise FieldError("params", "must be numbers (one per parameter) where a given is a symbol: the "
                                       "answers are then formulas")
        cells = sum(np.size(v) for v in params.values)
        if cells * steps * 4 > MAX_COMPUTED_CELLS:
            raise FieldError("steps", f"makes {cells * steps * 4:,} values to compute; at most "
                                      f"{MAX_COMPUTED_CELLS:,} are supported")
        for t, step in enumerate(given.grads or (), 1):
            if step.named != params.named or set(step.names) != set(params.names):
                expected = ("a mapping from each of " + ", ".join(params.names) + " to its gradient"
                            if params.named else "a gradient of the parameters' shape (not a mapping)")
                raise FieldError("grads", f"step {t} gives {', '.join(step.names) if step.named else 'one tensor'}; "
                                          f"each step needs {expected}")
            for name, value in params.items():
                if np.shape(step[name]) != np.shape(value):
                    what = f"`{name}`" if params.named else "the parameters"
                    raise FieldError("grads", f"step {t}'s gradient{f' of {name}' if params.named else ''} has "
                                              f"shape {shape_text(np.shape(step[name]))}; {what} have shape "
                                              f"{shape_text(np.shape(value))}, and a gradient has its "
                                              "parameter's shape")
        if given.objective is not None and not params.named:
            raise FieldError("params", "must name the parameters the objective uses, as a mapping such as "
                                       "{w: 1, b: 2}")
        if given.objective is not None and any(np.ndim(v) for v in params.values):
            raise FieldError("objective", "needs numbers as parameters (one number per name, such as "
                                          "{w: 1, b: 2}); give `grads` for vectors and matrices")

    def answer_names(self, given) -> list[str]:
        return list(self.compute(given))

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        steps = trajectory(given, rules)
        answers = {}
        for name in given.params.names:
            last = steps[-1][name]
            answers[answer_name(given, name)] = answer_of(answer_name(given, name), last.after,
                                                          latex(Indexed(letter(given, name, "theta"), [len(steps)])),
                                                          False)
            for t, updates in enumerate(steps, 1):
                update = updates[name]
                key = answer_name(given, name, t=t)
                answers[key] = answer_of(key, update.after, latex(Indexed(letter(given, name, "theta"), [t])), True)
                for state, value in update.state.items():
                    key = answer_name(given, name, state, t)
                    answers[key] = answer_of(key, value,
                                             latex(Indexed(letter(given, name, STATE_LETTER[state]), [t])), True)
        return answers

    def derive(self, given, answers):
        return derivation(given, trajectory(given))


# ---- the derivation -------------------------------------------------------------------

T = quantity("t")
BEFORE = T - 1


def shown(x) -> Any:
    """A value as the derivation shows it: exact decimals where short, floats to 6 figures."""
    x = np.asarray(x, dtype=object)
    if x.ndim:
        return Array(elementwise(plain, x), decimal=True)
    return Number(plain(x.item()), decimal=True)


def as_term(node):
    """A shown value as a later term of a sum: a formula of several terms in brackets (+ (-ηg + w), not + -ηg + w)."""
    if isinstance(node, Number) and is_symbolic(node.x) and node.x.is_Add:
        return Group(node)
    return node


def small(x) -> bool:
    return np.size(x) <= SUBSTITUTED_CELLS


def squared(given, x) -> Power:
    """x², bracketed where x already has a superscript (g^(w)_t)."""
    return Power(Group(x) if given.params.named and isinstance(x, Indexed) else x)


def over(numerator, denominator, tensor: bool):
    """numerator / denominator: a fraction, or inline (a/b) where a vector or matrix is in it
    (a matrix cannot sit inside a fraction in the text printer)."""
    return Slash(numerator, denominator) if tensor else Fraction_(numerator, denominator)


def root_of(label, value, eps, tensor: bool) -> tuple[list, Any]:
    """(lines, the denominator √v + ε as the update shows it): inline for a number; for a vector
    or matrix a line of its own, its entries computed (the text printer cannot put a matrix under a root)."""
    if not tensor:
        return [], Root(value) + eps
    result = elementwise(lambda x: math.sqrt(x) + float(eps.x), value.a)
    return [[Root(label) + quantity("eps"), shown(result)]], shown(result)


def letters(*factors) -> Product:
    """Letters side by side, as the rule is written: μ b_{t-1}, (1 - β_1) g_t."""
    return Product(list(factors))


def times(*factors) -> Product:
    return Product(list(factors), dot=True)


def of(given, name, base, index) -> Indexed:
    return Indexed(letter(given, name, base), [index])


def gradient_symbol(given, name, index=BEFORE):
    """∇f(θ_{t-1}) for one parameter; ∂f/∂w for parameter w of several."""
    if given.params.named and name is not None:
        return Partial(quantity("f"), quantity(name))
    return Apply(quantity("nabla_f"), of(given, name, "theta", index))


def given_gradient(given, name, index):
    """The gradient given for the step from θ_index: ∇f(θ_index), or ∂f/∂w(w_index) for parameter w of several."""
    if given.params.named:
        return Apply(Partial(quantity("f"), quantity(name)), of(given, name, "theta", index))
    return gradient_symbol(given, name, index)


def gradient_formula(given, name, rules_taken: dict, index=BEFORE):
    """g_t in letters: -∇f(θ_{t-1}) with maximize, + λθ_{t-1} with weight decay as L2."""
    term = gradient_symbol(given, name, index)
    term = Negative(term) if given.maximize else term
    if rules_taken["l2"]:
        return Sum([term, Product([quantity("lambda"), of(given, name, "theta", index)])])
    return term


def settings_of(given) -> dict:
    return {name: setting(given, name) for name in DEFAULTS[given.rule]}


def l2(given) -> bool:
    return setting(given, "weight_decay") != 0 and not decoupled(given, Rules())


def rule_lines(given, name) -> list[list]:
    """The rule in letters, for one parameter."""
    rule, g = given.rule, of(given, name, "g", T)
    gamma = Indexed(written("gamma"), [T]) if isinstance(setting(given, "lr"), tuple) else quantity("gamma")
    theta, before = of(given, name, "theta", T), of(given, name, "theta", BEFORE)
    lines = [[g, gradient_formula(given, name, {"l2": l2(given)})]]
    mu = setting(given, "momentum") if "momentum" in DEFAULTS[rule] else 0
    if rule in SGD_RULES:
        if mu == 0:
            return lines + [[theta, before - letters(gamma, g)]]
        b, b_before = of(given, name, "b", T), of(given, name, "b", BEFORE)
        lines.append([b, letters(quantity("mu"), b_before) + damped(given, g)])
        step = Group(g + letters(quantity("mu"), b)) if rule == "nesterov" else b
        return lines + [[theta, before - letters(gamma, step)]]
    if rule == "rmsprop":
        v, v_before = of(given, name, "v", T), of(given, name, "v", BEFORE)
        lines.append([v, letters(quantity("alpha"), v_before) + letters(Group(1 - quantity("alpha")), squared(given, g))])
        ratio = Fraction_(g, Root(v) + quantity("eps"))
        if mu == 0:
            return lines + [[theta, before - letters(gamma, ratio)]]
        b, b_before = of(given, name, "b", T), of(given, name, "b", BEFORE)
        return lines + [[b, letters(quantity("mu"), b_before) + ratio], [theta, before - letters(gamma, b)]]
    if rule == "adagrad":
        s_, s_before = of(given, name, "s", T), of(given, name, "s", BEFORE)
        return lines + [[s_, s_before + squared(given, g)],
                        [theta, before - letters(gamma, Fraction_(g, Root(s_) + quantity("eps")))]]
    m, v = of(given, name, "m", T), of(given, name, "v", T)
    m_hat, v_hat = of(given, name, "m_hat", T), of(given, name, "v_hat", T)
    lines += [[m, letters(quantity("beta_1"), of(given, name, "m", BEFORE))
               + letters(Group(1 - quantity("beta_1")), g)],
              [v, letters(quantity("beta_2"), of(given, name, "v", BEFORE))
               + letters(Group(1 - quantity("beta_2")), squared(given, g))],
              [m_hat, Fraction_(m, 1 - Power(quantity("beta_1"), T))],
              [v_hat, Fraction_(v, 1 - Power(quantity("beta_2"), T))]]
    start = letters(before, Group(1 - letters(gamma, quantity("lambda")))) if adamw_decays(given) else before
    return lines + [[theta, start - letters(gamma, Fraction_(m_hat, Root(v_hat) + quantity("eps")))]]


def adamw_decays(given) -> bool:
    return setting(given, "weight_decay") != 0 and decoupled(given, Rules())


def damped(given, g):
    tau = setting(given, "dampening")
    return g if tau == 0 else letters(Group(1 - quantity("tau")), g)


SYMBOL_OF = {"lr": "gamma", "momentum": "mu", "dampening": "tau", "weight_decay": "lambda", "alpha": "alpha",
             "eps": "eps"}


def settings_text(given) -> str:
    parts = []
    for name, value in settings_of(given).items():
        if name != "lr" and not isinstance(value, tuple) and not is_symbolic(value) and value == 0:
            continue
        if name == "betas":
            parts += [f"${latex(quantity('beta_1'))} = {latex(shown(value[0]))}$",
                      f"${latex(quantity('beta_2'))} = {latex(shown(value[1]))}$"]
        elif isinstance(value, tuple):
            parts.append(f"${latex(Indexed(written('gamma'), [T]))}$ = " + ", ".join(f"${latex(shown(v))}$"
                                                                                   for v in value)
                         + " in steps 1 to " + str(len(value)))
        else:
            parts.append(f"${latex(quantity(SYMBOL_OF[name]))} = {latex(shown(value))}$")
    return ", ".join(parts)


def rule_text(given) -> str:
    rule = given.rule
    torch_name = f"torch.optim.{TORCH[rule]}"
    mu = setting(given, "momentum") if "momentum" in DEFAULTS[rule] else 0
    grad = "its gradient" + (" negated (maximize: PyTorch negates the gradient first, then steps down)"
                             if given.maximize else "")
    parts = [f"As {torch_name} computes it, with {settings_text(given)}. Each step t (counted from 1) takes "
             f"{grad}"]
    if l2(given):
        parts.append(" and adds the weight decay λθ to it (L2)")
    if adamw_decays(given):
        parts.append("; AdamW's weight decay is decoupled: θ is shrunk by the factor 1 - γλ, and the decay never "
                     "enters m and v")
    parts.append(".")
    if rule in SGD_RULES and mu != 0:
        parts.append(f" The momentum buffer starts as the first gradient, ${latex(of(given, None, 'b', 1))}"
                     f" = {latex(of(given, None, 'g', 1))}$ (no dampening in step 1)"
                     + ("; Nesterov steps along the gradient plus μ times the new buffer" if rule == "nesterov" else "")
                     + ".")
    if rule in ("rmsprop", "adagrad", "adam", "adamw"):
        parts.append(" The running averages start at 0; squares, roots and quotients are taken entry by entry, "
                     "and ε is added to the root, outside it"
                     + (" (centered=False)" if rule == "rmsprop" else "")
                     + (" (lr_decay=0, initial_accumulator_value=0)" if rule == "adagrad" else "")
                     + ".")
    if rule in ("adam", "adamw"):
        parts.append(f" The bias corrections ${latex(1 - Power(quantity('beta_1'), T))}$ and "
                     f"${latex(1 - Power(quantity('beta_2'), T))}$ make up for the averages' start at 0.")
    if given.params.named:
        names = given.params.names
        first = names[0]
        each = f"each parameter ({', '.join(names)}), which has its own gradient and state" if len(names) > 1 \
            else f"the parameter {first}"
        parts.append(f" In the rule θ stands for {each}; below they carry its name, "
                     f"${latex(of(given, first, 'g', T))}$ for ${latex(quantity(first))}$.")
    return "".join(parts)


def derivation(given, steps) -> list[Step]:
    names = given.params.names
    out = [Step("Rule", rule_text(given), rule_lines(given, None))]
    if given.objective is not None:
        out.append(objective_step(given))
    count = len(steps)
    shown_steps = list(range(1, count + 1)) if count <= STEPS_SHOWN else \
        list(range(1, STEPS_SHOWN - 1)) + [count - 1, count]
    for t in shown_steps:
        if count > STEPS_SHOWN and t == count - 1:
            out.append(Step(f"Steps {STEPS_SHOWN - 1} to {count - 2}",
                            "These steps follow the same rule; their values are among the answers."))
        out.append(Step(f"Step {t}", step_text(given, steps, t),
                        [line for name in names for line in step_lines(given, steps, t, name)]))
    return out


def objective_step(given) -> Step:
    f, derivatives = read_objective(given.objective, tuple(given.params.names))
    text = (f"The loss is $f = {latex(Number(f))}$; its partial derivatives, evaluated at the parameters "
            "before each step:")
    return Step("Gradient", text, [[Partial(quantity("f"), quantity(n)), Number(d)] for n, d in derivatives.items()])


def step_text(given, steps, t) -> str:
    before = ", ".join(f"${latex(of(given, n, 'theta', t - 1))} = {latex(shown(u.before))}$"
                       for n, u in steps[t - 1].items())
    text = f"From {before}"
    if given.objective is None:
        text += ", with the gradient given for this step"
    return text + ":"


def step_lines(given, steps, t, name) -> list[list]:
    u = steps[t - 1][name]
    rule, lines = given.rule, []
    g = of(given, name, "g", t)
    theta = of(given, name, "theta", t)
    num = convert(given)
    settings = {k: (tuple(num(x) for x in v) if isinstance(v, tuple) else num(v))
                for k, v in settings_of(given).items()}
    lr = lr_at(given, t, num)
    wide, tensor = not small(u.before), bool(np.ndim(u.before))

    def line(label, *members):
        """label = the numbers substituted = the result; a wide tensor's substitution is left out."""
        members = [m for m in members if m is not None]
        return [label] + (members[-1:] if wide else members)

    raw = gradient_symbol(given, name, t - 1)
    if given.maximize or l2(given):
        term = Negative(shown(u.gradient)) if given.maximize else shown(u.gradient)
        if l2(given):
            term = Sum([term, times(shown(settings["weight_decay"]), shown(u.before))])
        lines += [[raw, shown(u.gradient)], line(g, term, shown(u.grad))]
    else:
        lines.append([g, raw, shown(u.grad)])
    mu = settings.get("momentum", 0)

    def state(key, when):
        """The state `key` after step `when`, as shown."""
        return shown(steps[when - 1][name].state[key])
    if rule in SGD_RULES:
        if mu == 0:
            return lines + [line(theta, shown(u.before) - times(shown(lr), shown(u.grad)), shown(u.after))]
        b = of(given, name, "b", t)
        if t == 1:
            lines.append([b, g, shown(u.state["momentum_buffer"])])
        else:
            tau = settings["dampening"]
            new = as_term(shown(u.grad)) if tau == 0 else times(shown(1 - tau), shown(u.grad))
            lines.append(line(b, times(shown(mu), state("momentum_buffer", t - 1)) + new,
                              shown(u.state["momentum_buffer"])))
        buffer = shown(u.state["momentum_buffer"])
        step = Group(shown(u.grad) + times(shown(mu), buffer)) if rule == "nesterov" else buffer
        return lines + [line(theta, shown(u.before) - times(shown(lr), step), shown(u.after))]
    eps = shown(settings["eps"])
    if rule in ("rmsprop", "adagrad"):
        key, base = ("square_avg", "v") if rule == "rmsprop" else ("sum", "s")
        avg = of(given, name, base, t)
        if rule == "rmsprop":
            alpha = settings["alpha"]
            grown = times(shown(1 - alpha), Power(shown(u.grad)))
            new = grown if t == 1 else times(shown(alpha), state(key, t - 1)) + grown
        else:
            new = Power(shown(u.grad)) if t == 1 else state(key, t - 1) + Power(shown(u.grad))
        lines.append(line(avg, new, shown(u.state[key])))
        root_line, denominator_shown = root_of(of(given, name, base, t), shown(u.state[key]), eps, tensor)
        lines += root_line
        ratio = over(shown(u.grad), denominator_shown, tensor)
        if rule == "rmsprop" and mu > 0:
            b = of(given, name, "b", t)
            lines.append(line(b, (times(shown(mu), state("momentum_buffer", t - 1)) + ratio) if t > 1 else ratio,
                              shown(u.state["momentum_buffer"])))
            return lines + [line(theta, shown(u.before) - times(shown(lr), shown(u.state["momentum_buffer"])),
                                 shown(u.after))]
        return lines + [line(theta, shown(u.before) - times(shown(lr), ratio), shown(u.after))]
    beta1, beta2 = settings["betas"]
    m_new = times(shown(1 - beta1), shown(u.grad))
    v_new = times(shown(1 - beta2), Power(shown(u.grad)))
    lines += [line(of(given, name, "m", t), m_new if t == 1 else times(shown(beta1), state("exp_avg", t - 1))
                   + m_new, shown(u.state["exp_avg"])),
              line(of(given, name, "v", t), v_new if t == 1 else times(shown(beta2), state("exp_avg_sq", t - 1))
                   + v_new, shown(u.state["exp_avg_sq"])),
              line(of(given, name, "m_hat", t), over(shown(u.state["exp_avg"]), 1 - Power(shown(beta1), t), tensor),
                   shown(u.extra["m_hat"])),
              line(of(given, name, "v_hat", t), over(shown(u.state["exp_avg_sq"]), 1 - Power(shown(beta2), t), tensor),
                   shown(u.extra["v_hat"]))]
    start = shown(u.before)
    if adamw_decays(given):
        start = times(start, Group(1 - times(shown(lr), shown(settings["weight_decay"]))))
    root_line, denominator_shown = root_of(of(given, name, "v_hat", t), shown(u.extra["v_hat"]), eps, tensor)
    lines += root_line
    update = over(shown(u.extra["m_hat"]), denominator_shown, tensor)
    return lines + [line(theta, start - times(shown(lr), update), shown(u.after))]


KIND = Optimizer()
