"""Batched generation on the tiny model: left padding, stop tokens, order, timings."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch
from omegaconf import OmegaConf

from bioqwen.checkout import plain
from bioqwen.data.tokenizer import IM_END
from bioqwen.errors import BioqwenError
from bioqwen.eval import backends, generate, loading
from bioqwen.models import locate
from tests.conftest import compose_config
from tests.export.conftest import needs


def _model(name: str, path: str) -> dict:
    """A real composed model config (conf/model/tiny.yaml) pointed at a directory."""
    model = plain(compose_config("evaluate", "model=tiny").model)
    return {**model, "name": name, "path": path, "init": "pretrained"}


def _settings(**overrides: Any) -> dict:
    """conf/generation/greedy.yaml with overrides."""
    return {**plain(compose_config("evaluate").generation), **overrides}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir: Path) -> tuple[Any, Any]:
    return loading.load_for_generation(_model("tiny", str(tiny_model_dir)), "cpu")


PROMPTS = [
    "<|im_start|>user\nshort<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\na much longer prompt with many more words in it to pad"
    " the others<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nmiddle length prompt<|im_end|>\n<|im_start|>assistant\n",
]


def test_batched_left_padded_equals_one_at_a_time(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    settings = _settings(max_new_tokens=6, batch_size=3)
    batched = generate.generate(model, tok, PROMPTS, settings, progress=False)
    single = generate.generate(model, tok, PROMPTS, {**settings, "batch_size": 1}, progress=False)
    assert tok.padding_side == "left"
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.batch_size for g in batched] == [3, 3, 3] and all(g.latency_s > 0 for g in batched)
    assert all(g.new_tokens <= 6 for g in batched)


def test_stops_at_im_end(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    kwargs = generate.generation_kwargs(model, tok, _settings(max_new_tokens=4))
    gen = kwargs["generation_config"]
    assert tok.convert_tokens_to_ids(IM_END) in gen.eos_token_id
    assert gen.pad_token_id == tok.pad_token_id and gen.do_sample is False


def test_response_is_cut_at_the_first_stop_token(
    tiny: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tok = tiny
    im_end = tok.convert_tokens_to_ids(IM_END)
    words = tok("ab cd", add_special_tokens=False)["input_ids"]

    def fake_generate(input_ids: torch.Tensor, **_: Any) -> torch.Tensor:
        tail = [*words, im_end, *words, tok.pad_token_id]
        return torch.cat([input_ids, torch.tensor([tail] * input_ids.shape[0])], dim=1)

    monkeypatch.setattr(model, "generate", fake_generate)
    (out,) = generate.generate(model, tok, PROMPTS[:1], _settings(max_new_tokens=8), progress=False)
    assert out.text == "ab cd" and out.new_tokens == len(words)


def test_sampling_is_seeded(tiny: tuple[Any, Any]) -> None:
    model, tok = tiny
    sampling = _settings(do_sample=True, temperature=0.3, top_p=0.9, seed=7, max_new_tokens=5)
    first = generate.generate(model, tok, PROMPTS, sampling, progress=False)
    second = generate.generate(model, tok, PROMPTS, sampling, progress=False)
    assert [g.text for g in first] == [g.text for g in second]


# Sampling hot enough that the seed decides the tokens; one prompt per batch: three batches.
SAMPLING = {"do_sample": True, "temperature": 1.5, "top_p": 1.0, "seed": 7, "batch_size": 1}


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir: Path) -> tuple[Any, Any]:
    model = {**_model("tiny", str(tiny_model_dir)), "quantization": "gguf-f16"}
    return loading.load_for_generation(model, "cpu")


def _seeded_backend(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, list[int]]:
    """The backend's model and tokenizer, and the list each batch's seed is recorded in."""
    seeds: list[int] = []

    def recording(seed_fn: Any) -> Any:
        return lambda seed: (seeds.append(int(seed)), seed_fn(seed))[1]

    if backend == "hf":
        model, tok = request.getfixturevalue("tiny")
        monkeypatch.setattr(torch, "manual_seed", recording(torch.manual_seed))
    elif backend == "gguf":
        model, tok = request.getfixturevalue("tiny_gguf")
        monkeypatch.setattr(model.llm, "set_seed", recording(model.llm.set_seed))
    else:
        import sys

        monkeypatch.setitem(sys.modules, "vllm", _FakeVllm)
        monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object())
        model_dir = str(request.getfixturevalue("tiny_model_dir"))
        model, tok = loading.load_for_generation(_model("tiny", model_dir), backend="vllm")
        real_generate = model.llm.generate

        def generate_recording(prompts: list[str], params: Any, use_tqdm: bool) -> list[Any]:
            seeds.append(int(params.kwargs["seed"]))
            return real_generate(prompts, params, use_tqdm)

        monkeypatch.setattr(model.llm, "generate", generate_recording)
    return model, tok, seeds


@pytest.mark.parametrize(
    "backend", ["hf", pytest.param("gguf", marks=[needs("llama_cpp"), needs("gguf")]), "vllm"]
)
def test_every_backend_seeds_a_batch_by_its_position(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tok, seeds = _seeded_backend(backend, request, monkeypatch)
    implementation = {"hf": "HfBackend", "gguf": "GgufBackend", "vllm": "VllmBackend"}[backend]
    assert type(generate.as_backend(model, tok)).__name__ == implementation
    backend_setting = "vllm" if backend == "vllm" else "hf"  # GGUF is a model on hf's path
    settings = _settings(**SAMPLING, max_new_tokens=5, backend=backend_setting)
    first = generate.generate(model, tok, PROMPTS, settings, progress=False)
    second = generate.generate(model, tok, PROMPTS, settings, progress=False)
    rule = [generate.batch_seed(7, position) for position in range(3)]
    assert seeds == rule * 2 and len(set(rule)) == 3  # the same rule as HF's, batches apart
    assert [g.text for g in first] == [g.text for g in second]
    # A resumed run (the longest prompt's batch 0 done) samples batches 1-2 as the first did.
    seeds.clear()
    resumed = generate.generate(model, tok, PROMPTS, settings, progress=False, done={1: first[1]})
    assert seeds == rule[1:] and [g.text for g in resumed] == [g.text for g in first]


def test_authors_sampling_preset(compose) -> None:
    cfg = compose("evaluate", "generation=authors_sampling")
    gen = OmegaConf.to_container(cfg.generation)
    assert (gen["do_sample"], gen["temperature"], gen["top_p"]) == (True, 0.3, 0.9)


def test_timing_summary() -> None:
    gens = [generate.Generation("a", 2.0, 2, 10), generate.Generation("b", 2.0, 2, 30)]
    metrics = generate.timing_summary(gens, [1.0, 3.0], wall_s=2.0)
    assert metrics["iteration_time_s"] == 2.0
    assert metrics["throughput_samples_per_s"] == 1.0
    assert metrics["throughput_tokens_per_s"] == 20.0
    assert metrics["generation_batch_size"] == 2.0


def test_model_location_accepts_run_dirs(tmp_path: Path, tiny_model_dir: Path) -> None:
    run = tmp_path / "run"
    (run / "merged").mkdir(parents=True)
    (run / "merged" / "config.json").write_text("{}")
    assert locate(run).dir == run / "merged"
    unmerged = tmp_path / "unmerged"  # a run trained with merge=false keeps only adapter/
    (unmerged / "adapter").mkdir(parents=True)
    (unmerged / "adapter" / "adapter_config.json").write_text("{}")
    assert locate(unmerged, adapters=True).dir == unmerged / "adapter"
    assert locate(tiny_model_dir).dir == tiny_model_dir
    (tmp_path / "empty").mkdir()
    with pytest.raises(BioqwenError, match=r"no config\.json or adapter_config\.json"):
        locate(tmp_path / "empty", adapters=True)


def test_adapter_directory_loads_on_its_base(tmp_path: Path, tiny_model_dir: Path) -> None:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    lora = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "adapter")
    (tmp_path / "adapter" / "config.json").unlink(missing_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (tmp_path / "adapter" / name).write_bytes((tiny_model_dir / name).read_bytes())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, tok = loading.load_for_generation(_model("a", str(tmp_path / "adapter")), "cpu")
    assert not [w for w in caught if w.category is FutureWarning]  # PEFT's, silenced
    assert type(model).__name__.startswith("Peft")
    (out,) = generate.generate(model, tok, PROMPTS[:1], _settings(max_new_tokens=3), progress=False)
    assert out.new_tokens <= 3


class _NoSystemTemplate:
    """A tokenizer stand-in whose chat template refuses system turns, as Gemma-2's does."""

    chat_template = "gemma-like"

    def apply_chat_template(self, turns: list[dict[str, str]], **_: Any) -> str:
        from jinja2 import TemplateError

        if turns[0]["role"] == "system":
            raise TemplateError("System role not supported")
        return "|".join(f"{t['role']}:{t['content']}" for t in turns)


def test_system_prompt_folds_into_user_turn_for_templates_without_system() -> None:
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert generate.render_prompt(_NoSystemTemplate(), messages) == "user:S\n\nU"  # type: ignore[arg-type]


def test_tiny_tokenizer_renders_chatml(tiny: tuple[Any, Any]) -> None:
    _, tok = tiny
    text = generate.render_prompt(
        tok, [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    )
    assert (
        text
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
    )


class _FakeVllm:
    """Stand-in for the vllm module (not installable here): records what it was asked."""

    calls: ClassVar[list[tuple[list[str], Any]]] = []

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

        def generate(self, prompts: list[str], params: Any, use_tqdm: bool) -> list[Any]:
            _FakeVllm.calls.append((prompts, params))
            out = type("Completion", (), {"text": " echo ", "token_ids": [1, 2]})
            return [type("Request", (), {"outputs": [out]}) for _ in prompts]


def test_vllm_backend_gets_the_same_prompts_stops_and_greedy_settings(
    tiny: tuple[Any, Any], tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "vllm", _FakeVllm)
    monkeypatch.setattr(backends.importlib.util, "find_spec", lambda name: object())
    llm, tok = loading.load_for_generation(_model("tiny", str(tiny_model_dir)), backend="vllm")
    assert llm.llm.kwargs["model"] == str(tiny_model_dir)
    _FakeVllm.calls.clear()
    settings = _settings(backend="vllm", max_new_tokens=7, batch_size=2, seed=3)
    outs = generate.generate(llm, tok, PROMPTS, settings, progress=False)
    assert [o.text for o in outs] == ["echo"] * 3 and [o.new_tokens for o in outs] == [2, 2, 2]
    assert sorted(p for prompts, _ in _FakeVllm.calls for p in prompts) == sorted(PROMPTS)
    params = _FakeVllm.calls[0][1].kwargs
    assert params["temperature"] == 0.0 and params["max_tokens"] == 7 and params["seed"] == 3
    assert tok.convert_tokens_to_ids(IM_END) in params["stop_token_ids"]


def test_vllm_backend_missing_or_unknown_is_a_clear_error(tiny_model_dir: Path) -> None:
    with pytest.raises(BioqwenError, match="vllm package is not installed"):
        backends.check("vllm", str(tiny_model_dir))
    with pytest.raises(BioqwenError, match=r"generation\.backend='tgi'"):
        backends.check("tgi", str(tiny_model_dir))


def test_pad_token_without_embedding_falls_back_to_eos(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    # A baseline tokenizer given a new pad token (as tokenizer_for does for Llama-3.2) must not
    # grow the model: the end token pads instead, and batched generation still works.
    import shutil

    from transformers import AutoTokenizer

    model_dir = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = int(json.loads((model_dir / "config.json").read_text())["vocab_size"])
    extra = [f"<|extra_{i}|>" for i in range(rows - len(tok) + 1)]
    tok.add_special_tokens({"additional_special_tokens": extra})
    tok.pad_token = extra[-1]
    tok.save_pretrained(model_dir)
    model, tok = loading.load_for_generation(_model("b", str(model_dir)), "cpu")
    assert model.get_input_embeddings().weight.shape[0] == rows
    assert tok.pad_token == tok.eos_token
    outs = generate.generate(model, tok, PROMPTS, _settings(max_new_tokens=3), progress=False)
    assert len(outs) == 3 and all(o.new_tokens <= 3 for o in outs)
