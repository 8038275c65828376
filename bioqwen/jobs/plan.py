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
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bioqwen.checkout import compose, plain
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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Plan every point of the command line; print per run and in total; return the totals."""
    from bioqwen.cli import JOBS
    from bioqwen.plan import points, pricing

    opts = plain(cfg.plan)
    if int(opts["gpus"]) < 1:
        raise BioqwenError(f"plan.gpus={opts['gpus']}: must be >= 1")
    grid = points.expand(opts["overrides"], bool(opts["multirun"]))
    common = points.shared(grid)
    base = points.train_steps(opts["experiment"], common, JOBS)
    context = pricing.price_context(plain(cfg.paper), opts["runs"], opts["table"])
    gpus = int(opts["gpus"])
    rows: list[dict[str, Any]] = []
    print(f"plan: {len(grid)} point(s) on {opts['gpu']} x {gpus}; nothing is launched", flush=True)
    for number, point in enumerate(grid, 1):
        own = [o for o in point if o not in common]
        label = " ".join(own) or " ".join(point) or "(defaults)"
        print(f"[{number}/{len(grid)}] {label}", flush=True)
        for step in point_steps(base, own, point, opts["experiment"]):
            row = {"point": number, "overrides": point, **pricing.price(step, opts, context)}
            rows.append(row)
            print("\n".join(pricing.describe_run(row, gpus)), flush=True)
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
