"""Bootstrap intervals: vectorised sufficient statistics vs re-aggregating every resample.

On the authors' BioQwen-0.5B NCBI predictions (792 abstracts), 1,000 resamples are computed
three ways, all after the file is scored once: bioqwen's count-matrix product
(bioqwen.eval.bootstrap), a Python loop that re-runs `ner.ner_metrics` on each resample's
per-document counts, and, extrapolated from --rescore resamples, re-scoring the text
(parsing and joining the file again) per resample. Both exact methods must give the same
interval.
Run: .venv/bin/python benchmarks/eval_bootstrap.py [--resamples 1000] [--rescore 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from hydra import compose
from omegaconf import OmegaConf

from bioqwen.checkout import ROOT as PROJECT_ROOT
from bioqwen.checkout import hydra_context
from bioqwen.eval import bootstrap, ner, scoring

NCBI = PROJECT_ROOT / "samples/benchmarks/authors_results/ner/ncbi/"
PREDICTIONS = NCBI / "BioQwen-0.5B-stage2-ner-ncbi-disease.csv"


def main() -> None:
    """Print seconds per method, the speed-up, and both intervals of F1."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--rescore", type=int, default=3)
    args = parser.parse_args()
    with hydra_context():
        cfg = compose("score", overrides=["benchmark=ncbi", "predictions=unused"])
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    assert isinstance(bench, dict)
    scored = scoring.join_ner(scoring.read_predictions(PREDICTIONS, "ner"), bench, PREDICTIONS)
    scores = scoring.ner_summary(scored, bench)
    counts = [ner.count_document(s.document.gold, s.entities, ["Disease"]) for s in scored]
    n = len(counts)

    start = time.perf_counter()
    fast = bootstrap.intervals(scores.sample, args.resamples, 0.95, seed=0)
    vectorised = time.perf_counter() - start

    start = time.perf_counter()
    picks = np.random.default_rng(0).integers(0, n, size=(args.resamples, n))
    f1 = [ner.ner_metrics([counts[i] for i in row], ["Disease"])["f1/Disease"] for row in picks]
    looped = time.perf_counter() - start
    low, high = np.percentile(f1, [2.5, 97.5])

    start = time.perf_counter()
    for _ in range(args.rescore):
        scoring.score_file(PREDICTIONS, bench)
    rescored = (time.perf_counter() - start) / args.rescore * args.resamples

    print(f"{n} documents, {args.resamples} resamples")
    print(f"vectorised count matrix : {vectorised:8.3f} s")
    print(f"loop over ner_metrics   : {looped:8.3f} s  ({looped / vectorised:.0f}x slower)")
    print(f"re-scoring the text     : {rescored:8.1f} s  ({rescored / vectorised:.0f}x, extrap.)")
    print(
        f"F1 interval: vectorised [{fast['f1/Disease/ci_low']:.4f}, "
        f"{fast['f1/Disease/ci_high']:.4f}], loop [{low:.4f}, {high:.4f}]"
    )


if __name__ == "__main__":
    main()
