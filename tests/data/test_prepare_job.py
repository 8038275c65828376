"""`bioqwen prepare` through the real console script."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.helpers import ROOT, qa, write_lines

BIOQWEN = str(Path(sys.executable).with_name("bioqwen"))


def run(tmp_path, *overrides):
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)}
    return subprocess.run(
        [
            BIOQWEN,
            "prepare",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"data.cache_dir={tmp_path / 'cache'}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


@pytest.mark.slow
def test_sample_mix_writes_card_metrics_lineage_and_wandb(tmp_path):
    done = run(tmp_path)
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    card = json.loads((run_dir / "data_card.json").read_text())
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert metrics["data/raw"] == card["total"]["raw"] > 0
    assert metrics["data/cached"] == 0
    assert lineage["data_hash"] == card["hash"] and "taiyi" in lineage["inputs"]
    assert "| NER |" in (run_dir / "data_card.md").read_text()
    assert list(run_dir.glob("wandb/offline-run-*"))
    again = run(tmp_path, "tracking=disabled")
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["data/cached"] == 1


def test_bad_input_exits_non_zero_naming_file_line_and_writes_nothing(tmp_path):
    bad = write_lines(tmp_path / "qa.jsonl", [qa("问", "答"), {"instruction": "问", "input": ""}])
    done = run(
        tmp_path,
        "tracking=disabled",
        "data/mix=stage1",
        f"data.mix.sources.taiyi.path={bad}",
        "data.mix.sources.taiyi.reader=instruction",
    )
    assert done.returncode == 2
    assert f"{bad}:2: missing field 'output'" in done.stderr
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert not (tmp_path / "run" / "data_card.json").exists()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_unknown_mix_and_key_fail_naming_them(tmp_path):
    done = run(tmp_path, "tracking=disabled", "data/mix=nope")
    assert done.returncode != 0 and "data/mix" in done.stderr and "nope" in done.stderr
    done = run(tmp_path, "tracking=disabled", "data.filters.lenght.enabled=false")
    assert done.returncode != 0 and "lenght" in done.stderr
