"""Resumable generation: every finished batch is appended to the run's predictions.jsonl.

Each line names the item (index and id), the exact chat prompt and the generation (text,
timing, tokens); a line is flushed and fsynced with its batch, so a killed evaluation loses at
most the batch it was generating (a half-written last line is dropped). A resumed evaluation
reads the lines back, regenerates only the batches that are not complete, and the job then
replaces the file with the full records in item order. A line whose prompt differs from the
prompt of its item means the configuration changed since: an error, not a silent mix.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from bioqwen.errors import BioqwenError
from bioqwen.eval.generate import Generation
from bioqwen.runs import atomic_write_text

Append = Callable[[Sequence[int], Sequence[Generation]], None]


def load(path: Path, ids: Sequence[str], chats: Sequence[str]) -> dict[int, Generation]:
    """Generations already in the journal, by item index (empty when there is no journal)."""
    if not path.exists():
        return {}
    done: dict[int, Generation] = {}
    kept: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            break  # the line being written when the run was killed; later lines cannot exist
        index = entry.get("index")
        valid = isinstance(index, int) and 0 <= index < len(chats)
        if not valid or ids[index] != entry.get("id"):
            raise BioqwenError(
                f"{path}:{number}: resume: item {entry.get('id')!r} is not item {index} of "
                "this benchmark; resume with the same benchmark settings or use a new run dir"
            )
        if entry["chat_prompt"] != chats[index]:
            raise BioqwenError(
                f"{path}:{number}: resume: item {entry['id']!r} was generated for another "
                "prompt (model, template or benchmark settings changed); use a new run dir"
            )
        done[index] = Generation(
            entry["response"], entry["latency_s"], entry["batch_size"], entry["new_tokens"]
        )
        kept.append(line + "\n")
    # Drop a torn last line now, so the next append starts on a line of its own.
    atomic_write_text(path, "".join(kept))
    return done


def appender(path: Path, ids: Sequence[str], chats: Sequence[str]) -> Append:
    """A callback that appends one finished batch to the journal, durably."""

    def append(indices: Sequence[int], generations: Sequence[Generation]) -> None:
        lines = [
            json.dumps(
                {
                    "index": i,
                    "id": ids[i],
                    "chat_prompt": chats[i],
                    "response": g.text,
                    "latency_s": g.latency_s,
                    "batch_size": g.batch_size,
                    "new_tokens": g.new_tokens,
                },
                ensure_ascii=False,
            )
            + "\n"
            for i, g in zip(indices, generations, strict=True)
        ]
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(lines))
            handle.flush()
            os.fsync(handle.fileno())

    return append
