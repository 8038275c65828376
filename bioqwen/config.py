"""Structured config schemas registered in Hydra's ConfigStore.

Every primary config in conf/ starts from one of these schemas, so a misspelled key in a YAML
file or on the command line fails at composition time with Hydra's message naming the key.
Defaults of knobs live in conf/; the defaults here only make the schemas constructible.
This module imports nothing from bioqwen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# ---------------------------------------------------------------------------------------------
# Shared groups


@dataclass
class TrackingConfig:
    """Weights & Biases settings; the API key comes from the environment, never from here."""

    mode: str = "offline"  # offline | online | disabled
    project: str = "bioqwen"
    entity: str | None = None
    group: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class TinyModelConfig:
    """Shape of the randomly initialised Qwen2-architecture model built on demand."""

    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    max_position_embeddings: int = 2048
    seed: int = 0


@dataclass
class ModelConfig:
    """A base model or baseline: a hub id, a local directory, or the tiny CPU model."""

    name: str = MISSING
    hub_id: str | None = None
    path: str | None = None
    # Vendored tokenizer used when building the tiny model: qwen1_5 | qwen2_5 | small_bpe.
    tokenizer: str = "qwen1_5"
    bpe_vocab_size: int = 1024
    pad_token: str = "<|padoftext|>"
    chat_eos: str = "<|im_end|>"
    # bioqwen: the BioQwen authors' prompt for the benchmark language; None: the model's own.
    system_prompt: str | None = None
    # A Jinja chat template replacing the tokenizer's own (models without one, e.g. Taiyi).
    chat_template: str | None = None
    trust_remote_code: bool = False
    torch_dtype: str = "auto"
    attn_implementation: str = "auto"  # auto | sdpa | eager | flash_attention_2
    tiny: TinyModelConfig | None = None
    # Facts used by reports (parameter counts, published sizes).
    params_b: float | None = None


# ---------------------------------------------------------------------------------------------
# Data preparation

# `${bioqwen.root:}`: the checkout holding conf/ and samples/, so sample paths do not depend
# on the working directory.
OmegaConf.register_new_resolver(
    "bioqwen.root", lambda: str(Path(__file__).resolve().parents[1]), replace=True
)


@dataclass
class SourceConfig:
    """One raw source: where it lies, how to read it, what task it holds, how much to keep."""

    reader: str = MISSING
    path: str = MISSING
    # Fixed task (ner|re|mt|qa|general|self_cognition); None lets the reader derive it.
    task: str | None = None
    # Fixed language (zh|en); None detects it from the text (data.language).
    lang: str | None = None
    constructed: bool = False
    # Keep at most `cap` cleaned records, after keeping a `ratio` fraction (seeded samples).
    cap: int | None = None
    ratio: float = 1.0
    # Apply the quality-score threshold (data.filters.quality) to this source, with scores
    # keyed by record id from score_file (JSONL {"id", "score"} or CSV id,score).
    quality: bool = False
    score_file: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class MixConfig:
    """Which sources a training mix holds and how large its validation split is."""

    name: str = MISSING
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    # A fraction of the mix when < 1, else a record count (the authors held out 500).
    validation_size: float = 0.0


@dataclass
class CategoryFilterConfig:
    """Keep only records whose source category (Taiyi `category`) is listed."""

    enabled: bool = True
    keep: list[str] = field(default_factory=list)


@dataclass
class LengthFilterConfig:
    """The authors' token-length filters, counted with the real Qwen tokenizer."""

    enabled: bool = True
    max_prompt_tokens: int = 512
    max_answer_tokens: int = 512
    pair_tasks: list[str] = field(default_factory=list)
    max_total_tokens: int = 924
    total_tasks: list[str] = field(default_factory=list)


@dataclass
class MedicalFilterConfig:
    """Removal of medical content from general data: domain labels and keywords."""

    enabled: bool = True
    tasks: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    match: str = "prompt"  # prompt | conversation


@dataclass
class DedupConfig:
    """Exact and normalised-text duplicate removal across the whole mix."""

    enabled: bool = True
    normalized: bool = True


@dataclass
class QualityFilterConfig:
    """Reward-score threshold for sources marked `quality: true`."""

    enabled: bool = True
    threshold: float = 2.80
    missing: str = "drop"  # drop | keep | error


@dataclass
class FiltersConfig:
    """Every cleaning step, each switchable on its own."""

    category: CategoryFilterConfig = field(default_factory=CategoryFilterConfig)
    medical: MedicalFilterConfig = field(default_factory=MedicalFilterConfig)
    quality: QualityFilterConfig = field(default_factory=QualityFilterConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    length: LengthFilterConfig = field(default_factory=LengthFilterConfig)


@dataclass
class LanguageConfig:
    """Language detection: zh when CJK characters outnumber Latin letters in `text`."""

    text: str = "prompt"  # prompt | conversation


@dataclass
class DataConfig:
    """Everything the prepare step needs to turn raw sources into a tokenized mix."""

    root: str = "."
    samples_dir: str = "${bioqwen.root:}/samples"
    mix: MixConfig = field(default_factory=MixConfig)
    tokenizer: str = "qwen1_5"
    # No schema default: a job that forgets `- data: default` fails naming this key.
    max_tokens: int = MISSING
    truncate: bool = True
    system_prompts: dict[str, str] = field(default_factory=dict)
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    cache_dir: str = "${oc.env:BIOQWEN_CACHE,${oc.env:HOME}/.cache/bioqwen}/data"
    num_proc: int = 1
    chunk_size: int = 1000
    on_error: str = "raise"  # raise | skip


@dataclass
class PrepareJobConfig:
    """`bioqwen prepare`."""

    job: str = "prepare"
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class LoraSettings:
    """LoRA adapter shape (paper: r 64, alpha 16, dropout 0.05 on all linear layers but lm_head)."""

    r: int = 64
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["all-linear"])
    bias: str = "none"


@dataclass
class QuantizationSettings:
    """bitsandbytes 4-bit loading of the frozen base for QLoRA."""

    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "auto"  # auto = bf16 where the device supports it, else fp32


@dataclass
class MethodConfig:
    """How the base is adapted: qlora (4-bit base + LoRA), lora, or full fine-tuning."""

    name: str = MISSING
    quantization: QuantizationSettings | None = None
    lora: LoraSettings | None = None
    gradient_checkpointing: bool = False


@dataclass
class StageConfig:
    """One training stage: optimisation schedule, batching, checkpoints and its initialisation."""

    name: str = MISSING
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float = 2e-4
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.1
    per_device_batch_size: int = 4
    gradient_accumulation_steps: int = 4
    weight_decay: float = 0.0
    max_grad_norm: float = 0.3
    optim: str = "adamw_torch"
    precision: str = "auto"  # auto | bf16 | fp16 | fp32
    batching: str = "pad"  # pad | padding_free | packed
    max_length: int = 1024
    eval_steps: int = 0  # 0 = evaluate only at the end
    eval_batch_size: int = 8
    logging_steps: int = 10
    save_steps: int = 500
    save_total_limit: int | None = 2
    requires_init: bool = False
    init_from: str | None = None
    init_mode: str = "merge"  # merge | continue
    dataloader_num_workers: int = 0


@dataclass
class GenerationEvalConfig:
    """Optional generation-metric hook: a `module:function` factory, run every N steps."""

    target: str | None = None
    every_steps: int = 0
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainJobConfig:
    """`bioqwen train`."""

    job: str = "train"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    data_dir: str | None = None
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    resume: bool = False
    merge: bool = False
    generation_eval: GenerationEvalConfig = field(default_factory=GenerationEvalConfig)
    deepspeed_config: str | None = None  # a DeepSpeed JSON (conf/deepspeed/zero2.json)


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass
class BenchmarkConfig:
    """One evaluation benchmark: where its gold lies, how to read it, how to prompt and score."""

    name: str = MISSING
    task: str = MISSING  # ner | qa
    lang: str = MISSING  # en | zh: prompt language (system prompt, language fidelity)
    reader: str = MISSING  # ncbi | bc5cdr | cmeee | cmedqa2 | webmedqa | icliniq | paper_csv
    data_dir: str = MISSING
    files: dict[str, str] = field(default_factory=dict)  # split -> original file name
    splits: list[str] = field(default_factory=list)  # which splits to read, in this order
    format: str = "auto"  # bc5cdr: auto (BioC XML if present) | bioc | pubtator
    limit: int | None = None  # evaluate only the first N documents / questions
    questions_from: str | None = None  # an authors' prediction CSV: its prompts, in its order
    # NER: source label -> entity type scored, and response label -> type (e.g. 疾病 -> Disease).
    types: dict[str, str] = field(default_factory=dict)
    type_names: dict[str, str] = field(default_factory=dict)  # type -> name shown in the prompt
    type_aliases: dict[str, str] = field(default_factory=dict)
    input: str = "abstract"  # NER input text: abstract (as the authors) | title_abstract
    entity_separators: str = "response"  # NER: one separator per response | per line
    prompt_template: str = "{text}"
    system_prompt: str | None = None  # None: the model's (model.system_prompt)
    word_level: bool = False  # QA: also report word-level metrics under word/<metric>


@dataclass
class GenerationSettings:
    """Decoding settings for evaluation (a named preset in conf/generation/)."""

    name: str = "greedy"
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    min_new_tokens: int = 0
    repetition_penalty: float = 1.0
    batch_size: int = 16
    seed: int = 42
    # Prompts timed one at a time for the paper's iteration time (0: skip; all when batch 1).
    iteration_time_samples: int = 8
    backend: str = "hf"  # hf (transformers generate) | vllm (GPU, when vllm is installed)


@dataclass
class BootstrapSettings:
    """Percentile bootstrap over questions / documents (eval/bootstrap.py)."""

    resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95


@dataclass
class EvaluateJobConfig:
    """`bioqwen evaluate`."""

    job: str = "evaluate"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = "auto"  # auto | cpu | cuda
    table_rows: int = 50  # sample predictions logged as a W&B table
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)


@dataclass
class ScoreJobConfig:
    """`bioqwen score`."""

    job: str = "score"
    predictions: str = MISSING
    compare: str | None = None  # a second predictions file: paired bootstrap p-values
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


def register() -> None:
    """Register every schema with Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="prepare_schema", node=PrepareJobConfig)
    cs.store(group="tracking", name="tracking_schema", node=TrackingConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(name="train_schema", node=TrainJobConfig)
    cs.store(group="stage", name="stage_schema", node=StageConfig)
    cs.store(group="method", name="method_schema", node=MethodConfig)
    cs.store(name="evaluate_schema", node=EvaluateJobConfig)
    cs.store(name="score_schema", node=ScoreJobConfig)
    cs.store(group="benchmark", name="benchmark_schema", node=BenchmarkConfig)
    cs.store(group="generation", name="generation_schema", node=GenerationSettings)


register()
