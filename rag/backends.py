"""The two swappable stages, as small protocols, and the one place that picks an implementation.

- `Index`: where passages live and how they are searched. Default: a FAISS + BM25
  folder (`rag.folder_index.FolderIndex`); with `RAG_STORE=postgresql://user@host/db`
  (`--store`), PostgreSQL + pgvector (`rag.postgres.PostgresIndex`).
- `Generator`: the LLM. Default: llama.cpp in this process (`rag.llm.LLM`); with
  `RAG_LLM_URL=http://host:port/v1` (several, comma-separated), any OpenAI-compatible
  server (`rag.llm_server.ServerLLM`).

Callers (the assistant, the CLI, the web chat) use the protocols only.

>>> from rag.backends import open_index
>>> from rag.settings import Settings
>>> open_index(Settings(store=""), embedder=None).location            # doctest: +SKIP
'/home/me/briefings/index'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np

    from .dates import DateRange
    from .embedding import Embedder
    from .indexing import BuildReport
    from .retrieval import Filters
    from .schema import Hit
    from .settings import Settings

# progress(stage, done, total): stage is "scan" or "embed"
Progress = Callable[[str, int, int], None]


@dataclass
class WorkReport:
    """What one build worker did: (phase, path) of each job it completed, in order."""

    worker: str
    done: list[tuple[str, str]] = field(default_factory=list)

    def paths(self, phase: str = "index") -> list[str]:
        return [p for ph, p in self.done if ph == phase]


class Searcher(Protocol):
    """Finds the passages of a question: the same `Hit`s (doc, start, end, text, score, sentences, ...)."""

    settings: Settings
    embedder: Embedder

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str = "hybrid",
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        dates: DateRange | None = None,
    ) -> list[Hit]: ...


class Index(Protocol):
    """An index backend: build (incremental sync), describe, search."""

    location: str  # where it lives, safe to print (passwords masked)

    def build(
        self, folder: str | None = None, *, full: bool = False, progress: Progress | None = None, workers: int = 1
    ) -> BuildReport:
        """Sync the index with `folder` (default: the folder it was built from), with `workers` processes."""
        ...

    def work(self, *, wait: float = 0.0, progress: Progress | None = None) -> WorkReport:
        """Join the running build as an extra worker (another process or machine); returns what it did."""
        ...

    def status(self) -> dict:
        """What it holds: the keys of `rag.index_status` (documents, chunks, embedder, files, ...)."""
        ...

    def version(self) -> object:
        """Changes whenever the index content changes (None when there is no index yet)."""
        ...

    def documents(self) -> dict[str, dict]:
        """Indexed file path -> its entry (sha256, title, date, format, chunks, dropped spans)."""
        ...

    def searcher(self) -> Searcher:
        """A searcher that follows this index's updates without a restart."""
        ...


class GeneratorSession(Protocol):
    """A prompt being read by the LLM: read next-token probabilities, force text, generate."""

    def feed(self, text: str) -> None: ...

    def probabilities(self, choices: list[str]) -> list[float]: ...

    def branch_probabilities(self, prefix: str, choices: list[str]) -> list[float]: ...

    def generate(self, max_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]: ...


class Generator(Protocol):
    """The LLM, deterministic (greedy): the same prompt gives the same reply."""

    name: str

    def format(self, messages: list[dict]) -> str: ...

    def count_tokens(self, text: str) -> int: ...

    def session(self, messages: list[dict], fixed: int | None = None) -> AbstractContextManager[GeneratorSession]: ...

    def stream(
        self, messages: list[dict], max_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]: ...

    def complete(self, messages: list[dict], max_tokens: int | None = None) -> str: ...


def open_index(settings: Settings, embedder: Embedder | None) -> Index:
    """The index the settings name: PostgreSQL for a postgresql:// `store`, else the FAISS folder."""
    if settings.store.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresIndex

        return PostgresIndex(settings, embedder)
    if settings.store:
        from .errors import RagError

        raise RagError(
            f"RAG_STORE / --store must be empty (the FAISS folder) or a postgresql:// URL, got {settings.store[:40]!r}"
        )
    from .folder_index import FolderIndex

    return FolderIndex(settings, embedder)


def open_llm(settings: Settings) -> Generator:
    """The LLM the settings name: OpenAI-compatible servers when `llm_url` is set, else llama.cpp here."""
    if settings.llm_url.strip():
        from .llm_server import ServerLLM

        return ServerLLM.connect(settings)
    from .llm import LLM

    return LLM.load(settings)
