"""Local, private question answering over folders of briefings, with numbered citations.

>>> from rag import answer, search, build_index
>>> build_index("samples/briefings", index_dir="index")          # doctest: +SKIP
>>> a = answer("Qui a proposé la trêve de 30 jours ?")            # doctest: +SKIP
>>> a.text, a.found, a.citations[0].doc                           # doctest: +SKIP
('Donald Trump a proposé ... [1].', True, '.../2025-05-20-treve-30-jours-macron.md')

Every function takes `index_dir=` (default: `index/` in the working directory,
or the environment variable RAG_INDEX_DIR). Models are loaded once per process.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .errors import RagError  # noqa: E402
from .indexing import BuildReport  # noqa: E402
from .retrieval import Filters  # noqa: E402
from .schema import Answer, Chunk, Citation, Document, Hit  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = [
    "answer",
    "answer_stream",
    "search",
    "build_index",
    "index_status",
    "Answer",
    "Citation",
    "Hit",
    "Chunk",
    "Document",
    "Filters",
    "Settings",
    "BuildReport",
    "RagError",
]

_lock = threading.Lock()
_embedders: dict = {}
_llms: dict = {}
_assistants: dict = {}


def _settings(index_dir, overrides) -> Settings:
    return Settings.from_env(index_dir=str(index_dir) if index_dir is not None else None, **overrides)


def _embedder(settings: Settings):
    from .embedding import Embedder
    from .models import embedder_path

    key = str(embedder_path(settings))
    with _lock:
        if key not in _embedders:
            _embedders[key] = Embedder.load(settings)
        return _embedders[key]


def _llm(settings: Settings):
    from .backends import open_llm

    # one in-process model per file and context size; one client per server list
    key = (settings.llm_url.strip(), settings.llm_model, settings.models_dir, settings.n_ctx)
    with _lock:
        if key not in _llms:
            _llms[key] = open_llm(settings)
        return _llms[key]


def _searcher(settings: Settings):
    from .backends import open_index

    return open_index(settings, _embedder(settings)).searcher()


def _assistant(settings: Settings):
    from .answering import Assistant

    key = settings
    with _lock:
        cached = _assistants.get(key)
    if cached is not None:
        return cached
    retriever, llm = _searcher(settings), _llm(settings)
    with _lock:
        assistant = _assistants.setdefault(key, Assistant(settings, retriever, llm))
    return assistant


def answer(
    question: str, *, index_dir=None, k: int | None = None, history=None, filters: Filters | None = None, **settings
) -> Answer:
    """Answer a question from the indexed briefings, with checked citations.

    >>> a = answer("who proposed the 30-day truce?")     # doctest: +SKIP
    >>> a.found, a.citations[0].n                         # doctest: +SKIP
    (True, 1)
    """
    return _assistant(_settings(index_dir, settings)).answer(question, k=k, history=history, filters=filters)


def answer_stream(
    question: str, *, index_dir=None, k: int | None = None, history=None, filters: Filters | None = None, **settings
) -> Iterator:
    """Stream an answer: `StreamEvent`s with text deltas, then one with the final `Answer`.

    >>> for ev in answer_stream("Qui a proposé la trêve ?"):    # doctest: +SKIP
    ...     print(ev.delta, end="") if ev.answer is None else print(ev.answer.citations)
    """
    return _assistant(_settings(index_dir, settings)).stream(question, k=k, history=history, filters=filters)


def search(
    query: str,
    k: int = 5,
    *,
    index_dir=None,
    mode: str = "hybrid",
    filters: Filters | None = None,
    dates=None,
    **settings,
) -> list[Hit]:
    """Hybrid search: the k best passages, best first; `dates` (rag.dates.parse_period(query)) favours a period.

    >>> search("Weimar+", k=5)[0].text                   # doctest: +SKIP
    "La réponse a pris la forme de l'alliance Weimar+ ..."
    """
    s = _settings(index_dir, settings)
    key = ("retriever", s)
    with _lock:
        retriever = _assistants.get(key)
    if retriever is None:
        retriever = _searcher(s)
        with _lock:
            _assistants[key] = retriever
    return retriever.search(query, k=k, mode=mode, filters=filters, dates=dates)


def build_index(
    folder=None, *, index_dir=None, full: bool = False, progress=None, workers: int = 1, **settings
) -> BuildReport:
    """Index or re-sync a folder of briefings (incremental, atomic) into the configured store (`store=`).

    >>> build_index("samples/briefings", index_dir="index").summary()   # doctest: +SKIP
    '10 documents (10 added, ...), 0 skipped, 27 chunks in 7.2 s'
    """
    from .backends import open_index

    s = _settings(index_dir, settings)
    return open_index(s, _embedder(s)).build(
        None if folder is None else str(folder), full=full, progress=progress, workers=workers
    )


def index_status(*, index_dir=None, **settings) -> dict:
    """What the index holds: documents, chunks, models, when built (raises IndexNotFound).

    >>> index_status()["documents"]     # doctest: +SKIP
    10
    """
    from .backends import open_index

    return open_index(_settings(index_dir, settings), None).status()
