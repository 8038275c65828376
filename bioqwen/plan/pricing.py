"""One train run priced: its size, schedule and GPU-hours with their sources, and its lines in
`bioqwen plan`'s output."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from bioqwen.checkout import CONF_DIR, in_checkout, plain
from bioqwen.plan import cost, speed


def _paper_table(name: str) -> dict[str, Any]:
    """conf/paper/<name>.yaml."""
    data: dict[str, Any] = yaml.safe_load((CONF_DIR / "paper" / name).read_text(encoding="utf-8"))
    return data


def price_context(paper: dict[str, Any], runs: Iterable[str], table: str) -> dict[str, Any]:
    """What every run's price reads: the paper's sizes and hours, measured runs, the speed table."""
    table1 = _paper_table("table1.yaml")
    columns = list(table1["columns"]).index("tokens (M)")
    paper_tokens = {
        stage: sum(float(table1["rows"][r][columns]) * 1e6 for r in paper["mixes"][spec["mix"]])
        for stage, spec in paper["stages"].items()
    }
    roots = [in_checkout(r) for r in runs]
    return {
        "paper": paper,
        "table1": table1,
        "hours": _paper_table("training_hours.yaml"),
        "paper_tokens": paper_tokens,
        "runs": speed.measured_runs(r for r in roots if r.is_dir()),
        "table": speed.read_table(in_checkout(table)),
    }


def price(step: Any, opts: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """One train run's size, schedule and GPU-hours, each with its source."""
    cfg = plain(step.cfg)
    paper = context["paper"]
    size = cost.mix_size(cfg, step.data_dir, paper["mixes"], context["table1"])
    sched = cost.schedule(cfg["stage"], int(opts["gpus"]), size)
    want = speed.shape(cfg)
    gpu = str(opts["gpu"])
    found = (
        speed.from_runs(want, gpu, context["runs"])
        or speed.from_table(want, gpu, context["table"], str(opts["table"]))
        or speed.from_paper(
            want, cfg["stage"]["name"], paper, context["hours"], context["paper_tokens"]
        )
    )
    if found is None:
        found = speed.Speed(
            None,
            gpu,
            f"no measured speed for {speed.describe(want)} on {gpu}: no train run of that shape on "
            f"it under {', '.join(opts['runs'])}, no row in {opts['table']}"
            f"{'' if Path(opts['table']).is_file() else ' (no such file)'}, no paper hours for "
            f"{want['model']} {cfg['stage']['name']}",
        )
    elif found.source.startswith("paper") and gpu.lower() not in found.gpu.lower():
        found = speed.Speed(
            found.tokens_per_s,
            found.gpu,
            f"no measurement on {gpu} for {speed.describe(want)}: {found.source}",
        )
    hours = sched.tokens / found.tokens_per_s / 3600 if found.tokens_per_s else None
    return {
        "step": step.label,
        "model": want["model"],
        "stage": cfg["stage"]["name"],
        "method": want["method"],
        "mix": cfg["data"]["mix"]["name"],
        "samples": size.samples,
        "tokens": size.tokens,
        "tokens_source": size.source,
        "epochs": sched.epochs,
        "steps": sched.steps,
        "steps_source": sched.source,
        "tokens_processed": sched.tokens,
        "tokens_per_s": found.tokens_per_s,
        "gpu": found.gpu,
        "gpu_hours": hours,
        "speed_source": found.source,
    }


def describe_run(row: dict[str, Any], gpus: int) -> list[str]:
    """The lines of one train run."""
    hours = row["gpu_hours"]
    priced = (
        f"{hours:,.1f} GPU-hours on {row['gpu']} ({hours / gpus:,.1f} h on {gpus})"
        if hours is not None
        else "GPU-hours unknown"
    )
    return [
        f"  {row['step']}: {row['model']} {row['stage']} {row['method']}, mix {row['mix']}",
        f"    tokens     {row['tokens'] / 1e6:,.2f} M in {row['samples']:,} training samples  "
        f"[{row['tokens_source']}]",
        f"    steps      {row['steps']:,} optimizer steps, {row['epochs']:g} epochs, "
        f"{row['tokens_processed'] / 1e6:,.1f} M tokens trained  [{row['steps_source']}]",
        f"    cost       {priced}  [{row['speed_source']}]",
    ]
