"""What the report has scored for it: the authors' released files and the forgetting pairs.

Both go through the score job, which the report job hands in as `score` (report/ imports no
job): the authors' files fill Tables 2 and 3 like any other run, and each model evaluated on a
stage-1 task at both stages is scored stage 2 against stage 1 (`compare=`) for the forgetting
table. A file or pair the score job rejects is listed as skipped with its reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.report import authors, forgetting, runs

# The score job with these overrides into this run directory (the file it is about, for
# errors) -> its metrics.
Score = Callable[[list[str], str, Path], dict[str, Any]]


def _data_dir(data_dir: str | None) -> list[str]:
    return [f"benchmark.data_dir={data_dir}"] if data_dir else []


def score_authors(
    authors_dir: str,
    labels: Mapping[str, Any],
    data_dirs: Mapping[str, str],
    directory: Path,
    score: Score,
) -> tuple[list[runs.RunRecord], list[runs.Skipped]]:
    """Score every recognised authors' file into directory/authors/; list the rest as skipped."""
    known, unknown = authors.list_files(authors_dir, labels)
    skipped = [
        runs.Skipped(
            str(p),
            "unknown file name: expected <model>[-stage<N>]-<ner|qa>-<dataset>.csv "
            "with the model and dataset listed in conf/report.yaml labels",
        )
        for p in unknown
    ]
    records: list[runs.RunRecord] = []
    for item in known:
        overrides = [f"benchmark={item.benchmark}", f"predictions={item.path}", "tracking=disabled"]
        overrides += _data_dir(data_dirs.get(item.benchmark))
        target = directory / "authors" / item.task / item.benchmark / item.path.stem
        try:
            score(overrides, str(item.path), target)
        except BioqwenError as err:
            skipped.append(runs.Skipped(str(item.path), str(err)))
            continue
        read = runs.read_run_dir(target)
        if isinstance(read, runs.Skipped):
            skipped.append(read)
        else:
            records.append(read)
    return records, skipped


def compare_stages(
    records: list[runs.RunRecord],
    labels: Mapping[str, Any],
    data_dirs: Mapping[str, str],
    directory: Path,
    score: Score,
) -> tuple[list[forgetting.Row], list[runs.Skipped]]:
    """Score every model's stage-2 predictions on a stage-1 task against its stage-1 ones with
    the score job's compare= (one run each under directory/forgetting/): the forgetting table."""
    rows: list[forgetting.Row] = []
    skipped: list[runs.Skipped] = []
    for pair in forgetting.pairs(records, labels):
        second, first = (forgetting.predictions_file(r) for r in (pair.stage2, pair.stage1))
        overrides = [f"benchmark={pair.benchmark}", f"predictions={second}", f"compare={first}"]
        overrides += [
            *_data_dir(pair.data_dir() or data_dirs.get(pair.benchmark)),
            "tracking=disabled",
        ]
        target = directory / "forgetting" / pair.model.replace(" ", "_") / pair.benchmark
        try:
            metrics = score(overrides, str(second), target)
        except BioqwenError as err:
            skipped.append(runs.Skipped(f"{first} vs {second}", f"forgetting: {err}"))
            continue
        rows += forgetting.rows(pair, metrics, str(target))
    return rows, skipped
