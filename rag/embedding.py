"""Dense embeddings with sentence-transformers (multilingual-e5-small by default).

e5 expects the prefixes "query: " and "passage: "; they are the model folder's
prompts, applied here so callers never forget them.

>>> from rag.embedding import Embedder
>>> emb = Embedder.load()                               # doctest: +SKIP
>>> emb.queries(["qui a proposé la trêve ?"]).shape      # doctest: +SKIP
(1, 384)
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

from .models import embedder_path
from .settings import Settings


class Embedder:
    """The model loads on first use, so a no-change re-sync never pays for it."""

    def __init__(self, path: Path, batch_size: int = 32, threads: int = 0):
        self.path = path
        self.name = path.name
        self.fingerprint = fingerprint(path)
        self.batch_size = batch_size
        self.threads = threads
        self.dim = _dimension(path)
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings | None = None) -> Embedder:
        """The configured model (on CPU, offline); raises ModelMissing when it is not prepared."""
        settings = settings or Settings.from_env()
        return cls(embedder_path(settings), settings.embed_batch_size, settings.threads)

    @property
    def model(self):
        with self._lock:
            if self._model is None:
                os.environ["HF_HUB_OFFLINE"] = "1"
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.set_verbosity_error()
                hf_logging.disable_progress_bar()
                if self.threads:
                    torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
                prompts = getattr(self._model, "prompts", {}) or {}
                self._query_prompt = "query" if "query" in prompts else None
                self._passage_prompt = next((p for p in ("passage", "document") if p in prompts), None)
            return self._model

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, "query")

    def passages(self, texts: list[str], progress=None) -> np.ndarray:
        """Embed passages; `progress(n_done)` is called after each batch.

        Texts are batched longest first, as sentence-transformers does within one
        `encode` call: batches of similar lengths waste little on padding, so
        embedding batch by batch (for progress) costs no more than one bare call.
        """
        out = np.zeros((len(texts), self.dim), np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for i in range(0, len(order), self.batch_size):
            rows = order[i : i + self.batch_size]
            out[rows] = self._encode([texts[r] for r in rows], "passage")
            if progress:
                progress(len(rows))
        return out

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        model = self.model
        prompt_name = self._query_prompt if prompt == "query" else self._passage_prompt
        vectors = model.encode(
            list(texts),
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def fingerprint(path: Path) -> str:
    """Identifies the model's weights and pipeline, so an index knows what embedded it."""
    h = hashlib.sha256()
    for name in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(name.relative_to(path)).encode())
        h.update(str(name.stat().st_size).encode())
        if name.suffix == ".json":
            h.update(name.read_bytes())
    return h.hexdigest()[:16]


def _dimension(path: Path) -> int:
    for pooling in sorted(path.glob("*Pooling*/config.json")):
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    config = next(path.rglob("config.json"), None)
    if config is not None:
        return int(json.loads(config.read_text()).get("hidden_size", 0))
    raise ValueError(f"cannot tell the embedding dimension of {path}")
