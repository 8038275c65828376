"""Fixtures for training tests: a small prepared mix with the pipeline's columns."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict

from tests.conftest import system_prompts

ROOT = Path(__file__).resolve().parents[2]

# pytest -n 2 on two cores: a second OpenMP thread per worker oversubscribes the CPU and makes
# training steps 10-40x slower at random; subprocesses inherit the setting through the env.
os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

_EN = [
    ("Find the diseases in: {x}", "Diseases: {y}"),
    ("Translate to Chinese: {x}", "翻译：{y}"),
    ("What relation holds in: {x}", "The relation is treats between {y}."),
]
_TERMS = ["aspirin", "fever", "diabetes", "insulin", "asthma", "cough", "heart failure", "tumour"]


def make_records(n: int, seed: int, masked: bool = False) -> list[dict]:
    """Deterministic ChatML conversations of varied length (masked: no assistant turn)."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        lang = "zh" if i % 3 == 1 else "en"
        prompt, answer = _EN[i % len(_EN)]
        words = rng.choices(_TERMS, k=rng.randint(2, 24))
        x = " ".join(words)
        y = ", ".join(sorted(set(words))[: rng.randint(1, 5)])
        messages = [
            {"role": "system", "content": system_prompts()[lang]},
            {"role": "user", "content": prompt.format(x=x)},
        ]
        if not masked:
            messages.append({"role": "assistant", "content": answer.format(y=y)})
        records.append(
            {
                "id": f"synthetic:{seed}:{i}",
                "source": "synthetic",
                "task": ["ner", "mt", "re"][i % 3],
                "lang": lang,
                "messages": messages,
                "n_tokens": len(x),
            }
        )
    return records


def save_mix(path: Path, n_train: int, n_val: int, masked: bool = False) -> Path:
    """Write a DatasetDict like prepare's output and return its directory."""
    DatasetDict(
        {
            # An empty split keeps its columns (from_list([]) would have none).
            "train": Dataset.from_list(make_records(max(n_train, 1), 0, masked)).select(
                range(n_train)
            ),
            "validation": Dataset.from_list(make_records(n_val, 1, masked)),
        }
    ).save_to_disk(str(path))
    return path


@pytest.fixture(scope="session")
def mix_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 training and 8 validation conversations."""
    return save_mix(tmp_path_factory.mktemp("mix") / "data", 64, 8)


def compose_train(run_dir: Path, *overrides: str):
    """Compose the real train config as the CLI would, with its Hydra run directory set."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"hydra.run.dir={run_dir}", *overrides],
            return_hydra_config=True,
        )
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


# Small, fast settings shared by the job tests (the paper's values stay in conf/stage).
FAST = (
    "model=tiny",
    "stage.per_device_batch_size=4",
    "stage.effective_batch_size=4",
    "stage.logging_steps=1",
    "stage.eval_steps=2",
    "stage.max_steps=4",
)


def run_train(run_dir: Path, data_dir: Path, *overrides: str) -> dict:
    """Run the train job in this process and return its summary metrics."""
    from bioqwen.jobs.train import run

    run_dir.mkdir(parents=True, exist_ok=True)
    tracking = () if any(o.startswith("tracking=") for o in overrides) else ("tracking=disabled",)
    cfg = compose_train(run_dir, *FAST, *tracking, f"data_dir={data_dir}", *overrides)
    return run(cfg)
