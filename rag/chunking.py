"""Sentence-aware chunking with exact character spans.

French and English sentence boundaries, without cutting after abbreviations
("M.", "Mme", "av. J.-C.", "etc." mid-sentence, initials) and with sentences
glued without a space ("Donald Trump.Le président") split correctly. Chunks
group whole sentences (about `chunk_words` words, prefering paragraph ends) and
repeat `overlap` sentences from the previous chunk; they never cross documents.

>>> from rag.chunking import split_sentences
>>> text = "M. Macron a parlé.Le président Trump a répondu."
>>> [text[s:e] for s, e in split_sentences(text)]
['M. Macron a parlé.', 'Le président Trump a répondu.']
"""

from __future__ import annotations

import re

from .schema import Chunk, Document

# Words after which a period does not end a sentence (compared lower-cased, without the period).
ABBREVIATIONS = {
    # French
    "m",
    "mm",
    "mme",
    "mmes",
    "mlle",
    "mlles",
    "dr",
    "pr",
    "me",
    "mgr",
    "st",
    "ste",
    "av",
    "apr",
    "j.-c",
    "cf",
    "p",
    "pp",
    "vol",
    "chap",
    "art",
    "al",
    "env",
    "etc",
    "ex",
    "fig",
    "n",
    "no",
    "nº",
    "tél",
    "hab",
    "min",
    "max",
    "approx",
    "sq",
    "éd",
    "coll",
    "dir",
    "resp",
    "gén",
    "col",
    "cdt",
    "lt",
    "sgt",
    # English
    "mr",
    "mrs",
    "ms",
    "prof",
    "sr",
    "jr",
    "vs",
    "e.g",
    "i.e",
    "u.s",
    "u.k",
    "u.n",
    "inc",
    "ltd",
    "co",
    "corp",
    "gov",
    "gen",
    "sen",
    "rep",
    "jan",
    "feb",
    "mar",
    "aug",
    "sept",
    "oct",
    "nov",
    "dec",
}
# Abbreviations that may also end a sentence when followed by a capital ("..., etc. Le ...").
_TERMINAL_OK = {"etc", "al"}

_END = re.compile(
    r"""
    (?P<punct>[.!?…]+|\.\.\.)          # terminal punctuation
    (?P<close>(?:[ \u00a0\u202f]*»|["»”’)\]])*)  # closing quotes or brackets ("fini. »" too)
    (?P<space>\s*)                     # maybe no space at all (glued sentences)
""",
    re.X,
)
_WORD_BEFORE = re.compile(r"([\w.\-’'º°]+)$")
_STARTER = re.compile(r"[\"«“(\[]?\s*[A-ZÀ-ÖØ-Þ0-9]")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) of `text[start:end]`, whitespace trimmed. Blank lines always split."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    # Lines: a newline ends a sentence when the line looks complete (heading, list item, paragraph end).
    for block_start, block_end in _blocks(text, start, end):
        spans.extend(_split_block(text, block_start, block_end))
    return spans


def _blocks(text: str, start: int, end: int):
    """Split on blank lines and on single newlines (titles, list items, date lines)."""
    pos = start
    for m in re.finditer(r"\n", text[start:end]):
        nl = start + m.start()
        yield pos, nl
        pos = nl + 1
    yield pos, end


def _split_block(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans, sent_start = [], start
    for m in _END.finditer(text, start, end):
        boundary = m.end("close")
        after = m.end()
        if after >= end:
            continue
        nxt = text[after : after + 3]
        if not _STARTER.match(nxt):
            continue
        glued = m.group("space") == ""
        before = _WORD_BEFORE.search(text, sent_start, m.start())
        word = before.group(1) if before else ""
        low = word.lower().rstrip(".")
        if m.group("punct") == ".":
            if glued:
                # "Trump.Le" splits; "U.S.", "J.-C.", "3.5", "M.Macron" do not.
                if not (re.search(r"[a-zà-ÿ]{2}$", word) and re.match(r"[A-ZÀ-Þ][a-zà-ÿ]", nxt)):
                    continue
            elif low in ABBREVIATIONS and low not in _TERMINAL_OK:
                continue
            elif len(word) == 1 and word.isupper():  # initials: "J. Biden"
                continue
            elif low in _TERMINAL_OK and not re.match(r"[A-ZÀ-Þ]", nxt):
                continue
        spans.append(_trim(text, sent_start, boundary))
        sent_start = after
    spans.append(_trim(text, sent_start, end))
    return [s for s in spans if s[1] > s[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, span: tuple[int, int], max_chars: int) -> list[tuple[int, int]]:
    """A 'sentence' longer than max_chars (tables, lines without punctuation) is cut at spaces."""
    s, e = span
    out = []
    while e - s > max_chars:
        cut = text.rfind(" ", s + max_chars // 2, s + max_chars)
        cut = cut if cut > s else s + max_chars
        out.append(_trim(text, s, cut))
        s = cut
    out.append(_trim(text, s, e))
    return [x for x in out if x[1] > x[0]]


def sentence_units(text: str, max_words: int = 160) -> list[tuple[int, int]]:
    """The sentence spans chunks are made of: sentences, with over-long ones cut at spaces.

    They are also the unit of dense retrieval: each is embedded on its own (rag/store.py).
    """
    max_chars = max_words * 12
    units: list[tuple[int, int]] = []
    for span in split_sentences(text):
        units.extend(_cut_long(text, span, max_chars))
    return units


def chunk_units(
    doc: Document, words: int = 100, max_words: int = 160, overlap: int = 1
) -> tuple[list[tuple[int, int]], list[Chunk], list[tuple[int, int]]]:
    """Sentence units of `doc`, its chunks, and each chunk's range of units (first, stop).

    >>> from rag.schema import Document
    >>> d = Document("a.txt", "Une phrase. Une autre phrase.", "A", "2025-01-01", "x", "txt")
    >>> units, chunks, ranges = chunk_units(d, words=3)
    >>> units, ranges
    ([(0, 11), (12, 29)], [(0, 2)])
    """
    text = doc.text
    max_chars = max_words * 12
    sents = sentence_units(text, max_words)
    if not sents:
        return [], [], []
    nwords = [len(text[s:e].split()) for s, e in sents]
    para_start = [i == 0 or "\n\n" in text[sents[i - 1][1] : sents[i][0]] for i in range(len(sents))]

    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(sents):
        j, count = i, 0
        while j < len(sents):
            chars = sents[j][1] - sents[i][0]
            if j > i and (count + nwords[j] > max_words or chars > max_chars):
                break
            count += nwords[j]
            j += 1
            if count >= words:
                break
            # Close early at a paragraph end when the chunk is already reasonably full.
            if j < len(sents) and para_start[j] and count >= 0.6 * words:
                break
        ranges.append((i, j))
        if j >= len(sents):
            break
        # Overlap: restart a few sentences back, but always move forward, and never
        # carry a sentence across a paragraph boundary into the next chunk.
        # Only as much overlap as still lets the next chunk take in sentence j (else it
        # would be the overlap alone, a duplicate inside this chunk).
        back = min(overlap, j - i - 1)
        while back > 0 and (
            any(para_start[j - back + 1 : j + 1])
            or sum(nwords[j - back : j]) >= words
            or sum(nwords[j - back : j + 1]) > max_words
            or sents[j][1] - sents[j - back][0] > max_chars
        ):
            back -= 1
        i = j - back
    # A last chunk of a few words is folded into the previous one when it stays within bounds.
    if len(ranges) >= 2 and sum(nwords[ranges[-1][0] : ranges[-1][1]]) < words // 4:
        (a, _), (_, b) = ranges[-2], ranges[-1]
        if len(text[sents[a][0] : sents[b - 1][1]].split()) <= min(words * 1.6, max_words):
            ranges = ranges[:-2] + [(a, b)]
    chunks = [
        Chunk(
            doc=doc.path,
            start=sents[a][0],
            end=sents[b - 1][1],
            text=text[sents[a][0] : sents[b - 1][1]],
            title=doc.title,
            date=doc.date,
            page=doc.page_at(sents[a][0]),
            page_breaks=doc.page_breaks(sents[a][0], sents[b - 1][1]),
        )
        for a, b in ranges
    ]
    return sents, chunks, ranges


def chunk_document(doc: Document, words: int = 100, max_words: int = 160, overlap: int = 1) -> list[Chunk]:
    """Chunks of whole sentences, about `words` words, with `overlap` sentences of overlap.

    >>> from rag.schema import Document
    >>> d = Document("a.txt", "Une phrase. Une autre phrase.", "A", "2025-01-01", "x", "txt")
    >>> [c.text for c in chunk_document(d, words=3)]
    ['Une phrase. Une autre phrase.']
    """
    return chunk_units(doc, words, max_words, overlap)[1]
