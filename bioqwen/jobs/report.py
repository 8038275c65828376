"""`bioqwen report`: the paper's tables and figures from runs, ours beside the published values.

Reads run directories (`report.runs`, `report.group`) or the W&B API (`report.source=wandb`);
with `authors_results=<dir>` it first scores the authors' released prediction files with the
score job (one score run each under <run dir>/authors/), so they fill Tables 2 and 3 like any
other run. A run or file that cannot be used is listed as skipped; with nothing at all to
report the job exits 2 with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.errors import BioqwenError
from bioqwen.jobs import score
from bioqwen.jobs.common import CONF_DIR, execute, job_main, log, open_run, plain, run_dir
from bioqwen.report import authors, document, plots, published, runs, tables, wandb_runs
from bioqwen.runs import file_hash

SOURCES = ("runs", "wandb")


def _compose_score(overrides: list[str]) -> DictConfig:
    """The score job's config as `bioqwen score <overrides>` would compose it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    inside_app = GlobalHydra.instance().is_initialized()
    scope = nullcontext() if inside_app else initialize_config_dir(CONF_DIR, version_base="1.3")
    with scope:
        return compose("score", overrides=overrides)


def score_authors(cfg: DictConfig, directory: Path) -> tuple[list[Any], list[runs.Skipped]]:
    """Score every recognised authors' file into directory/authors/; list the rest as skipped."""
    labels = plain(cfg.labels)
    known, unknown = authors.list_files(str(cfg.authors_results), labels)
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
        data_dir = cfg.report.data_dirs.get(item.benchmark)
        overrides += [f"benchmark.data_dir={data_dir}"] if data_dir else []
        target = directory / "authors" / item.task / item.benchmark / item.path.stem
        try:
            execute(score.run, _compose_score(overrides), target)
        except BioqwenError as err:
            skipped.append(runs.Skipped(str(item.path), str(err)))
            continue
        read = runs.read_run_dir(target)
        if isinstance(read, runs.Skipped):
            skipped.append(read)
        else:
            records.append(read)
    return records, skipped


def collect(cfg: DictConfig, directory: Path) -> tuple[list[runs.RunRecord], list[runs.Skipped]]:
    """The runs to report on (directories or W&B), with the ones that cannot be used."""
    rep = cfg.report
    found: Sequence[runs.RunRecord | runs.Skipped]
    if rep.source == "wandb":
        found = wandb_runs.fetch_runs(
            str(cfg.tracking.project), cfg.tracking.get("entity"), rep.group, int(rep.history_rows)
        )
    else:
        found = [runs.read_run_dir(p) for p in runs.find_run_dirs(str(rep.runs), [directory])]
    records: list[runs.RunRecord] = []
    skipped = [s for s in found if isinstance(s, runs.Skipped)]
    for record in [r for r in found if isinstance(r, runs.RunRecord)]:
        if record.job == "report" or (rep.group and not runs.in_group(record, str(rep.group))):
            continue
        if not record.metrics:
            skipped.append(runs.Skipped(record.path, "no metrics (a failed or unfinished run)"))
            continue
        records.append(record)
    return records, skipped


def _log_to_wandb(run: Any, filled: list[tables.Table], figures: list[Path]) -> None:
    """The long tables and the figures in the report's W&B run."""
    if not run.tracker.enabled:
        return
    import wandb

    for table in filled:
        rows = [[None if v == tables.MISSING else v for v in r] for r in tables.long_rows(table)]
        # Precision cells are text among numbers: a mixed-type table.
        data = wandb.Table(columns=list(tables.LONG_COLUMNS), data=rows, allow_mixed_types=True)
        run.tracker.log({f"tables/{table.spec.name}": data})
    run.tracker.log({f"figures/{f.stem}": wandb.Image(str(f)) for f in figures})


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fill the paper's tables from runs (and the authors' files), write tables and figures."""
    rep = cfg.report
    if rep.source not in SOURCES:
        raise BioqwenError(f"report.source={rep.source!r}: expected one of {', '.join(SOURCES)}")
    if cfg.authors_results and not Path(str(cfg.authors_results)).is_dir():
        raise BioqwenError(f"authors_results={cfg.authors_results}: not a directory")
    specs = published.load_tables([str(name) for name in rep.tables])
    directory = run_dir()
    records, skipped = collect(cfg, directory)
    if cfg.authors_results:
        scored, missed = score_authors(cfg, directory)
        records, skipped = records + scored, skipped + missed
    if not records:
        where = f"report.runs={rep.runs}" if rep.source == "runs" else "the W&B project"
        group = f" in group {rep.group}" if rep.group else ""
        given = "" if cfg.authors_results else "; no authors_results given"
        skips = (
            f" ({len(skipped)} skipped, e.g. {skipped[0].path}: {skipped[0].reason})"
            if skipped
            else ""
        )
        raise BioqwenError(f"nothing to report: no usable run in {where}{group}{skips}{given}")
    with open_run(cfg, "report", name="report", group=rep.group, tags=["report"]) as run:
        labels = plain(cfg.labels)
        filled = [tables.build_table(spec, records, labels) for spec in specs]
        document.write_tables(run.dir, filled)
        figures = (
            plots.draw_all(run.dir / "figures", filled, records, labels) if rep.figures else []
        )
        document.write_runs(run.dir, records, skipped)
        document.write_markdown(run.dir, filled, figures, records, skipped, str(rep.runs))
        _log_to_wandb(run, filled, figures)
        run.lineage(
            runs=[r.path for r in records],
            skipped={s.path: s.reason for s in skipped},
            published={p.name: file_hash(p) for p in sorted(published.PAPER_DIR.glob("*.yaml"))},
        )
        metrics = document.summary(filled, records, skipped, figures)
        run.finish(metrics)
        log.info("report: %d runs, %d skipped: %s", len(records), len(skipped), run.dir)
    return metrics


main = job_main("report", run)

if __name__ == "__main__":
    main()
