"""Fixtures: tiny random models of each kind the quality step loads, built once per session:
a Qwen2 and a BERT reward model (one output), a BERT encoder; the decoder is the tiny Qwen2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

SAMPLE = ROOT / "samples" / "medchatzh" / "MedChatZH_train.sample.jsonl"

WIDTH = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}


def _build(target: Path, tokenizer_dir: Path, make: Callable[[int, int], Any]) -> Path:
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    model = make((len(tokenizer) + 63) // 64 * 64, tokenizer.pad_token_id)
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(scope="session")
def qwen_scorer_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A Qwen2ForSequenceClassification with num_labels=1 and the tiny model's tokenizer."""
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    def make(vocab: int, pad: int) -> Any:
        config = Qwen2Config(
            vocab_size=vocab, num_labels=1, pad_token_id=pad, num_key_value_heads=1, **WIDTH
        )
        return Qwen2ForSequenceClassification(config)

    return _build(tmp_path_factory.mktemp("qwen_scorer"), tiny_model_dir, make)


@pytest.fixture(scope="session")
def bert_scorer_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A BertForSequenceClassification with num_labels=1 whose head is calibrated on the
    shipped MedChatZH sample: rewards spread around the paper's 2.80 (some kept, some not)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rows = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    texts = [f"Human:{r['instruction']}\n{r['input']}\n\nAssistant:{r['output']}" for r in rows]

    def make(vocab: int, pad: int) -> Any:
        config = BertConfig(
            vocab_size=vocab, num_labels=1, pad_token_id=pad, initializer_range=0.2, **WIDTH
        )
        model = BertForSequenceClassification(config).eval()
        batch = tokenizer(texts, padding=True, truncation=True, max_length=512, return_tensors="pt")
        with torch.no_grad():
            raw = model(**batch).logits[:, 0]
            # The head is linear: rescale it so the sample's rewards have mean 2.8, std 0.5.
            scale = 0.5 / float(raw.std())
            model.classifier.weight.mul_(scale)
            model.classifier.bias.sub_(float(raw.mean())).mul_(scale).add_(2.8)
        return model

    return _build(tmp_path_factory.mktemp("bert_scorer"), tiny_model_dir, make)


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """A BertModel encoder (512 positions, as BioBERT)."""
    from transformers import BertConfig, BertModel

    def make(vocab: int, pad: int) -> Any:
        return BertModel(
            BertConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=512, **WIDTH)
        )

    return _build(tmp_path_factory.mktemp("encoder"), tiny_model_dir, make)


@pytest.fixture(scope="session")
def quality_models(
    bert_scorer_dir: Path, encoder_dir: Path, tiny_model_dir: Path
) -> tuple[str, ...]:
    """Overrides pointing score-data at the tiny scorer, encoder and decoder, on the CPU."""
    return (
        f"scorer.path={bert_scorer_dir}",
        "scorer.trust_remote_code=false",
        "scorer.tokenizer_kwargs={}",
        "scorer.max_length=512",
        "device=cpu",
        f"embeddings.encoder.path={encoder_dir}",
        f"embeddings.decoder.path={tiny_model_dir}",
    )
