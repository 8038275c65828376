"""Text embeddings for the Fig. 3c/d maps, cached by model and record, and their 2-D PCA.

Two poolings, as the paper used them: an encoder (BioBERT-style) reads each text truncated to
512 tokens and averages its last hidden states over real tokens; a decoder (BioGPT-style)
reads the full text and averages its last layer the same way. Vectors are cached per model
(identity, pooling, truncation) and per record (id + a digest of its text, so an edited file
never serves a stale vector) in `.npz` shards, one per run that computed something.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bioqwen.errors import BioqwenError
from bioqwen.models import spec_source
from bioqwen.quality.records import chunks, encode
from bioqwen.quality.reward import model_identity, pick_dtype
from bioqwen.runs import stable_hash


def _key(rid: str, text: str) -> str:
    return (
        f"{rid}:{hashlib.blake2b(text.encode('utf-8', 'surrogatepass'), digest_size=8).hexdigest()}"
    )


class Embedder:
    """A loaded encoder or decoder with its pooling and its cache directory."""

    def __init__(self, spec: Mapping[str, Any], key: str, device: Any, cache_root: Path) -> None:
        from transformers import AutoModel, AutoTokenizer

        source = spec_source(spec, key)
        self.key, self.device = key, device
        self.kind = str(spec["kind"])  # encoder | decoder (EmbedderKind, checked at composition)
        self.max_length = spec.get("max_length")
        self.batch_size = int(spec["batch_size"])
        common = {
            "revision": spec.get("revision"),
            "trust_remote_code": bool(spec["trust_remote_code"]),
        }
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, **common)
            self.model = (
                AutoModel.from_pretrained(
                    source, dtype=pick_dtype(str(spec["dtype"]), device), **common
                )
                .to(device)
                .eval()
            )
        except (OSError, ValueError) as err:
            raise BioqwenError(f"{key}: cannot load {source} ({str(err).splitlines()[0]})") from err
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.identity = model_identity(spec, key)
        # A local directory is named by itself: the config's name belongs to its hub model.
        self.name = Path(source).name if spec.get("path") else str(spec.get("name") or source)
        digest = stable_hash([self.identity, self.kind, self.max_length, "mean"])
        self.cache = cache_root / "embeddings" / f"{self.name.replace('/', '_')}-{digest}"

    def _encode_kwargs(self) -> dict[str, Any]:
        if self.max_length is None:  # full length, as the paper's BioGPT embeddings
            return {"truncation": False}
        return {"truncation": True, "max_length": int(self.max_length)}

    def check(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Tokenize every text once; a text the model cannot take raises naming its record."""
        limit = getattr(self.model.config, "max_position_embeddings", None)
        encoded = encode(
            self.tokenizer, ids, texts, f"{self.key}'s tokenizer", **self._encode_kwargs()
        )
        for rid, tokens in zip(ids, encoded, strict=True):
            if limit and len(tokens) > limit:
                raise BioqwenError(
                    f"record {rid}: {len(tokens)} tokens, more than {self.key} takes ({limit}); "
                    f"set {self.key}.max_length to truncate"
                )

    def _cached(self) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.cache.glob("*.npz")):
            with np.load(shard) as data:
                found.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
        return found

    def _pool(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        batch = self.tokenizer(
            list(texts), padding=True, return_tensors="pt", **self._encode_kwargs()
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).cpu().numpy()

    def embed(self, ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """One mean-pooled vector per text (cached ones reused, new ones cached)."""
        from tqdm import tqdm

        keys = [_key(r, t) for r, t in zip(ids, texts, strict=True)]
        cached = self._cached()
        todo = sorted(
            {k: i for i, k in enumerate(keys) if k not in cached}.values(),
            key=lambda i: -len(texts[i]),
        )
        new: dict[str, np.ndarray] = {}
        for batch in tqdm(
            list(chunks(todo, self.batch_size)), desc=f"embed {self.name}", unit=" batch"
        ):
            new.update(
                zip([keys[i] for i in batch], self._pool([texts[i] for i in batch]), strict=True)
            )
        if new:
            self.cache.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".npz", dir=self.cache, prefix=".shard.")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=np.array(list(new)), vectors=np.stack(list(new.values())))
            os.replace(tmp, self.cache / f"{stable_hash(sorted(new))}.npz")
            cached.update(new)
        return np.stack([cached[k] for k in keys])


def pca_2d(vectors: np.ndarray, seed: int) -> tuple[np.ndarray, list[float]]:
    """Points on the first two principal components and the share of variance each explains."""
    from sklearn.decomposition import PCA

    if len(vectors) < 3:
        raise BioqwenError(f"PCA needs at least 3 records, got {len(vectors)}")
    pca = PCA(n_components=2, random_state=seed)
    points = pca.fit_transform(vectors)
    return points, [float(v) for v in pca.explained_variance_ratio_]
