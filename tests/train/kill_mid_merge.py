"""Merge an adapter into its base, SIGKILL-ing this process in the middle of saving the result.

usage: python tests/train/kill_mid_merge.py <base model dir> <adapter dir> <target dir>
The merged weights are written into the temporary directory, then the process dies before the
tokenizer is saved: what a kill mid-save leaves beside the target, deterministically.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from bioqwen.checkout import compose
from bioqwen.models import tokenizer_for
from bioqwen.train.merge import merge_to_dir


def main() -> None:
    """Merge; die when the tokenizer is about to be saved (the weights are on disk)."""
    base, adapter, target = sys.argv[1:4]
    tokenizer = tokenizer_for(compose("model/tiny").model, base)

    def die(*args: Any, **kwargs: Any) -> None:
        print("killed mid-save", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    tokenizer.save_pretrained = die  # type: ignore[method-assign]
    merge_to_dir(base, adapter, tokenizer, target)


if __name__ == "__main__":
    main()
