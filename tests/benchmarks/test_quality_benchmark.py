"""The reward-scoring benchmark runs both paths on the real tokenizer and agrees on scores."""

from __future__ import annotations

from tests.benchmarks import load


def test_scoring_benchmark_compares_both_paths_on_the_same_records(capsys) -> None:
    bench = load("quality_scoring")
    result = bench.main(["--records", "6", "--layers", "1", "--batch-size", "4"])
    assert result["worst"] < 1e-3  # batching did not change a reward
    assert result["ratio"] > 0 and result["batches"] >= 2
    assert all(rate > 0 for rate in result["gflops"].values())
    out = capsys.readouterr().out
    assert "6 records" in out and "ratio:" in out and "GFLOP/s" in out
