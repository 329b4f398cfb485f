"""regularization: an L2, L1 or elastic-net penalty on named weights, its gradient and one SGD step.

The loss is L = L_data + R with R summed over every tensor that is not a bias:
L2 R = λ‖w‖₂² (halved: λ/2 ‖w‖₂², whose gradient λw is what `weight_decay` adds in
torch.optim), L1 R = λ‖w‖₁, elastic R = λ(ρ‖w‖₁ + (1 - ρ)‖w‖₂²) with ρ = `l1_ratio`
(halved: (1 - ρ)/2 ‖w‖₂², scikit-learn's ElasticNet). The gradient of |w| is sign(w), 0 at 0
as torch.sign and autograd take it. The step is plain SGD: w' = w - γ ∂L/∂w. Every value is
exact (0.1 is 1/10).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ...core.errors import FieldError
from ...core.fields import IDENTIFIER, array, boolean, choice, given_field, names, number, optional, shape_text
from ...core.model import Answer, Step
from ...math.nodes import (Apply, Array, ElidedSum, Fraction_, Group, Norm, Number, Partial, Power, Product, Sum,
                           Symbol)
from ...math.notation import after_update, quantity
from ...math.printing import latex
from ..base import Kind
from ..common import written
from ..mistakes import Change, Places

PENALTIES = ("l2", "l1", "elastic")
DEFAULT_L1_RATIO = Fraction(1, 2)
TENSOR = array((0, 1, 2, 3, 4), "a number, a vector, a matrix or a tensor of numbers (up to 4 axes)")


def named_tensors(name, value):
    """{name: tensor}: a mapping from each tensor's name (W, b, w_1) to a number or nested list of numbers."""
    if not isinstance(value, dict) or not value:
        raise FieldError(name, "must be a mapping from each tensor's name to its values, such as "
                               f"{{W: [[1, -2], [0.5, 3]], b: [0.1, 0]}}; got {value!r}")
    for key in value:
        if not isinstance(key, str) or not IDENTIFIER.match(key):
            raise FieldError(name, f"names its tensors with letters, digits and one `_` subscript (W, b, w_1); "
                                   f"got {key!r}")
    return {key: TENSOR(f"{name}.{key}", item) for key, item in value.items()}


@dataclass(frozen=True, kw_only=True)
class Given:
    weights: dict = given_field(named_tensors, doc="the parameters by name, {W: [[...]], b: [...]}: numbers, "
                                                   "vectors or matrices")
    biases: tuple = given_field(names("a list of the names of the tensors that are biases"), (), "the names of the tensors that are biases: not regularized "
                                           "(default: none)")
    kind: str = given_field(choice(*PENALTIES), "l2", "the penalty: l2 (default), l1 or elastic")
    lambda_: Any = given_field(number, doc="the regularization strength λ >= 0", key="lambda")
    halved: bool = given_field(boolean, False, "false (default): λ‖w‖₂²; true: λ/2 ‖w‖₂², whose gradient λw "
                                               "is torch.optim's weight_decay (l2 and elastic)")
    l1_ratio: Any = given_field(optional(number), None, "elastic's ρ in [0, 1]: R = λ(ρ‖w‖₁ + (1 - ρ)‖w‖₂²) "
                                                        "(default 0.5)")
    data_grad: dict = given_field(named_tensors, doc="the data loss's gradient ∂L_data/∂w, one per tensor of "
                                                     "`weights`, in its shape")
    lr: Any = given_field(number, doc="the learning rate γ >= 0 of the SGD step")

    def shown_arrays(self) -> list[tuple[str, np.ndarray]]:
        """What a sheet prints of the given: each tensor, then its data gradient."""
        return ([(latex(tensor(n)), w) for n, w in self.weights.items()]
                + [(latex(data_gradient(n)), g) for n, g in self.data_grad.items()])


@dataclass(frozen=True)
class Rules:
    """The conventions (PyTorch's where it has one); each mistake changes one."""
    regularize_biases: bool = False      # True: the biases penalised too
    sign_at_zero: int = 0                # torch.sign(0) = 0; ±1: the subgradient at 0 taken as 1 or -1
    decay_after_step: bool = False       # True: the penalty's gradient taken at the weights after the data step


# ---- the numbers ------------------------------------------------------------------------

def exact(values) -> np.ndarray:
    return np.vectorize(written, otypes=[object])(values)


def whole(x):
    """A whole Fraction as an int, so 2 shows and compares as 2."""
    return x.numerator if isinstance(x, Fraction) and x.denominator == 1 else x


def tidy(values) -> np.ndarray:
    return np.vectorize(whole, otypes=[object])(values)


def sign(values, at_zero: int = 0) -> np.ndarray:
    return np.vectorize(lambda v: 1 if v > 0 else -1 if v < 0 else at_zero, otypes=[object])(values)


def l1_ratio(given):
    """ρ: the share of the L1 norm (1 for l1, 0 for l2, l1_ratio for elastic)."""
    if given.kind == "elastic":
        return DEFAULT_L1_RATIO if given.l1_ratio is None else written(given.l1_ratio)
    return 1 if given.kind == "l1" else 0


def strengths(given) -> tuple:
    """(a, c): R = a‖w‖₁ + c‖w‖₂², so ∂R/∂w = a sign(w) + 2c w."""
    lam, rho = written(given.lambda_), l1_ratio(given)
    return lam * rho, lam * (1 - rho) * (Fraction(1, 2) if given.halved else 1)


def regularized(given, rules: Rules = Rules()) -> list[str]:
    return [n for n in given.weights if rules.regularize_biases or n not in given.biases]


def penalty_gradient(given, rules: Rules, w: np.ndarray) -> np.ndarray:
    a, c = strengths(given)
    return a * sign(w, rules.sign_at_zero) + 2 * c * w


def computed(given, rules: Rules = Rules()) -> dict:
    """{"penalty": R, name: (∂L/∂w, w')} under `rules`."""
    a, c = strengths(given)
    lr = written(given.lr)
    penalised = regularized(given, rules)
    found = {"penalty": whole(sum((a * sum(abs(v) for v in exact(given.weights[n]).flat)
                                   + c * sum(v * v for v in exact(given.weights[n]).flat) for n in penalised),
                                  Fraction(0)))}
    for n, w in given.weights.items():
        w, data = exact(w), exact(given.data_grad[n])
        grad = data + penalty_gradient(given, rules, w) if n in penalised else data
        if rules.decay_after_step and n in penalised:
            stepped = w - lr * data
            updated = stepped - lr * penalty_gradient(given, rules, stepped)
        else:
            updated = w - lr * grad
        found[n] = (tidy(grad), tidy(updated))
    return found


def answer(name: str, value: np.ndarray, label) -> Answer:
    if value.ndim:
        return Answer(name, "matrix", value, latex(label), decimal=True)
    return Answer(name, "rational", value.item(), latex(label), decimal=True)


# ---- the letters ---------------------------------------------------------------------------

L, L_DATA, R = Symbol("L"), quantity("L_data"), Symbol("R")
LAMBDA, RHO, GAMMA = quantity("lambda"), quantity("rho"), quantity("gamma")
TWO = Number(2)


def tensor(name: str) -> Symbol:
    return quantity(name)


def data_gradient(name: str) -> Partial:
    return Partial(L_DATA, tensor(name))


def updated(name: str) -> Symbol:
    return Symbol(name, after_update(name))


def shown(value) -> Any:
    """A value as the derivation shows it: exact decimals where they are short."""
    value = np.asarray(value, dtype=object)
    return Array(value, decimal=True) if value.ndim else Number(value.item(), decimal=True)


def grouped(node):
    """A sum in brackets where a factor multiplies it."""
    return Group(node) if isinstance(node, Sum) else node


def total(nodes: list):
    """The nodes added up, or the one node."""
    return nodes[0] if len(nodes) == 1 else Sum(nodes)


def times(*factors) -> Product:
    """Factors side by side as letters are written (2λW); spaced where one is more than a letter (λ ‖W‖₁);
    a function with a dot (λ · sign(W), which plain text would run together)."""
    if any(isinstance(f, Apply) for f in factors):
        return Product(list(factors), dot=True)
    return Product(list(factors), spaced=not all(isinstance(f, (Symbol, Number)) for f in factors))


def l2_share(given, rho):
    """The factor of ‖w‖₂² inside λ(...) of the elastic net: 1 - ρ, or (1 - ρ)/2 halved; letters or numbers."""
    if isinstance(rho, Number):
        return Number((1 - rho.x) * (Fraction(1, 2) if given.halved else 1), decimal=True)
    return Fraction_(1 - rho, TWO) if given.halved else Group(1 - rho)


def penalty_formula(given, lam, rho, one_norm, squared_norm):
    """R from its pieces: letters (λ, ρ, ‖W‖₁) or their numbers."""
    if given.kind == "l1":
        return times(lam, grouped(one_norm))
    if given.kind == "l2":
        return times(Fraction_(lam, TWO) if given.halved else lam, grouped(squared_norm))
    return times(lam, Group(Sum([times(rho, grouped(one_norm)), times(l2_share(given, rho), grouped(squared_norm))])))


def gradient_formula(given, data, lam, rho, w, signs):
    """∂L/∂w = ∂L_data/∂w + ∂R/∂w, letters or numbers."""
    if given.kind == "l1":
        return Sum([data, times(lam, signs)])
    if given.kind == "l2":
        return Sum([data, times(lam, w) if given.halved else times(TWO, lam, w)])
    rest = Number(1 - rho.x, decimal=True) if isinstance(rho, Number) else Group(1 - rho)
    l2 = times(rest, w) if given.halved else times(TWO, rest, w)
    return Sum([data, times(lam, Group(Sum([times(rho, signs), l2])))])


def numbers(node, dot=True):
    """A product of numbers written with dots (2 · 0.1 · W), not side by side."""
    if isinstance(node, Product):
        return Product([numbers(f) for f in node.factors], dot=dot)
    if isinstance(node, Sum):
        return Sum([numbers(t) for t in node.terms])
    if isinstance(node, Group):
        return Group(numbers(node.inner))
    return node


def uses_l1(given) -> bool:
    """Whether the penalty has an L1 term (elastic has both, even with ρ = 0 or 1)."""
    return given.kind != "l2"


def uses_l2(given) -> bool:
    return given.kind != "l1"


# ---- the kind --------------------------------------------------------------------------------

def has_biases(given) -> bool:
    return any(n in given.biases for n in given.weights)


def zero_in_l1(given) -> bool:
    """A regularized weight at 0 under an L1 term: where sign(0) decides the gradient."""
    return l1_ratio(given) != 0 and written(given.lambda_) != 0 and any(
        v == 0 for n in regularized(given) for v in given.weights[n].flat)


def subgradient_places(given) -> list[tuple[str, dict, dict]]:
    if not zero_in_l1(given):
        return []
    return [(f"sign(0) taken as {s}", {}, {"sign_at_zero": s}) for s in (1, -1)]


MISTAKES = [
    Change("regularization_factor_two", "The factor 2 is off: the derivative of λ‖w‖² is 2λw, that of "
                                        "λ/2 ‖w‖² is λw (what weight_decay = λ adds to the gradient in "
                                        "torch.optim); the problem's penalty says which.",
           given=lambda g: {"halved": not g.halved}, applies=lambda g: l1_ratio(g) != 1),
    Change("biases_regularized", "The biases were regularized: the penalty is on the weights only, so a bias's "
                                 "gradient is the data loss's alone and the bias takes no part in R (in PyTorch, a "
                                 "parameter group with weight_decay = 0).",
           rules={"regularize_biases": True}, applies=has_biases),
    Places("l1_subgradient_at_zero", "The subgradient of |w| at w = 0 was taken as 1 or -1: |w| has no slope there, "
                                     "and PyTorch takes sign(0) = 0 (torch.sign, and autograd's gradient of "
                                     "torch.abs), so a weight at 0 gets no push from the L1 term.",
           subgradient_places),
    Change("decay_after_step", "The penalty was applied after the step, at the weights the data gradient had "
                               "already moved: its gradient is taken at the weights before the step, and the two "
                               "gradients are added before one step w' = w - γ(∂L_data/∂w + ∂R/∂w), as "
                               "torch.optim.SGD adds weight_decay·w to the gradient.",
           rules={"decay_after_step": True}),
]


class Regularization(Kind):
    name = "regularization"
    summary = "an L2, L1 or elastic-net penalty on named weights (biases apart), its gradient and one SGD step"
    answers = {
        "penalty": "the penalty R, summed over the tensors that are not biases",
        "grad_<name>": "∂L/∂w = ∂L_data/∂w + ∂R/∂w for the tensor named w (grad_W, grad_b)",
        "updated_<name>": "the tensor after the step w' = w - γ ∂L/∂w (updated_W, updated_b)",
    }
    vary = {"weights": {}, "data_grad": {}}
    Given, Rules = Given, Rules
    mistakes = MISTAKES
    changes_only = True

    def validate(self, given) -> None:
        for name in given.biases:
            if name not in given.weights:
                raise FieldError("biases", f"names {name!r}, which is not a tensor of `weights`; the tensors are "
                                           f"{', '.join(given.weights)}")
        missing = [n for n in given.weights if n not in given.data_grad]
        extra = [n for n in given.data_grad if n not in given.weights]
        if missing or extra:
            what = (f"has no gradient for {', '.join(missing)}" if missing else
                    f"gives a gradient for {', '.join(extra)}, which is not a tensor of `weights`")
            raise FieldError("data_grad", f"{what}; it gives the data loss's gradient of each tensor of `weights` "
                                          f"({', '.join(given.weights)}), by the same names")
        for n, w in given.weights.items():
            g = given.data_grad[n]
            if g.shape != w.shape:
                raise FieldError("data_grad", f"has shape {shape_text(g.shape)} for {n}; a gradient has its "
                                              f"tensor's shape, and {n} has shape {shape_text(w.shape)}")
        if given.lambda_ < 0:
            raise FieldError("lambda", f"is the regularization strength and must be at least 0; got {given.lambda_}")
        if given.lr < 0:
            raise FieldError("lr", f"is the learning rate and must be at least 0; got {given.lr}")
        if given.l1_ratio is not None:
            if given.kind != "elastic":
                raise FieldError("l1_ratio", f"is elastic's share of the L1 norm; kind {given.kind} has none "
                                             "(give kind: elastic)")
            if not 0 <= given.l1_ratio <= 1:
                raise FieldError("l1_ratio", f"must be between 0 and 1 (R = λ(ρ‖w‖₁ + (1 - ρ)‖w‖₂²)); got "
                                             f"{given.l1_ratio}")
        if given.halved and given.kind == "l1":
            raise FieldError("halved", "halves the squared norm of l2 and elastic; the L1 penalty is λ‖w‖₁ "
                                       "(leave halved out, or give kind l2 or elastic)")

    def answer_names(self, given) -> list[str]:
        return list(self.compute(given))

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        found = computed(given, rules)
        answers = {"penalty": Answer("penalty", "rational", found.pop("penalty"), latex(R), decimal=True)}
        for n, (grad, after) in found.items():
            answers[f"grad_{n}"] = answer(f"grad_{n}", grad, Partial(L, tensor(n)))
        for n, (grad, after) in found.items():
            answers[f"updated_{n}"] = answer(f"updated_{n}", after, updated(n))
        return answers

    def derive(self, given, answers) -> list[Step]:
        return [penalty_step(given, answers), gradient_step(given, answers), update_step(given, answers)]


def penalty_text(given) -> str:
    lam = latex(LAMBDA)
    if given.kind == "l2":
        text = (f"The L2 penalty is ${latex(R)} = {latex(penalty_formula(given, LAMBDA, RHO, None, NORM2_W))}$"
                + (", halved so that its gradient is $" + latex(times(LAMBDA, W)) + "$: torch.optim's "
                   f"weight_decay = ${lam}$ adds exactly that to the gradient." if given.halved else
                   ", not halved: its gradient is $" + latex(times(TWO, LAMBDA, W)) + "$ (torch.optim's "
                   f"weight_decay adds ${latex(times(LAMBDA, W))}$, the gradient of half this penalty)."))
    elif given.kind == "l1":
        text = (f"The L1 penalty is ${latex(R)} = {latex(penalty_formula(given, LAMBDA, RHO, NORM1_W, None))}$; "
                f"its gradient is ${latex(times(LAMBDA, Apply('sign', W)))}$, with {SIGN_AT_ZERO} as torch.sign "
                f"and autograd take it at the kink of {ABS_W}.")
    else:
        text = (f"The elastic-net penalty mixes both norms with the L1 share ${latex(RHO)}$ (l1_ratio, as "
                f"scikit-learn's ElasticNet): ${latex(R)} = "
                f"{latex(penalty_formula(given, LAMBDA, RHO, NORM1_W, NORM2_W))}$; the gradient of {ABS_W} is "
                f"${latex(Apply('sign', W))}$, with {SIGN_AT_ZERO} as torch.sign and autograd take it.")
    biases = [n for n in given.weights if n in given.biases]
    if biases:
        text += (f" The biases ({', '.join(f'${latex(tensor(n))}$' for n in biases)}) are not regularized: they "
                 "add nothing to the penalty.")
    return text


W = Symbol("w")
NORM1_W, NORM2_W = Norm(W, 1), Power(Norm(W, 2))
SIGN_AT_ZERO = f"${latex(Apply('sign', Number(0)))} = 0$"
ABS_W = f"${latex(Apply('abs', W))}$"


def penalty_step(given, answers) -> Step:
    penalised = regularized(given)
    lines = []
    one, two = [], []
    for n in penalised:
        w = exact(given.weights[n])
        if uses_l1(given):
            lines.append([Norm(tensor(n), 1), ElidedSum([Apply("abs", Number(v, decimal=True)) for v in w.flat]),
                          Number(whole(sum(abs(v) for v in w.flat)), decimal=True)])
            one.append(lines[-1][-1])
        if uses_l2(given):
            lines.append([Power(Norm(tensor(n), 2)), ElidedSum([Power(Number(v, decimal=True)) for v in w.flat]),
                          Number(whole(sum(v * v for v in w.flat)), decimal=True)])
            two.append(lines[-1][-1])
    value = Number(answers["penalty"].value, decimal=True)
    if not penalised:
        return Step("Penalty", penalty_text(given) + " Every tensor is a bias, so the penalty is 0.", [[R, value]])
    rho = Number(l1_ratio(given), decimal=True)
    letters = penalty_formula(given, LAMBDA, RHO, total([Norm(tensor(n), 1) for n in penalised]),
                              total([Power(Norm(tensor(n), 2)) for n in penalised]))
    filled = numbers(penalty_formula(given, Number(written(given.lambda_), decimal=True), rho,
                                     total(one) if one else None, total(two) if two else None))
    lines.append([R, letters, filled, value])
    return Step("Penalty", penalty_text(given) + f" Here ${latex(W)}$ stands for each regularized tensor; their "
                                                 "norms, then the penalty:", lines)


def gradient_step(given, answers) -> Step:
    lam, rho = Number(written(given.lambda_), decimal=True), Number(l1_ratio(given), decimal=True)
    lines = []
    for n, w in given.weights.items():
        grad = shown(answers[f"grad_{n}"].value)
        data = shown(exact(given.data_grad[n]))
        if n not in regularized(given):
            lines.append([Partial(L, tensor(n)), data_gradient(n), grad])
            continue
        w = exact(w)
        signs = shown(sign(w))
        if uses_l1(given):
            lines.append([Apply("sign", tensor(n)), signs])
        letters = gradient_formula(given, data_gradient(n), LAMBDA, RHO, tensor(n), Apply("sign", tensor(n)))
        filled = numbers(gradient_formula(given, data, lam, rho, shown(w), signs))
        lines.append([Partial(L, tensor(n)), letters, filled, grad])
    text = ("Each tensor's gradient is the data loss's plus the penalty's"
            + ("; a bias's is the data loss's alone" if has_biases(given) else "") + ":")
    return Step("Gradient", text, lines)


def update_step(given, answers) -> Step:
    lr = Number(written(given.lr), decimal=True)
    lines = [[updated(n), tensor(n) - times(GAMMA, Partial(L, tensor(n))),
              shown(exact(w)) - Product([lr, shown(answers[f"grad_{n}"].value)], dot=True),
              shown(answers[f"updated_{n}"].value)]
             for n, w in given.weights.items()]
    return Step("SGD step", f"One step of gradient descent with learning rate ${latex(GAMMA)} = {latex(lr)}$, "
                            "as torch.optim.SGD takes it (no momentum):", lines)


KIND = Regularization()
