"""Hybrid retrieval: sentence-level dense (FAISS, e5) + chunk-level BM25, score fusion.

Small to big: every sentence unit is embedded on its own (with its document's
title), and a chunk's dense score is that of its closest sentence, so a
question written about one sentence is matched on that sentence rather than on
a 100-word average. BM25 scores whole chunks. The two scores are z-normalised
over their top candidates and added (`fusion="convex"`; reciprocal rank fusion
is kept as `fusion="rrf"`), then each candidate gets `doc_weight` times the best
fused score of its document: passages of a document that matches elsewhere too
move up. On PIAF dev this raised recall@1 0.726 -> 0.79 (bench/README.md).
Near-duplicate passages (one wire story pasted into several briefings) fill one
slot, not several: the earliest copy, with the others' documents in `Hit.also_in`.

>>> from rag import search
>>> hits = search("Weimar+", k=3)                     # doctest: +SKIP
>>> hits[0].title, hits[0].sentences[0]               # doctest: +SKIP
('L’Europe écartée ...', (120, 245, 0.861))
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .dates import DateRange, keyword_query
from .duplicates import fold
from .duplicates import groups as duplicate_groups
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
    def load(cls, settings: Settings | None = None, embedder: Embedder | None = None) -> Retriever:
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

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str = "hybrid",
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        dates: DateRange | None = None,
    ) -> list[Hit]:
        """Top-k passages for `query`, best first. mode: "hybrid", "dense" or "bm25".

        `dates` (rag.dates.parse_period) favours, never filters: passages dated in its range get
        `settings.date_weight` more (its newest flag: up to that much, by recency), so when nothing
        in range matches the answer comes from all; `filters` is the hard filter. BM25 sees the
        question without a relative date phrase ("last week") but with a written date ("20 mai"), which
        passages often hold too (rag.dates.keyword_query); the embedding sees the whole question.
        """
        index = self.refresh()
        k = k or self.settings.top_k
        n = len(index)
        if n == 0 or not query.strip():
            return []
        allowed = self._allowed_rows(index, filters) if filters else None
        depth = max(self.settings.candidates, k)
        q = query_vector if query_vector is not None else self.embedder.queries([query])[0]

        dense_rows = self._dense(index, q, depth, allowed) if mode in ("hybrid", "dense") else np.zeros(0, np.int64)
        bm25 = index.bm25.scores(keyword_query(query, dates)) if mode in ("hybrid", "bm25") else None
        bm25_rows = np.zeros(0, np.int64)
        if bm25 is not None:
            if allowed is not None:
                bm25 = np.where(allowed, bm25, 0)
            top = np.argpartition(-bm25, min(depth, n - 1))[:depth] if n > depth else np.arange(n)
            top = top[np.argsort(-bm25[top], kind="stable")]
            bm25_rows = top[bm25[top] > 0]

        favoured = np.zeros(0, np.int64)
        if dates is not None and dates.start and self.settings.date_weight and mode in ("hybrid", "dense"):
            # the closest passages of the period compete even when the whole index holds better matches
            known = index.chunk_dates
            in_range = (known != "") & (known >= dates.start) & (known <= dates.end)  # = DateRange.contains
            if allowed is not None:
                in_range &= allowed
            if in_range.any():
                favoured = self._dense(index, q, depth, in_range)
        rows = np.unique(np.concatenate([dense_rows, bm25_rows, favoured])).astype(np.int64)
        if len(rows) == 0:
            return []
        cosine, mean = chunk_cosines(index, q, rows)  # once, for every candidate
        dense = cosine + self.settings.sentence_mean_weight * mean
        dense_top = dense[np.searchsorted(rows, dense_rows)]  # the dense ranking's own scores
        fused = self._fuse(rows, dense, dense_rows, dense_top, bm25_rows, bm25, depth, index.alive)
        fused = with_document_and_date(
            self.settings, fused, [index.chunks[r].doc for r in rows], [index.chunks[r].date for r in rows], dates
        )
        order = sorted(range(len(rows)), key=lambda i: (-fused[i], rows[i]))
        hits = []
        assert index.units is not None and index.chunk_units is not None  # set by LoadedIndex.__post_init__
        for i, score, also_in in distinct_passages(index, rows, fused, order, k, q):
            row = int(rows[i])
            c = index.chunks[row]
            a, b = index.chunk_units[row]
            sims = index.vectors[a:b] @ q
            sentences = tuple(
                (int(index.units[u][0]), int(index.units[u][1]), float(x)) for u, x in zip(range(a, b), sims)
            )
            hits.append(
                Hit(
                    doc=c.doc,
                    start=c.start,
                    end=c.end,
                    text=c.text,
                    score=score,
                    title=c.title,
                    date=c.date,
                    chunk_id=row,
                    dense_score=float(cosine[i]),
                    bm25_score=float(bm25[row]) if bm25 is not None else None,
                    sentences=sentences,
                    page=c.page,
                    page_breaks=c.page_breaks,
                    also_in=also_in,
                )
            )
        return hits

    def _fuse(self, rows, dense, dense_rows, dense_top, bm25_rows, bm25, depth, alive=None) -> np.ndarray:
        if bm25 is None:
            return fuse(self.settings, rows, dense, dense_rows, dense_top, bm25_rows, None, None)
        pool = bm25 if alive is None else bm25[alive]  # dead rows (rag/segments.py) are not in the collection
        top = pool if len(pool) <= depth else np.partition(pool, len(pool) - depth)[-depth:]
        return fuse(self.settings, rows, dense, dense_rows, dense_top, bm25_rows, bm25[rows], top)

    @staticmethod
    def _dense(index: LoadedIndex, q: np.ndarray, depth: int, allowed: np.ndarray | None) -> np.ndarray:
        """The `depth` chunks with the closest sentences, best first."""
        if allowed is not None:
            rows = np.flatnonzero(allowed)
            return rows[np.argsort(-chunk_cosines(index, q, rows)[0], kind="stable")[:depth]]
        # A chunk has ~6 units and neighbours share one: 4x depth units give >= depth chunks.
        m = min(len(index.vectors), 4 * depth)
        _, ids = index.dense.search(q[None, :].astype(np.float32), m)
        ranked: dict[int, None] = {}  # results come best first: insertion order is the ranking
        for u in ids[0]:
            if u >= 0:
                for row in range(index.unit_first_chunk[u], index.unit_last_chunk[u] + 1):
                    ranked.setdefault(int(row))
        return np.fromiter(ranked, np.int64, len(ranked))[:depth]

    @staticmethod
    def _allowed_rows(index: LoadedIndex, filters: Filters) -> np.ndarray:
        wanted = set(filters.docs)
        mask = np.ones(len(index), dtype=bool) if index.alive is None else index.alive.copy()  # dead rows: never
        for row, c in enumerate(index.chunks):
            if wanted and c.doc not in wanted and c.doc.rsplit("/", 1)[-1] not in wanted:
                mask[row] = False
            # an undated passage is kept: nothing says it is outside the range
            elif filters.date_from and c.date and c.date < filters.date_from:
                mask[row] = False
            elif filters.date_to and c.date and c.date > filters.date_to:
                mask[row] = False
        return mask


def fuse(
    settings: Settings,
    rows: np.ndarray,
    dense: np.ndarray,
    dense_rows: np.ndarray,
    dense_top: np.ndarray,
    bm25_rows: np.ndarray,
    bm25: np.ndarray | None,
    bm25_top: np.ndarray | None,
) -> np.ndarray:
    """Fused score of each candidate `rows[i]` (any ids), from both rankings (ids, best first).

    convex: `dense_weight` x the z-score of `dense[i]` (small-to-big dense score) against the dense
    ranking's own scores `dense_top`, plus `bm25_weight` x the z-score of `bm25[i]` (keyword score of
    the candidate) against the best keyword scores of the whole index `bm25_top`; rrf: ranks only.
    `bm25` None: no keyword side (mode "dense").

    >>> from rag.settings import Settings
    >>> fuse(Settings(), np.array([7, 9]), np.array([0.9, 0.7]), np.array([7, 9]), np.array([0.9, 0.7]),
    ...      np.array([7, 9]), np.array([4.0, 2.0]), np.array([4.0, 0.0])).round(3).tolist()
    [2.0, -1.0]
    >>> fuse(Settings(), np.array([7, 9]), np.array([0.9, 0.7]), np.array([7, 9]), np.array([0.9, 0.7]),
    ...      np.array([9]), None, None).round(3).tolist()
    [1.0, -1.0]
    """
    s = settings
    fused = np.zeros(len(rows))
    if s.fusion == "rrf":
        for weight, ranking in ((s.dense_weight, dense_rows), (s.bm25_weight, bm25_rows)):
            rank = {int(r): i for i, r in enumerate(ranking)}
            fused += [weight / (s.rrf_k + rank[r] + 1) if r in rank else 0.0 for r in rows]
        return fused
    if len(dense_top):
        fused += s.dense_weight * _z(dense, dense_top)
    if bm25 is not None and bm25_top is not None:
        fused += s.bm25_weight * _z(bm25, bm25_top)
    return fused


def with_document_and_date(
    settings: Settings, fused: np.ndarray, docs: list[str], dates_of: list[str], dates: DateRange | None
) -> np.ndarray:
    """`fused` plus `doc_weight` x the best fused score of each candidate's document, plus the date
    bonus (`date_weight` x `date_bonus`) when the question names a period.

    >>> from rag.settings import Settings
    >>> with_document_and_date(Settings(doc_weight=0.5), np.array([2.0, 1.0, 0.0]), ["a", "a", "b"],
    ...                        ["", "", ""], None).tolist()
    [3.0, 2.0, 0.0]
    """
    if settings.doc_weight:
        best_of_doc: dict[str, float] = {}
        for doc, f in zip(docs, fused):
            best_of_doc[doc] = max(best_of_doc.get(doc, -np.inf), f)
        fused = fused + settings.doc_weight * np.array([best_of_doc[doc] for doc in docs])
    if dates is not None and settings.date_weight:
        fused = fused + settings.date_weight * date_bonus(dates_of, dates, fused)
    return fused


DUPLICATE_POOL = 3  # near-duplicates are looked for among the top DUPLICATE_POOL * k candidates


def distinct_passages(
    index: LoadedIndex, rows: np.ndarray, fused: np.ndarray, order: list[int], k: int, q: np.ndarray
) -> list[tuple[int, float, tuple[str, ...]]]:
    """The k best candidates once near-duplicates are collapsed: (candidate, score, also_in).

    Copies of one passage (rag/duplicates.py) take the place and the score of the best
    copy, since their relevance is the same text's; the earliest-dated copy is the one
    shown (ties: the higher score), as the original, and the other documents are listed
    in `also_in`. Copies may differ a little (each briefing's own header): only those
    holding the best copy's sentence closest to the question can be shown, so a question
    about one briefing's own line gets that briefing. Only the top `DUPLICATE_POOL * k`
    candidates are compared, and all of them when that leaves fewer than k passages.
    """
    chunks = [index.chunks[int(r)] for r in rows]
    return collapse_duplicates(
        [c.text for c in chunks],
        [c.doc for c in chunks],
        [c.date for c in chunks],
        rows,
        fused,
        order,
        k,
        lambda i: _closest_sentence(index, int(rows[i]), q),
    )


def collapse_duplicates(
    texts: list[str],
    docs: list[str],
    dates: list[str],
    ids: np.ndarray,
    fused: np.ndarray,
    order: list[int],
    k: int,
    closest: Callable[[int], tuple[str, ...]],
) -> list[tuple[int, float, tuple[str, ...]]]:
    """`distinct_passages` on any candidates: their texts, documents, dates, ids (ties), fused scores,
    best-first `order`; `closest(i)` gives the folded words of candidate i's sentence closest to the question.
    """
    for pool in (order[: DUPLICATE_POOL * k], order):
        groups = duplicate_groups([texts[i] for i in pool])
        if len(groups) >= k or len(pool) == len(order):
            break
    picks = []
    for group in groups[:k]:
        members = [pool[j] for j in group]
        eligible = members
        if len(members) > 1:
            best = " ".join(closest(members[0]))
            eligible = [i for i in members if f" {best} " in " {} ".format(" ".join(fold(texts[i])))]
        keep = min(eligible, key=lambda i: (dates[i] or "9999", -fused[i], ids[i]))
        doc = docs[keep]
        also_in = tuple(dict.fromkeys(docs[i] for i in members if docs[i] != doc))
        picks.append((keep, float(fused[members[0]]), also_in))
    return picks


def _closest_sentence(index: LoadedIndex, row: int, q: np.ndarray) -> tuple[str, ...]:
    """The folded words of a chunk's sentence closest to the question."""
    assert index.units is not None and index.chunk_units is not None  # set by LoadedIndex.__post_init__
    a, b = index.chunk_units[row]
    u = a + int(np.argmax(index.vectors[a:b] @ q))
    c = index.chunks[row]
    s, e = index.units[u]
    return tuple(fold(c.text[max(0, int(s) - c.start) : int(e) - c.start]))


def chunk_cosines(index: LoadedIndex, q: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cosines of each chunk in `rows` to `q`: that of its closest sentence unit, and their mean."""
    assert index.chunk_units is not None  # set by LoadedIndex.__post_init__
    if len(rows) == 0:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    ranges = index.chunk_units[rows]
    lengths = ranges[:, 1] - ranges[:, 0]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    units = np.repeat(ranges[:, 0] - starts, lengths) + np.arange(lengths.sum())
    sims = index.vectors[units] @ q
    return (
        np.maximum.reduceat(sims, starts).astype(np.float32),
        (np.add.reduceat(sims, starts) / lengths).astype(np.float32),
    )


NEWEST_HALF_LIFE = 7.0  # days
NEWEST_AMONG = 10  # "the newest" is that of the passages ranked this high without dates


def date_bonus(dates: list[str], period: DateRange, scores: np.ndarray | None = None) -> np.ndarray:
    """Share (0..1) of the date bonus each passage of these ISO `dates` gets; undated ones ("") get 0.

    In the period: 1. Asked for the newest: 1 for the newest date among the NEWEST_AMONG best
    `scores` (all passages without them), halved every NEWEST_HALF_LIFE days before it (the news
    of that week, not of that year); "the latest on X" is the latest about X, not any newer file.
    A date the loader took from the file's mtime counts as the briefing's: the index does not record
    where a date came from, and a favour (not a filter) costs little when it is wrong; a file copied
    yesterday would otherwise be "the newest" of all.

    >>> date_bonus(["2026-05-20", "2026-05-21", ""], DateRange("2026-05-20", "2026-05-20", "le 20 mai")).tolist()
    [1.0, 0.0, 0.0]
    """
    bonus = np.array([1.0 if period.contains(d) else 0.0 for d in dates])
    known = [d for d in dates if d]
    if period.newest and known:
        days = {d: _ordinal(d) for d in known}
        best = range(len(dates)) if scores is None else np.argsort(-np.asarray(scores), kind="stable")[:NEWEST_AMONG]
        newest = max((days[dates[i]] for i in best if dates[i]), default=max(days.values()))
        bonus = np.maximum(bonus, [0.5 ** max(0, (newest - days[d]) / NEWEST_HALF_LIFE) if d else 0.0 for d in dates])
    return bonus


def _ordinal(iso: str) -> int:
    try:
        return dt.date.fromisoformat(iso).toordinal()
    except ValueError:
        return 0


def _z(x: np.ndarray, top: np.ndarray) -> np.ndarray:
    """z-scores of `x` against the mean and spread of a ranking's top scores (0 when they are all equal)."""
    sd = float(np.std(top)) if len(top) else 0.0
    return (x - float(np.mean(top))) / sd if sd > 1e-9 else np.zeros(len(x))
