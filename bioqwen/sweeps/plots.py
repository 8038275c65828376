"""Figures of a sweep: a metric over two swept axes, and every point's loss curves."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import matplotlib

matplotlib.use("Agg")  # files only; no display on clusters
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

MISSING = "(unset)"


class PlotPoint(Protocol):
    """What a figure needs from a sweep point."""

    @property
    def ok(self) -> bool: ...

    @property
    def label(self) -> str: ...

    @property
    def history(self) -> list[dict[str, Any]]: ...

    def value(self, key: str) -> Any: ...

    def metric(self, key: str) -> float | None: ...


def _sort_key(value: Any) -> tuple[int, float, str]:
    try:
        return (0, float(value), "")
    except (TypeError, ValueError):
        return (1, 0.0, str(value))


def _tick(value: Any) -> str:
    try:
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return MISSING if value is None else str(value)


def value_format(values: np.ndarray) -> str:
    """A %-format with enough decimals to tell the finite values apart (at least 4 digits)."""
    finite = np.unique(values[np.isfinite(values)])
    gaps = np.diff(finite)
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    if not gaps.size or scale <= 0:
        return "%.4g"
    decimals = max(math.ceil(-math.log10(float(gaps.min()))), 3 - math.floor(math.log10(scale)))
    return f"%.{min(max(decimals, 0), 8)}f"


def heatmap(
    points: Sequence[PlotPoint], metric: str, x: str, y: str, path: Path, title: str = ""
) -> Path:
    """`metric` of each point in a grid of `x` by `y` (best value per cell; failed cells marked)."""
    xs = sorted({_tick(p.value(x)) for p in points}, key=_sort_key)
    ys = sorted({_tick(p.value(y)) for p in points}, key=_sort_key)
    grid = np.full((len(ys), len(xs)), np.nan)
    runs = np.zeros_like(grid, dtype=int)
    failed = np.zeros_like(grid, dtype=int)
    for p in points:
        cell = ys.index(_tick(p.value(y))), xs.index(_tick(p.value(x)))
        runs[cell] += 1
        value = p.metric(metric) if p.ok else None
        if value is None:
            failed[cell] += 0 if p.ok else 1
            continue
        grid[cell] = value if math.isnan(grid[cell]) else min(grid[cell], value)
    fig, ax = plt.subplots(figsize=(1.6 * len(xs) + 3, 1.1 * len(ys) + 2.2))
    shown = np.ma.masked_invalid(grid)
    image = ax.imshow(shown, cmap="viridis_r", aspect="auto", origin="lower")
    ax.set_facecolor("#dddddd")  # cells without a value
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    fmt = value_format(grid)
    for (row, col), value in np.ndenumerate(grid):
        text = fmt % value if np.isfinite(value) else ("failed" if failed[row, col] else "no point")
        if failed[row, col] and np.isfinite(value):
            text += f"\n({failed[row, col]} failed)"
        dark = np.isfinite(value) and value > middle
        ax.text(col, row, text, ha="center", va="center", color="white" if dark else "black")
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    several = " (best of the points in a cell)" if runs.max() > 1 else ""
    ax.set_title(title or f"{metric}{several}")
    fig.colorbar(image, ax=ax, label=f"{metric} (lower is better)", format=fmt)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _series(history: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    rows = [(row.get("_step", i), row[key]) for i, row in enumerate(history) if key in row]
    return [float(s) for s, _ in rows], [float(v) for _, v in rows]


def loss_curves(
    points: Sequence[PlotPoint], path: Path, keys: tuple[str, ...] = ("train/loss", "eval/loss")
) -> Path:
    """Every point's curves of `keys` against the training step, one panel per key."""
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.5), squeeze=False)
    colors = plt.colormaps["tab10"]
    legend: dict[str, Any] = {}  # label -> line, once per point for the whole figure
    for ax, key in zip(axes[0], keys, strict=True):
        for i, p in enumerate(points):
            steps, values = _series(p.history, key)
            if steps:
                label = p.label if p.ok else f"{p.label} (failed)"
                style = "-" if p.ok else ":"
                (legend[label],) = ax.plot(steps, values, style, marker=".", color=colors(i % 10))
        if not any(_series(p.history, key)[0] for p in points):
            ax.text(0.5, 0.5, f"no {key} history\n(W&B tracking disabled?)", ha="center",
                    va="center", transform=ax.transAxes)  # fmt: skip
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(key)
        ax.set_title(key)
        ax.grid(alpha=0.3)
    rows = math.ceil(len(legend) / 2)
    if legend:  # below the panels, so that no label hides a curve
        fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=2, fontsize="small")
    fig.tight_layout(rect=(0, min(0.06 * rows + 0.02, 0.5) if legend else 0, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
