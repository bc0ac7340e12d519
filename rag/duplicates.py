"""Near-duplicate passages: the same wire story pasted into several briefings.

Two passages are near-duplicates when the Jaccard similarity of their word
5-shingles (accents and case folded) is at least `JACCARD`, or when at least
`CONTAINMENT` of the shorter one's shingles are in the longer one: the same story
cut at another sentence, or pasted under each briefing's own title, date and line
of introduction (a 100-word story under a 20-word header is ~0.8 contained). Shingles of five words rather than words or embeddings:
two different passages on the same subject share many words and have close
embeddings, but rarely the same five words in a row, while a copy with a few words
edited keeps most of its shingles (one edited word changes at most five).

>>> a = "Le Kremlin a répondu qu'il étudierait la proposition, tout en posant ses propres conditions."
>>> near_duplicate(a, a.upper().replace("É", "E")), near_duplicate(a, "Le Kremlin a refusé la trêve.")
(True, False)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

JACCARD = 0.8
CONTAINMENT = 0.75
SHINGLE = 5

_WORD = re.compile(r"\w+")


def fold(text: str) -> list[str]:
    """Words of `text` without accents, case folded: "Étudiée" -> "etudiee"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def shingles(text: str, size: int = SHINGLE) -> frozenset[int]:
    """Hashes of the runs of `size` consecutive folded words (the whole text if shorter)."""
    words = fold(text)
    if len(words) <= size:
        return frozenset([hash(tuple(words))]) if words else frozenset()
    return frozenset(hash(tuple(words[i : i + size])) for i in range(len(words) - size + 1))


def similar(a: frozenset[int], b: frozenset[int]) -> bool:
    """Whether two shingle sets are near-duplicates (see the module docstring)."""
    if not a or not b:
        return False
    common = len(a & b)
    return common >= JACCARD * len(a | b) or common >= CONTAINMENT * min(len(a), len(b))


def near_duplicate(a: str, b: str) -> bool:
    """Whether two passages are nearly the same text."""
    return similar(shingles(a), shingles(b))


def groups(texts: Sequence[str]) -> list[list[int]]:
    """Indices of `texts` grouped by near-duplication, in order of each group's first member.

    A text joins the first group whose first member it nearly duplicates.

    >>> groups(["la même dépêche AFP sur la trêve à Genève", "autre chose", "La même dépêche AFP sur la trêve à Genève"])
    [[0, 2], [1]]
    """
    sets = [shingles(t) for t in texts]
    out: list[list[int]] = []
    for i, s in enumerate(sets):
        for group in out:
            if similar(sets[group[0]], s):
                group.append(i)
                break
        else:
            out.append([i])
    return out
