"""Measure retrieval and answers on a QA set with gold spans (PIAF's JSONL format).

Evaluators are callables returning plain metric dicts, in the style of
sentence-transformers' evaluators:

>>> from rag.evaluation import load_questions, RetrievalEvaluator
>>> questions = load_questions("../shared/eval/piaf/dev.jsonl")          # doctest: +SKIP
>>> RetrievalEvaluator(questions)(retriever, mode="hybrid")               # doctest: +SKIP
{'recall@1': 0.61, 'recall@5': 0.90, 'recall@10': 0.94, 'mrr@10': 0.73, 'recall@3000chars': 0.91, ...}

A retrieved passage is relevant when its character range overlaps the gold
answer span in the same document. `recall@3000chars` compares systems at equal
context: hits are taken in rank order until 3,000 characters of passage text
are used (the last one cut), and the question counts as found when that text
overlaps the gold span.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .schema import Hit


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answer: str
    doc: str  # file name in the corpus folder ("" when unanswerable)
    start: int
    end: int
    lang: str = "fr"
    answerable: bool = True
    kind: str = ""
    # Other accepted wordings of `answer`, written by hand: its words in the question's language when
    # the document is in the other one ("less than two hours" for "moins de deux heures"), since an
    # answer is written in the language of the question.
    aliases: tuple[str, ...] = ()

    def accepts(self, text: str) -> bool:
        """Whether `text` holds the gold answer or one of its aliases (after `normalize`).

        >>> Question("1", "How long?", "moins de deux heures", "a.md", 0, 20, aliases=("less than two hours",)).accepts(
        ...     "It lasted less than two hours [1]."
        ... )
        True
        """
        t = normalize(text)
        return any(g and normalize(g) in t for g in (self.answer, *self.aliases))


def load_questions(path: str | Path) -> list[Question]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out.append(
                    Question(
                        str(d["id"]),
                        d["question"],
                        d.get("answer") or "",
                        d.get("doc") or "",
                        int(d.get("start", -1)),
                        int(d.get("end", -1)),
                        d.get("lang", "fr"),
                        bool(d.get("answerable", True)),
                        d.get("kind", ""),
                        tuple(d.get("aliases") or ()),
                    )
                )
    return out


def translated(questions: list[Question], path: str | Path) -> list[Question]:
    """The questions that have a translation in `path` (JSONL of id, question[, aliases]), with that text
    (and the answer's accepted English wordings, when given).

    >>> translated([Question("7", "Qui ?", "X", "a.md", 0, 1)], "/dev/null")
    []
    """
    text = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                text[str(d["id"])] = (d["question"], tuple(d.get("aliases") or ()))
    return [
        dataclasses.replace(q, question=text[q.id][0], lang="en", aliases=q.aliases + text[q.id][1])
        for q in questions
        if q.id in text
    ]


def sample(questions: list[Question], n: int, seed: int = 0) -> list[Question]:
    """A fixed, seeded sample (the same for every system compared)."""
    if n >= len(questions):
        return list(questions)
    return random.Random(seed).sample(questions, n)


def halves(questions: list[Question]) -> list[int]:
    """0 or 1 for each question: a fixed split of the dev set by article (alternate articles in
    name order), to tune on one half and report the other; no article is in both."""
    names = sorted({q.doc for q in questions})
    half = {name: i % 2 for i, name in enumerate(names)}
    return [half[q.doc] for q in questions]


def overlaps(doc: str, start: int, end: int, q: Question) -> bool:
    return Path(doc).name == q.doc and start < q.end and q.start < end


class RetrievalEvaluator:
    """recall@k, MRR@10, recall within a character budget, and "shown": the share of questions
    whose gold span is in the sentences the LLM is shown (the retriever's top_k passages, then
    `select_sentences` within its settings' prompt_chars and max_sentences)."""

    def __init__(self, questions: list[Question], ks=(1, 5, 10), budget_chars: int = 3000, progress=None):
        self.questions = questions
        self.ks = tuple(ks)
        self.budget = budget_chars
        self.progress = progress
        self._vectors: np.ndarray | None = None

    def __call__(self, retriever, mode: str = "hybrid") -> dict:
        if self._vectors is None:  # embed the questions once for every mode
            self._vectors = retriever.embedder.queries([q.question for q in self.questions])
        from .prompting import select_sentences

        depth = max(max(self.ks), 10, 50)
        top_k, chars, cap = retriever.settings.top_k, retriever.settings.prompt_chars, retriever.settings.max_sentences
        self.records = []
        for i, (q, vec) in enumerate(zip(self.questions, self._vectors)):
            hits = retriever.search(q.question, k=depth, mode=mode, query_vector=vec)
            rel = [overlaps(h.doc, h.start, h.end, q) for h in hits]
            sentences = select_sentences(vec, hits[:top_k], lambda t: retriever.embedder.passages(t), chars, cap)
            first = next((r for r, ok in enumerate(rel[:10]) if ok), None)
            self.records.append(
                {
                    **{f"recall@{k}": any(rel[:k]) for k in self.ks},
                    "mrr@10": 0.0 if first is None else 1 / (first + 1),
                    f"recall@{self.budget}chars": self._within_budget(hits, q),
                    "gold_shown": any(overlaps(hits[x.hit].doc, x.start, x.end, q) for x in sentences),
                }
            )
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return self.aggregate(self.records)

    @staticmethod
    def aggregate(records: list[dict]) -> dict:
        """Mean of each per-question figure, and the number of questions."""
        out = {k: float(np.mean([r[k] for r in records])) for k in records[0]} if records else {}
        out["questions"] = len(records)
        return out

    def _within_budget(self, hits: list[Hit], q: Question) -> bool:
        used = 0
        for h in hits:
            take = min(h.end - h.start, self.budget - used)
            if take <= 0:
                break
            if overlaps(h.doc, h.start, h.start + take, q):
                return True
            used += take
        return False


# ------------------------------------------------------------------ answers
def normalize(text: str) -> str:
    """Lower-case, no accents, no punctuation or articles: SQuAD-style answer normalisation."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"\[\d+\]", " ", text)
    text = re.sub(r"[^\w\s]", " ", text)
    text = re.sub(r"\b(le|la|les|l|un|une|des|du|de|d|the|a|an)\b", " ", text)
    return " ".join(text.split())


def token_f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


# Where a wrong answer to an answerable question is lost, in pipeline order.
LOSS_STAGES = ("correct", "retrieval", "focus", "gate", "answerability", "selection", "generation", "check")


def loss_stage(answer, q: Question) -> str:
    """The first stage of the pipeline at which the gold answer was lost ("correct" when it was not).

    retrieval: no passage given to the LLM overlaps the gold span; focus: the sentences shown
    of those passages miss it; gate: the evidence gate refused before the LLM; answerability:
    the model judged the passages insufficient; selection: the model named another sentence
    than the gold one as its evidence; generation: it named the gold sentence but its reply
    lacks the answer; check: the reply had it, grounding removed or refused it.
    """
    if answer.found and q.accepts(answer.text):
        return "correct"
    if not any(overlaps(h.doc, h.start, h.end, q) for h in answer.hits):
        return "retrieval"
    shown = answer.trace.get("shown")
    if shown is not None and not any(overlaps(d, s, e, q) for d, s, e in shown):
        return "focus"
    refused_by = answer.trace.get("refused_by", "")
    if refused_by in ("gate", "answerability"):
        return refused_by
    if not q.accepts(answer.raw_text or ""):
        named = [shown[n - 1] for n in answer.trace.get("evidence", ()) if shown and 0 < n <= len(shown)]
        if named and not any(overlaps(d, s, e, q) for d, s, e in named):
            return "selection"
        return "generation"
    return "check"


def score_answer(text: str, found: bool, citations: list[tuple], q: Question) -> dict:
    """One answer's scores. `citations`: (doc, start, end[, quote_start, quote_end]) per citation.

    A citation is exact when the sentence it highlights (its quote) overlaps the gold span,
    and right at passage level when the passage does.
    """
    passage_ok = [overlaps(c[0], c[1], c[2], q) for c in citations]
    exact = [overlaps(c[0], c[3], c[4], q) if len(c) > 3 and c[3] >= 0 else ok for c, ok in zip(citations, passage_ok)]
    correct = bool(q.answer) and found and q.accepts(text)
    return {
        "correct": correct,
        "f1": max(token_f1(text, g) for g in (q.answer, *q.aliases)) if found and q.answer else 0.0,
        "cited": bool(citations),
        "found": found,
        "citation_hits": sum(exact),
        "citation_passage_hits": sum(passage_ok),
        "citations": len(citations),
    }


def citation_tuples(answer) -> list[tuple]:
    return [(c.doc, c.start, c.end, c.quote_start, c.quote_end) for c in answer.citations]


def summarize(rows: list[dict]) -> dict:
    n = max(len(rows), 1)
    cites = sum(r["citations"] for r in rows)
    return {
        "correct": sum(r["correct"] for r in rows) / n,
        "token_f1": sum(r["f1"] for r in rows) / n,
        "citation_precision": (sum(r["citation_hits"] for r in rows) / cites) if cites else 0.0,
        "citation_precision_passage": (sum(r.get("citation_passage_hits", r["citation_hits"]) for r in rows) / cites)
        if cites
        else 0.0,
        "cited": sum(r["cited"] for r in rows) / n,
        "found": sum(r["found"] for r in rows) / n,
        "questions": len(rows),
    }


_META = re.compile(
    r"\b(?:passages?|citing|cit(?:é|e)s?|mentionn[ée]e?s? dans|according to|selon|d'après)\b"
    r"[^.\n]{0,25}\[?\d",
    re.I,
)


def has_meta_talk(text: str) -> bool:
    """Talk about the prompt instead of the facts: "comme mentionné dans le passage [1]", "citing passage 2".

    Deliberately not `rag.grounding.strip_meta_talk`'s pattern: a metric computed with the
    product's own filter could only ever read 0. This one is looser, to catch what it misses.
    """
    return bool(
        _META.search(re.sub(r"\[\d+\]", lambda m: "", text))
        or re.search(r"\b(?:passages?|sentences?|phrases?)\s*\[?\d", text, re.I)
    )


class AnswerEvaluator:
    """Answers on gold-present questions: correctness, citations, found rate, and the loss table."""

    def __init__(self, questions: list[Question], progress=None):
        self.questions = questions
        self.progress = progress
        self.answers: list = []

    def __call__(self, assistant) -> dict:
        rows, times = [], []
        losses: Counter[str] = Counter()
        self.answers = []
        for i, q in enumerate(self.questions):
            a = assistant.answer(q.question)
            self.answers.append(a)
            row = score_answer(a.text, a.found, citation_tuples(a), q)
            row["meta_talk"] = a.found and has_meta_talk(a.text)
            rows.append(row)
            losses[loss_stage(a, q)] += 1
            times.append(a.timings.get("total", 0.0))
            if self.progress:
                self.progress(i + 1, len(self.questions))
        out = summarize(rows)
        out["meta_talk"] = sum(r["meta_talk"] for r in rows) / max(len(rows), 1)
        out["loss"] = {stage: losses.get(stage, 0) for stage in LOSS_STAGES}
        out["median_seconds"] = float(np.median(times)) if times else 0.0
        return out


class RefusalEvaluator:
    """Share of questions answered "not found" (run on an index that lacks their documents)."""

    def __init__(self, questions: list[Question], progress=None):
        self.questions = questions
        self.progress = progress

    def __call__(self, assistant) -> dict:
        refused = 0
        self.answers = []
        for i, q in enumerate(self.questions):
            self.answers.append(assistant.answer(q.question))
            refused += not self.answers[-1].found
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return {"not_found": refused / max(len(self.questions), 1), "questions": len(self.questions)}


def gold_paragraph(q: Question, corpus: str | Path) -> Hit:
    """The blank-line-delimited paragraph holding the gold span, as a Hit."""
    path = Path(corpus) / q.doc
    text = path.read_text(encoding="utf-8")
    start = text.rfind("\n\n", 0, q.start) + 2 if text.rfind("\n\n", 0, q.start) >= 0 else 0
    end = text.find("\n\n", q.end)
    end = len(text) if end < 0 else end
    title = text.split("\n", 1)[0].lstrip("# ").strip()
    return Hit(doc=str(path), start=start, end=end, text=text[start:end], score=1.0, title=title)


class OracleEvaluator:
    """The answering pipeline given only the gold paragraph: its ceiling without retrieval."""

    def __init__(self, questions: list[Question], corpus: str | Path, progress=None):
        self.questions = questions
        self.corpus = Path(corpus)
        self.progress = progress

    def __call__(self, assistant) -> dict:
        rows = []
        for i, q in enumerate(self.questions):
            a = assistant.answer_from(q.question, [gold_paragraph(q, self.corpus)])
            rows.append(score_answer(a.text, a.found, citation_tuples(a), q))
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return summarize(rows)


class BriefingEvaluator:
    """A QA set with answerable and unanswerable questions (e.g. samples/eval/briefings-qa.jsonl).

    Per language: correct and citation precision on the answerable ones, "not found" on the
    unanswerable ones (right) and on the answerable ones (wrong). Report only: never tune on it.
    """

    def __init__(self, questions: list[Question], progress=None):
        self.questions = questions
        self.progress = progress
        self.details: list[dict] = []

    def __call__(self, assistant) -> dict:
        by_lang: dict[str, dict[str, list]] = {}
        self.details = []
        for i, q in enumerate(self.questions):
            a = assistant.answer(q.question)
            group = by_lang.setdefault(q.lang or "fr", {"answerable": [], "unanswerable": [], "loss": []})
            if q.answerable:
                group["answerable"].append(score_answer(a.text, a.found, citation_tuples(a), q))
                group["loss"].append(loss_stage(a, q))
            else:
                group["unanswerable"].append(not a.found)
            self.details.append(
                {
                    "id": q.id,
                    "question": q.question,
                    "query": a.query,
                    "answerable": q.answerable,
                    "found": a.found,
                    "answer": a.text,
                    "gold": q.answer,
                    "raw": a.raw_text,
                    "trace": a.trace,
                    "hits": hit_log(a.hits),
                    **{
                        k: score_answer(a.text, a.found, citation_tuples(a), q)[k]
                        for k in ("correct", "citation_hits", "citation_passage_hits", "citations")
                    },
                }
            )
            if self.progress:
                self.progress(i + 1, len(self.questions))
        out = {}
        for lang, g in sorted(by_lang.items()):
            s = summarize(g["answerable"])
            out[lang] = {
                "correct": s["correct"],
                "citation_precision": s["citation_precision"],
                "not_found_unanswerable": sum(g["unanswerable"]) / max(len(g["unanswerable"]), 1),
                "not_found_answerable": 1 - s["found"] if g["answerable"] else 0.0,
                "answerable": len(g["answerable"]),
                "unanswerable": len(g["unanswerable"]),
                "loss": dict(Counter(g["loss"])),
            }
        return out


def without_documents(corpus: str | Path, names: set[str], target: str | Path) -> Path:
    """Copy of a corpus folder lacking the given files (for the refusal test)."""
    import shutil

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for p in Path(corpus).iterdir():
        if p.is_file() and p.name not in names:
            shutil.copy2(p, target / p.name)
    return target


def as_markdown(results: dict) -> str:
    """The tables of a `run_eval` result, as Markdown."""
    lines = []
    retrieval = results.get("retrieval", {})
    if retrieval:
        keys = [k for k in next(iter(retrieval.values())) if k != "questions"]
        lines += ["| retrieval | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
        for mode, m in retrieval.items():
            lines.append(f"| {mode} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + " |")
        lines.append("")
    answers = {k: v for k, v in results.items() if k in ("answers", "oracle", "cross_answers", "cross_oracle")}
    if answers:
        keys = ["correct", "token_f1", "citation_precision", "citation_precision_passage", "cited", "found"]
        lines += ["| answers | " + " | ".join(keys) + " | meta-talk | median s | n |", "|---" * (len(keys) + 4) + "|"]
        for name, m in answers.items():
            lines.append(
                f"| {name} | "
                + " | ".join(f"{m[k]:.3f}" for k in keys)
                + f" | {m.get('meta_talk', 0):.3f} | {m.get('median_seconds', 0):.1f} | {m['questions']} |"
            )
        lines.append("")
    refusals = {k: v for k, v in results.items() if k in ("refusal", "cross_refusal")}
    if refusals:
        lines += [
            "| refusal | not found, gold documents removed (right) | not found, full index (wrong) | n |",
            "|---|---|---|---|",
        ]
        for name, r in refusals.items():
            lines.append(
                f"| {name} | {r['not_found_without_gold']:.3f} | {r['not_found_with_gold']:.3f} | {r['questions']} |"
            )
        lines.append("")
    losses = {k: v["loss"] for k, v in results.items() if isinstance(v, dict) and "loss" in v}
    if losses:
        lines += ["| where answers are lost | " + " | ".join(LOSS_STAGES) + " |", "|---" * (len(LOSS_STAGES) + 1) + "|"]
        for name, loss in losses.items():
            lines.append(f"| {name} | " + " | ".join(str(loss.get(st, 0)) for st in LOSS_STAGES) + " |")
        lines.append("")
    if results.get("briefings"):
        lines += [
            "| briefing set | correct | citation precision | not found, unanswerable (right) "
            "| not found, answerable (wrong) | answerable | unanswerable |",
            "|---" * 7 + "|",
        ]
        for lang, m in results["briefings"].items():
            lines.append(
                f"| {lang} | {m['correct']:.3f} | {m['citation_precision']:.3f} "
                f"| {m['not_found_unanswerable']:.3f} | {m['not_found_answerable']:.3f} "
                f"| {m['answerable']} | {m['unanswerable']} |"
            )
        lines.append("")
    return "\n".join(lines)


def _embed_progress(bar, label):
    """A build progress callback that shows the embedding stage (the slow one) on one bar."""
    state = {}

    def progress(stage, done, total):
        if stage == "embed":
            if "update" not in state:
                state["update"] = bar(label, total) or (lambda d, t: None)
            state["update"](done, total)

    return progress


EVAL_DIR = Path(__file__).resolve().parents[1] / "samples" / "eval"
TRANSLATIONS = EVAL_DIR / "piaf-dev-en.jsonl"
BRIEFINGS_QA = EVAL_DIR / "briefings-qa.jsonl"
BRIEFINGS_CORPUS = (
    Path(__file__).resolve().parents[1] / "samples" / "briefings",
    Path(__file__).resolve().parents[2] / "shared" / "seed",
)


def _details(evaluator_answers, questions) -> list[dict]:
    """One row per question: the answer, its scores and its trace (what `bench/tune.py` re-thresholds)."""
    return [
        {
            "id": q.id,
            "question": q.question,
            "query": a.query,
            "gold": q.answer,
            "answer": a.text,
            "found": a.found,
            "stage": loss_stage(a, q),
            "raw": a.raw_text,
            "seconds": round(a.timings.get("total", 0.0), 2),
            **{
                k: score_answer(a.text, a.found, citation_tuples(a), q)[k]
                for k in ("correct", "citation_hits", "citation_passage_hits", "citations")
            },
            "trace": a.trace,
            "hits": hit_log(a.hits),
        }
        for a, q in zip(evaluator_answers, questions)
    ]


def hit_log(hits) -> list[dict]:
    """The passages an answer was given, with their sentences' cosines: enough to replay the checks
    after generation (`bench/refusal.py`) without re-running retrieval or the LLM."""
    return [
        {
            "doc": h.doc,
            "start": h.start,
            "end": h.end,
            "title": h.title,
            "date": h.date,
            "text": h.text,
            "score": h.score,
            "dense": h.dense_score,
            "bm25": h.bm25_score,
            "sentences": [list(x) for x in h.sentences],
        }
        for h in hits
    ]


def run_eval(
    corpus: str | Path,
    questions_file: str | Path,
    work_dir: str | Path,
    settings=None,
    answers: int = 100,
    seed: int = 0,
    limit: int | None = None,
    modes=("dense", "bm25", "hybrid"),
    progress_factory=None,
    cross: int = 100,
    translations: str | Path | None = TRANSLATIONS,
    briefings: str | Path | None = BRIEFINGS_QA,
    oracle: int | None = None,
) -> dict:
    """Index `corpus`, score retrieval on all (or `limit`) questions and answers on a seeded sample.

    `answers=0` skips everything that needs the LLM. `cross` of the sampled questions are also
    asked in English (hand translations in `translations`) over the same French documents, and
    the `briefings` QA set (answerable and unanswerable questions over samples/briefings and the
    seed briefing) is reported beside. `oracle` caps the questions of the oracle rows (default:
    all the sampled ones; 0 = none).
    """
    from .embedding import Embedder
    from .indexing import build_index
    from .retrieval import Retriever
    from .settings import Settings

    settings = settings or Settings.from_env()
    work_dir = Path(work_dir)
    bar = progress_factory or (lambda label, total: None)
    qs = load_questions(questions_file)
    if limit:
        qs = sample(qs, limit, seed)
    embedder = Embedder.load(settings)
    results: dict = {
        "corpus": str(corpus),
        "questions_file": str(questions_file),
        "seed": seed,
        "settings": {
            k: getattr(settings, k)
            for k in (
                "chunk_words",
                "chunk_max_words",
                "chunk_overlap",
                "top_k",
                "fusion",
                "rrf_k",
                "dense_weight",
                "doc_weight",
                "bm25_weight",
                "min_dense_score",
                "min_dense_score_cross",
                "min_keyword_coverage",
                "prompt_chars",
                "max_sentences",
                "min_answerable",
                "min_answerable_cross",
            )
            if hasattr(settings, k)
        },
        "retrieval": {},
    }
    full = settings.replace(index_dir=str(work_dir / "index"))
    if modes or answers > 0:
        report = build_index(corpus, settings=full, embedder=embedder, progress=_embed_progress(bar, "indexing"))
        results["index"] = {"documents": report.documents, "chunks": report.chunks}
        retriever = Retriever.load(full, embedder)
    if modes:
        evaluator = RetrievalEvaluator(qs, progress=bar("retrieval", len(qs) * len(modes)))
        split = halves(qs)
        for mode in modes:
            results["retrieval"][mode] = evaluator(retriever, mode)
            for h, name in ((0, "A"), (1, "B")):
                results["retrieval"][f"{mode} · half {name}"] = evaluator.aggregate(
                    [r for r, x in zip(evaluator.records, split) if x == h]
                )
    if answers <= 0 and not briefings:
        return results

    from .backends import open_llm

    llm = open_llm(settings)  # in-process, or the servers of RAG_LLM_URL
    details: dict = {}
    if answers > 0:
        _answer_piaf(
            results,
            details,
            corpus,
            qs,
            work_dir,
            settings,
            full,
            retriever,
            embedder,
            llm,
            answers,
            seed,
            cross,
            translations,
            oracle,
            bar,
        )
    if briefings and Path(briefings).is_file():
        results["briefings"], details["briefings"] = run_briefings(briefings, work_dir, settings, embedder, llm, bar)
    results["details"] = details
    return results


def _answer_piaf(
    results,
    details,
    corpus,
    qs,
    work_dir,
    settings,
    full,
    retriever,
    embedder,
    llm,
    answers,
    seed,
    cross,
    translations,
    oracle,
    bar,
) -> None:
    """Answers, cross-language answers, oracle and refusal rows on PIAF (filled into `results`)."""
    from .answering import Assistant
    from .indexing import build_index
    from .retrieval import Retriever

    picked = sample(qs, answers, seed)
    english = (
        translated(picked, translations)[:cross] if cross and translations and Path(translations).is_file() else []
    )
    assistant = Assistant(full, retriever, llm)
    runs = [("answers", picked)] + ([("cross_answers", english)] if english else [])
    for name, questions in runs:
        ev = AnswerEvaluator(questions, bar(name, len(questions)))
        results[name] = ev(assistant)
        details[name] = _details(ev.answers, questions)
    oracle = len(picked) if oracle is None else oracle
    if oracle > 0:
        results["oracle"] = OracleEvaluator(picked[:oracle], corpus, bar("oracle", min(oracle, len(picked))))(assistant)
        if english:
            results["cross_oracle"] = OracleEvaluator(
                english[:oracle], corpus, bar("cross_oracle", len(english[:oracle]))
            )(assistant)
    reduced = without_documents(corpus, {q.doc for q in picked}, work_dir / "corpus-without-gold")
    lacking = settings.replace(index_dir=str(work_dir / "index-without-gold"))
    build_index(
        reduced,
        settings=lacking,
        embedder=embedder,
        progress=_embed_progress(bar, "indexing without the gold documents"),
    )
    bot = Assistant(lacking, Retriever.load(lacking, embedder), llm)
    for name, questions in [("refusal", picked)] + ([("cross_refusal", english)] if english else []):
        refusals = RefusalEvaluator(questions, bar(name, len(questions)))
        refusal = refusals(bot)
        details[name] = _details(refusals.answers, questions)
        present = results["cross_answers" if name == "cross_refusal" else "answers"]
        results[name] = {
            "not_found_without_gold": refusal["not_found"],
            "not_found_with_gold": 1 - present["found"],
            "questions": len(questions),
        }


def run_briefings(questions_file, work_dir, settings, embedder, llm, bar=lambda label, total: None):
    """The briefing QA set on an index of samples/briefings plus the seed briefing (when present)."""
    import shutil

    from .answering import Assistant
    from .indexing import build_index
    from .retrieval import Retriever

    folder = Path(work_dir) / "briefings-corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for source in BRIEFINGS_CORPUS:
        if source.is_dir():
            for p in source.iterdir():
                if p.is_file():
                    shutil.copy2(p, folder / p.name)
    questions = load_questions(questions_file)
    names = {p.name for p in folder.iterdir()}
    questions = [q for q in questions if not q.answerable or q.doc in names]
    s = settings.replace(index_dir=str(Path(work_dir) / "index-briefings"))
    build_index(folder, settings=s, embedder=embedder)
    ev = BriefingEvaluator(questions, bar("briefings", len(questions)))
    return ev(Assistant(s, Retriever.load(s, embedder), llm)), ev.details
