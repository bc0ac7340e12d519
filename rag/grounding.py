"""Grounding checks, because a 1.5B model cannot be trusted to cite or to refuse.

1. Evidence gate (before the LLM): when no retrieved passage is close enough
   to the question, by embedding similarity or by keyword coverage, the answer
   is "not found" and the LLM is not called.
2. Answerability (rag/answering.py): the model's own probability that the
   shown sentences answer the question, weighed with the best sentence cosine
   and the share of the question's names no passage holds (`answerability`).
3. Extractive verification (after the LLM): the model names the sentence it
   answers from, and that sentence becomes the citation; the answer's numbers
   and names must occur in it (or in another shown sentence, which then
   becomes the citation). An unsupported number means "not found"; an
   unsupported name, or an answer that only restates the question, is
   replaced by the quoted sentence. Talk about the prompt ("comme mentionné
   dans le passage [1]") is removed.

>>> from rag.grounding import unsupported
>>> unsupported("Il y a 12 drones.", "Une attaque massive de drones.", "Combien de drones ?", True)
(['12'], [])
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .lexical import _stopwords, _terms, analyze, content_tokens, fold
from .schema import Hit

_NOT_FOUND_HINTS = re.compile(
    r"NOT_FOUND|ne (?:contiennent|contient|mentionnent|mentionne|précisent|indiquent) pas|"
    r"pas (?:d'information|mentionn|précisé|indiqué)|aucune information|"
    r"(?:do|does) not (?:contain|mention|provide|specify|say)|no information|not mentioned|not provided",
    re.I,
)


@dataclass(frozen=True)
class Evidence:
    found: bool
    best_dense: float
    keyword_coverage: float
    missing_terms: tuple[str, ...] = ()


def evidence_gate(
    question: str,
    hits: list[Hit],
    min_dense: float,
    min_coverage: float,
    min_dense_cross: float | None = None,
    original: str | None = None,
) -> Evidence:
    """Is there a passage relevant enough to try answering?

    Yes when one passage holds most of the question's content words, or when the
    embeddings are close enough and no key term of the question (name, acronym,
    number: "PIB", "iPhone", "Brésil") is missing from every passage. Key terms are
    only required when question and passages share a language: names change across
    languages (Putin / Poutine). For the same reason an English question over French
    passages scores lower cosines, so it gets its own threshold `min_dense_cross`.
    A question machine-translated from `original` is gated as one in the passages' language,
    except that only the key terms the asker typed are required, and by close spelling (a
    "Chamber" the translation kept matches "Chambre"): the translator's own words ("Dantzig"
    for "Gdansk", "dévoués" for "Willing") are not the asker's.
    """
    if not hits:
        return Evidence(False, 0.0, 0.0)
    best_dense = max((h.dense_score or 0.0) for h in hits)
    texts = [searchable_text_of(h) for h in hits]
    coverage = max(keyword_support(question, t) for t in texts)
    missing = missing_key_terms(question, texts)
    if original is not None:
        typed = set(key_terms(original))
        have = spelled_words("\n".join(texts))
        missing = [t for t in missing if t in typed and not _close(t.rstrip("+"), have)]
    threshold = min_dense
    if min_dense_cross is not None and 2 * sum(same_language(question, t) for t in texts) < len(texts):
        threshold = min_dense_cross
    found = coverage >= min_coverage or (best_dense >= threshold and not missing)
    return Evidence(found, best_dense, coverage, tuple(missing))


def missing_share(question: str, passages: list[str]) -> float:
    """Share of the question's names, acronyms and numbers found in none of the passages, by close
    spelling (Zelensky/Zelenskyy), so it also reads across languages (an English question's
    names over French passages).

    >>> missing_share("Who proposed the Gdansk truce?", ["Trump a proposé une trêve à Gdansk."])
    0.0
    >>> missing_share("What did Nowak say in Gdansk?", ["Trump a proposé une trêve à Gdansk."])
    0.5
    """
    terms = set(key_terms(question))
    return 1 - question_terms_held(question, "\n".join(passages)) / len(terms) if terms else 0.0


# Answerability: a logistic score of the best sentence cosine, the model's P(yes) and the share of
# the question's names missing from the passages, one fit for questions in the passages' language
# and one across languages. Fit on half A of one logged PIAF dev run (60 French questions and their
# English translations, each with and without its document): `python -m bench.replay --fit`.
# Cosines span a narrow range (~0.75-0.92), hence the large weight on them.
ANSWERABILITY = {
    "same": (-69.515, 73.279, 8.952, -1.826),
    "cross": (-55.494, 63.439, 6.434, -0.904),
}


def answerability(best_dense: float, p_yes: float, missing: float, cross: bool) -> float:
    """Probability-like score that the passages answer the question (coefficients: ANSWERABILITY).

    >>> answerability(0.88, 0.95, 0.0, cross=False) > 0.9 > 0.1 > answerability(0.80, 0.6, 1.0, cross=False)
    True
    """
    b, w_dense, w_yes, w_missing = ANSWERABILITY["cross" if cross else "same"]
    z = b + w_dense * best_dense + w_yes * p_yes + w_missing * missing
    return 1.0 / (1.0 + math.exp(-z))


def key_terms(text: str) -> list[str]:
    """Names, acronyms and numbers of a text (a capitalised first word does not count)."""
    out = []
    for i, m in enumerate(re.finditer(r"\w+\+*", text)):
        w = m.group(0)
        base = w.rstrip("+")
        if (
            base.isdigit()
            or (len(base) >= 2 and base.isupper())
            or any(c.isupper() for c in base[1:])
            or (i > 0 and base[:1].isupper() and len(base) > 2)
        ):
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
    missing = [t for t in key_terms(question) if not any(x in terms for x in _terms(t))]
    if missing:
        words = spelled_words("\n".join(passages))
        missing = [t for t in missing if not _written_otherwise(t, words)]
    return missing


# Small numbers as French and English words: "les 3 basiliques" are "trois basiliques" in the text.
_NUMBER_VALUES = {
    w: n
    for n, ws in {
        1: "premier premiere first",
        2: "deux two deuxieme second",
        3: "trois three troisieme third",
        4: "quatre four quatrieme fourth",
        5: "cinq five cinquieme fifth",
        6: "six sixieme sixth",
        7: "sept seven septieme seventh",
        8: "huit eight huitieme eighth",
        9: "neuf nine neuvieme ninth",
        10: "dix ten dixieme tenth",
        11: "onze eleven",
        12: "douze twelve",
        13: "treize thirteen",
        14: "quatorze fourteen",
        15: "quinze fifteen",
        16: "seize sixteen",
        20: "vingt twenty",
        30: "trente thirty",
        40: "quarante forty",
        50: "cinquante fifty",
        60: "soixante sixty",
        100: "cent hundred",
        1000: "mille thousand",
    }.items()
    for w in ws.split()
}
_ORDINAL = re.compile(r"^(\d+)(?:e|er|ere|re|eme|th|st|nd|rd)$")


def _written_otherwise(term: str, words: set[str]) -> bool:
    """Is a key term the passages lack as such written there another way: a number as an ordinal
    ("350e", "19th") or a word ("trois"), a name of six letters or more with one typo ("Mesier" for
    "Messier", "Nielson" for "Nielsen": the asker's, or the text's)?

    >>> _written_otherwise("3", {"trois", "basiliques"}), _written_otherwise("350", {"350e"})
    (True, True)
    >>> _written_otherwise("mesier", {"messier"}), _written_otherwise("nowak", {"novak", "nowacki"})
    (True, False)
    """
    t = fold(term.rstrip("+"))
    if t.isdigit():
        n = int(t)
        return any(
            _NUMBER_VALUES.get(w) == n or ((m := _ORDINAL.match(w)) is not None and int(m.group(1)) == n) for w in words
        )
    return len(t) >= 6 and any(len(w) >= 5 and one_edit_apart(t, w) for w in words)


def one_edit_apart(a: str, b: str) -> bool:
    """True when one letter inserted, deleted, replaced or two neighbours swapped turn `a` into `b`.

    >>> one_edit_apart("mesier", "messier"), one_edit_apart("nielson", "nielsen"), one_edit_apart("ab", "ab")
    (True, True, False)
    """
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (
        i + 1 < len(a) and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2 :] == b[i + 2 :]
    )


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


def looks_not_found(raw: str) -> bool:
    return bool(_NOT_FOUND_HINTS.search(raw))


def with_markers(sentence: str, numbers: list[int]) -> str:
    markers = "".join(f"[{n}]" for n in numbers)
    m = re.search(r"([.!?…]+[\"»”)]*)$", sentence)
    if m:
        return f"{sentence[: m.start()].rstrip()} {markers}{m.group(1)}"
    return f"{sentence} {markers}"


# ------------------------------------------------------------------ select-then-answer checks
_META_TALK = re.compile(
    r",?\s*(?:(?:comme|tel que|ainsi qu['’]?)\s+(?:mentionné|indiqué|précisé|cité|écrit)e?s?\s+"
    r"(?:dans|par)\s+(?:le|la|les)\s+(?:passages?|phrases?|sources?|documents?)|"
    r"(?:selon|d['’]après)\s+(?:le|la|les)\s+(?:passages?|phrases?)|"
    r"(?:as\s+)?(?:mentioned|stated|cited|indicated)\s+in\s+(?:the\s+)?(?:passages?|sentences?|sources?)|"
    r"(?:according\s+to|citing|per)\s+(?:the\s+)?(?:passages?|sentences?|sources?))"
    r"(?:\s*(?:\[\s*\d+\s*\]|\d+))*",
    re.I,
)
_LEFTOVER_MARKERS = re.compile(r"\s*\[\s*\d+(?:\s*[,;-]\s*\d+)*\s*\]")


def strip_meta_talk(text: str) -> str:
    """The answer without talk about the prompt ("comme mentionné dans le passage [1]") or markers.

    >>> strip_meta_talk("La délégation est de bas niveau, citing passage [1].")
    'La délégation est de bas niveau.'
    >>> strip_meta_talk("Trump l'a proposée, comme mentionné dans le passage [2].")
    "Trump l'a proposée."
    """
    text = _META_TALK.sub("", text)
    text = _LEFTOVER_MARKERS.sub("", text)
    text = re.sub(r"\s+([.,;:!?])", r"\1", text)
    text = re.sub(r"([,;:])\s*([.!?])", r"\2", text)
    return " ".join(text.split()).strip(" ,;:")


def numbers_of(text: str) -> set[str]:
    """Numbers as written, without thousands separators ("1 200", "1.200", "1,200" and "1200" are
    the same: an English answer writes "25,000" for the French "25 000").

    >>> sorted(numbers_of("25 000 soldats, 25,000 troops, 1,5 million, 2,5")), sorted(numbers_of("1,234,567"))
    (['1.5', '2.5', '25000'], ['1234567'])
    """
    text = re.sub(r"(?<=\d)[\s\u00a0\u202f.](?=\d{3}\b)", "", text)
    text = re.sub(r"\b\d{1,3}(?:,\d{3})+\b", lambda m: m.group(0).replace(",", ""), text)
    return {n.replace(",", ".") for n in re.findall(r"\d+(?:[.,]\d+)?", text)}


def spelled_words(text: str) -> set[str]:
    """The words of a text, lowercased and accent-folded, as `_close` compares names against."""
    return {fold(w.lower()) for w in re.findall(r"\w+\+*", text)}


def _close(term: str, terms: set[str]) -> bool:
    """A name matches across spellings when a term shares its first five letters (Zelensky/Zelenskyy)
    or its consonants, in order, three or more (Putin/Poutine, Moscow/Moscou); exact after folding
    otherwise.

    >>> _close("putin", {"poutine"}), _close("zelensky", {"zelenskyy"}), _close("kyiv", {"kiev"})
    (True, True, False)
    """
    t = fold(term)
    if t in terms or (len(t) >= 5 and any(x[:5] == t[:5] for x in terms if len(x) >= 5)):
        return True
    k = consonants(t)
    return len(k) >= 3 and any(x[:1] == t[:1] and consonants(x) == k for x in terms)


def consonants(word: str) -> str:
    """A name's consonants in order, doubled letters once: what survives its spelling in another
    language more often than its vowels ("putin", "poutine" -> "ptn")."""
    out = ""
    for c in word:
        if c.isalpha() and c not in "aeiouy" and not out.endswith(c):
            out += c
    return out


def unsupported(answer: str, evidence: str, question: str, same_language: bool) -> tuple[list[str], list[str]]:
    """(numbers, names) of the answer found neither in the evidence nor in the question.

    Numbers are checked in any language; names only when answer and evidence share one
    (names change across languages: Putin / Poutine).
    """
    numbers = sorted(numbers_of(answer) - numbers_of(evidence) - numbers_of(question))
    names: list[str] = []
    if same_language:
        have = spelled_words(evidence + " " + question)
        names = [t for t in key_terms(answer) if not t.isdigit() and not _close(t.rstrip("+"), have)]
    return numbers, names


def question_terms_held(question: str, sentence: str) -> int:
    """How many of the question's own names and numbers a sentence holds (names by close spelling).

    >>> question_terms_held("Qui a proposé la trêve de 30 jours ?", "Une trêve de 30 jours proposée par Trump.")
    1
    """
    have = spelled_words(sentence)
    return sum(_close(t.rstrip("+"), have) for t in set(key_terms(question)))


def answer_support(answer: str, sentence: str, question: str) -> float:
    """Weighted share of the answer's own words (those not in the question) that the sentence holds
    (names and numbers count double); 0.0 when the answer adds no word of its own.

    >>> answer_support("Elle a été signée à Rome en 1957.", "Le traité fut signé en 1957 à Rome.",
    ...                "Où le traité a-t-il été signé ?")
    1.0
    """
    asked = set(analyze(question))
    have = set(analyze(sentence))
    names = set(key_terms(answer))
    total = held = 0.0
    for tok in dict.fromkeys(content_tokens(_LEFTOVER_MARKERS.sub(" ", answer))):
        stems = _terms(tok)
        if any(x in asked for x in stems):
            continue
        weight = 2.0 if tok in names else 1.0
        total += weight
        held += weight if any(x in have for x in stems) else 0.0
    return held / total if total else 0.0


def adds_nothing(answer: str, question: str) -> bool:
    """True when the answer only restates the question (an echo), so it cannot answer it."""
    asked = set(analyze(question))
    said = [t for t in content_tokens(_LEFTOVER_MARKERS.sub(" ", answer)) if not any(x in asked for x in _terms(t))]
    return not said


_ASKS_NUMBER = re.compile(
    r"\b(?:combien|how\s+(?:many|much|old|long)|quel(?:le)?s?\s+(?:est|sont|était|étaient)\s+(?:le|la|les)\s+"
    r"(?:nombre|montant|taux|pourcentage|part|chiffre|budget|prix|coût)|what\s+(?:is|was|are|were)\s+the\s+"
    r"(?:number|amount|rate|percentage|share|figure|budget|price|cost)|en\s+quelle\s+année|"
    r"(?:in\s+)?(?:what|which)\s+year|quel\s+âge)\b",
    re.I,
)
# "un", "une" and "one" are articles far more often than counts ("une délégation de bas niveau"
# is no answer to "combien"): only "un seul", "un ou plusieurs", "only one" count.
_NUMBER_WORDS = re.compile(
    r"\b(?:une?\s+(?:seule?|ou\s+plusieurs)|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|quinze|vingt|trente|quarante|"
    r"cinquante|soixante|cent|mille|millions?|milliards?|dizaines?|centaines?|milliers?|"
    r"(?:only|just)\s+one|one\s+or\s+more|a\s+single|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|"
    r"hundreds?|thousands?|millions?|billions?|dozens?)\b",
    re.I,
)


def asks_for_number(question: str) -> bool:
    """ "How many", "combien", "what percentage", "en quelle année": the answer must hold a number.

    >>> asks_for_number("Combien de drones ont été lancés ?"), asks_for_number("Qui a proposé la trêve ?")
    (True, False)
    """
    return bool(_ASKS_NUMBER.search(question))


_COUNTED = re.compile(
    r"\b(?:combien\s+(?:de|d['’])\s*|how\s+many\s+|how\s+much\s+|"
    r"(?:le|la|the)\s+(?:nombre|taux|montant|pourcentage|part|prix|coût|budget|"
    r"number|rate|amount|percentage|share|price|cost|budget)\s+(?:de|des|du|d['’]|of)\s*)"
    r"(?:(?:les|la|le|l['’]|the)\s*)?([^\W\d_]{3,})",
    re.I,
)


def counted_thing(question: str) -> str | None:
    """What a "how many" question counts ("drones" in "Combien de drones ..."), or None.

    >>> counted_thing("Combien de drones la Russie a-t-elle lancés ?"), counted_thing("How many troops?")
    ('drones', 'troops')
    >>> counted_thing("Quel est le taux de chômage en Pologne ?")
    'chômage'
    >>> counted_thing("Qui a proposé la trêve ?") is None
    True
    >>> counted_thing("How many Ukrainian grain ships have used the corridor?")  # English: the last noun
    'ships'
    >>> counted_thing("How much did the truce cost?") is None
    True
    """
    m = _COUNTED.search(question)
    thing = m.group(1).lower() if m else None
    if m and thing and m.group(0).lower().startswith("how") and thing not in _ENGLISH_AFTER_NOUN:
        # English puts the counted noun last ("How many Patriot batteries has ...", "how much corn"):
        # the noun phrase runs until the verb, an auxiliary or a preposition.
        phrase = [thing or ""]
        for w in re.findall(r"[^\W\d_][\w'’-]*", question[m.end() :])[:2]:
            if w.lower() in _ENGLISH_AFTER_NOUN or (w.lower().endswith("ed") and len(w) > 4):
                break
            phrase.append(w.lower())
        thing = phrase[-1]
    # units of time and repetition are written as the number's unit ("pendant 12 ans", "trois fois")
    return None if thing is None or fold(thing) in _stopwords() or fold(thing) in _NOT_COUNTED else thing


# Words that end a noun phrase after "how many": auxiliaries, prepositions, verbs that such questions use.
_ENGLISH_AFTER_NOUN = frozenset(
    "is are was were be been do does did have has had will would can could should may might must shall "
    "of in on at for from to by with per during since there that which who "
    "make makes made take takes took die died live lived work worked come came go went remain remained "
    "exist existed attend attended end ended belong belonged compose comprise comprised get got need "
    "receive received cost costs leave left win won lose lost enter entered serve served join joined "
    "vote voted sit sat fly flew run ran".split()
)
_NOT_COUNTED = frozenset(
    "fois times temps time ans annees mois jours heures semaines siecles minutes years months days hours weeks "
    "centuries".split()
)


def mentions(text: str, word: str) -> bool:
    """Does `text` hold `word` (by stem, accents folded)?

    >>> mentions("Trois drones abattus.", "drone"), mentions("Trois missiles.", "drones")
    (True, False)
    """
    terms = set(analyze(text))
    return any(t in terms for t in _terms(word))


def has_number(text: str) -> bool:
    """Does the text give a count, in digits or words?

    >>> has_number("Une délégation de bas niveau."), has_number("Un seul conseiller."), has_number("12 drones")
    (False, True, True)
    """
    return bool(re.search(r"\d", text) or _NUMBER_WORDS.search(text))
