"""Keyword side of retrieval: French/English text analysis and a BM25 index (bm25s).

Analysis: lower-case, split on non-word characters (keeping "Weimar+" as a
token of its own besides "weimar"), drop French elisions and stop words, stem
with both the French and the English Snowball stemmers (PyStemmer), then fold
accents, so "européens", "Européen" and "europeen" meet.

>>> from rag.lexical import analyze
>>> analyze("L'alliance Weimar+")
['allianc', 'weimar+', 'weimar']
"""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import lru_cache
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"\w+\+*", re.UNICODE)


@lru_cache(maxsize=1)
def _stemmers():
    import Stemmer

    return Stemmer.Stemmer("french"), Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_FRENCH

    words = set(STOPWORDS_EN) | set(STOPWORDS_FRENCH)
    words |= {
        "les",
        "des",
        "du",
        "au",
        "aux",
        "est",
        "sont",
        "qui",
        "que",
        "quoi",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "comment",
        "pourquoi",
        "quand",
        "où",
        "combien",
        "lequel",
        "laquelle",
        "what",
        "who",
        "whom",
        "which",
        "when",
        "where",
        "why",
        "how",
        "does",
        "did",
    }
    return frozenset(fold(w) for w in words)


_LIGATURES = str.maketrans({"œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE"})


def fold(text: str) -> str:
    """Remove accents and ligatures: 'Européen' -> 'Europeen', 'œuvre' -> 'oeuvre'."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def _terms(token: str) -> tuple[str, ...]:
    fr, en = _stemmers()
    base = token.rstrip("+")
    out = []
    if base != token:
        out.append(fold(token))  # "weimar+" matches only itself ...
    if base.isdigit():
        out.append(base)  # ... numbers are kept whole
    else:
        for stem in (fr.stemWord(base), en.stemWord(base)):
            s = fold(stem)
            if s not in out:
                out.append(s)
    return tuple(out)


def content_tokens(text: str) -> list[str]:
    """Lower-cased word tokens without stop words and one-letter elisions ('l'', 'd'')."""
    stop = _stopwords()
    out = []
    for tok in _TOKEN.findall(text.lower()):
        base = tok.rstrip("+")
        if (len(base) < 2 and not base.isdigit()) or fold(base) in stop:
            continue
        out.append(tok)
    return out


def analyze(text: str) -> list[str]:
    """Index terms of a text (see module doc)."""
    terms: list[str] = []
    for tok in content_tokens(text):
        terms.extend(_terms(tok))
    return terms


class BM25Index:
    """bm25s over analysed terms; scores every chunk so callers can filter before ranking.

    >>> idx = BM25Index.build(["La trêve de 30 jours", "Le prix du gaz"])
    >>> int(idx.scores("trêve 30 jours").argmax())
    0
    """

    def __init__(self, retriever, n_docs: int):
        self._bm25 = retriever
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: list[str]) -> BM25Index:
        return cls.from_terms([analyze(t) for t in texts])

    @classmethod
    def from_terms(cls, corpus: list[list[str]]) -> BM25Index:
        """Index already analysed texts (one list of terms per chunk)."""
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG
        retriever = bm25s.BM25(k1=1.2, b=0.75)
        if corpus:
            retriever.index([terms or [""] for terms in corpus], show_progress=False)
        return cls(retriever, len(corpus))

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros when no query term is known)."""
        if self.n_docs == 0:
            return np.zeros(0, np.float32)
        ids = self._bm25.get_tokens_ids(analyze(query))
        if not ids:
            return np.zeros(self.n_docs, np.float32)
        return np.asarray(self._bm25.get_scores(ids), dtype=np.float32)

    def save(self, directory: str | Path) -> None:
        if self.n_docs:
            self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: str | Path, n_docs: int) -> BM25Index:
        import bm25s

        if n_docs == 0:
            return cls(bm25s.BM25(), 0)
        return cls(bm25s.BM25.load(str(directory), mmap=False, allow_pickle=False, show_progress=False), n_docs)
