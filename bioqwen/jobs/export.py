"""`bioqwen export model=<run dir | merged dir> format=<gguf|mlc|all> quant=<f16|q8_0|q4_0|q4_k_m>`.

GGUF: converts the merged model, quantizes it with llama.cpp, reloads each file with
llama-cpp-python and measures greedy agreement with the HF model, size and tokens/s. MLC:
writes mlc-chat-config.json and the mlc_llm commands for Android (printed). Everything is
built in a staging directory before the run opens, so a bad input or a failed conversion
leaves no artefacts; lineage.json names the training run, and the files become a W&B artifact.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from bioqwen import artifacts
from bioqwen.errors import BioqwenError
from bioqwen.export import build, gguf, sizes
from bioqwen.jobs.common import hold_run_dir, job_main, log, open_run, plain, run_dir
from bioqwen.models import locate, model_overrides
from bioqwen.runs import LINEAGE_FILE, MERGED_DIR, file_hash, read_json, remove_inside

STAGING = ".export-"  # prefix of the scratch directory in the run directory


@contextmanager
def _staging(directory: Path, wait: bool) -> Iterator[Path]:
    """A hidden scratch directory inside the run directory, removed whatever happens; the run
    directory's lock is held meanwhile, so any other scratch directory there is one a killed
    export left, and is removed first."""
    with hold_run_dir(directory, wait):
        for stale in directory.glob(f"{STAGING}*"):
            remove_inside(stale, directory)
        stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=directory))
        try:
            yield stage
        finally:
            remove_inside(stage, directory)


def _lineage(source_run: Path | None) -> dict[str, Any]:
    """lineage.json of the training run a model comes from ({} for a bare or copied model)."""
    path = source_run / LINEAGE_FILE if source_run else None
    if path is None or not path.is_file():
        return {}
    try:
        return dict(read_json(path))
    except ValueError as err:
        raise BioqwenError(str(err)) from err


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export cfg.model to GGUF and/or MLC-LLM files with metrics, lineage and an artifact."""
    fmt, quant = str(cfg.format), str(cfg.quant)  # allowed values: ExportJobConfig
    location = locate(str(cfg.model.path))  # a merged model: an adapter is refused
    model_dir, source_run = location.dir, location.run
    config = gguf.check_model_dir(model_dir)
    if fmt != "mlc":
        gguf.require("gguf")
        gguf.require("llama_cpp")
    system_prompts = {str(k): str(v) for k, v in plain(cfg.data.system_prompts).items()}
    name = (source_run or model_dir).name
    weights = sizes.weight_files(model_dir)
    metrics: dict[str, Any] = {
        "source/size_gb": sizes.size_gb(weights),
        "source/precision": sizes.stored_precision(weights),
    }
    directory = run_dir()
    files: list[str] = []
    with _staging(directory, bool(cfg.wait)) as stage:
        if fmt != "mlc":
            made, gguf_metrics = build.build_gguf(model_dir, stage, plain(cfg), system_prompts)
            files += made
            metrics.update(gguf_metrics)
        if fmt != "gguf":
            made, commands = build.build_mlc(
                model_dir, stage, config, plain(cfg.mlc), system_prompts, directory
            )
            files += made
            print("MLC-LLM for Android (run where mlc_llm is installed):")
            print("\n".join(commands), flush=True)
        tags = [f"format:{fmt}", f"model:{name}"] + ([f"quant:{quant}"] if fmt != "mlc" else [])
        inputs = artifacts.parent_input(_lineage(source_run), MERGED_DIR)  # its merged model
        with open_run(cfg, "export", name=f"export-{name}-{fmt}-{quant}", tags=tags) as run:
            linked = artifacts.declare_inputs(run.tracker, inputs)
            for file in files:
                os.replace(stage / file, run.dir / file)
            paths = {file: run.dir / file for file in files}
            label = f"{name}-{fmt}-{quant}"
            ref = artifacts.log_model(run.tracker, label, artifacts.MODEL_ARTIFACT, paths, metrics)
            run.lineage(
                model=str(model_dir.resolve()),
                model_hash=file_hash(model_dir / "config.json"),
                weights_hash={w.name: file_hash(w) for w in weights},
                parents=[str(source_run.resolve())] if source_run else [],
                files=files,
                wandb=artifacts.wandb_entry(run.tracker, inputs, linked, {fmt: ref} if ref else {}),
            )
            run.finish(metrics)
            log.info("exported %s to %s: %s", model_dir, run.dir, ", ".join(files))
    return metrics


_hydra_main = job_main("export", run)


def main() -> None:
    """Entry point of `bioqwen export`: `model=<dir>` is read as `model.path=<dir>`."""
    sys.argv = [sys.argv[0], *model_overrides(sys.argv[1:], configs=False)]
    _hydra_main()


if __name__ == "__main__":
    main()
