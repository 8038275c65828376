"""`make smoke-paper`: the paper's pipeline at each base's real shapes, end to end, in CI.

conf/experiment/smoke_paper.yaml runs, for one base at its real width with 2 layers (random
weights, the real tokenizer, QLoRA NF4): prepare -> stage 1 -> stage 2 (merge into the
unquantized base, re-quantize, merge) -> evaluate NCBI and cMedQA2 -> GGUF F16 + Q4_0 -> the
INT4 row -> report. Each step's output is then checked for what a silent shape bug would
break: merged logits equal parent + adapter, tied embeddings stay tied (untied stay untied)
after every merge and in both GGUF files, the GGUF header holds the architecture, F16 greedy
tokens equal HF's, the report has the INT4 row. Per-step time and peak RSS are printed.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from bioqwen.export import gguf
from bioqwen.jobs.common import plain
from tests.conftest import ROOT, compose_config
from tests.smoke.checks import check_merge, read_config, stored_tensors
from tests.smoke.monitor import run_pipeline

# base -> (tied embeddings, the report's row label)
BASES = {
    "qwen2_0_5b": (True, "BioQwen-0.5B"),
    "qwen2_5_1_5b": (True, "BioQwen-1.5B"),
    "qwen1_5_1_8b": (False, "BioQwen-1.8B"),
}
STEPS = [
    "prepare",
    "train-stage1",
    "train-stage2",
    "evaluate-ncbi",
    "evaluate-cmedqa2",
    "export",
    "evaluate-cmedqa2-q4_0",
    "report",
]
LAYERS = 2
# |merged - (parent + adapter)| against the adapter's own effect on the logits: the merged
# weights are rounded to the base's bf16, so they agree to a few per cent of that effect; a
# merge that dropped the adapter, or folded it into other weights, differs by about all of it.
MERGE_TOLERANCE = 0.05


def architecture(base: str) -> dict[str, Any]:
    """conf/model/<base>.yaml's architecture at the smoke depth."""
    layers = f"model.architecture.num_hidden_layers={LAYERS}"
    model = compose_config("train", f"model={base}", "model.init=random", layers).model
    return dict(plain(model.architecture))


def metrics(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "metrics.json").read_text()))


def check_model_dir(model_dir: Path, arch: dict[str, Any]) -> None:
    """A saved model directory has the base's architecture, dtype and embedding tie."""
    config = read_config(model_dir)
    for key in (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "vocab_size",
        "tie_word_embeddings",
        "max_position_embeddings",
    ):
        assert config[key] == arch[key], f"{model_dir}: {key}={config[key]}, expected {arch[key]}"
    assert config["rope_parameters"]["rope_theta"] == arch["rope_theta"]
    assert config["dtype"] == arch["dtype"], f"{model_dir}: saved as {config['dtype']}"
    tensors = stored_tensors(model_dir)
    rows, width = arch["vocab_size"], arch["hidden_size"]
    assert tensors["model.embed_tokens.weight"][1] == (rows, width)
    stored = {"bfloat16": "BF16", "float32": "F32"}[arch["dtype"]]
    assert {dtype for dtype, _ in tensors.values()} == {stored}, model_dir
    # A tied model stores one matrix; an untied one its own output layer of the same shape.
    assert ("lm_head.weight" in tensors) is not arch["tie_word_embeddings"], model_dir
    if not arch["tie_word_embeddings"]:
        assert tensors["lm_head.weight"][1] == (rows, width)


def check_gguf(path: Path, arch: dict[str, Any], tokens: int) -> None:
    """A GGUF file's header states the architecture; its output layer is tied as the model's."""
    header = gguf.read_header(path)
    meta, width = header.metadata, arch["hidden_size"]
    expected = {
        "qwen2.block_count": arch["num_hidden_layers"],
        "qwen2.embedding_length": width,
        "qwen2.feed_forward_length": arch["intermediate_size"],
        "qwen2.attention.head_count": arch["num_attention_heads"],
        "qwen2.attention.head_count_kv": arch["num_key_value_heads"],
        "qwen2.context_length": arch["max_position_embeddings"],
    }
    assert {k: meta[k] for k in expected} == expected, path
    assert meta["qwen2.rope.freq_base"] == pytest.approx(arch["rope_theta"])
    assert header.array_lengths["tokenizer.ggml.tokens"] == arch["vocab_size"] >= tokens
    # GGUF lists dimensions fastest first: (hidden, vocabulary rows).
    assert header.tensors["token_embd.weight"] == (width, arch["vocab_size"])
    assert ("output.weight" in header.tensors) is not arch["tie_word_embeddings"], path
    if not arch["tie_word_embeddings"]:
        assert header.tensors["output.weight"] == (width, arch["vocab_size"])
    assert sum(name.startswith("blk.") for name in header.tensors) == 12 * LAYERS


def report_rows(report_dir: Path, table: str) -> set[str]:
    with open(report_dir / "tables" / f"{table}.csv", encoding="utf-8") as handle:
        return {row["row"] for row in csv.DictReader(handle) if row["value"] != "—"}


@pytest.mark.smoke_paper
@pytest.mark.parametrize("base", list(BASES))
def test_paper_pipeline_at_the_real_shapes(base: str, tmp_path: Path, record_property: Any) -> None:
    tied, label = BASES[base]
    arch = architecture(base)
    assert arch["tie_word_embeddings"] is tied and arch["vocab_size"] == 151936
    run = run_pipeline(
        [
            "pipeline",
            "+experiment=smoke_paper",
            f"params.base={base}",
            f"params.layers={LAYERS}",
            f"pipeline.root={tmp_path}",
            "+hydra.job_logging.loggers.bitsandbytes.level=ERROR",
        ],
        cwd=ROOT,
        timeout=1800,  # a hang guard: the slowest base took 754 s with 38 % of 2 cores
    )
    table = run.table(f"smoke-paper {base} ({arch['hidden_size']} wide x {LAYERS} layers)")
    record_property("smoke_paper", table)
    print(table)
    assert run.returncode == 0, run.stderr[-4000:]
    assert [s.step for s in run.steps] == ["startup", *STEPS]
    directory = tmp_path / f"smoke-paper-{base}"
    ledger = json.loads((directory / "experiment.json").read_text())["steps"]
    assert {name: s["status"] for name, s in ledger.items()} == dict.fromkeys(STEPS, "done")

    # Stage 1: QLoRA on the random base of this shape, 2 optimizer steps.
    stage1, stage2 = directory / "train-stage1", directory / "train-stage2"
    built = Path(json.loads((stage1 / "lineage.json").read_text())["adapter_base"])
    check_model_dir(built, arch)
    for stage in (stage1, stage2):
        trained = metrics(stage)
        assert trained["train/global_step"] == 2 and trained["data/train_trained_tokens"] > 0
        assert trained["model/quantized_4bit_layers"] == 7 * LAYERS  # every linear but lm_head
    # Stage 2: stage 1 merged into the unquantized base (init_model/), re-quantized, trained,
    # merged into init_model/ (merged/). Each merge carries its adapter and keeps the tie.
    init_model, merged = stage2 / "init_model", stage2 / "merged"
    for parent, adapter, child in (
        (built, stage1 / "adapter", init_model),
        (init_model, stage2 / "adapter", merged),
    ):
        check_model_dir(child, arch)
        got = check_merge(parent, adapter, child, tied)
        assert got.merged_vs_adapter <= MERGE_TOLERANCE * got.adapter_effect, (child, got)

    # Evaluation of the merged model (bf16 on disk, as the base): 2 items each, answered.
    on_disk = sum(p.stat().st_size for p in merged.glob("*.safetensors")) / 1e9
    for step in ("evaluate-ncbi", "evaluate-cmedqa2"):
        with open(directory / step / "predictions.csv", encoding="utf-8") as handle:
            assert len(list(csv.DictReader(handle))) == 2, step
        assert metrics(directory / step)["model/size_gb"] == pytest.approx(on_disk)

    # GGUF: both files state the architecture and the tie; F16 generates HF's greedy tokens.
    export = directory / "export"
    exported = metrics(export)
    assert exported["gguf/f16/greedy_match"] == 1.0, exported
    assert exported["gguf/f16/tokenizer_match"] == 1.0 == exported["gguf/q4_0/tokenizer_match"]
    tokens = len(json.loads((merged / "tokenizer.json").read_text())["model"]["vocab"])
    for name in ("model-f16.gguf", "model-q4_0.gguf"):
        check_gguf(export / name, arch, tokens)

    # The INT4 row: the Q4_0 file through llama.cpp on cMedQA2.
    int4 = metrics(directory / "evaluate-cmedqa2-q4_0")
    assert int4["model/quantization"] == "gguf-q4_0" and int4["model/precision"] == "int4"
    assert int4["n_samples"] == 2

    # The report places our runs in the paper's tables, the INT4 row included.
    assert {label, f"{label} INT4"} <= report_rows(directory / "report", "table3")
    assert f"{label} stage 2" in report_rows(directory / "report", "table2")
    # Passed: drop the ~2-5 GB of model files (pytest keeps the last runs' temporary dirs).
    shutil.rmtree(directory)
