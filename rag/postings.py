"""BM25 over segments: each segment keeps raw term frequencies; statistics are the whole collection's.

bm25s stores each (term, passage) score with the collection's IDF and average length baked in, so
an index of it cannot take new passages or drop old ones without being rebuilt whole. Here a
segment (rag/segments.py) stores its postings: for each term, the passages holding it and how
often. `CollectionBM25` scores the live passages of several segments as one collection: the
passage count and average length on load, each query term's document frequency at query time,
dead passages left out of both. Scores are those bm25s gives on one index of the same live
passages (its default "lucene" variant, k1=1.2, b=0.75; a passage without terms has length 1,
as bm25s's empty token gives it), within float32 rounding (tests/test_postings.py).

>>> p = Postings.from_terms([["trev", "30"], ["gaz"], ["gaz", "prix", "gaz"]])
>>> bm25 = CollectionBM25([p])
>>> [round(float(s), 3) for s in bm25.term_scores(["gaz"])]
[0.0, 0.269, 0.258]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .lexical import analyze

K1, B = 1.2, 0.75  # as rag.lexical.BM25Index (bm25s)


@dataclass
class Postings:
    """Term -> passages holding it (ascending rows) and its frequency there; and each passage's length."""

    terms: list[str]  # term id -> term
    indptr: np.ndarray  # (n_terms + 1,) term t's postings are [indptr[t], indptr[t + 1])
    rows: np.ndarray  # int32, passage row within the segment
    tf: np.ndarray  # float32, occurrences of the term in that passage
    lengths: np.ndarray  # int32 per passage: number of terms (1 when none, as bm25s)

    @property
    def n_docs(self) -> int:
        return len(self.lengths)

    @cached_property
    def vocab(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.terms)}

    @classmethod
    def from_terms(cls, corpus: list[list[str]]) -> Postings:
        """Postings of already analysed passages (one list of terms each)."""
        vocab: dict[str, int] = {}
        ids = [vocab.setdefault(t, len(vocab)) for terms in corpus for t in terms]
        lengths = np.array([len(terms) for terms in corpus], dtype=np.int64)
        docs = np.repeat(np.arange(len(corpus), dtype=np.int64), lengths)
        return cls._from_triples(list(vocab), np.asarray(ids, np.int64), docs, None, np.maximum(lengths, 1))

    @classmethod
    def select(cls, parts: list[tuple[Postings, np.ndarray]]) -> Postings:
        """The postings of the passages `rows` of each part, in that order (rows of part 2 after part 1's).

        Parts may share a source (a compaction takes every document of one segment in turn): each
        source's postings are read once.
        """
        sources: dict[int, tuple[Postings, np.ndarray]] = {}  # id -> (postings, new row of each old row)
        lengths = []
        offset = 0
        for p, rows in parts:
            rows = np.asarray(rows, np.int64)
            _, new_row = sources.setdefault(id(p), (p, np.full(p.n_docs, -1, np.int64)))
            new_row[rows] = offset + np.arange(len(rows))
            lengths.append(p.lengths[rows])
            offset += len(rows)
        vocab: dict[str, int] = {}
        all_terms, all_docs, all_tf = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
        for p, new_row in sources.values():
            to_global = np.array([vocab.setdefault(t, len(vocab)) for t in p.terms], np.int64)
            term_of = np.repeat(np.arange(len(p.terms)), np.diff(p.indptr))
            docs = new_row[p.rows]
            keep = docs >= 0
            all_terms.append(to_global[term_of[keep]])
            all_docs.append(docs[keep])
            all_tf.append(p.tf[keep])
        cat = np.concatenate
        return cls._from_triples(
            list(vocab), cat(all_terms), cat(all_docs), cat(all_tf), cat(lengths) if lengths else np.zeros(0, np.int64)
        )

    @classmethod
    def _from_triples(cls, terms: list[str], term_ids, docs, tf, lengths) -> Postings:
        """From (term, passage[, frequency]) triples; without `tf` each triple is one occurrence."""
        n_docs = max(len(lengths), 1)
        key = term_ids * n_docs + docs
        if tf is None:
            key, counts = np.unique(key, return_counts=True)
            tf = counts.astype(np.float32)
        else:
            order = np.argsort(key, kind="stable")
            key, tf = key[order], np.asarray(tf, np.float32)[order]
        term_ids, docs = key // n_docs, key % n_docs
        used = np.unique(term_ids)  # terms of dropped passages only are dropped too
        term_ids = np.searchsorted(used, term_ids)
        indptr = np.zeros(len(used) + 1, np.int64)
        np.cumsum(np.bincount(term_ids, minlength=len(used)), out=indptr[1:])
        return cls([terms[i] for i in used], indptr, docs.astype(np.int32), tf, np.asarray(lengths, dtype=np.int32))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "terms.json").write_text(json.dumps(self.terms, ensure_ascii=False), encoding="utf-8")
        for name in ("indptr", "rows", "tf", "lengths"):
            np.save(directory / f"{name}.npy", getattr(self, name), allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> Postings:
        terms = json.loads((directory / "terms.json").read_text(encoding="utf-8"))
        arrays = {n: np.load(directory / f"{n}.npy", allow_pickle=False) for n in ("indptr", "rows", "tf", "lengths")}
        p = cls(terms, **arrays)
        if not (len(p.indptr) == len(terms) + 1 and p.indptr[-1] == len(p.rows) == len(p.tf)):
            raise ValueError(f"postings in {directory} are inconsistent")
        return p


class CollectionBM25:
    """BM25 of every passage of several segments' postings (rows numbered part after part).

    `alive` (one flag per row) leaves dead passages out: they score 0 and do not count in
    the statistics, so scores are those of an index of the live passages alone.
    """

    def __init__(self, parts: list[Postings], alive: np.ndarray | None = None):
        self.parts = parts
        self.offsets = np.cumsum([0] + [p.n_docs for p in parts])
        self.n_docs = int(self.offsets[-1])
        self.alive = alive
        lengths = np.concatenate([p.lengths for p in parts]) if parts else np.zeros(0, np.int32)
        live = lengths if alive is None else lengths[alive]
        self.n_live = len(live)
        avg = float(live.mean()) if len(live) else 1.0
        self._norm = K1 * (1 - B + B * lengths / avg)  # float64, per row

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for `query` (zeros when no query term is known)."""
        return self.term_scores(analyze(query))

    def term_scores(self, terms: list[str]) -> np.ndarray:
        out = np.zeros(self.n_docs, np.float64)
        for term in dict.fromkeys(terms):
            rows, tf = self._postings(term)
            if len(rows) == 0:
                continue
            df = len(rows)
            idf = math.log(1 + (self.n_live - df + 0.5) / (df + 0.5))
            # a term repeated in the query counts as often (as bm25s sums its token ids)
            out[rows] += terms.count(term) * idf * tf / (tf + self._norm[rows])
        return out.astype(np.float32)

    def _postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        rows, tfs = [], []
        for p, offset in zip(self.parts, self.offsets):
            t = p.vocab.get(term)
            if t is None:
                continue
            a, b = p.indptr[t], p.indptr[t + 1]
            rows.append(p.rows[a:b].astype(np.int64) + offset)
            tfs.append(p.tf[a:b])
        if not rows:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        r, tf = (rows[0], tfs[0]) if len(rows) == 1 else (np.concatenate(rows), np.concatenate(tfs))
        if self.alive is not None:
            keep = self.alive[r]
            r, tf = r[keep], tf[keep]
        return r, tf.astype(np.float64)
