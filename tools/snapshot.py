"""Write every output of every shipped problem file into one folder, to diff two trees.

A restructuring must leave what users see unchanged: run this on the commit
before and after, then `diff -r BEFORE AFTER` shows every change, which is
either deliberate (and listed) or a regression.

    python tools/snapshot.py OUTDIR
"""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHEETS = [(mode, fmt) for mode in ("--solutions", "--key", "--problems") for fmt in ("latex", "md", "html")]
SOLVES = ("latex", "md", "text", "json")


def solver(*args) -> str:
    result = subprocess.run([sys.executable, "-m", "solver", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout + (f"\n[exit {result.returncode}]\n{result.stderr}" if result.returncode else "")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted((ROOT / "problems").glob("*.yaml")):
        for mode, fmt in SHEETS:
            (out / f"{path.stem}{mode}.{fmt}").write_text(solver("sheet", mode, "--format", fmt, path))
        for fmt in SOLVES:
            (out / f"{path.stem}.solve.{fmt}").write_text(solver("solve", "--format", fmt, path))
        print(path.name, file=sys.stderr)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
