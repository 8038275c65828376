"""Embeddings: mean pooling ignores padding, encoders truncate at 512, decoders read the full
text (too long for the model = an error naming the record), vectors are cached per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bioqwen.errors import BioqwenError
from bioqwen.quality.embeddings import Embedder, pca_2d
from bioqwen.quality.reward import pick_device

LONG = "发热咳嗽三天，需要去医院吗？" * 200  # far over 512 tokens of the small BPE

# The quality step's tiny models (scorer, encoder, decoder) as fixtures.
pytest_plugins = ["tests.quality.models"]


def _embedder(path: Path, kind: str, cache: Path, max_length: int | None) -> Embedder:
    spec: dict[str, Any] = {
        "path": str(path),
        "kind": kind,
        "max_length": max_length,
        "batch_size": 4,
        "trust_remote_code": False,
        "dtype": "float32",
    }
    return Embedder(spec, f"embeddings.{kind}", pick_device("cpu"), cache)


def test_encoder_pools_over_real_tokens_and_truncates(encoder_dir: Path, tmp_path: Path) -> None:
    encoder = _embedder(encoder_dir, "encoder", tmp_path, 512)
    texts = ["头痛", "高血压患者的饮食要注意什么？少盐少油。", LONG]
    batched = encoder.embed(["a", "b", "c"], texts)
    alone = _embedder(encoder_dir, "encoder", tmp_path / "fresh", 512).embed(["a"], texts[:1])
    assert batched.shape == (3, 32)
    np.testing.assert_allclose(batched[0], alone[0], atol=1e-5)  # padding does not leak in
    encoder.check(["c"], [LONG])  # truncated at 512: accepted


def test_decoder_reads_full_length_and_names_a_record_too_long(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    decoder = _embedder(tiny_model_dir, "decoder", tmp_path, None)
    decoder.check(["short"], ["头痛怎么办"])
    with pytest.raises(BioqwenError, match=r"record medchatzh:7: \d+ tokens, more than"):
        decoder.check(["short", "medchatzh:7"], ["头痛怎么办", LONG * 2])


def test_vectors_are_cached_by_model_and_record(
    encoder_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _embedder(encoder_dir, "encoder", tmp_path, 512).embed(["a", "b"], ["头痛", "发热"])
    again = _embedder(encoder_dir, "encoder", tmp_path, 512)

    def no_model(texts: Any) -> Any:
        raise AssertionError(f"recomputed {texts}")

    monkeypatch.setattr(again, "_pool", no_model)
    np.testing.assert_array_equal(again.embed(["b", "a"], ["发热", "头痛"]), first[::-1])
    with pytest.raises(AssertionError, match="recomputed"):  # same id, edited text: not served
        again.embed(["a"], ["头痛加重"])
    other = _embedder(encoder_dir, "encoder", tmp_path, 128)  # another truncation, another cache
    assert other.cache != again.cache


def test_pca_explains_variance_in_order() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(50, 8)) * np.array([5, 2, 1, 1, 1, 1, 1, 1])
    points, variance = pca_2d(vectors, seed=0)
    assert points.shape == (50, 2) and variance[0] > variance[1] > 0 and sum(variance) < 1
