"""The artefacts of a scoring run: threshold table, Fig. 3a/b histograms, Fig. 3c/d PCA maps.

Each function writes its files into the run directory (atomically) and returns the metrics
(flat keys, for metrics.json and the W&B summary) and the PNGs it made, for the job to log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bioqwen.data import thresholds
from bioqwen.quality import plots
from bioqwen.quality.embeddings import Embedder, pca_2d
from bioqwen.runs import atomic_write_json, atomic_write_text

Images = dict[str, Path]


def threshold_table(
    directory: Path,
    scores: Mapping[str, float],
    tokens: Mapping[str, int],
    comprehension_tokens: int,
    settings: Mapping[str, Any],
    chosen: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """thresholds.{json,md}: records and tokens kept per candidate threshold."""
    grid = thresholds.candidates(**settings["thresholds"])
    ratio = float(settings["balance"]["ratio"])
    rows = thresholds.table(scores, tokens, grid, chosen, comprehension_tokens, ratio)
    atomic_write_json(directory / thresholds.TABLE_FILE, rows)
    atomic_write_text(directory / "thresholds.md", thresholds.markdown(rows))
    at = next(r for r in rows if "chosen" in r["mark"])
    metrics = {
        "quality/threshold": chosen,
        "quality/kept_records": at["records"],
        "quality/kept_tokens": at["tokens"],
        "quality/kept_share": at["records (%)"] / 100,
        "quality/comprehension_tokens": comprehension_tokens,
        "quality/balance_threshold": thresholds.marked(rows, "balance"),
    }
    return rows, metrics


def histograms(
    directory: Path, scores: Sequence[float], threshold: float, bins: int
) -> tuple[dict[str, Any], Images]:
    """Fig. 3a (all scores) and 3b (scores kept by the threshold) on shared bins, plus CSV."""
    edges = plots.bin_edges(scores, threshold, bins)
    after = [s for s in scores if s >= threshold]
    images = {
        "fig3a_scores_before": directory / "fig3a_scores_before.png",
        "fig3b_scores_after": directory / "fig3b_scores_after.png",
    }
    counts_before = plots.histogram(
        scores,
        edges,
        threshold,
        "Fig. 3a  reward scores before filtering",
        images["fig3a_scores_before"],
    )
    counts_after = plots.histogram(
        after,
        edges,
        threshold,
        "Fig. 3b  reward scores after filtering",
        images["fig3b_scores_after"],
    )
    plots.write_counts(edges, counts_before, counts_after, directory / "score_histograms.csv")
    mean = sum(scores) / len(scores)
    return {
        "quality/score_mean": round(mean, 6),
        "quality/score_min": min(scores),
        "quality/score_max": max(scores),
    }, images


def embedding_maps(
    directory: Path,
    embedders: Mapping[str, Embedder],
    ids: Sequence[str],
    texts: Sequence[str],
    kept: Sequence[bool],
    seed: int,
) -> tuple[dict[str, Any], Images]:
    """Fig. 3c (encoder) and 3d (decoder): PCA of kept vs removed records' embeddings."""
    metrics: dict[str, Any] = {"quality/embedded_records": len(ids)}
    images: Images = {}
    for panel, (role, embedder) in zip("cd", embedders.items(), strict=False):
        points, variance = pca_2d(embedder.embed(ids, texts), seed)
        name = f"fig3{panel}_pca_{role}"
        title = f"Fig. 3{panel}  PCA of {role} embeddings ({embedder.name})"
        images[name] = plots.pca_scatter(points, kept, variance, title, directory / f"{name}.png")
        metrics[f"quality/pca_{role}_variance_pc1"] = round(variance[0], 6)
        metrics[f"quality/pca_{role}_variance_pc2"] = round(variance[1], 6)
    return metrics, images
