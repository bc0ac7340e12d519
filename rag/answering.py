"""Question -> retrieval -> evidence gate -> LLM (streamed) -> citation check -> Answer.

>>> from rag.answering import Assistant
>>> bot = Assistant.load()                                          # doctest: +SKIP
>>> a = bot.answer("who proposed the 30-day truce?")                # doctest: +SKIP
>>> a.text, a.found, [c.n for c in a.citations]                     # doctest: +SKIP
('The 30-day truce was proposed by Donald Trump [1].', True, [1])
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

from .embedding import Embedder
from .errors import InvalidQuestion
from .grounding import CitationChecker, evidence_gate, looks_not_found
from .llm import LLM
from .prompting import NOT_FOUND, build_messages, detect_language, focus
from .retrieval import Filters, Retriever
from .schema import Answer
from .settings import Settings

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKERS = re.compile(r"\[[\d,\s]+\]")
_BARE_REPLY = re.compile(r"\[[\d,\s]+\]|\b(?:et|and)\b")   # "[1] et [2]" says nothing
_FOLLOW_UP = re.compile(
    r"\b(il|elle|ils|elles|lui|leur|leurs|celle|celui|ceux|cela|ça|ce dernier|cette dernière|y|en|"
    r"it|its|they|them|their|he|she|him|her|this|that|those|these)\b|\b[lL]['’]", re.I)


@dataclass
class StreamEvent:
    """One step of a streamed answer: text `delta`s while the LLM writes, then the final `answer`.

    The final answer's text can differ from the concatenated deltas: citation
    checking renumbers, moves or removes citations once the whole reply is known.
    """

    delta: str = ""
    answer: Answer | None = None
    status: str = ""


def clean_question(question: str, max_chars: int) -> str:
    """Normalised question, or InvalidQuestion with what to do."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = " ".join(_CONTROL.sub(" ", question).split())
    if not re.search(r"\w", q):
        raise InvalidQuestion("empty question: type a question about the briefings")
    if len(q) > max_chars:
        raise InvalidQuestion(f"question too long ({len(q)} characters, at most {max_chars}): "
                              "ask something shorter")
    return q


def normalize_history(history) -> list[tuple[str, str]]:
    """Accept [(user, assistant), ...] or [{"role": ..., "content": ...}, ...] (Gradio's format)."""
    pairs: list[tuple[str, str]] = []
    pending = None
    for turn in history or []:
        if isinstance(turn, dict):
            content = _text_of(turn.get("content"))
            if turn.get("role") == "user":
                pending = content
            elif turn.get("role") == "assistant" and pending is not None:
                pairs.append((pending, content))
                pending = None
        elif isinstance(turn, (list, tuple)) and len(turn) == 2:
            pairs.append((str(turn[0] or ""), str(turn[1] or "")))
    return pairs


def _text_of(content) -> str:
    """Message content as text: a string, or Gradio 6's list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "")
    if isinstance(content, (list, tuple)):
        return " ".join(_text_of(part) for part in content).strip()
    return ""


class Assistant:
    """Holds the loaded models and index; answers questions. Thread-safe; one generation at a time."""

    def __init__(self, settings: Settings, retriever: Retriever, llm: LLM):
        self.settings = settings
        self.retriever = retriever
        self.llm = llm
        self.checker = CitationChecker(retriever.embedder.queries, settings.support_threshold)

    @classmethod
    def load(cls, settings: Settings | None = None, embedder: Embedder | None = None,
             llm: LLM | None = None) -> "Assistant":
        settings = settings or Settings.from_env()
        retriever = Retriever.load(settings, embedder)
        return cls(settings, retriever, llm or LLM.load(settings))

    def warm_up(self) -> None:
        """Load the embedder's weights and put the constant system prompt in llama.cpp's cache,
        so the first question pays neither."""
        from .prompting import SYSTEM

        self.retriever.embedder.queries(["warm up"])
        self.llm.complete([{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Passages:"}],
                          max_tokens=1)

    def answer(self, question: str, k: int | None = None, history=None, filters: Filters | None = None) -> Answer:
        """The whole grounded answer (see `stream` for the token-by-token variant)."""
        final = None
        for event in self.stream(question, k=k, history=history, filters=filters):
            if event.answer is not None:
                final = event.answer
        return final

    def stream(self, question: str, k: int | None = None, history=None,
               filters: Filters | None = None) -> Iterator[StreamEvent]:
        s = self.settings
        t0 = time.perf_counter()
        q = clean_question(question, s.max_question_chars)
        language = detect_language(q)
        timings: dict[str, float] = {}

        query = q
        pairs = normalize_history(history)
        if pairs and self._needs_rewrite(q):
            yield StreamEvent(status="rewriting the follow-up question")
            t = time.perf_counter()
            query = self.rewrite(q, pairs)
            timings["rewrite"] = time.perf_counter() - t

        t = time.perf_counter()
        qvec = self.retriever.embedder.queries([query])[0]
        hits = self.retriever.search(query, k=k or s.top_k, filters=filters, query_vector=qvec)
        timings["retrieve"] = time.perf_counter() - t
        gate = evidence_gate(query, hits, s.min_dense_score, s.min_keyword_coverage, s.min_dense_score_cross)
        base = dict(question=q, language=language, query=query, hits=hits)
        if not gate.found:
            timings["first_token"] = timings["total"] = time.perf_counter() - t0
            text = NOT_FOUND[language]
            yield StreamEvent(delta=text)
            yield StreamEvent(answer=Answer(text=text, found=False, timings=timings, **base))
            return

        shown = q if query == q else f"{q} ({query})"
        bodies = focus(qvec, hits, self.retriever.embedder.queries, s.passage_sentences)
        t = time.perf_counter()
        raw = ""
        for cite in (True, False):
            for delta in self.llm.stream(build_messages(shown, hits, language, bodies, cite=cite)):
                if "first_token" not in timings:
                    timings["first_token"] = time.perf_counter() - t0
                raw += delta
                yield StreamEvent(delta=delta)
            if re.search(r"[^\W\d_]", _BARE_REPLY.sub("", raw)):
                break
            # Only citation markers came back (seen with the 1.5B model): ask once more without them.
            raw = ""
            yield StreamEvent(status="retrying", delta="\n")
        timings["generate"] = time.perf_counter() - t

        t = time.perf_counter()
        answer = self._ground(raw, hits, query, base)
        timings["check"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        answer.timings = timings
        yield StreamEvent(answer=answer)

    def _ground(self, raw: str, hits, query: str, base: dict) -> Answer:
        language = base["language"]
        if not raw.strip() or looks_not_found(raw):
            return Answer(text=NOT_FOUND[language], found=False, raw_text=raw, **base)
        vectors = self.retriever.index.vectors[[h.chunk_id for h in hits]] if hits else np.zeros((0, 1))
        checked = self.checker.check(raw, hits, vectors, question=query)
        if not checked.citations:
            return Answer(text=NOT_FOUND[language], found=False, raw_text=raw, **base)
        return Answer(text=checked.text, found=True, citations=checked.citations, raw_text=raw, **base)

    @staticmethod
    def _needs_rewrite(question: str) -> bool:
        return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 4

    def rewrite(self, question: str, pairs: Sequence[tuple[str, str]]) -> str:
        """Turn a follow-up into a stand-alone search query using the last turns."""
        convo = "\n".join(f"User: {u}\nAssistant: {_MARKERS.sub('', a)[:400]}" for u, a in pairs[-3:])
        messages = [
            {"role": "system", "content": "Rewrite the user's follow-up question as one stand-alone question "
             "that can be understood without the conversation (replace pronouns with the names they refer to). "
             "Keep the language of the follow-up. Output only the rewritten question."},
            {"role": "user", "content": f"Conversation:\n{convo}\n\nFollow-up: {question}\nStand-alone question:"},
        ]
        out = self.llm.complete(messages, max_tokens=60).strip().splitlines()
        rewritten = out[0].strip().strip('"') if out else ""
        return rewritten if re.search(r"\w", rewritten) and len(rewritten) < 400 else question
