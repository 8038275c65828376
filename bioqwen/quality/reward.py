"""Reward scoring with any sequence-classification model, resumable, in length-sorted batches.

Scores go to a JSON Lines file `{"id", "score"}` (what `prepare` reads through
data.filters.quality), appended and fsync'ed after every batch: a killed run leaves every
finished batch on disk, and the next run over the same file scores only the rest. The scorer
(name, revision, template, truncation) is recorded beside it in `<file>.lineage.json`, so a
resumed run cannot mix two scorers' numbers in one file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.data.clean import add_score
from bioqwen.data.sources import Record
from bioqwen.errors import BioqwenError
from bioqwen.models import spec_source
from bioqwen.quality.records import fill, lengths
from bioqwen.runs import atomic_write_json, parse_json, read_json, stable_hash

LINEAGE_SUFFIX = ".lineage.json"
# A record joins a batch only if padding it to the batch's longest costs at most this share of
# its padded length: in the long tail of answer lengths a full batch would be mostly padding,
# which costs as much compute as real tokens (CPU) or memory (GPU).
MAX_PADDING = 0.25


@dataclass
class Scorer:
    """A loaded reward model, its tokenizer and what identifies its scores."""

    model: Any
    tokenizer: Any
    device: Any
    identity: dict[str, Any]
    template: str
    max_length: int


def model_identity(spec: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Name and revision of a model: hub id + revision, or a local directory + a fingerprint
    of its config and weight files (names, sizes), cheap even for a 7B checkpoint."""
    source = spec_source(spec, key)
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        config = (path / "config.json").read_text(encoding="utf-8")
        fingerprint = stable_hash([config, [(p.name, p.stat().st_size) for p in files]])
        return {"name": str(path.resolve()), "revision": f"local:{fingerprint}"}
    return {"name": source, "revision": spec.get("revision") or "main"}


def pick_device(device: str) -> Any:
    """torch device for 'auto' (CUDA when present), 'cpu', 'cuda', 'cuda:1'..."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: Any) -> Any:
    """torch dtype for 'auto' (bfloat16 on a GPU, float32 on a CPU) or a dtype name."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, dtype)


def _cannot_load(source: str, key: str, err: Exception) -> BioqwenError:
    return BioqwenError(f"{key}: cannot load {source} ({str(err).splitlines()[0]})")


def load_scorer(spec: Mapping[str, Any], device: Any, key: str = "scorer") -> Scorer:
    """Load a reward model; refuse anything that is not a one-output sequence classifier."""
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    source = spec_source(spec, key)
    common = {
        "revision": spec.get("revision"),
        "trust_remote_code": bool(spec["trust_remote_code"]),
    }
    try:
        config = AutoConfig.from_pretrained(source, **common)
    except (OSError, ValueError) as err:
        raise _cannot_load(source, key, err) from err
    architectures = list(getattr(config, "architectures", None) or [])
    auto_map = getattr(config, "auto_map", None) or {}
    # A causal LM loads as a classifier too, with a freshly initialised head: refuse it by name.
    if "AutoModelForSequenceClassification" not in auto_map and not any(
        a.endswith("ForSequenceClassification") for a in architectures
    ):
        raise BioqwenError(
            f"{key}: {source} is not a sequence classifier (architectures {architectures}); "
            "a reward model loads with AutoModelForSequenceClassification and has one output"
        )
    if config.num_labels != 1:
        raise BioqwenError(f"{key}: {source} has {config.num_labels} labels; a reward model has 1")
    positions = getattr(config, "max_position_embeddings", None)
    if positions and int(spec["max_length"]) > positions:
        raise BioqwenError(
            f"{key}.max_length={spec['max_length']}: {source} takes at most {positions} tokens"
        )
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=pick_dtype(str(spec["dtype"]), device), **common
        )
        tokenizer = AutoTokenizer.from_pretrained(
            source, **common, **dict(spec.get("tokenizer_kwargs") or {})
        )
    except (OSError, ValueError) as err:
        raise _cannot_load(source, key, err) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as the Ziya reward model's own example
    # Right padding: decoder classifiers pool the last non-pad token and keep true positions.
    tokenizer.padding_side = "right"
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    identity = model_identity(spec, key)
    identity["commit"] = getattr(config, "_commit_hash", None)
    return Scorer(
        model.to(device).eval(),
        tokenizer,
        device,
        identity,
        str(spec["template"]),
        int(spec["max_length"]),
    )


def lineage_of(scorer: Scorer) -> dict[str, Any]:
    """What must match for two runs to write into one score file."""
    return {
        "scorer": {k: scorer.identity[k] for k in ("name", "revision")},
        "template": scorer.template,
        "max_length": scorer.max_length,
    }


def read_scores(path: Path, known: Sequence[str]) -> tuple[dict[str, float], int]:
    """Scores already in a file, validated against the known record ids; and the byte length
    of its complete lines (a line torn by a kill, with no newline, is not counted)."""
    allowed = set(known)
    scores: dict[str, float] = {}
    good = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                break  # torn tail of a killed run: rescored, never half-trusted
            good += len(raw)
            if not raw.strip():
                continue
            try:
                obj = parse_json(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                raise BioqwenError(f"{path}:{number}: malformed JSON ({err})") from err
            if not isinstance(obj, dict) or "id" not in obj or "score" not in obj:
                raise BioqwenError(f"{path}:{number}: expected an object with 'id' and 'score'")
            rid, value = str(obj["id"]), obj["score"]
            if rid not in allowed:
                raise BioqwenError(f"{path}:{number}: record {rid} is not in the scored sources")
            add_score(scores, rid, value, f"{path}:{number}")
    return scores, good


def check_lineage(path: Path, expected: Mapping[str, Any]) -> None:
    """Refuse to continue a score file that another scorer, template or truncation wrote."""
    lineage_path = path.with_name(path.name + LINEAGE_SUFFIX)
    if not lineage_path.exists():
        raise BioqwenError(f"{path} exists without {lineage_path.name}: its scorer is unknown")
    found = {k: read_json(lineage_path).get(k) for k in expected}
    if found != dict(expected):
        raise BioqwenError(
            f"{path} was written with {found}, this run uses {dict(expected)}: "
            "score into a new run directory"
        )


def write_lineage(path: Path, scorer: Scorer, **extra: Any) -> None:
    """Record the scorer beside the score file (atomically)."""
    lineage = {**lineage_of(scorer), "commit": scorer.identity.get("commit"), **extra}
    atomic_write_json(path.with_name(path.name + LINEAGE_SUFFIX), lineage)


def texts_of(records: Sequence[Record], template: str) -> list[str]:
    """Scorer inputs: records filled into the template (paper: Human:, query, Assistant:, reply)."""
    return [fill(template, r, "scorer.template") for r in records]


def plan(
    scorer: Scorer, ids: Sequence[str], texts: Sequence[str], batch_size: int, max_tokens: int
) -> list[list[int]]:
    """Batches of indices, longest records first, so a batch pads little and an out-of-memory
    batch shows in the first minute; a batch holds at most batch_size records, at most
    max_tokens tokens once padded, and records at most MAX_PADDING shorter than its longest.
    Every text is tokenized here once (a bad one is named)."""
    counts = lengths(
        scorer.tokenizer,
        ids,
        texts,
        "the scorer's tokenizer",
        truncation=True,
        max_length=scorer.max_length,
    )
    batches: list[list[int]] = []
    for i in sorted(range(len(ids)), key=lambda i: -counts[i]):
        # Sorted longest first: the batch's first record sets its padded length.
        last = batches[-1] if batches else []
        if (
            0 < len(last) < batch_size
            and (len(last) + 1) * counts[last[0]] <= max_tokens
            and counts[i] >= (1 - MAX_PADDING) * counts[last[0]]
        ):
            last.append(i)
        else:
            batches.append([i])
    return batches


def score_texts(scorer: Scorer, texts: Sequence[str]) -> list[float]:
    """One padded forward pass over a batch of texts; one reward per text."""
    import torch

    batch = scorer.tokenizer(
        list(texts),
        padding=True,
        truncation=True,
        max_length=scorer.max_length,
        return_tensors="pt",
    ).to(scorer.device)
    with torch.inference_mode():
        out = scorer.model(**batch)
    logits = getattr(out, "logits", out)
    logits = logits[0] if isinstance(logits, tuple) else logits
    return [float(x) for x in logits.float().reshape(len(texts), -1)[:, 0].cpu()]


def score_into(
    scorer: Scorer,
    path: Path,
    ids: Sequence[str],
    texts: Sequence[str],
    batches: Sequence[Sequence[int]],
    done: int = 0,
) -> int:
    """Score the planned batches of texts, appending `{"id", "score"}` lines to path after each
    batch (flushed and fsync'ed); returns how many were scored."""
    from tqdm import tqdm

    scored = 0
    with (
        open(path, "a", encoding="utf-8") as out,
        tqdm(
            total=done + sum(map(len, batches)), initial=done, desc="score-data", unit=" rec"
        ) as bar,
    ):
        for batch in batches:
            values = score_texts(scorer, [texts[i] for i in batch])
            for i, value in zip(batch, values, strict=True):
                if not math.isfinite(value):
                    raise BioqwenError(f"record {ids[i]}: the scorer returned {value}")
            out.write(
                "".join(
                    json.dumps({"id": ids[i], "score": round(v, 6)}) + "\n"
                    for i, v in zip(batch, values, strict=True)
                )
            )
            out.flush()
            os.fsync(out.fileno())
            scored += len(batch)
            bar.update(len(batch))
    return scored


def authors_loop(scorer: Scorer, texts: Sequence[str]) -> list[float]:
    """The reference: one record per forward pass, in file order (the Ziya model card's usage)."""
    return [score_texts(scorer, [text])[0] for text in texts]
