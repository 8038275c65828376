"""The quality step's tiny models, shared with tests/quality."""

from tests.quality.conftest import (  # noqa: F401  (fixtures)
    bert_scorer_dir,
    encoder_dir,
    quality_models,
    qwen_scorer_dir,
)
