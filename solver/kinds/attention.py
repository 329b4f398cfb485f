"""attention: single-head scaled dot-product self-attention, by hand.

Conventions, stated in the derivation:
- X is n×d with one token per row, x_1 … x_n (numbered from 1, as the course does).
- W_Q and W_K are d_k×d, W_V is d_v×d, and q_i = W_Q x_i, k_j = W_K x_j,
  v_j = W_V x_j; with tokens as rows, Q = X W_Qᵀ. This is PyTorch's
  nn.Linear(d, d_k, bias=False) whose `weight` is W_Q.
- Scores e_ij = q_i·k_j / √d_k (or times `scale`), before any mask.
- Weights α_ij = softmax over the keys j of query i (each row sums to 1); with
  the causal mask token i attends only to j ≤ i (the others weigh 0).
- Output z_i = Σ_j α_ij v_j, i.e. Z = A V.

Queries, keys, values and scores stay exact (ints, fractions) for integer
input; a score is a float only when √d_k is irrational, and the derivation
still writes it as q·k/√d_k. Weights are exp expressions: the derivation shows
them exactly (e^2/(e^2 + e + 1)) and the answers hold their float values,
exact only where a row's scores are all equal (1/m).

Without matrices the kind derives the general steps for one token i of n and
answers z_i as an expression in the weights α_ij and the values v_j.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from ..core.errors import FieldError
from ..core.fields import array, choice, given_field, integer, number, optional, size_symbol
from ..math.nodes import Array, Exp, Formula, Fraction_, Number, Product, Relation, Root, Sum, Summation, Symbol, divide
from ..math.notation import indexed, listing, quantity, transposed
from ..math.printing import latex
from ..core.model import Answer, Step
from .base import Kind
from .common import exact, exact_array, shown_cells
from .mistakes import Change

# How the derivation writes each given matrix (a sheet labels the givens with it).
GIVEN_SYMBOLS = {"x": "X", "w_q": "W_Q", "w_k": "W_K", "w_v": "W_V"}
PROJECTIONS = ("w_q", "w_k", "w_v")
MAX_TOKENS = 100              # the scores are n×n
MAX_GENERAL_TOKENS = 20       # the general answer has one term per token


@dataclass(frozen=True, kw_only=True)
class Given:
    x: Any = given_field(optional(array((2,), "an n×d matrix, one token per row")), None,
                         "the input X, n×d: token x_i is row i (numbered from 1)")
    w_q: Any = given_field(optional(array((2,), "a d_k×d matrix")), None,
                           "W_Q, d_k×d: q_i = W_Q x_i (PyTorch's nn.Linear weight)")
    w_k: Any = given_field(optional(array((2,), "a d_k×d matrix")), None, "W_K, d_k×d: k_j = W_K x_j")
    w_v: Any = given_field(optional(array((2,), "a d_v×d matrix")), None, "W_V, d_v×d: v_j = W_V x_j")
    position: Any = given_field(optional(integer(1, "a token number from 1")), None,
                                "the token i whose output z_i is asked (default: every token)")
    mask: Any = given_field(optional(choice("causal")), None, "causal: token i attends only to j <= i")
    scale: Any = given_field(optional(number), None, "multiplies q_i·k_j (default 1/√d_k)")
    tokens: Any = given_field(optional(integer(1, "a positive integer")), None,
                              "n, the number of tokens, for the general steps without x")


@dataclass(frozen=True)
class Rules:
    """The conventions of scaled dot-product attention, PyTorch's by default; a mistake changes one."""
    scale: str = "given"        # the problem's scale, else 1/√d_k; "none", "sqrt_d", "sqrt_d_v" or "d_k" (1/d_k)
    softmax_over: str = "keys"  # the weights of a query sum to 1 over the keys ("queries": over a column)
    mixed: str = "values"       # what the weights mix ("keys", "inputs")
    projection: str = "W x"     # q_i = W_Q x_i ("W^T x": the weights transposed)


# ---- validation -----------------------------------------------------------

def validate(given: Given):
    if given.x is None:
        validate_general(given)
    else:
        validate_matrices(given)
    if given.scale is not None and given.scale <= 0:
        raise FieldError("scale", f"must be a positive number (the default is 1/√d_k); got {given.scale!r}")
    n = token_count(given)
    if given.position is not None and given.position > n:
        raise FieldError("position", f"must be a token number from 1 to {n} (there are {n} tokens); "
                                     f"got {given.position}")


def validate_general(given):
    for name in PROJECTIONS:
        if getattr(given, name) is not None:
            raise FieldError(name, "needs `x` too: give x, w_q, w_k and w_v for numbers, or only "
                                   "`tokens` and `position` for the general steps")
    if given.tokens is None:
        raise FieldError("tokens", "is required without `x`: the number of tokens n for the general "
                                   "steps (or give the matrices x, w_q, w_k and w_v)")
    if given.tokens > MAX_GENERAL_TOKENS:
        raise FieldError("tokens", f"must be at most {MAX_GENERAL_TOKENS} for the general steps; "
                                   f"got {given.tokens}")
    if given.position is None:
        raise FieldError("position", "is required without `x`: the token i whose output z_i the "
                                     "general steps derive")


def validate_matrices(given):
    n, d = given.x.shape
    if n > MAX_TOKENS:
        raise FieldError("x", f"has {n} rows (tokens); at most {MAX_TOKENS} are supported")
    for name in PROJECTIONS:
        w = getattr(given, name)
        if w is None:
            raise FieldError(name, f"is needed with `x`: give w_q, w_k and w_v, each with d = {d} columns")
        if w.shape[1] != d:
            raise FieldError(name, f"has {w.shape[1]} columns but x has d = {d}: it must be a d_k×{d} "
                                   f"matrix (d_v×{d} for w_v) so that W x_i is defined; a {d}×d_k "
                                   "matrix, as in Q = X W_Q, must be given transposed")
    if given.w_k.shape[0] != given.w_q.shape[0]:
        raise FieldError("w_k", f"has {given.w_k.shape[0]} rows but w_q has {given.w_q.shape[0]}: "
                                "queries and keys must have the same size d_k for q_i·k_j")
    if given.tokens is not None:
        raise FieldError("tokens", f"must not be given with `x`: its {given.x.shape[0]} rows are the tokens")


def token_count(given) -> int:
    return given.tokens if given.x is None else given.x.shape[0]


# ---- formula pieces -------------------------------------------------------

@dataclass(frozen=True)
class Scaling:
    """How q_i·k_j becomes a score: divided by √root, or times `factor`."""
    root: int | None = None
    factor: Any = 1

    def apply(self, dot):
        if self.root is None:
            return exact(dot * self.factor)
        whole = math.isqrt(self.root)
        if whole * whole == self.root:
            return divide(dot, whole)
        return float(dot) / math.sqrt(self.root)

    def formula(self, dot: Formula) -> Formula:
        if self.root is not None:
            return Fraction_(dot, Root(self.root))
        return dot if self.factor == 1 else Product([Number(self.factor), dot])


def scaling(given, rules: Rules) -> Scaling:
    """The problem's scale (0.5 as written, 1/2: scores stay exact), else 1/√d_k; or a mistake's."""
    if rules.scale == "given" and given.scale is not None:
        return Scaling(factor=Fraction(repr(given.scale)) if isinstance(given.scale, float) else given.scale)
    d_k = given.w_q.shape[0]
    return {"given": Scaling(root=d_k), "none": Scaling(factor=1), "sqrt_d": Scaling(root=given.x.shape[1]),
            "sqrt_d_v": Scaling(root=given.w_v.shape[0]), "d_k": Scaling(factor=Fraction(1, d_k))}[rules.scale]


# ---- the computation ------------------------------------------------------

@dataclass
class Attended:
    """Every intermediate of one self-attention, n tokens; `allowed[i, j]`: i attends to j."""
    queries: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    dots: np.ndarray
    scores: np.ndarray
    allowed: np.ndarray
    weights: np.ndarray
    output: np.ndarray
    scaling: Scaling


def attend(given, rules: Rules = Rules()) -> Attended:
    """Self-attention as the problem defines it, under the rules."""
    scaled, x = scaling(given, rules), given.x

    def project(w):
        return exact_array(x.dot(w if rules.projection == "W^T x" else w.T))
    q, k, v = (project(getattr(given, name)) for name in PROJECTIONS)
    dots = exact_array(q.dot(k.T))
    scores = exact_array(np.vectorize(scaled.apply, otypes=[object])(dots))
    allowed = causal(len(x)) if given.mask == "causal" else np.ones((len(x), len(x)), dtype=bool)
    weights = (softmax_rows(scores.T, allowed.T).T if rules.softmax_over == "queries"
               else softmax_rows(scores, allowed))
    mixed_rows = {"values": v, "keys": k, "inputs": x}[rules.mixed]
    output = exact_array(weights.dot(mixed_rows))
    return Attended(q, k, v, dots, scores, allowed, weights, output, scaled)


def causal(n: int) -> np.ndarray:
    return np.tril(np.ones((n, n), dtype=bool))


def softmax_rows(scores: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax of each row over its allowed entries; the others weigh 0."""
    weights = np.zeros(scores.shape, dtype=object)
    for i, row in enumerate(scores):
        columns = np.flatnonzero(allowed[i])
        weights[i, columns] = softmax([row[j] for j in columns])
    return weights


def softmax(values: list) -> list:
    """Exact 1/m where all m values are equal, else floats (shifted by the largest, so no overflow)."""
    if all(v == values[0] for v in values):
        return [exact(Fraction(1, len(values)))] * len(values)
    top = max(float(v) for v in values)
    powers = [math.exp(float(v) - top) for v in values]
    total = sum(powers)
    return [p / total for p in powers]


# ---- answers --------------------------------------------------------------

def answers(given, result: Attended) -> dict[str, Answer]:
    """The answers; where a position i is asked, the query-side ones are row i."""
    n = token_count(given)
    if given.position is None:
        rows, labels = slice(None), ("Q", "E", "A", "Z")
    else:
        i = given.position
        rows = i - 1
        labels = (latex(indexed("q", i)), row_label("e", i, n), row_label("alpha", i, n), latex(indexed("z", i)))
    query, score, weight, out = labels
    found = [("queries", result.queries[rows], query), ("keys", result.keys, "K"),
             ("values", result.values, "V"), ("scores", result.scores[rows], score),
             ("weights", result.weights[rows], weight), ("output", result.output[rows], out)]
    return {name: Answer(name, "matrix", value, label) for name, value, label in found}


def row_label(name: str, i: int, n: int) -> str:
    """(e_i1, …, e_in): row i of the scores or the weights."""
    return "(" + listing(latex(indexed(name, pair(i, 1, n))), latex(indexed(name, pair(i, n, n)))) + ")"


def pair(i: int, j: int, n: int) -> str:
    """The subscript of e_ij and α_ij: "12", or "1,12" where numbers reach two digits."""
    return f"{i}{j}" if n < 10 else f"{i},{j}"


# ---- solving --------------------------------------------------------------

def rows_projected(letter: str) -> Formula:
    """X W_Qᵀ: the tokens as rows, projected."""
    return Product([Symbol("X"), transposed(f"W_{letter}")], spaced=True)


def projected(letter: str, token) -> Formula:
    """W_Q x_i: one token projected."""
    return Product([quantity(f"W_{letter}"), token], spaced=True)


CONVENTION = ("The tokens are the rows of $X$: $x_i$ is row $i$, numbered from 1. Each token is projected "
              "by the weight matrices: $q_i = W_Q x_i$, $k_j = W_K x_j$ and $v_j = W_V x_j$, so with the "
              f"tokens as rows $Q = {latex(rows_projected('Q'))}$, $K = {latex(rows_projected('K'))}$ and "
              f"$V = {latex(rows_projected('V'))}$ (as PyTorch's nn.Linear, whose weight is $W_Q$). The size $d_k$ "
              "of the queries and keys is the number of rows of $W_Q$.")


def derive_numbers(given, answers_) -> list[Step]:
    result = attend(given)
    steps = [Step("Convention", CONVENTION), projection_step(given, result), score_step(given, result)]
    if given.mask == "causal":
        steps.append(Step("Causal mask", "Token i may attend only to tokens j ≤ i: the scores with j > i "
                                         "are replaced by −∞ before the softmax, so their weights are 0."))
    return steps + [softmax_step(given, result), output_step(given, result)]


def asked_rows(given, n: int) -> list[int]:
    """The 0-based query rows the derivation works out."""
    return list(range(n)) if given.position is None else [given.position - 1]


def projection_step(given, result) -> Step:
    x = given.x
    lines = []
    for name, letter, value in (("w_q", "Q", result.queries), ("w_k", "K", result.keys),
                                ("w_v", "V", result.values)):
        w = getattr(given, name)
        if letter == "Q" and given.position is not None:
            i = given.position
            lines.append([indexed("q", i), projected("Q", indexed("x", i)),
                          Product([Array(w), Array(x[i - 1][:, None])], dot=True), value[i - 1]])
        else:
            lines.append([Symbol(letter), rows_projected(letter), Product([Array(x), Array(w.T)], dot=True), value])
    sizes = {"n": len(x), "d": x.shape[1], "d_k": result.queries.shape[1], "d_v": result.values.shape[1]}
    n, d, d_k, d_v = (f"${latex(Relation(quantity(name), '=', size))}$" for name, size in sizes.items())
    text = (f"With {n} tokens of {d} features: {d_k} and {d_v}. The keys and values of every token are "
            "needed.")
    return Step("Queries, keys and values", text, lines)


def score_formula(result: Attended, i: int, j: int) -> Formula:
    """Score e_ij written exactly: a number, or q·k over an irrational root."""
    score = result.scores[i, j]
    if result.scaling.root is not None and isinstance(score, float):
        return result.scaling.formula(Number(result.dots[i, j]))
    return Number(score)


def shown_pairs(given) -> tuple[list[tuple[int, int]], str]:
    """The (query i, key j) pairs a step works out, and the sentence saying what it leaves out."""
    n = len(given.x)
    rows = asked_rows(given, n)
    cells, complete = shown_cells((len(rows), n))
    return [(rows[r], j) for r, j in cells], more_cells(complete, len(rows) * n, len(cells))


def score_step(given, result) -> Step:
    n = len(given.x)
    pairs, more = shown_pairs(given)
    lines = []
    for i, j in pairs:
        products = Sum([Product([Number(a), Number(b)]) for a, b in zip(result.queries[i], result.keys[j])])
        name = pair(i + 1, j + 1, n)
        line = [indexed("e", name), result.scaling.formula(products)]
        if len(products.terms) > 1:
            line.append(result.scaling.formula(Number(result.dots[i, j])))
        lines.append(line + [result.scores[i, j]])
    answer = answers(given, result)["scores"]
    lines.append([Symbol("E", answer.label), answer.value])
    scaled = (f"divided by ${latex(Root(quantity('d_k')))}$, the square root of the size of the keys, so that the "
              "scores do not grow with $d_k$" if result.scaling.root is not None
              else f"times the given scale {given.scale}")
    dot = Product([quantity("q_i"), quantity("k_j")], dot=True)
    text = (f"Score ${latex(indexed('e', 'ij'))}$ compares query $i$ with key $j$: their dot product "
            f"${latex(dot)}$, {scaled}. Row $i$ holds query $i$ against every key $j$.")
    return Step("Scores", text + more, lines)


def more_cells(complete: bool, total: int, shown: int) -> str:
    return "" if complete else f" There are {total}; the first {shown} are shown, the others follow the same rule."


def softmax_step(given, result) -> Step:
    n = len(given.x)
    pairs, more = shown_pairs(given)
    lines = []
    for i, j in pairs:
        name = pair(i + 1, j + 1, n)
        weight = indexed("alpha", name)
        if not result.allowed[i, j]:
            lines.append([weight, 0])
            continue
        terms = [Exp(score_formula(result, i, m)) for m in np.flatnonzero(result.allowed[i])]
        lines.append([weight, Fraction_(Exp(score_formula(result, i, j)), Sum(terms)), result.weights[i, j]])
    answer = answers(given, result)["weights"]
    lines.append([Symbol("A", answer.label), answer.value])
    every = Summation(Symbol("m"), None, None, Exp(indexed("e", "im")))
    text = (f"The softmax runs over the keys of each query: ${latex(indexed('alpha', 'ij'))} = "
            f"{latex(Exp(indexed('e', 'ij')))} / {latex(every)}$, so the weights of each row are positive and sum to 1.")
    return Step("Softmax", text + more, lines)


def output_step(given, result) -> Step:
    n = len(given.x)
    rows = asked_rows(given, n)
    shown, complete = shown_cells((len(rows),))
    lines = []
    for (r,) in shown:
        i = rows[r]
        terms = [Product([Number(result.weights[i, j]), Array(result.values[j])], dot=True)
                 for j in np.flatnonzero(result.allowed[i])]
        lines.append([indexed("z", i + 1), Sum(terms), result.output[i]])
    if given.position is None:
        lines.append([Symbol("Z"), Product([Symbol("A"), Symbol("V")], spaced=True), result.output])
    text = ("Output $z_i$ is the sum of the values $v_j$ (the rows of $V$) weighted by row $i$ of the weights: "
            f"$z_i = {latex(weighted_sum('i', None))}$, i.e. $Z = A V$.")
    return Step("Output", text + more_cells(complete, len(rows), len(shown)), lines)


# ---- the general steps (no numbers) --------------------------------------

def softmax_formula(i, j, count) -> Formula:
    """exp(e_ij) / Σ_m exp(e_im), m from 1 to `count`."""
    return Fraction_(Exp(indexed("e", f"{i}{j}")), Summation(Symbol("m"), 1, count, Exp(indexed("e", f"{i}m"))))


def weighted_sum(i, count) -> Formula:
    """Σ_j α_ij v_j, j from 1 to `count` (None: over every j)."""
    return Summation(Symbol("j"), None if count is None else 1, count, Product([indexed("alpha", f"{i}j"), quantity("v_j")], spaced=True))


def derive_general(given) -> list[Step]:
    i, n = given.position, given.tokens
    count = len(attended(given))
    query_key = Product([transposed(indexed("q", i)), quantity("k_j")], spaced=True)
    score = (Fraction_(query_key, Root(quantity("d_k"))) if given.scale is None
             else Product([Number(given.scale), query_key], spaced=True))
    return [
        Step("Convention", CONVENTION),
        Step("Query", f"The query of token {i}: what token {i} is looking for.",
             [[indexed("q", i), projected("Q", indexed("x", i))]]),
        Step("Keys and values", f"The key (what it offers) and value (what it passes on) of every token "
                                f"j = 1, …, {n}.",
             [[quantity("k_j"), projected("K", quantity("x_j"))], [quantity("v_j"), projected("V", quantity("x_j"))]]),
        Step("Scores", f"Query {i} against every key j it attends to"
             + (f" (j ≤ {i}: the causal mask hides later tokens)" if given.mask else "")
             + (f"; ${latex(quantity('d_k'))}$ is the size of the keys." if given.scale is None else "."),
             [[indexed("e", f"{i}j"), score]]),
        Step("Softmax", "The scores become weights that are positive and sum to 1 over j.",
             [[indexed("alpha", f"{i}j"), softmax_formula(i, "j", count)]]),
        Step("Output", f"The output of token {i} is the weighted sum of the values.",
             [[indexed("z", i), weighted_sum(i, count), general_output(given, "v")]]),
    ]


def named(given: Given) -> dict:
    """The quantities the general steps define, so that z_i may be written with them:
    q_j = W_Q x_j, k_j = W_K x_j, v_j = W_V x_j, vectors standing as scalars as in the
    answer. The numeric steps answer matrices, where no formula is read."""
    if given.x is not None:
        return {}
    found = {}
    for j in range(1, given.tokens + 1):
        x = size_symbol(f"x_{j}")
        found.update({f"{vector}_{j}": size_symbol(f"W_{matrix}") * x for vector, matrix in (("q", "Q"), ("k", "K"), ("v", "V"))})
    return found


def attended(given) -> range:
    """The tokens j (from 1) that token `position` attends to."""
    return range(1, (given.position if given.mask == "causal" else given.tokens) + 1)


MIXED_LETTER = {"values": "v", "keys": "k", "inputs": "x"}


def general_output(given, mixed: str):
    """Σ_j α_ij m_j as a sympy expression, m the vectors mixed (v, or a mistake's k or x).

    The symbols are those a student's formula parses to (solver.answers.grammar), so
    `alpha_11 v_1` and its LaTeX spelling read as these very symbols. Vectors stand
    as scalars: two sums Σ_j c_j m_j agree for all scalars only if their c_j agree."""
    import sympy                       # only the general case needs it
    i = given.position
    return sympy.Add(*(size_symbol(f"alpha_{i}{j}") * size_symbol(f"{mixed}_{j}") for j in attended(given)))


# ---- the kind ---------------------------------------------------------------

def numeric(given) -> bool:
    return given.x is not None


def own_scale(given) -> bool:
    """A scale left to the default 1/√d_k, which a scaling mistake replaces."""
    return numeric(given) and given.scale is None


def square_projections(given) -> bool:
    """W_Qᵀ x_i is defined only where every projection is d×d."""
    return numeric(given) and all(getattr(given, name).shape[0] == given.x.shape[1] for name in PROJECTIONS)


MISTAKES = [
    Change("causal_mask_forgotten", "The causal mask was left out: token i attends only to tokens j ≤ i, so the "
           "scores with j > i are −∞ before the softmax and their weights are 0 (each row sums to 1 over "
           "j ≤ i alone).", given=lambda g: {"mask": None}, applies=lambda g: g.mask == "causal"),
    Change("scale_forgotten", "The scores were not scaled: e_ij = q_i·k_j / √d_k, divided by the "
           "square root of the key size d_k.", rules={"scale": "none"}, applies=numeric),
    Change("softmax_wrong_axis", "The softmax was taken along the wrong axis: the weights α_ij of "
           "query i run over the keys j, so each row of the weights sums to 1 and z_i uses row i.",
           rules={"softmax_over": "queries"}, applies=numeric),
    Change("scaled_by_d_model", "The scores were divided by √d with d the input size (d_model); "
           "the scale is 1/√d_k with d_k the size of the queries and keys (the rows of W_Q).",
           rules={"scale": "sqrt_d"}, applies=own_scale),
    Change("scaled_by_d_v", "The scores were divided by √d_v; the scale is 1/√d_k with d_k the "
           "size of the queries and keys, not of the values.", rules={"scale": "sqrt_d_v"}, applies=own_scale),
    Change("scaled_by_d_k_not_root", "The scores were divided by d_k; the scale is 1/√d_k, the "
           "square root of the key size.", rules={"scale": "d_k"}, applies=own_scale),
    Change("weights_on_keys", "The weights were applied to the keys; the output mixes the values: "
           "z_i = Σ_j α_ij v_j.", rules={"mixed": "keys"}),
    Change("weights_on_inputs", "The weights were applied to the inputs x_j; the output mixes the "
           "values v_j = W_V x_j: z_i = Σ_j α_ij v_j.", rules={"mixed": "inputs"}),
    Change("projection_transposed", "The projections were transposed: q_i = W_Q x_i, i.e. "
           "Q = X W_Q^T with the tokens as rows (and likewise K and V), not X W_Q.",
           rules={"projection": "W^T x"}, applies=square_projections),
]


class Attention(Kind):
    name = "attention"
    summary = "single-head scaled dot-product self-attention: queries, keys, values, scores, softmax, output"
    answers = {
        "queries": "Q = X W_Qᵀ (n×d_k), or q_i alone where the problem gives a position",
        "keys": "K = X W_Kᵀ (n×d_k)",
        "values": "V = X W_Vᵀ (n×d_v)",
        "scores": "e_ij = q_i·k_j/√d_k before any mask (n×n), or row i",
        "weights": "α_ij, the softmax of each row of scores (n×n), or row i",
        "output": "Z = A V (n×d_v), or z_i; without matrices, z_i as a formula in α_ij and v_j",
    }
    # Where a problem gives no `vary`: each matrix redrawn within its own range (solver/variants.py).
    vary = {"x": {}, "w_q": {}, "w_k": {}, "w_v": {}}
    Given, Rules = Given, Rules
    mistakes = MISTAKES
    named = staticmethod(named)

    def validate(self, given) -> None:
        validate(given)

    def compute(self, given, rules: Rules = Rules()) -> dict[str, Answer]:
        if given.x is None:
            output = general_output(given, MIXED_LETTER[rules.mixed])
            return {"output": Answer("output", "expression", output, latex(indexed("z", given.position)))}
        return answers(given, attend(given, rules))

    def derive(self, given, answers_) -> list[Step]:
        return derive_general(given) if given.x is None else derive_numbers(given, answers_)


KIND = Attention()
