"""QLoRA training throughput on a GPU with the real shapes of the paper's three base models.

    python benchmarks/gpu_train_throughput.py              # needs CUDA; < 8 min on one H200
    python benchmarks/gpu_train_throughput.py --cpu-smoke  # tiny shapes on CPU (tests the code)

Random weights with the published architecture of Qwen2-0.5B, Qwen2.5-1.5B and Qwen1.5-1.8B
(speed does not depend on the values), every decoder linear quantized to bitsandbytes 4-bit
NF4 with double quantization, bf16 compute, LoRA r 64 / alpha 16 on every linear but the head:
the paper's QLoRA. For each model it times AdamW steps on synthetic samples whose lengths
follow the paper's mix (87 M tokens / 404 k samples, about 215 tokens each, at most 1024):
paper padding (4 samples padded to the batch maximum) against padding-free batches (samples
concatenated, position ids restart per sample, no cache), with sdpa and, where flash-attn is
installed, flash_attention_2. It prints tokens/s without and with padding, the padding
fraction, MFU and peak memory per configuration.

MFU counts 4 N FLOPs per token for the frozen 4-bit matmuls (forward + input gradients; the
frozen weights get no weight gradient), 6 N for the LoRA matrices, and 12 L d T for attention
(nanoGPT's formula with T the mean attended length), against the device's dense bf16 peak.
Needs only torch, transformers, peft and bitsandbytes: nothing from bioqwen, TRL or W&B.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

# Published architecture shapes (config.json of each hub model).
SHAPES: dict[str, dict[str, Any]] = {
    "Qwen2-0.5B": dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
    ),
    "Qwen2.5-1.5B": dict(
        hidden_size=1536,
        intermediate_size=8960,
        num_hidden_layers=28,
        num_attention_heads=12,
        num_key_value_heads=2,
        vocab_size=151936,
        tie_word_embeddings=True,
        rope_theta=1_000_000.0,
    ),
    "Qwen1.5-1.8B": dict(
        hidden_size=2048,
        intermediate_size=5504,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        vocab_size=151936,
        tie_word_embeddings=False,
        rope_theta=1_000_000.0,
    ),
}
TINY = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=1024,
        tie_word_embeddings=True,
    )
}
# Dense bf16 peak FLOP/s by device name fragment (vendor datasheets, without sparsity).
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
MEAN_TOKENS, MAX_TOKENS, MIN_TOKENS = 215, 1024, 32


@dataclass
class Result:
    """One timed configuration."""

    model: str
    batching: str
    attention: str
    samples_per_step: int
    tokens_per_s: float
    tokens_per_s_incl_padding: float
    padding_fraction: float
    step_time_s: float
    mfu: float
    peak_memory_gb: float


def sample_lengths(n: int, seed: int, max_tokens: int) -> list[int]:
    """Log-normal sample lengths with the paper mix's mean, clipped to the token limit."""
    gen = torch.Generator().manual_seed(seed)
    sigma = 0.8
    mu = math.log(MEAN_TOKENS) - sigma**2 / 2
    lengths = torch.exp(mu + sigma * torch.randn(n, generator=gen))
    return [int(x) for x in lengths.clamp(min(MIN_TOKENS, max_tokens), max_tokens)]


def build_model(shape: dict[str, Any], attention: str, device: torch.device) -> Any:
    """Random-weight Qwen2 model, decoder linears in 4-bit NF4, with a LoRA adapter."""
    import bitsandbytes as bnb
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    compute = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = Qwen2Config(**shape, attn_implementation=attention, use_cache=False)
    torch.manual_seed(0)
    # Initialise on the target device: random init of 1.8 B parameters on a CPU takes minutes.
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(compute)
    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, child in list(parent.named_children()):
                if not isinstance(child, torch.nn.Linear):
                    continue
                quantized = bnb.nn.Linear4bit(
                    child.in_features,
                    child.out_features,
                    bias=child.bias is not None,
                    compute_dtype=compute,
                    compress_statistics=True,  # double quantization
                    quant_type="nf4",
                    device="meta",
                )
                quantized.weight = bnb.nn.Params4bit(
                    child.weight.data.contiguous(),
                    requires_grad=False,
                    compress_statistics=True,
                    quant_type="nf4",
                )
                if child.bias is not None:
                    quantized.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
                if device.type == "cpu":
                    # CPU bitsandbytes repacks weights for inference on no-grad calls; keep them.
                    quantized.support_avx512bf16_for_cpu = False
                setattr(parent, name, quantized)
    model = model.to(device)  # Params4bit quantizes on its first move to a device
    for param in model.parameters():
        param.requires_grad = False
    lora = LoraConfig(
        r=64, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    return get_peft_model(model, lora)


def make_batches(
    lengths: list[int], per_step: int, vocab: int, padding_free: bool, pad_id: int, seed: int
) -> list[dict[str, torch.Tensor]]:
    """Micro-batches of `per_step` samples: padded to the batch maximum, or concatenated."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, len(lengths) - per_step + 1, per_step):
        group = lengths[start : start + per_step]
        seqs = [torch.randint(1, vocab - 1, (n,), generator=gen) for n in group]
        if padding_free:
            ids = torch.cat(seqs)[None]
            positions = torch.cat([torch.arange(n) for n in group])[None]
            labels = ids.clone()
            labels[positions == 0] = -100  # no target across a sample boundary
            batches.append({"input_ids": ids, "position_ids": positions, "labels": labels})
        else:
            width = max(group)
            ids = torch.full((len(group), width), pad_id)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            for row, seq in enumerate(seqs):
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
            labels = ids.masked_fill(mask == 0, -100)
            batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches


def matmul_params(model: torch.nn.Module) -> tuple[int, int, int, int]:
    """Frozen matmul parameters (4-bit linears + head), LoRA parameters, layers, hidden size."""
    import bitsandbytes as bnb

    base = model.get_base_model()
    cfg = base.config
    frozen = sum(
        m.in_features * m.out_features for m in base.modules() if isinstance(m, bnb.nn.Linear4bit)
    )
    frozen += cfg.hidden_size * cfg.vocab_size  # the output head
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return frozen, lora, cfg.num_hidden_layers, cfg.hidden_size


def peak_flops(device: torch.device, override: float | None) -> float:
    """Dense bf16 peak of the device (or the override, in FLOP/s)."""
    if override:
        return override
    if device.type != "cuda":
        return 1e12  # nominal, only so the CPU smoke path prints a number
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), 989e12)


def time_config(
    model: torch.nn.Module,
    batches: list[dict[str, torch.Tensor]],
    warmup: int,
    device: torch.device,
    peak: float,
) -> tuple[float, float, float, float, float]:
    """Run warm-up then timed AdamW steps; return tokens/s (real, all), step time, MFU, pad frac."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    frozen, lora, layers, hidden = matmul_params(model)
    real = total = attended = 0.0
    elapsed = 0.0
    for index, batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.3)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index < warmup:
            continue
        elapsed += time.perf_counter() - start
        if "attention_mask" in batch:
            lengths = batch["attention_mask"].sum(dim=1).tolist()
            total += batch["input_ids"].numel()
        else:
            starts = (batch["position_ids"][0] == 0).nonzero().flatten().tolist()
            bounds = [*starts, batch["input_ids"].shape[1]]
            lengths = [b - a for a, b in itertools.pairwise(bounds)]
            total += sum(lengths)
        real += sum(lengths)
        # Each token attends on average to half its sample.
        attended += sum(n * n / 2 for n in lengths)
    steps = max(len(batches) - warmup, 1)
    mean_context = attended / max(real, 1)
    flops_per_token = 4 * frozen + 6 * lora + 12 * layers * hidden * mean_context
    tokens_per_s = real / elapsed
    mfu = tokens_per_s * flops_per_token / peak
    return tokens_per_s, total / elapsed, elapsed / steps, mfu, 1 - real / max(total, 1)


def run(args: argparse.Namespace) -> list[Result]:
    """Time every (model, attention, batching) configuration that this machine supports."""
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    shapes = TINY if args.cpu_smoke else {k: v for k, v in SHAPES.items() if k in args.models}
    attentions = ["sdpa"]
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        attentions.append("flash_attention_2")
    elif args.cpu_smoke:
        attentions.append("eager")  # exercises the backend switch where flash-attn cannot run
    peak = peak_flops(device, args.peak_tflops * 1e12 if args.peak_tflops else None)
    max_tokens = 64 if args.cpu_smoke else MAX_TOKENS
    results = []
    for name, shape in shapes.items():
        model = build_model(shape, attentions[0], device)
        for attention in attentions:
            model.get_base_model().set_attn_implementation(attention)
            # Report the backend the model really runs, not the one asked for.
            attention = model.get_base_model().config._attn_implementation
            vocab = int(shape["vocab_size"])
            plans = [("padding", 4), ("padding_free", 4), ("padding_free", args.large_batch)]
            for batching, per_step in plans:
                n = per_step * (args.steps + args.warmup)
                lengths = sample_lengths(n, seed=1, max_tokens=max_tokens)
                batches = make_batches(
                    lengths, per_step, vocab, batching == "padding_free", vocab - 1, seed=2
                )
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                tps, tps_all, step_time, mfu, pad = time_config(
                    model, batches, args.warmup, device, peak
                )
                memory = (
                    torch.cuda.max_memory_allocated(device) / 2**30
                    if device.type == "cuda"
                    else 0.0
                )
                result = Result(
                    name, batching, attention, per_step, tps, tps_all, pad, step_time, mfu, memory
                )
                results.append(result)
                print(
                    f"{name:13s} {attention:17s} {batching:12s} x{per_step:<3d} "
                    f"{tps:10,.0f} tok/s  {tps_all:10,.0f} incl. pad  pad {pad:5.1%}  "
                    f"{step_time * 1000:8.1f} ms/step  MFU {mfu:6.2%}  peak {memory:6.2f} GiB",
                    flush=True,
                )
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU")
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps per config")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--large-batch", type=int, default=48, help="samples per padding-free step")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override device peak")
    parser.add_argument("--json", default=None, help="also write the results here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 0 with a note when there is no GPU and no --cpu-smoke."""
    args = parse_args(argv)
    if args.cpu_smoke:
        args.steps, args.warmup, args.large_batch = min(args.steps, 2), 1, 8
    elif not torch.cuda.is_available():
        print("gpu_train_throughput: no CUDA device; skipped (use --cpu-smoke to exercise it)")
        return 0
    results = run(args)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump([r.__dict__ for r in results], handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
