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

    path: str  # absolute path of the source file
    text: str  # full text as extracted (spans point into this)
    title: str
    date: str  # ISO date (YYYY-MM-DD), from the document or the file's mtime
    sha256: str  # hash of the raw bytes, drives incremental re-indexing
    format: str  # "txt", "md", "pdf", "docx", "html"
    # PDF: where each page starts in `text`, one offset per page of the file (page n starts at
    # pages[n - 1]; an empty page starts where the next one does). () for formats without pages.
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `text[offset]`, None without pages.

        >>> Document("a.pdf", "one\\n\\nthree", "", "", "", "pdf", pages=(0, 5, 5)).page_at(6)
        3
        """
        if not self.pages:
            return None
        from bisect import bisect_right

        # Empty pages share their start with the next page: the last page starting at or before wins.
        return max(1, bisect_right(self.pages, offset))

    def page_breaks(self, start: int, end: int) -> tuple[tuple[int, int], ...]:
        """(offset, page) of each page that begins inside text[start:end] (after `start`)."""
        first = self.page_at(start)
        return tuple(
            (offset, number)
            for number, offset in enumerate(self.pages, start=1)
            if start < offset < end and first is not None and number > first and self.page_at(offset) == number
        )


@dataclass(frozen=True)
class Chunk:
    """A passage of one document: `doc_text[start:end] == text`."""

    doc: str
    start: int
    end: int
    text: str
    title: str = ""
    date: str = ""
    page: int | None = None  # PDF page (1-based) of `start`; None for formats without pages
    # (offset, page) where a later page begins inside the passage (a passage across a page break)
    page_breaks: tuple[tuple[int, int], ...] = ()


def page_in(page: int | None, page_breaks: tuple[tuple[int, int], ...], offset: int) -> int | None:
    """The page of `offset` inside a passage starting on `page` with these page breaks.

    >>> page_in(2, ((40, 3),), 10), page_in(2, ((40, 3),), 45), page_in(None, (), 5)
    (2, 3, None)
    """
    for start, number in page_breaks:
        if start <= offset:
            page = number
    return page


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
    dense_score: float | None = None  # cosine similarity of its closest sentence to the question
    bm25_score: float | None = None  # BM25 score, when keyword retrieval saw it
    # its sentence units: (start, end) in the document and their cosine to the question
    sentences: tuple[tuple[int, int, float], ...] = ()
    page: int | None = None  # PDF page (1-based) the passage starts on; None without pages
    page_breaks: tuple[tuple[int, int], ...] = ()  # (offset, page) of pages beginning inside it

    def page_at(self, offset: int) -> int | None:
        """The PDF page of a document offset inside this passage (None without pages)."""
        return page_in(self.page, self.page_breaks, offset)

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
    page: int | None = None  # PDF page (1-based) of the quote (else of the passage); None without pages
    also_in: tuple[str, ...] = ()  # other documents holding (nearly) the same passage


@dataclass
class Answer:
    """A grounded answer. `found` is False when the briefings do not contain it."""

    text: str
    found: bool
    citations: list[Citation] = field(default_factory=list)
    question: str = ""
    language: str = "fr"
    # the search query actually used: the rewritten follow-up, or the question translated into the passages' language
    query: str = ""
    hits: list[Hit] = field(default_factory=list)  # the passages shown to the LLM
    raw_text: str = ""  # the LLM's output before grounding
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
