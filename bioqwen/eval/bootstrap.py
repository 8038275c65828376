"""Bootstrap confidence intervals and paired bootstrap p-values over documents or questions.

Every metric here is a function of per-item sufficient statistics summed over the items: a
QA mean is the sum of per-question sentence scores over n, an NER F1 comes from summed
per-document TP/FP/FN. A resample is therefore a vector of item multiplicities, and all
resamples together are one (resamples x items) count matrix: the resampled sums are one
matrix product, and no text is re-scored. Intervals are percentile intervals; the paired
test resamples the same items for both systems and reports the two-sided p-value of the
centred bootstrap distribution of the difference, (1 + #{|d* - d| >= |d|}) / (1 + B)
(Koehn 2004; Berg-Kirkpatrick et al. 2012).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bioqwen.errors import BioqwenError

Columns = Mapping[str, np.ndarray]
# Summed statistics (each of shape (B,)) and the item count -> metric name -> values (B,).
Statistic = Callable[[Columns, int], dict[str, np.ndarray]]


@dataclass
class Sample:
    """Per-item statistics of one scored file, the items' keys, and how metrics follow."""

    keys: list[str]
    columns: dict[str, np.ndarray]
    statistic: Statistic

    def metrics(self) -> dict[str, float]:
        """The point estimates: the statistic of the whole sample."""
        sums = {k: np.asarray([v.sum()]) for k, v in self.columns.items()}
        return {k: float(v[0]) for k, v in self.statistic(sums, len(self.keys)).items()}


def means(scale: float = 1.0) -> Statistic:
    """A statistic that reports every column's mean (times `scale`) under its own name."""

    def statistic(sums: Columns, n: int) -> dict[str, np.ndarray]:
        return {k: scale * v / n if n else np.zeros_like(v) for k, v in sums.items()}

    return statistic


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den != 0)


def ner_statistic(types: Sequence[str]) -> Statistic:
    """bioqwen.eval.ner.ner_metrics from summed `tp/<type>`, `fp/<type>`, `fn/<type>` columns;
    other columns are reported as means."""
    counted = {f"{c}/{t}" for c in ("tp", "fp", "fn") for t in types}

    def statistic(sums: Columns, n: int) -> dict[str, np.ndarray]:
        out = means()({k: v for k, v in sums.items() if k not in counted}, n)
        f1s, recalls = [], []
        for t in types:
            tp, fp, fn = (sums[f"{c}/{t}"].astype(float) for c in ("tp", "fp", "fn"))
            precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
            f1 = _ratio(2 * precision * recall, precision + recall)
            out[f"precision/{t}"], out[f"recall/{t}"], out[f"f1/{t}"] = precision, recall, f1
            f1s.append(f1)
            recalls.append(recall)
        if types:
            out["macro_f1"] = np.mean(f1s, axis=0)
            out["balanced_accuracy"] = np.mean(recalls, axis=0)
        return out

    return statistic


def _counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """(resamples x n) multiplicities of each item in each resample (rows sum to n)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    return np.bincount(picks.ravel(), minlength=resamples * n).reshape(resamples, n)


def _resampled(sample: Sample, counts: np.ndarray) -> dict[str, np.ndarray]:
    names = list(sample.columns)
    matrix = np.stack([sample.columns[k].astype(float) for k in names], axis=1)
    sums = counts @ matrix  # (resamples x columns): every resample's summed statistics at once
    return sample.statistic({k: sums[:, i] for i, k in enumerate(names)}, len(sample.keys))


def intervals(sample: Sample, resamples: int, confidence: float, seed: int) -> dict[str, float]:
    """`<metric>/ci_low` and `<metric>/ci_high` (percentile interval) for every metric."""
    if resamples <= 0 or not sample.keys:
        return {}
    if not 0.0 < confidence < 1.0:
        raise BioqwenError(f"bootstrap.confidence={confidence}: expected a value in (0, 1)")
    values = _resampled(sample, _counts(len(sample.keys), resamples, seed))
    tail = 100.0 * (1.0 - confidence) / 2.0
    out: dict[str, float] = {}
    for name, v in values.items():
        low, high = np.percentile(v, [tail, 100.0 - tail])
        out[f"{name}/ci_low"], out[f"{name}/ci_high"] = float(low), float(high)
    return out


def align(sample: Sample, other: Sample, names: tuple[str, str]) -> Sample:
    """`other`'s items in `sample`'s order; a different item set is an error naming both files."""
    position: dict[str, int] = {}
    for i, key in enumerate(other.keys):
        position.setdefault(key, i)
    missing = [k for k in sample.keys if k not in position]
    extra = set(other.keys) - set(sample.keys)
    if missing or extra or len(sample.keys) != len(other.keys):
        example = (missing or sorted(extra) or ["(a repeated item)"])[0]
        raise BioqwenError(
            f"compare: {names[0]} ({len(sample.keys)} items) and {names[1]} "
            f"({len(other.keys)} items) do not score the same items; "
            f"first difference: {example[:80]!r}"
        )
    if len(position) != len(other.keys):
        raise BioqwenError(f"compare: {names[1]} repeats an item; a paired test needs each once")
    order = [position[k] for k in sample.keys]
    columns = {k: v[order] for k, v in other.columns.items()}
    return Sample(list(sample.keys), columns, other.statistic)


def paired_p_values(a: Sample, b: Sample, resamples: int, seed: int) -> dict[str, float]:
    """`<metric>/p_value`: paired bootstrap test of a's metric against b's on the same items."""
    if resamples <= 0:
        return {}
    counts = _counts(len(a.keys), resamples, seed)
    va, vb = _resampled(a, counts), _resampled(b, counts)
    pa, pb = a.metrics(), b.metrics()
    out: dict[str, float] = {}
    for name in sorted(set(va) & set(vb)):
        observed = pa[name] - pb[name]
        deltas = va[name] - vb[name]
        extreme = np.abs(deltas - observed) >= abs(observed) - 1e-12
        out[f"{name}/p_value"] = float((1 + extreme.sum()) / (1 + resamples))
    return out
