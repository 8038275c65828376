"""Terminal mode (`ui=cli`): prompts from stdin (or a given list), answers streamed model by model.

Each model's answer streams under its own header, followed by its latency, tokens/s and
language-fidelity flag. `/new` starts a new conversation, `/quit` or end of input ends.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TextIO

from bioqwen.chat.app import stats_line
from bioqwen.chat.conversation import Conversation
from bioqwen.errors import BioqwenError

HELP = "type a prompt and Enter; /new starts a new conversation, /quit (or Ctrl-D) ends"


def _stdin_prompts(inp: TextIO, out: TextIO) -> Iterator[str]:
    while True:
        out.write("\n> ")
        out.flush()
        line = inp.readline()
        if not line:
            return
        yield line.rstrip("\n")


def answer_one(
    conversation: Conversation, prompt: str, settings: Mapping[str, Any], out: TextIO
) -> None:
    """Stream every model's answer to one prompt, one model after the other."""
    models = conversation.models
    lang, _system = conversation.system_for(prompt)
    shown, headed = [0] * len(models), [False] * len(models)
    current = 0
    for answers in conversation.ask(prompt, settings):
        # Answers arriving for later models (parallel=true) wait until their turn is printed.
        while current < len(models):
            answer = answers[current]
            if not headed[current]:
                out.write(f"\n── {models[current].label} ──\n")
                headed[current] = True
            if answer.error:
                out.write(f"⚠ {answer.error}")
            else:
                out.write(answer.text[shown[current] :])
                shown[current] = len(answer.text)
            out.flush()
            if not answer.done:
                break
            out.write(f"\n[{stats_line(answer, lang)}]\n")
            current += 1


def run_terminal(
    conversation: Conversation,
    settings: Mapping[str, Any],
    prompts: Iterable[str] | None = None,
    inp: TextIO | None = None,
    out: TextIO | None = None,
) -> int:
    """Answer prompts (the given ones, else stdin lines) until they end; return turns answered."""
    # Looked up per call, not bound at import: sys.stdin/stdout may be replaced later.
    inp, out = inp or sys.stdin, out or sys.stdout
    labels = ", ".join(m.label for m in conversation.models)
    out.write(f"bioqwen chat: {labels}\n{HELP}\n")
    answered = 0
    for prompt in prompts if prompts is not None else _stdin_prompts(inp, out):
        command = prompt.strip()
        if command in ("/quit", "/exit"):
            break
        if command == "/new":
            conversation.reset()
            out.write("new conversation\n")
            continue
        try:
            answer_one(conversation, prompt, settings, out)
            answered += 1
        except BioqwenError as err:
            print(f"bioqwen: {err}", file=sys.stderr)
    out.write("\n")
    return answered
