"""Question -> retrieval (-> translation into the passages' language) -> evidence gate -> sentences
-> answerable? -> evidence -> answer -> verification.

Select, then answer: the LLM sees numbered sentences, its probability of "yes"
to "Answerable:" (weighed with the best cosine and the question's names the
passages lack) decides whether to answer at all, it names the sentence that
answers (which becomes the citation), then writes the answer, which is checked
against that sentence (rag/grounding.py).

>>> from rag.answering import Assistant
>>> bot = Assistant.load()                                          # doctest: +SKIP
>>> a = bot.answer("who proposed the 30-day truce?")                # doctest: +SKIP
>>> a.text, a.found, [c.n for c in a.citations]                     # doctest: +SKIP
('Donald Trump proposed the 30-day truce [1].', True, [1])
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .backends import Generator, Searcher, open_index, open_llm
from .dates import parse_period, without_phrase
from .embedding import Embedder
from .errors import InvalidQuestion
from .grounding import (
    adds_nothing,
    answer_support,
    answerability,
    asks_for_number,
    counted_thing,
    evidence_gate,
    has_number,
    keyword_support,
    looks_not_found,
    mentions,
    missing_share,
    question_terms_held,
    same_language,
    searchable_text_of,
    strip_meta_talk,
    unsupported,
    with_markers,
)
from .memory import trim_heap
from .prompting import (
    ANSWER,
    ANSWERABLE,
    EVIDENCE,
    NOT_FOUND,
    Sentence,
    build_messages,
    detect_language,
    scored_sentences,
    select_sentences,
)
from .retrieval import Filters
from .schema import Answer, Citation, Hit
from .settings import Settings
from .translation import MIXED_DEPTH, other_language, passages_language, translate_question

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MARKERS = re.compile(r"\[[\d,\s]+\]")
_FOLLOW_UP = re.compile(
    r"\b(il|elle|ils|elles|lui|leur|leurs|celle|celui|ceux|cela|ça|ce dernier|cette dernière|y|en|"
    r"it|its|they|them|their|he|she|him|her|this|that|those|these)\b|\b[lL]['’]",
    re.I,
)


@dataclass
class StreamEvent:
    """One step of a streamed answer: text `delta`s while the LLM writes, then the final `answer`.

    The final answer's text can differ from the concatenated deltas: verification adds the
    citation marker, removes talk about the prompt, or replaces the reply (quote, "not found").
    """

    delta: str = ""
    answer: Answer | None = None
    status: str = ""
    # The retrieved passages, sent once as soon as retrieval is done (before the LLM reads them), so a
    # client can show them while the answer is written (status "retrieved").
    hits: tuple[Hit, ...] = ()


def clean_question(question: str, max_chars: int) -> str:
    """Normalised question, or InvalidQuestion with what to do."""
    if not isinstance(question, str):
        raise InvalidQuestion("the question must be text")
    q = " ".join(_CONTROL.sub(" ", question).split())
    if not re.search(r"\w", q):
        raise InvalidQuestion("empty question: type a question about the briefings")
    if len(q) > max_chars:
        raise InvalidQuestion(f"question too long ({len(q)} characters, at most {max_chars}): ask something shorter")
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

    today = None  # the day dates in questions are relative to; None = the real today (tests fix it)

    def __init__(self, settings: Settings, retriever: Searcher, llm: Generator):
        self.settings = settings
        self.retriever = retriever
        self.llm = llm

    @classmethod
    def load(
        cls, settings: Settings | None = None, embedder: Embedder | None = None, llm: Generator | None = None
    ) -> Assistant:
        """The configured index (FAISS folder or PostgreSQL) and LLM (in-process or servers), rag/backends.py."""
        settings = settings or Settings.from_env()
        retriever = open_index(settings, embedder or Embedder.load(settings)).searcher()
        return cls(settings, retriever, llm or open_llm(settings))

    def warm_up(self) -> None:
        """Load the embedder's weights and put the constant system prompt in llama.cpp's cache,
        so the first question pays neither."""
        self.retriever.embedder.queries(["warm up"])
        parse_period("warm up")  # dateparser loads its languages (~1 s) on first use
        for language in ("en", "fr"):  # one cached head per question language
            with self.llm.session(warm_up_messages(language)) as session:
                session.probabilities([" yes", " no"])

    def answer(self, question: str, k: int | None = None, history=None, filters: Filters | None = None) -> Answer:
        """The whole grounded answer (see `stream` for the token-by-token variant)."""
        final = None
        for event in self.stream(question, k=k, history=history, filters=filters):
            if event.answer is not None:
                final = event.answer
        if final is None:  # unreachable: every path of stream() ends with the answer
            raise RuntimeError("the answer stream ended without an answer")
        return final

    def stream(
        self, question: str, k: int | None = None, history=None, filters: Filters | None = None
    ) -> Iterator[StreamEvent]:
        """The answer as events: the passages found, the LLM's text as it comes, then the final `Answer`."""
        try:
            yield from self._stream(question, k, history, filters)
        finally:
            trim_heap()  # also when the client stops reading after the answer: a server answers all day

    def _stream(self, question: str, k: int | None, history, filters: Filters | None) -> Iterator[StreamEvent]:
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
        # A period in the question favours its briefings (rag/retrieval.py).
        period = parse_period(query, self.today) or (parse_period(q, self.today) if query != q else None)

        def search(text: str):
            vector = self.retriever.embedder.queries([text])[0]
            return vector, self.retriever.search(
                text, k=k or s.top_k, filters=filters, query_vector=vector, dates=period
            )

        qvec, hits = search(query)
        timings["retrieve"] = time.perf_counter() - t
        original = None  # the question as asked, when it was translated into the passages' language
        asked = detect_language(query)
        target = passages_language(hits) if s.translate_questions else None
        if target is not None and target != asked:
            yield StreamEvent(status="translating the question")
            translated = self._translate(query, target, timings)
            if translated != query:
                t = time.perf_counter()
                original, query = query, translated
                qvec, hits = search(query)
                timings["retrieve"] += time.perf_counter() - t

        def gate_of(question: str, passages: list[Hit], asked_as: str | None):
            # When the period picked the passages, its words ("la semaine dernière", "20 mai") said when,
            # not what: the gate's keyword checks do without them. Otherwise a date may be what it asks.
            applied = period is not None and (period.newest or any(period.contains(h.date) for h in passages))
            question = without_phrase(question, period) if applied else question
            return evidence_gate(
                question, passages, s.min_dense_score, s.min_keyword_coverage, s.min_dense_score_cross, asked_as
            )

        gate = gate_of(query, hits, original)
        retried = None  # the other language a question was asked again in (a mixed folder)
        if not gate.found and gate.missing_terms and target == asked:
            # A folder mixing languages: a name the asker typed is in none of the passages of the
            # question's language, but names change across languages ("Turkey" / "Turquie", "Oval
            # Office" / "Bureau ovale"): the answer may sit in a passage of the other language that
            # this wording ranks lower. Asked again in that language, it is a translated question.
            # (Retrying every question the gate stops also answered more unanswerable ones: bench/README.md.)
            t = time.perf_counter()
            wider = self.retriever.search(
                query, k=MIXED_DEPTH * (k or s.top_k), filters=filters, query_vector=qvec, dates=period
            )
            other = other_language(wider, asked)
            timings["retrieve"] += time.perf_counter() - t
            if other is not None:
                yield StreamEvent(status="translating the question")
                translated = self._translate(query, other, timings)
                if translated != query:
                    t = time.perf_counter()
                    tvec, found = search(translated)
                    timings["retrieve"] += time.perf_counter() - t
                    # gated against the passages in its own language, as a question asked in it
                    own = [h for h in found if detect_language(h.text) == other]
                    second = gate_of(translated, own, query)
                    if second.found:
                        original, query, qvec, hits, gate, retried = query, translated, tvec, found, second, other
        yield StreamEvent(status="retrieved", hits=tuple(hits))
        base = dict(question=q, language=language, query=query, hits=hits)
        trace: dict[str, Any] = {"translated_from": original} if original else {}
        if retried:  # its own language's passages did not pass the gate; those of this one did
            trace["translated_after_gate"] = retried
        trace |= {
            "gate": {
                "dense": round(gate.best_dense, 4),
                "coverage": round(gate.keyword_coverage, 4),
                "missing": list(gate.missing_terms),
            }
        }
        if period is not None:
            trace["dates"] = {
                "from": period.start,
                "to": period.end,
                "phrase": period.phrase,
                "newest": period.newest,
                "applied": "favour" if s.date_weight else "ignored",
                "shown": period.describe(),
                "in_range": sum(period.contains(h.date) for h in hits),
            }
            if period.start and not trace["dates"]["in_range"]:
                trace["dates"]["shown"] += " (no passage of that period matched: answered from all)"
        if not gate.found:
            yield from _refused("gate", base, trace, timings, t0)
            return
        yield StreamEvent(status="reading")  # passages found: the LLM reads them
        yield from self._generate(q, query, hits, qvec, base, timings, t0, trace)

    def _translate(self, question: str, language: str, timings: dict[str, float]) -> str:
        t = time.perf_counter()
        translated = translate_question(self.llm, question, language)
        timings["translate"] = timings.get("translate", 0.0) + time.perf_counter() - t
        return translated

    def answer_from(self, question: str, hits) -> Answer:
        """Answer from given passages, skipping retrieval and the evidence gate (the eval's oracle)."""
        q = clean_question(question, self.settings.max_question_chars)
        qvec = self.retriever.embedder.queries([q])[0]
        base = dict(question=q, language=detect_language(q), query=q, hits=list(hits))
        final = None
        for event in self._generate(q, q, list(hits), qvec, base, {}, time.perf_counter()):
            final = event.answer or final
        if final is None:  # unreachable: every path of _generate() ends with the answer
            raise RuntimeError("the answer stream ended without an answer")
        return final

    def _generate(self, q, query, hits, qvec, base, timings, t0, trace=None) -> Iterator[StreamEvent]:
        """Select, then answer: the model reads numbered sentences, says whether they answer (read as
        a probability, no generation), names the sentence that does, then writes the answer."""
        s = self.settings
        language = base["language"]
        trace = dict(trace or {})
        shown_question = q if query == q else f"{q} ({query})"
        sentences = select_sentences(qvec, hits, self.retriever.embedder.passages, s.prompt_chars, s.max_sentences)
        messages = build_messages(shown_question, hits, sentences, language)
        while self.llm.count_tokens(self.llm.format(messages)) + s.max_tokens + 32 > s.n_ctx and len(hits) > 1:
            hits = hits[:-1]  # too many passages for the context: drop the last
            sentences = [x for x in sentences if x.hit < len(hits)]
            messages = build_messages(shown_question, hits, sentences, language)
        base = {**base, "hits": hits}
        trace["shown"] = [(hits[x.hit].doc, x.start, x.end) for x in sentences]
        # A translated question (query) is in the passages' language: it is scored as such.
        cross = 2 * sum(same_language(query, h.text) for h in hits) < len(hits)
        threshold = s.min_answerable_cross if cross else s.min_answerable
        # The answerability score also weighs how close the best sentence is and which of the
        # question's names no passage holds (rag/grounding.py).
        best_dense = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
        if best_dense is None:  # passages given, not retrieved (the eval's oracle): their sentences' cosines
            scored = [x for h in hits for _, _, x in scored_sentences(h, qvec, self.retriever.embedder.passages)]
            best_dense = max(scored, default=0.0)
        # A name counts as held when the passages hold it as the question or its rewrite spells it.
        missing = min(missing_share(x, [searchable_text_of(h) for h in hits]) for x in {q, query})
        t = time.perf_counter()
        raw = ""
        with self.llm.session(messages) as session:
            session.feed(ANSWERABLE)
            p_yes = float(session.probabilities([" yes", " no"])[0])
            score = answerability(best_dense, p_yes, missing, cross)
            trace.update(p_yes=round(p_yes, 4), cross_language=cross, answerability=round(score, 4))
            timings["answerable"] = time.perf_counter() - t
            if score < threshold:
                yield from _refused("answerability", base, trace, timings, t0)
                return
            session.feed(" yes\n" + EVIDENCE)
            # The model's probability of naming each sentence, read rather than generated, so that it
            # can be weighed with the sentence's cosine (settings: evidence_cosine_weight).
            named = number_probabilities(session, len(sentences))
            picked = [choose_evidence(named, [x.score for x in sentences], s.evidence_cosine_weight)] if named else []
            trace["evidence_p"] = [round(p, 4) for p in named]
            # The chosen sentence is written out after its number, so the answer is copied from right above.
            session.feed(("".join(f"{n}] {sentences[n - 1].text}" for n in picked) or "]") + "\n" + ANSWER[language])
            for delta in session.generate(s.max_tokens, stop=["\n"]):
                if "first_token" not in timings:
                    timings["first_token"] = time.perf_counter() - t0
                    delta = delta.lstrip()
                raw += delta
                yield StreamEvent(delta=delta)
        timings["generate"] = time.perf_counter() - t
        trace.update(evidence=picked)
        t = time.perf_counter()
        answer = verify_answer(raw, [sentences[n - 1] for n in trace["evidence"]], sentences, query, base, trace)
        timings["check"] = time.perf_counter() - t
        timings.setdefault("first_token", time.perf_counter() - t0)
        timings["total"] = time.perf_counter() - t0
        answer.timings = timings
        yield StreamEvent(answer=answer)

    @staticmethod
    def _needs_rewrite(question: str) -> bool:
        return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 4

    def rewrite(self, question: str, pairs: Sequence[tuple[str, str]]) -> str:
        """Turn a follow-up into a stand-alone search query using the last turns."""
        convo = "\n".join(f"User: {u}\nAssistant: {_MARKERS.sub('', a)[:400]}" for u, a in pairs[-3:])
        messages = [
            {
                "role": "system",
                "content": "Rewrite the user's follow-up question as one stand-alone question "
                "that can be understood without the conversation (replace pronouns with the names they refer to). "
                "Keep the language of the follow-up. Output only the rewritten question.",
            },
            {"role": "user", "content": f"Conversation:\n{convo}\n\nFollow-up: {question}\nStand-alone question:"},
        ]
        out = self.llm.complete(messages, max_tokens=60).strip().splitlines()
        rewritten = out[0].strip().strip('"') if out else ""
        return rewritten if re.search(r"\w", rewritten) and len(rewritten) < 400 else question


def number_probabilities(session, count: int, close: str = "]") -> list[float]:
    """The model's probability of writing each number 1..count then `close`, normalised over them.

    Read from next-token probabilities, no generation. Numbers are read digit by digit (the
    tokenizers of Qwen, Llama 2 and Mistral split digits), branching only where two numbers
    part: with 12 sentences, "1]" against "10]".."12]" costs one more token evaluated.

    >>> class Uniform:
    ...     def branch_probabilities(self, prefix, choices):
    ...         return [1 / len(choices)] * len(choices)
    >>> [round(p, 3) for p in number_probabilities(Uniform(), 3)]
    [0.333, 0.333, 0.333]
    >>> [round(p, 3) for p in number_probabilities(Uniform(), 11)][:2]  # "1]", "10]", "11]" share the "1"
    [0.037, 0.111]
    """
    if count <= 0:
        return []
    texts = [f"{k}{close}" for k in range(1, count + 1)]
    probs = [1.0] * count

    def walk(prefix: str, members: list[int]) -> None:
        groups: dict[str, list[int]] = {}
        for i in members:
            groups.setdefault(texts[i][len(prefix)], []).append(i)
        if len(groups) > 1:
            for (_, idx), p in zip(groups.items(), session.branch_probabilities(prefix, list(groups))):
                for i in idx:
                    probs[i] *= float(p)
        for c, idx in groups.items():
            if len(idx) > 1:
                walk(prefix + c, idx)

    walk("", list(range(count)))
    total = sum(probs)
    return [p / total for p in probs] if total > 0 else [1.0 / count] * count


def choose_evidence(named: Sequence[float], cosines: Sequence[float], weight: float) -> int:
    """The sentence to answer from (1-based): highest log P(the model names it) + weight x its cosine.

    >>> choose_evidence([0.6, 0.4], [0.80, 0.86], 0.0)
    1
    >>> choose_evidence([0.6, 0.4], [0.80, 0.86], 10.0)
    2
    """
    scores = [math.log(max(p, 1e-9)) + weight * c for p, c in zip(named, cosines)]
    return max(range(len(scores)), key=lambda i: (scores[i], -i)) + 1


def warm_up_messages(language: str) -> list[dict]:
    """A question's messages with one passage, so the cached head is the one real prompts share.

    The head ends where the last message's text begins, and the tokens there depend on how that
    text starts: every real prompt starts with "Passage 1", so must the warm-up's (a warm-up
    without passages cached a head one token short, and the first question recomputed it).
    """
    hit = Hit(doc="warm-up", start=0, end=9, text="Warm up.", score=0.0)
    return build_messages("warm up", [hit], [Sentence(1, 0, 0, 9, "Warm up.")], language)


def verify_answer(
    raw: str, evidence: list[Sentence], sentences: list[Sentence], query: str, base: dict, trace: dict
) -> Answer:
    """The final answer from the model's reply `raw` and the sentence(s) it named as `evidence`.

    Extractive verification: the answer's numbers and names must be in its evidence sentence.
    A pure function of what the model was shown and said, so `bench/replay.py` re-runs it on
    logged eval answers without the LLM.
    """
    language, hits = base["language"], base["hits"]

    def refuse(stage: str) -> Answer:
        return Answer(text=NOT_FOUND[language], found=False, raw_text=raw, trace={**trace, "refused_by": stage}, **base)

    text = strip_meta_talk(raw)
    if not sentences or looks_not_found(text):
        return refuse("check")
    picked = evidence[0] if evidence else None

    def cite_key(x: Sentence) -> tuple:
        # The question's names and numbers it holds plus the share of the answer's own words: the
        # 30-day truce's sentence, not another ceasefire's; the sentence that says "il y découvre des
        # corps entassés", not its neighbour naming Jim. The model's choice wins ties.
        return (question_terms_held(query, x.text) + answer_support(text, x.text, query), x == picked)

    if not evidence:  # no valid number given: the sentence that best supports the answer
        evidence = [max(sentences, key=lambda x: keyword_support(text or query, x.text))]
        trace["evidence_from"] = "support"
    if not re.search(r"[^\W\d_]", text) or adds_nothing(text, query):
        text, trace["fallback"] = quote(evidence[0].text, language), "echo"
    if asks_for_number(query) and not has_number(text):
        # "How many ...?" answered without a number: the figure is not in the briefings,
        # unless the evidence sentence holds one, which is then quoted.
        if not has_number(evidence[0].text):
            return refuse("verification")
        text, trace["fallback"] = quote(evidence[0].text, language), "number"
    same = same_language(text, evidence[0].text)

    def said(x: Sentence) -> str:
        # A passage's date is shown beside it: "signed on April 30, 2025" from "signé le 30 avril" in
        # a briefing dated 2025-05-27 adds no number of its own.
        date = hits[x.hit].date
        return f"{x.text} {date[:4]}" if date else x.text

    def supports(x: Sentence) -> bool:  # the sentence holds all the answer's numbers and names
        return not any(unsupported(text, said(x), query, same))

    numbers, names = unsupported(text, " ".join(said(x) for x in evidence), query, same)
    supported = [x for x in sentences if supports(x)]
    if numbers or names:
        # The model may have named the wrong sentence: another shown sentence may hold them all.
        if supported:
            evidence, trace["evidence_from"] = [max(supported, key=cite_key)], "verification"
        elif numbers:
            with_numbers = [x for x in sentences if not unsupported(text, said(x), query, same)[0]]
            if not with_numbers:
                return refuse("verification")  # a number the briefings do not give
            # its numbers are there, beside a name that is not: quote the sentence they come from
            evidence, trace["evidence_from"] = [max(with_numbers, key=cite_key)], "answer numbers"
            text, trace["fallback"] = quote(evidence[0].text, language), "names"
        else:
            # A name the passages do not hold: quote the shown sentence that holds most of the
            # answer's own words (the model's choice on a tie), not a sentence it did not use.
            def own_words(x: Sentence) -> float:
                return answer_support(text, x.text, query)

            best = max(sentences, key=lambda x: (own_words(x), x == picked))
            if own_words(best) > own_words(evidence[0]):
                evidence, trace["evidence_from"] = [best], "answer words"
            text, trace["fallback"] = quote(evidence[0].text, language), "names"
    elif trace.get("fallback") is None:
        # The model may name a sentence that supports the answer but is about something else (a
        # ceasefire, not the 30-day one), or the one next to the sentence it copied from: of the
        # sentences that support the answer, cite the one that holds most of the question's names and
        # numbers and of the answer's own words. (Names first, then words, moved the citation off the
        # sentence an answer was copied from to a neighbour naming the question's subject.)
        closest = max(supported, key=cite_key, default=evidence[0])
        new, old = cite_key(closest), cite_key(evidence[0])
        if new > old:
            moved_by_names = question_terms_held(query, closest.text) > question_terms_held(query, evidence[0].text)
            evidence, trace["evidence_from"] = [closest], "question terms" if moved_by_names else "answer words"
    # A translated question is checked as one asked in the passages' language, with the
    # translation's word: a synonym ("propositions" for the text's "projets") then refuses a right
    # answer, as it does for a question asked in French, but "how many troops" is no longer answered
    # from a sentence counting zlotys (bench/README.md, eleventh session).
    thing = counted_thing(query) if asks_for_number(query) else None
    if thing and same_language(query, evidence[0].text) and not mentions(evidence[0].text, thing):
        # "How many soldiers?" answered from a sentence that counts something else: cite a shown
        # sentence that counts it, else the briefings do not give that figure.
        counting = [x for x in sentences if mentions(x.text, thing) and has_number(x.text) and supports(x)]
        if not counting:
            return refuse("verification")
        evidence, trace["evidence_from"] = [max(counting, key=cite_key)], "counted thing"
    order: dict[int, int] = {}
    for x in evidence:
        order.setdefault(x.hit, len(order) + 1)
    citations: list[Citation] = []
    for x in evidence:
        n = order[x.hit]
        if any(c.n == n for c in citations):
            continue
        h = hits[x.hit]
        citations.append(
            Citation(
                n=n,
                doc=h.doc,
                title=h.title,
                start=h.start,
                end=h.end,
                text=h.text,
                date=h.date,
                quote_start=x.start,
                quote_end=x.end,
                page=h.page_at(x.start),
                also_in=h.also_in,
            )
        )
    return Answer(
        text=with_markers(text, sorted(order.values())),
        found=True,
        citations=citations,
        raw_text=raw,
        trace=trace,
        **base,
    )


def _refused(stage: str, base: dict, trace: dict, timings: dict, t0: float) -> Iterator[StreamEvent]:
    """The "not found" answer when `stage` (gate, answerability) stops before any generation."""
    timings["first_token"] = timings["total"] = time.perf_counter() - t0
    text = NOT_FOUND[base["language"]]
    yield StreamEvent(delta=text)
    yield StreamEvent(
        answer=Answer(text=text, found=False, timings=timings, trace={**trace, "refused_by": stage}, **base)
    )


def quote(sentence: str, language: str) -> str:
    """The evidence sentence itself, when the model's own wording could not be checked."""
    return f"« {sentence.strip()} »" if language == "fr" else f"The briefings say: « {sentence.strip()} »"
