"""One side-by-side conversation: every model answers the same prompt, each with its own history.

The system prompt is chosen by the prompt's detected language (the authors' prompts, editable).
Every finished turn is appended to `conversations.jsonl` in the run directory (one JSON object
per line, flushed at once, so a stopped chat keeps every answered turn) and kept as rows for
the W&B table the job logs when it ends. A model that fails on one prompt gets the error as its
answer; the others and the next prompt are unaffected.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bioqwen.chat.session import Answer, ChatModel
from bioqwen.errors import BioqwenError
from bioqwen.eval.language import detect_language, other_scripts

TABLE_COLUMNS = [
    "conversation",
    "turn",
    "model",
    "prompt_lang",
    "prompt",
    "answer",
    "latency_s",
    "new_tokens",
    "tokens_per_s",
    "answer_lang",
    "fidelity_ok",
]


def fidelity(prompt_lang: str | None, text: str) -> dict[str, Any]:
    """Answer language, scripts other than Latin/Han/Greek, and whether both look right."""
    lang = detect_language(text)
    scripts = sorted(other_scripts(text))
    ok = not scripts and (prompt_lang is None or lang in (None, prompt_lang))
    return {"answer_lang": lang, "other_scripts": scripts, "fidelity_ok": ok}


def fidelity_note(prompt_lang: str | None, text: str) -> str:
    """A short human-readable flag: empty when the answer is in the prompt's language."""
    info = fidelity(prompt_lang, text)
    notes = []
    if prompt_lang and info["answer_lang"] not in (None, prompt_lang):
        notes.append(f"answered in {info['answer_lang']}, prompt in {prompt_lang}")
    if info["other_scripts"]:
        notes.append("other scripts: " + ", ".join(s.lower() for s in info["other_scripts"]))
    return "; ".join(notes)


@dataclass
class Conversation:
    """The models, their histories, the system prompts and the transcript of one chat."""

    models: list[ChatModel]
    system_prompts: dict[str, str]
    transcript: Path
    parallel: bool = False
    histories: list[list[dict[str, str]]] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    number: int = 1
    turn: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.histories = [[] for _ in self.models]

    def reset(self) -> None:
        """Start a new conversation (histories cleared; the transcript keeps the old one)."""
        self.histories = [[] for _ in self.models]
        self.number += 1
        self.turn = 0

    def system_for(
        self, prompt: str, prompts: Mapping[str, str] | None = None
    ) -> tuple[str | None, str]:
        """The prompt's language and the system prompt for it ('' when there is none)."""
        lang = detect_language(prompt)
        table = {**self.system_prompts, **(prompts or {})}
        return lang, str(table.get(lang or "", "") or table.get("en", "") or "")

    def ask(
        self,
        prompt: str,
        settings: Mapping[str, Any],
        system_prompts: Mapping[str, str] | None = None,
    ) -> Iterator[list[Answer]]:
        """Stream every model's answer to prompt; the last yield has all answers done."""
        prompt = prompt.strip()
        if not prompt:
            raise BioqwenError("the prompt is empty: type a question or pick an example")
        with self.lock:  # one turn at a time: histories and the transcript stay in order
            lang, system = self.system_for(prompt, system_prompts)
            head = [{"role": "system", "content": system}] if system else []
            turns = [[*head, *h, {"role": "user", "content": prompt}] for h in self.histories]
            answers = [Answer() for _ in self.models]
            yield from self._stream(turns, settings, answers)
            self._record(prompt, lang, system, settings, answers)

    def _stream(
        self, turns: list[list[dict[str, str]]], settings: Mapping[str, Any], answers: list[Answer]
    ) -> Iterator[list[Answer]]:
        events: queue.Queue[tuple[int, Answer]] = queue.Queue()

        def work(indices: Sequence[int]) -> None:
            for i in indices:
                try:
                    for answer in self.models[i].stream(turns[i], settings):
                        # A copy: the model keeps growing its Answer while this one waits.
                        events.put((i, replace(answer)))
                except Exception as err:  # one model's failure must not end the turn
                    events.put((i, Answer(error=f"{type(err).__name__}: {err}", done=True)))

        groups = (
            [[i] for i in range(len(self.models))] if self.parallel else [range(len(self.models))]
        )
        for indices in groups:
            threading.Thread(target=work, args=(list(indices),), daemon=True).start()
        while not all(a.done for a in answers):
            i, answer = events.get()
            answers[i] = answer
            yield list(answers)

    def _record(
        self,
        prompt: str,
        lang: str | None,
        system: str,
        settings: Mapping[str, Any],
        answers: Sequence[Answer],
    ) -> None:
        self.turn += 1
        entries = []
        for model, history, answer in zip(self.models, self.histories, answers, strict=True):
            if answer.error is None:
                history += [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": answer.text},
                ]
            entry = {
                "model": model.label,
                "source": model.source,
                "text": answer.text,
                "error": answer.error,
                "latency_s": round(answer.latency_s, 4),
                "first_token_s": answer.first_token_s,
                "new_tokens": answer.new_tokens,
                "tokens_per_s": round(answer.tokens_per_s, 3),
                **fidelity(lang, answer.text),
            }
            entries.append(entry)
            self.rows.append(
                [self.number, self.turn, model.label, lang, prompt, answer.error or answer.text]
                + [entry[k] for k in TABLE_COLUMNS[6:]]
            )
        record = {
            "conversation": self.number,
            "turn": self.turn,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "prompt": prompt,
            "prompt_lang": lang,
            "system": system,
            "settings": dict(settings),
            "answers": entries,
        }
        with open(self.transcript, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    def metrics(self) -> dict[str, float]:
        """Turns answered and, per model, mean tokens/s and the share of faithful answers."""
        out: dict[str, float] = {"turns": float(len(self.rows) // max(1, len(self.models)))}
        for model in self.models:
            mine = [r for r in self.rows if r[2] == model.label]
            if mine:
                out[f"{model.label}/tokens_per_s"] = sum(r[8] for r in mine) / len(mine)
                out[f"{model.label}/language_fidelity"] = sum(bool(r[10]) for r in mine) / len(mine)
        return out
