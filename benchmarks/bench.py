"""Speed of the commands users wait for, as medians over fresh processes.

    python benchmarks/bench.py [--runs N]

Targets (issue 2): `solver check` on a matrix answer <= 0.25 s per process;
`solver solve --format latex` of every file in problems/ <= 2 s in all.
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLVER = [sys.executable, "-m", "solver"]
MATRIX_CHECK = ["check", "problems/comp433-a3.yaml", "Q1c",
                "[[3,5,9,10,6],[5,7,9,8,3],[6,7,9,10,7],[9,8,5,8,6],[8,7,3,7,3]]"]


def seconds(args) -> float:
    start = time.perf_counter()
    result = subprocess.run(SOLVER + args, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        sys.exit(f"solver {' '.join(args)} failed:\n{result.stderr}")
    return elapsed


def median_of(runs, measure) -> float:
    measure()                                   # warm the file cache and bytecode
    return statistics.median(measure() for _ in range(runs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per figure (default 15)")
    runs = parser.parse_args().runs
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "problems").glob("*.yaml"))

    check = median_of(runs, lambda: seconds(MATRIX_CHECK))
    solve_all = median_of(runs, lambda: sum(seconds(["solve", f, "--format", "latex"]) for f in files))
    print(f"solver check (matrix answer), median of {runs} processes: {check:.3f} s  (target <= 0.25 s)")
    print(f"solver solve --format latex, all {len(files)} files, median of {runs} rounds: "
          f"{solve_all:.3f} s  (target <= 2 s)")


if __name__ == "__main__":
    main()
