"""Where the checkout lies (conf/, samples/) and how a config node becomes plain Python.

A leaf anyone may import: the checkout root (`ROOT`) and its conf/ (`CONF_DIR`), the one
config-to-dict helper (a mandatory value left unset becomes a BioqwenError naming its key)
and the one way to compose a config outside the job being run (`compose`).

Every module takes the root from here. It is found once, in bioqwen.config, from that file's
place in the package: config.py must import nothing from bioqwen yet needs the root for its
`${bioqwen.root:}` resolver, so the finder lives there and this module imports it (importing
bioqwen.config also registers the schemas the primary configs extend, which `compose` needs).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from bioqwen.config import ROOT
from bioqwen.errors import BioqwenError

CONF_DIR = ROOT / "conf"


def plain(node: Any, prefix: str = "", hint: str = "") -> Any:
    """A config node as plain, resolved Python containers (what the library functions take).

    `prefix` names the node in the error raised for a mandatory value left unset (`???`),
    `hint` says how to set it.
    """
    if isinstance(node, DictConfig | ListConfig):
        try:
            # enum_to_str: an Enum-typed field (bioqwen.config) becomes the string typed.
            return OmegaConf.to_container(
                node, resolve=True, throw_on_missing=True, enum_to_str=True
            )
        except MissingMandatoryValue as err:
            key = str(err.full_key)
            if prefix and not key.startswith(prefix + "."):
                key = f"{prefix}.{key}"
            how = hint or "`???` in the composed config"
            raise BioqwenError(f"{key} is not set: {how}") from err
    return json.loads(json.dumps(node, default=str))


def in_checkout(path: str | Path) -> Path:
    """A path as given when it exists (or is absolute), else relative to the checkout root."""
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    candidate = ROOT / given
    return candidate if candidate.exists() else given


@contextmanager
def hydra_context() -> Iterator[None]:
    """Hydra's compose API inside a running app (its search path), or on conf/ outside one."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def compose(name: str, overrides: Sequence[str] = (), where: str = "") -> DictConfig:
    """Config `name` (a job, or `<group>/<option>`) as the command line would compose it,
    inside a running app or outside one; a composition error (an unknown option or key) is one
    BioqwenError line naming `where` (default: the config and its overrides)."""
    from hydra import compose as hydra_compose
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        with hydra_context():
            return hydra_compose(name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        place = where or " ".join([name, *overrides])
        raise BioqwenError(f"{place}: {' '.join(lines[:2])}") from err
