"""transformer against a GPT-2-style decoder built here from torch.nn modules: parameters per component by numel
(a tied head's shared tensor once, as model.parameters() yields it), forward FLOPs by
torch.utils.flop_counter.FlopCounterMode on a forward pass of batch_size × sequence_length tokens, a training step
by the same counter over forward and backward, and the KV cache by the bytes of the K and V tensors the blocks make;
over random configurations of every option combination. GPT-2 small itself is built on the meta device (no
memory) and counted, never typed. Each mistake's wrong answer against an independent computation of it (another
torch model, or the counter's own split of its FLOPs); the general formula against the numbers; check, solve and
bad input through the CLI as a user runs it."""
import itertools
import json
import math
import random

import pytest
import sympy

from conftest import ROOT, assert_bad_input, compared_members, one_problem_file, optional_module, run_solver
from corpus import draw_transformer

torch = optional_module("torch")
KIND = "transformer"
BUDGET = ROOT / "problems" / "transformer-budget.yaml"
DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16", "float64": "float64"}
GPT2_SMALL = {"vocab_size": 50257, "context_length": 1024, "d_model": 768, "num_layers": 12, "num_heads": 12,
              "d_ff": 3072, "tied_embeddings": True, "bias": True, "norm": "layernorm", "positional": "learned"}


def kind():
    from solver.kinds import get_kind
    return get_kind(KIND)


def answers_of(given: dict) -> dict:
    k = kind()
    return {name: answer.value for name, answer in k.compute(k.read(given)).items()}


# ---- the oracle: a GPT-2-style decoder in torch.nn -------------------------------------------------------------

def build(config: dict, linear_bias=None, norm_bias=None, fused=True, device="cpu"):
    """The decoder `config` describes (the kind's given fields), as PyTorch modules; `linear_bias` and
    `norm_bias` override `bias` for the linear layers or the LayerNorms alone, to build a mistake's model."""
    nn, F = torch.nn, torch.nn.functional
    d, h, layers = config["d_model"], config["num_heads"], config["num_layers"]
    bias = config.get("bias", True)
    linear_bias = bias if linear_bias is None else linear_bias
    norm_bias = bias if norm_bias is None else norm_bias
    dtype = getattr(torch, config.get("dtype", "float32"))

    def norm():
        if config.get("norm", "layernorm") == "rmsnorm":
            return nn.RMSNorm(d)
        return nn.LayerNorm(d, bias=norm_bias)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            if fused:
                self.c_attn = nn.Linear(d, 3 * d, bias=linear_bias)
            else:
                self.q, self.k, self.v = (nn.Linear(d, d, bias=linear_bias) for _ in range(3))
            self.c_proj = nn.Linear(d, d, bias=linear_bias)

        def forward(self, x, cache):
            b, t, _ = x.shape
            q, k, v = self.c_attn(x).split(d, dim=2) if fused else (self.q(x), self.k(x), self.v(x))
            q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
            cache.append((k, v))
            # nanoGPT's attention written out: F.scaled_dot_product_attention's CPU kernel is not counted by
            # FlopCounterMode (it reports 0), the matrix products are.
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
            causal = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            weights = F.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
            return self.c_proj((weights @ v).transpose(1, 2).reshape(b, t, d))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1, self.attn, self.ln_2 = norm(), Attention(), norm()
            self.mlp = nn.Sequential(nn.Linear(d, config["d_ff"], bias=linear_bias), nn.GELU(),
                                     nn.Linear(config["d_ff"], d, bias=linear_bias))

        def forward(self, x, cache):
            x = x + self.attn(self.ln_1(x), cache)
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(config["vocab_size"], d)
            learned = config.get("positional", "learned") == "learned"
            self.wpe = nn.Embedding(config["context_length"], d) if learned else None
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln_f = norm()
            self.lm_head = nn.Linear(d, config["vocab_size"], bias=False)
            if config.get("tied_embeddings", True):
                self.lm_head.weight = self.wte.weight

        def forward(self, tokens, cache):
            x = self.wte(tokens)
            if self.wpe is not None:
                x = x + self.wpe(torch.arange(tokens.shape[1], device=tokens.device))
            for block in self.blocks:
                x = block(x, cache)
            return self.lm_head(self.ln_f(x))

    with torch.device(device):
        return GPT().to(dtype)


def numel(modules, seen=()) -> int:
    """The parameters of `modules`, each tensor once, leaving out those in `seen`."""
    found = {id(p): p for m in modules if m is not None for p in m.parameters()}
    return sum(p.numel() for key, p in found.items() if key not in seen)


def torch_params(model) -> dict:
    embeddings = [model.wte, model.wpe]
    norms = [model.ln_f] + [n for block in model.blocks for n in (block.ln_1, block.ln_2)]
    shared = {id(p) for m in embeddings if m is not None for p in m.parameters()}
    return {"params_embeddings": numel(embeddings), "params_attention": numel(b.attn for b in model.blocks),
            "params_mlp": numel(b.mlp for b in model.blocks), "params_norms": numel(norms),
            "params_head": numel([model.lm_head], shared), "params": sum(p.numel() for p in model.parameters())}


def length(config):
    return config.get("sequence_length", config["context_length"])


def torch_budget(config: dict, device="cpu", training=True, **options) -> dict:
    """Everything torch counts of `config`'s model: params by numel, FLOPs by FlopCounterMode (forward, and
    forward + backward), the bmm FLOPs (the attention's own products) apart, the K and V tensors' bytes."""
    from torch.utils.flop_counter import FlopCounterMode
    model = build(config, device=device, **options)
    tokens = torch.randint(0, config["vocab_size"], (config.get("batch_size", 1), length(config)), device=device)
    found = torch_params(model)
    cache = []
    with FlopCounterMode(display=False) as counter:
        logits = model(tokens, cache)
    found["flops"] = counter.get_total_flops()
    found["bmm_flops"] = counter.get_flop_counts()["Global"].get(torch.ops.aten.bmm, 0)
    found["kv_cache_bytes"] = sum(z.numel() * z.element_size() for pair in cache for z in pair)
    found["k_bytes"] = sum(k.numel() * k.element_size() for k, _ in cache)
    if training:
        with FlopCounterMode(display=False) as counter:
            model(tokens, []).float().sum().backward()
        found["training_flops"] = counter.get_total_flops()
    del logits
    return found


def numeric(given: dict) -> bool:
    return all(isinstance(v, (int, bool)) or name in ("norm", "positional", "dtype") for name, v in given.items())


GIVENS = [draw_transformer(random.Random(f"transformer-{seed}")) for seed in range(120)]
NUMERIC = [g for g in GIVENS if numeric(g)]
LETTERS = [g for g in GIVENS if not numeric(g)]
OPTIONS = list(itertools.product([True, False], [True, False], ["layernorm", "rmsnorm"], ["learned", "none"]))


def test_the_draws_cover_every_option_combination():
    found = {(g["tied_embeddings"], g["bias"], g["norm"], g["positional"]) for g in NUMERIC}
    assert found == set(OPTIONS) and len(LETTERS) >= 10


@pytest.mark.torch
@pytest.mark.parametrize("given", NUMERIC, ids=[f"random{i}" for i in range(len(NUMERIC))])
def test_answers_agree_with_a_torch_model(given):
    answers = answers_of(given)
    expected = torch_budget(given, fused=random.Random(str(given)).random() < 0.5)
    for name in ("params_embeddings", "params_attention", "params_mlp", "params_norms", "params_head", "params",
                 "flops", "training_flops", "kv_cache_bytes"):
        assert answers[name] == expected[name], (name, answers[name], expected[name])
    tokens = given.get("batch_size", 1) * length(given)
    assert answers["flops_per_sequence"] * given.get("batch_size", 1) == expected["flops"]
    assert answers["flops_per_token"] * tokens == expected["flops"]
    assert answers["macs_per_token"] * 2 * tokens == expected["flops"]
    assert all(isinstance(v, int) for v in answers.values())


@pytest.mark.torch
def test_gpt2_small_is_counted_on_the_meta_device():
    """GPT-2 small built as a module tree without memory: its numel per component and its FLOPs on 8 × 1024 tokens
    (FlopCounterMode runs on meta tensors); the training step by the same counter (shapes only)."""
    given = dict(GPT2_SMALL, batch_size=8, sequence_length=1024)
    expected = torch_budget(given, device="meta")
    answers = answers_of(given)
    for name in ("params_embeddings", "params_attention", "params_mlp", "params_norms", "params_head", "params",
                 "flops", "training_flops", "kv_cache_bytes"):
        assert answers[name] == expected[name], name
    assert answers["params_head"] == 0


@pytest.mark.torch
@pytest.mark.parametrize("problem", ["G.1", "G.2", "G.4"])
def test_the_shipped_budgets_agree_with_torch(problem):
    from solver.problems.load import load
    loaded = load(BUDGET, only=problem).problems[0]
    given = {name: value for name, value in vars(loaded.given).items() if value is not None}
    expected = torch_budget(given, device="meta")
    answers = {name: a.value for name, a in kind().compute(loaded.given).items()}
    for name in ("params_embeddings", "params_attention", "params_mlp", "params_norms", "params_head", "params",
                 "flops", "training_flops", "kv_cache_bytes"):
        assert answers[name] == expected[name], name


# ---- mistakes, each against an independent computation -----------------------------------------------------------

def mistake_answers(given: dict) -> dict:
    k = kind()
    read = k.read(given)
    return {m.name: m.answers(read) for m in k.mistakes}


SMALL = {"vocab_size": 37, "context_length": 9, "d_model": 12, "num_layers": 2, "num_heads": 3, "d_ff": 20,
         "batch_size": 2, "sequence_length": 7}


@pytest.mark.torch
@pytest.mark.parametrize("tied", [True, False])
def test_each_mistake_is_its_own_model_or_count(tied):
    given = dict(SMALL, tied_embeddings=tied)
    found, right = mistake_answers(given), torch_budget(given)
    if tied:        # the same model untied: the head's V·d counted again
        untied = torch_budget(dict(given, tied_embeddings=False), training=False)
        assert found["tied_head_counted_twice"] == {"params_head": untied["params_head"], "params": untied["params"]}
    else:
        assert found["tied_head_counted_twice"] == {}
    no_bias = torch_budget(given, linear_bias=False, training=False)        # the LayerNorms keep their β
    assert found["bias_forgotten"] == {name: no_bias[name] for name in ("params_attention", "params_mlp", "params")}
    no_beta = torch_budget(given, norm_bias=False, training=False)
    assert found["layernorm_shift_forgotten"] == {"params_norms": no_beta["params_norms"], "params": no_beta["params"]}
    assert found["rmsnorm_shift_counted"] == {}
    without_scores = right["flops"] - right["bmm_flops"]        # the counter's own split: bmm is QKᵀ and weights·V
    assert found["attention_scores_left_out"]["flops"] == without_scores
    assert found["attention_scores_left_out"]["training_flops"] == 3 * without_scores
    assert found["macs_as_flops"]["flops"] * 2 == right["flops"]
    assert found["macs_as_flops"]["training_flops"] * 2 == right["training_flops"]
    assert found["kv_cache_keys_only"] == {"kv_cache_bytes": right["k_bytes"]}


@pytest.mark.torch
def test_rmsnorm_given_a_shift_counts_a_layernorm_beta():
    given = dict(SMALL, norm="rmsnorm")
    found = mistake_answers(given)["rmsnorm_shift_counted"]
    with_beta = torch_budget(dict(given, norm="layernorm", bias=True), linear_bias=True, training=False)
    assert found == {"params_norms": with_beta["params_norms"], "params": with_beta["params"]}
    assert mistake_answers(dict(given, bias=False))["bias_forgotten"] == {}


# ---- the general formula ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("given", LETTERS, ids=[f"letters{i}" for i in range(len(LETTERS))])
def test_the_general_formula_gives_the_numbers(given):
    """A problem in letters, its letters then put in at random sizes, against the same problem in numbers."""
    rng = random.Random(str(given))
    heads = given["num_heads"] if isinstance(given["num_heads"], int) else rng.randint(1, 4)
    width = given["d_model"] if isinstance(given["d_model"], int) else heads * rng.randint(1, 50)
    context = given["context_length"] if isinstance(given["context_length"], int) else rng.randint(30, 2000)
    numbers = {"V": rng.randint(2, 60000), "T_ctx": context, "d": width, "L": rng.randint(1, 48), "h": heads,
               "d_ff": rng.randint(1, 5000), "B": rng.randint(1, 64), "T": rng.randint(1, context)}
    general = answers_of(given)
    at = answers_of({name: numbers[v] if isinstance(v, str) and v in numbers else v for name, v in given.items()})
    for name, formula in general.items():
        value = sympy.sympify(formula).subs({s: numbers[s.name] for s in sympy.sympify(formula).free_symbols})
        assert value == at[name], (name, formula, at[name])


def test_the_general_budget():
    """Written out by hand: 12Ld² + ... is the well-known 12·L·d² of the blocks when d_ff = 4d, no biases, no norms'
    shift aside; the KV cache 2·L·B·T·d·4."""
    d, layers, vocab, context, t, b, dff = sympy.symbols("d L V T_ctx T B d_ff", integer=True, positive=True)
    answers = answers_of({"vocab_size": "V", "context_length": "T_ctx", "d_model": "d", "num_layers": "L",
                          "num_heads": "h", "d_ff": "d_ff", "batch_size": "B", "sequence_length": "T",
                          "bias": False, "norm": "rmsnorm", "tied_embeddings": False})
    assert sympy.expand(answers["params"] - (layers * (4 * d**2 + 2 * d * dff) + (2 * layers + 1) * d
                                             + vocab * d + context * d + vocab * d)) == 0
    assert sympy.expand(answers["flops_per_token"] - 2 * (layers * (4 * d**2 + 2 * d * dff + 2 * t * d)
                                                          + vocab * d)) == 0
    assert sympy.expand(answers["kv_cache_bytes"] - 8 * layers * b * t * d) == 0
    assert sympy.expand(answers["training_flops"] - 3 * b * t * answers["flops_per_token"]) == 0


@pytest.mark.parametrize("given", GIVENS[:40], ids=[f"random{i}" for i in range(40)])
def test_every_displayed_equation_holds(given):
    def value(member):
        return sympy.sympify(member.value())
    k = kind()
    assert compared_members(k.solve(k.read(given)), value, lambda a, b: sympy.expand(a - b) == 0,
                            errors=(ValueError, KeyError)) >= 1


# ---- the CLI ------------------------------------------------------------------------------------------------------

@pytest.mark.torch
def test_check_gpt2_small_right_and_mistaken(tmp_path):
    expected = torch_budget(dict(GPT2_SMALL, batch_size=8, sequence_length=1024), device="meta")
    untied = torch_budget(dict(GPT2_SMALL, tied_embeddings=False, batch_size=1, sequence_length=1),
                          device="meta", training=False)
    no_bias = torch_budget(dict(GPT2_SMALL, batch_size=1, sequence_length=1), device="meta", training=False,
                           linear_bias=False)
    cases = [("G.1:params", f"{expected['params']:,}", 0, None),
             ("G.1:params", str(untied["params"]), 1, "tied_head_counted_twice"),
             ("G.1:params", str(no_bias["params"]), 1, "bias_forgotten"),
             ("G.2:flops", str(expected["flops"]), 0, None),
             ("G.2:flops", str(expected["flops"] // 2), 1, "macs_as_flops"),
             ("G.2:flops", str(expected["flops"] - expected["bmm_flops"]), 1, "attention_scores_left_out"),
             ("G.2:training_flops", str(expected["training_flops"]), 0, None),
             ("G.2:kv_cache_bytes", str(expected["kv_cache_bytes"]), 0, None),
             ("G.2:kv_cache_bytes", str(expected["k_bytes"]), 1, "kv_cache_keys_only")]
    for target, text, code, mistake in cases:
        result = run_solver("check", BUDGET, target, text, "--json")
        assert result.returncode == code, (target, text, result.stdout + result.stderr)
        assert json.loads(result.stdout).get("mistake") == mistake, (target, result.stdout)


def test_check_judges_formulas(tmp_path):
    cases = [("G.3:kv_cache_bytes", "8*L*B*T*d", 0, None),
             ("G.3:kv_cache_bytes", "2 \\cdot L B T d \\cdot 4", 0, None),
             ("G.3:kv_cache_bytes", "4*L*B*T*d", 1, "kv_cache_keys_only"),
             ("G.3:flops_per_token", "2*(L*(4*d^2 + 2*d*d_ff + 2*T*d) + V*d)", 0, None),
             ("G.3:flops_per_token", "L*(4*d^2 + 2*d*d_ff + 2*T*d) + V*d", 1, "macs_as_flops"),
             ("G.3:flops_per_token", "2*(L*(4*d^2 + 2*d*d_ff) + V*d)", 1, "attention_scores_left_out"),
             ("G.3:params", "L*(4*d^2 + 4*d + 2*d*d_ff + d_ff + d + 4*d) + V*d + T_ctx*d + 2*d", 0, None),
             ("G.3:params", "L*(4*d^2 + 2*d*d_ff + 4*d) + V*d + T_ctx*d + 2*d", 1, "bias_forgotten"),
             ("G.3:params", "L*(4*d^2 + 4*d + 2*d*d_ff + d_ff + d + 2*d) + V*d + T_ctx*d + d", 1,
              "layernorm_shift_forgotten")]
    for target, text, code, mistake in cases:
        result = run_solver("check", BUDGET, target, text, "--json")
        assert result.returncode == code, (target, text, result.stdout + result.stderr)
        assert json.loads(result.stdout).get("mistake") == mistake, (target, text, result.stdout)


def test_solve_states_the_conventions():
    result = run_solver("solve", BUDGET, "--problem", "G.2", "--format", "text")
    assert result.returncode == 0, result.stderr
    for words in ("FlopCounterMode", "causal mask is not subtracted", "≈ 3 × the forward FLOPs", "float32",
                  "nn.Linear(d, 3d)", "tied embeddings"):
        assert words in result.stdout, words


BAD = [
    ({"num_heads": 5}, "num_heads", "must divide d_model (12)"),
    ({"sequence_length": 10}, "sequence_length", "longer than context_length (9)"),
    ({"d_model": 0}, "d_model", "an integer >= 1"),
    ({"num_layers": -2}, "num_layers", "an integer >= 1"),
    ({"vocab_size": 1.5}, "vocab_size", "an integer >= 1"),
    ({"norm": "batchnorm"}, "norm", "layernorm, rmsnorm"),
    ({"positional": "rotary"}, "positional", "learned, none"),
    ({"dtype": "int8"}, "dtype", "float32, float16, bfloat16, float64"),
    ({"tied_embeddings": "yes"}, "tied_embeddings", "true or false"),
]


@pytest.mark.parametrize("change, field, words", BAD, ids=[field for _, field, _ in BAD])
def test_bad_input_is_one_paragraph_naming_the_field(tmp_path, change, field, words):
    path = one_problem_file(tmp_path, KIND, dict(SMALL, **change))
    assert_bad_input(run_solver("solve", path), path, "p", field, words)


def test_a_sequence_longer_than_the_context_is_fine_without_learned_positions(tmp_path):
    path = one_problem_file(tmp_path, KIND, dict(SMALL, sequence_length=10, positional="none"))
    result = run_solver("check", path, "p:kv_cache_bytes", str(2 * 2 * 2 * 10 * 12 * 4))
    assert result.returncode == 0, result.stdout + result.stderr
