"""Structured config schemas registered in Hydra's ConfigStore.

A misspelled key in a YAML file or on the command line fails at composition naming the key,
and so does a value outside an Enum-typed field's allowed values (naming them). Every default
is stated once: a field a conf/ YAML sets is MISSING here (a config composed without that YAML
fails naming the key); a default here is one no YAML restates (tests/test_config_defaults.py,
unless the line says `# restated: <why>`). A leaf module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# Allowed values. A StrEnum member is the string a user typed (== "pad", prints as pad, saved
# as pad in config.yaml), so library code compares it as a string; OmegaConf accepts a member
# by name, hence every name equals its value.


class TrackingMode(StrEnum):
    """tracking.mode: offline (W&B files in the run directory) | online | disabled (no W&B)."""

    offline = "offline"
    online = "online"
    disabled = "disabled"


class GenerationBackend(StrEnum):
    """generation.backend: hf (transformers generate) | vllm (GPU, when vllm is installed)."""

    hf = "hf"
    vllm = "vllm"


# data.on_error: raise (stop at a malformed line) | skip (count it and go on). Functional,
# as `raise` is a keyword.
OnError = StrEnum("OnError", [("raise", "raise"), ("skip", "skip")])


class TextPart(StrEnum):
    """data.language.text, data.filters.medical.match: which text of a record is read:
    prompt (the user turns) | conversation (every turn)."""

    prompt = "prompt"
    conversation = "conversation"


class UnscoredRecords(StrEnum):
    """data.filters.quality.missing: a record without a score is dropped, kept, or an error."""

    drop = "drop"
    keep = "keep"
    error = "error"


class QwenTokenizer(StrEnum):
    """data.tokenizer: the vendored Qwen tokenizer variant (bioqwen/assets/tokenizer)."""

    qwen1_5 = "qwen1_5"
    qwen2_5 = "qwen2_5"


class ModelInit(StrEnum):
    """model.init: pretrained (hub_id or path) | random (`architecture`, random weights)."""

    pretrained = "pretrained"
    random = "random"


class GgufQuant(StrEnum):
    """A llama.cpp GGUF type (bioqwen.export.quantize)."""

    f16 = "f16"
    q8_0 = "q8_0"
    q4_0 = "q4_0"
    q4_k_m = "q4_k_m"


# model.quantization, the INT4/INT8 evaluation rows (bioqwen/eval/quantized.py): none | nf4
# (bitsandbytes) | gguf-<a GgufQuant> (llama.cpp). Functional, as the names hold a hyphen.
ModelQuantization = StrEnum(
    "ModelQuantization",
    [
        ("none", "none"),
        ("nf4", "nf4"),
        ("gguf-f16", "gguf-f16"),
        ("gguf-q8_0", "gguf-q8_0"),
        ("gguf-q4_0", "gguf-q4_0"),
        ("gguf-q4_k_m", "gguf-q4_k_m"),
    ],
)


class ReportSource(StrEnum):
    """report.source: runs (read run directories) | wandb (read runs through the W&B API)."""

    runs = "runs"
    wandb = "wandb"


class ReportPublish(StrEnum):
    """report.publish: none | wandb (also save a W&B Report + workspace; needs tracking.entity)."""

    none = "none"
    wandb = "wandb"


class BenchmarkReader(StrEnum):
    """benchmark.reader: the gold's format (bioqwen.eval.gold): ncbi, bc5cdr, cmeee (NER) |
    paper_csv, and webmedqa, cmedqa2, icliniq (QA, read by bioqwen.data's parsers)."""

    ncbi = "ncbi"
    bc5cdr = "bc5cdr"
    cmeee = "cmeee"
    paper_csv = "paper_csv"
    webmedqa = "webmedqa"
    cmedqa2 = "cmedqa2"
    icliniq = "icliniq"


class EntitySeparators(StrEnum):
    """benchmark.entity_separators: how an NER response's entity lists are split: response =
    every line on the strongest separator found anywhere in the response (';' > '、' > ', '),
    so '足底、足背贯通性溃疡' stays one entity in a ';' list | line: per line."""

    response = "response"
    line = "line"


class Batching(StrEnum):
    """stage.batching: pad (to the batch maximum) | padding_free | packed (bins of max_length)."""

    pad = "pad"
    padding_free = "padding_free"
    packed = "packed"


# stage.init_mode: merge (fold the stage-1 adapter into the base) | continue (keep training it).
InitMode = StrEnum("InitMode", [("merge", "merge"), ("continue", "continue")])


class Precision(StrEnum):
    """stage.precision: auto = bf16 on a device that supports it, else fp32."""

    auto = "auto"
    bf16 = "bf16"
    fp16 = "fp16"
    fp32 = "fp32"


class MethodName(StrEnum):
    """method.name: qlora (4-bit base + LoRA) | lora | full fine-tuning."""

    qlora = "qlora"
    lora = "lora"
    full = "full"


class Attention(StrEnum):
    """model.attn_implementation; auto = flash_attention_2 when flash-attn is installed on CUDA,
    else sdpa_segmented (SDPA run per packed sample, bioqwen.train.attention)."""

    auto = "auto"
    sdpa_segmented = "sdpa_segmented"
    sdpa = "sdpa"
    eager = "eager"
    flash_attention_2 = "flash_attention_2"


class ComputeDtype(StrEnum):
    """method.quantization.compute_dtype: auto = bf16 where the device supports it, else fp32."""

    auto = "auto"
    float32 = "float32"
    bfloat16 = "bfloat16"
    float16 = "float16"


class Language(StrEnum):
    """A prompt language: zh | en."""

    zh = "zh"
    en = "en"


class Task(StrEnum):
    """A training record's task."""

    ner = "ner"
    re = "re"
    mt = "mt"
    qa = "qa"
    general = "general"
    self_cognition = "self_cognition"


class BenchmarkTask(StrEnum):
    """What a benchmark scores: ner (entity F1) | qa (answer similarity)."""

    ner = "ner"
    qa = "qa"


# Shared groups


@dataclass
class RunDirJobConfig:
    """What every job composing conf/base/run_dirs.yaml (one run directory per run) takes."""

    # conf/base/run_dirs.yaml: true = wait for another process's lock on the run directory
    wait: bool = MISSING


@dataclass
class TrackingConfig:
    """Weights & Biases settings; the API key comes from the environment, never from here."""

    mode: TrackingMode = MISSING
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
    init: ModelInit = ModelInit.pretrained
    init_seed: int = 0
    architecture: ArchitectureConfig | None = None
    # Vendored tokenizer of a randomly initialised model: qwen1_5 | qwen2_5 | small_bpe.
    tokenizer: str = "qwen1_5"
    bpe_vocab_size: int = 1024  # small_bpe's vocabulary
    pad_token: str = "<|padoftext|>"
    chat_eos: str = "<|im_end|>"
    # bioqwen: the BioQwen authors' prompt (data.system_prompts) for the prompt's language;
    # None: a baseline is prompted as itself (its chat template's own default).
    system_prompt: str | None = None
    # A Jinja chat template replacing the tokenizer's own (models without one, e.g. Taiyi).
    chat_template: str | None = None
    trust_remote_code: bool = False  # never on by default: opt in on the command line
    torch_dtype: str = "auto"
    attn_implementation: Attention = Attention.auto
    quantization: ModelQuantization = ModelQuantization["none"]
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
    task: Task | None = None  # a fixed task; None lets the reader derive it
    lang: Language | None = None  # a fixed language; None detects it from the text (data.language)
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
    match: TextPart = MISSING


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
    missing: UnscoredRecords = MISSING


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

    text: TextPart = MISSING


@dataclass
class DataConfig:
    """Everything the prepare step needs to turn raw sources into a tokenized mix."""

    root: str = MISSING
    samples_dir: str = MISSING
    mix: MixConfig = field(default_factory=MixConfig)
    tokenizer: QwenTokenizer = MISSING
    # No schema default: a job that forgets `- data: default` fails naming this key.
    max_tokens: int = MISSING
    truncate: bool = MISSING
    system_prompts: dict[str, str] = MISSING
    filters: FiltersConfig = field(default_factory=FiltersConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    cache_dir: str = MISSING
    num_proc: int = MISSING
    chunk_size: int = MISSING
    on_error: OnError = MISSING


@dataclass
class PrepareJobConfig(RunDirJobConfig):
    """`bioqwen prepare`."""

    job: str = "prepare"
    seed: int = 42  # shuffle, caps/ratios and the validation split all derive from it
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


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
    compute_dtype: ComputeDtype = MISSING


@dataclass
class MethodConfig:
    """How the base is adapted: qlora (4-bit base + LoRA), lora, or full fine-tuning."""

    name: MethodName = MISSING
    quantization: QuantizationSettings | None = None  # None: the base is not quantized
    lora: LoraSettings | None = None  # None: no adapter (full fine-tuning)
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
    precision: Precision = MISSING
    batching: Batching = MISSING
    max_length: int = MISSING
    eval_steps: int = MISSING  # 0 = evaluate only at the end
    eval_batch_size: int = MISSING
    logging_steps: int = MISSING
    save_steps: int = MISSING
    save_total_limit: int | None = MISSING
    requires_init: bool = MISSING
    init_from: str | None = MISSING
    init_mode: InitMode = MISSING
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
class TrainJobConfig(RunDirJobConfig):
    """`bioqwen train`."""

    job: str = "train"
    seed: int = 42  # authors' scripts; applied to python, numpy, torch and the data order
    model: ModelConfig = field(default_factory=ModelConfig)
    stage: StageConfig = field(default_factory=StageConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    data: DataConfig = field(default_factory=DataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # An existing prepared DatasetDict dir (or prepare run dir); None = prepare data.mix now.
    data_dir: str | None = None
    max_train_samples: int | None = None  # cap the training split (quick experiments); None = all
    max_eval_samples: int | None = None  # cap the validation split used for eval loss
    resume: bool = False  # continue from the newest checkpoint in hydra.run.dir
    merge: bool = False  # write the merged full model into <run dir>/merged at the end
    # In-training generation metrics, e.g. the evaluation code on a benchmark:
    # generation_eval.hook._target_=bioqwen.eval.training_hook.benchmark_metrics
    # +generation_eval.hook.benchmark=ncbi generation_eval.every_steps=50
    # (the hook's options: limit=8, max_new_tokens=64, batch_size=8; it prompts with this run's
    # data.system_prompts); every_steps 0 = never.
    generation_eval: GenerationEvalConfig = field(default_factory=GenerationEvalConfig)
    # A DeepSpeed JSON for multi-GPU runs, e.g. conf/deepspeed/zero2.json (needs deepspeed).
    deepspeed_config: str | None = None


# Evaluation


@dataclass
class BenchmarkConfig:
    """One evaluation benchmark: where its gold lies, how to read it, how to prompt and score."""

    name: str = MISSING
    task: BenchmarkTask = MISSING
    lang: Language = MISSING  # prompt language (system prompt, language fidelity)
    reader: BenchmarkReader = MISSING
    data_dir: str = MISSING
    files: dict[str, str] = field(default_factory=dict)  # split -> original file name
    splits: list[str] = field(default_factory=list)  # which splits to read, in this order
    format: str = "auto"  # bc5cdr: auto (BioC XML if present, else PubTator) | bioc | pubtator
    limit: int | None = None  # evaluate only the first N documents / questions
    # NER: source label -> entity type scored, and response label -> type (e.g. 疾病 -> Disease).
    types: dict[str, str] = field(default_factory=dict)
    type_names: dict[str, str] = field(default_factory=dict)  # type -> name shown in the prompt
    type_aliases: dict[str, str] = field(default_factory=dict)
    # NER input text: abstract (the authors prompted with the abstract; gold covers title +
    # abstract) | title_abstract
    input: str = "abstract"
    entity_separators: EntitySeparators = EntitySeparators.response
    prompt_template: str = "{text}"  # the user turn: {text} (QA: the question as is), NER {types}
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
    backend: GenerationBackend = MISSING


@dataclass
class BootstrapConfig:
    """Bootstrap intervals and paired tests over documents/questions (conf/bootstrap/)."""

    resamples: int = 1000  # resamples of the items; 0 turns intervals and p-values off
    confidence: float = 0.95  # interval coverage: 0.95 gives the 2.5th and 97.5th percentiles
    seed: int = 0  # the resamples are seeded: the same file gives the same interval


@dataclass
class PromptsDataConfig:
    """The data settings of a job that only prompts (evaluate, export, chat): the authors'
    system prompts by language, for a `system_prompt: bioqwen` model."""

    system_prompts: dict[str, str] = MISSING  # conf/data/system_prompts/


@dataclass
class EvaluateJobConfig(RunDirJobConfig):
    """`bioqwen evaluate`."""

    job: str = "evaluate"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    data: PromptsDataConfig = field(default_factory=PromptsDataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = "auto"  # auto: cuda when available, else cpu | cpu | cuda
    table_rows: int = 50  # sample predictions logged as a W&B table
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    # true: continue this run dir's predictions.jsonl (hydra.run.dir=<dir>), finished batches kept
    resume: bool = False


@dataclass
class ScoreJobConfig(RunDirJobConfig):
    """`bioqwen score`."""

    job: str = "score"
    predictions: str = MISSING
    compare: str | None = None  # another predictions file of the same items: paired p-values
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)


# Fetching the paper's data (bioqwen fetch-data)


class FetchKind(StrEnum):
    """files.<name>.kind: hf_dataset (a file of a hub dataset) | github_release (an asset)."""

    hf_dataset = "hf_dataset"
    github_release = "github_release"


@dataclass
class FetchFileConfig:
    """One published file: where it lies, at which revision, where prepare reads it."""

    kind: FetchKind = MISSING
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

    only: list[str] = field(default_factory=list)  # names under data.files to fetch; [] = all
    hf_endpoint: str = MISSING
    github_url: str = MISSING
    retries: int = MISSING
    timeout_s: float = MISSING


@dataclass
class FetchDataJobConfig(RunDirJobConfig):
    """`bioqwen fetch-data`."""

    job: str = "fetch_data"
    data: FetchDataSet = field(default_factory=FetchDataSet)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# Planning (bioqwen plan)


@dataclass
class PlanSettings:
    """Which GPU to price, where measured speeds lie, and the command line's train overrides."""

    gpu: str = MISSING
    gpus: int = MISSING
    runs: list[str] = MISSING
    table: str = MISSING
    out: str | None = None  # also write the plan as JSON to this file
    # Set from the command line by bioqwen.jobs.plan (not by hand): the train overrides, the
    # experiment (+experiment=...) and whether -m was given.
    overrides: list[str] = field(default_factory=list)
    experiment: str | None = None
    multirun: bool = False


@dataclass
class PlanJobConfig:
    """`bioqwen plan`."""

    job: str = "plan"
    plan: PlanSettings = field(default_factory=PlanSettings)
    paper: dict[str, Any] = MISSING  # how the paper's Table 1 and hours stand in (conf/plan.yaml)


# Export, chat, reward scoring and search (bioqwen export | chat | score-data | search)


class ExportFormat(StrEnum):
    """export format: gguf file(s) | mlc (MLC-LLM config + commands) | all (both)."""

    gguf = "gguf"
    mlc = "mlc"
    all = "all"


@dataclass
class ExportModelConfig:
    """What is exported: a training run dir (its merged/) or a merged model dir."""

    path: str = MISSING


@dataclass
class AgreementQuestion:
    """One user turn of the GGUF-vs-HF agreement check, with its system prompt's language."""

    lang: Language = MISSING
    text: str = MISSING


@dataclass
class AgreementSettings:
    """GGUF vs the HF model in fp32, greedy, on the same prompt token ids."""

    max_new_tokens: int = MISSING
    f16_tolerance: float = MISSING
    questions: list[AgreementQuestion] = MISSING


@dataclass
class MlcSettings:
    """MLC-LLM (paper 3.5: INT4 on Android phones): mlc-chat-config.json and the commands."""

    quantization: str = MISSING  # an MLC quantization name (q4f16_1: the paper's INT4)
    language: Language = MISSING
    model_id: str | None = MISSING
    dist_dir: str = MISSING
    context_window_size: int = MISSING
    prefill_chunk_size: int = MISSING
    temperature: float = MISSING
    top_p: float = MISSING
    repetition_penalty: float = MISSING


@dataclass
class ExportJobConfig(RunDirJobConfig):
    """`bioqwen export`."""

    job: str = "export"
    seed: int = 42
    model: ExportModelConfig = field(default_factory=ExportModelConfig)
    format: ExportFormat = MISSING
    quant: GgufQuant = MISSING
    keep_f16: bool = MISSING
    threads: int = MISSING
    agreement: AgreementSettings = field(default_factory=AgreementSettings)
    mlc: MlcSettings = field(default_factory=MlcSettings)
    data: PromptsDataConfig = field(default_factory=PromptsDataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


class ChatUi(StrEnum):
    """chat ui: web (a Gradio page on 127.0.0.1) | cli (the terminal)."""

    web = "web"
    cli = "cli"


@dataclass
class ChatExample:
    """An example prompt, one click in the page."""

    label: str = MISSING
    prompt: str = MISSING


@dataclass
class ChatJobConfig(RunDirJobConfig):
    """`bioqwen chat`."""

    job: str = "chat"
    models: list[str] = MISSING
    ui: ChatUi = MISSING
    port: int = MISSING
    device: str = MISSING
    parallel: bool = MISSING
    gguf_context: int = MISSING
    prompts: list[str] = MISSING
    # The starting values of the page's settings panel: a conf/generation/ preset.
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    examples: list[ChatExample] = MISSING
    data: PromptsDataConfig = field(default_factory=PromptsDataConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


@dataclass
class ScorerConfig:
    """The reward model of `bioqwen score-data` (conf/scorer/): a sequence classifier."""

    name: str = MISSING
    hub_id: str | None = MISSING
    path: str | None = None  # a local model directory; wins over hub_id
    revision: str | None = None  # hub revision (branch, tag or commit); None = main
    trust_remote_code: bool = False
    tokenizer_kwargs: dict[str, Any] = field(default_factory=dict)
    template: str = MISSING  # the scored text, from {query} and {response}
    max_length: int = MISSING  # tokens per input, truncated beyond
    dtype: str = "auto"  # auto: bfloat16 on a GPU, float32 on a CPU | float16 | float32


class EmbedderKind(StrEnum):
    """An embedder's kind: encoder (truncated at max_length) | decoder (full length)."""

    encoder = "encoder"
    decoder = "decoder"


@dataclass
class EmbedderConfig:
    """A model whose mean-pooled hidden states place records on a PCA map (conf/embedder/)."""

    name: str = MISSING
    kind: EmbedderKind = MISSING
    hub_id: str | None = MISSING
    path: str | None = None  # a local model directory; wins over hub_id
    revision: str | None = None  # hub revision (branch, tag or commit); None = main
    trust_remote_code: bool = False
    max_length: int | None = MISSING  # None: full length
    batch_size: int = MISSING
    dtype: str = "auto"  # auto: bfloat16 on a GPU, float32 on a CPU | float16 | float32


@dataclass
class ThresholdRange:
    """The candidate thresholds of the table: start, start + step, ... up to stop."""

    start: float = MISSING
    stop: float = MISSING
    step: float = MISSING


@dataclass
class BalanceSettings:
    """Which candidate threshold is suggested: kept QA tokens closest to ratio x these tasks'."""

    tasks: list[str] = MISSING
    ratio: float = MISSING


@dataclass
class EmbeddingSettings:
    """The Fig. 3c/d maps: which records, which text, which two models."""

    enabled: bool = MISSING
    max_records: int = MISSING
    text: str = MISSING
    encoder: EmbedderConfig = field(default_factory=EmbedderConfig)
    decoder: EmbedderConfig = field(default_factory=EmbedderConfig)


@dataclass
class ScoreDataJobConfig(RunDirJobConfig):
    """`bioqwen score-data`."""

    job: str = "score_data"
    seed: int = 42  # which records the embedding maps sample
    device: str = MISSING
    batch_size: int = MISSING
    max_batch_tokens: int = MISSING
    threshold: float = MISSING
    thresholds: ThresholdRange = field(default_factory=ThresholdRange)
    balance: BalanceSettings = field(default_factory=BalanceSettings)
    histogram_bins: int = MISSING
    embeddings: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    data: DataConfig = field(default_factory=DataConfig)
    scorer: ScorerConfig = field(default_factory=ScorerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


class Direction(StrEnum):
    """Whether a search minimizes or maximizes its objective."""

    minimize = "minimize"
    maximize = "maximize"


class Launch(StrEnum):
    """search launch: local (start the workers here) | none (print the worker command)."""

    local = "local"
    none = "none"


@dataclass
class SearchStudyConfig:
    """An Optuna study over train runs (conf/search/): space, objective, sampler, pruner."""

    study: str = MISSING
    objective: str = MISSING
    direction: Direction = MISSING
    params: list[str] = MISSING
    enqueue: list[str] = MISSING
    sampler: dict[str, Any] = MISSING  # `_target_` and its keyword arguments
    pruner: dict[str, Any] | None = MISSING  # conf/search/pruner/


@dataclass
class SearchJobConfig(RunDirJobConfig):
    """`bioqwen search`."""

    job: str = "search"
    workers: int = MISSING
    trials: int = MISSING
    gpus: list[int] = MISSING
    launch: Launch = MISSING
    train: list[str] = MISSING
    search: SearchStudyConfig = field(default_factory=SearchStudyConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


# Sweeps, the report and the pipeline


@dataclass
class SweepHeatmap:
    """What a sweep's heatmap shows (sweep_heatmap.png in the sweep directory)."""

    metric: str = "eval/loss"  # the heatmap's metric, a metrics.json key of every point
    x: str = "stage.learning_rate"  # heatmap columns
    y: str = "method.lora.r"  # heatmap rows


@dataclass
class SweepSettings(SweepHeatmap):
    """A multirun's settings (hydra.callbacks.sweep.<key>): how its points run, what its
    summary shows."""

    # true: the first failing point stops the sweep; false: it is recorded, the others run
    fail_fast: bool = False
    # the metrics.json key each point returns to the sweeper (checked before the first point)
    objective: str = "eval/loss"
    # e.g. [1,2]: every point runs once per seed (adds the axis seed=1,2); cells get mean, sd,
    # 95 % CI
    seeds: list[int] = field(default_factory=list)
    # with hydra/launcher=submitit_local: point i sees only GPU gpus[i % len]; [] = as launched
    gpus: list[int] = field(default_factory=list)


@dataclass
class SweepCallbackConfig(SweepSettings):
    """conf/hydra/callbacks/sweep.yaml: the sweep settings as Hydra instantiates the callback."""

    _target_: str = "bioqwen.sweeps.callback.SweepCallback"


@dataclass
class ReportSettings:
    """What `bioqwen report` reads and writes (conf/report.yaml)."""

    source: ReportSource = ReportSource.runs
    runs: str = "runs/**"  # glob of run directories (source=runs); the report's own is excluded
    # only runs of this experiment / W&B group (config experiment.name, tracking.group, or a
    # path part)
    group: str | None = None
    tables: list[str] = MISSING  # which paper tables to write, in order (conf/paper/<name>.yaml)
    figures: bool = True  # write figures/*.png (and log them to the report's W&B run)
    history_rows: int = 2000  # source=wandb: at most this many history rows per train run
    # sweep directories (multirun dirs) to summarise: table, heatmap, loss curves per sweep
    sweeps: list[str] = field(default_factory=list)
    sweep: SweepHeatmap = field(default_factory=SweepHeatmap)  # what the sweep heatmaps show
    publish: ReportPublish = ReportPublish.none
    # The forgetting table: a model evaluated on a stage-1 task (NER) at both stages is scored
    # stage 2 against stage 1 with the score job's compare= (paired bootstrap p-values over the
    # same documents; one score run each under <run dir>/forgetting/).
    forgetting: bool = True
    # benchmark -> gold data_dir for scoring authors' NER files, e.g. {bc5cdr: /data/cdr}
    data_dirs: dict[str, str] = field(default_factory=dict)
    # Reproduction verdicts (every cell beside a published value, bioqwen/report/verdicts.py):
    # false = only report them | true = also fail (exit 2, naming the cells) when a cell that
    # `expected` lists as reproduced is not reproduced now | update = (re)write `expected`.
    check: Any = False
    # The expected verdicts; null = conf/paper/verdicts/authors_results.yaml, those of the
    # shipped authors' files (bioqwen report authors_results=samples/benchmarks/authors_results).
    expected: str | None = None


@dataclass
class ReportLabels:
    """Paper-style names: of our models, and of the authors' released files' parts."""

    finetuned: dict[str, str] = MISSING  # a trained model's base -> its paper name
    models: dict[str, str] = MISSING  # model config name -> paper name (others keep theirs)
    authors_models: dict[str, str] = MISSING  # authors' file name model part -> paper name
    authors_datasets: dict[str, str] = MISSING  # authors' file name dataset part -> benchmark


@dataclass
class ReportJobConfig(RunDirJobConfig):
    """`bioqwen report`."""

    job: str = "report"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    # The authors' released prediction folder (layout ner/<dataset>/, qa/<dataset>/): every
    # file is scored with the score job's code into <run dir>/authors/ and fills Tables 2 and
    # 3. None = none.
    authors_results: str | None = None
    report: ReportSettings = field(default_factory=ReportSettings)
    labels: ReportLabels = field(default_factory=ReportLabels)


@dataclass
class ExperimentBlock:
    """An experiment's labels (conf/experiment/): its directory, W&B group and paper cell."""

    name: str = MISSING  # the experiment directory's name and every step's W&B group
    table: Any = None  # the paper table the experiment reproduces (2, 3, ...); read by report
    row: str | None = None  # the paper's row label (BioQwen-1.8B stage 2, Qwen1.5-Chat 1.8B, ...)
    tags: list[str] = field(default_factory=list)  # W&B tags of every step (table:3, ...)


@dataclass
class PipelineSettings:
    """Where an experiment's steps run and what they are (conf/pipeline.yaml)."""

    root: str = "runs/experiments"  # experiment directories live under it
    # this experiment's directory (steps are subdirectories)
    dir: str = "${pipeline.root}/${experiment.name}"
    # downloads for the full-size mixes and benchmarks (experiments interpolate it)
    data_root: str = "data"
    # true: wait for another pipeline running this experiment to end, instead of stopping
    wait: bool = False
    # Overrides every step of a job gets before its own (experiments set the model here).
    common: dict[str, list[str]] = MISSING
    # Ordered steps: {name, job, overrides: [...], inputs: {<config key>: <step>}}. An input
    # sets the key to that step's run directory: a step of this experiment, or
    # `<experiment>:<step>` (the other experiment, e.g. paper/bioqwen_1_8b_stage1, is run
    # first; its finished steps skip). Checked by bioqwen.experiments.parse_steps.
    steps: list[Any] = field(default_factory=list)
    # Extra overrides per job, applied last (command line; experiments leave it empty).
    overrides: dict[str, list[str]] = MISSING


@dataclass
class PipelineJobConfig:
    """`bioqwen pipeline`."""

    job: str = "pipeline"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    experiment: ExperimentBlock = field(default_factory=ExperimentBlock)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    # An experiment's own knobs, which its step overrides interpolate (smoke_paper:
    # params.base=qwen1_5_1_8b); anything else in an experiment file is a typo.
    params: dict[str, Any] = field(default_factory=dict)


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
    cs.store(name="export_schema", node=ExportJobConfig)
    cs.store(name="chat_schema", node=ChatJobConfig)
    cs.store(name="score_data_schema", node=ScoreDataJobConfig)
    cs.store(name="search_schema", node=SearchJobConfig)
    cs.store(group="benchmark", name="benchmark_schema", node=BenchmarkConfig)
    cs.store(group="generation", name="generation_schema", node=GenerationSettings)
    cs.store(group="hydra/callbacks", name="sweep_schema", node={"sweep": SweepCallbackConfig})
    cs.store(name="report_schema", node=ReportJobConfig)
    cs.store(name="pipeline_schema", node=PipelineJobConfig)


register()
