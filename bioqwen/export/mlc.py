"""MLC-LLM deployment (the paper's phones): `mlc-chat-config.json` and the commands to build.

MLC-LLM is not installable here (it needs TVM Unity), so this writes what its tools need and
prints the commands to run where it is. The config follows MLC-LLM's documented schema,
`MLCChatConfig` in python/mlc_llm/protocol/mlc_chat_config.py with its `Conversation`
(python/mlc_llm/protocol/conversation_protocol.py) and `QWen2Config`
(python/mlc_llm/model/qwen2/qwen2_model.py); `problems()` checks a config against it. The
conversation template renders exactly bioqwen's ChatML prompt with the system prompt of the
chosen language, and stops at `<|im_end|>` and `<|endoftext|>`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bioqwen.data.tokenizer import ENDOFTEXT, IM_END, IM_START

CONFIG_VERSION = "0.1.0"  # mlc_llm.support.constants.MLC_CHAT_CONFIG_VERSION
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json")

# Field -> accepted types, from MLCChatConfig (required fields first) and Conversation.
REQUIRED = {
    "model_type": str,
    "quantization": str,
    "model_config": dict,
    "vocab_size": int,
    "context_window_size": int,
    "sliding_window_size": int,
    "prefill_chunk_size": int,
    "attention_sink_size": int,
    "tensor_parallel_shards": int,
    "conv_template": dict,
}
OPTIONAL = {
    "version": str,
    "pipeline_parallel_stages": int,
    "active_vocab_size": int,
    "temperature": float,
    "presence_penalty": float,
    "frequency_penalty": float,
    "repetition_penalty": float,
    "top_p": float,
    "tokenizer_files": list,
    "tokenizer_info": dict,
    "pad_token_id": int,
    "bos_token_id": int,
    "eos_token_id": (int, list),
}
CONVERSATION = {
    "name": str,
    "system_template": str,
    "system_message": str,
    "system_prefix_token_ids": list,
    "add_role_after_system_message": bool,
    "roles": dict,
    "role_templates": dict,
    "messages": list,
    "seps": list,
    "role_content_sep": str,
    "role_empty_sep": str,
    "stop_str": list,
    "stop_token_ids": list,
    "function_string": str,
    "use_function_calling": bool,
}
QWEN2_REQUIRED = (
    "hidden_act",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_hidden_layers",
    "num_key_value_heads",
    "rms_norm_eps",
    "rope_theta",
    "vocab_size",
)


def conversation(system_prompt: str, stop_token_ids: list[int]) -> dict[str, Any]:
    """ChatML as an MLC conversation template, with bioqwen's system prompt."""
    return {
        "name": "bioqwen_chatml",
        "system_template": f"{IM_START}system\n{{system_message}}{IM_END}\n",
        "system_message": system_prompt,
        "add_role_after_system_message": True,
        "roles": {"user": f"{IM_START}user", "assistant": f"{IM_START}assistant"},
        "role_templates": {
            "user": "{user_message}",
            "assistant": "{assistant_message}",
            "tool": "{tool_message}",
        },
        "messages": [],
        "seps": [f"{IM_END}\n"],
        "role_content_sep": "\n",
        "role_empty_sep": "\n",
        "stop_str": [IM_END, ENDOFTEXT],
        "stop_token_ids": stop_token_ids,
        "function_string": "",
        "use_function_calling": False,
    }


def chat_config(
    model_dir: Path,
    config: Mapping[str, Any],
    stop_token_ids: list[int],
    pad_token_id: int | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The mlc-chat-config.json for a merged Qwen2 model directory and the mlc options."""
    context = int(options["context_window_size"])
    prefill = min(int(options["prefill_chunk_size"]), context)
    rope = config.get("rope_parameters") or {}
    model_config = {
        "hidden_act": config["hidden_act"],
        "hidden_size": config["hidden_size"],
        "intermediate_size": config["intermediate_size"],
        "num_attention_heads": config["num_attention_heads"],
        "num_hidden_layers": config["num_hidden_layers"],
        "num_key_value_heads": config["num_key_value_heads"],
        "rms_norm_eps": config["rms_norm_eps"],
        "rope_theta": rope.get("rope_theta", config.get("rope_theta", 10000.0)),
        "vocab_size": config["vocab_size"],
        "tie_word_embeddings": bool(config.get("tie_word_embeddings", False)),
        "context_window_size": context,
        "prefill_chunk_size": prefill,
        "tensor_parallel_shards": 1,
        "head_dim": config["hidden_size"] // config["num_attention_heads"],
        "max_batch_size": 1,  # one conversation on a phone
    }
    return {
        "version": CONFIG_VERSION,
        "model_type": "qwen2",
        "quantization": str(options["quantization"]),
        "model_config": model_config,
        "vocab_size": config["vocab_size"],
        "context_window_size": context,
        "sliding_window_size": -1,
        "prefill_chunk_size": prefill,
        "attention_sink_size": -1,
        "tensor_parallel_shards": 1,
        "pipeline_parallel_stages": 1,
        "temperature": float(options["temperature"]),
        "top_p": float(options["top_p"]),
        "repetition_penalty": float(options["repetition_penalty"]),
        "presence_penalty": 0.0,
        "frequency_penalty": 0.0,
        "tokenizer_files": [f for f in TOKENIZER_FILES if (model_dir / f).exists()],
        "conv_template": conversation(str(options["system_prompt"]), stop_token_ids),
        "pad_token_id": pad_token_id,
        "bos_token_id": config.get("bos_token_id"),
        "eos_token_id": stop_token_ids,
    }


def _typed(value: Any, kind: Any) -> bool:
    """isinstance, except that JSON true/false are not numbers and an int is a float."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)


def problems(cfg: Mapping[str, Any]) -> list[str]:
    """Where a mlc-chat-config dict departs from MLC-LLM's schema (empty: it conforms)."""
    found = [f"missing field {k}" for k in REQUIRED if k not in cfg]
    schema = {**REQUIRED, **OPTIONAL}
    for key, value in cfg.items():
        if key not in schema:
            found.append(f"unknown field {key}")
        elif value is not None and not _typed(value, schema[key]):
            found.append(f"{key}: expected {schema[key]}, got {type(value).__name__}")
    conv = cfg.get("conv_template")
    if isinstance(conv, Mapping):
        for key in ("roles", "seps"):
            if key not in conv:
                found.append(f"conv_template: missing field {key}")
        for key, value in conv.items():
            if key not in CONVERSATION:
                found.append(f"conv_template: unknown field {key}")
            elif not _typed(value, CONVERSATION[key]):
                found.append(f"conv_template.{key}: expected {CONVERSATION[key].__name__}")
        if not 1 <= len(conv.get("seps") or []) <= 2:
            found.append("conv_template.seps: must hold 1 or 2 separators")
        if not {"user", "assistant"} <= set(conv.get("roles") or {}):
            found.append("conv_template.roles: needs user and assistant")
        vocab = cfg.get("vocab_size")
        for token in conv.get("stop_token_ids") or []:
            if not isinstance(token, int) or (isinstance(vocab, int) and not 0 <= token < vocab):
                found.append(f"conv_template.stop_token_ids: {token} is not a token id")
    model_config = cfg.get("model_config")
    if isinstance(model_config, Mapping) and cfg.get("model_type") == "qwen2":
        found += [f"model_config: missing {k}" for k in QWEN2_REQUIRED if k not in model_config]
    return found


def android_commands(model_dir: Path, config_file: Path, options: Mapping[str, Any]) -> list[str]:
    """The mlc_llm commands that turn the merged model into Android weights and a library."""
    quant = str(options["quantization"])
    name = f"{options['model_id']}-{quant}"
    out = Path(str(options["dist_dir"])) / f"{name}-MLC"
    lib = Path(str(options["dist_dir"])) / "libs" / f"{name}-android.tar"
    q = shlex.quote
    return [
        f"mlc_llm convert_weight {q(str(model_dir))} --quantization {quant} -o {q(str(out))}",
        f"mlc_llm gen_config {q(str(model_dir))} --quantization {quant} --conv-template chatml "
        f"--context-window-size {options['context_window_size']} "
        f"--prefill-chunk-size {options['prefill_chunk_size']} -o {q(str(out))}",
        # gen_config writes a generic chatml config; bioqwen's carries the system prompt.
        f"cp {q(str(config_file))} {q(str(out / 'mlc-chat-config.json'))}",
        f"mlc_llm compile {q(str(out / 'mlc-chat-config.json'))} --device android -o {q(str(lib))}",
    ]
