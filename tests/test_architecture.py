"""The package's shape holds: no import cycle, no import up the layers, no tex() outside the printer.

The measures are tools/architecture.py's (the figures issue 12 tracks), so a test and the
report cannot disagree."""
import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "architecture.py"


@pytest.fixture(scope="module")
def architecture():
    spec = importlib.util.spec_from_file_location("architecture", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_module_imports_another_that_imports_it_back(architecture):
    assert architecture.cycles() == []


def test_every_import_points_down_the_layers(architecture):
    assert architecture.upward_imports() == []


def test_only_the_printer_writes_tex(architecture):
    assert sum(architecture.tex_definitions(path) for path in architecture.modules()) == 0


def test_the_layer_check_sees_an_upward_import(architecture, tmp_path, monkeypatch):
    """A kind importing a command is reported (the check is not vacuous)."""
    package = tmp_path / "solver"
    (package / "kinds").mkdir(parents=True)
    (package / "commands").mkdir()
    (package / "kinds" / "k.py").write_text("from ..commands import grade\n")
    (package / "commands" / "grade.py").write_text("from ..kinds import k\n")
    monkeypatch.setattr(architecture, "ROOT", tmp_path)
    monkeypatch.setattr(architecture, "PACKAGE", package)
    assert architecture.upward_imports() == ["solver.kinds.k -> solver.commands.grade"]
    assert architecture.cycles() == [["solver.commands.grade", "solver.kinds.k"]]


def test_no_code_tests_an_answer_type_by_its_name(architecture):
    """Answer types are classes in one registry (solver/answers/types.py): code asks the class."""
    assert architecture.type_dispatches() == []
