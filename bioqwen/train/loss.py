"""Causal-LM loss over the labelled positions only, without full-vocabulary logits.

With Qwen's 151k-token vocabulary the output projection dominates a small model's step: the
usual path materialises fp32 logits for every position (padding and prompt included, though
only about a third carry a label). Here the backbone's last hidden states are taken at the
positions whose next token is labelled, projected in chunks whose gradients are taken while
their logits exist (a fused linear cross-entropy, as Liger's kernel does on GPUs), so neither
time nor memory scales with batch x length x vocabulary. The value is the usual shifted
cross-entropy: the same sum over the same positions (tested to 1e-5 against transformers).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bioqwen.data.chatml import IGNORE_INDEX

# Positions projected at once: 1024 x 151,936 fp32 logits is ~0.6 GB per chunk.
CHUNK = 1024


class _LinearCrossEntropy(torch.autograd.Function):
    """Summed cross-entropy of `hidden @ weight.T (+ bias)` against `targets`, chunk by chunk.

    The gradients are computed in the forward pass while each chunk's logits exist (softmax
    minus one-hot, in place), so one fp32 chunk of logits is alive at a time and nothing is
    recomputed: three matmuls per chunk, as for the unchunked loss.
    """

    @staticmethod
    def forward(
        ctx: Any,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad_hidden = torch.empty_like(hidden)
        grad_weight = (
            torch.zeros_like(weight, dtype=torch.float32) if weight.requires_grad else None
        )
        grad_bias = (
            torch.zeros_like(bias, dtype=torch.float32)
            if bias is not None and bias.requires_grad
            else None
        )
        for start in range(0, hidden.shape[0], CHUNK):
            part, wanted = hidden[start : start + CHUNK], targets[start : start + CHUNK]
            logits = F.linear(part, weight, bias).float()
            lse = torch.logsumexp(logits, dim=-1)
            rows = torch.arange(part.shape[0], device=part.device)
            total += (lse - logits[rows, wanted]).sum()
            probs = logits.sub_(lse[:, None]).exp_()  # d loss / d logits = softmax - one-hot
            probs[rows, wanted] -= 1.0
            grad_hidden[start : start + CHUNK] = (probs @ weight.float()).to(hidden.dtype)
            if grad_weight is not None:
                grad_weight += probs.t() @ part.float()
            if grad_bias is not None:
                grad_bias += probs.sum(dim=0)
        ctx.save_for_backward(grad_hidden)
        ctx.grad_weight, ctx.grad_bias = grad_weight, grad_bias
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Any:
        (grad_hidden,) = ctx.saved_tensors
        scale = grad_output.to(grad_hidden.dtype)
        grad_weight = grad_bias = None
        if ctx.grad_weight is not None:
            grad_weight = (ctx.grad_weight * grad_output).to(ctx.dtypes[0])
        if ctx.grad_bias is not None:
            grad_bias = (ctx.grad_bias * grad_output).to(ctx.dtypes[1])
        return grad_hidden * scale, grad_weight, grad_bias, None


def labelled_loss_sum(
    hidden: torch.Tensor, labels: torch.Tensor, head: torch.nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy at labelled positions, and how many there are."""
    targets = labels[:, 1:].to(hidden.device)
    mask = targets != IGNORE_INDEX
    picked, wanted = hidden[:, :-1][mask], targets[mask]
    weight, bias = head.weight, getattr(head, "bias", None)
    total: torch.Tensor = _LinearCrossEntropy.apply(picked, weight, bias, wanted)
    # Connected to the graph even without a labelled position (a zero that backpropagates).
    return total + hidden.sum() * 0.0, mask.sum()


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
