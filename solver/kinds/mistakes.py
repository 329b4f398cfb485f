"""The shared catalogue of mistakes: each a named change to a kind's Rules or to its given,
with one wording, so every kind that has padding gets `padding_forgotten` by naming it.

A kind lists its mistakes (solver/kinds/base.py): a catalogue name, `shared(name, ...)` to
adapt when the change applies, or its own `Change`. Checking a mistake re-computes the
problem under the change (`kind.compute`), never its derivation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..core.fields import ONE, ZERO, Pair


@dataclass
class Mistake:
    """A named common error: `answers(given)` re-solves with that one thing changed.

    It returns the answers the mistake changes, or {} where it does not apply;
    or a list of (where, answers) when it can be made in several places.
    """
    name: str
    feedback: str
    answers: Callable[[Any], dict | list]

    def cases(self, given) -> list[tuple[str, dict]]:
        """[(where, answers)]: one case, or one per place the mistake can be made
        (a network's padding forgotten in layer 1, or in layer 3, ...)."""
        found = self.answers(given)
        return found if isinstance(found, list) else [("", found)]


# The mistakes several kinds diagnose, one wording each (a kind's own mistakes stay in its module).
SHARED_MISTAKES = {
    "bias_forgotten": "The bias is missing: every filter (output channel) or unit has its own bias, a "
                      "learnable parameter added to each value it outputs, at every position and every step "
                      "(one addition each).",
    "bias_counted": "A bias was counted where there is none: with `bias: false` a layer has only its weights, "
                    "and its outputs take no addition for a bias.",
    "bias_per_layer": "The bias was counted once per layer; every filter (output channel) or output feature "
                      "has its own bias, so a layer has as many biases as output channels or features.",
    "padding_forgotten": "The padding was left out: P rows and columns of zeros go on each side of the input "
                         "before the windows are taken, so the size formula has H + 2P.",
    "padding_once": "The padding was counted on one side only: P rows and columns are added on each side "
                    "(cropped from each side, in a transposed convolution), so the size formula has 2P, not P.",
    "stride_ignored": "The stride was taken as 1: each window (each input cell's kernel, in a transposed "
                      "convolution) starts S cells after the one before, and a pooling layer's stride "
                      "defaults to its kernel size, not 1.",
    "ceil_window_kept": "The last window was kept: in ceil_mode PyTorch drops a window that would start in the "
                        "end padding (at H + P or beyond), so the rounded-up count loses 1 there.",
    "ceil_instead_of_floor": "The size was rounded up: the number of windows is rounded down, since a window "
                             "that does not fit is not taken (only pooling's ceil_mode rounds up).",
    "floor_instead_of_ceil": "The size was rounded down: with ceil_mode PyTorch rounds up (dropping only a "
                             "window that would start in the padding).",
    "floor_dropped": "The rounding is missing: the number of window positions is a whole number, the floor "
                     "(the ceiling in ceil_mode) of (H + 2P - D(K - 1) - 1)/S, plus 1.",
    "in_channels_ignored": "The kernel depth was taken as 1: a filter spans every input channel it sees (C_in, "
                           "or C_in/g with g groups), so it has (C_in/g)·K_h·K_w weights and makes as many "
                           "multiplications per output, not K_h·K_w.",
    "image_channels_everywhere": "Every kernel was given the input image's channel count; a kernel's depth is "
                                 "the number of channels of its own input, the previous layer's filters.",
    "dilation_as_k_times_d": "The dilated kernel was taken as K·D wide; dilation D spans D(K - 1) + 1 entries.",
    "field_jump_ignored": "The receptive field grew by K_eff - 1 at every layer, as if no stride came before it: "
                          "a layer widens the field by (K_eff - 1)·j, where the jump j, the product of the strides "
                          "of the layers before it, is how far apart in the input its neighbouring inputs lie.",
    "memory_batch_forgotten": "The memory was counted for one example: a forward pass on a batch of B holds B "
                              "outputs of every layer, so each layer's bytes are B·N·(bytes per value).",
    "memory_input_counted": "The network's input was counted too: the activation memory here is the bytes of the "
                            "layers' outputs, the input not included.",
    "field_dilation_ignored": "The dilation was left out of the receptive field: a kernel of K taps with dilation D "
                              "spans K_eff = D(K - 1) + 1 input positions, so it widens the field by D(K - 1)·j.",
    "mean_divisor_forgotten": "The mean's division is missing: `reduction: mean` divides the summed loss, and so "
                              "its gradient, by the batch size B (by the target classes' total weight when the "
                              "classes are weighted).",
    "sum_taken_as_mean": "The sum was divided as a mean: `reduction: sum` adds the rows' losses, and their "
                         "gradients, without dividing them by the batch size.",
    "gradient_sign_flipped": "The gradient has the wrong sign: it points where the loss grows (for softmax with "
                             "cross-entropy, ∂L/∂z = p - y, not y - p).",
    "update_sign_flipped": "The update has the wrong sign: a gradient step moves against the gradient, "
                           "θ ← θ - γ·(the step), downhill; only `maximize` steps uphill.",
    "eps_forgotten": "ε was left out: the normalization divides by √(σ² + ε).",
    "unbiased_variance": "The variance was divided by the wrong count: PyTorch's normalization layers normalize "
                         "with the biased variance, divided by the count N, even where a problem reports the "
                         "unbiased one; N − 1 gives the unbiased variance of torch.var and BatchNorm's "
                         "running_var, which a problem reports only where it asks for it (batchnorm's "
                         "`unbiased: true`).",
    "wrong_axes": "The statistics were taken over the wrong axes: check which indices the mean keeps and which "
                  "it sums over.",
    "variance_for_std": "The centred input was divided by the variance σ² + ε; it is divided by the "
                        "standard deviation √(σ² + ε).",
    "kernel_flipped": "The kernel is rotated by 180°: PyTorch's convolutions, transposed ones too, use the "
                      "kernel as it is (a cross-correlation); only a problem that asks for a true "
                      "convolution flips it.",
}


def always(given) -> bool:
    return True


@dataclass(frozen=True)
class Change:
    """A mistake as a change: `given(g)` the given fields it replaces (None: it does not apply
    to this problem), `rules` the Rules fields it replaces; `applies(g)` says where it can be made;
    `only` the answers it gives, where it is about some of them (a parameter count)."""
    name: str
    feedback: str
    given: Callable[[Any], dict | None] | None = None
    rules: dict = field(default_factory=dict)
    applies: Callable[[Any], bool] = always
    only: tuple = ()             # the answers it gives, where it concerns only these; (): every answer


@dataclass(frozen=True)
class Places:
    """A mistake that can be made in several places (in layer 1, or in layer 3; over another
    choice of axes): `places(g)` lists each as (where, given fields replaced, Rules fields replaced)."""
    name: str
    feedback: str
    places: Callable[[Any], list[tuple[str, dict, dict]]]


def has_padding(given) -> bool:
    """Any padding: 'same', or a pair with an entry that is not 0 (a symbol P counts)."""
    return given.padding == "same" or isinstance(given.padding, Pair) and any(p != 0 for p in given.padding)


def pads_both_sides(given) -> bool:
    """Padding given as numbers or symbols, not 0: P on each side ('same' is PyTorch's own split)."""
    return isinstance(given.padding, Pair) and any(p != 0 for p in given.padding)


def dilated(given) -> bool:
    return any(d != 1 for d in given.dilation)


# The changes, for the kinds on the Kind base; their Rules fields are named in solver/kinds/conv/common.py.
CATALOGUE = {change.name: change for change in (
    Change("bias_forgotten", SHARED_MISTAKES["bias_forgotten"], given=lambda g: {"bias": None},
           applies=lambda g: g.bias is not None),
    Change("padding_forgotten", SHARED_MISTAKES["padding_forgotten"], given=lambda g: {"padding": ZERO},
           applies=has_padding),
    Change("padding_once", SHARED_MISTAKES["padding_once"], rules={"padding_sides": 1}, applies=pads_both_sides),
    Change("stride_ignored", SHARED_MISTAKES["stride_ignored"], given=lambda g: {"stride": ONE}),
    Change("ceil_instead_of_floor", SHARED_MISTAKES["ceil_instead_of_floor"], rules={"rounding": "ceil"}),
    Change("floor_instead_of_ceil", SHARED_MISTAKES["floor_instead_of_ceil"], given=lambda g: {"ceil_mode": False},
           applies=lambda g: g.ceil_mode),
    Change("floor_dropped", SHARED_MISTAKES["floor_dropped"], rules={"rounding": "exact"}),
    Change("ceil_window_kept", SHARED_MISTAKES["ceil_window_kept"], rules={"ceil_drops_last_window": False},
           applies=lambda g: g.ceil_mode),
    Change("dilation_as_k_times_d", SHARED_MISTAKES["dilation_as_k_times_d"], rules={"dilation_span": "KD"},
           applies=dilated),
    Change("mean_divisor_forgotten", SHARED_MISTAKES["mean_divisor_forgotten"], rules={"mean_divides": False},
           applies=lambda g: g.reduction == "mean"),
    Change("gradient_sign_flipped", SHARED_MISTAKES["gradient_sign_flipped"], rules={"gradient_sign": -1}),
    Change("update_sign_flipped", SHARED_MISTAKES["update_sign_flipped"], rules={"update_sign": -1}),
    Change("kernel_flipped", SHARED_MISTAKES["kernel_flipped"], rules={"flip": True},
           applies=lambda g: g.kernel is not None),
    Change("eps_forgotten", SHARED_MISTAKES["eps_forgotten"], given=lambda g: {"eps": 0}, applies=lambda g: g.eps != 0),
    Change("variance_for_std", SHARED_MISTAKES["variance_for_std"], rules={"divide_by": "variance"}),
    # The counting kinds: `bias` a yes/no, Rules fields bias_per_filter and kernel_depth.
    Change("bias_counted", SHARED_MISTAKES["bias_counted"], given=lambda g: {"bias": True},
           applies=lambda g: g.bias is False),
    Change("bias_per_layer", SHARED_MISTAKES["bias_per_layer"], rules={"bias_per_filter": False},
           applies=lambda g: g.bias is True),
    Change("in_channels_ignored", SHARED_MISTAKES["in_channels_ignored"], rules={"kernel_depth": "one"}),
    Change("image_channels_everywhere", SHARED_MISTAKES["image_channels_everywhere"],
           rules={"kernel_depth": "image"}),
    # Receptive fields (the network kind): Rules fields field_jump and field_dilation.
    Change("field_jump_ignored", SHARED_MISTAKES["field_jump_ignored"], rules={"field_jump": False}),
    Change("field_dilation_ignored", SHARED_MISTAKES["field_dilation_ignored"], rules={"field_dilation": False}),
    # Activation memory (the network kind): Rules fields memory_batch and memory_input.
    Change("memory_batch_forgotten", SHARED_MISTAKES["memory_batch_forgotten"], rules={"memory_batch": False}),
    Change("memory_input_counted", SHARED_MISTAKES["memory_input_counted"], rules={"memory_input": True},
           only=("activation_memory",)),
)}


def shared(name: str, **adapted) -> Change:
    """The catalogue's change `name`, its wording kept, with what a kind adapts (where it
    applies, or the given fields it replaces where the kind holds the convention in its given)."""
    return replace(CATALOGUE[name], **adapted)
