"""The metric names a sweep can optimise, rank or plot, known before any point runs.

A misspelled objective would otherwise be found only after every point has trained (each
point's metrics.json lacks it). The train job's names are those of
bioqwen.train.summary.summarize: fixed ones, plus families whose members depend on the data
(one eval loss per task of the validation split) or on a generation hook.
"""

from __future__ import annotations

import re

from bioqwen.sweeps import SweepError

# metrics.json keys of every train run that a sweep can sensibly compare.
TRAIN_METRICS = (
    "eval/loss",
    "train/loss",
    "train/final_loss",
    "train/mean_loss",
    "train/runtime_s",
    "perf/run_tokens_per_s",
    "perf/run_step_time_s",
)
# Families: the name shown in the error -> the pattern a member matches.
TRAIN_FAMILIES = {
    "eval/<task>_loss": r"eval/\w+_loss",
    "perf/run_<name>": r"perf/run_\w+",
    "gen/<metric>": r"gen/\S+",
    "perf/gen_<name>": r"perf/gen_\w+",
    "data/<count>": r"data/\S+",
}
KNOWN = {"train": (TRAIN_METRICS, TRAIN_FAMILIES)}


def known_names(job: str) -> str:
    """The job's metric names as one comma-separated list (families with <placeholders>)."""
    names, families = KNOWN[job]
    return ", ".join([*names, *families])


def check_metric(job: str, key: str, name: str) -> None:
    """`name` (the value of config key `key`) is a metric the job reports; jobs without a
    known list (evaluate: one name per benchmark) are not checked."""
    if job not in KNOWN:
        return
    names, families = KNOWN[job]
    if name in names or any(re.fullmatch(p, name) for p in families.values()):
        return
    raise SweepError(f"{key}={name!r} is not a metric of the {job} job; known: {known_names(job)}")
