"""The small typed records that flow through the pipeline.

Document -> Chunk -> Hit -> (LLM) -> Answer with Citations.
Field names of `Hit`, `Answer` and `Citation` are a public contract: clients
(the web chat, scripts) are written against them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A source file as the loader read it. Offsets elsewhere index into `text`."""

    path: str          # absolute path of the source file
    text: str          # full text as extracted (spans point into this)
    title: str
    date: str          # ISO date (YYYY-MM-DD), from the document or the file's mtime
    sha256: str        # hash of the raw bytes, drives incremental re-indexing
    format: str        # "txt", "md", "pdf", "docx", "html"


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: `doc_text[start:end] == text`."""

    doc: str
    start: int
    end: int
    text: str
    title: str = ""
    date: str = ""


@dataclass(frozen=True)
class Hit:
    """A retrieved passage, best first. `score` is the fused score (rag/retrieval.py)."""

    doc: str
    start: int
    end: int
    text: str
    score: float
    title: str = ""
    date: str = ""
    chunk_id: int = -1
    dense_score: float | None = None   # cosine similarity of its closest sentence to the question
    bm25_score: float | None = None    # BM25 score, when keyword retrieval saw it
    # its sentence units: (start, end) in the document and their cosine to the question
    sentences: tuple[tuple[int, int, float], ...] = ()
    # other documents holding (nearly) the same passage, e.g. one wire story pasted in several briefings
    also_in: tuple[str, ...] = ()


@dataclass(frozen=True)
class Citation:
    """A passage the final answer cites as `[n]`."""

    n: int
    doc: str
    title: str
    start: int
    end: int
    text: str
    date: str = ""
    # The sentence of the passage that best supports the citing sentence (offsets in the
    # document, like start/end), for highlighting; -1 when unknown.
    quote_start: int = -1
    quote_end: int = -1
    also_in: tuple[str, ...] = ()      # other documents holding (nearly) the same passage


@dataclass
class Answer:
    """A grounded answer. `found` is False when the briefings do not contain it."""

    text: str
    found: bool
    citations: list[Citation] = field(default_factory=list)
    question: str = ""
    language: str = "fr"
    query: str = ""                                   # the search query actually used
    hits: list[Hit] = field(default_factory=list)     # the passages shown to the LLM
    raw_text: str = ""                                # the LLM's output before grounding
    timings: dict[str, float] = field(default_factory=dict)
    # How the answer was reached, for evaluation and debugging (not a stable contract):
    # "shown" the (doc, start, end) sentences the LLM saw, "refused_by" the stage that said
    # "not found" (gate, answerability, verification, check), model scores and choices.
    trace: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    """A file the loader could not use, with a one-line reason."""

    path: str
    reason: str
