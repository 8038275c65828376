"""`bioqwen plan [-m] [+experiment=<row>] [train overrides] [plan.gpu=<name>]`: what training
will cost, printed before anything is launched (bioqwen.plan).

The command line is the one `bioqwen train -m` takes, so a grid is planned with the overrides
that would launch it (or an experiment's train steps with overrides for each, as
`pipeline.overrides.train`). `plan` is a command of its own rather than a `plan=true` switch on
train: under `-m` Hydra launches every point as its own job, so no point could print the grid's
total; and a plan makes no run directory, W&B run or sweep record (it launches nothing). Only
`plan.*` keys configure the plan itself (conf/plan.yaml); everything else goes to the train
configs. Per train run it prints tokens, epochs, optimizer steps and GPU-hours with their
sources, then the totals; a run whose speed nobody measured says which sources it tried.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from bioqwen.checkout import CONF_DIR, compose, in_checkout, plain
from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import report_user_errors
from bioqwen.runs import atomic_write_json

MULTIRUN = ("-m", "--multirun")


def split_command_line(argv: list[str]) -> tuple[list[str], list[str], str | None, bool]:
    """(plan.* overrides, train overrides, experiment, multirun) of `bioqwen plan`'s arguments."""
    own, train, experiment = [], [], None
    for arg in argv:
        if arg in MULTIRUN:
            continue
        if arg.lstrip("+").startswith("experiment="):
            experiment = arg.split("=", 1)[1]
        elif arg.startswith(("plan.", "paper.")):
            own.append(arg)
        elif arg.startswith("-"):
            raise BioqwenError(f"bioqwen plan: unknown option {arg} (only -m/--multirun)")
        else:
            train.append(arg)
    return own, train, experiment, any(a in MULTIRUN for a in argv)


def _paper_tables() -> tuple[dict[str, Any], dict[str, Any]]:
    """conf/paper/table1.yaml and conf/paper/training_hours.yaml."""
    load = lambda name: yaml.safe_load((CONF_DIR / "paper" / name).read_text(encoding="utf-8"))  # noqa: E731
    return load("table1.yaml"), load("training_hours.yaml")


def price(step: Any, opts: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
    """One train run's size, schedule and GPU-hours, each with its source."""
    from bioqwen.plan import cost, speed

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


def point_steps(base: list[Any], own: list[str], point: list[str], experiment: str | None) -> list:
    """A point's train runs: the shared composition with its own values, or composed anew."""
    from bioqwen.cli import JOBS
    from bioqwen.plan import points

    steps = []
    for step in base:
        cfg = points.apply(step.cfg, own)
        if cfg is None:  # a config group changes: compose the point anew
            return points.train_steps(experiment, point, JOBS)
        steps.append(points.TrainStep(step.label, cfg, step.data_dir))
    return steps


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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Plan every point of the command line; print per run and in total; return the totals."""
    from bioqwen.cli import JOBS
    from bioqwen.plan import points, speed

    opts = plain(cfg.plan)
    if int(opts["gpus"]) < 1:
        raise BioqwenError(f"plan.gpus={opts['gpus']}: must be >= 1")
    grid = points.expand(opts["overrides"], bool(opts["multirun"]))
    common = points.shared(grid)
    base = points.train_steps(opts["experiment"], common, JOBS)
    table1, hours = _paper_tables()
    paper = plain(cfg.paper)
    columns = list(table1["columns"]).index("tokens (M)")
    paper_tokens = {
        stage: sum(float(table1["rows"][r][columns]) * 1e6 for r in paper["mixes"][spec["mix"]])
        for stage, spec in paper["stages"].items()
    }
    roots = [in_checkout(r) for r in opts["runs"]]
    context = {
        "paper": paper,
        "table1": table1,
        "hours": hours,
        "paper_tokens": paper_tokens,
        "runs": speed.measured_runs(r for r in roots if r.is_dir()),
        "table": speed.read_table(in_checkout(opts["table"])),
    }
    gpus = int(opts["gpus"])
    rows: list[dict[str, Any]] = []
    print(f"plan: {len(grid)} point(s) on {opts['gpu']} x {gpus}; nothing is launched", flush=True)
    for number, point in enumerate(grid, 1):
        own = [o for o in point if o not in common]
        label = " ".join(own) or " ".join(point) or "(defaults)"
        print(f"[{number}/{len(grid)}] {label}", flush=True)
        for step in point_steps(base, own, point, opts["experiment"]):
            row = {"point": number, "overrides": point, **price(step, opts, context)}
            rows.append(row)
            print("\n".join(describe_run(row, gpus)), flush=True)
    by_gpu: dict[str, float] = defaultdict(float)
    for row in rows:
        if row["gpu_hours"] is not None:
            by_gpu[row["gpu"]] += row["gpu_hours"]
    unknown = sum(row["gpu_hours"] is None for row in rows)
    priced = " + ".join(f"{h:,.1f} on {g}" for g, h in by_gpu.items()) or "none priced"
    print(
        f"total: {len(grid)} point(s), {len(rows)} train run(s): "
        f"{sum(r['tokens_processed'] for r in rows) / 1e6:,.1f} M tokens trained, "
        f"{sum(r['steps'] for r in rows):,} optimizer steps, GPU-hours {priced}"
        + (f"; {unknown} run(s) without a measured speed" if unknown else ""),
        flush=True,
    )
    metrics: dict[str, Any] = {
        "plan/points": len(grid),
        "plan/train_runs": len(rows),
        "plan/steps": sum(r["steps"] for r in rows),
        "plan/tokens_trained": sum(r["tokens_processed"] for r in rows),
        "plan/unpriced_runs": unknown,
        **{f"plan/gpu_hours/{g}": round(h, 3) for g, h in by_gpu.items()},
    }
    if opts["out"]:
        atomic_write_json(opts["out"], {"totals": metrics, "runs": rows})
    return metrics


def main() -> None:
    """Entry point of `bioqwen plan` (the arguments come from sys.argv)."""
    import json

    def plan() -> dict[str, Any]:
        own, train, experiment, multirun = split_command_line(sys.argv[1:])
        cfg = compose("plan", own, "bioqwen plan")
        OmegaConf.update(cfg, "plan.overrides", train, merge=False)
        OmegaConf.update(cfg, "plan.experiment", experiment)
        OmegaConf.update(cfg, "plan.multirun", multirun)
        return run(cfg)

    metrics = report_user_errors(plan)
    print(json.dumps(metrics, sort_keys=True), flush=True)
