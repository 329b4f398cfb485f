"""Shared test helpers: run the CLI as a user would, and CI's no-skip rule."""
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


def assert_bad_input(result, path, problem, field, words):
    """Exit 2, nothing on stdout, one paragraph naming file, problem, field and the words."""
    message = result.stderr
    assert result.returncode == 2 and result.stdout == "", message
    assert "Traceback" not in message and message.count("\n") == 1, message
    assert str(path) in message and f'problem "{problem}"' in message and f"`{field}`" in message, message
    assert words in message, message
