"""bioqwen: two-stage QLoRA fine-tuning of small Qwen models for bilingual biomedical NLP."""

__version__ = "0.1.0"
