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
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from bioqwen.sweeps.cells import BEST, NOISE, CellStats, verdicts

MISSING = "(unset)"


class PlotPoint(Protocol):
    """What a figure needs from a sweep point."""

    @property
    def ok(self) -> bool: ...

    @property
    def label(self) -> str: ...

    @property
    def history(self) -> list[dict[str, Any]]: ...

    @property
    def status(self) -> str: ...

    @property
    def cell(self) -> str: ...

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
    points: Sequence[PlotPoint],
    metric: str,
    x: str,
    y: str,
    path: Path,
    title: str = "",
    replicates: bool = False,
) -> Path:
    """`metric` of each point in a grid of `x` by `y`: the best value per cell, or with
    `replicates` (seeds) the mean ± sd, the best cell framed and those within seed noise of
    it hatched; failed and pruned points are counted in their cells."""
    xs = sorted({_tick(p.value(x)) for p in points}, key=_sort_key)
    ys = sorted({_tick(p.value(y)) for p in points}, key=_sort_key)
    values: dict[tuple[int, int], list[float]] = {}
    lost: dict[tuple[int, int], list[str]] = {}  # cell -> statuses of points without a value
    for p in points:
        cell = ys.index(_tick(p.value(y))), xs.index(_tick(p.value(x)))
        value = p.metric(metric) if p.ok else None
        if value is None:
            lost.setdefault(cell, []).append(p.status if not p.ok else "no value")
        else:
            values.setdefault(cell, []).append(value)
    grid = np.full((len(ys), len(xs)), np.nan)
    order = sorted(values)
    stats = [CellStats(tuple(values[c])) for c in order]
    for cell, stat in zip(order, stats, strict=True):
        grid[cell] = stat.mean if replicates else min(stat.values)
    verdict = dict(zip(order, verdicts(stats), strict=True)) if replicates else {}
    fig, ax = plt.subplots(figsize=(1.9 * len(xs) + 3, 1.2 * len(ys) + 2.2))
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis_r", aspect="auto", origin="lower")
    ax.set_facecolor("#dddddd")  # cells without a value
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    fmt = value_format(grid)
    for (row, col), value in np.ndenumerate(grid):
        cell = (row, col)
        gone = lost.get(cell, [])
        if not np.isfinite(value):
            text = "\n".join(f"{gone.count(s)} {s}" for s in sorted(set(gone))) or "no point"
        else:
            text = fmt % value
            stat = stats[order.index(cell)]
            if replicates:
                sd = fmt % stat.sd if stat.n > 1 else "?"
                text += f"\n± {sd} (n={stat.n})"
                text += f"\n{verdict[cell]}" if verdict[cell] else ""
            text += "".join(f"\n({gone.count(s)} {s})" for s in sorted(set(gone)))
        if verdict.get(cell) == NOISE:
            ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, hatch="//",
                                   edgecolor="white", linewidth=0))  # fmt: skip
        if verdict.get(cell) == BEST:
            ax.add_patch(Rectangle((col - 0.47, row - 0.47), 0.94, 0.94, fill=False,
                                   edgecolor="red", linewidth=2.5))  # fmt: skip
        # Over hatching, text sits on a pale box; elsewhere its colour follows the cell's.
        boxed = {"facecolor": "white", "alpha": 0.7, "linewidth": 0} if replicates else None
        dark = np.isfinite(value) and value > middle and not replicates
        colour = "white" if dark else "black"
        ax.text(col, row, text, ha="center", va="center", fontsize=8, color=colour, bbox=boxed)
    ax.set_xticks(range(len(xs)), xs)
    ax.set_yticks(range(len(ys)), ys)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if replicates:
        about = " mean ± sd over seeds; red: best, hatched: within seed noise of it"
    else:
        about = (
            " (best of the points in a cell)"
            if max(map(len, values.values()), default=0) > 1
            else ""
        )
    ax.set_title(title or f"{metric}{about}", fontsize=9)
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
    """Every point's curves of `keys` against the training step, one panel per key; the seed
    replicates of a cell share its colour (solid, dashed, dash-dot per seed)."""
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.5), squeeze=False)
    colors = plt.colormaps["tab10"]
    cells = list(dict.fromkeys(p.cell for p in points))
    replicate = [[q.cell for q in points[:i]].count(p.cell) for i, p in enumerate(points)]
    legend: dict[str, Any] = {}  # label -> line, once per point for the whole figure
    for ax, key in zip(axes[0], keys, strict=True):
        for p, nth in zip(points, replicate, strict=True):
            steps, values = _series(p.history, key)
            if steps:
                label = p.label if p.ok else f"{p.label} ({p.status})"
                style = ("-", "--", "-.")[nth % 3] if p.ok else ":"
                colour = colors(cells.index(p.cell) % 10)
                (legend[label],) = ax.plot(steps, values, style, marker=".", color=colour)
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
