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
    document,
    inputs,
    plots,
    published,
    scoring,
    tables,
    verdicts,
)
from bioqwen.runs import file_hash

CHECKS = (False, True, "update")
EXPECTED = published.PAPER_DIR / "verdicts" / "authors_results.yaml"


def score_into(overrides: list[str], where: str, target: Path) -> dict[str, Any]:
    """The score job with these overrides, run into `target` (report/ scores through it)."""
    return execute(score.run, compose("score", overrides, where), target)


def update_command(cfg: DictConfig) -> str | None:
    """report.check=update: the command the rewritten expected verdicts record; else None."""
    if cfg.report.check != "update":
        return None
    given = f" authors_results={cfg.authors_results}" if cfg.authors_results else ""
    return f"bioqwen report{given} report.runs='{cfg.report.runs}' report.check=update"


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
    labels, data_dirs = plain(cfg.labels), plain(rep.data_dirs)
    if cfg.authors_results:
        scored, missed = scoring.score_authors(
            str(cfg.authors_results), labels, data_dirs, directory, score_into
        )
        records, skipped = records + scored, skipped + missed
    forgotten, missed = (
        scoring.compare_stages(records, labels, data_dirs, directory, score_into)
        if rep.forgetting
        else ([], [])
    )
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
        lost = verdicts.check_drift(filled, expected, expected_path, update_command(cfg))
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
