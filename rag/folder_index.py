"""The default index backend: a folder holding FAISS vectors, BM25 arrays and a manifest (rag/store.py).

>>> from rag.folder_index import FolderIndex
>>> from rag.settings import Settings
>>> FolderIndex(Settings(index_dir="index"), None).status()["documents"]   # doctest: +SKIP
10
"""

from __future__ import annotations

import os

from .backends import Progress, WorkReport
from .embedding import Embedder
from .errors import RagError
from .indexing import BuildReport, build_index
from .retrieval import Retriever
from .settings import Settings
from .store import IndexStore


class FolderIndex:
    """`rag.backends.Index` over the on-disk folder `settings.index_dir`."""

    def __init__(self, settings: Settings, embedder: Embedder | None):
        self.settings, self.embedder = settings, embedder
        self.store = IndexStore(settings.index_dir)
        self.location = os.path.abspath(settings.index_dir)

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            self.embedder = Embedder.load(self.settings)
        return self.embedder

    def build(
        self, folder: str | None = None, *, full: bool = False, progress: Progress | None = None, workers: int = 1
    ) -> BuildReport:
        if workers > 1:
            raise RagError(
                "the index folder is built by one process; several workers need a PostgreSQL store (--store / RAG_STORE)"
            )
        return build_index(folder, settings=self.settings, embedder=self._embedder(), full=full, progress=progress)

    def work(self, *, wait: float = 0.0, progress: Progress | None = None) -> WorkReport:
        raise RagError("only a PostgreSQL store takes extra build workers: set --store / RAG_STORE")

    def status(self) -> dict:
        m = self.store.manifest()
        return {
            "index_dir": self.location,
            "store": self.location,
            "source": m.get("source"),
            "built_at": m.get("built_at"),
            "documents": m.get("counts", {}).get("documents"),
            "chunks": m.get("counts", {}).get("chunks"),
            "embedder": m.get("embedder", {}).get("name"),
            "chunking": m.get("chunking"),
            "skipped": m.get("skipped", []),
            "boilerplate_lines": m.get("counts", {}).get("boilerplate_lines", 0),
            # per-file line fingerprints are the build's business, not the reader's
            "files": {k: {f: v for f, v in d.items() if f != "lines"} for k, d in m.get("documents", {}).items()},
        }

    def version(self):
        return self.store.current()

    def documents(self) -> dict[str, dict]:
        return self.store.manifest().get("documents") or {}

    def searcher(self) -> Retriever:
        return Retriever(self.store, self._embedder(), self.settings)
