"""Shared helpers for the data tests: the real tokenizer, the samples, raw-file writers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from bioqwen.data.tokenizer import load_qwen_tokenizer

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"


@cache
def qwen() -> PreTrainedTokenizerBase:
    """The real Qwen1.5 tokenizer, loaded once per process (hypothesis needs no fixture)."""
    return load_qwen_tokenizer("qwen1_5")


def ntok(text: str) -> int:
    """Real Qwen token count of text."""
    return len(qwen()(text, add_special_tokens=False)["input_ids"])


def write_lines(path: Path, lines: list[Any]) -> Path:
    """Write JSON objects (or raw str/bytes lines) one per line."""
    with open(path, "wb") as handle:
        for line in lines:
            if isinstance(line, bytes):
                handle.write(line + b"\n")
            elif isinstance(line, str):
                handle.write(line.encode("utf-8") + b"\n")
            else:
                handle.write(json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n")
    return path


def qa(instruction: str, output: str, input_text: str = "") -> dict[str, str]:
    """An instruction-format (MedChatZH) object."""
    return {"instruction": instruction, "input": input_text, "output": output}
