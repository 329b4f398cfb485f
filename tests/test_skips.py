"""Without torch, the tests that need it skip one by one, and every other test runs:
the count pytest prints tells the truth. In CI (CI=true) they fail instead."""
import ast
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

TWO_TESTS = '''
from conftest import optional_module

torch = optional_module("torch")
F = optional_module("torch.nn.functional")
RELU = {"relu": torch.relu}            # names looked up at import time must not skip the module


def test_needs_torch():
    assert F.relu(torch.tensor([-1.0])).item() == 0


def test_needs_nothing():
    assert not isinstance([1.0], torch.Tensor)      # a helper may ask before it uses torch
'''


def module_level_torch(path) -> list[str]:
    """`import torch`, `from torch...` and `importorskip(...)` outside every function."""
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import) and any(a.name.split(".")[0] == "torch" for a in child.names) \
                    or isinstance(child, ast.ImportFrom) and (child.module or "").split(".")[0] == "torch" \
                    or isinstance(child, ast.Attribute) and child.attr == "importorskip":
                found.append(f"{path.name}:{child.lineno}")
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_no_test_module_imports_torch_or_skips_when_it_loads():
    found = [hit for path in sorted((ROOT / "tests").glob("*.py")) for hit in module_level_torch(path)]
    assert found == []


@pytest.mark.parametrize("ci, summary", [("", "1 passed, 1 skipped"), ("true", "1 failed, 1 passed")])
def test_without_torch_only_the_tests_that_use_it_skip(tmp_path, ci, summary):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "torch.py").write_text('raise ImportError("torch is hidden for this test")\n')
    (tmp_path / "test_two.py").write_text(TWO_TESTS)
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path)
    env = {**os.environ, "PYTHONPATH": str(hidden), "CI": ci}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_two.py"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert summary in result.stdout, result.stdout + result.stderr
