"""`bioqwen prepare` through the real CLI (a subprocess, as a user runs it)."""

import json

import pytest

from bioqwen.data import card as card_module
from tests.conftest import cli, offline_run
from tests.data.helpers import qa, write_lines


def run(tmp_path, *overrides, cache=None):
    """`bioqwen prepare` into tmp_path/run with a private cache (or the given one)."""
    cache_dir = cache or tmp_path / "cache"
    return cli("prepare", f"data.cache_dir={cache_dir}", *overrides, run_dir=tmp_path / "run")


def test_cached_sample_mix_run_holds_card_drops_lineage_and_the_wandb_tables(
    tmp_path, sample_prepared, sample_cache
):
    done = run(tmp_path, cache=sample_cache)  # the session's sample mix: a cache hit
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = tmp_path / "run"
    card = json.loads((run_dir / "data_card.json").read_text())
    assert card["hash"] == sample_prepared.hash
    assert (run_dir / "drops.jsonl").read_text() == sample_prepared.drops_path.read_text()
    assert "| NER |" in (run_dir / "data_card.md").read_text()
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["dataset_path"] == str(sample_prepared.path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["data/cached"] == 1 and metrics["data/raw"] == card["total"]["raw"]
    wandb = offline_run(run_dir)
    assert {k: wandb["summary"].get(k) for k in metrics} == metrics
    # The Table 1 layout is logged as a W&B table whose file holds the card's rows.
    tables = run_dir / "wandb" / "offline-run-*" / "files/media/table/data_card"
    (table1,) = run_dir.glob(str(tables.relative_to(run_dir) / "table1_*.table.json"))
    logged = json.loads(table1.read_text())
    assert logged["columns"] == card_module.TABLE_COLUMNS
    assert logged["data"] == json.loads(json.dumps(card_module.table1_rows(card)))


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
    assert {k: offline_run(run_dir)["summary"].get(k) for k in metrics} == metrics
    again = run(tmp_path, "tracking=disabled")
    assert again.returncode == 0, again.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["data/cached"] == 1


# Each bad line sits on line 2 after a good one: the message must name file:line (or the key).
BAD_LINES = [
    (b'{"instruction": "q", "input": ', "malformed JSON"),
    (b'{"instruction": "\xff\xfe", "input": "", "output": "a"}', "invalid UTF-8"),
    (qa("问", "答") | {"output": None}, "field 'output' should be str"),
    ({"instruction": "问", "input": ""}, "missing field 'output'"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=lambda v: str(v)[:16])
def test_bad_input_exits_non_zero_naming_file_line_and_writes_nothing(tmp_path, line, message):
    bad = write_lines(tmp_path / "qa.jsonl", [qa("问", "答"), line])
    done = run(
        tmp_path,
        "tracking=offline",
        "data/mix=stage1",
        f"data.mix.sources.taiyi.path={bad}",
        "data.mix.sources.taiyi.reader=instruction",
    )
    assert done.returncode == 2, done.stderr[-2000:]
    (error,) = [line for line in done.stderr.splitlines() if line.startswith("bioqwen: error:")]
    assert f"{bad}:2: {message}" in error
    # Nothing half-written: no cache entry (nor its temporary), no card, metrics or W&B run.
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".hydra", "prepare.log"]
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.mix.sources.taiyi.reader=nope", "data.mix.sources.taiyi.reader='nope'"),
        ("data.mix.sources.taiyi.path=/nonexistent.jsonl", "data.mix.sources.taiyi.path"),
    ],
)
def test_unknown_reader_or_missing_file_names_the_key(tmp_path, override, message):
    done = run(tmp_path, "tracking=offline", "data/mix=stage1", override)
    assert done.returncode == 2 and f"bioqwen: error: {message}" in done.stderr
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [".hydra", "prepare.log"]


def test_unknown_mix_and_key_fail_naming_them(tmp_path):
    done = run(tmp_path, "tracking=disabled", "data/mix=nope")
    assert done.returncode != 0 and "data/mix" in done.stderr and "nope" in done.stderr
    # An unknown source name in a mix's defaults list (or as an added source).
    done = run(tmp_path, "tracking=disabled", "+data/sources@data.mix.sources.extra=nope")
    assert done.returncode != 0 and "data/sources/nope" in done.stderr
    done = run(tmp_path, "tracking=disabled", "data.filters.lenght.enabled=false")
    assert done.returncode != 0 and "lenght" in done.stderr
