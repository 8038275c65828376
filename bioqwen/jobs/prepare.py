"""`bioqwen prepare`: build (or reuse) a cleaned, formatted mix and write its data card.

The data are prepared before the run directory is filled, so a bad input stops the job with
nothing but Hydra's own files in it; the dataset itself lives in the content-addressed cache
(`data.cache_dir`) and the run directory records where, with the card and lineage.
"""

from __future__ import annotations

import shutil
from typing import Any

from omegaconf import DictConfig

from bioqwen.jobs.common import job_main, log, open_run


def run(cfg: DictConfig) -> dict[str, Any]:
    """Prepare the data mix named by data/mix and record it in a run directory."""
    # Imported here so that a config mistake is reported before transformers/datasets load.
    from bioqwen.data.card import log_card, write_card
    from bioqwen.data.pipeline import prepare

    prepared = prepare(cfg.data, seed=int(cfg.seed), progress=True)
    mix = cfg.data.mix.name
    with open_run(cfg, "prepare", name=f"prepare-{mix}", tags=[f"mix:{mix}"]) as run:
        write_card(prepared.card, run.dir)
        if prepared.drops_path is not None and prepared.drops_path.exists():
            shutil.copyfile(prepared.drops_path, run.dir / prepared.drops_path.name)
        run.lineage(
            data_hash=prepared.hash,
            dataset_path=str(prepared.path),
            inputs=prepared.card["inputs"],
        )
        metrics = log_card(prepared.card, run.tracker)
        metrics["data/cached"] = int(prepared.cached)
        run.finish(metrics)
    card = prepared.card
    log.info(
        "mix %s: %d raw -> %d cleaned (%d train / %d validation), %.3f M tokens%s -> %s",
        mix,
        card["total"]["raw"],
        card["total"]["cleaned"],
        card["splits"]["train"],
        card["splits"]["validation"],
        card["total"]["tokens"] / 1e6,
        " (cached)" if prepared.cached else "",
        prepared.path,
    )
    return metrics


main = job_main("prepare", run)
