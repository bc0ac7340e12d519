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
    doc: str          # file name in the corpus folder
    start: int
    end: int


def load_questions(path: str | Path) -> list[Question]:
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                out.append(Question(str(d["id"]), d["question"], d["answer"], d["doc"], int(d["start"]),
                                    int(d["end"])))
    return out


def sample(questions: list[Question], n: int, seed: int = 0) -> list[Question]:
    """A fixed, seeded sample (the same for every system compared)."""
    if n >= len(questions):
        return list(questions)
    return random.Random(seed).sample(questions, n)


def overlaps(doc: str, start: int, end: int, q: Question) -> bool:
    return Path(doc).name == q.doc and start < q.end and q.start < end


class RetrievalEvaluator:
    """recall@k, MRR@10 and recall within a character budget, over all questions."""

    def __init__(self, questions: list[Question], ks=(1, 5, 10), budget_chars: int = 3000, progress=None):
        self.questions = questions
        self.ks = tuple(ks)
        self.budget = budget_chars
        self.progress = progress
        self._vectors = None

    def __call__(self, retriever, mode: str = "hybrid") -> dict:
        if self._vectors is None:       # embed the questions once for every mode
            self._vectors = retriever.embedder.queries([q.question for q in self.questions])
        depth = max(max(self.ks), 10, 50)
        found = {k: 0 for k in self.ks}
        mrr = budget_found = 0.0
        for i, (q, vec) in enumerate(zip(self.questions, self._vectors)):
            hits = retriever.search(q.question, k=depth, mode=mode, query_vector=vec)
            rel = [overlaps(h.doc, h.start, h.end, q) for h in hits]
            for k in self.ks:
                found[k] += any(rel[:k])
            first = next((r for r, ok in enumerate(rel[:10]) if ok), None)
            mrr += 0 if first is None else 1 / (first + 1)
            budget_found += self._within_budget(hits, q)
            if self.progress:
                self.progress(i + 1, len(self.questions))
        n = max(len(self.questions), 1)
        out = {f"recall@{k}": found[k] / n for k in self.ks}
        out["mrr@10"] = mrr / n
        out[f"recall@{self.budget}chars"] = budget_found / n
        out["questions"] = len(self.questions)
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


class AnswerEvaluator:
    """Correctness, token F1, citation precision, cited share and found rate of answers."""

    def __init__(self, questions: list[Question], progress=None):
        self.questions = questions
        self.progress = progress

    def __call__(self, assistant) -> dict:
        rows = []
        for i, q in enumerate(self.questions):
            a = assistant.answer(q.question)
            rows.append(score_answer(a.text, a.found, [(c.doc, c.start, c.end) for c in a.citations], q))
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return summarize(rows)


def score_answer(text: str, found: bool, citations: list[tuple[str, int, int]], q: Question) -> dict:
    good = [overlaps(d, s, e, q) for d, s, e in citations]
    return {"correct": found and normalize(q.answer) in normalize(text), "f1": token_f1(text, q.answer) if found
            else 0.0, "cited": bool(citations), "found": found, "citation_hits": sum(good),
            "citations": len(good)}


def summarize(rows: list[dict]) -> dict:
    n = max(len(rows), 1)
    cites = sum(r["citations"] for r in rows)
    return {
        "correct": sum(r["correct"] for r in rows) / n,
        "token_f1": sum(r["f1"] for r in rows) / n,
        "citation_precision": (sum(r["citation_hits"] for r in rows) / cites) if cites else 0.0,
        "cited": sum(r["cited"] for r in rows) / n,
        "found": sum(r["found"] for r in rows) / n,
        "questions": len(rows),
    }


class RefusalEvaluator:
    """Share of questions answered "not found" (run on an index that lacks their documents)."""

    def __init__(self, questions: list[Question], progress=None):
        self.questions = questions
        self.progress = progress

    def __call__(self, assistant) -> dict:
        refused = 0
        for i, q in enumerate(self.questions):
            refused += not assistant.answer(q.question).found
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return {"not_found": refused / max(len(self.questions), 1), "questions": len(self.questions)}


class OracleEvaluator:
    """The LLM given only the gold paragraph: what generation alone achieves, without retrieval."""

    def __init__(self, questions: list[Question], corpus: str | Path, progress=None):
        self.questions = questions
        self.corpus = Path(corpus)
        self.progress = progress

    def __call__(self, assistant) -> dict:
        from .prompting import build_messages, detect_language

        rows = []
        for i, q in enumerate(self.questions):
            path = self.corpus / q.doc
            text = path.read_text(encoding="utf-8")
            start = text.rfind("\n\n", 0, q.start) + 2 if text.rfind("\n\n", 0, q.start) >= 0 else 0
            end = text.find("\n\n", q.end)
            end = len(text) if end < 0 else end
            hit = Hit(doc=str(path), start=start, end=end, text=text[start:end], score=1.0)
            raw = assistant.llm.complete(build_messages(q.question, [hit], detect_language(q.question)))
            rows.append(score_answer(raw, True, [(hit.doc, start, end)], q))
            if self.progress:
                self.progress(i + 1, len(self.questions))
        return summarize(rows)


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
    answers = {k: v for k, v in results.items() if k in ("answers", "oracle")}
    if answers:
        keys = ["correct", "token_f1", "citation_precision", "cited", "found"]
        lines += ["| answers | " + " | ".join(keys) + " | n |", "|---" * (len(keys) + 2) + "|"]
        for name, m in answers.items():
            lines.append(f"| {name} | " + " | ".join(f"{m[k]:.3f}" for k in keys) + f" | {m['questions']} |")
        lines.append("")
    if "refusal" in results:
        r = results["refusal"]
        lines += ["| refusal | share | n |", "|---|---|---|",
                  f"| not found, gold documents removed (right) | {r['not_found_without_gold']:.3f} | {r['questions']} |",
                  f"| not found, full index (wrong) | {r['not_found_with_gold']:.3f} | {r['questions']} |", ""]
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


def run_eval(corpus: str | Path, questions_file: str | Path, work_dir: str | Path, settings=None,
             answers: int = 100, seed: int = 0, limit: int | None = None, modes=("dense", "bm25", "hybrid"),
             progress_factory=None) -> dict:
    """Index `corpus`, score retrieval on all (or `limit`) questions and answers on a seeded sample.

    `answers=0` skips everything that needs the LLM.
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
    full = settings.replace(index_dir=str(work_dir / "index"))
    report = build_index(corpus, settings=full, embedder=embedder, progress=_embed_progress(bar, "indexing"))
    retriever = Retriever.load(full, embedder)
    results: dict = {"corpus": str(corpus), "questions_file": str(questions_file), "seed": seed,
                     "index": {"documents": report.documents, "chunks": report.chunks},
                     "settings": {k: getattr(settings, k) for k in (
                         "chunk_words", "chunk_max_words", "chunk_overlap", "top_k", "rrf_k", "dense_weight",
                         "bm25_weight", "min_dense_score", "min_dense_score_cross", "min_keyword_coverage",
                         "passage_sentences")},
                     "retrieval": {}}
    evaluator = RetrievalEvaluator(qs, progress=bar("retrieval", len(qs) * len(modes)))
    for mode in modes:
        results["retrieval"][mode] = evaluator(retriever, mode)
    if answers <= 0:
        return results

    from .answering import Assistant
    from .llm import LLM

    picked = sample(qs, answers, seed)
    llm = LLM.load(settings)
    assistant = Assistant(full, retriever, llm)
    results["answers"] = AnswerEvaluator(picked, bar("answers", len(picked)))(assistant)
    results["oracle"] = OracleEvaluator(picked, corpus, bar("oracle", len(picked)))(assistant)
    reduced = without_documents(corpus, {q.doc for q in picked}, work_dir / "corpus-without-gold")
    lacking = settings.replace(index_dir=str(work_dir / "index-without-gold"))
    build_index(reduced, settings=lacking, embedder=embedder,
                progress=_embed_progress(bar, "indexing without the gold documents"))
    refusal = RefusalEvaluator(picked, bar("refusal", len(picked)))(
        Assistant(lacking, Retriever.load(lacking, embedder), llm))
    results["refusal"] = {"not_found_without_gold": refusal["not_found"],
                          "not_found_with_gold": 1 - results["answers"]["found"], "questions": len(picked)}
    return results
