import pytest

from bioqwen.data.mix import shuffle_split, subsample, validation_count
from bioqwen.errors import BioqwenError


def test_subsample_ratio_then_cap_is_seeded_and_ordered():
    items = list(range(100))
    kept, dropped = subsample(items, 0.5, 20, seed=1, name="s")
    assert len(kept) == 20 and kept == sorted(kept)
    reasons = [r for _, r in dropped]
    assert reasons.count("ratio_sample") == 50 and reasons.count("over_cap") == 30
    assert sorted(kept + [i for i, _ in dropped]) == items
    assert subsample(items, 0.5, 20, seed=1, name="s")[0] == kept
    assert subsample(items, 0.5, 20, seed=2, name="s")[0] != kept
    assert subsample(items, 0.5, 20, seed=1, name="t")[0] != kept


def test_subsample_keeps_everything_by_default():
    assert subsample([3, 1, 2], 1.0, None, 0, "s") == ([3, 1, 2], [])
    assert subsample([3, 1, 2], 1.0, 5, 0, "s") == ([3, 1, 2], [])


@pytest.mark.parametrize(("ratio", "cap"), [(0.0, None), (1.5, None), (1.0, -1)])
def test_subsample_rejects_bad_settings(ratio, cap):
    with pytest.raises(BioqwenError, match=r"data\.mix\.sources\.s\."):
        subsample([1], ratio, cap, 0, "s")


def test_validation_count_fraction_or_count():
    assert validation_count(1000, 0.1) == 100
    assert validation_count(1000, 500) == 500
    assert validation_count(10, 500) == 9  # never everything
    assert validation_count(10, 0.01) == 1  # asked for some: at least one
    assert validation_count(10, 0) == 0
    with pytest.raises(BioqwenError):
        validation_count(10, -1)


def test_shuffle_split_is_deterministic_and_disjoint():
    items = list(range(50))
    train, val = shuffle_split(items, 0.2, seed=42)
    assert len(val) == 10 and sorted(train + val) == items
    assert shuffle_split(items, 0.2, seed=42) == (train, val)
    assert shuffle_split(items, 0.2, seed=43) != (train, val)
