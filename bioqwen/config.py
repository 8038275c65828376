"""Structured config schemas registered in Hydra's ConfigStore.

A misspelled key in a YAML file or on the command line fails at composition naming the key.
Defaults live in conf/ only: a field a conf/ YAML sets is MISSING here (a config composed
without that YAML fails naming the key); a default here is one no YAML sets. A leaf module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# Shared groups


@dataclass
class TrackingConfig:
    """Weights & Biases settings; the API key comes from the environment, never from here."""

    mode: str = MISSING  # offline | online | disabled
    project: str = MISSING
    entity: str | None = None
    group: str | None = None
    name: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class ArchitectureConfig:
    """A Qwen2-architecture shape, in the keys of a published config.json (`model.init=random`)."""

    hidden_size: int = MISSING
    num_hidden_layers: int = MISSING
    num_attention_heads: int = MISSING
    num_key_value_heads: int = MISSING
    intermediate_size: int = MISSING
    vocab_size: int | None = MISSING  # None: the tokenizer's size rounded up to a multiple of 64
    tie_word_embeddings: bool = MISSING
    rope_theta: float = MISSING
    max_position_embeddings: int = MISSING
    rms_norm_eps: float = MISSING
    use_sliding_window: bool = MISSING
    sliding_window: int | None = MISSING
    max_window_layers: int = MISSING
    dtype: str = MISSING  # float32 | bfloat16: the dtype the built weights are saved in


@dataclass
class ModelConfig:
    """A base model or baseline: a hub id, a local directory, or random weights of a shape."""

    name: str = MISSING
    hub_id: str | None = None
    # A hub branch, tag or commit to pin hub_id to (recorded in lineage.json); None: main.
    revision: str | None = None
    path: str | None = None  # a local model directory; when set, it is what loads
    # pretrained: hub_id (or path) | random: `architecture` built with random weights from
    # init_seed, cached (bioqwen.models.build_random_model): the tiny model, or a base's real
    # shape offline (model.init=random model.architecture.num_hidden_layers=2).
    init: str = "pretrained"
    init_seed: int = 0
    architecture: ArchitectureConfig | None = None
    # Vendored tokenizer of a randomly initialised model: qwen1_5 | qwen2_5 | small_bpe.
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
    # none | nf4 | gguf-f16 | gguf-q8_0 | gguf-q4_0 | gguf-q4_k_m (bioqwen/eval/quantized.py)
    quantization: str = "none"
    # Facts used by reports (parameter counts, published sizes).
    params_b: float | None = None


# `${bioqwen.unless_path:${.path},<value>}`: a setting for the model a config builds (tiny's
# float32 and sdpa) that gives way to `auto` when model.path names a directory to load instead,
# so `evaluate model.path=<dir>` takes the directory's own dtype and attention.
OmegaConf.register_new_resolver(
    "bioqwen.unless_path", lambda path, value: "auto" if path else value, replace=True
)


# Data preparation

# `${bioqwen.root:}`: the checkout holding conf/ and samples/, so sample paths do not depend
# on the working directory. The project's one checkout-root finder (bioqwen.checkout exports it).
ROOT = Path(__file__).resolve().parents[1]
OmegaConf.register_new_resolver("bioqwen.root", lambda: str(ROOT), replace=True)


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

    enabled: bool = MISSING
    keep: list[str] = MISSING


@dataclass
class LengthFilterConfig:
    """The authors' token-length filters, counted with the real Qwen tokenizer."""

    enabled: bool = MISSING
    max_prompt_tokens: int = MISSING
    max_answer_tokens: int = MISSING
    pair_tasks: list[str] = MISSING
    max_total_tokens: int = MISSING
    total_tasks: list[str] = MISSING


@dataclass
class MedicalFilterConfig:
    """Removal of medical content from general data: domain labels and keywords."""

    enabled: bool = MISSING
    tasks: list[str] = MISSING
    domains: list[str] = MISSING
    keywords: list[str] = MISSING
    match: str = MISSING  # prompt | conversation


@dataclass
class DedupConfig:
    """Exact and normalised-text duplicate removal across the whole mix."""

    enabled: bool = MISSING
    normalized: bool = MISSING


@dataclass
class QualityFilterConfig:
    """Reward-score threshold for sources marked `quality: true`."""

    enabled: bool = MISSING
    threshold: float = MISSING
    missing: str = MISSING  # drop | keep | error


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

    text: str = MISSING  # prompt | conversation


@dataclass
class DataConfig:
    """Everything the prepare step needs to turn raw sources into a tokenized mix."""

    root: str = MISSING
    samples_dir: str = MISSING
    mix: MixConfig = field(default_factory=MixConfig)
    tokenizer: str = MISSING
    # No schema default: a job that forgets `- data: default` fails naming this key.
    max_tokens: int = MISSING
    truncate: bool = MISSING
    system_prompts: dict[str, str] = MISSING
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    cache_dir: str = MISSING
    num_proc: int = MISSING
    chunk_size: int = MISSING
    on_error: str = MISSING  # raise | skip


@dataclass
class PrepareJobConfig:
    """`bioqwen prepare`."""

    job: str = "prepare"
    seed: int = 42
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    wait: bool = MISSING  # conf/base/run_dirs.yaml: wait for the run directory's lock


# Training


@dataclass
class LoraSettings:
    """LoRA adapter shape (paper: r 64, alpha 16, dropout 0.05 on all linear layers but lm_head)."""

    r: int = MISSING
    alpha: int = MISSING
    dropout: float = MISSING
    target_modules: list[str] = MISSING
    bias: str = MISSING


@dataclass
class QuantizationSettings:
    """bitsandbytes 4-bit loading of the frozen base for QLoRA."""

    quant_type: str = MISSING
    double_quant: bool = MISSING
    compute_dtype: str = MISSING  # auto = bf16 where the device supports it, else fp32


@dataclass
class MethodConfig:
    """How the base is adapted: qlora (4-bit base + LoRA), lora, or full fine-tuning."""

    name: str = MISSING
    quantization: QuantizationSettings | None = None
    lora: LoraSettings | None = None
    gradient_checkpointing: bool = MISSING


@dataclass
class StageConfig:
    """One training stage: optimisation schedule, batching, checkpoints and its initialisation."""

    name: str = MISSING
    epochs: float = MISSING
    max_steps: int = MISSING  # > 0 overrides epochs
    learning_rate: float = MISSING
    lr_scheduler: str = MISSING
    warmup_ratio: float = MISSING
    per_device_batch_size: int = MISSING
    effective_batch_size: int = MISSING  # samples per optimizer step over all processes
    weight_decay: float = MISSING
    max_grad_norm: float = MISSING
    optim: str = MISSING
    precision: str = MISSING  # auto | bf16 | fp16 | fp32
    batching: str = MISSING  # pad | padding_free | packed
    max_length: int = MISSING
    eval_steps: int = MISSING  # 0 = evaluate only at the end
    eval_batch_size: int = MISSING
    logging_steps: int = MISSING
    save_steps: int = MISSING
    save_total_limit: int | None = MISSING
    requires_init: bool = MISSING
    init_from: str | None = MISSING
    init_mode: str = MISSING  # merge | continue
    dataloader_num_workers: int = MISSING
    early_stopping: int = MISSING  # stop after N evaluations without a better eval loss; 0 = off
    keep_best: bool = MISSING  # end on the best eval-loss checkpoint instead of the last step
    token_metrics: bool = MISSING  # TRL's per-token entropy and accuracy (cost: a full-vocab pass)


@dataclass
class GenerationEvalConfig:
    """Optional generation-metric hook run every N optimizer steps: `hook` is what Hydra
    instantiates (`_target_` a factory, its other keys the factory's keyword arguments)."""

    hook: dict[str, Any] = field(default_factory=lambda: {"_target_": None})
    every_steps: int = 0


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
    wait: bool = MISSING  # conf/base/run_dirs.yaml: wait for the run directory's lock


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
    # NER: source label -> entity type scored, and response label -> type (e.g. 疾病 -> Disease).
    types: dict[str, str] = field(default_factory=dict)
    type_names: dict[str, str] = field(default_factory=dict)  # type -> name shown in the prompt
    type_aliases: dict[str, str] = field(default_factory=dict)
    input: str = "abstract"  # NER input text: abstract (as the authors) | title_abstract
    entity_separators: str = "response"  # NER: one separator per response | per line
    prompt_template: str = "{text}"
    system_prompt: str | None = None  # None: the model's (model.system_prompt)
    word_level: bool = False  # QA: also report word-level metrics under word/<metric>
    questions_from: str | None = None  # an authors' prediction CSV: evaluate exactly its items


@dataclass
class GenerationSettings:
    """Decoding settings for evaluation (a named preset in conf/generation/)."""

    name: str = MISSING
    do_sample: bool = MISSING
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = MISSING
    min_new_tokens: int = 0
    repetition_penalty: float = 1.0
    batch_size: int = MISSING
    seed: int = MISSING
    # Prompts timed one at a time for the paper's iteration time (0: skip; all when batch 1).
    iteration_time_samples: int = MISSING
    backend: str = MISSING  # hf (transformers generate) | vllm (GPU, when vllm is installed)


@dataclass
class BootstrapConfig:
    """Bootstrap intervals and paired tests over documents/questions (conf/bootstrap/)."""

    resamples: int = 1000  # 0: no intervals
    confidence: float = 0.95
    seed: int = 0


@dataclass
class EvaluateDataConfig:
    """The data settings evaluation reads: a `system_prompt: bioqwen` model's prompts."""

    system_prompts: dict[str, str] = MISSING  # conf/data/system_prompts/


@dataclass
class EvaluateJobConfig:
    """`bioqwen evaluate`."""

    job: str = "evaluate"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    data: EvaluateDataConfig = field(default_factory=EvaluateDataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = "auto"  # auto | cpu | cuda
    table_rows: int = 50  # sample predictions logged as a W&B table
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    resume: bool = False  # continue the run directory's predictions.jsonl
    wait: bool = MISSING  # conf/base/run_dirs.yaml: wait for the run directory's lock


@dataclass
class ScoreJobConfig:
    """`bioqwen score`."""

    job: str = "score"
    predictions: str = MISSING
    compare: str | None = None  # another predictions file of the same items: paired p-values
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    wait: bool = MISSING  # conf/base/run_dirs.yaml: wait for the run directory's lock


# Fetching the paper's data (bioqwen fetch-data)


@dataclass
class FetchFileConfig:
    """One published file: where it lies, at which revision, where prepare reads it."""

    kind: str = MISSING  # hf_dataset | github_release
    repo: str = MISSING  # owner/name on the hub or on GitHub
    revision: str = MISSING  # hub commit, branch or tag; or the GitHub release tag
    file: str = MISSING  # the file in the hub repo, or the release asset
    dest: str = MISSING  # where it goes, relative to data.root
    sha256: str | None = None  # None: the hub's LFS hash, else recorded on first fetch
    # Zip members (by base name) -> where each is extracted, relative to data.root.
    extract: dict[str, str] = field(default_factory=dict)


@dataclass
class FetchDataSet:
    """The download root and the files to fetch into it."""

    root: str = MISSING
    files: dict[str, FetchFileConfig] = field(default_factory=dict)


@dataclass
class FetchSettings:
    """Which files, from where, and how hard to retry."""

    only: list[str] = field(default_factory=list)
    hf_endpoint: str = MISSING
    github_url: str = MISSING
    retries: int = MISSING
    timeout_s: float = MISSING


@dataclass
class FetchDataJobConfig:
    """`bioqwen fetch-data`."""

    job: str = "fetch_data"
    data: FetchDataSet = field(default_factory=FetchDataSet)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    wait: bool = MISSING  # conf/base/run_dirs.yaml: wait for the run directory's lock


# Planning (bioqwen plan)


@dataclass
class PlanSettings:
    """Which GPU to price, where measured speeds lie, and the command line's train overrides."""

    gpu: str = MISSING
    gpus: int = MISSING
    runs: list[str] = MISSING
    table: str = MISSING
    out: str | None = None
    overrides: list[str] = field(default_factory=list)
    experiment: str | None = None
    multirun: bool = False


@dataclass
class PlanJobConfig:
    """`bioqwen plan`."""

    job: str = "plan"
    plan: PlanSettings = field(default_factory=PlanSettings)
    paper: dict[str, Any] = MISSING  # how the paper's Table 1 and hours stand in (conf/plan.yaml)


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
    cs.store(name="fetch_data_schema", node=FetchDataJobConfig)
    cs.store(name="plan_schema", node=PlanJobConfig)
    cs.store(group="benchmark", name="benchmark_schema", node=BenchmarkConfig)
    cs.store(group="generation", name="generation_schema", node=GenerationSettings)


register()
