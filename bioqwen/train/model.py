"""Load a base model for training: precision, 4-bit quantization, attention backend, adapters.

The model's pad token is the tokenizer's distinct pad (never eos), and its generation config
stops at `<|im_end|>`: a base model fine-tuned on ChatML otherwise never stops generating.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerBase

from bioqwen.errors import BioqwenError
from bioqwen.models import chat_generation_config, hub_revision, quiet_loading
from bioqwen.train.attention import SEGMENTED_SDPA

log = logging.getLogger("bioqwen.train")

# The allowed values of method.name, model.attn_implementation, stage.precision and
# method.quantization.compute_dtype are checked at composition (the enums of bioqwen.config).
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def bf16_supported() -> bool:
    """Whether the accelerator can train in bf16 (CUDA with bf16 support; CPU is left in fp32)."""
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def attention_backend(requested: str) -> str:
    """Resolve `auto` to flash_attention_2 when flash-attn is importable on CUDA, else to SDPA
    run per packed sample (a padding-free batch then skips cross-sample blocks everywhere)."""
    if requested != "auto":
        return requested
    has_flash = importlib.util.find_spec("flash_attn") is not None
    return "flash_attention_2" if has_flash and torch.cuda.is_available() else SEGMENTED_SDPA


def resolve_precision(requested: str) -> str:
    """Mixed-precision mode of the trainer: `auto` is bf16 where supported, else fp32."""
    if requested == "auto":
        return "bf16" if bf16_supported() else "fp32"
    if requested in ("bf16", "fp16") and not torch.cuda.is_available():
        raise BioqwenError(f"stage.precision={requested}: mixed precision needs a CUDA device")
    return requested


def compute_dtype(requested: str) -> torch.dtype:
    """The 4-bit compute dtype: `auto` is bf16 where supported, else fp32 (CPU)."""
    if requested == "auto":
        return torch.bfloat16 if bf16_supported() else torch.float32
    return DTYPES[requested]


def weight_dtype(model_cfg: Mapping[str, Any], method: str, precision: str) -> torch.dtype:
    """Dtype of the loaded (unquantized) weights.

    Full fine-tuning keeps fp32 master weights (mixed precision autocasts the compute); a frozen
    LoRA base can sit in bf16 to halve its memory. An explicit model.torch_dtype wins.
    """
    requested = str(model_cfg["torch_dtype"])
    if requested != "auto":
        if requested not in DTYPES:
            raise BioqwenError(f"model.torch_dtype={requested!r}: expected auto or {list(DTYPES)}")
        return DTYPES[requested]
    if method != "full" and precision == "bf16":
        return torch.bfloat16
    return torch.float32


def check_method(method_cfg: Mapping[str, Any]) -> None:
    """Reject a method the model loading or PEFT would only fail on later (or misread)."""
    lora = method_cfg["lora"]
    if method_cfg["name"] != "full" and not lora:
        raise BioqwenError(f"method={method_cfg['name']}: needs method.lora settings")
    if method_cfg["name"] == "qlora" and not method_cfg["quantization"]:
        raise BioqwenError("method=qlora needs method.quantization settings")
    if not lora:
        return
    for key in ("r", "alpha"):
        if int(lora[key]) < 1:
            raise BioqwenError(f"method.lora.{key}={lora[key]}: must be >= 1")
    if not 0.0 <= float(lora["dropout"]) < 1.0:
        raise BioqwenError(f"method.lora.dropout={lora['dropout']}: expected a fraction in [0, 1)")


def load_base(
    source: str,
    model_cfg: Mapping[str, Any],
    method_cfg: Mapping[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    precision: str,
) -> PreTrainedModel:
    """Load the base model as the method wants it (4-bit for qlora), with pad and ChatML eos."""
    check_method(method_cfg)
    method = str(method_cfg["name"])
    kwargs: dict[str, Any] = {
        "attn_implementation": attention_backend(str(model_cfg["attn_implementation"])),
        "trust_remote_code": bool(model_cfg["trust_remote_code"]),
        **hub_revision(dict(model_cfg), source),
    }
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        quant = method_cfg["quantization"]
        cdtype = compute_dtype(str(quant["compute_dtype"]))
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=str(quant["quant_type"]),
            bnb_4bit_use_double_quant=bool(quant["double_quant"]),
            bnb_4bit_compute_dtype=cdtype,
        )
        kwargs["dtype"] = cdtype
        kwargs["device_map"] = _device_map()
    else:
        kwargs["dtype"] = weight_dtype(model_cfg, method, precision)
    with quiet_loading():
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    if method == "qlora":
        keep_4bit_training_layout(model)
    align_special_tokens(model, tokenizer)
    # Training never uses the KV cache, and padding-free batches are only isolated without it.
    model.config.use_cache = False
    return model


def keep_4bit_training_layout(model: torch.nn.Module) -> None:
    """Stop bitsandbytes repacking 4-bit weights for CPU inference during an eval pass.

    On AVX512-BF16 CPUs bitsandbytes 0.50.2 converts a Linear4bit's weights to an inference
    layout on the first no-grad forward (the eval loss) and keeps them so; the next training
    step then fails in an in-place bias add ("a view of a leaf Variable ... in-place").
    """
    import bitsandbytes as bnb

    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False


def _device_map() -> dict[str, Any] | None:
    """Pin a 4-bit model to this process's accelerator (bitsandbytes quantizes on load)."""
    if not torch.cuda.is_available():
        return None
    import os

    return {"": int(os.environ.get("LOCAL_RANK", "0"))}


def align_special_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Make the model agree with the tokenizer: embedding rows, distinct pad, ChatML stop tokens."""
    rows = int(model.get_input_embeddings().weight.shape[0])  # type: ignore[index]
    if len(tokenizer) > rows:
        # Qwen checkpoints carry spare rows, so this only happens for foreign tokenizers.
        log.warning(
            "resizing embeddings %d -> %d for the tokenizer's added tokens", rows, len(tokenizer)
        )
        model.resize_token_embeddings(len(tokenizer))
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise BioqwenError("tokenizer: the pad token must exist and differ from eos")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config = chat_generation_config(tokenizer, model.generation_config)


def add_adapter(model: PreTrainedModel, method_cfg: Mapping[str, Any]) -> Any:
    """Wrap a base in a fresh LoRA adapter (qlora also readies the 4-bit base for training)."""
    from peft import LoraConfig, get_peft_model

    check_method(method_cfg)
    lora = method_cfg["lora"]
    model = _ready_for_kbit_training(model, method_cfg)
    targets = list(lora["target_modules"])
    config = LoraConfig(
        r=int(lora["r"]),
        lora_alpha=int(lora["alpha"]),
        lora_dropout=float(lora["dropout"]),
        # "all-linear" is every nn.Linear (and 4-bit Linear) except the output head.
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        bias=lora["bias"],
        task_type="CAUSAL_LM",
    )
    with quiet_loading():
        return get_peft_model(model, config)


def load_for_training(
    source: str,
    continue_adapter: Path | None,
    model_cfg: Mapping[str, Any],
    method_cfg: Mapping[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    precision: str,
) -> Any:
    """The model a run trains: the base with a new adapter, with the adapter it continues, or
    (full fine-tuning) the base itself."""
    model = load_base(source, model_cfg, method_cfg, tokenizer, precision)
    if continue_adapter is not None:
        return load_adapter(model, str(continue_adapter), method_cfg)
    if method_cfg["name"] == "full":
        return model
    return add_adapter(model, method_cfg)


def load_adapter(model: PreTrainedModel, adapter_dir: str, method_cfg: Mapping[str, Any]) -> Any:
    """Wrap a base in an existing adapter that keeps training (stage 2 `init_mode=continue`)."""
    from peft import PeftModel

    model = _ready_for_kbit_training(model, method_cfg)
    with quiet_loading():
        return PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)


def _ready_for_kbit_training(model: PreTrainedModel, method_cfg: Mapping[str, Any]) -> Any:
    """A 4-bit base readied for adapter training (norms in fp32, input grads on); else as is."""
    if not getattr(model, "is_loaded_in_4bit", False):
        return model
    from peft import prepare_model_for_kbit_training

    return prepare_model_for_kbit_training(
        model, use_gradient_checkpointing=bool(method_cfg["gradient_checkpointing"])
    )


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """Trainable and total parameter counts (4-bit packed weights counted as their elements)."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        # bitsandbytes packs two 4-bit values per uint8 element.
        if param.dtype == torch.uint8:
            n *= 2
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


def count_4bit_layers(model: torch.nn.Module) -> int:
    """Number of bitsandbytes 4-bit linear layers (0 for lora/full; proves a base was quantized)."""
    # 4-bit weights are packed uint8; without any, bitsandbytes need not even be imported.
    if not any(p.dtype == torch.uint8 for p in model.parameters()):
        return 0
    import bitsandbytes as bnb

    return sum(isinstance(m, bnb.nn.Linear4bit) for m in model.modules())
