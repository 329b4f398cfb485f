"""`solver variants`: write N variants of a problem file (problem file, sheets, one CSV key),
drawn as solver/problems/vary.py describes."""
from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import signal
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import yaml

from ..answers.tolerance import tolerance_of
from ..answers.types import format_rounded, same_number
from ..core.errors import SolverError, UsageError
from ..problems.variants import Variant, Variants
from ..render import EXTENSIONS, asked, render
from .sheet import sheet_stem

MAX_COUNT = 10_000           # variants in one run
SHEETS = ("solutions", "key")
KEY_COLUMNS = ("variant", "problem", "answer", "text")
PROGRESS_EVERY = 20          # variants between progress messages


# ---- writing -------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Plain YAML: a given shared by several problems is written out each time."""

    def ignore_aliases(self, data):
        return True


def _text(dumper, text: str):
    """Prose as an instructor writes it: folded (>) if one paragraph, literal (|) if several lines."""
    lines = text.rstrip("\n").count("\n")
    style = None if "\n" not in text else (">" if lines == 0 else "|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def variant_yaml(variant: Variant, source: Path, seed: int) -> str:
    header = f"# Variant {variant.number} of {source.name}, made by `solver variants --seed {seed}`.\n"
    return header + yaml.dump(variant.data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                              default_flow_style=None, width=100)


def key_rows(variant: Variant) -> list[list]:
    """The answers each sheet shows, as a student would type them: exact where exact,
    decimals to the fewest significant figures the checker accepts."""
    def accepts(problem, answer):
        return lambda typed, value: same_number(typed, value, tolerance_of(problem, answer.name))
    return [[variant.number, problem.id, answer.name,
             format_rounded(answer.value, answer.type, accepts(problem, answer))]
            for problem, solution in zip(variant.pset.problems, variant.solutions)
            for answer in asked(solution, problem.ask)]


def write_variants(path, count: int, seed: int, output="output", fmt: str = "latex",
                   progress: Callable[[str], None] = lambda message: None) -> Path:
    """Write `count` variants of the problem file at `path` into OUTPUT/STEM-variants/:
    each one's problem file, solutions and key sheets, and one CSV answer key.
    The folder is filled beside its place and then moved in: a failure leaves the
    previous one, if any, as it was."""
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"--count must be from 1 to {MAX_COUNT}; got {count}")
    path = Path(path)
    variants = Variants(path, seed)
    if kept := variants.unvaried():
        one, owner = len(kept) == 1, "its kind's" if len(kept) == 1 else "their kinds'"
        progress(f"variants: {plural(kept)} the same in every variant: {owner} "
                 f"default draws change nothing {'it gives' if one else 'they give'} (a kind redraws only numbers a "
                 "student sees, a given matrix or a {{ field }} of the statement, and some kinds none); give "
                 f"{'it' if one else 'each'} a `vary` to redraw its numbers, or `vary: {{}}` to keep it without "
                 "this note")
    target = Path(output) / f"{path.stem}-variants"
    key = io.StringIO()
    writer = csv.writer(key, lineterminator="\n")
    writer.writerow(KEY_COLUMNS)
    with staged(target) as folder:
        for number in range(1, count + 1):
            variant = variants.make(number)
            name = f"{path.stem}-v{number:0{len(str(count))}d}"
            write_text(folder / f"{name}.yaml", variant_yaml(variant, path, seed))
            for mode in SHEETS:
                write_text(folder / f"{sheet_stem(name, mode)}.{EXTENSIONS[fmt]}",
                           render(variant.pset, variant.solutions, fmt, mode))
            writer.writerows(key_rows(variant))
            if number % PROGRESS_EVERY == 0:
                progress(f"variants: {number} of {count}")
        write_text(folder / f"{path.stem}-variants-key.csv", key.getvalue())
    return target


def plural(ids: list[str]) -> str:
    return f"problem {ids[0]} is" if len(ids) == 1 else f"problems {', '.join(ids)} are"


def write_text(path: Path, text: str):
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(text)


@contextmanager
def staged(target: Path):
    """A new folder that takes `target`'s place once the body has filled it."""
    if target.exists() and not target.is_dir():
        raise SolverError(f"cannot write the variants to {target}: it exists and is not a folder")
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp.mkdir()                   # mkdir, unlike mkdtemp, gives the umask's permissions
        yield temp
        with signals_held():
            replace_folder(temp, target)
    except OSError as error:
        raise SolverError(f"cannot write to {target.parent}: {error.strerror or error}") from None
    finally:
        shutil.rmtree(temp, ignore_errors=True)


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM wait for the end of the block: a swap of folders is never
    left half done (the old folder moved aside, the new one not yet in its place)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def replace_folder(new: Path, target: Path):
    """Rename `new` to `target`; an older `target` is moved aside first, then removed."""
    if not target.exists():
        os.rename(new, target)
        return
    old = target.with_name(f".{target.name}.{secrets.token_hex(6)}.old")
    os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
