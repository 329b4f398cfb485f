"""init: the spread of PyTorch's weight initialisations (torch.nn.init and the default of nn.Linear / nn.Conv2d).

The fans are PyTorch's (_calculate_fan_in_and_fan_out): a weight out × in (× K_h × K_w) has
fan_in = in · K_h · K_w and fan_out = out · K_h · K_w. The gain is calculate_gain's. Xavier
(Glorot) takes σ = gain · √(2/(fan_in + fan_out)), Kaiming (He) σ = gain/√fan for the fan its
mode names; a uniform draw U(-b, b) has variance b²/3, so its bound is b = √3 σ. The default of
nn.Linear and nn.Conv2d is kaiming_uniform_ with a = √5 (gain √(1/3)), so b = 1/√fan_in.

Every value is read off the formula the derivation displays, exact (sympy radicals); a size
or the gain given as a letter gives the general formula.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import sympy

from ...core.errors import FieldError
from ...core.fields import choice, count_or_symbol, given_field, number_or_symbol, optional, pair
from ...math.nodes import Formula, Fraction_, Number, Power, Product, Root, Symbol
from ...math.notation import named_words, quantity
from ...math.printing import latex
from ...core.model import Answer, Step
from ..sizes import distinct
from ..base import Kind
from ..common import written
from ..mistakes import Change

SCHEMES = {
    "xavier_uniform": "torch.nn.init.xavier_uniform_",
    "xavier_normal": "torch.nn.init.xavier_normal_",
    "kaiming_uniform": "torch.nn.init.kaiming_uniform_",
    "kaiming_normal": "torch.nn.init.kaiming_normal_",
    "default": "the default of nn.Linear and nn.Conv2d (reset_parameters)",
}
LINEAR_GAIN = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
               "sigmoid")
NONLINEARITIES = LINEAR_GAIN + ("tanh", "relu", "leaky_relu", "selu")
LEAKY_SLOPE = Fraction(1, 100)      # calculate_gain("leaky_relu") without a slope
DEFAULT_SLOPE = sympy.sqrt(5)       # nn.Linear and nn.Conv2d: kaiming_uniform_(weight, a=√5)
VARY = {"in_features": [16, 64, 100, 128, 256, 300, 512], "out_features": [10, 32, 64, 100, 128, 256],
        "in_channels": [3, 16, 32, 64, 128], "out_channels": [16, 32, 64, 128, 256], "kernel_size": [1, 3, 5, 7]}


@dataclass(frozen=True, kw_only=True)
class Given:
    scheme: str = given_field(choice(*SCHEMES), doc=f"one of {', '.join(SCHEMES)}")
    in_features: Any = given_field(optional(count_or_symbol), None, "a linear layer's inputs (a number or a letter)")
    out_features: Any = given_field(optional(count_or_symbol), None, "a linear layer's outputs")
    in_channels: Any = given_field(optional(count_or_symbol), None, "a convolution's input channels")
    out_channels: Any = given_field(optional(count_or_symbol), None, "a convolution's output channels")
    kernel_size: Any = given_field(optional(pair(1, True)), None, "a convolution's kernel: K, or [K_h, K_w]")
    gain: Any = given_field(optional(number_or_symbol(positive=True)), None,
                            "xavier's gain, a number > 0 or a letter (default 1, or nonlinearity's gain)")
    nonlinearity: Any = given_field(optional(choice(*NONLINEARITIES)), None,
                                    "the activation calculate_gain takes the gain of (kaiming's default: leaky_relu)")
    a: Any = given_field(optional(number_or_symbol(real=True)), None,
                         "leaky_relu's negative slope (kaiming's default 0; calculate_gain's 0.01)")
    mode: Any = given_field(optional(choice("fan_in", "fan_out")), None, "kaiming's fan: fan_in (default) or fan_out")


@dataclass(frozen=True)
class Rules:
    """PyTorch's conventions; each mistake changes one."""
    swap_fans: bool = False         # True: the other fan than the mode names
    use_gain: bool = True           # False: the gain left out (taken as 1)
    slope_used: bool = True         # False: leaky ReLU's negative slope left out (ReLU's gain, √2)
    std_is: str = "std"             # "variance": σ² given for σ (and the bound taken from it)
    bound_root3: bool = True        # False: the uniform bound taken as σ, without √3


def is_linear(given) -> bool:
    return given.in_features is not None or given.out_features is not None


def uniform(given) -> bool:
    return given.scheme in ("xavier_uniform", "kaiming_uniform", "default")


def xavier(given) -> bool:
    return given.scheme.startswith("xavier")


def nonlinearity(given) -> str | None:
    """The activation the gain comes from: kaiming's defaults to leaky_relu; None for xavier's gain given or 1."""
    if given.scheme == "default":
        return "leaky_relu"
    return given.nonlinearity or (None if xavier(given) else "leaky_relu")


def slope(given):
    """leaky_relu's negative slope: the given a; else √5 (the default), 0 (kaiming's a), 0.01 (calculate_gain's)."""
    if given.scheme == "default":
        return DEFAULT_SLOPE
    if given.a is not None:
        return exact(given.a)
    return LEAKY_SLOPE if xavier(given) else 0


def exact(x):
    """A number as the file writes it (0.2 is 1/5); a letter as it is."""
    return written(x) if isinstance(x, (int, float)) else x


def to_sympy(x):
    if isinstance(x, Fraction):
        return sympy.Rational(x.numerator, x.denominator)
    return sympy.Integer(x) if isinstance(x, int) else x


def plain(x):
    """A sympy value as an int or Fraction where it is rational, so 1 prints and compares as 1."""
    if isinstance(x, sympy.Integer):
        return int(x)
    if isinstance(x, sympy.Rational):
        return Fraction(int(x.p), int(x.q))
    return x


# ---- the formulas, in letters ------------------------------------------------------

FAN_IN, FAN_OUT, GAIN, BOUND = (named_words(name) for name in ("fan_in", "fan_out", "gain", "bound"))
SIGMA, VARIANCE, A = quantity("sigma"), quantity("sigma^2"), Symbol("a")
F_IN, F_OUT, C_IN, C_OUT, K_H, K_W = (quantity(name) for name in ("F_in", "F_out", "C_in", "C_out", "K_h", "K_w"))
TWO, THREE = Number(sympy.Integer(2)), Number(sympy.Integer(3))


def fan_formulas(given) -> tuple[Formula, Formula]:
    if is_linear(given):
        return F_IN, F_OUT
    return Product([C_IN, K_H, K_W], dot=True), Product([C_OUT, K_H, K_W], dot=True)


def layer_values(given) -> dict:
    if is_linear(given):
        return {"F_in": given.in_features, "F_out": given.out_features}
    return {"C_in": given.in_channels, "C_out": given.out_channels, "K_h": given.kernel_size.h,
            "K_w": given.kernel_size.w}


def gain_formula(given) -> Formula:
    """calculate_gain's formula for the problem's nonlinearity (the gain itself where one is given)."""
    name = nonlinearity(given)
    if name is None:
        return Number(1) if given.gain is None else Number(exact(given.gain), decimal=True)
    if name in LINEAR_GAIN:
        return Number(1)
    if name == "tanh":
        return Number(Fraction(5, 3))
    if name == "selu":
        return Number(Fraction(3, 4))
    if name == "relu":
        return Root(TWO)
    return Root(Fraction_(TWO, Number(1) + Power(A)))


def used_fan(given, rules: Rules) -> Formula:
    """The fan kaiming divides by: the mode's (fan_in for the default), or the other one under a mistake."""
    fan_out = (given.mode == "fan_out") != rules.swap_fans
    return FAN_OUT if fan_out else FAN_IN


def std_formula(given, rules: Rules) -> Formula:
    if xavier(given):
        return Product([GAIN, Root(Fraction_(TWO, FAN_IN + FAN_OUT))])
    return Fraction_(GAIN, Root(used_fan(given, rules)))


def variance_formula(given, rules: Rules) -> Formula:
    if xavier(given):
        return Product([Power(GAIN), Fraction_(TWO, FAN_IN + FAN_OUT)])
    return Fraction_(Power(GAIN), used_fan(given, rules))


def value(formula: Formula, values: dict):
    """The formula's exact value with `values` put in (as sympy numbers, so roots stay exact)."""
    return formula.substitute({name: to_sympy(v) for name, v in values.items()}).value()


def computed(given, rules: Rules) -> dict:
    """{answer name: exact value} under `rules`."""
    layer = {name: to_sympy(v) for name, v in layer_values(given).items()}
    fan_in, fan_out = (value(f, layer) for f in fan_formulas(given))
    a = slope(given) if rules.slope_used else 0
    gain = value(gain_formula(given), {"a": a}) if rules.use_gain else sympy.Integer(1)
    letters = {"fan_in": fan_in, "fan_out": fan_out, "gain": gain}
    std, variance = value(std_formula(given, rules), letters), value(variance_formula(given, rules), letters)
    if rules.std_is == "variance":
        std = variance
    found = {"fan_in": fan_in, "fan_out": fan_out, "gain": gain, "std": std, "variance": variance}
    if uniform(given):
        found["bound"] = sympy.sqrt(3) * std if rules.bound_root3 else std
    return {name: sympy.sympify(v) for name, v in found.items()}


LABELS = {"fan_in": FAN_IN, "fan_out": FAN_OUT, "gain": GAIN, "std": SIGMA, "variance": VARIANCE, "bound": BOUND}


def as_answer(name: str, x) -> Answer:
    if x.free_symbols:
        return Answer(name, "expression", x, latex(LABELS[name]))
    return Answer(name, "integer" if name.startswith("fan") else "real", plain(x), latex(LABELS[name]))


def scheme_named(given) -> bool:
    return given.scheme != "default"


MISTAKES = [
    Change("fan_swapped", "The other fan was used: mode fan_in divides by the fan-in (the inputs each output "
                          "sees: in_features, or in_channels·K_h·K_w), mode fan_out by the fan-out (out_features, "
                          "or out_channels·K_h·K_w); kaiming's default, and nn.Linear's and nn.Conv2d's, is fan_in.",
           rules={"swap_fans": True}, applies=lambda g: not xavier(g)),
    Change("gain_forgotten", "The gain was left out: the standard deviation is multiplied by the activation's gain "
                             "(calculate_gain: √2 for ReLU, √(2/(1 + a²)) for leaky ReLU, 5/3 for tanh), which "
                             "makes up for the variance the activation removes.", rules={"use_gain": False}),
    Change("leaky_slope_ignored", "The negative slope was left out: leaky ReLU's gain is √(2/(1 + a²)), "
                                  "ReLU's √2 only where a = 0.", rules={"slope_used": False},
           applies=lambda g: nonlinearity(g) == "leaky_relu" and slope(g) != 0),
    Change("variance_as_std", "The variance was given for the standard deviation: σ is the square root of the "
                              "variance, and a uniform bound is √3 σ.", rules={"std_is": "variance"},
           only=("std", "bound")),
    Change("bound_without_sqrt3", "The uniform bound was taken as σ: U(-b, b) has variance b²/3, so the bound "
                                  "with standard deviation σ is b = √3 σ.", rules={"bound_root3": False},
           applies=uniform, only=("bound",)),
]


class Init(Kind):
    name = "init"
    summary = "the fans, gain, standard deviation, variance and uniform bound of PyTorch's weight initialisations"
    answers = {
        "fan_in": "the inputs each output unit sees: in_features, or in_channels·K_h·K_w",
        "fan_out": "the outputs each input unit reaches: out_features, or out_channels·K_h·K_w",
        "gain": "the gain (calculate_gain's for the nonlinearity, or the one given)",
        "std": "the standard deviation σ of every weight",
        "variance": "the variance σ²",
        "bound": "b of U(-b, b), for the uniform schemes",
    }
    vary = VARY
    Given, Rules = Given, Rules
    mistakes = MISTAKES

    def validate(self, given) -> None:
        linear, conv = ("in_features", "out_features"), ("in_channels", "out_channels", "kernel_size")
        given_in = [[name for name in family if getattr(given, name) is not None] for family in (linear, conv)]
        if all(given_in) or given_in[0] != list(linear) and given_in[1] != list(conv):
            family = conv if given_in[1] and not given_in[0] else linear
            field = given_in[1][0] if all(given_in) else next(name for name in family if getattr(given, name) is None)
            problem = "is given with a linear layer's fields" if all(given_in) else "is missing"
            raise FieldError(field, f"{problem}: "
                                    "the layer is a linear layer (in_features and out_features) or a convolution "
                                    "(in_channels, out_channels and kernel_size); give every field of one of them "
                                    "and none of the other")
        if given.scheme == "default":
            for name in ("gain", "nonlinearity", "a", "mode"):
                if getattr(given, name) is not None:
                    raise FieldError(name, "is fixed by scheme `default`: nn.Linear and nn.Conv2d call "
                                           "kaiming_uniform_(weight, a=√5), mode fan_in; give another scheme to "
                                           "choose it")
        if xavier(given):
            if given.mode is not None:
                raise FieldError("mode", f"is kaiming's; {given.scheme} uses both fans, (fan_in + fan_out)/2")
            if given.gain is not None and given.nonlinearity is not None:
                raise FieldError("gain", "is given, and so is nonlinearity, whose gain calculate_gain gives; give "
                                         "one of them")
        elif given.gain is not None:
            raise FieldError("gain", f"is xavier's; {given.scheme}_ takes nonlinearity (and a for leaky_relu), "
                                     "whose gain calculate_gain gives")
        if given.a is not None and nonlinearity(given) != "leaky_relu":
            raise FieldError("a", "is leaky_relu's negative slope; give it only with nonlinearity leaky_relu "
                                  "(kaiming's default)")
        if isinstance(given.gain, (int, float)) and given.gain <= 0:
            raise FieldError("gain", f"must be a number > 0 or a letter; got {given.gain}")

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        return {name: as_answer(name, x) for name, x in computed(given, rules).items()}

    def derive(self, given, answers) -> list[Step]:
        values = {name: answer.value for name, answer in answers.items()}
        steps = [Step("Convention", convention(given)), fans_step(given, values), gain_step(given, values)]
        letters = {name: values[name] for name in ("fan_in", "fan_out", "gain")}
        steps.append(Step("Standard deviation", std_text(given),
                          [lines(SIGMA, std_formula(given, Rules()), letters, values["std"])]))
        steps.append(Step("Variance", "The square of the standard deviation:",
                          [lines(VARIANCE, variance_formula(given, Rules()), letters, values["variance"])]))
        if uniform(given):
            steps.append(Step("Uniform bound", "The uniform distribution U(-b, b) has variance b²/3, so the bound "
                                               "that gives the standard deviation σ is b = √3 σ:",
                              [lines(BOUND, Product([Root(THREE), SIGMA]), {"sigma": values["std"]},
                                     values["bound"])]))
        return steps


def lines(name: Formula, formula: Formula, letters: dict, result) -> list:
    """name = formula = formula with the values put in = result, a line left out where it repeats."""
    return [name] + distinct([formula, formula.substitute(letters), Number(result)])


def convention(given) -> str:
    what = SCHEMES[given.scheme]
    layer = ("A linear layer's weight is out_features × in_features" if is_linear(given) else
             "A convolution's weight is out_channels × in_channels × K_h × K_w")
    fans = (f"{layer}; PyTorch's fans (_calculate_fan_in_and_fan_out) are the inputs each output unit sees and the "
            "outputs each input unit reaches.")
    if xavier(given):
        rule = ("Xavier (Glorot) initialisation keeps the variance of the activations and of the gradients alike "
                "from layer to layer: σ = gain · √(2/(fan_in + fan_out)).")
    elif given.scheme == "default":
        rule = ("nn.Linear and nn.Conv2d initialise their weight with kaiming_uniform_(weight, a=√5): the gain "
                "of leaky ReLU with slope √5 over √fan_in, so the bound is 1/√fan_in. Their bias is drawn from "
                "U(-1/√fan_in, 1/√fan_in) too.")
    else:
        mode = given.mode or "fan_in"
        rule = (f"Kaiming (He) initialisation keeps the variance of the activations (mode fan_in) or of the "
                f"gradients (mode fan_out) from layer to layer: σ = gain/√fan, here with the mode {mode}.")
    draw = ("Every weight is drawn from the uniform distribution U(-b, b)." if uniform(given) else
            "Every weight is drawn from the normal distribution N(0, σ²).")
    return f"The scheme is {what}. {fans} {rule} {draw}"


def fans_step(given, values) -> Step:
    inputs, outputs = fan_formulas(given)
    layer = layer_values(given)
    text = ("fan_in is in_features and fan_out is out_features." if is_linear(given) else
            "Each output channel's filter sees in_channels · K_h · K_w inputs; each input channel reaches "
            "out_channels · K_h · K_w outputs.")
    return Step("Fans", text, [lines(FAN_IN, inputs, layer, values["fan_in"]),
                               lines(FAN_OUT, outputs, layer, values["fan_out"])])


def gain_step(given, values) -> Step:
    name = nonlinearity(given)
    formula = gain_formula(given)
    if name is None:
        text = ("The gain is given." if given.gain is not None else
                "No gain or nonlinearity is given: xavier's gain defaults to 1.")
        return Step("Gain", text, [[GAIN] + distinct([formula, Number(values["gain"])])])
    if given.scheme == "default":
        text = "calculate_gain('leaky_relu', √5), the gain of leaky ReLU with negative slope a = √5:"
    elif name == "leaky_relu":
        source = ("the given slope" if given.a is not None else
                  "calculate_gain's default slope 0.01" if xavier(given) else "kaiming's default a = 0")
        default = " (kaiming's default nonlinearity)" if given.nonlinearity is None else ""
        text = f"calculate_gain for leaky ReLU{default}, √(2/(1 + a²)), with {source}:"
    else:
        text = f"calculate_gain('{name}'):"
    return Step("Gain", text, [lines(GAIN, formula, {"a": slope(given)}, values["gain"])])


def std_text(given) -> str:
    if xavier(given):
        return "Xavier's standard deviation:"
    fan = "fan_out" if given.mode == "fan_out" else "fan_in"
    return f"Kaiming's standard deviation, over the square root of {fan}:"


KIND = Init()
