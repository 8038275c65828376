"""The checkout leaf: composing any job's or group option's config outside a running job."""

from __future__ import annotations

import pytest

from bioqwen.checkout import compose
from bioqwen.errors import BioqwenError


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
