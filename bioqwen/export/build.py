"""What `bioqwen export` builds: GGUF files checked against the HF model, and MLC-LLM files.

Everything is written into a staging directory the caller renames into place, so a failure
at any step (a conversion llama.cpp cannot load, an F16 file that disagrees) leaves nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bioqwen.data.tokenizer import ENDOFTEXT, IM_END
from bioqwen.errors import BioqwenError
from bioqwen.export import agreement, gguf, mlc, sizes
from bioqwen.export.quantize import quantize


def stop_ids(model_dir: Path) -> tuple[list[int], int | None, Any]:
    """Ids of `<|im_end|>` and `<|endoftext|>`, the pad id, and the model's HF tokenizer."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in (IM_END, ENDOFTEXT)]
    stops = [i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id]
    if not stops:
        raise BioqwenError(f"{model_dir}: the tokenizer has no <|im_end|> or <|endoftext|>")
    return stops, tokenizer.pad_token_id, tokenizer


def build_gguf(
    model_dir: Path, stage: Path, cfg: Mapping[str, Any], system_prompts: Mapping[str, str]
) -> tuple[list[str], dict[str, Any]]:
    """Convert to F16, quantize, reload each file with llama.cpp and compare it with HF."""
    quant, threads = str(cfg["quant"]), int(cfg["threads"])
    check = cfg["agreement"]
    metrics: dict[str, Any] = {}
    files = {"f16": stage / "model-f16.gguf"}
    start = time.perf_counter()
    gguf.write_f16(model_dir, files["f16"], name=model_dir.name)
    metrics["convert_s"] = time.perf_counter() - start
    if quant != "f16":
        files[quant] = stage / f"model-{quant}.gguf"
        start = time.perf_counter()
        quantize(files["f16"], files[quant], quant, threads)
        metrics["quantize_s"] = time.perf_counter() - start
        if not cfg["keep_f16"]:
            files.pop("f16").unlink()
    stops, _, tokenizer = stop_ids(model_dir)
    prompts = agreement.chat_prompts(dict(system_prompts), list(check["questions"]))
    max_new = int(check["max_new_tokens"])
    reference = agreement.hf_reference(model_dir, prompts, max_new, stops)
    metrics["hf/tokens_per_s"] = reference.tokens_per_s
    for name, path in files.items():
        llm = gguf.load(path, threads=threads or None)
        result = agreement.compare(llm, reference, max_new, stops)
        metrics[f"gguf/{name}/size_gb"] = sizes.size_gb([path])
        metrics.update({f"gguf/{name}/{k}": v for k, v in result.items()})
        metrics[f"gguf/{name}/tokenizer_match"] = float(
            agreement.tokenization_matches(llm, tokenizer, prompts)
        )
        llm.close()  # frees the llama.cpp context before the next file loads
        if name == "f16" and result["max_logit_diff"] > float(check["f16_tolerance"]):
            raise BioqwenError(
                f"{model_dir}: the F16 GGUF disagrees with the HF model (largest logit "
                f"difference {result['max_logit_diff']:.3g} > agreement.f16_tolerance "
                f"{check['f16_tolerance']}); the conversion is not faithful"
            )
    metrics["model/size_gb"] = sizes.size_gb([files[quant]])
    metrics["model/precision"] = sizes.QUANT_PRECISION[f"gguf-{quant}"]
    metrics["model/quantization"] = f"gguf-{quant}"
    return [p.name for p in files.values()], metrics


def build_mlc(
    model_dir: Path,
    stage: Path,
    config: Mapping[str, Any],
    options: Mapping[str, Any],
    system_prompts: Mapping[str, str],
    final_dir: Path,
) -> tuple[list[str], list[str]]:
    """Write mlc-chat-config.json and mlc_commands.sh; return the files and the commands."""
    language = str(options["language"])
    if language not in system_prompts:
        raise BioqwenError(
            f"mlc.language={language!r}: no system prompt for it in data.system_prompts "
            f"({', '.join(system_prompts)})"
        )
    stops, pad, _ = stop_ids(model_dir)
    opts = {
        **options,
        "system_prompt": system_prompts[language],
        "model_id": options.get("model_id") or f"bioqwen-{model_dir.name}",
    }
    chat = mlc.chat_config(model_dir, config, stops, pad, opts)
    (stage / "mlc-chat-config.json").write_text(
        json.dumps(chat, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    commands = mlc.android_commands(model_dir, final_dir / "mlc-chat-config.json", opts)
    script = "#!/usr/bin/env bash\n# MLC-LLM for Android (needs mlc_llm and TVM Unity)\nset -e\n"
    (stage / "mlc_commands.sh").write_text(script + "\n".join(commands) + "\n", encoding="utf-8")
    return ["mlc-chat-config.json", "mlc_commands.sh"], commands
