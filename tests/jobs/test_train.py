"""`bioqwen train` end to end on the tiny model: two stages, lineage, tracking, bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from transformers import AutoModelForCausalLM

from bioqwen.errors import BioqwenError
from bioqwen.models import tokenizer_for
from tests.conftest import compose_config, offline_run
from tests.train.conftest import FAST, ROOT, compose_train, run_train, save_mix

TINY = compose_config("train", "model=tiny").model

SUMMARY_KEYS = {
    "train/loss",
    "eval/loss",
    "train/global_step",
    "perf/run_tokens_per_s",
    "perf/run_tokens_per_s_incl_padding",
    "perf/run_samples_per_s",
    "perf/run_step_time_s",
    "perf/run_peak_memory_gb",
    "perf/run_padding_fraction",
    "model/trainable_params",
    "batch/effective_size",
    "batch/samples_per_bin",
    "batch/effective_samples",
    "perf/run_samples_per_step",
}


@pytest.fixture(scope="module")
def stage1(tmp_path_factory: pytest.TempPathFactory, mix_dir: Path) -> tuple[Path, dict]:
    run_dir = tmp_path_factory.mktemp("stage1") / "run"
    summary = run_train(run_dir, mix_dir, "tracking=offline", "merge=true")
    return run_dir, summary


def test_stage1_leaves_adapter_merged_model_metrics_and_wandb_run(stage1) -> None:
    run_dir, _ = stage1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics.keys() >= SUMMARY_KEYS
    assert metrics["train/global_step"] == 4
    assert metrics["train/final_loss"] > 0
    assert metrics["perf/run_tokens_per_s_incl_padding"] >= metrics["perf/run_tokens_per_s"] > 0
    assert 0 < metrics["model/trainable_params"] < metrics["model/total_params"]
    assert metrics["batch/effective_size"] == metrics["batch/effective_samples"] == 4
    # The offline W&B run (read back from its record file) carries the same summary, the full
    # resolved config and the labels derived from the composition.
    run = offline_run(run_dir)
    assert {key: run["summary"].get(key) for key in metrics} == metrics
    assert run["name"] == "tiny-stage1-qlora-data-lr0.0002-r64"
    assert run["group"] == "tiny-qlora-data"
    assert {"model:tiny", "stage:stage1", "method:qlora", "lr:0.0002", "lora_r:64"} <= set(
        run["tags"]
    )
    assert run["config"]["stage"]["learning_rate"] == 2e-4
    assert run["config"]["method"]["lora"]["r"] == 64
    # Per optimizer step: loss, learning rate, grad norm and throughput; eval loss every 2 steps.
    steps = {row["_step"]: row for row in run["history"]}
    assert sorted(steps) == [1, 2, 3, 4]
    for row in steps.values():
        assert {
            "train/loss",
            "train/learning_rate",
            "train/grad_norm",
            "perf/tokens_per_s",
            "perf/tokens_per_s_incl_padding",
            "perf/samples_per_s",
            "perf/step_time_s",
            "perf/peak_memory_gb",
        } <= row.keys()
    assert [s for s, row in steps.items() if "eval/loss" in row] == [2, 4]
    # The validation split also per task, so stage 2's forgetting of a task shows.
    per_task = {"eval/ner_loss", "eval/mt_loss", "eval/re_loss"}
    assert [s for s, row in steps.items() if per_task <= row.keys()] == [2, 4]
    assert per_task <= metrics.keys()
    # The last point of the loss curve is the last step's loss, which is the final loss; the
    # run's mean (the Trainer's closing train_loss) has a key of its own.
    losses = [steps[step]["train/loss"] for step in sorted(steps)]
    assert metrics["train/final_loss"] == metrics["train/loss"] == losses[-1]
    assert metrics["train/mean_loss"] == pytest.approx(sum(losses) / len(losses), rel=1e-4)
    assert metrics["train/mean_loss"] != metrics["train/final_loss"]
    # Token counts exclude padding; the Trainer's padding-inclusive num_input_tokens_seen is not
    # logged at all, nor (stage.token_metrics=false) TRL's per-token entropy and accuracy.
    assert metrics["perf/run_padding_fraction"] > 0
    logged = {key for row in steps.values() for key in row}
    assert not any("num_input_tokens_seen" in key for key in logged)
    assert not logged & {"train/entropy", "train/mean_token_accuracy", "eval/entropy"}
    assert (run_dir / "adapter" / "adapter_config.json").exists()
    lineage = json.loads((run_dir / "lineage.json").read_text())
    assert lineage["stage"] == "stage1" and lineage["data"]["hash"]
    assert lineage["artefacts"]["merged"] == "merged"
    # What reproduces it: the code revision, the library versions, the (unpinned) model.
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True)
    assert lineage["code"]["commit"] == head.stdout.decode().strip()
    assert isinstance(lineage["code"]["dirty"], bool)
    assert lineage["versions"]["torch"] == torch.__version__
    assert lineage["versions"]["trl"] and lineage["model"]["revision"] is None


def test_stage1_logs_its_adapter_and_merged_model_as_artifacts_of_its_base(stage1) -> None:
    run_dir, _ = stage1
    run = offline_run(run_dir)
    full = json.loads((run_dir / "lineage.json").read_text())
    lineage = full["wandb"]
    alias = f"run-{lineage['run_id']}"
    logged = {a["name"]: a for a in run["artifacts"]}
    assert logged.keys() == {
        "tiny-stage1-qlora-data-lr0.0002-r64-adapter",
        "tiny-stage1-qlora-data-lr0.0002-r64-merged",
    }
    for name, part, kind in (("adapter", "adapter", "adapter"), ("merged", "merged", "model")):
        artifact = logged[f"tiny-stage1-qlora-data-lr0.0002-r64-{name}"]
        assert artifact["type"] == kind and alias in artifact["aliases"]
        # By reference: every file of the directory, where the run wrote it.
        files = sorted(p for p in (run_dir / part).rglob("*") if p.is_file())
        assert sorted(artifact["references"].values()) == sorted(
            f"file://{p.resolve()}" for p in files
        )
        assert artifact["metadata"]["stage"] == "stage1"
        assert artifact["metadata"]["train/final_loss"] == run["summary"]["train/final_loss"]
        assert lineage["artifacts"][part] == f"{artifact['name']}:{alias}"
    # Offline, the base model input waits in lineage.json for `python -m bioqwen.artifacts`.
    tiny = Path(full["model"]["source"]).resolve()
    assert lineage["inputs"] == [
        {"name": "base-tiny", "type": "base-model", "uri": f"file://{tiny}"}
    ]
    assert lineage["linked"] is False and lineage["project"] == "bioqwen"


def test_merged_model_stops_at_im_end_and_pads_with_a_distinct_token(stage1) -> None:
    run_dir, _ = stage1
    merged = run_dir / "merged"
    tokenizer = tokenizer_for(TINY, str(merged))
    gen = json.loads((merged / "generation_config.json").read_text())
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in gen["eos_token_id"]
    assert gen["pad_token_id"] == tokenizer.pad_token_id != im_end
    assert list(merged.glob("*.safetensors"))
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert not getattr(model, "is_loaded_in_4bit", False)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_stage2_merges_stage1_and_records_lineage(stage1, tmp_path: Path, mix_dir: Path) -> None:
    parent, _ = stage1
    run_dir = tmp_path / "stage2"
    overrides = ("stage=stage2", f"stage.init_from={parent}", "tracking=offline")
    summary = run_train(run_dir, mix_dir, *overrides)
    lineage = json.loads((run_dir / "lineage.json").read_text())
    # Its W&B input is the stage-1 artifact it starts from: the merged model.
    parent_wandb = json.loads((parent / "lineage.json").read_text())["wandb"]
    assert lineage["wandb"]["inputs"] == [{"ref": parent_wandb["artifacts"]["merged"]}]
    assert lineage["init_from"] == str(parent.resolve())
    assert lineage["init_mode"] == "merge"
    # Stage 1 wrote merged/ (merged into the unquantized base): stage 2 trains on it.
    assert lineage["adapter_base"] == str((parent / "merged").resolve())
    assert lineage["parents"][0]["data"]["hash"] == lineage["data"]["hash"]
    assert summary["train/global_step"] == 4
    # The merged stage-1 model was re-quantized for stage 2: every decoder linear layer
    # (7 per layer x 2 layers of the tiny model) is a 4-bit layer again.
    assert summary["model/quantized_4bit_layers"] == 14


def test_stage2_continue_keeps_training_the_stage1_adapter(
    stage1, tmp_path: Path, mix_dir: Path
) -> None:
    parent, _ = stage1
    run_dir = tmp_path / "stage2"
    run_train(
        run_dir, mix_dir, "stage=stage2", f"stage.init_from={parent}", "stage.init_mode=continue"
    )
    lineage = json.loads((run_dir / "lineage.json").read_text())
    parent_lineage = json.loads((parent / "lineage.json").read_text())
    assert lineage["adapter_base"] == parent_lineage["adapter_base"]
    from safetensors.torch import load_file

    before = load_file(parent / "adapter" / "adapter_model.safetensors")
    after = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_generation_hook_runs_with_left_padding(tmp_path: Path, mix_dir: Path) -> None:
    summary = run_train(
        tmp_path / "run",
        mix_dir,
        "generation_eval.hook._target_=tests.train.hooks.make_probe",
        "generation_eval.every_steps=2",
        "+generation_eval.hook.prompt=hello",
    )
    # Steps 2 and 4, and not again at the end (step 4 already ran).
    assert summary["gen/calls"] == 2
    assert summary["gen/left_padded"] == 1.0


def test_benchmark_hook_scores_the_model_in_training_with_the_evaluation_code(
    tmp_path: Path, mix_dir: Path, rendered_prompts: list[str]
) -> None:
    rendered = rendered_prompts
    summary = run_train(
        tmp_path / "run",
        mix_dir,
        "generation_eval.hook._target_=bioqwen.eval.training_hook.benchmark_metrics",
        "generation_eval.every_steps=2",
        "+generation_eval.hook.benchmark=ncbi",
        "+generation_eval.hook.limit=2",
        "+generation_eval.hook.max_new_tokens=4",
        "data.system_prompts.en=You answer like a botanist.",
    )
    assert summary["gen/n_documents"] == 2
    assert 0 <= summary["gen/macro_f1"] <= 1 and "gen/unparsable_rate" in summary
    # The run's own system prompt (a train override) is what the in-training evaluation renders.
    assert len(rendered) == 4 and all("You answer like a botanist." in chat for chat in rendered)


def test_a_hook_that_reseeds_leaves_training_unchanged(tmp_path: Path, mix_dir: Path) -> None:
    plain = run_train(tmp_path / "plain", mix_dir, "stage.eval_steps=0")
    hooked = run_train(
        tmp_path / "hooked",
        mix_dir,
        "stage.eval_steps=0",
        "generation_eval.hook._target_=tests.train.hooks.make_reseeder",
        "generation_eval.every_steps=1",
    )
    # Without forking the RNG around the hook, LoRA dropout after step 1 draws other masks.
    assert hooked["train/loss"] == plain["train/loss"]
    assert hooked["train/final_loss"] == plain["train/final_loss"]


# --- bad input -----------------------------------------------------------------------------


def _only_hydra_files(run_dir: Path) -> bool:
    return all(p.name == ".hydra" or p.suffix == ".log" for p in run_dir.iterdir())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("stage=stage2",), "needs stage.init_from"),
        (("stage=stage2", "stage.init_from=/nonexistent/run"), "no such directory"),
        (("resume=true",), "no checkpoint"),
        (("deepspeed_config=/nonexistent/zero2.json",), "no such file"),
        (("method.lora.r=-1",), r"method\.lora\.r=-1: must be >= 1"),
        (("method.lora.dropout=1.5",), r"method\.lora\.dropout=1\.5"),
        (("stage.learning_rate=0",), r"stage\.learning_rate=0\.0: must be > 0"),
        (("stage.effective_batch_size=6",), r"stage\.effective_batch_size=6: not a multiple"),
        (("stage.batching=packed",), r"lower stage\.per_device_batch_size or stage\.max_length"),
    ],
)
def test_bad_settings_fail_before_writing(
    tmp_path: Path, mix_dir: Path, overrides: tuple[str, ...], message: str
) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(BioqwenError, match=message):
        run_train(run_dir, mix_dir, *overrides)
    assert _only_hydra_files(run_dir)


def test_stage1_run_without_lineage_is_not_a_usable_parent(tmp_path: Path, mix_dir: Path) -> None:
    parent = tmp_path / "half"
    (parent / "checkpoints").mkdir(parents=True)
    with pytest.raises(BioqwenError, match=r"lineage\.json"):
        run_train(tmp_path / "run", mix_dir, "stage=stage2", f"stage.init_from={parent}")


def test_stage1_run_without_adapter_or_merged_model_is_not_a_usable_parent(
    tmp_path: Path, mix_dir: Path
) -> None:
    parent = tmp_path / "emptied"
    parent.mkdir()
    lineage = {"job": "train", "adapter_base": "x", "model": {"name": "tiny"}}
    (parent / "lineage.json").write_text(json.dumps(lineage))
    run_dir = tmp_path / "run"
    with pytest.raises(BioqwenError, match=r"neither adapter/adapter_config\.json nor merged"):
        run_train(run_dir, mix_dir, "stage=stage2", f"stage.init_from={parent}")
    assert _only_hydra_files(run_dir)


def test_parent_of_another_model_is_rejected(stage1, tmp_path: Path, mix_dir: Path) -> None:
    parent, _ = stage1
    with pytest.raises(BioqwenError, match="trained model 'tiny'"):
        run_train(
            tmp_path / "run",
            mix_dir,
            "stage=stage2",
            f"stage.init_from={parent}",
            "model.name=other",
        )


@pytest.mark.parametrize(
    ("n_train", "masked", "message"), [(0, False, "missing or empty"), (8, True, "masked")]
)
def test_data_with_nothing_to_train_fails(
    tmp_path: Path, n_train: int, masked: bool, message: str
) -> None:
    data = save_mix(tmp_path / "data", n_train, 2, masked=masked)
    run_dir = tmp_path / "run"
    with pytest.raises(BioqwenError, match=message):
        run_train(run_dir, data)
    assert _only_hydra_files(run_dir)


def test_cli_exits_non_zero_with_one_clear_line(tmp_path: Path, run_cli) -> None:
    run_dir = tmp_path / "run"
    done = run_cli("train", "model=tiny", "stage=stage2", "tracking=disabled", run_dir=run_dir)
    assert done.returncode == 2
    assert "bioqwen: error: stage=stage2 needs stage.init_from" in done.stderr
    assert not (run_dir / "config.yaml").exists()


@pytest.mark.parametrize("group", ["model=nosuch", "stage=stage3", "method=dora"])
def test_unknown_model_stage_or_method_is_a_config_error(group: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigCompositionException, match=r"nosuch|stage3|dora"):
        compose_train(tmp_path, group)


def test_stage1_without_merge_is_merged_into_its_unquantized_base_for_stage2(
    tmp_path: Path, mix_dir: Path
) -> None:
    parent = tmp_path / "stage1"
    run_train(parent, mix_dir, "stage.max_steps=2", "stage.eval_steps=0")
    assert not (parent / "merged").exists()
    child = tmp_path / "stage2"
    run_train(child, mix_dir, "stage=stage2", f"stage.init_from={parent}", "stage.max_steps=2")
    lineage = json.loads((child / "lineage.json").read_text())
    init_model = child / "init_model"
    assert lineage["adapter_base"] == str(init_model)
    # The stage-2 adapter sits on the merged stage-1 model, saved unquantized.
    config = json.loads((init_model / "config.json").read_text())
    assert "quantization_config" not in config
    adapter_cfg = json.loads((child / "adapter" / "adapter_config.json").read_text())
    assert adapter_cfg["base_model_name_or_path"] == str(init_model)


def test_run_labels_name_group_and_tags_from_the_composition(tmp_path: Path) -> None:
    from bioqwen.train.summary import run_labels

    cfg = compose_train(tmp_path, "model=qwen2_0_5b", "stage=stage2", "method=qlora")
    name, group, tags = run_labels(cfg, cfg.data.mix.name)
    assert name == "qwen2_0_5b-stage2-qlora-stage2-lr0.0002-r64"
    assert group == "qwen2_0_5b-qlora-stage2"
    assert {"model:qwen2_0_5b", "stage:stage2", "method:qlora", "lora_r:64", "lr:0.0002"} <= set(
        tags
    )
    assert run_labels(compose_train(tmp_path, "method=full"), "stage1")[2][-1] == "lora_r:none"


def test_a_prepare_run_as_data_dir_gives_its_data_hash_and_mix(tmp_path: Path, mix_dir: Path):
    from bioqwen.train.data import load_data

    # The layout `bioqwen prepare` leaves: a cache entry (dataset + card) and a run directory
    # whose lineage.json names the dataset.
    entry = tmp_path / "cache" / "sample-0123456789abcdef"
    shutil.copytree(mix_dir, entry / "dataset")
    (entry / "data_card.json").write_text(json.dumps({"hash": "0123456789abcdef", "mix": "sample"}))
    prepare_run = tmp_path / "prepare"
    prepare_run.mkdir()
    (prepare_run / "lineage.json").write_text(
        json.dumps({"data_hash": "0123456789abcdef", "dataset_path": str(entry / "dataset")})
    )
    cfg = compose_train(tmp_path / "run", "model=tiny", f"data_dir={prepare_run}")
    data, info = load_data(cfg.data_dir, cfg.data, int(cfg.seed))
    assert info == {
        "path": str((entry / "dataset").resolve()),
        "hash": "0123456789abcdef",
        "mix": "sample",
    }
    assert len(data["train"]) == 64


def test_a_training_run_prints_readable_lines(tmp_path: Path, mix_dir: Path, run_cli) -> None:
    overrides = [o for o in FAST if not o.startswith("stage.max_steps")]
    done = run_cli(
        "train",
        *overrides,
        "stage.max_steps=2",
        "stage.save_steps=1",
        "method=full",  # its checkpoints are whole models (save_pretrained), as in the demo
        f"data_dir={mix_dir}",
        "tracking=disabled",
        run_dir=tmp_path / "run",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "FutureWarning" not in done.stderr  # no deprecated argument names
    assert "Loading weights" not in done.stderr  # no bar for loading a tiny model
    assert "Writing model shards" not in done.stderr  # nor for saving its checkpoints
    # One line per log row, never written into a bar: `step N/M | loss ... | ...`.
    rows = [line for line in done.stderr.replace("\r", "\n").splitlines() if "loss" in line]
    assert rows and all(line.startswith("step ") for line in rows), rows
    assert any(line.startswith("step 2/2 | train/loss ") for line in rows)
    assert "{'loss'" not in done.stdout


def test_early_stopping_ends_a_run_whose_eval_loss_stops_improving(tmp_path: Path, mix_dir: Path):
    # A learning rate too small to move the eval loss: the second evaluation is no better.
    summary = run_train(
        tmp_path / "run",
        mix_dir,
        "stage.learning_rate=1e-12",
        "stage.eval_steps=1",
        "stage.early_stopping=1",
    )
    assert summary["train/global_step"] == 2 < summary["batch/total_steps"] == 4


def test_a_run_that_crashes_closes_its_wandb_run_as_failed(tmp_path: Path, mix_dir: Path):
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="on purpose"):
        run_train(
            run_dir,
            mix_dir,
            "tracking=offline",
            "generation_eval.hook._target_=tests.train.hooks.make_failing",
            "generation_eval.every_steps=1",
        )
    run = offline_run(run_dir)
    assert run["complete"] and run["exit_code"] == 1
    assert not (run_dir / "metrics.json").exists()
