import json

from transformers import AutoModelForCausalLM

from bioqwen.models import tokenizer_for
from tests.conftest import compose_config

TINY = compose_config("train", "model=tiny").model


def test_tiny_model_is_qwen2_and_stops_at_im_end(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = tokenizer_for(TINY, str(tiny_model_dir))
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size >= len(tok)
    gen = json.loads((tiny_model_dir / "generation_config.json").read_text())
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen["eos_token_id"]
    assert gen["pad_token_id"] == tok.pad_token_id != tok.convert_tokens_to_ids("<|im_end|>")
    assert list(tiny_model_dir.glob("*.safetensors")) and not list(tiny_model_dir.glob("*.bin"))


def test_tiny_model_is_deterministic_from_its_seed_and_built_once(
    tiny_model_dir, monkeypatch, tmp_path
):
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    from bioqwen.models import build_tiny_model
    from tests.conftest import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        model_cfg = OmegaConf.to_container(compose("model/tiny").model, resolve=True)
    # A fresh cache rebuilds the same weights and tokenizer from the seed.
    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path))
    rebuilt = build_tiny_model(model_cfg)
    assert rebuilt.name == tiny_model_dir.name
    original, again = (load_file(d / "model.safetensors") for d in (tiny_model_dir, rebuilt))
    assert original.keys() == again.keys()
    assert all((original[k] == again[k]).all() for k in original)
    assert (rebuilt / "tokenizer.json").read_text() == (
        tiny_model_dir / "tokenizer.json"
    ).read_text()
    # Cached: a second call finds the entry and writes nothing.
    stamp = (rebuilt / "model.safetensors").stat().st_mtime_ns
    assert build_tiny_model(model_cfg) == rebuilt
    assert (rebuilt / "model.safetensors").stat().st_mtime_ns == stamp
    # Another seed is another model.
    model_cfg["tiny"]["seed"] = 1
    other = build_tiny_model(model_cfg)
    assert other != rebuilt
    weights = load_file(other / "model.safetensors")
    assert any(not (weights[k] == original[k]).all() for k in original)


def test_a_hub_model_that_is_not_downloaded_is_one_clear_error(monkeypatch):
    import pytest

    from bioqwen.errors import BioqwenError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BioqwenError, match=r"model=qwen2_0_5b: cannot load Qwen/Qwen2-0\.5B .*"):
        tokenizer_for(compose_config("train", "model=qwen2_0_5b").model)


def test_a_model_config_can_replace_the_chat_template(tiny_model_dir, compose):
    from bioqwen.eval.generate import render_prompt

    taiyi = compose("evaluate", "model=taiyi").model
    assert taiyi.hub_id == "DUTIR-BioNLP/Taiyi-LLM" and not taiyi.trust_remote_code
    # Taiyi's <eod>input<eod> format on a local tokenizer (no hub): the system turn is dropped.
    tok = tokenizer_for(taiyi, str(tiny_model_dir))
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "What is BRCA1?"}]
    assert render_prompt(tok, messages) == "<|endoftext|>What is BRCA1?<|endoftext|>"


def test_small_bpe_builds_the_same_tokenizer_twice_without_a_cache(monkeypatch, tmp_path):
    from bioqwen.data.tokenizer import train_small_bpe

    vocabularies = []
    for attempt in ("first", "second"):
        # An empty cache each time: the second build cannot read the first one's result.
        monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path / attempt))
        vocabularies.append(train_small_bpe(512).backend_tokenizer.to_str())
        assert list((tmp_path / attempt).glob("tokenizers/small_bpe-512-*"))
    assert vocabularies[0] == vocabularies[1]
    assert '"vocab"' in vocabularies[0]


def test_a_pinned_hub_revision_reaches_from_pretrained(monkeypatch, tiny_model_dir):
    from transformers import AutoTokenizer

    calls = []
    real = AutoTokenizer.from_pretrained

    def spy(source, **kwargs):
        calls.append(kwargs.get("revision"))
        return real(str(tiny_model_dir))

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", spy)
    pinned = compose_config("train", "model=qwen2_0_5b", "model.revision=abc123").model
    tokenizer_for(pinned)
    # A local directory (a merged stage-1 model) is not pinned.
    tokenizer_for(pinned, str(tiny_model_dir))
    assert calls == ["abc123", None]
