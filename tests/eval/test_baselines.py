"""Baseline model configs: each names its hub id, and evaluation would load exactly that.

Nothing here loads a model by hub id (no hub is reachable; HF_HUB_OFFLINE is set): the test
checks the composed config and the source `evaluate` would pass to `from_pretrained`.
"""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from bioqwen.eval import gold, prompts
from bioqwen.models import resolve_model
from tests.conftest import system_prompts

BASELINES = {
    "qwen2_5_1_5b_instruct": "Qwen/Qwen2.5-1.5B-Instruct",
    "qwen1_5_1_8b_chat": "Qwen/Qwen1.5-1.8B-Chat",
    "llama3_2_1b_instruct": "meta-llama/Llama-3.2-1B-Instruct",
    "gemma2_2b_it": "google/gemma-2-2b-it",
    "smollm2_1_7b_instruct": "HuggingFaceTB/SmolLM2-1.7B-Instruct",
    "taiyi": "DUTIR-BioNLP/Taiyi-LLM",
}


@pytest.mark.parametrize(("name", "hub_id"), sorted(BASELINES.items()))
def test_baseline_config_resolves_to_its_hub_id(compose, name: str, hub_id: str) -> None:
    cfg = compose("evaluate", f"model={name}", "benchmark=webmedqa")
    model = OmegaConf.to_container(cfg.model, resolve=True)
    assert model["name"] == name and not model.get("tiny") and not model.get("path")
    assert resolve_model(model, adapters=True) == hub_id


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_a_baseline_is_prompted_as_itself_not_as_bioqwen(compose, name: str) -> None:
    cfg = compose("evaluate", f"model={name}", "benchmark=icliniq", "benchmark.limit=1")
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    (item,) = gold.load_benchmark(bench).items  # type: ignore[arg-type]
    messages = prompts.messages_for(
        bench, item, cfg.model.system_prompt, system_prompts=system_prompts()
    )  # type: ignore[arg-type]
    assert [m["role"] for m in messages] == ["user"]  # the model's own default system turn


@pytest.mark.parametrize("name", ["tiny", "qwen2_0_5b", "qwen2_5_1_5b", "qwen1_5_1_8b"])
def test_bioqwen_models_get_the_authors_prompt_and_a_config_may_set_its_own(
    compose, name: str
) -> None:
    cfg = compose("evaluate", f"model={name}", "benchmark=webmedqa", "benchmark.limit=1")
    bench = OmegaConf.to_container(cfg.benchmark, resolve=True)
    (item,) = gold.load_benchmark(bench).items  # type: ignore[arg-type]
    system = prompts.messages_for(
        bench, item, cfg.model.system_prompt, system_prompts=system_prompts()
    )[0]  # type: ignore[arg-type]
    assert system == {"role": "system", "content": system_prompts()["zh"]}
    own = prompts.messages_for(
        bench, item, "You are a careful physician.", system_prompts=system_prompts()
    )  # type: ignore[arg-type]
    assert own[0]["content"] == "You are a careful physician."


def test_a_model_from_a_training_run_is_bioqwen_whatever_its_base_config(tmp_path) -> None:
    train_run = tmp_path / "train"
    (train_run / "merged").mkdir(parents=True)
    (train_run / "lineage.json").write_text('{"job": "train"}')
    runs = prompts.model_runs(str(train_run / "merged"))
    assert runs == [train_run]
    # A baseline config (system_prompt null) fine-tuned by us was trained with BIO-QWEN's prompt.
    assert prompts.model_system_prompt(None, runs) == prompts.BIOQWEN
    assert prompts.model_system_prompt("Be brief.", runs) == "Be brief."
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "lineage.json").write_text('{"job": "evaluate"}')
    assert prompts.model_system_prompt(None, prompts.model_runs(str(evaluation))) is None
    assert prompts.model_system_prompt(None, prompts.model_runs(str(tmp_path))) is None
