"""Fig. 3 plots: shared bins with the threshold on an edge, counts per bin, PNGs written."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bioqwen.quality import plots


def test_bins_span_scores_and_put_the_threshold_on_an_edge() -> None:
    edges = plots.bin_edges([1.3, 2.0, 3.9], 2.8, 20)
    assert edges[0] <= 1.3 and edges[-1] >= 3.9
    assert np.isclose(edges, 2.8).any()
    assert plots.bin_edges([0.0, 0.1], 2.8, 10)[-1] >= 2.8  # a threshold outside the scores


def test_histograms_count_every_score(tmp_path: Path) -> None:
    scores = [1.0, 2.79, 2.8, 2.81, 3.5]
    edges = plots.bin_edges(scores, 2.8, 10)
    before = plots.histogram(scores, edges, 2.8, "before", tmp_path / "a.png")
    after = plots.histogram(
        [s for s in scores if s >= 2.8], edges, 2.8, "after", tmp_path / "b.png"
    )
    assert sum(before) == 5 and sum(after) == 3
    below = [c for c, right in zip(after, edges[1:], strict=True) if right <= 2.8 + 1e-9]
    assert sum(below) == 0  # no kept score lands in a bar left of the threshold
    plots.write_counts(edges, before, after, tmp_path / "counts.csv")
    assert (tmp_path / "counts.csv").read_text().count("\n") == len(before) + 1
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


def test_pca_scatter_writes_a_png(tmp_path: Path) -> None:
    points = np.arange(12, dtype=float).reshape(6, 2)
    path = plots.pca_scatter(points, [True, False] * 3, [0.6, 0.3], "map", tmp_path / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*"))
