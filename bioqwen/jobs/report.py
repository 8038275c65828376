"""`bioqwen report`: the paper's tables and figures from runs, ours beside the published values.

Reads run directories (`report.runs`, `report.group`) or the W&B API (`report.source=wandb`);
with `authors_results=<dir>` it first scores the authors' released prediction files with the
score job (one score run each under <run dir>/authors/), so they fill Tables 2 and 3 like any
other run. A model evaluated on a stage-1 task at both stages is scored stage 2 against stage 1
with the score job's compare= (one run each under <run dir>/forgetting/): the forgetting table.
Every cell beside a published value gets a reproduction verdict; `report.check=true` fails
after the report is written when a cell the expected verdicts list as reproduced is not now.
A run or file that cannot be used is listed as skipped; with nothing at all to report the job
exits 2 with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.checkout import compose
from bioqwen.config import SweepHeatmap
from bioqwen.errors import BioqwenError
from bioqwen.jobs import score
from bioqwen.jobs.common import execute, job_main, log, open_run, plain, run_dir
from bioqwen.report import (
    authors,
    document,
    forgetting,
    inputs,
    plots,
    published,
    runs,
    tables,
    verdicts,
)
from bioqwen.runs import file_hash

SOURCES = ("runs", "wandb")
PUBLISH = ("none", "wandb")
CHECKS = (False, True, "update")
EXPECTED = published.PAPER_DIR / "verdicts" / "authors_results.yaml"


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
            execute(score.run, compose("score", overrides, str(item.path)), target)
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
    cfg: DictConfig, records: list[runs.RunRecord], directory: Path
) -> tuple[list[forgetting.Row], list[runs.Skipped]]:
    """Score every model's stage-2 predictions on a stage-1 task against its stage-1 ones with
    the score job's compare= (one run each under directory/forgetting/): the forgetting table."""
    rows: list[forgetting.Row] = []
    skipped: list[runs.Skipped] = []
    for pair in forgetting.pairs(records, plain(cfg.labels)):
        second, first = (forgetting.predictions_file(r) for r in (pair.stage2, pair.stage1))
        overrides = [f"benchmark={pair.benchmark}", f"predictions={second}", f"compare={first}"]
        data_dir = pair.data_dir() or cfg.report.data_dirs.get(pair.benchmark)
        overrides += [
            *([f"benchmark.data_dir={data_dir}"] if data_dir else []),
            "tracking=disabled",
        ]
        target = directory / "forgetting" / pair.model.replace(" ", "_") / pair.benchmark
        try:
            metrics = execute(score.run, compose("score", overrides, str(second)), target)
        except BioqwenError as err:
            skipped.append(runs.Skipped(f"{first} vs {second}", f"forgetting: {err}"))
            continue
        rows += forgetting.rows(pair, metrics, str(target))
    return rows, skipped


def check_drift(
    cfg: DictConfig, filled: list[tables.Table], expected: dict[Any, str] | None, path: Path
) -> list[str]:
    """Log each table's verdict line; report.check=update rewrites the expected verdicts,
    report.check=true returns the cells expected reproduced that are not now."""
    judged = [v for table in filled for v in verdicts.table_verdicts(table)]
    for table in filled:
        if table.spec.published:
            log.info("%s", verdicts.summary_line(table.spec.title, verdicts.table_verdicts(table)))
    if cfg.report.check == "update":
        given = f" authors_results={cfg.authors_results}" if cfg.authors_results else ""
        command = f"bioqwen report{given} report.runs='{cfg.report.runs}' report.check=update"
        verdicts.write_expected(path, judged, command)
        log.info("report.check=update: wrote %d verdicts to %s", len(judged), path)
    return verdicts.drifted(expected, judged) if expected is not None else []


def publish(cfg: DictConfig, filled: list[tables.Table], sweeps_markdown: str) -> None:
    """report.publish=wandb: the W&B Report and workspace of these runs (online)."""
    from bioqwen.report import dashboard

    spec = dashboard.DashboardSpec(
        entity=str(cfg.tracking.entity),
        project=str(cfg.tracking.project),
        groups=[str(cfg.report.group)] if cfg.report.group else [],
        tables={table.spec.title: tables.to_markdown(table) for table in filled},
        sweep_markdown=sweeps_markdown or None,
    )
    report_url, workspace_url = dashboard.publish(spec)
    log.info("published the W&B report %s and workspace %s", report_url, workspace_url)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Fill the paper's tables from runs (and the authors' files), write tables and figures."""
    rep = cfg.report
    if rep.source not in SOURCES:
        raise BioqwenError(f"report.source={rep.source!r}: expected one of {', '.join(SOURCES)}")
    if rep.publish not in PUBLISH:
        raise BioqwenError(f"report.publish={rep.publish!r}: expected one of {', '.join(PUBLISH)}")
    if rep.publish == "wandb" and not cfg.tracking.entity:
        raise BioqwenError("report.publish=wandb needs tracking.entity=<your W&B entity>")
    if cfg.authors_results and not Path(str(cfg.authors_results)).is_dir():
        raise BioqwenError(f"authors_results={cfg.authors_results}: not a directory")
    if rep.check not in CHECKS:
        raise BioqwenError(f"report.check={rep.check!r}: expected true, false or update")
    expected_path = Path(str(rep.expected)) if rep.expected else EXPECTED
    expected = verdicts.read_expected(expected_path) if rep.check is True else None
    specs = published.load_tables([str(name) for name in rep.tables])
    sweep_dirs = inputs.check_sweeps([str(d) for d in rep.sweeps])
    directory = run_dir()
    records, skipped = inputs.collect(plain(rep), plain(cfg.tracking), directory)
    if cfg.authors_results:
        scored, missed = score_authors(cfg, directory)
        records, skipped = records + scored, skipped + missed
    forgotten, missed = compare_stages(cfg, records, directory) if rep.forgetting else ([], [])
    skipped += missed
    if not records and not sweep_dirs:
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
        document.write_tables(run.dir, filled, forgotten)
        figures = (
            plots.draw_all(run.dir / "figures", filled, records, labels) if rep.figures else []
        )
        sweeps_md = inputs.render_sweeps(sweep_dirs, run.dir, SweepHeatmap(**plain(rep.sweep)))
        document.write_runs(run.dir, records, skipped)
        document.write_markdown(
            run.dir, filled, figures, records, skipped, str(rep.runs), sweeps_md, forgotten
        )
        lost = check_drift(cfg, filled, expected, expected_path)
        document.log_to_tracker(run.tracker, filled, figures)
        if rep.publish == "wandb":
            publish(cfg, filled, sweeps_md)
        run.lineage(
            runs=[r.path for r in records],
            sweeps=[str(d) for d in sweep_dirs],
            skipped={s.path: s.reason for s in skipped},
            published={p.name: file_hash(p) for p in sorted(published.PAPER_DIR.glob("*.yaml"))},
        )
        metrics = document.summary(filled, records, skipped, figures)
        metrics["report/sweeps"] = len(sweep_dirs)
        metrics["report/drifted"] = len(lost)
        metrics["report/forgetting_rows"] = len(forgotten)
        run.finish(metrics)
        log.info("report: %d runs, %d skipped: %s", len(records), len(skipped), run.dir)
    if lost:  # the report is written (the evidence); the check fails after it
        shown = "; ".join(lost[:5]) + (f"; and {len(lost) - 5} more" if len(lost) > 5 else "")
        raise BioqwenError(
            f"report.check: {len(lost)} cell(s) reproduced in {expected_path} are not now: {shown}"
        )
    return metrics


main = job_main("report", run)

if __name__ == "__main__":
    main()
