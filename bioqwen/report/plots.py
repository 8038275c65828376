"""The report's figures (matplotlib PNGs), in the paper's style where the paper has one.

QA radar charts (Fig. 5a/b/d), iteration-time bars (Fig. 5c), NER F1 per model version
(Fig. 6a), stage-2 gain per dataset (Fig. 6b), training loss and tokens/s of every train run,
the per-task eval loss across both stages (forgetting), and ours-vs-published scatter plots.
A figure with nothing to show is not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bioqwen.report.forgetting import train_chains
from bioqwen.report.runs import RunRecord, identity, offline_history
from bioqwen.report.tables import Table, number

QA_TABLES = {
    "table3": "cMedQA2 (Fig. 5b)",
    "supp_webmedqa": "webMedQA (Fig. 5a)",
    "supp_icliniq": "iCliniq (Fig. 5d)",
}
NER_COLUMNS = {"BC5CDR": "BC5CDR Macro F1", "NCBI": "NCBI Dis F1", "CMeEE": "CMeEE Macro F1"}
CURVES = (("train/loss", "training loss"), ("perf/tokens_per_s", "tokens/s (without padding)"))
FORGETTING_FIGURE = "forgetting_eval_loss.png"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _number(value: Any) -> float | None:
    finite = number(value)
    return None if finite is None else float(finite)


def radar(table: Table, title: str, path: Path) -> Path | None:
    """One polygon per model over the eight QA metrics (each axis scaled to its maximum)."""
    metrics = [c.label for c in table.spec.columns if c.benchmark]
    series = []
    for row in table.rows:
        for kind, index in (("ours", 0), ("paper", 1)):
            values = [_number(table.cell(row, m)[index]) for m in metrics]
            if all(v is not None for v in values):
                series.append((f"{row} ({kind})", kind, values))
    if not any(kind == "ours" for _, kind, _ in series):
        return None
    angles = [2 * math.pi * i / len(metrics) for i in range(len(metrics))] + [0.0]
    plt = _pyplot()
    fig = plt.figure(figsize=(8, 6.5))
    ax = fig.add_subplot(projection="polar")
    # One radial scale for every metric, as the paper's charts: shapes stay comparable.
    # Ours drawn last and thicker, so it shows even where it lies on the paper's polygon.
    for label, kind, values in sorted(series, key=lambda s: s[1] == "ours"):
        ours = kind == "ours"
        closed = [*values, values[0]]
        ax.plot(angles, closed, "-" if ours else "--", linewidth=2.5 if ours else 1.2, label=label)
    ax.set_xticks(angles[:-1], metrics, fontsize=9)
    ax.tick_params(axis="x", pad=12)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_rlabel_position(112)  # between BLEU-3 and BLEU-4, where the polygons are small
    ax.set_ylim(0.0, 1.05 * max(v or 0.0 for s in series for v in s[2]) or 1.0)
    ax.set_title(f"QA metrics x100, {title}", pad=22)
    ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=7)
    return _save(fig, path)


def grouped_bars(
    table: Table,
    columns: Sequence[str],
    title: str,
    ylabel: str,
    path: Path,
    rows: Sequence[str] | None = None,
) -> Path | None:
    """Bars of ours per row and column, with the paper's value as a black marker."""
    rows = [
        r
        for r in rows or table.rows
        if any(_number(table.cell(r, c)[0]) is not None for c in columns)
    ]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) * len(columns) ** 0.5 + 2), 4.5))
    width = 0.8 / len(columns)
    for j, column in enumerate(columns):
        xs = [i + (j - (len(columns) - 1) / 2) * width for i in range(len(rows))]
        ours = [_number(table.cell(r, column)[0]) for r in rows]
        bars = ax.bar(xs, [v or 0.0 for v in ours], width, label=f"{column} (ours)")
        # A zero bar is invisible: print every value of ours above its bar.
        ax.bar_label(bars, labels=[f"{v:.3g}" if v is not None else "" for v in ours], fontsize=6)
        paper = [
            (x, p)
            for x, r in zip(xs, rows, strict=True)
            if (p := _number(table.cell(r, column)[1])) is not None
        ]
        if paper:
            ax.scatter(
                *zip(*paper, strict=True),
                marker="_",
                s=300,
                color="black",
                zorder=3,
                label="paper" if j == 0 else None,
            )
    cells = [v for r in rows for c in columns for v in table.cell(r, c)[:2]]
    values = [v for v in map(_number, cells) if v is not None]
    # Bars start at zero; an all-zero plot still gets a visible scale.
    ax.set_ylim(0.0, 1.15 * max(values, default=0.0) or 1.0)
    ax.set_xticks(range(len(rows)), rows, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _save(fig, path)


def stage_gain(table: Table, path: Path) -> Path | None:
    """Stage 2 minus stage 1 per dataset and model (ours solid, paper hatched)."""
    models = sorted({r.rsplit(" stage ", 1)[0] for r in table.rows if r.endswith(" stage 2")})
    gains: list[tuple[str, str, float | None, float | None]] = []
    for model in models:
        for dataset, column in NER_COLUMNS.items():
            pair = [table.cell(f"{model} stage {n}", column) for n in (1, 2)]
            ours = [_number(p[0]) for p in pair]
            paper = [_number(p[1]) for p in pair]
            gain = ours[1] - ours[0] if None not in ours else None  # type: ignore[operator]
            published = paper[1] - paper[0] if None not in paper else None  # type: ignore[operator]
            gains.append((model, dataset, gain, published))
    if not any(g[2] is not None for g in gains):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(7.0, 0.8 * len(gains)), 4.5))
    labels = [f"{m} {d}" for m, d, _, _ in gains]
    xs = range(len(gains))
    ax.bar([x - 0.2 for x in xs], [g[2] or 0.0 for g in gains], 0.4, label="ours")
    ax.bar(
        [x + 0.2 for x in xs],
        [g[3] or 0.0 for g in gains],
        0.4,
        label="paper",
        hatch="//",
        alpha=0.5,
    )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(list(xs), labels, fontsize=7, rotation=35, ha="right")
    ax.set_ylabel("F1 gain, stage 2 - stage 1")
    ax.set_title("Stage-2 gain per dataset (Fig. 6b)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def train_curves(records: Sequence[RunRecord], labels: Any, path: Path) -> Path | None:
    """Training loss and tokens/s against the step for every train run."""
    runs = [(r, offline_history(r)) for r in records if r.job == "train"]
    runs = [(r, h) for r, h in runs if any(CURVES[0][0] in row for row in h)]
    if not runs:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for record, history in runs:
        who = identity(record, labels)
        name = f"{who.model} {who.stage or ''} ({Path(record.path).name})"
        for ax, (key, _) in zip(axes, CURVES, strict=True):
            points = [
                (row.get("_step", i), row[key])
                for i, row in enumerate(history)
                if _number(row.get(key)) is not None
            ]
            if points:
                ax.plot(*zip(*points, strict=True), marker=".", label=name)
    for ax, (_, title) in zip(axes, CURVES, strict=True):
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.legend(fontsize=7)
    return _save(fig, path)


def _eval_losses(history: Sequence[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """(step, loss) per task from eval/<task>_loss rows; `all` for the whole split's eval/loss."""
    curves: dict[str, list[tuple[float, float]]] = {}
    for i, row in enumerate(history):
        for key, value in row.items():
            task = "all" if key == "eval/loss" else key[5:-5] if key.endswith("_loss") else None
            if key.startswith("eval/") and task and _number(value) is not None:
                curves.setdefault(task, []).append((float(row.get("_step", i)), float(value)))
    return curves


def eval_loss_curves(records: Sequence[RunRecord], labels: Any, path: Path) -> Path | None:
    """Per-task eval loss over stage 1 then stage 2 (steps continued) for every stage-2 run
    whose stage-1 run is in the report: one panel per model, a task's colour kept across stages."""
    chains = [
        (identity(second, labels).model, _eval_losses(offline_history(first)), second, first)
        for first, second in train_chains(records)
    ]
    chains = [c for c in chains if c[1]]
    if not chains:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(chains), figsize=(6.5 * len(chains), 4.4), squeeze=False)
    for ax, (model, stage1, second, _) in zip(axes[0], chains, strict=True):
        stage2 = _eval_losses(offline_history(second))
        offset = max(step for points in stage1.values() for step, _ in points)
        colours: dict[str, Any] = {}
        for task in sorted(set(stage1) | set(stage2), key=lambda t: (t == "all", t)):
            points = stage1.get(task, []) + [(offset + s, v) for s, v in stage2.get(task, [])]
            style = {"color": "black", "linestyle": "--"} if task == "all" else {}
            line = ax.plot(*zip(*sorted(points), strict=True), marker="o", label=task, **style)
            colours[task] = line[0].get_color()
        ax.axvline(offset, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(" stage 2", (offset, 1.0), xycoords=("data", "axes fraction"), va="top")
        ax.set_xlabel("optimizer step (stage 2 continues stage 1's count)")
        ax.set_ylabel("eval loss")
        ax.set_title(f"{model}: eval loss per task, stage 1 then stage 2", fontsize=10)
        ax.legend(fontsize=7, title="task", title_fontsize=7)
    return _save(fig, path)


def scatter(table: Table, path: Path) -> Path | None:
    """Ours against published for every cell that has both, with the y = x line."""
    keys = [(row, c.label) for row in table.rows for c in table.spec.columns]
    cells = [(key, table.cell(*key)) for key in keys]
    named = [(k, (float(p), float(o))) for k, (o, p, d) in cells if d is not None]  # type: ignore[arg-type]
    if not named:
        return None
    pairs = [pair for _, pair in named]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(*zip(*pairs, strict=True), s=18)
    rows = {row for (row, _), _ in named}
    if len(named) <= 12:  # few points: name each cell (by its column when one row holds them)
        middle = (min(p for p, _ in pairs) + max(p for p, _ in pairs)) / 2
        for (row, column), pair in named:
            text = column if len(rows) == 1 else f"{row}: {column}"
            right = pair[0] > middle  # labels point inwards, so none leaves the axes
            offset, align = ((-4, -8), "right") if right else ((4, -8), "left")
            ax.annotate(text, pair, fontsize=6, xytext=offset, textcoords="offset points", ha=align)
    low, high = min(min(p) for p in pairs), max(max(p) for p in pairs)
    positive = low > 0 and high / low > 100
    if positive:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=0.8, label="y = x")
    ax.set_xlabel("paper")
    ax.set_ylabel("ours")
    only = f"\n{next(iter(rows))}" if len(rows) == 1 else ""
    ax.set_title(f"Ours vs paper: {table.spec.title}{only}", fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def draw_all(
    directory: Path, filled: Sequence[Table], records: Sequence[RunRecord], labels: Any
) -> list[Path]:
    """Every figure that has data, as PNGs under directory."""
    by_name = {t.spec.name: t for t in filled}
    drawn: list[Path | None] = []
    for name, title in QA_TABLES.items():
        if name in by_name:
            drawn.append(radar(by_name[name], title, directory / f"qa_radar_{name}.png"))
    if "iteration_times" in by_name:
        table = by_name["iteration_times"]
        drawn.append(
            grouped_bars(
                table,
                table.spec.column_labels(),
                "Iteration time (Fig. 5c)",
                "seconds per question",
                directory / "iteration_times.png",
            )
        )
    if "table2" in by_name:
        drawn.append(
            grouped_bars(
                by_name["table2"],
                list(NER_COLUMNS.values()),
                "NER F1 per model version (Fig. 6a)",
                "F1",
                directory / "ner_f1.png",
            )
        )
        drawn.append(stage_gain(by_name["table2"], directory / "stage2_gain.png"))
    drawn.append(train_curves(records, labels, directory / "train_curves.png"))
    drawn.append(eval_loss_curves(records, labels, directory / FORGETTING_FIGURE))
    drawn += [scatter(t, directory / f"scatter_{t.spec.name}.png") for t in filled]
    return [p for p in drawn if p is not None]
