"""report.source=wandb: W&B API runs become the same records as run directories (no network).

The fixture holds run nodes as the W&B GraphQL API returns them; wandb's own public `Run`
class parses them (config unwrapping, JSON summaries), and only the transport is replaced.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wandb.apis.public import Run

from bioqwen.report import published, tables, wandb_runs
from tests.conftest import FIXTURES

RECORDED = json.loads((FIXTURES / "report" / "wandb_api_runs.json").read_text("utf-8"))


class RecordedRun(Run):  # type: ignore[misc]
    """A public-API Run built from a recorded node; history from the recording."""

    def scan_history(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return iter(RECORDED["history"].get(self.id, []))


class RecordedApi:
    """wandb.Api's runs() answered from the recording, with the filters the server applies."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def runs(self, path: str, filters: dict[str, Any], lazy: bool = True) -> list[Run]:
        self.calls.append((path, filters))
        entity, _, project = path.rpartition("/")  # no entity: the API key's default
        entity = entity or RECORDED["entity"]
        nodes = [n for n in RECORDED["runs"] if filters.get("group") in (None, n["group"])]
        return [RecordedRun(None, entity, project, n["name"], attrs=n, lazy=lazy) for n in nodes]


@pytest.fixture(autouse=True)
def _wandb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))  # Run() makes a local directory


def test_runs_become_records_with_tags_history_and_metrics(labels: Any) -> None:
    api = RecordedApi()
    records = wandb_runs.fetch_runs("bioqwen", "bioqwen-lab", "paper-bioqwen-1.8b", 2, api=api)
    assert api.calls == [("bioqwen-lab/bioqwen", {"group": "paper-bioqwen-1.8b"})]
    train, evaluate, crashed = records
    assert train.job == "train" and train.config["stage"] == {"name": "stage2"}
    assert train.history is not None and [h["train/loss"] for h in train.history] == [2.1, 1.4]
    assert "_runtime" not in evaluate.metrics and evaluate.metrics["bleu-1"] == 17.5
    assert evaluate.path == "wandb:bioqwen-lab/bioqwen/b2eval" and evaluate.benchmark == "cmedqa2"
    assert crashed.metrics == {}
    assert train.mtime < evaluate.mtime
    # A `row:` tag puts the evaluation in the paper's row.
    table3 = tables.build_table(published.load_table("table3"), records, labels)
    paper = published.load_table("table3").published_cell("BioQwen-1.8B", "BLEU-1")
    assert table3.cell("BioQwen-1.8B", "BLEU-1") == (17.5, paper, 17.5 - paper)  # type: ignore[operator]
    assert table3.cell("BioQwen-1.8B", "precision")[0] == "bf16"
    hours = tables.build_table(published.load_table("training_hours"), records, labels)
    assert hours.cell("BioQwen-1.8B", "stage 2")[0] == 158400.0 / 3600  # the summary's runtime


def test_without_a_group_every_run_is_read() -> None:
    api = RecordedApi()
    records = wandb_runs.fetch_runs("bioqwen", None, None, 10, api=api)
    assert api.calls == [("bioqwen", {})] and len(records) == 3


def test_the_report_job_reads_a_wandb_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, compose: Any
) -> None:
    import wandb

    from bioqwen.jobs import report
    from bioqwen.jobs.common import execute

    monkeypatch.setattr(wandb, "Api", RecordedApi)
    overrides = ("report.source=wandb", "report.group=paper-bioqwen-1.8b", "report.figures=false")
    metrics = execute(report.run, compose("report", *overrides), tmp_path / "r")
    assert metrics["report/runs"] == 2 and metrics["report/skipped"] == 1
    table3 = (tmp_path / "r" / "tables" / "table3.csv").read_text("utf-8")
    assert "table3,BioQwen-1.8B,BLEU-1,17.5," in table3
    skipped = json.loads((tmp_path / "r" / "runs.json").read_text("utf-8"))["skipped"]
    assert skipped == [
        {"path": "wandb:bioqwen-lab/bioqwen/c3crash", "reason": skipped[0]["reason"]}
    ]
