"""`bioqwen score-data`: reward scores for the quality-filtered sources, the threshold table
and the Fig. 3 panels (paper 2.3.1.3).

A job of its own rather than a step of `prepare`: it needs a model (and wants a GPU) while
prepare is CPU-only and cached by content; prepare consumes its output, <run dir>/scores.jsonl,
through data.mix.sources.<name>.score_file. Every model is loaded and every text tokenized
before the run opens, so a wrong model or a record that cannot be encoded leaves nothing
behind; re-running into the same run directory resumes the score file.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.jobs.common import Run, job_main, log, open_run, plain, run_dir
from bioqwen.runs import cache_root, file_hash

SCORES = "scores.jsonl"


def _log_images(run: Run, images: dict[str, Any]) -> None:
    if run.tracker.enabled:
        import wandb

        run.tracker.log({f"quality/{k}": wandb.Image(str(p)) for k, p in images.items()})


def run(cfg: DictConfig) -> dict[str, Any]:
    """Score the mix's quality sources, then write the table, histograms and PCA maps."""
    from bioqwen.data import thresholds
    from bioqwen.quality import analysis, records, reward
    from bioqwen.quality.embeddings import Embedder

    data = plain(cfg.data)
    out = run_dir() / SCORES
    scored = records.scored_records(data)
    ids = [r["id"] for r in scored]
    device = reward.pick_device(str(cfg.device))
    scorer = reward.load_scorer(plain(cfg.scorer), device)
    texts = reward.texts_of(scored, scorer.template)
    done: dict[str, float] = {}
    good_bytes = 0
    if out.exists():
        reward.check_lineage(out, reward.lineage_of(scorer))
        done, good_bytes = reward.read_scores(out, ids)
    pending = [i for i, rid in enumerate(ids) if rid not in done]
    batches = reward.plan(
        scorer,
        [ids[i] for i in pending],
        [texts[i] for i in pending],
        int(cfg.batch_size),
        int(cfg.max_batch_tokens),
    )
    batches = [[pending[j] for j in batch] for batch in batches]
    tokens = records.token_counts(scored, data["tokenizer"])
    comprehension = records.comprehension_records(data, list(cfg.balance.tasks))
    comprehension_tokens = sum(records.token_counts(comprehension, data["tokenizer"]).values())
    embedders: dict[str, Embedder] = {}
    sample_ids: list[str] = []
    sample_texts: list[str] = []
    if cfg.embeddings.enabled:
        size = min(len(ids), int(cfg.embeddings.max_records))
        sample = sorted(random.Random(int(cfg.seed)).sample(range(len(ids)), size))
        sample_ids = [ids[i] for i in sample]
        text = str(cfg.embeddings.text)
        sample_texts = [records.fill(text, scored[i], "embeddings.text") for i in sample]
        for role in ("encoder", "decoder"):
            spec = plain(cfg.embeddings[role])
            embedders[role] = Embedder(spec, f"embeddings.{role}", device, cache_root())
            embedders[role].check(sample_ids, sample_texts)

    mix = str(cfg.data.mix.name)
    with open_run(
        cfg,
        "score_data",
        name=f"score-data-{mix}",
        tags=[f"mix:{mix}", f"scorer:{Path(scorer.identity['name']).name}"],
        resume=out.exists(),
    ) as run:
        if out.exists() and out.stat().st_size > good_bytes:
            with open(out, "r+b") as handle:  # drop the line a kill tore in half
                handle.truncate(good_bytes)
        reward.write_lineage(out, scorer, records=len(ids))
        new = reward.score_into(scorer, out, ids, texts, batches, done=len(done))
        scores, _ = reward.read_scores(out, ids)  # the file exactly as prepare will read it
        threshold = float(cfg.threshold)
        rows, metrics = analysis.threshold_table(
            run.dir, scores, tokens, comprehension_tokens, plain(cfg), threshold
        )
        run.tracker.table("quality/thresholds", thresholds.COLUMNS, thresholds.as_lists(rows))
        hist_metrics, images = analysis.histograms(
            run.dir, [scores[i] for i in ids], threshold, int(cfg.histogram_bins)
        )
        metrics.update(hist_metrics)
        if embedders:
            kept = [scores[rid] >= threshold for rid in sample_ids]
            map_metrics, maps = analysis.embedding_maps(
                run.dir, embedders, sample_ids, sample_texts, kept, int(cfg.seed)
            )
            metrics.update(map_metrics)
            images.update(maps)
        _log_images(run, images)
        metrics.update(
            {
                "quality/records": len(ids),
                "quality/scored_now": new,
                "quality/scored_before": len(done),
            }
        )
        run.lineage(
            scorer=scorer.identity,
            scores={"path": str(out), "hash": file_hash(out)},
            embedders={role: e.identity for role, e in embedders.items()},
            sources={
                name: src["path"]
                for name, src in data["mix"]["sources"].items()
                if src.get("quality")
            },
        )
        run.finish(metrics)
        log.info(
            "scored %d records (%d now) with %s -> %s", len(ids), new, scorer.identity["name"], out
        )
    return metrics


main = job_main("score_data", run)

if __name__ == "__main__":
    main()
