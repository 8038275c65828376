import json
from pathlib import Path

from transformers import AutoModelForCausalLM

from bioqwen.jobs.common import plain
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

    from bioqwen.models import build_random_model
    from tests.conftest import CONF

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        model_cfg = OmegaConf.to_container(compose("model/tiny").model, resolve=True)
    # A fresh cache rebuilds the same weights and tokenizer from the seed.
    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path))
    rebuilt = build_random_model(model_cfg)
    assert rebuilt.name == tiny_model_dir.name
    original, again = (load_file(d / "model.safetensors") for d in (tiny_model_dir, rebuilt))
    assert original.keys() == again.keys()
    assert all((original[k] == again[k]).all() for k in original)
    assert (rebuilt / "tokenizer.json").read_text() == (
        tiny_model_dir / "tokenizer.json"
    ).read_text()
    # Cached: a second call finds the entry and writes nothing.
    stamp = (rebuilt / "model.safetensors").stat().st_mtime_ns
    assert build_random_model(model_cfg) == rebuilt
    assert (rebuilt / "model.safetensors").stat().st_mtime_ns == stamp
    # Another seed is another model.
    model_cfg["init_seed"] = 1
    other = build_random_model(model_cfg)
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


PAPER_BASES = {"qwen2_0_5b": "Qwen/Qwen2-0.5B", "qwen2_5_1_5b": "Qwen/Qwen2.5-1.5B"}
PAPER_BASES["qwen1_5_1_8b"] = "Qwen/Qwen1.5-1.8B"


def test_each_paper_base_states_a_buildable_architecture_for_its_tokenizer():
    from bioqwen.data.tokenizer import load_qwen_tokenizer

    sizes = {
        kind: len(load_qwen_tokenizer(kind, "<|padoftext|>")) for kind in ("qwen1_5", "qwen2_5")
    }
    for name, hub_id in PAPER_BASES.items():
        model = compose_config("train", f"model={name}").model
        arch = model.architecture
        assert model.hub_id == hub_id and model.init == "pretrained"  # the hub model by default
        assert arch.hidden_size % arch.num_attention_heads == 0, name
        assert arch.num_attention_heads % arch.num_key_value_heads == 0, name
        assert arch.dtype == "bfloat16" and arch.vocab_size == 151936, name
        assert arch.vocab_size >= sizes[model.tokenizer], name
    # The one untied base (its output layer is a matrix of its own).
    ties = {
        n: compose_config("train", f"model={n}").model.architecture.tie_word_embeddings
        for n in PAPER_BASES
    }
    assert ties == {"qwen2_0_5b": True, "qwen2_5_1_5b": True, "qwen1_5_1_8b": False}


def test_init_random_builds_a_bases_architecture_with_overrides(monkeypatch, tmp_path):
    from safetensors import safe_open

    from bioqwen.models import resolve_model

    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path))
    # Qwen1.5-1.8B's settings (untied, bf16, rope theta 1e6) at a CPU-test width and depth.
    small = [
        "model.architecture.hidden_size=64",
        "model.architecture.intermediate_size=128",
        "model.architecture.num_attention_heads=4",
        "model.architecture.num_key_value_heads=4",
        "model.architecture.num_hidden_layers=1",
        "model.architecture.vocab_size=1088",
    ]
    cfg = compose_config(
        "train", "model=qwen1_5_1_8b", "model.init=random", "model.tokenizer=small_bpe", *small
    ).model
    built = Path(resolve_model(cfg))
    config = json.loads((built / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["vocab_size"]) == (
        1,
        64,
        1088,
    )
    assert config["max_position_embeddings"] == 32768 and not config["tie_word_embeddings"]
    assert config["rope_parameters"]["rope_theta"] == 1_000_000.0 and config["dtype"] == "bfloat16"
    with safe_open(built / "model.safetensors", framework="pt") as handle:
        kinds = {handle.get_slice(k).get_dtype() for k in handle.keys()}  # noqa: SIM118
        assert "lm_head.weight" in handle.keys()  # noqa: SIM118
    assert kinds == {"BF16"}
    assert resolve_model(cfg) == str(built)  # cached
    # A directory given as model.path is what loads, whatever the config would build.
    assert resolve_model({**plain(cfg), "path": str(built)}) == str(built)


def test_a_random_init_needs_an_architecture_that_fits_its_tokenizer(monkeypatch, tmp_path):
    import pytest

    from bioqwen.errors import BioqwenError
    from bioqwen.models import resolve_model

    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path))
    with pytest.raises(
        BioqwenError, match=r"model=taiyi: model\.init=random needs model\.architecture"
    ):
        resolve_model(compose_config("train", "model=taiyi", "model.init=random").model)
    rows = "model.architecture.vocab_size=512"
    with pytest.raises(BioqwenError, match=r"vocab_size=512: fewer rows than the \d+ tokens"):
        resolve_model(compose_config("train", "model=tiny", rows).model)


def test_evaluate_on_a_directory_does_not_inherit_the_tiny_models_settings(tiny_model_dir):
    # conf/evaluate.yaml's default model is tiny (float32, sdpa): settings for the model it
    # builds. A directory takes its own (auto); an explicit setting still wins.
    default = compose_config("evaluate").model
    assert (default.torch_dtype, default.attn_implementation) == ("float32", "sdpa")
    directory = compose_config("evaluate", f"model.path={tiny_model_dir}").model
    assert (directory.torch_dtype, directory.attn_implementation) == ("auto", "auto")
    chosen = compose_config(
        "evaluate", f"model.path={tiny_model_dir}", "model.torch_dtype=bfloat16"
    ).model
    assert (chosen.torch_dtype, chosen.attn_implementation) == ("bfloat16", "auto")
