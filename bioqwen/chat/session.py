"""Chat models: a `models=[...]` entry -> a loaded model that streams an answer.

An entry is a training run directory (its merged or adapter model), a model or adapter directory,
a `.gguf` file (llama-cpp-python), a model config name from conf/model/ (`tiny`, `qwen2_0_5b`),
or a hub id. Entries are checked before anything is loaded, so a typo costs no model load.
Transformers models stream through a `TextIteratorStreamer` fed by `generate()` on a worker
thread; GGUF models through llama.cpp's own streaming completion. Both go through the eval
generation helpers (prompt rendering, stop tokens, greedy or sampling settings).
"""

from __future__ import annotations

import importlib.util
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bioqwen.checkout import compose, plain
from bioqwen.errors import BioqwenError
from bioqwen.eval import generate, loading
from bioqwen.models import hub_offline, locate, reference_kind, resolve_model
from bioqwen.runs import RUN_MODEL_DIRS

BUILTIN_TEMPLATE = "ChatML (built in)"


@dataclass
class Answer:
    """One model's answer to one prompt as it streams, with its timing."""

    text: str = ""
    new_tokens: int = 0
    latency_s: float = 0.0
    first_token_s: float | None = None
    done: bool = False
    error: str | None = None

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second of this answer's wall time."""
        return self.new_tokens / self.latency_s if self.latency_s > 0 else 0.0


def model_spec(entry: str) -> dict[str, Any]:
    """Check one `models=[...]` entry and return its model config (nothing is loaded).

    What the entry names is bioqwen.models' rule (`reference_kind`, hub ids taken).
    """
    text = str(entry).strip()
    path = Path(text).expanduser()
    kind = reference_kind(text, hub_ids=True)
    if kind == "gguf":
        return _gguf_spec(path)
    if kind == "config":
        return _conf_model(text)
    if kind == "path" and path.is_file():
        raise BioqwenError(f"models: {text} is a file, not a model directory or a .gguf file")
    if kind == "path" and path.exists():
        locate(path, "models", adapters=True)  # raises naming what is missing
        return {
            **_conf_model("tiny"),
            "init": "pretrained",
            "name": _label(path),
            "path": str(path),
        }
    if kind == "hub":
        _check_hub_cache(text)
        return {**_conf_model("tiny"), "init": "pretrained", "name": text, "hub_id": text}
    raise BioqwenError(
        f"models: {text}: no such file or directory, and not a model name in conf/model/ "
        "or a hub id (owner/name)"
    )


def _conf_model(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml composed by Hydra, as the other jobs get it.

    A directory or hub id takes the settings of the default model (as `evaluate model.path=`
    does), loaded from there rather than built (init=pretrained).
    """
    model: dict[str, Any] = plain(compose(f"model/{name}").model)
    return model


def _label(path: Path) -> str:
    # A run directory's model lies in its merged or adapter folder: the run's name says more.
    return path.resolve().parent.name if path.name in RUN_MODEL_DIRS else path.name


def _gguf_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BioqwenError(f"models: {path}: no such GGUF file")
    with open(path, "rb") as handle:
        if handle.read(4) != b"GGUF":
            raise BioqwenError(f"models: {path}: not a GGUF file (no GGUF magic bytes)")
    if importlib.util.find_spec("llama_cpp") is None:
        raise BioqwenError(
            f"models: {path}: GGUF models need llama-cpp-python (pip install llama-cpp-python)"
        )
    return {"name": path.name, "gguf": str(path)}


def _check_hub_cache(hub_id: str) -> None:
    if not hub_offline():
        return
    from huggingface_hub import try_to_load_from_cache

    if not isinstance(try_to_load_from_cache(hub_id, "config.json"), str):
        raise BioqwenError(
            f"models: {hub_id}: not a local path, and as a hub id it is not in the local cache "
            "(HF_HUB_OFFLINE is set); download it first or pass its directory"
        )


@dataclass
class ChatModel:
    """A loaded model with its display label and chat template."""

    label: str
    spec: dict[str, Any]
    model: Any
    tokenizer: Any = None
    template: str = BUILTIN_TEMPLATE
    source: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def stream(
        self, messages: Sequence[Mapping[str, str]], settings: Mapping[str, Any]
    ) -> Iterator[Answer]:
        """Generate an answer, yielding the growing Answer after each piece of text."""
        answer = Answer()
        start = time.perf_counter()
        pieces = self._gguf_pieces if self.tokenizer is None else self._hf_pieces
        with self.lock:  # one generation per model at a time, whoever asks
            for piece, tokens in pieces(messages, settings):
                if answer.first_token_s is None and piece:
                    answer.first_token_s = time.perf_counter() - start
                answer.text += piece
                answer.new_tokens = tokens or answer.new_tokens
                answer.latency_s = time.perf_counter() - start
                yield answer
        answer.text = answer.text.strip()
        answer.latency_s = time.perf_counter() - start
        answer.done = True
        yield answer

    def _hf_pieces(
        self, messages: Sequence[Mapping[str, str]], settings: Mapping[str, Any]
    ) -> Iterator[tuple[str, int]]:
        import torch
        from transformers import TextIteratorStreamer

        prompt = generate.render_prompt(self.tokenizer, messages)
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        enc = {k: v.to(self.model.device) for k, v in enc.items()}
        kwargs = generate.generation_kwargs(self.model, self.tokenizer, settings)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                torch.manual_seed(int(settings.get("seed", 42)))
                with torch.inference_mode():
                    result["out"] = self.model.generate(**enc, **kwargs, streamer=streamer)
            except Exception as err:  # surfaced in the answer; the streamer must still end
                result["error"] = err
                streamer.end()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        for piece in streamer:
            yield piece, 0
        worker.join()
        if "error" in result:
            raise result["error"]
        stops = set(kwargs["generation_config"].eos_token_id)
        new = result["out"][0, enc["input_ids"].shape[1] :].tolist()
        kept = next((i for i, token in enumerate(new) if token in stops), len(new))
        yield "", kept

    def _gguf_pieces(
        self, messages: Sequence[Mapping[str, str]], settings: Mapping[str, Any]
    ) -> Iterator[tuple[str, int]]:
        sample = bool(settings.get("do_sample", False))
        chunks = self.model.create_chat_completion(
            messages=[dict(m) for m in messages],
            stream=True,
            max_tokens=int(settings.get("max_new_tokens", 512)),
            temperature=float(settings.get("temperature", 1.0)) if sample else 0.0,
            top_p=float(settings.get("top_p", 1.0)) if sample else 1.0,
            repeat_penalty=float(settings.get("repetition_penalty", 1.0)),
            seed=int(settings.get("seed", 42)),
        )
        count = 0
        for chunk in chunks:
            piece = chunk["choices"][0]["delta"].get("content") or ""
            count += bool(piece)  # llama.cpp streams one token per chunk
            yield piece, count


def load_model(spec: Mapping[str, Any], device: str = "auto", n_ctx: int = 0) -> ChatModel:
    """Load a checked model config (see model_spec) for chatting."""
    label = str(spec.get("name") or spec.get("path") or spec.get("hub_id"))
    if spec.get("gguf"):
        from bioqwen.export import gguf

        llm = gguf.load(Path(spec["gguf"]), n_ctx=n_ctx)  # n_ctx 0: the trained context
        template = str(llm.metadata.get("tokenizer.chat_template") or BUILTIN_TEMPLATE)
        return ChatModel(label, dict(spec), llm, None, template, str(spec["gguf"]))
    model, tokenizer = loading.load_for_generation(spec, device)
    template = str(tokenizer.chat_template or BUILTIN_TEMPLATE)
    source = resolve_model(spec, adapters=True)
    return ChatModel(label, dict(spec), model, tokenizer, template, source)


def template_warning(models: Sequence[ChatModel]) -> str | None:
    """A warning when the models format prompts with different chat templates."""
    groups: dict[str, list[str]] = {}
    for model in models:
        groups.setdefault(model.template.strip(), []).append(model.label)
    if len(groups) < 2:
        return None
    names = "; ".join(" + ".join(labels) for labels in groups.values())
    return (
        f"the models use {len(groups)} different chat templates ({names}): the same prompt "
        "reaches them formatted differently, so answers are not strictly comparable"
    )
