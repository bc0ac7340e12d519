"""Drop boilerplate lines (share bars, "suivez-nous", cookie banners, footers) before chunking.

Two rules, both on whole lines only:

* known boilerplate, dropped even in a single file: a short line that is only a
  share bar ("Partager · Facebook · X"), a follow or subscribe call ("SUIVEZ-NOUS
  SUR ▼▼", "Abonnez-vous à notre newsletter"), a "Lire aussi : …" link, a cookie
  banner or a copyright notice. A sentence that merely contains "partager" is kept.
* lines repeated across the folder: a line (compared with its whitespace collapsed
  and case folded) found in at least `MIN_FILES` files and `MIN_SHARE` of the
  folder's files. Copied prose is not boilerplate, though: the same wire story
  pasted into five briefings repeats too. A run of neighbouring repeated lines that
  the very same files share (the story, line after line) is kept when it holds
  `PROSE_WORDS` words or more, but for the lines at its ends that do not end like a
  sentence (a footer or header stuck to the story; the story's own title goes too);
  footers and template lines are short runs.
  Duplicate passages are collapsed at search time instead (rag/retrieval.py).

The cleaned text is what chunks index into. The index manifest keeps, per file, the
character spans removed from the loader's text, so `indexed_text` gives back the
exact text the chunk offsets point into.

>>> from rag.schema import Document
>>> docs = [Document(f"/f{i}.txt", f"Note {i} sur la trêve.\\n\\nSUIVEZ-NOUS SUR ▼▼\\nBas de page maison", "", "", "", "txt")
...         for i in range(3)]
>>> bp = find_boilerplate({d.path: line_hashes(d.text) for d in docs})
>>> drop_lines(docs[0], bp).text
'Note 0 sur la trêve.'
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .errors import RagError
from .schema import Document

# A line repeated in this many files, and this share of the folder, is a repeated line. 3 files
# so that two briefings quoting each other are never cleaned; 20 % so that the footer of one
# source among a handful (news site, newsletter) is caught while a phrase that merely recurs is not.
MIN_FILES = 3
MIN_SHARE = 0.2
# Neighbouring repeated lines shared by the same files with this many words are copied prose.
PROSE_WORDS = 40
# Bump when the rules change: files cleaned by other rules are then cleaned again.
RULES_VERSION = 1

Span = tuple[int, int]


class DocumentChanged(RagError):
    """The file on disk is not the one that was indexed."""


# --------------------------------------------------------------------------- known boilerplate
_WORD = re.compile(r"[\w’'-]+")
# Share bars and navigation: lines made only of these words (and symbols), with one trigger.
_BAR_TRIGGERS = {
    "partager",
    "partagez",
    "partage",
    "share",
    "tweet",
    "tweeter",
    "imprimer",
    "print",
    "facebook",
    "twitter",
    "linkedin",
    "whatsapp",
    "instagram",
    "youtube",
    "tiktok",
    "telegram",
    "bluesky",
    "threads",
    "mastodon",
    "e-mail",
    "email",
    "mail",
    "courriel",
    "accueil",
    "home",
    "menu",
    "rechercher",
    "search",
    "connexion",
    "login",
    "mentions",
    "cgu",
    "cgv",
    "sitemap",
    "rss",
}
_BAR_FILLER = {
    "sur",
    "on",
    "par",
    "by",
    "via",
    "le",
    "la",
    "les",
    "l'",
    "l’",
    "ce",
    "cet",
    "cette",
    "this",
    "the",
    "article",
    "story",
    "page",
    "post",
    "lien",
    "link",
    "copier",
    "copy",
    "envoyer",
    "send",
    "x",
    "et",
    "and",
    "ou",
    "or",
    "à",
    "a",
    "un",
    "ami",
    "friend",
    "retour",
    "back",
    "en",
    "haut",
    "to",
    "top",
    "de",
    "du",
    "site",
    "plan",
    "légales",
    "legales",
    "contact",
    "nous",
    "contacter",
    "us",
    "se",
    "connecter",
    "log",
    "in",
    "sign",
    "confidentialité",
    "privacy",
    "policy",
    "politique",
    "cookies",
    "s'abonner",
    "abonnement",
    "newsletter",
    "l'article",
    "l’article",
    "version",
    "imprimable",
    "printable",
    "commenter",
    "comment",
    "comments",
    "commentaires",
    "réagir",
    "messenger",
    "pinterest",
    "reddit",
    "flipboard",
}
_KNOWN = [  # (pattern on the normalised line, most words the line may have)
    (re.compile(r"(suivez[- ]nous|retrouvez[- ]nous|follow us|rejoignez[- ]nous)\b"), 12),
    (
        re.compile(
            r"(abonnez[- ]vous|inscrivez[- ]vous|subscribe|sign up|s'abonner|s’abonner|"
            r"(recevez|recevoir) (notre|la|nos|gratuitement))\b"
        ),
        15,
    ),
    (re.compile(r"((notre|la|our|the) )?newsletters?\b"), 4),
    (
        re.compile(
            r"(à |a )?(lire|voir) (aussi|également|egalement|la suite)\b|(read|see) (more|also|next)\b|"
            r"related (articles|stories)\b|sur le même sujet\b|dans la même rubrique\b"
        ),
        25,
    ),
    (re.compile(r"(©|\(c\)|copyright\b)|.*\b(tous droits réservés|all rights reserved)\b"), 15),
    (
        re.compile(
            r".*\bcookies?\b.*\b(accept|consent|navigation|paramétr|parametr|refuse|traceurs|"
            r"politique de confidentialité|privacy|préférences|preferences)"
        ),
        60,
    ),
    (
        re.compile(
            r"(retour en haut|haut de page|back to top|plan du site|aller au contenu|skip to (main )?content)\b"
        ),
        8,
    ),
    (re.compile(r"(publicité|advertisement|advertising|sponsorisé|sponsored)\s*$"), 3),
]


def is_known_boilerplate(line: str) -> bool:
    """Whether the WHOLE line is a share bar, follow/subscribe call, related link, cookie banner or copyright.

    >>> is_known_boilerplate("SUIVEZ-NOUS SUR ▼▼"), is_known_boilerplate("Partager · Facebook · X")
    (True, True)
    >>> is_known_boilerplate("Les Européens veulent partager le fardeau de la surveillance.")
    False
    """
    norm = normalise(line)
    words = _WORD.findall(norm)
    if not words:
        return False
    if all(w in _BAR_TRIGGERS or w in _BAR_FILLER for w in words) and any(w in _BAR_TRIGGERS for w in words):
        return True
    return any(len(words) <= most and pattern.match(norm) for pattern, most in _KNOWN)


# --------------------------------------------------------------------------- repeated lines
def normalise(line: str) -> str:
    """A line as compared across files: whitespace collapsed, case folded."""
    return " ".join(line.split()).casefold()


def line_hash(line: str) -> str:
    """A short stable fingerprint of a normalised line (what the manifest stores per file)."""
    return hashlib.blake2b(normalise(line).encode("utf-8"), digest_size=8).hexdigest()


def _countable(line: str) -> bool:
    # Lines without a letter ("---", "* * *", table rules) are layout, never boilerplate.
    return any(ch.isalpha() for ch in line)


def line_hashes(text: str) -> list[str]:
    """Fingerprints of the distinct lines of `text` that may be repeated boilerplate, in order."""
    seen: dict[str, None] = {}
    for line in text.split("\n"):
        if line.strip() and _countable(line):
            seen.setdefault(line_hash(line))
    return list(seen)


@dataclass(frozen=True)
class Boilerplate:
    """The lines repeated across a folder: line fingerprint -> id of the set of files holding it.

    Two repeated lines have the same id when exactly the same files hold them (a copied
    story, line after line); see `PROSE_WORDS`.
    """

    groups: Mapping[str, int] = field(default_factory=dict)
    files: int = 0

    def __len__(self) -> int:
        return len(self.groups)

    def key(self, hashes: Sequence[str]) -> str:
        """What the cleaning of a file with these line fingerprints depends on: same key, same text.

        Incremental builds re-clean (and re-chunk) an unchanged file only when its key changed.
        """
        local: dict[int, int] = {}
        marks = [(h, local.setdefault(self.groups[h], len(local))) for h in hashes if h in self.groups]
        return f"{RULES_VERSION}:" + hashlib.blake2b(json.dumps(marks).encode(), digest_size=12).hexdigest()


def find_boilerplate(
    files: Mapping[str, Sequence[str]], min_files: int = MIN_FILES, min_share: float = MIN_SHARE
) -> Boilerplate:
    """The repeated lines of a folder, from each file's `line_hashes`.

    >>> find_boilerplate({"a": ["x", "y"], "b": ["x"], "c": ["x", "z"]}).groups
    {'x': 0}
    """
    need = max(min_files, math.ceil(min_share * len(files)))
    distinct = [set(hashes) for hashes in files.values()]
    # count first, then list the holders of the few frequent lines only (a re-sync of 2,000
    # files runs this over ~140k fingerprints: 0.47 s listing every line's holders, bench.resync)
    counts = Counter(h for hs in distinct for h in hs)
    frequent = {h for h, n in counts.items() if n >= need}
    holders: dict[str, list[int]] = {}
    for i, hs in enumerate(distinct):
        for h in hs & frequent:
            holders.setdefault(h, []).append(i)
    ids: dict[tuple[int, ...], int] = {}
    groups = {
        h: ids.setdefault(tuple(sorted(owners)), len(ids))
        for h, owners in sorted(holders.items())
        if len(owners) >= need
    }
    return Boilerplate(groups, len(files))


# --------------------------------------------------------------------------- dropping
_SENTENCE_END = re.compile(r"[.!?…:;][\s\"»”’)\]]*$")


def _lines(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    for m in re.finditer("\n", text):
        yield pos, m.start()
        pos = m.end()
    yield pos, len(text)


def dropped_spans(text: str, boilerplate: Boilerplate | None = None) -> list[Span]:
    """Character spans of `text` to remove: the boilerplate lines with their line breaks.

    A removed line takes the blank lines after it along, so paragraphs stay separated by
    one blank line; a removed last line takes the line breaks before it.
    """
    groups = boilerplate.groups if boilerplate else {}
    lines = [(a, b) for a, b in _lines(text) if text[a:b].strip()]
    drop = [is_known_boilerplate(text[a:b]) for a, b in lines]
    # Runs of neighbouring repeated lines held by the same files: short runs are boilerplate.
    group = [groups.get(line_hash(text[a:b])) if _countable(text[a:b]) else None for a, b in lines]
    i = 0
    while i < len(lines):
        if group[i] is None:
            i += 1
            continue
        j = i
        while j + 1 < len(lines) and group[j + 1] == group[i]:
            j += 1
        if sum(len(text[a:b].split()) for a, b in lines[i : j + 1]) < PROSE_WORDS:
            drop[i : j + 1] = [True] * (j + 1 - i)
        else:
            # A footer or header found in exactly the files that hold the story sticks to it:
            # at the ends of copied prose, lines that do not end like a sentence are dropped.
            first, last = i, j
            while first <= last and not _SENTENCE_END.search(text[slice(*lines[first])]):
                drop[first], first = True, first + 1
            while last > first and not _SENTENCE_END.search(text[slice(*lines[last])]):
                drop[last], last = True, last - 1
        i = j + 1
    if all(drop) and lines:
        return []  # a file of nothing but boilerplate is kept as it is rather than emptied
    spans: list[Span] = []
    for k, (a, _) in enumerate(lines):
        if not drop[k]:
            continue
        if k + 1 < len(lines):
            span = (a, lines[k + 1][0])
        else:
            kept_before = [e for (_, e), d in zip(lines[:k], drop[:k]) if not d]
            span = (kept_before[-1] if kept_before else a, len(text))
        spans.append(span)
    merged: list[Span] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def remove_spans(text: str, spans: Sequence[Sequence[int]]) -> str:
    """`text` without the (sorted, disjoint) spans.

    >>> remove_spans("abcdef", [(1, 2), (4, 6)])
    'acd'
    """
    parts, pos = [], 0
    for a, b in spans:
        parts.append(text[pos:a])
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def shift_offsets(offsets: Sequence[int], spans: Sequence[Sequence[int]]) -> tuple[int, ...]:
    """Where offsets of the text land once the (sorted, disjoint) spans are removed; an offset
    inside a removed span lands where the span was (so a PDF page start stays a page start).

    >>> shift_offsets([0, 2, 5], [(1, 3)])
    (0, 1, 3)
    """
    out = []
    for x in offsets:
        removed = sum(min(b, x) - a for a, b in spans if a < x)
        out.append(x - removed)
    return tuple(out)


def without_spans(doc: Document, spans: Sequence[Sequence[int]]) -> Document:
    """`doc` with the spans removed from its text, its PDF page offsets moved to match."""
    if not spans:
        return doc
    return replace(doc, text=remove_spans(doc.text, spans), pages=shift_offsets(doc.pages, spans))


def drop_lines(doc: Document, boilerplate: Boilerplate | None = None) -> Document:
    """The document without its boilerplate lines (see the module docstring for the rules)."""
    return without_spans(doc, dropped_spans(doc.text, boilerplate))


def indexed_text(path: str | os.PathLike, manifest: Mapping) -> str:
    """The exact text of a file that the index's chunk offsets point into.

    The loader's text minus the spans the build removed (stored in the manifest), so
    `indexed_text(c.doc, m)[c.start:c.end] == c.text` for every chunk. Raises
    `DocumentChanged` when the file is not in the index or changed since it was indexed.

    >>> from rag.store import IndexStore
    >>> text = indexed_text("samples/briefings/x.txt", IndexStore("index").manifest())   # doctest: +SKIP
    """
    from .loaders import load_file

    key = os.path.abspath(path)
    entry = manifest.get("documents", {}).get(key)
    if entry is None:
        raise DocumentChanged(f"{key} is not in the index; rebuild it: rag index build")
    doc = load_file(key)
    if doc.sha256 != entry.get("sha256"):
        raise DocumentChanged(f"{key} changed since it was indexed; rebuild the index: rag index build")
    return remove_spans(doc.text, entry.get("dropped", ()))
