"""The labelled-positions loss equals transformers' full-logits loss (value and gradients)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from bioqwen.train import loss as loss_module
from bioqwen.train.loss import causal_lm_loss
from tests.train.test_trainer import _trainer


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 1000, (3, 40), generator=generator)
    labels = ids.clone()
    labels[:, :15] = -100  # the prompt
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0  # a shorter, right-padded row
    labels[1, 30:] = -100
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.mark.parametrize("chunk", [7, 1024])  # several chunks, and one
def test_loss_and_gradients_equal_the_full_logits_ones(tiny_model_dir, monkeypatch, chunk):
    monkeypatch.setattr(loss_module, "CHUNK", chunk)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = _batch()
    reference = model(**batch).loss
    reference.backward()
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    ours = causal_lm_loss(model, model, dict(batch), None)
    ours.backward()
    assert ours.item() == pytest.approx(reference.item(), abs=1e-5)
    for name, param in model.named_parameters():
        torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-5)
    # Divided by the accumulation window's label count when the Trainer passes one.
    n_labels = int((batch["labels"][:, 1:] != -100).sum())
    halved = causal_lm_loss(model, model, dict(batch), 2 * n_labels)
    assert halved.item() == pytest.approx(reference.item() / 2, abs=1e-5)


def test_a_micro_batch_without_labels_gives_a_zero_that_backpropagates(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    batch = _batch()
    batch["labels"][:] = -100
    loss = causal_lm_loss(model, model, batch, None)
    loss.backward()
    assert loss.item() == 0.0


@pytest.mark.parametrize("batching", ["pad", "padding_free"])
def test_the_trainer_loss_equals_trl_s_with_or_without_token_metrics(
    tiny_model_dir, mix_dir, tmp_path, batching
):
    ours = _trainer(tmp_path, tiny_model_dir, mix_dir, batching)
    trl = _trainer(tmp_path, tiny_model_dir, mix_dir, batching, "stage.token_metrics=true")
    batch = next(iter(ours.get_train_dataloader()))
    model = ours.model.eval()
    trl.model.load_state_dict(model.state_dict())
    with torch.no_grad():
        mine = ours.compute_loss(model, dict(batch))
        theirs = trl.compute_loss(trl.model.eval(), dict(batch))
    assert mine.item() == pytest.approx(theirs.item(), abs=1e-5)
    # Only TRL's path records its per-token metrics.
    assert "entropy" in trl._metrics["eval"] and "entropy" not in ours._metrics["eval"]
