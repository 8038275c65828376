"""The checkout leaf: composing any job's or group option's config outside a running job."""

from __future__ import annotations

from pathlib import Path

import pytest

import bioqwen
from bioqwen import checkout, config
from bioqwen.checkout import compose
from bioqwen.errors import BioqwenError
from bioqwen.report import published


def test_compose_a_job_or_a_group_option_as_the_command_line_would() -> None:
    cfg = compose("score", ["benchmark=ncbi", "tracking=disabled"])
    assert cfg.benchmark.name == "ncbi" and cfg.tracking.mode == "disabled"
    assert compose("model/tiny").model.name == "tiny"


@pytest.mark.parametrize(
    ("overrides", "where", "named"),
    [
        (["benchmark=nbci"], "authors' file x.csv", "authors' file x.csv: "),
        (["benchmark.nope=1"], "", "score benchmark.nope=1: "),
    ],
)
def test_a_composition_error_is_one_user_error_naming_where(
    overrides: list[str], where: str, named: str
) -> None:
    with pytest.raises(BioqwenError) as caught:
        compose("score", overrides, where)
    message = str(caught.value)
    assert message.startswith(named) and "\n" not in message
    assert "nbci" in message or "nope" in message


def test_every_module_finds_the_checkout_through_the_one_finder() -> None:
    # config.py holds the only path computed from a module's own location; every other module
    # takes ROOT/CONF_DIR from bioqwen.checkout (packaged assets go through importlib.resources).
    package = Path(bioqwen.__file__).resolve().parent
    finders = sorted(
        str(path.relative_to(package.parent))
        for path in [*package.rglob("*.py"), *(package.parent / "hydra_plugins").rglob("*.py")]
        if "__file__" in path.read_text(encoding="utf-8")
    )
    assert finders == ["bioqwen/config.py"]
    assert checkout.ROOT == config.ROOT and (checkout.ROOT / "samples").is_dir()
    assert checkout.CONF_DIR == checkout.ROOT / "conf" and (checkout.CONF_DIR / "model").is_dir()
    assert published.PAPER_DIR == checkout.CONF_DIR / "paper"
