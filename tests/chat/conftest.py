"""Tiny chat models: three random-weight variants laid out as a user would pass them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from bioqwen.models import build_random_model
from tests.conftest import CONF

# A template other than the tiny models' ChatML, as a Llama-style baseline would bring.
OTHER_TEMPLATE = (
    "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}"
)


@pytest.fixture(scope="session")
def chat_models(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """tiny-a (the tiny model), tiny-b (another seed) and a training run dir holding tiny-c."""
    model = OmegaConf.to_container(_tiny(), resolve=True)
    root = tmp_path_factory.mktemp("chat-models")
    sources = [tiny_model_dir]
    for seed in (1, 2):
        variant = dict(model)  # type: ignore[arg-type]
        variant["init_seed"] = seed
        sources.append(build_random_model(variant))
    targets = [root / "tiny-a", root / "tiny-b", root / "run-tiny-c" / "merged"]
    for source, target in zip(sources, targets, strict=True):
        shutil.copytree(source, target)
    return [targets[0], targets[1], targets[2].parent]


def _tiny() -> object:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("model/tiny").model


@pytest.fixture(scope="session")
def other_template_model(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a different chat template."""
    target = tmp_path_factory.mktemp("other-template") / "tiny-other-template"
    shutil.copytree(tiny_model_dir, target)
    (target / "chat_template.jinja").write_text(OTHER_TEMPLATE)
    return target
