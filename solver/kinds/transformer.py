"""transformer: the parameter, FLOP and memory budget of a GPT-style decoder (GPT-2's layout).

The model is built from PyTorch modules, as the derivation states: a token embedding
nn.Embedding(V, d) and (learned positions) nn.Embedding(T_ctx, d); L pre-norm blocks, each
x + attn(norm_1(x)) then x + mlp(norm_2(x)), the attention one fused nn.Linear(d, 3d) for Q, K
and V (GPT-2's c_attn) split into h heads, and nn.Linear(d, d) back, the MLP nn.Linear(d, d_ff),
GELU, nn.Linear(d_ff, d); a final norm (nn.LayerNorm(d, bias=bias) or nn.RMSNorm(d)); the LM
head nn.Linear(d, V, bias=False), its weight the token embedding's where tied.

Parameters are counted by the shared rules of solver/kinds/counting.py (a linear layer's, a
norm's, an embedding's). FLOPs are 2 × MACs of the matrix products alone, as
torch.utils.flop_counter.FlopCounterMode counts them: per token, f_in·f_out MACs per linear
layer, and T·d for the attention scores Q Kᵀ and T·d for their weighted sum of V, the causal mask
not subtracted (the full T × T scores are computed). A training step is ≈ 3 × the forward pass.
The KV cache holds K and V of every block for B × T positions, in `dtype`.

Every count is a formula in the letters V, T_ctx, T, d, L, h, d_ff, B; the derivation prints
it, then with the problem's values put in, then its value, and the answer is that value: a
whole number, or a formula in the problem's letters where sizes are letters.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..core.errors import FieldError
from ..core.fields import boolean, choice, count_or_symbol, given_field, optional
from ..math.nodes import Formula, Number, Product, Slash, Sum, Symbol, Transpose
from ..math.printing import node_latex
from ..math.notation import named_words, quantity, words
from ..core.model import Answer, Step
from .base import Kind
from .counting import embedding_counts, linear_counts, norm_counts, times
from .mistakes import Change, shared
from .sizes import distinct

NORMS = ("layernorm", "rmsnorm")
POSITIONAL = ("learned", "none")
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}

ANSWERS = {
    "params_embeddings": "parameters of the token embedding and (learned positions) the position embedding",
    "params_attention": "parameters of the attention of all L blocks: Q, K, V and output projections",
    "params_mlp": "parameters of the MLP of all L blocks: nn.Linear(d, d_ff) and nn.Linear(d_ff, d)",
    "params_norms": "parameters of the 2L + 1 norms (two per block and the final one)",
    "params_head": "parameters the LM head adds: 0 when tied to the token embedding",
    "params": "all parameters, each counted once (as model.parameters() yields them)",
    "macs_per_token": "multiply-accumulates of the forward pass per token of a T-token sequence",
    "flops_per_token": "forward FLOPs per token, 2 × MACs of the matrix products, the attention scores' included",
    "flops_per_sequence": "forward FLOPs of one sequence of T tokens",
    "flops": "forward FLOPs of the batch: B sequences of T tokens (what FlopCounterMode counts)",
    "training_flops": "FLOPs of one training step on the batch, ≈ 3 × the forward FLOPs",
    "kv_cache_bytes": "bytes of the keys and values cached for B sequences of T tokens, in dtype",
}
LABELS = {"params_embeddings": "embedding params", "params_attention": "attention params",
          "params_mlp": "MLP params", "params_norms": "norm params", "params_head": "head params",
          "params": "params", "macs_per_token": "MACs per token", "flops_per_token": "FLOPs per token",
          "flops_per_sequence": "FLOPs per sequence", "flops": "FLOPs", "training_flops": "training FLOPs",
          "kv_cache_bytes": "KV cache bytes"}
# Where a problem gives no `vary`, a variant redraws these fields, but only those the statement shows as
# {{ field }} (solver/variants.py); the model's sizes stay, so a named model (GPT-2 small) stays itself.
VARY = {"batch_size": [1, 2, 4, 8, 16, 32, 64], "sequence_length": [64, 128, 256, 512, 1024]}
COMPONENTS = ("params_embeddings", "params_attention", "params_mlp", "params_norms", "params_head")
FLOP_ANSWERS = ("flops_per_token", "flops_per_sequence", "flops", "training_flops")


@dataclass(frozen=True, kw_only=True)
class Given:
    vocab_size: Any = given_field(count_or_symbol, dataclasses.MISSING, "tokens in the vocabulary V")
    context_length: Any = given_field(count_or_symbol, dataclasses.MISSING,
                                      "the longest sequence T_ctx (the learned position table's rows)")
    d_model: Any = given_field(count_or_symbol, dataclasses.MISSING, "features per position d")
    num_layers: Any = given_field(count_or_symbol, dataclasses.MISSING, "blocks L")
    num_heads: Any = given_field(count_or_symbol, dataclasses.MISSING, "attention heads h; h must divide d_model")
    d_ff: Any = given_field(count_or_symbol, dataclasses.MISSING, "the MLP's hidden width d_ff (GPT-2: 4·d_model)")
    tied_embeddings: bool = given_field(boolean, True, "the LM head's weight is the token embedding's "
                                                       "(default true, as in GPT-2)")
    bias: bool = given_field(boolean, True, "every nn.Linear of the blocks has a bias, and LayerNorm a shift β "
                                            "(default true, PyTorch's); the head never has one")
    norm: str = given_field(choice(*NORMS), "layernorm", "layernorm (nn.LayerNorm, the default) or rmsnorm "
                                                         "(nn.RMSNorm)")
    positional: str = given_field(choice(*POSITIONAL), "learned", "learned (a position embedding, the default) "
                                                                  "or none")
    batch_size: Any = given_field(count_or_symbol, 1, "sequences in the batch B (default 1)")
    sequence_length: Any = given_field(optional(count_or_symbol), None,
                                       "tokens per sequence T (default: context_length)")
    dtype: str = given_field(choice(*DTYPE_BYTES), "float32", "the dtype of the cached keys and values: "
                                                               f"{', '.join(DTYPE_BYTES)} (default float32, "
                                                               "PyTorch's default dtype)")


@dataclass(frozen=True)
class Rules:
    """How the budget is counted, PyTorch's way by default; each mistake changes one rule."""
    tied_head_counted: bool = False     # True: a tied head's weight counted again
    linear_biases: bool = True          # False: the nn.Linear biases left out
    norm_shift: str = "as given"        # "none": LayerNorm's β left out; "always": RMSNorm given a β
    score_flops: bool = True            # False: the scores Q Kᵀ and the weighted sum of V left out
    flops_per_mac: int = 2              # 1: MACs given as FLOPs
    kv_tensors: int = 2                 # 1: the cache counted for K only


RULES = Rules()


def sequence_length(given):
    return given.context_length if given.sequence_length is None else given.sequence_length


def validate(given: Given) -> None:
    d, h = given.d_model, given.num_heads
    if isinstance(d, int) and isinstance(h, int) and d % h:
        raise FieldError("num_heads", f"is {h}, which must divide d_model ({d}): each head takes d_model/num_heads "
                                      f"of the features, as nn.MultiheadAttention requires; give a divisor of {d}")
    t, ctx = sequence_length(given), given.context_length
    if given.positional == "learned" and isinstance(t, int) and isinstance(ctx, int) and t > ctx:
        raise FieldError("sequence_length", f"is {t}, longer than context_length ({ctx}): the learned position "
                                            f"embedding has one row per position up to context_length; give at "
                                            f"most {ctx}, or positional: none")


# ---- the formulas, in letters -----------------------------------------------------

V, TC, T, D, L, H, DFF, B = (Symbol("V"), quantity("T_ctx"), Symbol("T"), Symbol("d"), Symbol("L"), Symbol("h"),
                             quantity("d_ff"), Symbol("B"))
TWO, THREE = Number(2), Number(3)
NAMED = {name: named_words(name, text) for name, text in LABELS.items()}
SCORES = named_words("scores", "scores per token")


def letter_values(given) -> dict:
    return {"V": given.vocab_size, "T_ctx": given.context_length, "T": sequence_length(given), "d": given.d_model,
            "L": given.num_layers, "h": given.num_heads, "d_ff": given.d_ff, "B": given.batch_size}


def linear_bias(given, rules: Rules):
    return Number(1) if given.bias and rules.linear_biases else None


def has_shift(given, rules: Rules) -> bool:
    if rules.norm_shift != "as given":
        return rules.norm_shift == "always"
    return given.norm == "layernorm" and given.bias


def params(counts: dict, bias) -> Formula:
    """A linear layer's parameters: its weights, and its biases where it has them."""
    return counts["weights"] if bias is None else counts["weights"] + counts["biases"]


def block_linears(given, rules: Rules) -> dict:
    """Each nn.Linear of one block: its counts (counting.py's rule)."""
    bias = linear_bias(given, rules)
    return {"qkv": linear_counts(D, times(THREE, D), bias), "proj": linear_counts(D, D, bias),
            "up": linear_counts(D, DFF, bias), "down": linear_counts(DFF, D, bias)}


def head_counts() -> dict:
    return linear_counts(D, V)                  # nn.Linear(d, V, bias=False)


def formulas(given, rules: Rules = RULES) -> dict[str, Formula]:
    """Every answer's formula in the letters (totals in the names of their parts)."""
    bias = linear_bias(given, rules)
    linears = block_linears(given, rules)
    embeddings = embedding_counts(V, D)
    if given.positional == "learned":
        embeddings = embeddings + embedding_counts(TC, D)
    norm = norm_counts(D, has_shift(given, rules))
    one_norm = norm["weights"] + norm["biases"] if has_shift(given, rules) else norm["weights"]
    tied = given.tied_embeddings and not rules.tied_head_counted
    attention = [linears["qkv"]["mults"]] + ([times(T, D), times(T, D)] if rules.score_flops else []) \
        + [linears["proj"]["mults"], linears["up"]["mults"], linears["down"]["mults"]]
    return {
        "params_embeddings": embeddings,
        "params_attention": times(L, params(linears["qkv"], bias) + params(linears["proj"], bias)),
        "params_mlp": times(L, params(linears["up"], bias) + params(linears["down"], bias)),
        "params_norms": times(times(TWO, L) + 1, one_norm),
        "params_head": Number(0) if tied else head_counts()["weights"],
        "params": Sum([NAMED[name] for name in COMPONENTS]),
        "macs_per_token": times(L, Sum(attention)) + head_counts()["mults"],
        "flops_per_token": Product([Number(rules.flops_per_mac), NAMED["macs_per_token"]], dot=True),
        "flops_per_sequence": Product([T, NAMED["flops_per_token"]], dot=True),
        "flops": Product([B, NAMED["flops_per_sequence"]], dot=True),
        "training_flops": Product([THREE, NAMED["flops"]], dot=True),
        "kv_cache_bytes": times(Number(rules.kv_tensors), L, B, T, D, Number(DTYPE_BYTES[given.dtype])),
    }


def tidy(value):
    """A whole number as it is; a formula multiplied out (a sum of terms in the letters)."""
    if isinstance(value, int):
        return value
    import sympy
    return sympy.expand(value)


def counted(given, rules: Rules = RULES) -> dict:
    """Every answer's value under `rules`, in the order of ANSWERS (a total from its parts' values)."""
    values = letter_values(given)
    found = {}
    for name, formula in formulas(given, rules).items():
        found[name] = tidy(formula.substitute({**values, **found}).value())
    return found


def symbolic(given) -> bool:
    return not all(isinstance(v, int) for v in letter_values(given).values())


def make_answer(name, value, letters: bool) -> Answer:
    """A whole number; every answer a formula where a size is a letter (a tied head's 0 too, which a
    mistake's V·d is then compared with)."""
    if letters:
        import sympy
        return Answer(name, "expression", sympy.sympify(value), words(LABELS[name]))
    return Answer(name, "integer", value, words(LABELS[name]))


# ---- the derivation -----------------------------------------------------------------

def line(name, formula, values, result) -> list:
    """name = formula = values put in = result, a line left out where it repeats."""
    return [NAMED.get(name, name)] + distinct([formula, formula.substitute(values), Number(result)])


def model_step(given) -> Step:
    tied = ("whose weight is the token embedding's own tensor (tied embeddings)" if given.tied_embeddings
            else "with a weight of its own (untied)")
    positions = (" and a learned position embedding nn.Embedding(T_ctx, d)" if given.positional == "learned"
                 else " (no position embedding)")
    norm = ("nn.LayerNorm(d), a scale γ" + (" and a shift β per feature" if given.bias else
                                            " per feature (bias=False: no shift β)")
            if given.norm == "layernorm" else "nn.RMSNorm(d), a scale γ per feature and no shift")
    bias = ("has an f_out × f_in weight and f_out biases" if given.bias else
            "has an f_out × f_in weight and, with bias=False, no biases")
    text = (f"A GPT-2-style decoder, as PyTorch modules. A token embedding nn.Embedding(V, d){positions} turn "
            f"each of the T tokens into d features. Each of the L blocks is pre-norm: x + attn(norm(x)), then "
            f"x + mlp(norm(x)). The attention computes the queries, keys and values with one nn.Linear(d, 3d) "
            f"(GPT-2's fused c_attn; three nn.Linear(d, d) have the same parameters and FLOPs), splits them into "
            f"h heads of d/h features, takes causal scaled dot-product attention and projects back with "
            f"nn.Linear(d, d). The MLP is nn.Linear(d, d_ff), GELU, nn.Linear(d_ff, d). A final norm comes "
            f"before the LM head nn.Linear(d, V, bias=False), {tied}. Every norm is {norm}. Each nn.Linear(f_in, "
            f"f_out) of the blocks {bias}; the head has none, as in GPT-2. Letters: V the vocabulary, T_ctx "
            f"the context length, d = d_model, L blocks, h heads, d_ff the MLP's width, B sequences of T "
            f"tokens each.")
    return Step("The model", text)


def component_text(name, given) -> str:
    bias = given.bias
    if name == "params_embeddings":
        rows = ("one row of d numbers per token and one per position up to T_ctx"
                if given.positional == "learned" else
                "one row of d numbers per token; with no position embedding only the causal mask tells "
                "positions apart")
        return f"An embedding table has {rows}."
    if name == "params_attention":
        return ("Per block, the Q, K, V projection nn.Linear(d, 3d) has 3d · d = 3d² weights"
                + (" and 3d biases" if bias else "") + ", the output projection nn.Linear(d, d) d² weights"
                + (" and d biases" if bias else "") + ". The h heads share these matrices (each takes d/h of "
                "the outputs), so the number of heads does not change the parameters. Over the L blocks:")
    if name == "params_mlp":
        return ("Per block, nn.Linear(d, d_ff) has d_ff · d weights" + (" and d_ff biases" if bias else "")
                + ", nn.Linear(d_ff, d) d · d_ff weights" + (" and d biases" if bias else "")
                + ". Over the L blocks:")
    if name == "params_norms":
        what = ("nn.LayerNorm(d) has a scale γ and a shift β, d each" if given.norm == "layernorm" and bias else
                "nn.LayerNorm(d, bias=False) has a scale γ of d, no shift" if given.norm == "layernorm" else
                "nn.RMSNorm(d) has a scale γ of d and no shift (it divides by the root mean square without "
                "centring)")
        return f"Two norms per block (before the attention and before the MLP) and the final one: 2L + 1. {what}."
    if given.tied_embeddings:
        return ("The head nn.Linear(d, V, bias=False) maps each position's d features to V logits. Tied, its "
                "weight is the token embedding's tensor, counted once, in the embeddings (model.parameters() "
                "yields a shared tensor once), so the head adds nothing.")
    return "The head nn.Linear(d, V, bias=False) maps each position's d features to V logits: V · d weights."


TITLES = {"params_embeddings": "Embeddings", "params_attention": "Attention", "params_mlp": "MLP",
          "params_norms": "Norms", "params_head": "LM head"}


SCORES_LATEX = node_latex(Product([Symbol("Q"), Transpose(Symbol("K"))]))


def flops_text() -> str:
    return ("FLOPs = 2 × MACs (a multiply-accumulate is a multiplication and an addition), counted for the matrix "
            "products alone, as torch.utils.flop_counter.FlopCounterMode counts them: biases, norms, GELU, the "
            "softmax, the residual additions and the embedding lookups are left out. Per token, nn.Linear(f_in, "
            f"f_out) takes f_in · f_out MACs. For the attention scores ${SCORES_LATEX}$ each of the h heads compares "
            "the token's query (d/h features) with the keys of all T positions, h · T · (d/h) = T · d MACs; the "
            "weighted sum of the values takes as many again. The causal mask is not subtracted: the whole T × T "
            "score matrix is computed, and counted, before the entries above the diagonal are set to −∞. The "
            "head computes V logits at every position.")


def steps(given, answers) -> list[Step]:
    values = {name: answer.value for name, answer in answers.items()}
    # A letter the problem gives as itself (d_model: d) stays as it is written.
    letters = {name: v for name, v in letter_values(given).items() if isinstance(v, int) or str(v) != name}
    shown = {**letters, **values}
    found = formulas(given)
    result = [model_step(given)]
    result += [Step(TITLES[name], component_text(name, given), [line(name, found[name], letters, values[name])])
               for name in COMPONENTS]
    result.append(Step("Parameters in total", "The parts add up:",
                       [line("params", found["params"], shown, values["params"])]))
    d_head = Slash(D, H)
    scores = Product([H, T, d_head])
    score_value = scores.substitute(letter_values(given)).value()
    result.append(Step("Forward FLOPs", flops_text(), [
        line(SCORES, scores, letters, tidy(score_value)),
        line("macs_per_token", found["macs_per_token"], letters, values["macs_per_token"]),
        line("flops_per_token", found["flops_per_token"], shown, values["flops_per_token"]),
        line("flops_per_sequence", found["flops_per_sequence"], shown, values["flops_per_sequence"]),
        line("flops", found["flops"], shown, values["flops"])]))
    result.append(Step("Training FLOPs", "The backward pass takes two matrix products for each one of the forward "
                       "pass (the gradients with respect to both of its operands: the input and the weight, or Q and "
                       "K, the scores and V), so a training step costs ≈ 3 × the forward FLOPs, the usual estimate. "
                       "It leaves out the optimizer's update and the element-wise work.",
                       [line("training_flops", found["training_flops"], shown, values["training_flops"])]))
    size = DTYPE_BYTES[given.dtype]
    result.append(Step("KV cache", f"To generate, each block keeps the keys and the values of every position so far: "
                       f"two tensors of B × T × d numbers per block (h heads of d/h each), {given.dtype}, "
                       f"{size} bytes a number.",
                       [line("kv_cache_bytes", found["kv_cache_bytes"], letters, values["kv_cache_bytes"])]))
    return result


# ---- mistakes -------------------------------------------------------------------------

MISTAKES = [
    Change("tied_head_counted_twice", "The tied head was counted twice: with tied embeddings the LM head's weight "
           "is the token embedding's own tensor, so its V · d numbers are counted once, in the embeddings.",
           rules={"tied_head_counted": True}, applies=lambda g: g.tied_embeddings),
    shared("bias_forgotten", given=None, rules={"linear_biases": False}, applies=lambda g: g.bias),
    Change("attention_scores_left_out", "The attention's own products were left out: besides the projections, "
           "each token's query meets the T keys (the scores, T · d MACs per block) and the scores weight the T values "
           "(T · d MACs again), 4 · T · d FLOPs per token and block.", rules={"score_flops": False}),
    Change("macs_as_flops", "These are MACs, not FLOPs: a multiply-accumulate is two FLOPs (a multiplication "
           "and an addition), so FLOPs = 2 × MACs, as PyTorch's FLOP counter counts them.",
           rules={"flops_per_mac": 1}),
    Change("layernorm_shift_forgotten", "The LayerNorm's shift was left out: nn.LayerNorm(d) has a scale γ and a "
           "shift β per feature, 2d parameters (d only with bias=False).", rules={"norm_shift": "none"},
           applies=lambda g: g.norm == "layernorm" and g.bias),
    Change("rmsnorm_shift_counted", "RMSNorm was given a shift: nn.RMSNorm(d) divides by the root mean square, "
           "without centring, and has only a scale γ per feature, d parameters, no β.",
           rules={"norm_shift": "always"}, applies=lambda g: g.norm == "rmsnorm"),
    Change("kv_cache_keys_only", "The cache was counted for the keys only: each block keeps the keys and the "
           "values, two tensors of B × T × d numbers.", rules={"kv_tensors": 1}),
]


class Transformer(Kind):
    name = "transformer"
    summary = ("the parameter, FLOP and KV-cache budget of a GPT-style decoder (GPT-2's pre-norm blocks), "
               "per component and in total")
    answers = ANSWERS
    vary = VARY
    Given, Rules = Given, Rules
    changes_only = True
    mistakes = MISTAKES

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = RULES) -> dict[str, Answer]:
        letters = symbolic(given)
        return {name: make_answer(name, value, letters) for name, value in counted(given, rules).items()}

    def derive(self, given, answers) -> list[Step]:
        return steps(given, answers)


KIND = Transformer()
