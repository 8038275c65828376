"""LoRA / QLoRA training throughput on a GPU with the real shapes of the paper's base models.

    bash scripts/gpu_benchmark.sh                          # on the GPU machine: < 5 min
    bash scripts/gpu_benchmark.sh --table benchmarks/results/gpu_train_throughput.json  # plan
    python benchmarks/gpu_train_throughput.py [--no-quant] # needs CUDA
    python benchmarks/gpu_train_throughput.py --cpu-smoke  # tiny shapes on CPU (tests the code)

Random weights with the published architecture of Qwen2-0.5B, Qwen2.5-1.5B and Qwen1.5-1.8B
(speed does not depend on the values). By default the paper's QLoRA: every decoder linear in
bitsandbytes 4-bit NF4 with double quantization, bf16 compute, LoRA r 64 / alpha 16 on every
linear but the head. `--no-quant` times bf16 LoRA instead (no bitsandbytes needed); without
bitsandbytes installed the script says so and falls back to it. The model is set up as the
bioqwen trainer sets it up: `prepare_model_for_kbit_training` casts the non-4-bit weights
(norms, embeddings, head) to fp32 and TRL casts the LoRA weights to bf16 (QLoRA), or a bf16
base with fp32 LoRA weights (LoRA); the forward runs under bf16 autocast; the prompt part of
every sample is masked out of the loss as in the real data. For each model it times AdamW
steps on synthetic samples whose lengths follow the paper's mix (87 M tokens / 404 k samples,
about 215 tokens each, at most 1024): paper padding (4 samples padded to the batch maximum)
against padding-free batches (samples concatenated, position ids restart per sample, no
cache), with bioqwen's per-sample SDPA (`sdpa_segmented`, plain `sdpa` when bioqwen is not
on the path) and, where flash-attn is installed, flash_attention_2. It prints tokens/s
without and with padding, the padding fraction, MFU and peak memory per configuration, then
one ratio line per model and backend: padding-free / padding tokens/s and both MFUs.

MFU counts 4 N FLOPs per token for the frozen matmuls (forward + input gradients; the frozen
weights get no weight gradient), 6 N for the LoRA matrices, and 12 L d T for attention
(nanoGPT's formula with T the mean attended length), against the device's dense bf16 peak.
Needs only torch, transformers and peft (bitsandbytes for QLoRA): nothing from TRL or W&B.

`--table FILE` also writes the measurements as the table `bioqwen plan` reads for GPU-hours
(format `bioqwen-gpu-throughput/1`: one row per GPU, hub model, method, batching, per-device
batch, max_length and attention backend with its tokens/s); rows of another GPU already in
the file are kept, so tables of several GPUs accumulate in one file.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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
TABLE_FORMAT = "bioqwen-gpu-throughput/1"  # read by bioqwen.plan.speed
BATCHING = {"padding": "pad", "padding_free": "padding_free"}  # -> stage.batching
# Share of a sample's tokens that are prompt (system + user turn), masked out of the loss: the
# shipped mix trains about 35 % of its positions.
PROMPT_FRACTION = 0.65
NO_BITSANDBYTES = (
    "gpu_train_throughput: bitsandbytes is not installed, so QLoRA (4-bit) cannot be timed; "
    "timing bf16 LoRA instead (--no-quant). For QLoRA, carry a bitsandbytes wheel in wheels/ "
    "and run scripts/gpu_benchmark.sh, which installs it with pip --no-index."
)


@dataclass
class Result:
    """One timed configuration."""

    model: str
    method: str
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


def load_bitsandbytes() -> ModuleType | None:
    """bitsandbytes if it imports here, else None (a GPU machine may not have it)."""
    try:
        import bitsandbytes
    except ImportError:
        return None
    return bitsandbytes


def segmented_attention() -> str:
    """bioqwen's per-sample SDPA when bioqwen is importable (it registers it), else sdpa."""
    try:
        from bioqwen.train.attention import SEGMENTED_SDPA
    except ImportError:
        return "sdpa"
    return SEGMENTED_SDPA


def quantize_linears(model: torch.nn.Module, bnb: ModuleType, compute: torch.dtype) -> None:
    """Replace every decoder linear by a bitsandbytes 4-bit NF4 one (double quantization)."""
    for layer in model.model.layers:  # type: ignore[union-attr]
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
                # CPU bitsandbytes repacks weights for inference on no-grad calls; keep them.
                quantized.support_avx512bf16_for_cpu = False
                setattr(parent, name, quantized)


def build_model(
    shape: dict[str, Any], attention: str, device: torch.device, bnb: ModuleType | None
) -> Any:
    """Random-weight Qwen2 model with a LoRA adapter, set up as the bioqwen trainer does.

    QLoRA (`bnb` given): decoder linears in 4-bit NF4, `prepare_model_for_kbit_training`'s fp32
    casts of everything else, LoRA weights cast to bf16 as TRL does for quantized bases.
    LoRA: a bf16 base (fp32 on CPU) with PEFT's fp32 adapter weights.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import Qwen2Config, Qwen2ForCausalLM

    compute = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = Qwen2Config(**shape, attn_implementation=attention, use_cache=False)
    torch.manual_seed(0)
    # Initialise on the target device: random init of 1.8 B parameters on a CPU takes minutes.
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(compute)
    if bnb is not None:
        quantize_linears(model, bnb, compute)
        model = model.to(device)  # Params4bit quantizes on its first move to a device
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    for param in model.parameters():
        param.requires_grad = False
    lora = LoraConfig(
        r=64, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    with warnings.catch_warnings():  # PEFT reads a property transformers 5 renamed
        warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
        model = get_peft_model(model, lora)
    if bnb is not None:
        for param in model.parameters():
            if param.requires_grad:
                param.data = param.data.to(torch.bfloat16)
    return model


def make_batches(
    lengths: list[int], per_step: int, vocab: int, padding_free: bool, pad_id: int, seed: int
) -> list[dict[str, torch.Tensor]]:
    """Micro-batches of `per_step` samples: padded to the batch maximum, or concatenated."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, len(lengths) - per_step + 1, per_step):
        group = lengths[start : start + per_step]
        seqs = [torch.randint(1, vocab - 1, (n,), generator=gen) for n in group]
        # The prompt of each sample is masked out of the loss, as the ChatML masks do.
        targets = [
            s.masked_fill(torch.arange(len(s)) < PROMPT_FRACTION * len(s), -100) for s in seqs
        ]
        if padding_free:
            ids = torch.cat(seqs)[None]
            positions = torch.cat([torch.arange(n) for n in group])[None]
            labels = torch.cat(targets)[None]
            batches.append({"input_ids": ids, "position_ids": positions, "labels": labels})
        else:
            width = max(group)
            ids = torch.full((len(group), width), pad_id)
            mask = torch.zeros((len(group), width), dtype=torch.long)
            labels = torch.full((len(group), width), -100)
            for row, (seq, target) in enumerate(zip(seqs, targets, strict=True)):
                ids[row, : len(seq)] = seq
                mask[row, : len(seq)] = 1
                labels[row, : len(seq)] = target
            batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches


def matmul_params(model: Any) -> tuple[int, int, int, int]:
    """Frozen matmul parameters (decoder linears + head), LoRA parameters, layers, hidden size."""
    cfg = model.get_base_model().config
    hidden, kv = (
        cfg.hidden_size,
        cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads),
    )
    per_layer = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * cfg.intermediate_size
    frozen = cfg.num_hidden_layers * per_layer + hidden * cfg.vocab_size  # the output head
    lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return frozen, lora, cfg.num_hidden_layers, hidden


def peak_flops(device: torch.device, override: float | None) -> float:
    """Dense bf16 peak of the device (or the override, in FLOP/s)."""
    if override:
        return override
    if device.type != "cuda":
        return 1e12  # nominal, only so the CPU smoke path prints a number
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16.items() if k in name), 989e12)


def time_config(
    model: Any,
    batches: list[dict[str, torch.Tensor]],
    warmup: int,
    device: torch.device,
    peak: float,
) -> tuple[float, float, float, float, float]:
    """Run warm-up then timed AdamW steps; return tokens/s (real, all), step time, MFU, pad frac."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    model.train()
    frozen, lora, layers, hidden = matmul_params(model)
    # The Trainer's bf16 mixed precision: forward (and loss) under autocast, backward outside.
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    real = total = attended = 0.0
    elapsed = 0.0
    for index, batch in enumerate(batches):
        batch = {k: v.to(device) for k, v in batch.items()}
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
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


def ratio_line(padded: Result, flat: Result, large: Result) -> str:
    """One model and backend: padding-free / padding tokens/s at the same samples per step."""
    return (
        f"{padded.model} {padded.method} {padded.attention}: padding-free / padding "
        f"{flat.tokens_per_s / padded.tokens_per_s:.2f}x tokens/s "
        f"(MFU {flat.mfu:.1%} vs {padded.mfu:.1%}; padding-free x{large.samples_per_step}: "
        f"{large.tokens_per_s:,.0f} tok/s, MFU {large.mfu:.1%})"
    )


def time_model(
    name: str, shape: dict[str, Any], attentions: list[str], args: argparse.Namespace, env: dict
) -> list[Result]:
    """Every (attention, batching) configuration of one model shape, with its ratio lines."""
    device, bnb, peak = env["device"], env["bnb"], env["peak"]
    method = "qlora" if bnb is not None else "lora"
    model = build_model(shape, attentions[0], device, bnb)
    results: list[Result] = []
    max_tokens = 64 if args.cpu_smoke else MAX_TOKENS
    vocab = int(shape["vocab_size"])
    for attention in attentions:
        model.get_base_model().set_attn_implementation(attention)
        # Report the backend the model really runs, not the one asked for.
        attention = model.get_base_model().config._attn_implementation
        plans = [("padding", 4), ("padding_free", 4), ("padding_free", args.large_batch)]
        for batching, per_step in plans:
            lengths = sample_lengths(per_step * (args.steps + args.warmup), 1, max_tokens)
            flat = batching == "padding_free"
            batches = make_batches(lengths, per_step, vocab, flat, vocab - 1, seed=2)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            tps, tps_all, step_time, mfu, pad = time_config(
                model, batches, args.warmup, device, peak
            )
            memory = (
                torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
            )
            row = Result(
                name,
                method,
                batching,
                attention,
                per_step,
                tps,
                tps_all,
                pad,
                step_time,
                mfu,
                memory,
            )
            results.append(row)
            print(
                f"{name:13s} {attention:17s} {batching:12s} x{per_step:<3d} "
                f"{tps:10,.0f} tok/s  {tps_all:10,.0f} incl. pad  pad {pad:5.1%}  "
                f"{step_time * 1000:8.1f} ms/step  MFU {mfu:6.2%}  peak {memory:6.2f} GiB",
                flush=True,
            )
        print(ratio_line(*results[-3:]), flush=True)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


def run(args: argparse.Namespace) -> list[Result]:
    """Time every (model, attention, batching) configuration that this machine supports."""
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    bnb = None if args.no_quant else load_bitsandbytes()
    if bnb is None and not args.no_quant:
        print(NO_BITSANDBYTES, flush=True)
    shapes = TINY if args.cpu_smoke else {k: v for k, v in SHAPES.items() if k in args.models}
    attentions = [segmented_attention()]
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        attentions.append("flash_attention_2")
    elif args.cpu_smoke:
        attentions.append("eager")  # exercises the backend switch where flash-attn cannot run
    peak = peak_flops(device, args.peak_tflops * 1e12 if args.peak_tflops else None)
    env = {"device": device, "bnb": bnb, "peak": peak}
    started = time.perf_counter()
    results: list[Result] = []
    for name, shape in shapes.items():
        # The GPU machine is lent for minutes: skip what would not finish in the budget.
        if time.perf_counter() - started > args.time_limit:
            print(f"gpu_train_throughput: {name} skipped (--time-limit {args.time_limit:.0f} s)")
            continue
        results += time_model(name, shape, attentions, args, env)
    return results


def table_rows(results: list[Result], gpu: str, max_length: int) -> list[dict[str, Any]]:
    """The measurements as rows of the table `bioqwen plan` reads."""
    measured = time.strftime("%Y-%m-%d")
    return [
        {
            "gpu": gpu,
            "model": f"Qwen/{r.model}" if r.model in SHAPES else r.model,  # the hub id
            "method": r.method,
            "batching": BATCHING[r.batching],
            "per_device_batch_size": r.samples_per_step,
            "max_length": max_length,
            "attention": r.attention,
            "tokens_per_s": round(r.tokens_per_s, 1),
            "tokens_per_s_incl_padding": round(r.tokens_per_s_incl_padding, 1),
            "measured_at": measured,
            "torch": torch.__version__,
        }
        for r in results
    ]


def write_table(path: str, rows: list[dict[str, Any]]) -> None:
    """Write rows into the table at path (atomically), keeping the rows of other GPUs."""
    target = Path(path)
    kept: list[dict[str, Any]] = []
    if target.is_file():
        old = json.loads(target.read_text(encoding="utf-8"))
        if old.get("format") != TABLE_FORMAT:
            raise SystemExit(f"gpu_train_throughput: {path} is not a {TABLE_FORMAT} table")
        gpus = {row["gpu"] for row in rows}
        kept = [row for row in old.get("rows", []) if row["gpu"] not in gpus]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps({"format": TABLE_FORMAT, "rows": kept + rows}, indent=2) + "\n")
    os.replace(tmp, target)


def device_name(args: argparse.Namespace) -> str:
    """The name `bioqwen plan` matches plan.gpu against (the CUDA device's, or cpu)."""
    if args.cpu_smoke or not torch.cuda.is_available():
        return "cpu"
    return str(torch.cuda.get_device_name(0))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU")
    parser.add_argument("--no-quant", action="store_true", help="bf16 LoRA, no bitsandbytes")
    parser.add_argument("--models", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps per config")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--large-batch", type=int, default=32, help="samples per padding-free step")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override device peak")
    parser.add_argument(
        "--time-limit", type=float, default=150, help="start no new model after this many seconds"
    )
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument(
        "--table", default=None, help="also write the table `bioqwen plan` reads (plan.table)"
    )
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
    if args.table:
        max_length = 64 if args.cpu_smoke else MAX_TOKENS
        write_table(args.table, table_rows(results, device_name(args), max_length))
    return 0


if __name__ == "__main__":
    sys.exit(main())
