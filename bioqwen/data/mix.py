"""Mixing: per-source ratio and cap, deterministic shuffle and validation split from the seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from bioqwen.errors import BioqwenError

T = TypeVar("T")


def subsample(
    items: Sequence[T], ratio: float, cap: int | None, seed: int, name: str
) -> tuple[list[T], list[tuple[T, str]]]:
    """Keep a seeded `ratio` fraction of items, then at most `cap`; return kept and (item, reason).

    The kept items stay in their input order; the choice depends only on the seed, the source
    name and the number of items, so a re-run draws the same records.
    """
    if not 0 < ratio <= 1:
        raise BioqwenError(f"data.mix.sources.{name}.ratio={ratio}: expected 0 < ratio <= 1")
    if cap is not None and cap < 0:
        raise BioqwenError(f"data.mix.sources.{name}.cap={cap}: expected a count >= 0")
    rng = random.Random(f"{seed}:{name}")
    chosen = set(range(len(items)))
    dropped: list[tuple[T, str]] = []
    for target, reason in ((round(len(items) * ratio), "ratio_sample"), (cap, "over_cap")):
        if target is None or target >= len(chosen):
            continue
        keep = set(rng.sample(sorted(chosen), target))
        dropped += [(items[i], reason) for i in sorted(chosen - keep)]
        chosen = keep
    return [items[i] for i in sorted(chosen)], dropped


def validation_count(total: int, size: float) -> int:
    """Records held out: a fraction of total when size < 1, else a count; never all of them."""
    if size < 0:
        raise BioqwenError(f"data.mix.validation_size={size}: expected >= 0")
    if size == 0 or total < 2:
        return 0
    count = round(total * size) if size < 1 else int(size)
    return min(max(count, 1), total - 1)


def shuffle_split(items: Sequence[T], size: float, seed: int) -> tuple[list[T], list[T]]:
    """Shuffle with the seed and split into (train, validation)."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_val = validation_count(len(items), size)
    return [items[i] for i in order[n_val:]], [items[i] for i in order[:n_val]]
