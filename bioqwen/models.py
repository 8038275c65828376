"""Where a model lives, and the model config -> weights + tokenizer shared by every job.

A leaf shared by train/, eval/, export/ and chat/ (train and eval may not import each other):
evaluation loads models from a path or hub id whoever trained them, and all of them need the
same tokenizer preparation. It is the one place that turns a model reference into the
directory or hub id to load:

- a config name in conf/model/ (`tiny`, `qwen2_0_5b`): its hub id, or random weights built
  once for `model.init=random`;
- a model directory (config.json), or an adapter directory (adapter_config.json) where the
  caller takes adapters;
- a training run directory: the model in its merged folder, else its adapter folder
  (bioqwen.runs names both); the run is what lineage.json links to;
- a `.gguf` file (chat only) and a hub id `owner/name` (chat's `models=[...]` only; the other
  jobs take one as `model.hub_id=`).

`reference_kind` decides which a command-line value is, with one rule: a `.gguf` suffix is a
GGUF file; a bare name of a file in conf/model/ is that config (write `./name` for a directory
of that name); an existing path, or a value spelled as one (starting with `/`, `.` or `~`, or
holding a `/` where hub ids are not taken) is a location; `owner/name` is a hub id where they
are taken. `model_overrides` applies it to a job's `model=<value>` argument.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from transformers import AutoTokenizer, GenerationConfig, PreTrainedTokenizerBase

from bioqwen.checkout import CONF_DIR
from bioqwen.config import ModelInit
from bioqwen.data.tokenizer import (
    ENDOFTEXT,
    IM_END,
    load_qwen_tokenizer,
    prepare_tokenizer,
    train_small_bpe,
)
from bioqwen.errors import BioqwenError
from bioqwen.runs import (
    LINEAGE_FILE,
    MERGED_DIR,
    RUN_MODEL_DIRS,
    cache_root,
    cached_directory,
    parse_json,
    stable_hash,
)

MODEL_MANIFEST = "config.json"
ADAPTER_MANIFEST = "adapter_config.json"
HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def _as_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    if is_dataclass(cfg) and not isinstance(cfg, type):
        return asdict(cfg)
    return dict(cfg)


INITS = tuple(init.value for init in ModelInit)


def reference_kind(text: str, hub_ids: bool = False) -> str | None:
    """What a model reference names: "gguf", "config", "path", "hub" (only with `hub_ids`), or
    None for none of them (the rule is in the module docstring)."""
    if text.endswith(".gguf"):
        return "gguf"
    bare = "/" not in text and not text.startswith((".", "~"))
    if bare and (CONF_DIR / "model" / f"{text}.yaml").is_file():
        return "config"
    spelled_as_path = text.startswith(("/", ".", "~")) or ("/" in text and not hub_ids)
    if spelled_as_path or Path(text).expanduser().exists():
        return "path"
    if hub_ids and HUB_ID.match(text):
        return "hub"
    return None


def model_overrides(argv: Sequence[str], configs: bool = True) -> list[str]:
    """A job's command line with `model=<location>` read as `model.path=<location>`.

    With `configs` (the job composes conf/model/, as evaluate does) a config name or a value
    that is no reference at all stays `model=<value>`, for Hydra to compose or to report with
    its list of choices; a job without model configs (export) reads every value as a path.
    """
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if (
            sep
            and key == "model"
            and (not configs or reference_kind(value) not in ("config", None))
        ):
            arg = f"model.path={value}"
        out.append(arg)
    return out


@dataclass(frozen=True)
class ModelLocation:
    """A model or adapter directory, and the training run directory it belongs to (if any)."""

    dir: Path
    run: Path | None


def is_adapter_dir(source: str | Path) -> bool:
    """Whether source is a PEFT adapter directory (adapter_config.json, no full model)."""
    path = Path(source)
    return (path / ADAPTER_MANIFEST).exists() and not (path / MODEL_MANIFEST).exists()


def locate(path: str | Path, key: str = "model.path", adapters: bool = False) -> ModelLocation:
    """The model directory `path` names: itself, or a training run's merged then adapter folder.

    An adapter directory is accepted with `adapters` (it loads on its base through PEFT), else
    refused as needing its merged model. The run is the directory the model was found in, or
    the parent of a model directory when that parent has a lineage.json.
    """
    root = Path(str(path)).expanduser()
    if not root.exists():
        raise BioqwenError(f"{key}={root}: no such directory")
    for candidate in (root, *(root / sub for sub in RUN_MODEL_DIRS)):
        manifests = [(candidate / m).exists() for m in (MODEL_MANIFEST, ADAPTER_MANIFEST)]
        if not any(manifests):
            continue
        if not manifests[0] and not adapters:
            raise BioqwenError(
                f"{key}={root}: a LoRA adapter without a merged model; this needs the merged "
                f"weights (train with merge=true, which writes <run dir>/{MERGED_DIR})"
            )
        if candidate != root:
            return ModelLocation(candidate, root)
        parent = root.parent
        return ModelLocation(root, parent if (parent / LINEAGE_FILE).exists() else None)
    wanted = f"{MODEL_MANIFEST} or {ADAPTER_MANIFEST}" if adapters else MODEL_MANIFEST
    raise BioqwenError(
        f"{key}={root}: no {wanted} there or in "
        + ", ".join(f"{sub}/" for sub in RUN_MODEL_DIRS)
        + " (not a model directory)"
    )


def resolve_model(cfg: Any, adapters: bool = False) -> str:
    """Return the directory or hub id to load for a model config (builds a random one if needed).

    `cfg` is a composed `model` node (conf/model/*.yaml over bioqwen.config.ModelConfig):
    every key below is guaranteed by the schema. An explicit `model.path` wins over the rest
    (see `locate`; an adapter directory only with `adapters`, for generation).
    """
    model = _as_dict(cfg)
    if model["init"] not in INITS:
        raise BioqwenError(f"model.init={model['init']!r}: expected one of {INITS}")
    if model["path"]:
        return str(locate(model["path"], "model.path", adapters).dir)
    if model["init"] == "random":
        if not model["architecture"]:
            raise BioqwenError(f"model={model['name']}: model.init=random needs model.architecture")
        return str(build_random_model(model))
    if model["hub_id"]:
        return str(model["hub_id"])
    raise BioqwenError(
        f"model {model['name']!r}: set one of model.path, model.hub_id, model.init=random"
    )


def spec_source(spec: Mapping[str, Any], key: str) -> str:
    """The directory (`<key>.path`, preferred; see `locate`) or hub id (`<key>.hub_id`) that the
    config of a model beside the trained one names (the reward scorer, an embedder)."""
    if spec.get("path"):
        return str(locate(spec["path"], f"{key}.path").dir)
    if spec.get("hub_id"):
        return str(spec["hub_id"])
    raise BioqwenError(f"{key}: set {key}.path=<model dir> or {key}.hub_id=<hub id>")


def tokenizer_for(cfg: Any, model_dir_or_id: str | None = None) -> PreTrainedTokenizerBase:
    """Tokenizer of a model with a pad distinct from eos and a ChatML template."""
    model = _as_dict(cfg)
    source = model_dir_or_id or resolve_model(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            source,
            trust_remote_code=bool(model["trust_remote_code"]),
            **hub_revision(model, source),
        )
    except OSError as err:
        # The first loader to touch a hub id: a missing download is a user error, not a trace.
        why = (
            "HF_HUB_OFFLINE is set, so only the local hub cache is read"
            if hub_offline()
            else str(err).splitlines()[0]
        )
        raise BioqwenError(
            f"model={model['name']}: cannot load {source} ({why}); "
            "download it first or set model.path=<local model dir>"
        ) from err
    if model["chat_template"]:
        tokenizer.chat_template = model["chat_template"]
    prepare_tokenizer(tokenizer, model["pad_token"])
    # Left padding for batched generation; trainers set right padding themselves.
    tokenizer.padding_side = "left"
    return tokenizer


def hub_revision(model: dict[str, Any], source: str) -> dict[str, str]:
    """`revision=` for from_pretrained when `source` is the model's pinned hub id."""
    if model["revision"] and source == model["hub_id"]:
        return {"revision": str(model["revision"])}
    return {}


def chat_generation_config(
    tokenizer: PreTrainedTokenizerBase, base: GenerationConfig | None = None
) -> GenerationConfig:
    """A generation config that stops at `<|im_end|>` (and `<|endoftext|>`) and pads with pad.

    A tokenizer without those tokens (a non-Qwen baseline) maps them to unk or None: they are
    left out, and its own eos is the stop instead.
    """
    gen = GenerationConfig.from_dict(base.to_dict()) if base is not None else GenerationConfig()
    stop = []
    for token in (IM_END, ENDOFTEXT):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is not None and token_id != tokenizer.unk_token_id:
            stop.append(token_id)
    if not stop and tokenizer.eos_token_id is not None:
        stop.append(tokenizer.eos_token_id)
    gen.eos_token_id = stop
    gen.pad_token_id = tokenizer.pad_token_id
    return gen


def build_random_model(model: dict[str, Any]) -> Path:
    """Build (once, cached) random weights of `model.architecture` with the configured tokenizer.

    Deterministic from `model.init_seed`; cached by the hash of the architecture, seed and
    tokenizer, so the tiny model and a base's real shape at 2 layers are built once each.
    """
    import torch
    import transformers
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(model["architecture"])
    tokenizer_kind = model["tokenizer"]
    key = stable_hash(
        {
            "architecture": shape,
            "seed": model["init_seed"],
            "tokenizer": tokenizer_kind,
            "bpe": model["bpe_vocab_size"],
            "pad": model["pad_token"],
            "transformers": transformers.__version__,
        }
    )
    target = cache_root() / "models" / f"{model['name']}-random-{tokenizer_kind}-{key}"
    with cached_directory(target) as tmp:
        if tmp is not None:
            pad = model["pad_token"]
            tokenizer: PreTrainedTokenizerBase
            if tokenizer_kind == "small_bpe":
                tokenizer = train_small_bpe(int(model["bpe_vocab_size"]), pad)
            else:
                tokenizer = load_qwen_tokenizer(tokenizer_kind, pad)
            dtype = getattr(torch, str(shape.pop("dtype")))
            if shape["vocab_size"] is None:
                shape["vocab_size"] = (len(tokenizer) + 63) // 64 * 64
            if shape["vocab_size"] < len(tokenizer):
                raise BioqwenError(
                    f"model.architecture.vocab_size={shape['vocab_size']}: fewer rows than the "
                    f"{len(tokenizer)} tokens of tokenizer {tokenizer_kind}"
                )
            config = Qwen2Config(
                bos_token_id=_token_id(tokenizer, ENDOFTEXT),
                eos_token_id=_token_id(tokenizer, IM_END),
                pad_token_id=tokenizer.pad_token_id,
                **shape,
            )
            # Initialised in fp32 (the same values whatever dtype is saved), then cast.
            torch.manual_seed(int(model["init_seed"]))
            net = Qwen2ForCausalLM(config).to(dtype)
            net.generation_config = chat_generation_config(tokenizer)
            net.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
    return target


def hub_offline() -> bool:
    """True when the hub must not be contacted (tests, CI, the demo)."""
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")


def _token_id(tokenizer: PreTrainedTokenizerBase, token: str) -> int:
    ids = tokenizer.convert_tokens_to_ids(token)
    return int(ids[0] if isinstance(ids, list) else ids)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Load models without a `Loading weights` bar (noise in a training log) and without
    PEFT's FutureWarning: PEFT reads the model's `is_gradient_checkpointing`, a property
    transformers 5 renamed; the warning is about PEFT's code, not a setting of ours."""
    from huggingface_hub.utils import enable_progress_bars
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    enable_progress_bars()  # a first download still shows its progress
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


PICKLED_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl")


def check_model_files(source: str, trust_remote_code: bool = False) -> None:
    """A local model or adapter directory that will load, checked before a job writes anything:
    complete safetensors weights (never pickles, which run code when loaded) and a model type
    this transformers knows, or remote code (`auto_map`) the user trusts. A hub id is left to
    from_pretrained; an adapter's local base is checked too."""
    path = Path(source)
    if not path.is_dir():
        return
    manifests = {
        m: _manifest(path / m) for m in (MODEL_MANIFEST, ADAPTER_MANIFEST) if (path / m).is_file()
    }
    adapter = manifests.get(ADAPTER_MANIFEST)
    if adapter is not None and "base_model_name_or_path" not in adapter:
        raise BioqwenError(
            f"{path / ADAPTER_MANIFEST}: key base_model_name_or_path missing (adapter base)"
        )
    check_weight_files(path)
    if MODEL_MANIFEST in manifests:
        _check_model_type(path / MODEL_MANIFEST, manifests[MODEL_MANIFEST], trust_remote_code)
    elif adapter is not None:
        base = adapter["base_model_name_or_path"]
        if isinstance(base, str) and Path(base).is_dir():
            check_model_files(base, trust_remote_code)


def check_weight_files(path: Path) -> None:
    """The weights of a model or adapter directory: complete safetensors files, not pickles."""
    from safetensors import SafetensorError, safe_open

    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLED_WEIGHTS)
        if pickled:
            raise BioqwenError(
                f"{path}: only pickled weights ({', '.join(pickled)}); bioqwen loads safetensors "
                "only (a pickle can run code): convert them with safetensors.torch.save_file"
            )
        raise BioqwenError(f"{path}: no *.safetensors weights (the model directory is incomplete)")
    for file in weights:
        try:
            with safe_open(str(file), "pt"):
                pass
        except (SafetensorError, OSError) as err:
            raise BioqwenError(f"{file}: truncated or corrupt safetensors file ({err})") from err


def _manifest(file: Path) -> dict[str, Any]:
    """A model's config.json / adapter_config.json as a dict, named when it is not one."""
    import json

    try:
        loaded = parse_json(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BioqwenError(f"{file}: not a model manifest (malformed JSON: {err})") from err
    if not isinstance(loaded, dict):
        raise BioqwenError(f"{file}: not a model manifest (expected a JSON object)")
    return loaded


def _check_model_type(config: Path, manifest: dict[str, Any], trust_remote_code: bool) -> None:
    import transformers
    from transformers import CONFIG_MAPPING

    model_type = manifest.get("model_type")
    if model_type in CONFIG_MAPPING:
        return  # the library's own class; an `auto_map` beside it is never executed
    if "auto_map" in manifest:
        if trust_remote_code:
            return
        raise BioqwenError(
            f"{config}: model_type {model_type!r} is remote code (auto_map); pass "
            "model.trust_remote_code=true only if you trust that directory's Python files"
        )
    raise BioqwenError(
        f"{config}: unknown model_type {model_type!r} (transformers {transformers.__version__} "
        "has no such model)"
    )
