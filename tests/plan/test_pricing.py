"""What a plan prices every run against, and how one priced run reads."""

from __future__ import annotations

from pathlib import Path

from bioqwen.checkout import compose, plain
from bioqwen.plan import pricing


def test_the_price_context_holds_the_papers_tokens_per_stage_and_no_measurements(
    tmp_path: Path,
) -> None:
    paper = plain(compose("plan", [], "test").paper)
    context = pricing.price_context(paper, [str(tmp_path / "no-runs")], str(tmp_path / "no.json"))
    # Stage 2's mix holds stage 1's rows and more (paper Table 1).
    assert 0 < context["paper_tokens"]["stage1"] < context["paper_tokens"]["stage2"]
    assert context["runs"] == [] and set(context) >= {"table1", "hours", "table"}


def test_a_priced_run_reads_its_sources_and_the_wall_clock_hours_per_gpu() -> None:
    row = {
        "step": "train",
        "model": "qwen2_0_5b",
        "stage": "stage2",
        "method": "qlora",
        "mix": "stage2",
        "tokens": 2_500_000,
        "samples": 1_200,
        "tokens_source": "data card",
        "steps": 300,
        "epochs": 2,
        "tokens_processed": 5_000_000,
        "steps_source": "Trainer",
        "gpu_hours": 8.0,
        "gpu": "H100",
        "speed_source": "measured",
    }
    lines = pricing.describe_run(row, gpus=4)
    assert lines[0] == "  train: qwen2_0_5b stage2 qlora, mix stage2"
    assert "2.50 M in 1,200 training samples  [data card]" in lines[1]
    assert "300 optimizer steps, 2 epochs, 5.0 M tokens trained  [Trainer]" in lines[2]
    assert lines[3] == "    cost       8.0 GPU-hours on H100 (2.0 h on 4)  [measured]"
    assert pricing.describe_run({**row, "gpu_hours": None}, 1)[3].startswith(
        "    cost       GPU-hours unknown"
    )
