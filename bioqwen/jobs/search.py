"""`bioqwen search`: an asynchronous Optuna search over train runs (bioqwen.sweeps.search).

Everything the search can get wrong (objective, space, enqueued trials, sampler, pruner, the
fixed train overrides) is checked before the study exists; then the run directory gets
spec.yaml and optuna.journal, `workers` processes pull trials until `trials` are done, and the
run directory holds the sweep summary (sweep_summary.md/.csv, heatmap, loss curves) like a
grid's. No completed trial: one `bioqwen: error:` line, exit status 1 (summary written).

`python -m bioqwen.jobs.search <sweep dir> [worker index]` is one worker (what launch=local
starts, and one SLURM array task with launch=none): it runs the train job for each trial.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bioqwen.errors import BioqwenError
from bioqwen.jobs.common import job_main, log, plain, run_dir
from bioqwen.runs import atomic_write_text, write_metrics

WORKER = "bioqwen.jobs.search"  # `python -m` this module: one worker (work_main)
WORKER_LOGS = "workers"
POLL_S = 2.0


def spec_of(cfg: DictConfig) -> Any:
    """The search's spec, checked: objective, space, enqueued trials, sampler, pruner, train."""
    from bioqwen.checkout import compose
    from bioqwen.sweeps import search
    from bioqwen.sweeps.objectives import check_metric

    s = cfg.search
    check_metric("train", "search.objective", str(s.objective))
    for key in ("workers", "trials"):
        if int(cfg[key]) < 1:
            raise BioqwenError(f"{key}={cfg[key]}: must be at least 1")
    for part in ("sampler", "pruner"):
        for key in sorted(OmegaConf.missing_keys(s[part] or {})):
            name = f"search.{part}.{key}"
            raise BioqwenError(f"{name} has no value: set it on the command line ({name}=...)")
    pruner = plain(s.pruner) if s.get("pruner") else None
    if pruner and not str(s.objective).startswith("eval/"):
        raise BioqwenError(
            f"search.objective={s.objective}: the pruner watches it at every evaluation, so "
            "it must be an eval/ metric (or search/pruner=none)"
        )
    dims = search.space([str(p) for p in s.params])
    if len(s.enqueue) > int(cfg.trials):
        raise BioqwenError(f"search.enqueue holds {len(s.enqueue)} trials, more than trials")
    for entry in s.enqueue:
        search.enqueued(str(entry), dims)
    search.instantiate(plain(s.sampler))
    search.instantiate(pruner)
    train = [str(o) for o in cfg.train]
    if not any(o.lstrip("+~").startswith("tracking=") for o in train):
        from hydra.core.hydra_config import HydraConfig

        train.insert(0, f"tracking={HydraConfig.get().runtime.choices['tracking']}")
    # Every key and value reaches a real train config: the fixed overrides, and each searched
    # key at one value of its range.
    first = [f"{k}={search.value_text(d.choices[0] if hasattr(d, 'choices') else d.low)}"
             for k, d in dims.items()]  # fmt: skip
    compose("train", [*train, *first], where=f"train={train} with search.params")
    return search.Spec(
        study=str(s.study),
        objective=str(s.objective),
        direction=str(s.direction),
        trials=int(cfg.trials),
        params=[str(p) for p in s.params],
        train=train,
        sampler=plain(s.sampler),
        pruner=pruner,
        enqueue=[str(e) for e in s.enqueue],
    )


def start_workers(cfg: DictConfig, directory: Path) -> list[subprocess.Popen[bytes]]:
    """`workers` local processes, each its own GPU of `gpus` if given, logs in workers/."""
    import os

    logs = directory / WORKER_LOGS
    logs.mkdir(exist_ok=True)
    gpus = [int(g) for g in cfg.gpus]
    procs = []
    for index in range(int(cfg.workers)):
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = str(gpus[index % len(gpus)])
        with open(logs / f"worker-{index}.log", "wb") as out:
            command = [sys.executable, "-m", WORKER, str(directory), str(index)]
            procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env))
    return procs


def wait(procs: list[subprocess.Popen[bytes]], study: Any) -> None:
    """Wait for the workers, saying each trial's end as it happens."""
    said: set[int] = set()
    while True:
        running = any(p.poll() is None for p in procs)
        for t in study.get_trials(deepcopy=False):
            if t.state.is_finished() and t.number not in said:
                said.add(t.number)
                value = f" {t.value:.6g}" if t.value is not None else ""
                log.info("trial %d %s%s %s", t.number, t.state.name.lower(), value, t.params)
        if not running:
            break
        time.sleep(POLL_S)
    for index, p in enumerate(procs):
        if p.returncode:
            log.error("worker %d exited with status %d (its log: workers/worker-%d.log)",
                      index, p.returncode, index)  # fmt: skip


def run(cfg: DictConfig) -> dict[str, Any]:
    """Check the search, create the study, run (or hand out) the workers, summarise."""
    import optuna

    from bioqwen.sweeps import search
    from bioqwen.sweeps.summary import log_to_wandb

    spec = spec_of(cfg)
    directory = run_dir()
    if (directory / search.JOURNAL_FILE).exists():
        raise BioqwenError(f"{directory / search.JOURNAL_FILE}: a study is already there")
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    spec.write(directory)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = search.create_study(directory, spec)
    command = f"{sys.executable} -m {WORKER} {directory}"
    if cfg.launch == "none":
        print(f"study ready in {directory / search.JOURNAL_FILE}; start workers with:\n  {command}")
        return {"search/trials": 0}
    log.info("search: %d trials, %d workers; dashboard: optuna-dashboard %s",
             spec.trials, cfg.workers, directory / search.JOURNAL_FILE)  # fmt: skip
    wait(start_workers(cfg, directory), study)
    files = search.summarize(directory, spec)
    if str(cfg.tracking.mode) != "disabled":
        log_to_wandb(plain(cfg.tracking), files, directory)
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    metrics: dict[str, Any] = {
        "search/trials": len(trials),
        "search/complete": states.count("COMPLETE"),
        "search/pruned": states.count("PRUNED"),
        "search/failed": states.count("FAIL"),
    }
    if metrics["search/complete"]:
        metrics["search/best_value"] = study.best_value
        metrics["search/best_trial"] = study.best_trial.number
    write_metrics(directory, metrics)
    log.info("sweep summary: %s", files.markdown)
    if not metrics["search/complete"]:
        print(
            f"bioqwen: error: no trial of the search completed ({metrics['search/pruned']} "
            f"pruned, {metrics['search/failed']} failed); see {files.markdown}",
            file=sys.stderr,
        )
        sys.exit(1)
    return metrics


main = job_main("search", run)


def train_trial(cfg: DictConfig, directory: Path) -> dict[str, Any]:
    """The train job run into a trial's directory."""
    from bioqwen.jobs import train
    from bioqwen.jobs.common import execute

    return execute(train.run, cfg, directory)


def work_main(argv: Sequence[str] | None = None) -> None:
    """`python -m bioqwen.jobs.search <sweep dir> [worker index]`: one worker (a SLURM
    array task takes its index from SLURM_ARRAY_TASK_ID)."""
    from bioqwen.sweeps import search

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print(f"usage: python -m {WORKER} <sweep dir> [worker index]", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    index = int(args[1]) if len(args) > 1 else int(os.environ.get("SLURM_ARRAY_TASK_ID", "0"))
    try:
        ran = search.work(Path(args[0]), train_trial, index)
    except BioqwenError as err:
        print(f"bioqwen: error: {err}", file=sys.stderr)
        sys.exit(2)
    search.log.info("worker %d ran %d trials", index, ran)


if __name__ == "__main__":
    work_main()
