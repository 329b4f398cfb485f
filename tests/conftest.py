"""Shared test helpers: run the CLI as a user would, and CI's no-skip rule."""
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBLEM_FILES = sorted((ROOT / "problems").glob("*.yaml"))
IN_CI = os.environ.get("CI") == "true"


def run_solver(*args, cwd=ROOT, timeout=120):
    """`solver ARGS...` in a fresh process; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def require_program(name):
    """Skip without `name` on a user's machine; in CI its absence is a failure."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def require_module(name):
    """Import `name`, or skip the test without it on a user's machine; in CI its
    absence is a failure."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if IN_CI:
            pytest.fail(f"{name} cannot be imported ({error}); CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")


def optional_module(name):
    """`name` imported, or a stand-in where it is not installed: then each test that
    uses it skips alone (fails in CI), and the other tests of its module still run."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return Missing(name)


class Missing:
    """A module that cannot be imported. Looking up a name on it gives another stand-in
    (so `ACTIVATIONS = {"relu": torch.relu}` still loads), of which nothing is an
    instance; calling one, as every use of torch does, imports the module for real by
    require_module, which skips the test."""

    def __init__(self, module: str, path: tuple = ()):
        self._module, self._path = module, path

    def __getattr__(self, name):
        if name.startswith("__"):            # protocols (copy, pickle, inspect) find nothing here
            raise AttributeError(name)
        return Missing(self._module, self._path + (name,))

    def __call__(self, *args, **kwargs):
        value = require_module(self._module)
        for name in self._path:
            value = getattr(value, name)
        return value(*args, **kwargs)

    def __instancecheck__(self, instance):   # isinstance(x, torch.Tensor): nothing is one
        return False

    def __repr__(self):
        return ".".join((self._module, *self._path)) + " (not installed)"


def assert_bad_input(result, path, problem, field, words):
    """Exit 2, nothing on stdout, one paragraph naming file, problem, field and the words."""
    message = result.stderr
    assert result.returncode == 2 and result.stdout == "", message
    assert "Traceback" not in message and message.count("\n") == 1, message
    assert str(path) in message and f'problem "{problem}"' in message and f"`{field}`" in message, message
    assert words in message, message


def one_problem_file(tmp_path, kind, given, ask=None) -> Path:
    """A problem file with one problem "p" of `kind` (and its `ask`), as a user would write it."""
    import yaml
    problem = {"id": "p", "kind": kind, "given": given}
    if ask:
        problem["ask"] = ask
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({"title": "t", "problems": [problem]}))
    return path


def numeric(member):
    """A derivation member's value as floats (an array's entries each); a formula in letters raises."""
    import numpy as np
    from solver.math.nodes import Array, Formula, Number
    if isinstance(member, Array):
        return np.vectorize(lambda x: float(numeric(x)), otypes=[float])(member.a)
    if isinstance(member, Number):
        return float(member.x)
    if isinstance(member, Formula):
        return np.asarray(member.value(), dtype=float)
    return np.asarray(member, dtype=float)


def compared_members(solution, value, same, errors=(ValueError, AttributeError, TypeError)) -> int:
    """Each line of a derivation (sub-steps too) is a chain of equal members: every member after
    the label that has a value (`value(member)`; a formula in letters raises one of `errors`) is
    `same` as the line's last one. Asserts it and returns how many members were compared."""
    compared = 0
    for step in solution.steps + [sub for step in solution.steps for sub in step.substeps]:
        for line in step.math:
            values = []
            for member in line[1:]:
                try:
                    values.append(value(member))
                except errors:
                    continue
            for found in values[:-1]:
                assert same(found, values[-1]), (step.title, line)
                compared += 1
    return compared


@pytest.fixture(scope="session")
def classic_answers() -> dict:
    """{problem id: {answer name: value}} of problems/classic-networks.yaml, from `solver solve --format json`."""
    result = run_solver("solve", ROOT / "problems" / "classic-networks.yaml", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {p["id"]: {name: a["value"] for name, a in p["answers"].items()}
            for p in json.loads(result.stdout)["problems"]}
