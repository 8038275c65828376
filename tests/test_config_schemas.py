"""The typed job configs: a misspelled key or a value outside an enum fails at composition,
naming the key (and the allowed values); an enum value is still the string a user typed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from bioqwen.checkout import plain
from bioqwen.config import Attention, GgufQuant, ModelQuantization
from bioqwen.export.quantize import FTYPES
from bioqwen.train.attention import SEGMENTED_SDPA
from tests.conftest import CONF, compose_config

EXPORT = "model.path=/nonexistent/model"


@pytest.mark.parametrize(
    ("job", "file", "line"),
    [
        ("export", "export.yaml", "kep_f16: true"),
        ("chat", "chat.yaml", "prot: 7861"),
        ("score_data", "score_data.yaml", "histogram_bin: 30"),
        ("score_data", "scorer/ziya_llama_7b_reward.yaml", "hubid: x"),
        ("score_data", "embedder/biobert.yaml", "max_lenght: 128"),
        ("search", "search.yaml", "wokers: 2"),
        ("search", "search/lr_lora.yaml", "objectiv: eval/loss"),
    ],
)
def test_a_misspelled_key_in_a_yaml_fails_at_composition_naming_it(
    tmp_path: Path, job: str, file: str, line: str
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    with open(conf / file, "a", encoding="utf-8") as out:
        out.write(f"\n{line}\n")
    key = line.split(":")[0]
    with (
        initialize_config_dir(config_dir=str(conf), version_base="1.3"),
        pytest.raises(ConfigCompositionException) as raised,
    ):
        compose(job, overrides=[EXPORT] if job == "export" else [])
    assert f"Key '{key}' not in" in str(raised.value)


@pytest.mark.parametrize(
    ("job", "override", "allowed"),
    [
        ("train", "stage.batching=zigzag", "pad, padding_free, packed"),
        ("train", "tracking.mode=ofline", "offline, online, disabled"),
        ("evaluate", "generation.backend=tgi", "hf, vllm"),
        ("prepare", "data.on_error=maybe", "raise, skip"),
        ("train", "model.init=scratch", "pretrained, random"),
        ("report", "report.source=mlflow", "runs, wandb"),
        ("evaluate", "benchmark.reader=nope", "ncbi, bc5cdr, cmeee, paper_csv, webmedqa"),
        ("evaluate", "benchmark.entity_separators=word", "response, line"),
        ("fetch_data", "data.files.taiyi.kind=s3", "hf_dataset, github_release"),
        ("report", "report.publish=html", "none, wandb"),
        ("evaluate", "model.quantization=int3", "none, nf4, gguf-f16, gguf-q8_0, gguf-q4_0"),
        ("prepare", "data.tokenizer=qwen9", "qwen1_5, qwen2_5"),
        ("prepare", "data.language.text=answer", "prompt, conversation"),
        ("prepare", "data.filters.medical.match=answer", "prompt, conversation"),
        ("prepare", "data.filters.quality.missing=ignore", "drop, keep, error"),
        ("train", "stage.init_mode=restart", "merge, continue"),
        ("train", "stage.precision=fp8", "auto, bf16, fp16, fp32"),
        ("train", "method.name=dora", "qlora, lora, full"),
        ("train", "model.attn_implementation=xformers", "auto, sdpa_segmented, sdpa, eager"),
        ("train", "method.quantization.compute_dtype=int8", "auto, float32, bfloat16, float16"),
        ("export", "format=onnx", "gguf, mlc, all"),
        ("export", "quant=q3_k", "f16, q8_0, q4_0, q4_k_m"),
        ("export", "mlc.language=fr", "zh, en"),
        ("chat", "ui=gui", "web, cli"),
        ("search", "launch=slurm", "local, none"),
        ("search", "search.direction=up", "minimize, maximize"),
        ("score_data", "embeddings.encoder.kind=pooler", "encoder, decoder"),
        ("evaluate", "benchmark.task=re", "ner, qa"),
        ("evaluate", "benchmark.lang=fr", "zh, en"),
        ("prepare", "data.mix.sources.taiyi.task=summary", "ner, re, mt, qa, general, self_"),
    ],
)
def test_a_value_outside_its_enum_fails_at_composition_naming_key_and_values(
    job: str, override: str, allowed: str
) -> None:
    key, value = override.split("=")
    extra = [EXPORT] if job == "export" else []
    with pytest.raises(ConfigCompositionException) as raised:
        compose_config(job, *extra, override)
    message = f"{raised.value} {raised.value.__cause__}"
    assert override in message and f"full_key: {key}" in message
    assert f"Invalid value '{value}', expected one of [{allowed}" in message


def test_an_enum_value_is_the_string_typed_for_library_code_and_the_saved_config() -> None:
    cfg = compose_config("train", "model=tiny", "stage.batching=packed", "stage.init_mode=continue")
    batching = cfg.stage.batching
    assert batching == "packed" and str(batching) == "packed" and f"{batching}" == "packed"
    assert {"packed": 1}[batching] == 1  # hashes as the string: a dict lookup finds it
    saved = OmegaConf.to_yaml(cfg, resolve=True)
    assert "batching: packed" in saved and "init_mode: continue" in saved
    assert type(plain(cfg.stage)["batching"]) is str  # what library functions are handed
    assert cfg.model.attn_implementation == "sdpa"  # tiny's interpolated value, checked too


def test_the_enums_list_what_the_library_implements() -> None:
    assert [q.value for q in GgufQuant] == list(FTYPES)
    assert [q.value for q in ModelQuantization] == ["none", "nf4", *(f"gguf-{q}" for q in FTYPES)]
    assert Attention.sdpa_segmented == SEGMENTED_SDPA
