"""Speed of the commands users wait for, as medians over fresh processes.

    python benchmarks/bench.py [--runs N]

Targets (issue 2): `solver check` on a matrix answer <= 0.25 s per process;
`solver solve --format latex` of every file in problems/ <= 2 s in all.
Issue 3: solving and rendering a 120-layer network <= 1 s per process.
Issue 4: `solver check` on a formula answer (a size formula, an RNN gradient) <= 1 s per process.
Issue 5: `solver grade` of 10,000 numeric and matrix answers <= 10 s in one process;
`solver variants` of the largest problem set (most problems), 200 variants with
solutions and keys in LaTeX, <= 20 s in one process.
Issue 12: `solver check` on a numeric answer no slower than before the kinds were
ported, and on a formula answer faster: `--compare REV` times the checks in this tree
and in git revision REV side by side (wall and CPU seconds of a process, runs interleaved,
and the seconds of the check's own work in a process whose imports are done).
Issue 11: `solver check` of a hostile formula answer (huge powers, products of
powers) gets its verdict within the 2 s budget per answer plus the process's
start (<= 4 s per process) and stays within 200 MB; `solver grade` of a CSV of
them and normal answers likewise per row.
"""
import argparse
import os
import csv
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLVER = [sys.executable, "-m", "solver"]
# As a user's Python runs: with compiled bytecode cached (some sandboxes turn that off).
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
MATRIX_CHECK = ["check", "problems/comp433-a3.yaml", "Q1c",
                "[[3,5,9,10,6],[5,7,9,8,3],[6,7,9,10,7],[9,8,5,8,6],[8,7,3,7,3]]"]
GRADED = "problems/comp433-a3.yaml"          # convolution matrices and network counts
FORMULA_CHECK = ["check", "problems/cpen455-hw2.yaml", "4.2",
                 r"\left\lfloor \frac{H + 2P - D(K-1) - 1}{S} \right\rfloor + 1"]

HOSTILE_CHECKS = {           # what each took before the budget held (issue 11)
    "a 769-character product of 55 powers on CPEN 455 3.1 (68 s)":
        ["problems/cpen455-hw2.yaml", "3.1", "*".join(f"(H+1/{13 + i})^1000" for i in range(55))],
    "((w_hh+1)^1000)^1000 on COMP 433 Q6c (8 s, 140 MB)":
        ["problems/comp433-a3.yaml", "Q6c:grad_w_hh", "((w_hh+1)^1000)^1000"],
    "(H+999)^1000*(K+999)^1000 on 3.1 (a traceback)":
        ["problems/cpen455-hw2.yaml", "3.1", "(H+999)^1000*(K+999)^1000"],
    "H+sigmoid(-10^40) on 3.1 (a traceback)": ["problems/cpen455-hw2.yaml", "3.1", "H+sigmoid(-10^40)"],
    "floor((H-K+2P)/S)+1+floor(H/1001) on 3.1 (judged correct)":
        ["problems/cpen455-hw2.yaml", "3.1", "floor((H-K+2P)/S)+1+floor(H/1001)"],
}
HOSTILE_RUNS = 3

RNN_CHECK = ["check", "problems/comp433-a3.yaml", "Q6c:grad_w_hh",       # a BPTT closed form, in LaTeX
             r"(w_{hy}(h_0 w_{hh}^3 + w_{in} w_{hh}^2 x_1 + w_{in} w_{hh} x_2 + w_{in} x_3) - y_r)"
             r" w_{hy} (3 h_0 w_{hh}^2 + 2 w_{hh} w_{in} x_1 + w_{in} x_2)"]

WRONG_RNN_CHECK = RNN_CHECK[:3] + [RNN_CHECK[3].replace(" + w_{in} x_2)", ")")]     # a term left out


def deep_network(folder: Path, layers: int = 120) -> str:
    """A problem file with one network of `layers` layers, no two neighbours alike
    (so none share a table row): conv, batch norm and ReLU blocks, pooling now and
    then, and a linear head."""
    rows, channels = [], 3
    while len(rows) < layers - 2:
        channels = 8 if channels != 8 else 16
        rows += [f"{{type: conv2d, out_channels: {channels}, kernel_size: 3, padding: 1}}",
                 "{type: batchnorm2d}", "{type: relu}"]
        if len(rows) % 30 == 0:
            rows.append("{type: maxpool2d, kernel_size: 2}")
    rows = rows[:layers - 2] + ["{type: flatten}", "{type: linear, out_features: 10}"]
    path = folder / "deep.yaml"
    path.write_text("title: Deep\nproblems:\n  - id: deep\n    kind: network\n    given:\n"
                    "      input_shape: 3x64x64\n      batch_size: 32\n      layers:\n"
                    + "".join(f"        - {row}\n" for row in rows))
    return str(path)


def answers_csv(folder: Path, rows: int = 10_000) -> str:
    """A CSV of `rows` answers to GRADED, half to its matrix answers and half to its
    numeric ones, made by the solver itself: 60% right, 20% a mistake's answer, 10%
    wrong in a way no mistake explains (every mistake is tried), 10% unreadable."""
    sys.path.insert(0, str(ROOT))           # this repository's solver, not an installed one
    from solver.answers.types import format_answer
    from solver.kinds import get_kind
    from solver.problems.load import load
    rng = random.Random(5)
    pools = {"matrix": [], "number": []}
    for problem in load(ROOT / GRADED).problems:
        kind = get_kind(problem.kind)
        cases = [answers for m in kind.mistakes for _, answers in m.cases(problem.given)]
        for answer in kind.solve(problem.given).answers.values():
            if answer.type in ("integer", "rational", "real", "shape", "matrix"):
                wrong = [format_answer(c[answer.name], answer.type) for c in cases if answer.name in c]
                pools["matrix" if answer.type == "matrix" else "number"].append((problem.id, answer, wrong))
    path = folder / "answers.csv"
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student", "problem", "answer", "text"])
        for row in range(rows):
            problem_id, answer, wrong = rng.choice(pools["matrix" if row % 2 else "number"])
            roll = rng.random()
            if roll < 0.6 or (roll < 0.8 and not wrong):
                text = format_answer(answer.value, answer.type)
            elif roll < 0.8:
                text = rng.choice(wrong)
            elif roll < 0.9:
                text = format_answer(off_by_one(answer.value, answer.type), answer.type)
            else:
                text = "seven-ish ("
            writer.writerow([f"student{row % 250}", problem_id, answer.name, text])
    return str(path)


def off_by_one(value, answer_type):
    """The value with one number (the first cell, the first dimension) one larger."""
    if answer_type == "matrix":
        value = value.copy()
        value.flat[0] += 1
        return value
    if answer_type == "shape":
        return (value[0] + 1, *value[1:])
    return value + 1


def largest_set(files) -> str:
    """The problem file with the most problems."""
    sys.path.insert(0, str(ROOT))           # this repository's solver, not an installed one
    from solver.problems.load import load
    return max(files, key=lambda f: len(load(ROOT / f).problems))


def seconds(args) -> float:
    return wall_and_cpu(args)[0]


def wall_and_cpu(args, tree: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU (user + system, all threads) seconds of one `solver ARGS` process run in `tree`."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    result = subprocess.run(SOLVER + args, cwd=tree, capture_output=True, text=True, env=USER_ENV)
    elapsed, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode not in (0, 1):
        sys.exit(f"solver {' '.join(args)} failed in {tree}:\n{result.stderr}")
    return elapsed, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


# The time of one check in a process whose imports are done (warmed by a check of another
# problem): the work a check does, apart from starting Python, numpy and sympy. Before issue 12
# the function lived in solver.check.
IN_PROCESS = """
import sys, time
try:
    from solver.commands.check import check_file
except ImportError:
    from solver.check import check_file
check_file("problems/cpen455-hw2.yaml", "3.1", "H")
check_file("problems/comp433-a3.yaml", "Q1a", "3")
start = time.perf_counter()
check_file(*sys.argv[1:4])
print(time.perf_counter() - start)
"""


def in_process_seconds(args, tree: Path) -> float:
    """Seconds of `solver check ARGS`'s own work in `tree`, its imports done."""
    result = subprocess.run([sys.executable, "-c", IN_PROCESS, *args[1:]], cwd=tree, capture_output=True,
                            text=True, env={**USER_ENV, "PYTHONPATH": str(tree)})
    if result.returncode:
        sys.exit(f"checking {' '.join(args)} in process failed in {tree}:\n{result.stderr}")
    return float(result.stdout.split()[-1])


def compare_checks(revision: str, runs: int):
    """The checks' wall and CPU medians here and at `revision` (a temporary git worktree),
    runs interleaved so that both see the same machine load."""
    with tempfile.TemporaryDirectory() as folder:
        checks = {"numeric (matrix)": MATRIX_CHECK, "formula": FORMULA_CHECK, "RNN gradient": RNN_CHECK,
                  "wrong RNN gradient (a term left out: mistakes tried)": WRONG_RNN_CHECK,
                  "wrong count of a 120-layer network (mistakes re-solved in every layer)":
                      ["check", deep_network(Path(folder)), "deep:params", "5"]}
        other = Path(folder) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(other), revision],
                       check=True, capture_output=True)
        try:
            for name, args in checks.items():
                figures = {ROOT: [], other: []}
                for _ in range(runs + 1):           # the first round warms the file cache and bytecode
                    for tree in figures:
                        figures[tree].append((*wall_and_cpu(args, tree), in_process_seconds(args, tree)))
                wall, cpu, work = ({tree: statistics.median(f[i] for f in found[1:])
                                    for tree, found in figures.items()} for i in (0, 1, 2))
                print(f"solver check ({name} answer), median of {runs}: {revision} {wall[other]:.3f} s wall, "
                      f"{cpu[other]:.3f} s CPU, {work[other]:.3f} s checking; this tree {wall[ROOT]:.3f} s "
                      f"wall, {cpu[ROOT]:.3f} s CPU, {work[ROOT]:.3f} s checking (imports done)")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=True)


def seconds_and_megabytes(args) -> tuple[float, float]:
    """Wall time and peak resident memory of one `solver ARGS` process."""
    start = time.perf_counter()
    process = subprocess.Popen(SOLVER + args, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=USER_ENV)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1, 2):
        sys.exit(f"solver {' '.join(args)[:200]} failed with status {process.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024       # Linux: ru_maxrss in KiB


def hostile_csv(folder: Path) -> str:
    """Each hostile answer and a right one to the same problem, as one class's CSV."""
    path = folder / "hostile.csv"
    with open(path, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["student", "problem", "answer", "text"])
        for number, (file, target, text) in enumerate(HOSTILE_CHECKS.values()):
            problem, _, answer = target.partition(":")
            if file == "problems/cpen455-hw2.yaml":
                writer.writerow([f"hostile{number}", problem, answer, text])
                writer.writerow([f"normal{number}", problem, answer, "floor((H+2P-K)/S)+1"])
    return str(path)


def median_of(runs, measure) -> float:
    measure()                                   # warm the file cache and bytecode
    return statistics.median(measure() for _ in range(runs))


def checking_seconds(file, target, text) -> float:
    """The time `check_file` takes in this process, its imports done (what the budget bounds,
    with reading the problem and solving it)."""
    sys.path.insert(0, str(ROOT))           # this repository's solver, not an installed one
    from solver.commands.check import check_file
    check_file(ROOT / file, target, "0")    # warm: imports and caches
    start = time.perf_counter()
    check_file(ROOT / file, target, text)
    return time.perf_counter() - start


def hostile_figures():
    """Issue 11's hostile answers: time and memory per process, and one class graded."""
    for name, (file, target, text) in HOSTILE_CHECKS.items():
        figures = [seconds_and_megabytes(["check", file, target, text]) for _ in range(HOSTILE_RUNS)]
        elapsed = statistics.median(f[0] for f in figures)
        memory = max(f[1] for f in figures)
        inside = statistics.median(checking_seconds(file, target, text) for _ in range(HOSTILE_RUNS))
        print(f"solver check, {name}, median of {HOSTILE_RUNS}: {inside:.3f} s checking (target <= 2 s), "
              f"{elapsed:.3f} s a process (target <= 4 s), peak {memory:.0f} MB (target <= 200 MB)")
    with tempfile.TemporaryDirectory() as folder:
        answers = hostile_csv(Path(folder))
        rows = sum(1 for _ in open(answers)) - 1
        elapsed, memory = seconds_and_megabytes(["grade", "problems/cpen455-hw2.yaml", answers])
    print(f"solver grade, {rows} rows (hostile formulas and right ones), one process: {elapsed:.3f} s, "
          f"peak {memory:.0f} MB  (target <= 2 s a row, <= 200 MB)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per figure (default 15)")
    parser.add_argument("--hostile", action="store_true", help="only the hostile answers' figures (issue 11)")
    parser.add_argument("--compare", metavar="REV", help="only the checks' figures, beside those of git "
                        "revision REV (issue 12)")
    options = parser.parse_args()
    if options.compare:
        compare_checks(options.compare, options.runs)
        return
    if options.hostile:
        hostile_figures()
        return
    runs = options.runs
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "problems").glob("*.yaml"))

    check = median_of(runs, lambda: seconds(MATRIX_CHECK))
    formula = median_of(runs, lambda: seconds(FORMULA_CHECK))
    gradient = median_of(runs, lambda: seconds(RNN_CHECK))
    solve_all = median_of(runs, lambda: sum(seconds(["solve", f, "--format", "latex"]) for f in files))
    print(f"solver check (matrix answer), median of {runs} processes: {check:.3f} s  (target <= 0.25 s)")
    print(f"solver check (formula answer), median of {runs} processes: {formula:.3f} s  (target <= 1 s)")
    print(f"solver check (an RNN gradient's closed form), median of {runs} processes: {gradient:.3f} s  "
          "(target <= 1 s)")
    print(f"solver solve --format latex, all {len(files)} files, median of {runs} rounds: "
          f"{solve_all:.3f} s  (target <= 2 s)")
    with tempfile.TemporaryDirectory() as folder:
        deep = deep_network(Path(folder))
        network = median_of(runs, lambda: seconds(["solve", deep, "--format", "latex"]))
    print(f"solver solve --format latex, a 120-layer network, median of {runs} processes: "
          f"{network:.3f} s  (target <= 1 s)")
    with tempfile.TemporaryDirectory() as folder:
        answers = answers_csv(Path(folder))
        grade = seconds(["grade", GRADED, answers, "--output", str(Path(folder) / "grades.csv")])
    print(f"solver grade, 10,000 numeric and matrix answers to {GRADED}, one process: "
          f"{grade:.3f} s  (target <= 10 s)")
    hostile_figures()
    largest = largest_set(files)
    with tempfile.TemporaryDirectory() as folder:
        variants = seconds(["variants", largest, "--count", "200", "--seed", "1", "--output", folder])
    print(f"solver variants, 200 variants of {largest} with solutions and keys (LaTeX), one process: "
          f"{variants:.3f} s  (target <= 20 s)")


if __name__ == "__main__":
    main()
