"""The shared job shape: what every job sets up before it runs."""

from __future__ import annotations

from huggingface_hub.utils import are_progress_bars_disabled
from transformers.utils import logging as hf_logging

from bioqwen.jobs.common import quiet_model_bars


def test_model_bars_go_but_download_bars_stay() -> None:
    try:
        quiet_model_bars()
        assert not hf_logging.is_progress_bar_enabled()  # Loading weights, Writing model shards
        assert not are_progress_bars_disabled()  # a first download of real weights shows
    finally:
        hf_logging.enable_progress_bar()
