"""Guards on how modules reach each other: real imports, and the dependency rules of DESIGN.md."""

from __future__ import annotations

import ast
from pathlib import Path

from bioqwen.checkout import ROOT

SOURCES = sorted([*(ROOT / "bioqwen").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")])
# Optional backends looked up by name because they may not be installed (llama.cpp's gguf).
IMPORT_MODULE_ALLOWED = {"bioqwen/export/gguf.py"}


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _imported(tree: ast.AST) -> set[str]:
    """Every module an `import` or `from ... import` statement names, anywhere in the file."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _calls_import_module(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                return True
    return False


def test_modules_are_imported_not_looked_up_by_name() -> None:
    offenders = [
        _relative(path)
        for path in SOURCES
        if _relative(path) not in IMPORT_MODULE_ALLOWED
        and _calls_import_module(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []


def test_the_guard_sees_a_lookup_by_name() -> None:
    assert _calls_import_module(ast.parse("import importlib\nimportlib.import_module('x')"))
    assert _calls_import_module(
        ast.parse("from importlib import import_module\nimport_module('x')")
    )
    assert not _calls_import_module(ast.parse("from bioqwen.jobs import train"))


def test_only_the_cli_and_the_pipeline_import_jobs() -> None:
    offenders = [
        _relative(path)
        for path in SOURCES
        if "bioqwen/jobs/" not in _relative(path)
        and _relative(path) != "bioqwen/cli.py"
        and any(
            name == "bioqwen.jobs" or name.startswith("bioqwen.jobs.")
            for name in _imported(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert offenders == []


def test_sweeps_import_neither_the_cli_nor_jobs() -> None:
    for path in (ROOT / "bioqwen" / "sweeps").rglob("*.py"):
        imported = _imported(ast.parse(path.read_text(encoding="utf-8")))
        assert not {n for n in imported if n.startswith(("bioqwen.cli", "bioqwen.jobs"))}, path


def test_the_report_reads_runs_not_the_training_or_evaluation_code() -> None:
    for path in (ROOT / "bioqwen" / "report").rglob("*.py"):
        imported = _imported(ast.parse(path.read_text(encoding="utf-8")))
        inner = ("bioqwen.train", "bioqwen.eval", "bioqwen.jobs", "bioqwen.cli")
        assert not {n for n in imported if n.startswith(inner)}, path
