"""Fig. 3 as PNGs: reward-score histograms before/after filtering (a, b) with the count on each
bar, and PCA maps of kept vs removed records (c: encoder, d: decoder) with explained variance."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bioqwen.tabular import write_csv


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7.5, 4.5), dpi=120)


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    # Rendered to a temporary sibling first: a crash never leaves half a PNG.
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def bin_edges(scores: Sequence[float], threshold: float, bins: int) -> np.ndarray:
    """Shared bin edges for the before/after histograms (so their bars line up), spanning the
    scores and the threshold, with the threshold on an edge so no bar straddles it."""
    values = np.asarray([*scores, threshold], dtype=float)
    low, high = float(values.min()), float(values.max())
    width = (high - low) / bins or 1.0
    below = int(np.ceil((threshold - low) / width))
    start = threshold - below * width
    count = below + int(np.ceil((high - threshold) / width)) + (high == threshold)
    return start + width * np.arange(count + 1)


def histogram(
    scores: Sequence[float], edges: np.ndarray, threshold: float, title: str, path: Path
) -> list[int]:
    """Bar chart of scores over `edges`, each bar labelled with its count; returns the counts."""
    counts, _ = np.histogram(np.asarray(scores, dtype=float), bins=edges)
    fig, ax = _figure()
    widths = np.diff(edges)
    bars = ax.bar(edges[:-1], counts, width=widths * 0.92, align="edge", color="#4C72B0")
    ax.bar_label(bars, labels=[str(c) if c else "" for c in counts], fontsize=7, padding=1)
    ax.axvline(threshold, color="#C44E52", linestyle="--", label=f"threshold {threshold:.2f}")
    ax.set_xlabel("reward score")
    ax.set_ylabel("records")
    ax.set_title(f"{title} (n = {int(counts.sum()):,})")
    ax.set_ylim(0, max(1, int(counts.max(initial=0))) * 1.18)
    ax.legend(loc="upper left")
    _save(fig, path)
    return [int(c) for c in counts]


def pca_scatter(
    points: np.ndarray, kept: Sequence[bool], variance: Sequence[float], title: str, path: Path
) -> Path:
    """Scatter of the first two principal components, kept and removed records in two colours."""
    fig, ax = _figure()
    mask = np.asarray(kept, dtype=bool)
    for selected, label, colour in ((~mask, "removed", "#C44E52"), (mask, "kept", "#4C72B0")):
        ax.scatter(
            points[selected, 0],
            points[selected, 1],
            s=14,
            alpha=0.6,
            c=colour,
            label=f"{label} ({int(selected.sum()):,})",
            edgecolors="none",
        )
    ax.set_xlabel(f"PC1 ({100 * variance[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC2 ({100 * variance[1]:.1f} % of variance)")
    ax.set_title(title)
    ax.legend(loc="best")
    return _save(fig, path)


def write_counts(
    edges: np.ndarray, before: Sequence[int], after: Sequence[int], path: Path
) -> Path:
    """The histograms' numbers as CSV beside the PNGs (bin start, bin end, before, after)."""
    rows = [
        [f"{edges[i]:.4f}", f"{edges[i + 1]:.4f}", before[i], after[i]] for i in range(len(before))
    ]
    return write_csv(path, ["bin_start", "bin_end", "before", "after"], rows)
