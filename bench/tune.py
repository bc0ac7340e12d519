"""Tune retrieval and the evidence gate on the PIAF dev questions (no LLM needed).

    python -m bench.tune                         # all sweeps, all dev questions
    python -m bench.tune --only fusion --limit 300

Sweeps, each against the current defaults measured in the same run, on all
dev questions and on each fixed half of the articles (`rag.evaluation.halves`:
tune on half A, check on half B):
- chunking: target words per chunk and sentence overlap (an index per setting);
- fusion: convex vs reciprocal rank fusion, dense/BM25 weights, the mean
  sentence cosine, the document's best score, candidate depth;
- prompt: the character budget of the sentences shown to the LLM (gold_shown);
- top_k: passages given to the LLM, scored as recall@k;
- evidence gate: on a seeded sample, the share of questions the gate lets
  through on the full index (should be high) and on an index lacking the
  questions' documents (should be low), for a grid of thresholds.
Only the dev questions are used: the held-out half of PIAF is not touched.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from bench.common import PIAF, console, save, table

app = typer.Typer(add_completion=False)
KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "recall@3000chars", "gold_shown")
HALF_KEYS = ("recall@1", "mrr@10", "recall@3000chars", "gold_shown")


def _retriever(corpus, settings, embedder, cache: dict):
    from rag.indexing import build_index
    from rag.retrieval import Retriever

    key = (settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap)
    if key not in cache:
        s = settings.replace(index_dir=str(Path(cache["work"]) / f"idx-{'-'.join(map(str, key))}"))
        build_index(corpus, settings=s, embedder=embedder)
        cache[key] = s.index_dir
    s = settings.replace(index_dir=cache[key])
    return Retriever.load(s, embedder)


def sweep(name: str, variants: list[dict], corpus, evaluator, base, embedder, cache) -> list[dict]:
    from rag.evaluation import halves

    split = halves(evaluator.questions)
    rows = []
    for v in variants:
        s = base.replace(**v)
        m = evaluator(_retriever(corpus, s, embedder, cache), "hybrid")
        for h, label in ((0, "A"), (1, "B")):
            part = evaluator.aggregate([r for r, x in zip(evaluator.records, split) if x == h])
            m.update({f"{k} {label}": part[k] for k in HALF_KEYS})
        rows.append(dict(setting=", ".join(f"{k}={x}" for k, x in v.items()) or "defaults", **m))
        console.print(
            f"[dim]{name}: {rows[-1]['setting']}: r@1 {m['recall@1']:.3f} r@3000c {m['recall@3000chars']:.3f}[/]"
        )
    halves_cols = [f"{k} {h}" for h in "AB" for k in HALF_KEYS]
    table(
        f"{name} (hybrid, {rows[0]['questions']} dev questions)",
        ["setting", *KEYS],
        [[r["setting"], *[r[k] for k in KEYS]] for r in rows],
    )
    table(
        f"{name}: half A (tuned on) and half B (checked on)",
        ["setting", *halves_cols],
        [[r["setting"], *[r[k] for k in halves_cols]] for r in rows],
    )
    return rows


def gate_sweep(corpus, base, embedder, questions, cache: dict, n: int) -> list[dict]:
    """The evidence gate alone, for French questions and their English translations
    (samples/eval/piaf-dev-en.jsonl: the seeded 300), on the full index and on
    one lacking the questions' documents."""
    from bench.common import ROOT
    from rag.evaluation import sample, translated, without_documents
    from rag.grounding import evidence_gate
    from rag.indexing import build_index
    from rag.retrieval import Retriever

    picked = sample(questions, 300, seed=0)[:n]
    english = translated(picked, ROOT / "samples" / "eval" / "piaf-dev-en.jsonl")
    work = Path(cache["work"])
    lacking_dir = without_documents(corpus, {q.doc for q in picked}, work / "without-gold")
    lacking = base.replace(index_dir=str(work / "idx-without-gold"))
    build_index(lacking_dir, settings=lacking, embedder=embedder)
    retrievers = {"full": _retriever(corpus, base, embedder, cache), "without": Retriever.load(lacking, embedder)}
    hits = {
        (lang, name): [r.search(q.question, k=base.top_k) for q in group]
        for name, r in retrievers.items()
        for lang, group in (("fr", picked), ("en", english))
    }
    groups = {"fr": picked, "en": english}
    rows = []
    for lang, grid in (
        ("fr", (0.80, 0.81, 0.82, 0.83, 0.84, 0.85, 0.86)),
        ("en", (0.74, 0.76, 0.77, 0.78, 0.79, 0.80, 0.82)),
    ):
        for dense in grid:
            s = {"min_dense_score": dense} if lang == "fr" else {"min_dense_score_cross": dense}
            s = base.replace(**s)
            passed = {
                name: sum(
                    evidence_gate(
                        q.question, h, s.min_dense_score, s.min_keyword_coverage, s.min_dense_score_cross
                    ).found
                    for q, h in zip(groups[lang], hits[(lang, name)])
                )
                / max(len(groups[lang]), 1)
                for name in ("full", "without")
            }
            rows.append(
                {
                    "questions": lang,
                    "bar": dense,
                    "tries_with_gold": passed["full"],
                    "refuses_without_gold": 1 - passed["without"],
                    "n": len(groups[lang]),
                }
            )
    table(
        f"evidence gate (top_k={base.top_k}, keyword coverage {base.min_keyword_coverage}): French questions "
        "by min_dense_score, English ones by min_dense_score_cross",
        ["questions", "bar", "tries, gold present (want high)", "refuses, gold removed (want high)", "n"],
        [[r["questions"], r["bar"], r["tries_with_gold"], r["refuses_without_gold"], r["n"]] for r in rows],
    )
    return rows


@app.command()
def main(
    corpus: Path = typer.Option(PIAF / "docs"),
    questions: Path = typer.Option(PIAF / "dev.jsonl"),
    limit: int = typer.Option(0, help="Seeded sample of dev questions (0 = all)"),
    only: str = typer.Option("chunking,fusion,prompt,top_k,gate", help="Which sweeps"),
    gate_questions: int = typer.Option(150, help="Seeded dev questions (and translations) for the gate"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    from rag.embedding import Embedder
    from rag.evaluation import RetrievalEvaluator, load_questions, sample
    from rag.settings import Settings

    base = Settings.from_env()
    embedder = Embedder.load(base)
    qs = load_questions(questions)
    if limit:
        qs = sample(qs, limit, seed=0)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        cache = {"work": tmp}
        evaluator = RetrievalEvaluator(qs)
        wanted = only.split(",")
        if "chunking" in wanted:
            results["chunking"] = sweep(
                "chunking",
                [
                    {},
                    {"chunk_words": 100, "chunk_max_words": 160},
                    {"chunk_words": 150, "chunk_max_words": 220},
                    {"chunk_overlap": 0},
                    {"chunk_overlap": 2},
                ],
                corpus,
                evaluator,
                base,
                embedder,
                cache,
            )
        if "fusion" in wanted:
            results["fusion"] = sweep(
                "fusion",
                [
                    {},
                    {"fusion": "rrf", "doc_weight": 0.0, "sentence_mean_weight": 0.0},
                    {"fusion": "rrf"},
                    {"doc_weight": 0.0},
                    {"doc_weight": 0.4},
                    {"sentence_mean_weight": 0.0},
                    {"sentence_mean_weight": 0.5},
                    {"bm25_weight": 0.8},
                    {"bm25_weight": 1.2},
                    {"candidates": 30},
                    {"candidates": 100},
                ],
                corpus,
                evaluator,
                base,
                embedder,
                cache,
            )
        if "prompt" in wanted:
            results["prompt"] = sweep(
                "prompt",
                [{"prompt_chars": 1800}, {"prompt_chars": 2000}, {}, {"prompt_chars": 2600}],
                corpus,
                evaluator,
                base,
                embedder,
                cache,
            )
        if "top_k" in wanted:
            ks = (3, 4, 5, 6)
            m = RetrievalEvaluator(qs, ks=ks)(_retriever(corpus, base, embedder, cache), "hybrid")
            rows = [{"top_k": k, "recall@k": m[f"recall@{k}"]} for k in ks]
            table(
                "top_k: share of questions whose gold span is among the passages given to the LLM",
                ["top_k", "recall@top_k"],
                [[x["top_k"], x["recall@k"]] for x in rows],
            )
            results["top_k"] = rows
        if "gate" in wanted:
            results["gate"] = gate_sweep(corpus, base, embedder, load_questions(questions), cache, gate_questions)
    save("tune", results, out)


if __name__ == "__main__":
    app()
