"""How big a training run is: samples and tokens of its mix, epochs, optimizer steps.

The mix's size comes from the data card of a prepared mix when one is there (`data_dir`: a
prepare run directory, or the cached dataset the train job would load), else, for the paper's
mixes, from the published sizes of their sources (paper Table 1, conf/paper/table1.yaml);
each size says which. Accumulation is the training code's own (bioqwen.train.accumulation);
optimizer steps follow transformers' Trainer: ceil(batches per process / accumulation) per
epoch, ceil(epochs x that) in all, or stage.max_steps when it is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioqwen.errors import BioqwenError
from bioqwen.runs import LINEAGE_FILE, read_json
from bioqwen.train.accumulation import accumulation_steps, packed_accumulation

CARD_JSON = "data_card.json"  # bioqwen.data.card.CARD_JSON (not imported: it pulls in readers)


@dataclass(frozen=True)
class MixSize:
    """The training split of a mix: samples, tokens, and where the numbers come from."""

    samples: int
    tokens: int
    source: str


@dataclass(frozen=True)
class Schedule:
    """Optimizer steps of a run and the arithmetic behind them."""

    steps: int
    epochs: float
    accumulation: int
    steps_per_epoch: int
    tokens: float  # tokens processed over the run (the training split times the epochs run)
    source: str


def find_card(data_dir: str | None) -> Path | None:
    """The data card of a prepared mix: in a prepare run dir, beside the cached dataset its
    lineage.json names, or beside a cached dataset directory itself."""
    if not data_dir:
        return None
    directory = Path(data_dir)
    candidates = [directory / CARD_JSON, directory.parent / CARD_JSON]
    lineage = directory / LINEAGE_FILE
    if lineage.is_file():
        named = read_json(lineage).get("dataset_path")
        if named:
            candidates.insert(1, Path(named).parent / CARD_JSON)
    return next((c for c in candidates if c.is_file()), None)


def card_size(card_path: Path) -> MixSize:
    """Training samples and tokens from a data card (tokens of the training split: the card's
    total times the split's share of the records)."""
    try:
        card = read_json(card_path)
        train, validation = int(card["splits"]["train"]), int(card["splits"]["validation"])
        total = int(card["total"]["tokens"])
    except (ValueError, KeyError, TypeError) as err:
        raise BioqwenError(f"{card_path}: not a data card ({err})") from err
    tokens = round(total * train / max(train + validation, 1))
    return MixSize(
        train,
        tokens,
        f"data card {card_path} (train split {train:,} of {train + validation:,} records; "
        f"its tokens = the card's {total / 1e6:.3f} M x that share)",
    )


def validation_count(size: float, cleaned: int) -> int:
    """Records the mix holds out (data.mix.validation_size: a count, or a fraction when < 1)."""
    return round(size * cleaned) if 0 < size < 1 else min(int(size), cleaned)


def paper_size(
    mix: Mapping[str, Any], rows: list[str], table1: Mapping[str, Any], where: str
) -> MixSize:
    """Training samples and tokens of a paper mix from Table 1's cleaned records and tokens."""
    published = table1["rows"]
    columns = list(table1["columns"])
    cleaned_at, tokens_at = columns.index("cleaned"), columns.index("tokens (M)")
    unknown = [r for r in rows if r not in published]
    if unknown:
        raise BioqwenError(f"{where}: Table 1 has no row {unknown[0]!r} (rows: {list(published)})")
    cleaned = sum(int(published[r][cleaned_at]) for r in rows)
    tokens = sum(float(published[r][tokens_at]) * 1e6 for r in rows)
    held = validation_count(float(mix["validation_size"]), cleaned)
    train = cleaned - held
    return MixSize(
        train,
        round(tokens * train / cleaned),
        f"estimated from the sources' published sizes, paper Table 1 (conf/paper/table1.yaml): "
        f"{'+'.join(rows)} = {cleaned:,} cleaned records, {tokens / 1e6:.1f} M tokens, less "
        f"{held:,} held out for validation; no data card of mix {mix['name']}",
    )


def mix_size(
    cfg: Mapping[str, Any], data_dir: str | None, paper_mixes: Mapping[str, list[str]], table1: Any
) -> MixSize:
    """The training split's size from a data card, else from Table 1 for a paper mix."""
    card = find_card(data_dir)
    if card is not None:
        return card_size(card)
    mix = cfg["data"]["mix"]
    if mix["name"] in paper_mixes:
        return paper_size(mix, list(paper_mixes[mix["name"]]), table1, f"data/mix={mix['name']}")
    looked = f" (data_dir={data_dir} holds none)" if data_dir else ""
    raise BioqwenError(
        f"data/mix={mix['name']}: no data card{looked} and no published size for this mix: "
        f"run `bioqwen prepare data/mix={mix['name']}` and plan with data_dir=<its run dir>"
    )


def schedule(stage: Mapping[str, Any], world: int, size: MixSize) -> Schedule:
    """Optimizer steps of a stage on `world` processes over a mix of `size`, as the trainer
    takes them (packed: the bins estimated from the mean sample length)."""
    per_device = int(stage["per_device_batch_size"])
    mean = size.tokens / max(size.samples, 1)
    if stage["batching"] == "packed":
        # TRL's best-fit packing fills bins of short samples almost full; the run measures it.
        per_bin = max(1.0, float(stage["max_length"]) / max(mean, 1.0))
        accumulation = packed_accumulation(stage, world, per_bin)
        rows = math.ceil(size.samples / per_bin)
        how = (
            f"packed: ~{per_bin:.2f} samples per bin (max_length {stage['max_length']} / mean "
            f"sample {mean:.0f} tokens, estimated; the run measures it), "
        )
    else:
        accumulation, rows, how = accumulation_steps(stage, world), size.samples, ""
    batches = math.ceil(math.ceil(rows / per_device) / world)  # per process
    per_epoch = max(math.ceil(batches / accumulation), 1)
    max_steps = int(stage["max_steps"])
    steps = max_steps if max_steps > 0 else math.ceil(float(stage["epochs"]) * per_epoch)
    epochs = steps / per_epoch
    plural = "es" if world > 1 else ""
    source = (
        f"{how}{per_device} per device x {accumulation} accumulation x {world} process{plural} "
        f"(stage.effective_batch_size={stage['effective_batch_size']}); "
        f"{per_epoch:,} steps per epoch"
        + (f"; stage.max_steps={max_steps}" if max_steps > 0 else f" x {stage['epochs']} epochs")
    )
    return Schedule(steps, epochs, accumulation, per_epoch, size.tokens * epochs, source)
