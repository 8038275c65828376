"""Per-sample SDPA (the padding-free backend without flash-attn) against transformers' SDPA."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from bioqwen.train.attention import SEGMENTED_SDPA, sample_bounds

LENGTHS = (7, 12, 5)


@pytest.fixture(scope="module")
def model() -> Qwen2ForCausalLM:
    """A random 2-layer Qwen2 with grouped-query attention (4 query / 2 KV heads)."""
    torch.manual_seed(0)
    heads = {"num_attention_heads": 4, "num_key_value_heads": 2}
    config = Qwen2Config(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, vocab_size=97, **heads
    )
    config.use_cache = False
    return Qwen2ForCausalLM(config).eval()


def _samples() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return [torch.randint(0, 97, (n,), generator=gen) for n in LENGTHS]


def _padded(samples: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.zeros(len(samples), max(LENGTHS), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, sample in enumerate(samples):
        ids[row, : len(sample)], mask[row, : len(sample)] = sample, 1
    return ids, mask


def _logits(model: Qwen2ForCausalLM, attn: str, **inputs: torch.Tensor) -> torch.Tensor:
    model.set_attn_implementation(attn)
    with torch.no_grad():
        return model(**inputs).logits


def test_bounds_split_the_row_where_positions_restart() -> None:
    positions = torch.cat([torch.arange(n) for n in LENGTHS])[None]
    assert sample_bounds(positions) == [0, 7, 19, 24]
    assert sample_bounds(torch.arange(9)[None]) == [0, 9]


@pytest.mark.parametrize("use_cache", [False, True])
def test_each_packed_sample_gets_the_logits_it_gets_alone(model, use_cache) -> None:
    samples = _samples()
    packed = torch.cat(samples)[None]
    positions = torch.cat([torch.arange(len(s)) for s in samples])[None]
    together = _logits(
        model, SEGMENTED_SDPA, input_ids=packed, position_ids=positions, use_cache=use_cache
    )[0]
    start = 0
    for sample in samples:
        alone = _logits(model, "sdpa", input_ids=sample[None])[0]
        torch.testing.assert_close(together[start : start + len(sample)], alone)
        start += len(sample)
    # The boundaries TRL's collator passes along give the same result.
    bounds = torch.tensor(sample_bounds(positions), dtype=torch.int32)
    given = _logits(
        model, SEGMENTED_SDPA, input_ids=packed, position_ids=positions, cu_seq_lens_q=bounds
    )
    torch.testing.assert_close(given[0], together)
    merged = torch.tensor([0, 7, 24], dtype=torch.int32)  # they are what is used, if given
    fused = _logits(
        model, SEGMENTED_SDPA, input_ids=packed, position_ids=positions, cu_seq_lens_q=merged
    )
    assert (fused[0, 19:] - together[19:]).abs().max() > 1e-3


def test_padded_and_unpacked_batches_match_transformers_sdpa(model) -> None:
    samples = _samples()
    ids, mask = _padded(samples)
    for inputs in ({"input_ids": ids, "attention_mask": mask}, {"input_ids": ids}):
        ours, theirs = _logits(model, SEGMENTED_SDPA, **inputs), _logits(model, "sdpa", **inputs)
        torch.testing.assert_close(ours, theirs)


def test_gradients_of_a_packed_batch_match_the_padded_batch(model) -> None:
    samples = _samples()
    packed = torch.cat(samples)[None]
    positions = torch.cat([torch.arange(len(s)) for s in samples])[None]
    labels = packed.masked_fill(positions == 0, -100)
    ids, mask = _padded(samples)
    grads = []
    for attn, inputs in (
        (SEGMENTED_SDPA, {"input_ids": packed, "position_ids": positions, "labels": labels}),
        (
            "sdpa",
            {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)},
        ),
    ):
        model.set_attn_implementation(attn)
        model.zero_grad()
        model(**inputs).loss.backward()
        grads.append(model.model.layers[0].self_attn.q_proj.weight.grad.clone())
    model.zero_grad()
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)
