"""`bioqwen evaluate model=<name> benchmark=<name>`: generate with a model, then score.

`model=` names a config in conf/model/; a trained model is evaluated with `model.path=<dir>`
(a model directory, an adapter directory, or a training run directory: bioqwen.models.locate).
A location given as `model=<dir>` is rewritten to `model.path=<dir>` before Hydra composes
(bioqwen.models.model_overrides), so both spellings work. lineage.json names the model run
when there is one, and a model from a training run is a BioQwen model: it gets the BIO-QWEN
system prompt it was trained with unless its config sets a text.
`benchmark.questions_from=<csv>` evaluates exactly that file's items. Each finished batch is
appended to predictions.jsonl; `resume=true hydra.run.dir=<dir>` continues a killed evaluation
without regenerating them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen.eval import backends, gold, loading, prompts, quantized, questions, runner
from bioqwen.jobs.common import job_main, log, open_run, plain
from bioqwen.models import check_model_files, model_overrides, resolve_model
from bioqwen.runs import atomic_write_text, file_hash


def run(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate cfg.model on cfg.benchmark; write predictions, metrics.json, W&B table."""
    model_cfg = plain(cfg.model)
    if model_cfg["path"] and model_cfg["init"] == "random":
        # An explicit directory replaces the default tiny model (it is what loads), and names
        # the run; tiny's dtype and attention gave way to `auto` (conf/model/tiny.yaml).
        model_cfg["name"] = Path(str(model_cfg["path"])).name
    bench = plain(cfg.benchmark)
    settings = plain(cfg.generation)
    name = f"evaluate-{model_cfg['name']}-{bench['name']}"
    tags = [f"benchmark:{bench['name']}", f"model:{model_cfg['name']}"]
    # Gold and model location are checked before the run opens: a typo leaves nothing behind.
    items = questions.select(bench) if bench["questions_from"] else gold.load_benchmark(bench)
    runner.check_settings(bench, items)
    source = resolve_model(model_cfg, adapters=True)
    check_model_files(source, bool(model_cfg["trust_remote_code"]))
    backends.check(str(settings["backend"]), source)
    quantized.check(model_cfg, source, str(settings["backend"]))
    parents = prompts.model_runs(source)
    system_prompt = prompts.model_system_prompt(model_cfg["system_prompt"], parents)
    with open_run(cfg, "evaluate", name=name, tags=tags, resume=bool(cfg.resume)) as run:
        journal_path = run.dir / "predictions.jsonl"
        if not cfg.resume:
            journal_path.unlink(missing_ok=True)  # a fresh evaluation starts a fresh journal
        model, tokenizer = loading.load_for_generation(
            model_cfg, str(cfg.device), str(settings["backend"])
        )
        device = getattr(model, "device", "vllm")
        log.info("evaluating %s on %s (%s)", source, bench["name"], device)
        result = runner.evaluate_model(
            model,
            tokenizer,
            bench,
            settings,
            plain(cfg.data.system_prompts),
            bench=items,
            system_prompt=system_prompt,
            resampling=plain(cfg.bootstrap),
            journal_path=journal_path,
        )
        atomic_write_text(run.dir / "predictions.csv", result.csv_text)
        atomic_write_text(
            run.dir / "predictions.jsonl",
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result.records),
        )
        lineage: dict[str, Any] = {"model": source, "generation": settings}
        manifest = Path(source) / "config.json"
        if not manifest.exists():
            manifest = Path(source) / "adapter_config.json"
        if manifest.exists():
            lineage["model_hash"] = file_hash(manifest)
        lineage["parents"] = [str(p) for p in parents]
        run.lineage(**lineage)
        run.tracker.table(
            "predictions", result.table_columns, result.table_rows[: int(cfg.table_rows)]
        )
        result.metrics.update(quantized.model_facts(model_cfg, source, model))
        run.finish(result.metrics)
    return result.metrics


_hydra_main = job_main("evaluate", run)


def main() -> None:
    """Entry point of `bioqwen evaluate` (Hydra reads the overrides from sys.argv)."""
    sys.argv = [sys.argv[0], *model_overrides(sys.argv[1:])]
    _hydra_main()


if __name__ == "__main__":
    main()
