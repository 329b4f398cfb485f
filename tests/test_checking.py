"""Checking as a student meets it: `solver check` on small problem files written here."""
import pytest

from conftest import run_solver


def problem_file(tmp_path, body: str):
    path = tmp_path / "set.yaml"
    path.write_text("title: t\nproblems:\n" + body)
    return path


def check(path, target, text, *options):
    result = run_solver("check", path, target, text, *options)
    assert "Traceback" not in result.stderr, result.stderr
    return result


COST = """
  - id: cost
    kind: conv_cost
    given: {in_channels: C, out_channels: N, kernel_size: K}
    ask: [standard_params]
"""


def test_a_sum_after_a_product_written_together(tmp_path):
    """K^2CN + N is K²·C·N + N (the parser once read the "+" as N's sign)."""
    result = check(problem_file(tmp_path, COST), "cost:standard_params", "K^2CN + N")
    assert result.returncode == 0 and result.stdout.startswith("correct"), result.stdout
