"""Seed replicates of a cell: mean, sd, the 95 % t-interval and the within-noise verdict."""

from __future__ import annotations

import math

import pytest

from bioqwen.sweeps.cells import BEST, NOISE, WORSE, CellStats, verdicts, within_noise


def test_two_seeds_give_the_t_interval_with_one_degree_of_freedom() -> None:
    cell = CellStats((1.0, 3.0))
    assert (cell.n, cell.mean, cell.sd) == (2, 2.0, pytest.approx(math.sqrt(2)))
    # t(0.975, 1) = 12.706: two seeds make a wide interval, as they should
    assert cell.interval == pytest.approx((2.0 - 12.7062, 2.0 + 12.7062), abs=1e-3)


def test_three_seeds() -> None:
    low, high = CellStats((5.0, 5.2, 5.4)).interval  # sd 0.2, t(0.975, 2) = 4.303
    assert (low, high) == pytest.approx((5.2 - 4.3027 * 0.2 / math.sqrt(3),
                                         5.2 + 4.3027 * 0.2 / math.sqrt(3)), abs=1e-4)  # fmt: skip


def test_one_seed_has_no_spread() -> None:
    cell = CellStats((4.0,))
    assert cell.mean == 4.0 and math.isnan(cell.sd) and math.isnan(cell.half_width)
    assert within_noise(cell, CellStats((3.0, 3.1))) is None


def test_cells_are_best_within_noise_or_worse() -> None:
    best = CellStats((5.00, 5.02))
    close = CellStats((5.01, 5.05))  # overlaps the best within seed noise
    far = CellStats((6.00, 6.01))  # 1.0 above with sd ~0.01: not noise
    single = CellStats((5.5,))
    empty = CellStats(())
    assert verdicts([close, best, far, single, empty]) == [NOISE, BEST, WORSE, "", ""]
    assert verdicts([empty]) == [""]


def test_identical_seeds_are_noise_only_when_equal() -> None:
    assert within_noise(CellStats((2.0, 2.0)), CellStats((2.0, 2.0))) is True
    assert within_noise(CellStats((2.1, 2.1)), CellStats((2.0, 2.0))) is False
