import pytest

from bioqwen.data.tokenizer import PADOFTEXT, load_qwen_tokenizer, train_small_bpe
from bioqwen.errors import BioqwenError


def test_qwen1_5_tokenizer_loads_offline_with_distinct_pad():
    tok = load_qwen_tokenizer("qwen1_5")
    assert len(tok) == 151647
    assert tok.pad_token == PADOFTEXT and tok.pad_token_id == 151646
    assert tok.eos_token == "<|im_end|>" and tok.pad_token_id != tok.eos_token_id
    text = "<|im_start|>user\n乳腺癌 BRCA1 mutation<|im_end|>"
    assert tok.decode(tok(text).input_ids) == text


def test_qwen2_5_pad_does_not_collide_with_reserved_ids():
    tok = load_qwen_tokenizer("qwen2_5")
    # 151646 is <|object_ref_start|> on Qwen2.5: the pad must come after every reserved id.
    assert tok.convert_ids_to_tokens(151646) == "<|object_ref_start|>"
    assert tok.pad_token_id == 151665


def test_small_bpe_is_deterministic_and_round_trips(tmp_path, monkeypatch):
    # Each build trains from scratch in its own cache, so a nondeterministic trainer would show.
    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path / "first"))
    a = train_small_bpe(1024)
    monkeypatch.setenv("BIOQWEN_CACHE", str(tmp_path / "second"))
    b = train_small_bpe(1024)
    assert a.get_vocab() == b.get_vocab()
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    text = "糖尿病 diabetes\n\n段落。<|im_end|>"
    assert a(text).input_ids == b(text).input_ids
    assert a.decode(a(text).input_ids) == text
    assert len(a) == 1024 and a.pad_token_id != a.eos_token_id


def test_unknown_variant_is_a_user_error_naming_the_key():
    with pytest.raises(BioqwenError, match=r"data\.tokenizer='qwen9'"):
        load_qwen_tokenizer("qwen9")
