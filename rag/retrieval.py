"""Hybrid retrieval: dense (FAISS, e5 "query: " prefix) + BM25, fused by reciprocal rank fusion.

>>> from rag import search
>>> hits = search("Weimar+", k=3)                     # doctest: +SKIP
>>> hits[0].title, round(hits[0].score, 3)            # doctest: +SKIP
('L’Europe écartée ...', 0.033)
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .embedding import Embedder
from .indexing import expected_settings
from .schema import Hit
from .settings import Settings
from .store import IndexStore, LoadedIndex


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents (paths or file names) and/or a date range (ISO, inclusive)."""

    docs: tuple[str, ...] = ()
    date_from: str = ""
    date_to: str = ""

    def __bool__(self) -> bool:
        return bool(self.docs or self.date_from or self.date_to)


class Retriever:
    """Searches the live index; picks up a newly built index on the next query."""

    def __init__(self, store: IndexStore, embedder: Embedder, settings: Settings, index: LoadedIndex | None = None):
        self.store, self.embedder, self.settings = store, embedder, settings
        self._lock = threading.Lock()
        # `index` given: search that one (benchmarks on synthetic indexes); else the live one
        self.index: LoadedIndex = index or store.load(expected_settings(settings, embedder))

    @classmethod
    def load(cls, settings: Settings | None = None, embedder: Embedder | None = None) -> "Retriever":
        settings = settings or Settings.from_env()
        return cls(IndexStore(settings.index_dir), embedder or Embedder.load(settings), settings)

    def refresh(self) -> LoadedIndex:
        """Switch to a newer generation if a build completed since the last query."""
        current = self.store.current()
        if current is not None and self.index.path is not None and current != self.index.path:
            with self._lock:
                if current != self.index.path:
                    self.index = self.store.load(expected_settings(self.settings, self.embedder))
        return self.index

    def search(self, query: str, k: int | None = None, mode: str = "hybrid",
               filters: Filters | None = None, query_vector: np.ndarray | None = None) -> list[Hit]:
        """Top-k passages for `query`, best first. mode: "hybrid", "dense" or "bm25"."""
        index = self.refresh()
        k = k or self.settings.top_k
        n = len(index)
        if n == 0 or not query.strip():
            return []
        allowed = self._allowed_rows(index, filters) if filters else None
        depth = max(self.settings.candidates, k)
        q = query_vector if query_vector is not None else self.embedder.queries([query])[0]

        dense_rank, bm25_rank = [], []
        if mode in ("hybrid", "dense"):
            dense_rank = self._dense(index, q, depth, allowed)
        bm25 = index.bm25.scores(query) if mode in ("hybrid", "bm25") else None
        if bm25 is not None:
            scores = bm25 if allowed is None else np.where(allowed, bm25, 0)
            top = np.argpartition(-scores, min(depth, n - 1))[:depth] if n > depth else np.arange(n)
            bm25_rank = [int(i) for i in top[np.argsort(-scores[top], kind="stable")] if scores[i] > 0]

        fused: dict[int, float] = {}
        s = self.settings
        for weight, ranking in ((s.dense_weight, dense_rank), (s.bm25_weight, bm25_rank)):
            for rank, row in enumerate(ranking):
                fused[row] = fused.get(row, 0.0) + weight / (s.rrf_k + rank + 1)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        hits = []
        for row, score in best:
            c = index.chunks[row]
            hits.append(Hit(doc=c.doc, start=c.start, end=c.end, text=c.text, score=float(score), title=c.title,
                            date=c.date, chunk_id=row, dense_score=float(index.vectors[row] @ q),
                            bm25_score=float(bm25[row]) if bm25 is not None else None))
        return hits

    @staticmethod
    def _dense(index: LoadedIndex, q: np.ndarray, depth: int, allowed: np.ndarray | None) -> list[int]:
        if allowed is not None:
            rows = np.flatnonzero(allowed)
            sims = index.vectors[rows] @ q
            order = np.argsort(-sims, kind="stable")[:depth]
            return [int(rows[i]) for i in order]
        _, ids = index.dense.search(q[None, :].astype(np.float32), min(depth, len(index)))
        return [int(i) for i in ids[0] if i >= 0]

    @staticmethod
    def _allowed_rows(index: LoadedIndex, filters: Filters) -> np.ndarray:
        wanted = set(filters.docs)
        mask = np.ones(len(index), dtype=bool)
        for row, c in enumerate(index.chunks):
            if wanted and c.doc not in wanted and c.doc.rsplit("/", 1)[-1] not in wanted:
                mask[row] = False
            elif filters.date_from and c.date < filters.date_from:
                mask[row] = False
            elif filters.date_to and c.date > filters.date_to:
                mask[row] = False
        return mask
