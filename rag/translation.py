"""A question asked in another language than the passages it finds, translated by the local LLM.

An English question over French briefings is searched, gated and read in French: the e5
cosines, the keyword checks and the answerability score are all sharper within one
language (bench/README.md, "English questions translated into French"). The answer is
still written in the question's language.

>>> from rag.translation import passages_language
>>> from rag.schema import Hit
>>> passages_language([Hit(doc="a", start=0, end=30, text="Le président a proposé une trêve.", score=1.0)])
'fr'
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from .backends import Generator
from .prompting import detect_language
from .schema import Hit

LANGUAGE_NAMES = {"fr": "French", "en": "English"}

# In a folder that mixes languages, a question whose typed names the passages in its own language
# lack is searched again in the other one when any of the first MIXED_DEPTH x k passages is written
# in it: an English question's answer may sit in a French briefing that the English wording ranks
# below the English ones ("Turkey" / "Turquie").
MIXED_DEPTH = 2


def passages_language(hits: Sequence[Hit]) -> str | None:
    """The language most of the passages are written in ('fr' or 'en'), None without passages.

    Ties go to the first passage's language, the best match.
    """
    if not hits:
        return None
    languages = [detect_language(h.text) for h in hits]
    counts = Counter(languages)
    return max(counts, key=lambda lang: (counts[lang], lang == languages[0]))


def other_language(hits: Sequence[Hit], language: str) -> str | None:
    """The first language other than `language` the passages are written in, None when all are in it.

    >>> other_language([Hit(doc="a", start=0, end=30, text="Le président a proposé une trêve.", score=1.0)], "en")
    'fr'
    """
    return next((lang for lang in (detect_language(h.text) for h in hits) if lang != language), None)


def translation_messages(question: str, language: str) -> list[dict]:
    """The chat messages asking the LLM for `question` in `language`; the system prompt is constant
    per language, so llama.cpp keeps it cached."""
    name = LANGUAGE_NAMES[language]
    return [
        {
            "role": "system",
            "content": f"Translate the user's question into {name}. Keep names, numbers and dates. "
            f"Output only the {name} question.",
        },
        {"role": "user", "content": question},
    ]


def translate_question(llm: Generator, question: str, language: str) -> str:
    """`question` in `language` (greedy, one line), or the question itself when the reply is unusable.

    >>> class Echo:
    ...     def complete(self, messages, max_tokens=None):
    ...         return "Qui a proposé la trêve de 30 jours ?\\nExplanation: ..."
    >>> translate_question(Echo(), "Who proposed the 30-day truce?", "fr")
    'Qui a proposé la trêve de 30 jours ?'
    """
    limit = 2 * len(question) + 40  # a translation runs away when it is much longer than the question
    out = llm.complete(translation_messages(question, language), max_tokens=min(200, limit // 2)).strip()
    lines = out.splitlines()
    line = lines[0].strip().strip('"«» ').strip() if lines else ""
    if not re.search(r"\w", line) or len(line) > limit:
        return question
    return line
