"""Padding-free attention without flash-attn: SDPA run per packed sample, no dense mask.

With `sdpa`, transformers turns a padding-free batch (one row, `position_ids` restarting at 0
for every sample) into a dense block-diagonal mask over the whole concatenated row, so every
token is scored against every other sample's tokens and then masked out: the work grows with
the square of the row, not with the samples. flash-attn avoids this through `cu_seqlens`, but
it needs CUDA and a compiled wheel. This backend does the same on any device: the mask builder
returns no mask for an unpadded batch, and the attention splits the row where `position_ids`
restart and runs causal SDPA on each sample alone. Batches with a padding mask, KV-cache steps
single-sample rows and sliding-window models take transformers' own SDPA path unchanged.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

SEGMENTED_SDPA = "sdpa_segmented"


def sample_bounds(position_ids: torch.Tensor) -> list[int]:
    """Start offsets of the packed samples in a one-row batch, plus the row's end."""
    row = position_ids[0]
    starts = torch.nonzero(row[1:] != row[:-1] + 1).flatten() + 1
    return [0, *starts.tolist(), int(row.shape[0])]


def segmented_mask(**kwargs: Any) -> torch.Tensor | None:
    """No mask for an unpadded, cache-free batch (causality is applied per sample); else SDPA's.

    Takes transformers' mask-interface keywords (batch_size, q_length, kv_length, offsets,
    attention_mask, mask_function, config, ...) and hands them on unchanged to `sdpa_mask`.
    """
    # A sliding window would be lost without a mask; such models keep SDPA's dense mask.
    windowed = getattr(kwargs.get("config"), "sliding_window", None) is not None
    offsets = kwargs.get("q_offset") or kwargs.get("kv_offset")
    square = kwargs["q_length"] == kwargs["kv_length"]
    if kwargs.get("attention_mask") is None and square and not offsets and not windowed:
        return None
    return sdpa_mask(**kwargs)


def segmented_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal SDPA on each packed sample of a one-row batch; transformers' SDPA otherwise."""
    position_ids = kwargs.get("position_ids")
    bounds: list[int] = []
    if (
        attention_mask is None
        and position_ids is not None
        and query.shape[0] == 1
        and query.shape[2] == key.shape[2] == position_ids.shape[-1]
    ):
        # TRL's padding-free collator ships the boundaries (computed on the CPU); else derive them.
        given = kwargs.get("cu_seq_lens_q")
        bounds = given.tolist() if given is not None else sample_bounds(position_ids)
    if len(bounds) <= 2:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    outputs = [
        sdpa_attention_forward(
            module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, **kwargs
        )[0]
        for a, b in pairwise(bounds)
    ]
    # Each output is (batch, length, heads, head_dim): samples follow each other on dim 1.
    return torch.cat(outputs, dim=1), None


AttentionInterface.register(SEGMENTED_SDPA, segmented_sdpa_forward)
AttentionMaskInterface.register(SEGMENTED_SDPA, segmented_mask)
