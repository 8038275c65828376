"""mlc-chat-config.json against MLC-LLM's documented schema, and the Android commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from bioqwen.data.chatml import prompt_text
from bioqwen.export import mlc
from tests.conftest import system_prompts

OPTIONS = {
    "quantization": "q4f16_1",
    "context_window_size": 2048,
    "prefill_chunk_size": 512,
    "temperature": 0.3,
    "top_p": 0.9,
    "repetition_penalty": 1.0,
    "system_prompt": system_prompts()["zh"],
    "model_id": "bioqwen-tiny",
    "dist_dir": "dist",
}


@pytest.fixture(scope="module")
def config(tiny_model_dir: Path) -> dict[str, Any]:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    stops = [tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    hf = json.loads((tiny_model_dir / "config.json").read_text())
    return mlc.chat_config(tiny_model_dir, hf, stops, tok.pad_token_id, OPTIONS)


def render(conv: dict[str, Any], messages: list[tuple[str, str | None]]) -> str:
    """MLC's Conversation.as_prompt for text messages, as its docstring specifies."""
    out = conv["system_template"].replace("{system_message}", conv["system_message"])
    seps = conv["seps"] * (3 - len(conv["seps"]))
    for role, content in messages:
        if content is None:
            out += conv["roles"][role] + conv["role_empty_sep"]
            continue
        body = conv["role_templates"][role].replace(f"{{{role}_message}}", content)
        out += conv["roles"][role] + conv["role_content_sep"] + body + seps[role == "assistant"]
    return out


def test_config_conforms_to_the_schema(config: dict[str, Any]) -> None:
    assert mlc.problems(config) == []
    assert config["quantization"] == "q4f16_1" and config["model_type"] == "qwen2"
    assert config["conv_template"]["stop_str"] == ["<|im_end|>", "<|endoftext|>"]
    assert config["tokenizer_files"] == ["tokenizer.json", "tokenizer_config.json"]
    assert config["model_config"]["tie_word_embeddings"] is True


def test_conversation_renders_bioqwen_chatml(config: dict[str, Any]) -> None:
    conv = config["conv_template"]
    question = "高血压患者在饮食上需要注意什么？"
    expected = prompt_text(
        [
            {"role": "system", "content": system_prompts()["zh"]},
            {"role": "user", "content": question},
        ]
    )
    assert render(conv, [("user", question), ("assistant", None)]) == expected


def test_stop_token_ids_are_im_end_and_endoftext(
    config: dict[str, Any], tiny_model_dir: Path
) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    names = tok.convert_ids_to_tokens(config["conv_template"]["stop_token_ids"])
    assert names == ["<|im_end|>", "<|endoftext|>"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda c: c.pop("conv_template"), "missing field conv_template"),
        (lambda c: c.update(vocab_size="1024"), "vocab_size: expected"),
        (lambda c: c.update(context_length=2048), "unknown field context_length"),
        (lambda c: c["conv_template"].update(seps=[]), "seps: must hold 1 or 2"),
        (lambda c: c["conv_template"]["roles"].pop("assistant"), "needs user and assistant"),
        (lambda c: c["conv_template"].update(stop_token_ids=[10**7]), "is not a token id"),
        (lambda c: c["model_config"].pop("rope_theta"), "model_config: missing rope_theta"),
    ],
)
def test_schema_check_catches_each_departure(
    config: dict[str, Any], change: Any, problem: str
) -> None:
    broken = json.loads(json.dumps(config))
    change(broken)
    assert any(problem in p for p in mlc.problems(broken)), mlc.problems(broken)


def test_android_commands(tiny_model_dir: Path) -> None:
    cmds = mlc.android_commands(tiny_model_dir, Path("run/mlc-chat-config.json"), OPTIONS)
    assert cmds[0].startswith(f"mlc_llm convert_weight {tiny_model_dir} --quantization q4f16_1")
    assert "--conv-template chatml" in cmds[1] and "--context-window-size 2048" in cmds[1]
    assert (
        cmds[2] == "cp run/mlc-chat-config.json dist/bioqwen-tiny-q4f16_1-MLC/mlc-chat-config.json"
    )
    assert cmds[3] == (
        "mlc_llm compile dist/bioqwen-tiny-q4f16_1-MLC/mlc-chat-config.json --device android "
        "-o dist/libs/bioqwen-tiny-q4f16_1-android.tar"
    )
