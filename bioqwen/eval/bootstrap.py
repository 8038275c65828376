"""Bootstrap confidence intervals and paired bootstrap p-values over documents or questions.

Fifty questions is a small sample: every metric gets a percentile interval from resampling the
scored units (questions, or NER documents) with replacement, seeded, `bootstrap.resamples`
times (1,000 by default, conf/evaluate.yaml and conf/score.yaml). Comparing two prediction files
on the same units resamples the same indices for both (paired) and reports, per metric, the
observed difference and a two-sided p-value: twice the smaller share of resampled differences
on either side of zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from bioqwen.errors import BioqwenError

# Metrics of a subset of units, given their indices (repeats allowed).
Statistic = Callable[[np.ndarray], dict[str, float]]


def _indices(n: int, settings: Mapping[str, Any]) -> list[np.ndarray]:
    resamples = int(settings["resamples"])
    confidence = float(settings["confidence"])
    if resamples < 1 or not 0 < confidence < 1:
        raise BioqwenError(
            f"bootstrap.resamples={resamples}, bootstrap.confidence={confidence}: "
            "expected at least 1 resample and a confidence strictly between 0 and 1"
        )
    rng = np.random.default_rng(int(settings["seed"]))
    return [rng.integers(0, n, n) for _ in range(resamples)]


def intervals(statistic: Statistic, n: int, settings: Mapping[str, Any]) -> dict[str, float]:
    """`<metric>/ci_low` and `<metric>/ci_high` for every metric the statistic returns."""
    if n == 0:
        return {}
    samples = [statistic(idx) for idx in _indices(n, settings)]
    tail = 100 * (1 - float(settings["confidence"])) / 2
    out: dict[str, float] = {}
    for key in samples[0]:
        low, high = np.percentile([s[key] for s in samples], [tail, 100 - tail])
        out[f"{key}/ci_low"], out[f"{key}/ci_high"] = float(low), float(high)
    return out


def paired_p_values(
    first: Statistic, second: Statistic, n: int, settings: Mapping[str, Any]
) -> dict[str, float]:
    """Per metric: `compare/<metric>/delta` (first - second) and `compare/<metric>/p_value`."""
    everything = np.arange(n)
    observed_a, observed_b = first(everything), second(everything)
    deltas: dict[str, list[float]] = {key: [] for key in observed_a}
    for idx in _indices(n, settings):
        a, b = first(idx), second(idx)
        for key in deltas:
            deltas[key].append(a[key] - b[key])
    out: dict[str, float] = {}
    for key, values in deltas.items():
        diffs = np.asarray(values)
        p = 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0)))
        out[f"compare/{key}/delta"] = observed_a[key] - observed_b[key]
        out[f"compare/{key}/p_value"] = min(1.0, p)
    return out


def mean_statistic(values: np.ndarray, keys: list[str], scale: float = 1.0) -> Statistic:
    """Means of per-unit values (rows: units, columns: `keys`), times `scale`."""

    def statistic(idx: np.ndarray) -> dict[str, float]:
        means = values[idx].mean(axis=0) * scale
        return {k: float(v) for k, v in zip(keys, means, strict=True)}

    return statistic
