"""`solver variants`: randomized versions of a problem set, deterministic and valid,
and grading by variant."""
import csv
import io
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from solver import cli
from solver.commands.check import check_file
from solver.kinds import KINDS
from solver.kinds.mistakes import Mistake
from solver.problems.load import load
from solver.problems.load import solve_file
from solver.commands.variants import write_variants

from conftest import PROBLEM_FILES, ROOT, assert_bad_input, run_solver
from test_selftest import Doubling

COMP433 = ROOT / "problems" / "comp433-a3.yaml"
CONV_FAMILY = ("conv2d", "pool2d", "conv_transpose2d")
DSGA = ROOT / "problems" / "dsga1008-hw2.yaml"


def tree(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def variant_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*-v*.yaml"))


def givens(path: Path) -> dict:
    """Problem id -> its `given` mapping, as written in the file."""
    return {str(p["id"]): p["given"] for p in yaml.safe_load(path.read_text(encoding="utf-8"))["problems"]}


def key_rows(folder: Path) -> list[dict]:
    [key] = folder.glob("*-variants-key.csv")
    return list(csv.DictReader(io.StringIO(key.read_text(encoding="utf-8"))))


def cross_correlation(x, k, stride=1):
    """By definition: each output cell is a window times the kernel, summed (no padding)."""
    x, k = np.array(x), np.array(k)
    (h, w), (kh, kw) = x.shape, k.shape
    return np.array([[(x[i:i + kh, j:j + kw] * k).sum() for j in range(0, w - kw + 1, stride)]
                     for i in range(0, h - kh + 1, stride)])


def matrix_text(m) -> str:
    return "[" + ", ".join("[" + ", ".join(str(int(v)) for v in row) + "]" for row in m) + "]"


def write_problems(path: Path, problems: str) -> Path:
    path.write_text("title: Test\nproblems:\n" + problems, encoding="utf-8")
    return path


SMALL_CONV = """\
  - id: "p1"
    kind: conv2d
    given:
      input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
      kernel: [[1, 0], [0, -1]]
"""


# ---- determinism -------------------------------------------------------------

def test_same_seed_gives_byte_identical_files_and_another_seed_others(tmp_path):
    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):         # fresh processes: hash() salts differ
        result = run_solver("variants", COMP433, "--count", 3, "--seed", seed, "--output", tmp_path / name)
        assert result.returncode == 0 and result.stdout == "", result.stderr
        runs[name] = tree(tmp_path / name / "comp433-a3-variants")
    assert runs["a"] == runs["b"]
    names = {str(p) for p in runs["a"]}
    assert names == {f"comp433-a3-v{i}{suffix}" for i in (1, 2, 3)
                     for suffix in (".yaml", "-solutions.tex", "-key.tex")} | {"comp433-a3-variants-key.csv"}
    assert runs["a"].keys() == runs["c"].keys()
    assert all(runs["a"][name] != runs["c"][name] for name in map(Path, names) if name.suffix == ".yaml")


def test_variant_i_does_not_depend_on_how_many_are_made(tmp_path):
    few = write_variants(COMP433, 2, 9, tmp_path / "few")
    many = write_variants(COMP433, 12, 9, tmp_path / "many")
    assert (few / "comp433-a3-v2.yaml").read_text() == (many / "comp433-a3-v02.yaml").read_text()


# ---- validity ------------------------------------------------------------------

@pytest.mark.parametrize("path", PROBLEM_FILES, ids=lambda p: p.stem)
def test_every_variant_solves_and_its_key_checks_as_correct(tmp_path, path):
    folder = write_variants(path, 2, 2024, tmp_path)
    files = variant_files(folder)
    assert len(files) == 2
    rows = key_rows(folder)
    original, solutions = solve_file(path)
    answered = {p.id for p, solution in zip(original.problems, solutions) if solution.answers}  # essays have none
    for number, file in enumerate(files, start=1):
        pset, _ = solve_file(file)
        assert [p.id for p in pset.problems] == [p.id for p in original.problems]
        assert pset.title == f"{original.title} — variant {number}"
        mine = [r for r in rows if r["variant"] == str(number)]
        assert {r["problem"] for r in mine} == answered
        for row in mine:
            verdict = check_file(file, f"{row['problem']}:{row['answer']}", row["text"])
            assert verdict.verdict == "correct", (file.name, row, verdict.feedback)


def test_matrices_are_redrawn_within_their_range_and_the_rest_is_kept(tmp_path):
    folder = write_variants(COMP433, 4, 1, tmp_path)
    original = givens(COMP433)
    kinds = {str(p["id"]): p["kind"] for p in yaml.safe_load(COMP433.read_text(encoding="utf-8"))["problems"]}
    for file in variant_files(folder):
        varied = givens(file)
        for pid in ("Q2", "Q3", "Q4"):                   # no matrices: as they were
            assert varied[pid] == original[pid]
        for pid, given in varied.items():
            if kinds[pid] not in CONV_FAMILY:
                continue
            for field in ("input", "kernel") if pid != "Q5c" else ():      # Q5c: Q5b's answer (below)
                if field in given:
                    old, new = np.array(original[pid][field]), np.array(given[field])
                    assert new.shape == old.shape and old.min() <= new.min() and new.max() <= old.max()
            assert {k: v for k, v in given.items() if k not in ("input", "kernel")} == \
                   {k: v for k, v in original[pid].items() if k not in ("input", "kernel")}
    firsts = [givens(f)["Q1a"]["kernel"] for f in variant_files(folder)]
    assert any(k != original["Q1a"]["kernel"] for k in firsts) and len({str(k) for k in firsts}) > 1


def test_a_story_stays_true_within_a_variant(tmp_path):
    """Parts that share X and F share them in each variant, and a problem given an
    earlier part's answer gets that part's answer in the variant."""
    for file in variant_files(write_variants(COMP433, 3, 77, tmp_path / "comp")):
        g = givens(file)
        assert all(g[pid]["input"] == g["Q1a"]["input"] for pid in ("Q1b", "Q1c", "Q1d", "Q1e"))
        assert all(g[pid]["kernel"] == g["Q1a"]["kernel"] for pid in ("Q1b", "Q1c", "Q1e"))
        assert g["Q5b"]["input"] == g["Q5a"]["input"] and g["Q5b"]["kernel"] == g["Q5a"]["kernel"]
        relu = np.maximum(cross_correlation(g["Q5b"]["input"], g["Q5b"]["kernel"]), 0)
        assert np.array_equal(np.array(g["Q5c"]["input"]), relu)
    for file in variant_files(write_variants(DSGA, 3, 77, tmp_path / "dsga")):
        g = givens(file)
        assert np.array_equal(np.array(g["2c"]["input"]), cross_correlation(g["1c"]["input"], g["1c"]["kernel"]))


def test_variants_agree_with_torch(tmp_path):
    from test_shipped_oracle import torch_output
    from solver.kinds import get_kind
    checked = 0
    for path in PROBLEM_FILES:
        for file in variant_files(write_variants(path, 3, 31, tmp_path / path.stem)):
            for problem in load(file).problems:
                if problem.kind not in CONV_FAMILY or getattr(problem.given, "input", None) is None:
                    continue
                ours = np.asarray(get_kind(problem.kind).solve(problem.given).answers["output"].value)
                expected = torch_output(problem.kind, problem.given)
                ours = np.array([float(v) for v in ours.flat]).reshape(expected.shape)
                assert np.allclose(ours, expected, rtol=1e-12, atol=1e-12), (file.name, problem.id)
                checked += 1
    assert checked >= 12 * 3


def test_a_problems_own_vary_replaces_the_kinds_default(tmp_path):
    path = write_problems(tmp_path / "set.yaml", SMALL_CONV + """\
    vary:
      stride: [1, 2]
      input: {min: -3, max: 3}
  - id: "p2"
    kind: conv2d
    given:
      input: [[1, 2], [3, 4]]
      kernel: [[1]]
    vary: {}
""")
    folder = write_variants(path, 30, 3, tmp_path / "out")
    seen_strides = set()
    for file in variant_files(folder):
        g = givens(file)
        seen_strides.add(g["p1"]["stride"])
        assert np.array(g["p1"]["input"]).shape == (3, 3)
        assert all(-3 <= v <= 3 for row in g["p1"]["input"] for v in row)
        assert g["p1"]["kernel"] == [[1, 0], [0, -1]]           # not in its vary: kept
        assert g["p2"] == {"input": [[1, 2], [3, 4]], "kernel": [[1]]}   # vary: {} keeps it
        assert "vary" not in file.read_text()
    assert seen_strides == {1, 2}


def test_a_problem_no_draw_changes_is_named_unless_its_file_keeps_it(tmp_path):
    """Optimizer problems came out the same in every variant with no word of it."""
    path = write_problems(tmp_path / "set.yaml", """\
  - id: "o1"
    kind: optimizer
    given: {rule: sgd, params: {w: [1, 2]}, grads: [{w: [0.5, -1]}], lr: 0.1}
  - id: "o2"
    kind: optimizer
    given: {rule: sgd, params: {w: [1, 2]}, grads: [{w: [0.5, -1]}], lr: 0.1}
    vary: {}
""")
    result = run_solver("variants", path, "--count", "2", "--seed", "1", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "problem o1 is the same in every variant" in result.stderr and "o2" not in result.stderr


def test_draws_the_kind_refuses_are_drawn_again(tmp_path):
    """A 3×3 input and kernel sizes 1 to 9: only sizes up to 3 fit."""
    path = write_problems(tmp_path / "set.yaml", """\
  - id: "p"
    kind: pool2d
    given: {input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel_size: 2}
    vary: {kernel_size: {min: 1, max: 9}}
""")
    sizes = {givens(f)["p"]["kernel_size"] for f in variant_files(write_variants(path, 40, 0, tmp_path / "out"))}
    assert sizes == {1, 2, 3}


# ---- bad input -----------------------------------------------------------------

@pytest.mark.parametrize("vary, field, words", [
    ("{kernel_siz: [1, 2]}", "vary.kernel_siz", "is not a given field of kind `conv2d`"),
    ("{stride: {min: 3, max: 1}}", "vary.stride", "min 3 larger than max 1"),
    ("{stride: {min: 1, max: 2.5}}", "vary.stride", "must be a whole number"),
    ("{stride: {low: 1, high: 2}}", "vary.stride", "a list of choices, or a range {min: a, max: b}"),
    ("{stride: []}", "vary.stride", "list at least one choice"),
    ("{stride: {max: 3}}", "vary.stride", "needs `min`"),
    ("[stride]", "vary", "must be a mapping"),
])
def test_a_bad_vary_is_one_clear_paragraph(tmp_path, vary, field, words):
    path = write_problems(tmp_path / "bad.yaml", SMALL_CONV + f"    vary: {vary}\n")
    result = run_solver("variants", path, "--count", 2, "--seed", 1, "--output", tmp_path / "out")
    assert_bad_input(result, path, "p1", field, words)
    assert not (tmp_path / "out").exists()


def test_a_vary_no_draw_of_which_is_valid_names_the_problem_and_keeps_the_old_set(tmp_path):
    path = write_problems(tmp_path / "set.yaml", SMALL_CONV)
    out = tmp_path / "out"
    assert write_variants(path, 2, 1, out) == out / "set-variants"
    before = tree(out)
    write_problems(path, SMALL_CONV + "    vary: {kernel_size: [7, 8]}\n")      # never fits 3×3
    result = run_solver("variants", path, "--count", 2, "--seed", 1, "--output", out)
    assert_bad_input(result, path, "p1", "vary", "no valid variant in 100 draws")
    assert tree(out) == before and [p.name for p in out.iterdir()] == ["set-variants"]


def test_a_new_set_replaces_the_old_one_whole(tmp_path):
    write_variants(COMP433, 3, 1, tmp_path)
    folder = write_variants(COMP433, 2, 1, tmp_path)
    assert len(variant_files(folder)) == 2 and [p.name for p in tmp_path.iterdir()] == ["comp433-a3-variants"]
    assert {r["variant"] for r in key_rows(folder)} == {"1", "2"}


def test_unwritable_output_and_bad_options(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be\n")
    result = run_solver("variants", COMP433, "--count", 2, "--seed", 1, "--output", blocker / "out")
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]
    for options in (["--count", "0", "--seed", "1"], ["--count", "2", "--seed", "-1"], ["--count", "2"]):
        result = run_solver("variants", COMP433, *options, "--output", tmp_path / "out")
        assert result.returncode == 2 and "Traceback" not in result.stderr, options
    assert not (tmp_path / "out").exists()


def test_markdown_sheets_and_progress(tmp_path):
    result = run_solver("variants", DSGA, "--count", 20, "--seed", 3, "--format", "md", "--output", tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "dsga1008-hw2-variants"
    assert (folder / "dsga1008-hw2-v07-key.md").exists() and (folder / "dsga1008-hw2-v20-solutions.md").exists()
    assert "variants: 20 of 20" in result.stderr and f"wrote 20 variants to {folder}" in result.stderr


# ---- grading by variant ----------------------------------------------------------

def test_grading_checks_each_row_against_its_variant(tmp_path):
    run_solver("variants", COMP433, "--count", 3, "--seed", 11, "--output", tmp_path)
    folder = tmp_path / "comp433-a3-variants"
    right = {n: cross_correlation(givens(folder / f"comp433-a3-v{n}.yaml")["Q1a"]["input"],
                                  givens(folder / f"comp433-a3-v{n}.yaml")["Q1a"]["kernel"]) for n in (1, 2)}
    assert not np.array_equal(right[1], right[2])
    q1a = givens(COMP433)["Q1a"]
    rows = [["ann", "Q1a", "output", matrix_text(right[2]), "2"],
            ["bob", "Q1a", "output", matrix_text(right[1]), "2"],
            ["cy", "Q1a", "output", matrix_text(right[2]), "99"],
            ["cy", "Q1a", "output", matrix_text(right[2]), "0"],
            ["cy", "Q1a", "output", matrix_text(right[2]), "two"],
            ["dan", "Q1a", "output", matrix_text(cross_correlation(q1a["input"], q1a["kernel"])), ""],
            ["dan", "Q1a", "output", matrix_text(right[1]), "1"]]
    answers = tmp_path / "answers.csv"
    with open(answers, "w", newline="") as out:
        csv.writer(out).writerows([["student", "problem", "answer", "text", "variant"], *rows])

    result = run_solver("grade", COMP433, answers, "--seed", 11, "--count", 3)
    assert result.returncode == 0, result.stderr
    graded = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["verdict"] for r in graded[:len(rows)]] == ["correct", "incorrect", "invalid", "invalid",
                                                          "invalid", "correct", "correct"]
    assert all("out of range" in r["feedback"] and "1 to 3" in r["feedback"] for r in graded[2:5])

    without_seed = run_solver("grade", COMP433, answers)
    assert without_seed.returncode == 0
    graded = list(csv.DictReader(io.StringIO(without_seed.stdout)))
    assert [r["verdict"] for r in graded[:len(rows)]] == ["invalid"] * 5 + ["correct", "invalid"]
    assert "--seed" in graded[0]["feedback"]

    half = run_solver("grade", COMP433, answers, "--seed", 11)
    assert half.returncode == 2 and "--seed and --count go together" in half.stderr


# ---- selftest ----------------------------------------------------------------------

def test_selftest_checks_a_few_variants_of_each_problem_that_varies():
    result = run_solver("selftest")
    assert result.returncode == 0, result.stdout
    rows = {tuple(line.split()[:2]): line.split() for line in result.stdout.splitlines()[1:] if line.strip()}
    assert rows[("problems/comp433-a3.yaml", "Q1a")][3] == "3"       # the variants column
    assert rows[("problems/comp433-a3.yaml", "Q5c")][3] == "3"       # an earlier answer, varied with it
    assert rows[("problems/cpen455-hw2.yaml", "3.1")][3] == "0"      # symbolic: not varied


# Broken: "nan" reads as invalid, not as incorrect.
NOT_A_NUMBER = Mistake("not_a_number", "Never diagnosed.", lambda n: {"count": float("nan")})


def test_selftest_names_the_variant_of_a_failure(tmp_path, monkeypatch, capsys):
    """A kind whose mistake's answer cannot be read as an integer fails in every variant."""
    class VaryingDoubling(Doubling):
        vary = {"n": {"min": 1, "max": 9}}
    kind = SimpleNamespace(KIND=VaryingDoubling([NOT_A_NUMBER]))
    monkeypatch.setitem(KINDS, "doubling", "doubling")
    monkeypatch.setitem(sys.modules, "solver.kinds.doubling", kind)
    path = write_problems(tmp_path / "doubling.yaml", "  - id: twice\n    kind: doubling\n    statement: Double {{ n }}.\n"
                                                          "    given: {n: 6}\n")
    assert cli.main(["selftest", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {path} problem 'twice' answer 'count', variant 3, mistake not_a_number" in out
    assert out.rstrip().endswith("4 failures")


# ---- numbers the statement shows ------------------------------------------------

STACK = """\
  - id: "s"
    kind: layers_to_size
    statement: >
      {{ kernel_size }}×{{ kernel_size }} convolutions shrink a {{ input_size }}×{{ input_size }}
      image to 8×8. How many layers?
    given: {input_size: 224, target_size: 8, kernel_size: 7, out_channels: 3, in_channels: 3}
  - id: "c"
    kind: conv_cost
    statement: A 3×3 convolution from 16 to 32 channels. How many parameters?
    given: {in_channels: 16, out_channels: 32, kernel_size: 3}
"""


def test_a_kind_varies_by_default_only_the_numbers_the_statement_shows(tmp_path):
    folder = write_variants(write_problems(tmp_path / "set.yaml", STACK), 20, 5, tmp_path / "out")
    drawn = set()
    for file in variant_files(folder):
        g = givens(file)
        assert g["c"] == {"in_channels": 16, "out_channels": 32, "kernel_size": 3}   # the prose tells them
        size, kernel = g["s"]["input_size"], g["s"]["kernel_size"]
        assert g["s"]["target_size"] == 8 and (size - 8) % (kernel - 1) == 0     # 8×8 reachable, stride 1
        drawn.add((size, kernel))
        sheet = run_solver("sheet", file, "--key", "--format", "md").stdout
        assert f"{kernel}×{kernel} convolutions shrink a {size}×{size}" in sheet
        layers = (size - 8) // (kernel - 1)                 # each layer takes kernel − 1 off
        assert check_file(file, "s:layers", str(layers)).verdict == "correct"
    assert len(drawn) > 3


@pytest.mark.parametrize("statement, words", [
    ("Shrink {{ input_siz }} to 8.", "`{{ input_siz }}` names no field this problem gives"),
    ("Shrink {{input_size}} to 8, kernels {{ out_channels }}.", "`{{ out_channels }}` names no field"),
])
def test_a_statement_naming_no_given_is_one_clear_paragraph(tmp_path, statement, words):
    path = write_problems(tmp_path / "bad.yaml", f"""\
  - id: "s"
    kind: layers_to_size
    statement: "{statement}"
    given: {{input_size: 224, target_size: 8, kernel_size: 7}}
""")
    assert_bad_input(run_solver("solve", path), path, "s", "statement", words)


def test_draws_are_uniform_within_their_bounds_and_fixed_by_their_key():
    from solver.problems.vary import Draws
    first, again, other = Draws([7, 1, 0]), Draws([7, 1, 0]), Draws([7, 2, 0])
    values = [first.integer(-2, 3) for _ in range(6000)]
    assert values == [again.integer(-2, 3) for _ in range(6000)]
    assert values != [other.integer(-2, 3) for _ in range(6000)]
    assert all(850 < values.count(v) < 1150 for v in range(-2, 4))      # 1000 expected each


# ---- stopped by a signal ---------------------------------------------------------

@pytest.mark.parametrize("stop, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_run_leaves_no_temporary_folder_and_no_partial_output(tmp_path, stop, status):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "solver", "variants", COMP433, "--count", "2000",
                                "--seed", "1", "--output", out], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,     # as from a terminal, even if the tests
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # run in the background
    try:
        deadline = time.monotonic() + 60
        while not any(out.glob(".comp433-a3-variants.*.tmp/*.yaml")):      # it has started writing
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == status and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == []


# ---- a default variant stays a meaningful problem -------------------------------

EVERY_KIND = """\
  - id: conv
    kind: conv2d
    given: {input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel: [[1, -1], [2, 1]]}
  - id: pool
    kind: pool2d
    given: {input: [[0, 0, 0], [1, 2, 3], [4, 5, 6]], kernel_size: 2, stride: 1}
  - id: transposed
    kind: conv_transpose2d
    given: {input: [[1, 2], [3, 4]], kernel: [[1, 0], [0, 1]]}
  - id: backward
    kind: conv2d_backward
    given: {input: [[1, 0, 2], [3, 1, 0], [2, 2, 1]], kernel: [[2, 1], [1, 3]], upstream: [[1, 0], [0, 1]]}
  - id: norm
    kind: batchnorm
    given: {input: [[[[1, 2]], [[3, 5]]], [[[4, 0]], [[2, 2]]]], gamma: [0.5, 1.5], beta: [0.1, -0.2]}
  - id: normalization
    kind: normalization
    given: {type: group, groups: 2, input: [[[[1, 2]], [[3, 5]], [[4, 0]], [[2, 2]]]], gamma: [0.5, 1.5, 1, 2],
            beta: [0.1, -0.2, 0, 0.3], upstream: [[[[1, -1]], [[0.5, 2]], [[1, 1]], [[-2, 0.5]]]]}
  - id: rnn
    kind: rnn
    statement: "A tanh RNN: h_0 = {{ h0 }}, w_in = {{ w_in }}, w_hh = {{ w_hh }}, w_hy = {{ w_hy }}, y_r = {{ target }}."
    given: {x: [0.3, -0.2, 0.5], h0: 0.1, w_in: 0.3, w_hh: 0.3, w_hy: 0.7, activation: tanh, target: 0.5}
  - id: lstm
    kind: lstm
    statement: "An LSTM reads {{ x }} from h_0 = {{ h0 }}, c_0 = {{ c0 }}."
    given: {x: [0.5, -1.0], h0: 0.2, c0: -0.5, weight_ih: [0.5, 0.4, 0.8, 0.3], weight_hh: [0.2, 0.1, -0.5, 0.6],
            bias_ih: [0.1, 0.5, -0.1, 0.1], target: 0.2}
  - id: gru
    kind: gru
    given: {x: [[1.0, -0.5], [0.5, 0.25]], w_ir: [0.5, 0.2], w_iz: [-0.4, 0.1], w_in: [0.8, -0.3], w_hr: 0.7,
            w_hz: 0.2, w_hn: -0.6, b_hn: 0.4}
  - id: attention
    kind: attention
    given:
      x: [[0.5, -1.0], [1.5, 0.25], [1.0, 2.0]]
      w_q: [[0.5, 1.0], [-1.0, 0.5]]
      w_k: [[1.0, 0.0], [0.5, -0.5]]
      w_v: [[1.0, 2.0], [0.0, 1.0]]
  - id: sce
    kind: softmax_cross_entropy
    given: {logits: [[2.0, -1.0, 0.5], [0.25, 1.5, -0.5]], target: [0, 2]}
  - id: dropout
    kind: dropout
    given: {input: [[1.5, -2.0, 0.5], [3.0, 4.0, -1.0]], p: 0.25, mask: [[1, 0, 1], [1, 1, 0]]}
  - id: transformer
    kind: transformer
    statement: "{{ batch_size }} sequences of {{ sequence_length }} tokens through a small decoder."
    given: {vocab_size: 1000, context_length: 1024, d_model: 64, num_layers: 2, num_heads: 4, d_ff: 256,
            batch_size: 8, sequence_length: 256}
  - id: init
    kind: init
    statement: "A {{ in_channels }} to {{ out_channels }} convolution with {{ kernel_size }}×{{ kernel_size }} kernels."
    given: {scheme: kaiming_uniform, in_channels: 16, out_channels: 32, kernel_size: 3}
  - id: regularization
    kind: regularization
    given:
      weights: {W: [[0.5, -1.5], [2.0, 1.0]], b: [0.25, -0.5]}
      biases: [b]
      lambda: 0.1
      data_grad: {W: [[0.2, -0.4], [1.0, 0.5]], b: [0.3, -0.1]}
      lr: 0.5
  - id: mlp
    kind: mlp
    given:
      inputs: [[0, 0], [0, 1], [1, 0], [1, 1]]
      target: [0, 1, 1, 1]
  - id: jacobian
    kind: mlp_jacobian
    given:
      input: [2, -1]
      layers:
        - {weight: [[1, -1], [0, 1]], bias: [1, 1], activation: tanh}
        - {weight: [[2, 1]], bias: [0]}
  - id: design
    kind: conv_design
    statement: "On a {{ input_size }}×{{ input_size }} image, find the kernel of the forward difference."
    given: {in_channels: 1, out_channels: 1, kernel_size: 2, input_size: 5, target: "X[i+1, j] - X[i, j]"}
  - id: cost
    kind: conv_cost
    statement: "{{ in_channels }} to {{ out_channels }} channels, {{ kernel_size }}×{{ kernel_size }} kernels."
    given: {in_channels: 16, out_channels: 32, kernel_size: 3}
  - id: stack
    kind: layers_to_size
    statement: "{{ kernel_size }}×{{ kernel_size }} convolutions shrink {{ input_size }} to {{ target_size }}."
    given: {input_size: 64, target_size: 8, kernel_size: 3}
  - id: graph
    kind: graph
    given: {program: ["q = x + y", "f = q * z"], values: {x: -2, y: 5, z: -4}}
  - id: network
    kind: network
    statement: "A batch of {{ batch_size }} images."
    given: {input_shape: 3x8x8, batch_size: 4, layers: [{type: conv2d, out_channels: 2, kernel_size: 3}]}
"""


def written_decimals(x) -> int:
    """Decimals a YAML number is written with (0.25 has 2; a whole number none)."""
    return len(repr(x).split(".")[1]) if isinstance(x, float) else 0


def rows(value) -> list:
    """The innermost lists of numbers (a vector is its own row; named tensors each their own rows)."""
    if isinstance(value, dict):
        return [row for item in value.values() for row in (rows(item) if isinstance(item, list) else [[item]])]
    if value and isinstance(value[0], list):
        return [row for item in value for row in rows(item)]
    return [value]


def flat(value) -> list:
    return [x for row in rows(value) for x in row] if isinstance(value, (list, dict)) else [value]


def equal_numbers(row) -> bool:
    """A row of several numbers, all equal: logits of a uniform softmax."""
    return len(row) > 1 and len(set(row)) == 1


def equal_rows(value) -> bool:
    """Whether a matrix (or a tensor's, or a named tensor's matrix) has two equal rows."""
    if isinstance(value, dict):
        return any(map(equal_rows, value.values()))
    if not (isinstance(value, list) and value and isinstance(value[0], list)):
        return False
    if isinstance(value[0][0], list):
        return any(map(equal_rows, value))
    return len({tuple(row) for row in value}) < len(value)


def test_every_kind_that_varies_by_default_is_drawn_here():
    from solver.kinds import get_kind
    varying = {name for name in KINDS if get_kind(name).vary}
    covered = {p["kind"] for p in yaml.safe_load("problems:\n" + EVERY_KIND)["problems"]}
    assert varying <= covered


def test_default_variants_stay_meaningful_problems(tmp_path):
    """Over many draws of every kind: shapes kept, no 0 in a field that has none, no
    row of zeros (a zero vector, token or weight row) where the problem has none,
    decimals kept to the problem's own decimals, and something changes."""
    from solver.kinds import get_kind
    path = write_problems(tmp_path / "every.yaml", EVERY_KIND)
    original = givens(path)
    kinds = {str(p["id"]): p["kind"] for p in yaml.safe_load(path.read_text())["problems"]}
    drawn: dict = {}
    for file in variant_files(write_variants(path, 25, 8, tmp_path / "out")):
        for pid, given in givens(file).items():
            for field in get_kind(kinds[pid]).vary:
                if field in original[pid]:
                    drawn.setdefault((pid, field), []).append(given[field])
    for (pid, field), values in drawn.items():
        old = original[pid][field]
        places = max(map(written_decimals, flat(old)))
        for new in values:
            assert np.shape(new) == np.shape(old), (pid, field, new)
            numbers = flat(new)
            if 0 not in flat(old):
                assert 0 not in numbers, (pid, field, new)
            if isinstance(old, (list, dict)) and all(any(row) for row in rows(old)):
                assert all(any(row) for row in rows(new)), (pid, field, new)
            if isinstance(old, (list, dict)) and not any(equal_numbers(row) for row in rows(old)):
                assert not any(equal_numbers(row) for row in rows(new)), (pid, field, new)
            assert equal_rows(new) <= equal_rows(old), (pid, field, new)
            assert all(isinstance(x, float) == (places > 0) and written_decimals(x) <= places for x in numbers), \
                (pid, field, new)
        if places:          # decimals stay decimals: 0.3 does not become 0 or 1
            assert any(x != int(x) for new in values for x in flat(new)), (pid, field, values)
    changed = {pid for (pid, field), values in drawn.items() if any(v != original[pid][field] for v in values)}
    assert changed == set(original) - {"design"}   # conv_design's default range for 5 alone is 5


def test_an_array_with_a_zero_row_may_keep_zero_rows_but_is_never_drawn_all_zero():
    from solver.problems.variants import draw
    from solver.problems.vary import Draws, Range
    original = [[0], [2]]                   # a zero row: zero rows may be drawn, each with chance 1/3
    drawn = [draw(Draws([5, key]), Range(0, 2, 0), original) for key in range(300)]
    assert any(row == [0] for value in drawn for row in value)
    assert all(any(x for row in value for x in row) for value in drawn)
    assert draw(Draws([5, 0]), Range(0, 0, 0), original) == [[0], [0]]      # the range holds only 0


def test_logits_are_not_drawn_with_a_row_of_equal_numbers_or_two_equal_rows_the_original_lacks():
    """A row [-1, -1, -1] of logits is a uniform softmax, two equal rows one example twice; an
    original that has such rows may have them drawn."""
    from solver.problems.variants import draw
    from solver.problems.vary import Draws, Range
    drawn = [draw(Draws([7, key]), Range(-1, 1, 0), [[2, 1, 0], [0, 1, 2]]) for key in range(300)]
    assert not any(equal_numbers(row) for value in drawn for row in value)
    assert not any(equal_rows(value) for value in drawn)
    assert not any(equal_numbers(draw(Draws([7, key]), Range(-1, 1, 0), [2, 1, 0])) for key in range(300))
    kept = [draw(Draws([7, key]), Range(-1, 1, 0), [[1, 1, 1], [1, 1, 1]]) for key in range(300)]
    assert any(equal_numbers(row) for value in kept for row in value) and any(map(equal_rows, kept))
    assert draw(Draws([7, 0]), Range(1, 1, 0), [[2, 1], [0, 1]]) == [[1, 1], [1, 1]]   # the range holds only 1


def test_decimals_are_drawn_to_the_problems_own_decimals_between_bounds_rounded_outward(tmp_path):
    """0.3 (one decimal) draws tenths from 0 to 1 (0 left out: the problem has no 0
    weight); 0.25 and -0.5 (two decimals) draw hundredths from -0.5 to 0.3."""
    path = write_problems(tmp_path / "rnn.yaml", """\
  - id: "r"
    kind: rnn
    statement: "w_in = {{ w_in }}, w_hh = {{ w_hh }}."
    given: {x: [0.25, -0.5], h0: 0, w_in: 0.3, w_hh: 0.3, w_hy: 1, activation: tanh}
""")
    seen = {"x": set(), "w_in": set()}
    for file in variant_files(write_variants(path, 40, 2, tmp_path / "out")):
        g = givens(file)["r"]
        seen["x"].update(g["x"])
        seen["w_in"].add(g["w_in"])
        assert g["h0"] == 0 and g["w_hy"] == 1           # whole numbers with nothing to draw between
    assert seen["w_in"] <= {n / 10 for n in range(1, 11)} and len(seen["w_in"]) > 5
    assert seen["x"] <= {n / 100 for n in range(-50, 31)} and any(written_decimals(x) == 2 for x in seen["x"])
    assert 0 not in seen["x"] and min(seen["x"]) < -0.2 and max(seen["x"]) > 0.1


@pytest.mark.parametrize("bounds, ok", [("{min: 0.1, max: 0.9}", True), ("{min: 0.15}", False)])
def test_a_range_of_decimals_has_the_given_values_decimals(tmp_path, bounds, ok):
    path = write_problems(tmp_path / "set.yaml", f"""\
  - id: "r"
    kind: rnn
    given: {{x: [0.5, 0.25], h0: 0, w_in: 0.3, w_hh: 0.3, w_hy: 1}}
    vary: {{w_in: {bounds}}}
""")
    result = run_solver("variants", path, "--count", 5, "--seed", 1, "--output", tmp_path / "out")
    if ok:
        assert result.returncode == 0, result.stderr
        drawn = {givens(f)["r"]["w_in"] for f in variant_files(tmp_path / "out" / "set-variants")}
        assert drawn <= {n / 10 for n in range(1, 10)}
    else:
        assert_bad_input(result, path, "r", "vary.w_in", "a number with at most 1 decimal")


def test_a_number_the_prose_writes_out_is_not_varied_by_default(tmp_path):
    path = write_problems(tmp_path / "set.yaml", """\
  - id: "k"
    kind: conv2d
    statement: "Convolve X with the kernel K = [[1, -1], [2, 1]] (stride 1)."
    given: {input: [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel: [[1, -1], [2, 1]]}
  - id: "s"
    kind: layers_to_size
    statement: "Stacked 7×7 convolutions ({{ kernel_size }}×{{ kernel_size }}) shrink {{ input_size }} to 8."
    given: {input_size: 224, target_size: 8, kernel_size: 7}
""")
    inputs, sizes = set(), set()
    for file in variant_files(write_variants(path, 15, 4, tmp_path / "out")):
        g = givens(file)
        assert g["k"]["kernel"] == [[1, -1], [2, 1]] and g["s"]["kernel_size"] == 7
        inputs.add(str(g["k"]["input"]))
        sizes.add(g["s"]["input_size"])
    assert len(inputs) > 1 and len(sizes) > 1          # what the prose does not write still varies


def test_a_variants_statement_tells_its_own_drawn_values(tmp_path):
    """A network's batch size is redrawn by default where the statement shows it: the sheet said
    the file's 4 beside answers worked out for the variant's batch."""
    path = write_problems(tmp_path / "set.yaml", """\
  - id: "n"
    kind: network
    statement: "A batch of {{ batch_size }} images goes through the network. Give the MACs."
    ask: [macs]
    given: {input_shape: 3x8x8, batch_size: 4, layers: [{type: conv2d, out_channels: 2, kernel_size: 3}]}
""")
    result = run_solver("variants", path, "--count", "4", "--seed", "3", "--format", "md", "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    drawn = set()
    for file in variant_files(tmp_path / "out" / "set-variants"):
        batch = givens(file)["n"]["batch_size"]
        sheet = file.with_name(file.stem + "-solutions.md").read_text(encoding="utf-8")
        assert f"A batch of {batch} images" in sheet
        assert f"{{\\text{{MACs}}}}_{{\\text{{total}}}} &= {batch * 2 * 36 * 27:,}".replace(",", "{,}") in sheet
        drawn.add(batch)
    assert len(drawn) > 1


def test_a_value_several_problems_share_varies_the_same_in_all(tmp_path):
    """1a shows the target; 1b and 1c use "the same target" without showing it."""
    rnn = "{x: [0.5, 0.2], h0: 0, w_in: 0.4, w_hh: 0.3, w_hy: 1, target: 0.8}"
    path = write_problems(tmp_path / "set.yaml", f"""\
  - id: "1a"
    kind: rnn
    statement: "Find the loss against the target y_r = {{{{ target }}}}."
    given: {rnn}
  - id: "1b"
    kind: rnn
    statement: "With the same target, find the gradients."
    given: {rnn}
  - id: "1c"
    kind: rnn
    statement: "Take one gradient step with the same target."
    given: {{x: [0.5, 0.2], h0: 0, w_in: 0.4, w_hh: 0.3, w_hy: 1, target: 0.8, learning_rate: 0.1}}
""")
    targets = set()
    for file in variant_files(write_variants(path, 12, 6, tmp_path / "out")):
        g = givens(file)
        assert g["1a"]["target"] == g["1b"]["target"] == g["1c"]["target"], g
        assert g["1a"]["x"] == g["1b"]["x"] == g["1c"]["x"], g
        targets.add(g["1a"]["target"])
    assert len(targets) > 3


# ---- the key as students type it ---------------------------------------------------

DECIMAL = re.compile(r"-?\d+\.\d+(?:e-?\d+)?")


def figures(decimal: str) -> int:
    """Significant figures of a decimal as written: 3 for -0.0128, 1 for 1.0."""
    return len(decimal.split("e")[0].replace("-", "").replace(".", "").strip("0"))


def test_the_key_gives_decimals_as_precise_as_the_checker_asks_and_no_more(tmp_path):
    """Each decimal checks as correct through `solver check`; with one significant
    figure fewer it would not (0.2095, not 0.20953285...); fractions stay exact."""
    path = write_problems(tmp_path / "every.yaml", EVERY_KIND)
    folder = write_variants(path, 2, 3, tmp_path / "out")
    key = key_rows(folder)
    decimals = [r for r in key if DECIMAL.search(r["text"])]
    assert {r["problem"] for r in decimals} >= {"norm", "rnn", "attention", "jacobian"}
    assert any("/" in r["text"] for r in key if r["problem"] == "norm")      # exact where exact
    for row in decimals[:12]:
        file = folder / f"every-v{row['variant']}.yaml"
        result = run_solver("check", file, f"{row['problem']}:{row['answer']}", row["text"])
        assert result.returncode == 0 and result.stdout.startswith("correct"), (row, result.stdout, result.stderr)
    numbers = [r for r in decimals if DECIMAL.fullmatch(r["text"]) and figures(r["text"]) > 1]
    assert len(numbers) >= 6
    for row in numbers:
        file = folder / f"every-v{row['variant']}.yaml"
        fewer = f"{float(row['text']):.{figures(row['text']) - 1}g}"
        assert check_file(file, f"{row['problem']}:{row['answer']}", fewer).verdict == "incorrect", (row, fewer)
