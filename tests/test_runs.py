import json

import pytest

from bioqwen.runs import atomic_directory, atomic_write_json, stable_hash, write_metrics


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        (tmp / "half.txt").write_text("x")
        raise RuntimeError("boom")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_metrics_merge_and_hash_order_independent(tmp_path):
    write_metrics(tmp_path, {"a": 1})
    write_metrics(tmp_path, {"b": 2.5})
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"a": 1, "b": 2.5}
    assert stable_hash({"x": 1, "y": 2}) == stable_hash({"y": 2, "x": 1})
    atomic_write_json(tmp_path / "c.json", {"k": "中文"})
    assert "中文" in (tmp_path / "c.json").read_text(encoding="utf-8")


def test_cache_root_is_absolute_even_when_configured_relative(monkeypatch):
    from bioqwen.runs import cache_root

    monkeypatch.setenv("BIOQWEN_CACHE", "relative/cache")
    assert cache_root().is_absolute() and cache_root().parts[-2:] == ("relative", "cache")
