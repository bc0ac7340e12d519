"""Grounding checks, because a 1.5B model cannot be trusted to cite or to refuse.

1. Evidence gate (before the LLM): when no retrieved passage is close enough
   to the question, by embedding similarity or by keyword coverage, the answer
   is "not found" and the LLM is not called.
2. Citation check (after the LLM): the answer is split into sentences; each
   sentence's citations are checked against the passages by a support score
   mixing keyword overlap (stemmed, accent-folded, names and numbers weighing
   double) and embedding similarity. Citations to no passage are dropped, a
   wrong citation is moved to the passage that supports the sentence, an
   uncited sentence gets the supporting passage, and a sentence no passage
   supports is removed. Citations are then renumbered in order of appearance.

>>> from rag.grounding import parse_citations
>>> parse_citations("Trump l'a proposée [2][3]. Macron [1, 4].")
[("Trump l'a proposée.", [2, 3]), ('Macron.', [1, 4])]
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .chunking import split_sentences
from .lexical import _terms, analyze, content_tokens
from .schema import Citation, Hit
from .store import searchable_text

_MARKER = re.compile(r"\s*\[(?:passages?|sources?|doc(?:ument)?s?)?\s*(\d+(?:\s*(?:[,;]|and|et|-)\s*\d+)*)\]", re.I)
_NOT_FOUND_HINTS = re.compile(
    r"NOT_FOUND|ne (?:contiennent|contient|mentionnent|mentionne|précisent|indiquent) pas|"
    r"pas (?:d'information|mentionn|précisé|indiqué)|aucune information|"
    r"(?:do|does) not (?:contain|mention|provide|specify|say)|no information|not mentioned|not provided",
    re.I)


@dataclass(frozen=True)
class Evidence:
    found: bool
    best_dense: float
    keyword_coverage: float
    missing_terms: tuple[str, ...] = ()


def evidence_gate(question: str, hits: list[Hit], min_dense: float, min_coverage: float,
                  min_dense_cross: float | None = None) -> Evidence:
    """Is there a passage relevant enough to try answering?

    Yes when one passage holds most of the question's content words, or when the
    embeddings are close enough and no key term of the question (name, acronym,
    number: "PIB", "iPhone", "Brésil") is missing from every passage. Key terms are
    only required when question and passages share a language: names change across
    languages (Putin / Poutine). For the same reason an English question over French
    passages scores lower cosines, so it gets its own threshold `min_dense_cross`.
    """
    if not hits:
        return Evidence(False, 0.0, 0.0)
    best_dense = max((h.dense_score or 0.0) for h in hits)
    texts = [searchable_text_of(h) for h in hits]
    coverage = max(keyword_support(question, t) for t in texts)
    missing = missing_key_terms(question, texts)
    threshold = min_dense
    if min_dense_cross is not None and 2 * sum(same_language(question, t) for t in texts) < len(texts):
        threshold = min_dense_cross
    found = coverage >= min_coverage or (best_dense >= threshold and not missing)
    return Evidence(found, best_dense, coverage, tuple(missing))


def key_terms(text: str) -> list[str]:
    """Names, acronyms and numbers of a text (a capitalised first word does not count)."""
    out = []
    for i, m in enumerate(re.finditer(r"\w+\+*", text)):
        w = m.group(0)
        base = w.rstrip("+")
        if base.isdigit() or (len(base) >= 2 and base.isupper()) or any(c.isupper() for c in base[1:]) \
                or (i > 0 and base[:1].isupper() and len(base) > 2):
            out.append(w.lower())
    return out


def same_language(a: str, b: str) -> bool:
    from .prompting import detect_language

    return detect_language(a) == detect_language(b)


def missing_key_terms(question: str, passages: list[str]) -> list[str]:
    """Key terms of the question found in none of the passages.

    Only when most passages are in the question's language: across languages, names
    are spelled differently and their absence says nothing.
    """
    same = [p for p in passages if same_language(question, p)]
    if not passages or 2 * len(same) < len(passages):
        return []
    terms = set().union(*(set(analyze(p)) for p in passages))
    return [t for t in key_terms(question) if not any(x in terms for x in _terms(t))]


def searchable_text_of(hit: Hit) -> str:
    return f"{hit.title}\n{hit.text}" if hit.title else hit.text


def keyword_support(sentence: str, passage: str, passage_terms: set[str] | None = None) -> float:
    """Weighted share of the sentence's content words found in the passage (names, numbers x2)."""
    terms = passage_terms if passage_terms is not None else set(analyze(passage))
    total = found = 0.0
    seen = set()
    original = {m.group(0).lower(): m.group(0) for m in re.finditer(r"\w+\+*", sentence)}
    for tok in content_tokens(sentence):
        if tok in seen:
            continue
        seen.add(tok)
        raw = original.get(tok, tok)
        weight = 2.0 if (raw[:1].isupper() or tok.rstrip("+").isdigit()) else 1.0
        total += weight
        if any(t in terms for t in _terms(tok)):
            found += weight
    return found / total if total else 0.0


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+(?:[.,]\d+)?", text))


def parse_citations(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into (sentence without markers, cited numbers); marker-only pieces join the previous."""
    out: list[tuple[str, list[int]]] = []
    for s, e in split_sentences(text):
        piece = text[s:e]
        # Markers opening a sentence ("... Trump. [1] Macron ...") belong to the previous one.
        lead = re.match(rf"(?:{_MARKER.pattern})+", piece, re.I)
        if lead and out:
            prev, nums = out[-1]
            out[-1] = (prev, list(dict.fromkeys(nums + _marker_numbers(lead.group(0)))))
            piece = piece[lead.end():]
        clean = _MARKER.sub("", piece).strip()
        clean = re.sub(r"\s+([.,;:!?])", r"\1", clean)
        if re.search(r"\w", clean):
            out.append((clean, _marker_numbers(piece)))
    return out


def _marker_numbers(text: str) -> list[int]:
    numbers: list[int] = []
    for m in _MARKER.finditer(text):
        for a, b in re.findall(r"(\d+)\s*-\s*(\d+)", m.group(1)):
            numbers.extend(range(int(a), int(b) + 1))
        numbers.extend(int(x) for x in re.findall(r"\d+", re.sub(r"\d+\s*-\s*\d+", "", m.group(1))))
    return list(dict.fromkeys(numbers))


def looks_not_found(raw: str) -> bool:
    return bool(_NOT_FOUND_HINTS.search(raw))


@dataclass
class Checked:
    text: str                      # final answer text with renumbered markers
    citations: list[Citation]
    dropped: list[str]             # sentences removed as unsupported


class CitationChecker:
    """Re-attributes citations by support score (see module doc). `embed(texts)` gives query vectors."""

    def __init__(self, embed, threshold: float = 0.5):
        self.embed = embed
        self.threshold = threshold

    def support(self, sentences: list[str], hits: list[Hit], hit_vectors: np.ndarray,
                question: str = "") -> np.ndarray:
        """support[i, j] in [0, 1]: how well passage j supports sentence i."""
        if not sentences or not hits:
            return np.zeros((len(sentences), len(hits)))
        terms = [set(analyze(searchable_text_of(h))) for h in hits]
        lexical = np.array([[keyword_support(s, searchable_text_of(h), t) for h, t in zip(hits, terms)]
                            for s in sentences])
        sims = self.embed(sentences) @ hit_vectors.T
        dense = np.clip((sims - 0.75) / 0.15, 0.0, 1.0)
        score = 0.6 * lexical + 0.4 * dense
        # A number the passage does not contain (and the question did not give) is a red flag,
        # and so is a key term of the question (e.g. "PIB") the passage never mentions.
        asked = _numbers(question)
        question_terms = set(key_terms(question))
        for i, s in enumerate(sentences):
            extra = _numbers(s) - asked
            restated = [t for t in key_terms(s) if t in question_terms and not t.isdigit()]
            for j, h in enumerate(hits):
                text = searchable_text_of(h)
                if extra and not extra <= _numbers(text):
                    score[i, j] *= 0.5
                if restated and same_language(s, text) and \
                        any(not any(x in terms[j] for x in _terms(t)) for t in restated):
                    score[i, j] *= 0.3
        return score

    def check(self, raw: str, hits: list[Hit], hit_vectors: np.ndarray, question: str = "") -> Checked:
        parsed = parse_citations(raw)
        sentences = [s for s, _ in parsed]
        support = self.support(sentences, hits, hit_vectors, question)
        order: dict[int, int] = {}              # hit index -> final citation number
        kept_by_sentence: dict[int, list[int]] = {}
        parts, dropped = [], []
        for i, (sentence, cited) in enumerate(parsed):
            valid = [n - 1 for n in cited if 1 <= n <= len(hits)]
            keep = [j for j in valid if support[i, j] >= self.threshold]
            if not keep:
                best = int(np.argmax(support[i])) if len(hits) else -1
                if best >= 0 and support[i, best] >= self.threshold:
                    keep = [best]
            if not keep:
                dropped.append(sentence)
                continue
            kept_by_sentence[i] = keep
            numbers = [order.setdefault(j, len(order) + 1) for j in keep]
            parts.append(_with_markers(sentence, numbers))
        citations = []
        for j, n in sorted(order.items(), key=lambda kv: kv[1]):
            h = hits[j]
            citing = [sentences[i] for i, (sentence, _) in enumerate(parsed) if j in kept_by_sentence.get(i, ())]
            qs, qe = self.quote(citing, h)
            citations.append(Citation(n=n, doc=h.doc, title=h.title, start=h.start, end=h.end, text=h.text,
                                      date=h.date, quote_start=qs, quote_end=qe))
        return Checked(" ".join(parts), citations, dropped)

    def quote(self, citing: list[str], hit: Hit) -> tuple[int, int]:
        """Document span of the passage sentence closest to the sentences that cite it."""
        spans = split_sentences(hit.text)
        if not spans or not citing:
            return -1, -1
        sentences = [hit.text[s:e] for s, e in spans]
        sims = (self.embed(sentences) @ self.embed([" ".join(citing)])[0])
        lexical = np.array([keyword_support(" ".join(citing), s) for s in sentences])
        best = int(np.argmax(sims + lexical))
        return hit.start + spans[best][0], hit.start + spans[best][1]


def _with_markers(sentence: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    m = re.search(r"([.!?…]+[\"»”)]*)$", sentence)
    if m:
        return f"{sentence[:m.start()].rstrip()} {markers}{m.group(1)}"
    return f"{sentence} {markers}"
