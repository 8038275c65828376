"""Causal-LM loss over the labelled positions only, without full-vocabulary logits.

With Qwen's 151k-token vocabulary the output projection dominates a small model's step: the
usual path materialises fp32 logits for every position (padding and prompt included, though
only about a third carry a label). Here the backbone's last hidden states are taken at the
positions whose next token is labelled, projected in chunks, and each chunk's logits are
recomputed in the backward pass instead of being kept (activation checkpointing), so neither
time nor memory scales with batch x length x vocabulary. The value is the usual shifted
cross-entropy: the same sum over the same positions (tested to 1e-5 against transformers).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from bioqwen.data.chatml import IGNORE_INDEX

# Positions projected at once: 1024 x 151,936 fp32 logits is ~0.6 GB per chunk.
CHUNK = 1024


def _chunk_loss(
    hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor
) -> torch.Tensor:
    logits = F.linear(hidden, weight, bias).float()
    return F.cross_entropy(logits, targets, reduction="sum")


def labelled_loss_sum(
    hidden: torch.Tensor, labels: torch.Tensor, head: torch.nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy at labelled positions, and how many there are."""
    targets = labels[:, 1:].to(hidden.device)
    mask = targets != IGNORE_INDEX
    picked, wanted = hidden[:, :-1][mask], targets[mask]
    weight, bias = head.weight, getattr(head, "bias", None)
    # Connected to the graph even without a labelled position (a zero that backpropagates).
    total = picked.sum() * 0.0
    for start in range(0, picked.shape[0], CHUNK):
        stop = start + CHUNK
        part = checkpoint(
            _chunk_loss, picked[start:stop], weight, bias, wanted[start:stop], use_reentrant=False
        )
        total = total + part
    return total, mask.sum()


class LastHidden:
    """Capture the backbone's last hidden states during a forward (a forward hook)."""

    def __init__(self, model: Any) -> None:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.head: torch.nn.Module = base.get_output_embeddings()
        self.states: torch.Tensor | None = None
        self._handle = base.get_decoder().register_forward_hook(self._keep)

    def _keep(self, module: Any, args: Any, output: Any) -> None:
        self.states = output[0]

    def remove(self) -> None:
        """Detach the hook."""
        self._handle.remove()


def causal_lm_loss(
    model: Any,
    unwrapped: Any,
    inputs: dict[str, Any],
    num_items_in_batch: torch.Tensor | int | None,
) -> torch.Tensor:
    """The training loss of one micro-batch: forward through `model` (DDP/DeepSpeed wrappers
    included) with a one-position head, then the labelled positions' cross-entropy, divided by
    the accumulation window's label count when given (as transformers' loss does)."""
    labels = inputs["labels"]
    forward = {k: v for k, v in inputs.items() if k != "labels"}
    capture = LastHidden(unwrapped)
    try:
        # logits_to_keep=1: the model's own head runs on one position only.
        model(**forward, use_cache=False, logits_to_keep=1)
    finally:
        capture.remove()
    if capture.states is None:
        raise RuntimeError("the model's forward never ran its decoder (no hidden states)")
    total, count = labelled_loss_sum(capture.states, labels, capture.head)
    denominator = count.clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return total / denominator
