"""The analysis notebooks are stored without outputs and execute headless against a tiny run."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import ROOT, cli
from tests.jobs.test_pipeline import tiny

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo experiment, shrunk to seconds per step."""
    root = tmp_path_factory.mktemp("experiments")
    done = cli(*tiny(root))
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "demo"


def execute(name: str, monkeypatch: pytest.MonkeyPatch, **env: str) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel from the checkout root, with env for its parameters."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    # The kernel imports this checkout's bioqwen, whatever is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(ROOT)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def text_of(notebook: nbformat.NotebookNode) -> str:
    parts = []
    for out in outputs(notebook):
        parts.append(out.get("text", ""))
        parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_notebooks_are_stored_without_outputs() -> None:
    assert {p.name for p in NOTEBOOKS} == {"compare_runs.ipynb", "data_quality.ipynb"}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), path


@pytest.mark.slow
def test_compare_runs_tabulates_and_plots_the_experiment(
    demo_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = execute("compare_runs.ipynb", monkeypatch, BIOQWEN_RUNS=str(demo_runs))
    text = text_of(notebook)
    assert "10 runs under" in text  # one run directory per demo step
    for step in ("train-stage1", "train-stage2", "evaluate-ncbi", "evaluate-webmedqa"):
        assert step in text
    assert "WANDB_GROUP not set" in text
    assert any("image/png" in out.get("data", {}) for out in outputs(notebook))


@pytest.mark.slow
def test_data_quality_shows_card_drops_and_lengths(
    demo_runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = demo_runs / "prepare"
    notebook = execute("data_quality.ipynb", monkeypatch, BIOQWEN_PREPARE_RUN=str(run))
    text = text_of(notebook)
    assert "mix sample" in text and "medical_domain" in text and "paragraph" in text
    assert sum("image/png" in out.get("data", {}) for out in outputs(notebook)) == 2
