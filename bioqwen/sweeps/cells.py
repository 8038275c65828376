"""Seed replicates of a sweep cell: mean, standard deviation, a 95 % t-interval, and whether a
cell's difference from the best cell is within seed noise (Welch's t-interval of the
difference contains 0). Lower values are better (the sweep metrics are losses)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

LEVEL = 0.95
BEST, NOISE, WORSE = "best", "within noise", "worse"


@dataclass(frozen=True)
class CellStats:
    """One cell's replicate values and what they say."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        """How many replicates finished."""
        return len(self.values)

    @property
    def mean(self) -> float:
        """Mean over the replicates (nan without any)."""
        return sum(self.values) / self.n if self.n else math.nan

    @property
    def sd(self) -> float:
        """Sample standard deviation (nan below two replicates)."""
        if self.n < 2:
            return math.nan
        return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))

    @property
    def half_width(self) -> float:
        """Half the 95 % t-interval of the mean (nan below two replicates)."""
        if self.n < 2:
            return math.nan
        return float(stats.t.ppf(0.5 + LEVEL / 2, self.n - 1)) * self.sd / math.sqrt(self.n)

    @property
    def interval(self) -> tuple[float, float]:
        """The 95 % t-interval of the mean."""
        return self.mean - self.half_width, self.mean + self.half_width


def within_noise(cell: CellStats, best: CellStats) -> bool | None:
    """Whether the 95 % Welch interval of cell - best contains 0; None below two replicates."""
    if cell.n < 2 or best.n < 2:
        return None
    a, b = cell.sd**2 / cell.n, best.sd**2 / best.n
    diff = cell.mean - best.mean
    if a + b == 0:
        return diff == 0
    df = (a + b) ** 2 / (a**2 / (cell.n - 1) + b**2 / (best.n - 1))
    return abs(diff) <= float(stats.t.ppf(0.5 + LEVEL / 2, df)) * math.sqrt(a + b)


def verdicts(cells: Sequence[CellStats]) -> list[str]:
    """Per cell: `best` (lowest mean), `within noise` of it, `worse`, or "" (too few replicates
    or no value)."""
    finished = [c for c in cells if c.n]
    if not finished:
        return [""] * len(cells)
    best = min(finished, key=lambda c: c.mean)
    out = []
    for cell in cells:
        if cell is best:
            out.append(BEST)
            continue
        close = within_noise(cell, best) if cell.n else None
        out.append("" if close is None else NOISE if close else WORSE)
    return out
