"""CPU generation speed: GGUF Q4_0 (llama-cpp-python) vs the HF model in fp32 and bf16.

The real Qwen2-0.5B shape (24 layers, hidden 896, 14 heads, 2 KV heads, FFN 4864, 151,936
vocabulary rows, tied embeddings) with random weights and the vendored Qwen tokenizer: no
download, and speed does not depend on the weights' values. The model is exported the way
`bioqwen export` does it (F16 GGUF, then llama.cpp's Q4_0), and all three generate from the
same ChatML prompt token ids, exactly --new-tokens tokens each (no early stop), one prompt at a
time (a phone's workload), with the same thread count, in alternating rounds (best kept).
Tokens/s counts generated tokens over the wall time including the prompt's prefill. Also
prints the export's convert and quantize times and file sizes.
Target (issue 12): GGUF Q4_0 >= 3x HF fp32.
Run: .venv/bin/python benchmarks/export_speed.py [--prompts 2] [--new-tokens 64] [--rounds 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from bioqwen.checkout import compose, plain
from bioqwen.data.tokenizer import load_qwen_tokenizer
from bioqwen.export import agreement, gguf, sizes
from bioqwen.export.quantize import quantize

# Qwen/Qwen2-0.5B config.json
QWEN2_0_5B = {
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": True,
}
QUESTIONS = [
    {"lang": "en", "text": "What are the common symptoms of type 2 diabetes?"},
    {"lang": "zh", "text": "高血压患者在饮食上需要注意什么？"},
    {"lang": "en", "text": "Find the disease mentions: Cisplatin caused acute renal failure."},
    {"lang": "zh", "text": "请找出句子中的疾病实体：患者有糖尿病和慢性肾病。"},
]


def _hf_tokens_per_s(model: Any, prompts: list[list[int]], new_tokens: int) -> float:
    timed = [agreement.hf_greedy(model, ids, new_tokens, exact=True) for ids in prompts]
    return sum(len(out) for out, _ in timed) / sum(seconds for _, seconds in timed)


def _llama_tokens_per_s(llm: Any, prompts: list[list[int]], new_tokens: int) -> float:
    generated, elapsed = 0, 0.0
    for ids in prompts:
        start = time.perf_counter()
        generated += len(agreement.llama_greedy(llm, ids, new_tokens, stops=set()))
        elapsed += time.perf_counter() - start
    return generated / elapsed


def main() -> None:
    """Export a random Qwen2-0.5B to Q4_0 and print tokens/s of each backend and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=2)
    # Answers run to hundreds of tokens; at 16 the prompt's prefill dominates the timing.
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = load_qwen_tokenizer("qwen1_5")
    system_prompts = plain(compose("export").data.system_prompts)
    chats = agreement.chat_prompts(system_prompts, QUESTIONS)[: args.prompts]
    prompts = [list(tokenizer(c, add_special_tokens=False)["input_ids"]) for c in chats]
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**QWEN2_0_5B)).eval()
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="export-speed-") as tmp:
        model_dir, f16, q4 = Path(tmp) / "hf", Path(tmp) / "f16.gguf", Path(tmp) / "q4_0.gguf"
        model.save_pretrained(model_dir)  # fp32 safetensors
        tokenizer.save_pretrained(model_dir)
        start = time.perf_counter()
        gguf.write_f16(model_dir, f16)
        convert_s = time.perf_counter() - start
        start = time.perf_counter()
        quantize(f16, q4, "q4_0", args.threads)
        quantize_s = time.perf_counter() - start
        print(
            f"export: convert {convert_s:.1f} s, quantize {quantize_s:.1f} s; sizes: HF fp32 "
            f"{sizes.size_gb(sizes.weight_files(model_dir)):.3f} GB, F16 "
            f"{sizes.size_gb([f16]):.3f} GB, Q4_0 {sizes.size_gb([q4]):.3f} GB"
        )
        llm = gguf.load(q4, n_ctx=1024, threads=args.threads)
        bf16 = copy.deepcopy(model).to(torch.bfloat16)
        runs: dict[str, Callable[[], float]] = {
            "HF fp32": lambda: _hf_tokens_per_s(model, prompts, args.new_tokens),
            "HF bf16": lambda: _hf_tokens_per_s(bf16, prompts, args.new_tokens),
            "GGUF Q4_0": lambda: _llama_tokens_per_s(llm, prompts, args.new_tokens),
        }
        # Rounds alternate the backends and the best of each is kept: these machines have
        # slow spells that would otherwise land on one backend only.
        for _ in range(args.rounds):
            for name, measure in runs.items():
                rows[name] = max(rows.get(name, 0.0), measure())
        llm.close()
    base = rows["HF fp32"]
    print(
        f"Qwen2-0.5B shape, {len(prompts)} prompts x {args.new_tokens} new tokens, "
        f"{args.threads} threads, best of {args.rounds} alternating rounds"
    )
    print(f"{'backend':<10} {'tokens/s':>9} {'vs HF fp32':>11}")
    for name, speed in rows.items():
        print(f"{name:<10} {speed:>9.2f} {speed / base:>10.2f}x")


if __name__ == "__main__":
    main()
