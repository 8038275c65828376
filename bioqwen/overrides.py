"""Command-line overrides that would put a secret into a run: refused before Hydra starts.

Hydra saves every override in `.hydra/overrides.yaml` and the composed config in `config.yaml`,
and the tracker copies the config into the W&B run, so a key such as `+tracking.api_key=...`
would leave the secret in three places. Secrets come from the environment instead
(WANDB_API_KEY for W&B, HF_TOKEN for the model hub), which bioqwen never writes anywhere.

A key is a secret when one of its dotted (or `/`-separated) parts, lower-cased, is named like
one: `api_key`, `apikey`, `secret`, `password` or `passwd` as a whole `_`-separated word
(`wandb_api_key`, `client_secret`, `db_password`), or `token` alone or after a known prefix
(`hf_token`, `access_token`, `auth_token`, `wandb_token`, ...). Model and generation keys that
merely end in token(s) (`pad_token`, `eos_token`, `max_new_tokens`, `tokenizer`) are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from bioqwen.errors import BioqwenError

_SECRET_WORD = re.compile(r"(?:^|_)(?:api_?key|secret|password|passwd)(?:_|$)")
_SECRET_TOKEN = re.compile(
    r"^(?:(?:hf|hub|huggingface|wandb|access|auth|api|bearer|refresh|github|gh|session)_)?token$"
)


def is_secret_key(key: str) -> bool:
    """Whether a config key (dotted path, group path, or one part) names a secret."""
    for part in re.split(r"[./@]", key.lstrip("+~").lower().replace("-", "_")):
        if _SECRET_WORD.search(part) or _SECRET_TOKEN.match(part):
            return True
    return False


def environment_variable(key: str) -> str:
    """The environment variable that carries the secret a key names."""
    lowered = key.lower()
    if "wandb" in lowered or "tracking" in lowered:
        return "WANDB_API_KEY"
    if "token" in lowered or "hf" in lowered or "hub" in lowered:
        return "HF_TOKEN"
    return "WANDB_API_KEY (W&B) or HF_TOKEN (the model hub)"


def refuse_secrets(args: Iterable[str]) -> None:
    """Raise naming the first override whose key (or a key in its dict value) is a secret; the
    value itself is never echoed."""
    for key in _override_keys(args):
        if is_secret_key(key):
            raise BioqwenError(
                f"{key.lstrip('+~')}: secrets are not taken from the command line (Hydra would "
                "save it in config.yaml, .hydra/ and the W&B run); set "
                f"{environment_variable(key)} in the environment instead"
            )


def _override_keys(args: Iterable[str]) -> Iterator[str]:
    """The keys a command line sets: each override's key and the keys inside a dict value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue  # flags (-m, --cfg job) and their values set no config key
        key = arg.split("=", 1)[0]
        yield key
        try:
            value = parser.parse_override(arg).value()
        except HydraException:
            continue  # Hydra reports the malformed override itself
        yield from (f"{key.lstrip('+~')}.{k}" for k in _nested_keys(value))


def _nested_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from (f"{k}.{sub}" for sub in _nested_keys(v))
    elif isinstance(value, list):
        for item in value:
            yield from _nested_keys(item)
