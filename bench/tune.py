"""Tune retrieval and the evidence gate on the PIAF dev questions (no LLM needed).

    python -m bench.tune                         # all sweeps, all dev questions
    python -m bench.tune --only fusion --limit 300

Sweeps, each against the current defaults measured in the same run:
- chunking: target words per chunk and sentence overlap (an index per setting);
- fusion: RRF constant, dense/BM25 weights, candidate depth;
- top_k: passages given to the LLM, scored as recall@k and within the prompt's
  character budget;
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
KEYS = ("recall@1", "recall@5", "recall@10", "mrr@10", "recall@3000chars")


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
    rows = []
    for v in variants:
        s = base.replace(**v)
        m = evaluator(_retriever(corpus, s, embedder, cache), "hybrid")
        rows.append(dict(setting=", ".join(f"{k}={x}" for k, x in v.items()) or "defaults", **m))
        console.print(f"[dim]{name}: {rows[-1]['setting']}: r@5 {m['recall@5']:.3f} "
                      f"r@3000c {m['recall@3000chars']:.3f}[/]")
    table(f"{name} (hybrid, {rows[0]['questions']} dev questions)", ["setting", *KEYS],
          [[r["setting"], *[r[k] for k in KEYS]] for r in rows])
    return rows


def gate_sweep(corpus, base, embedder, questions, cache: dict, n: int) -> list[dict]:
    from rag.evaluation import sample, without_documents
    from rag.grounding import evidence_gate
    from rag.indexing import build_index
    from rag.retrieval import Retriever

    picked = sample(questions, n, seed=0)
    work = Path(cache["work"])
    lacking_dir = without_documents(corpus, {q.doc for q in picked}, work / "without-gold")
    lacking = base.replace(index_dir=str(work / "idx-without-gold"))
    build_index(lacking_dir, settings=lacking, embedder=embedder)
    full = _retriever(corpus, base, embedder, cache)
    without = Retriever.load(lacking, embedder)
    hits = {name: [r.search(q.question, k=base.top_k) for q in picked] for name, r in
            (("full", full), ("without", without))}
    rows = []
    for dense in (0.78, 0.80, 0.82, 0.84, 0.86):
        for cover in (0.6, 0.75, 0.9, 1.01):
            passed = {name: sum(evidence_gate(q.question, h, dense, cover).found for q, h in zip(picked, hs)) / n
                      for name, hs in hits.items()}
            rows.append({"min_dense_score": dense, "min_keyword_coverage": cover,
                         "tries_with_gold": passed["full"], "refuses_without_gold": 1 - passed["without"]})
    table(f"evidence gate on {n} seeded dev questions (top_k={base.top_k})",
          ["min_dense_score", "min_keyword_coverage", "tries, gold present (want high)",
           "refuses, gold removed (want high)"],
          [[r["min_dense_score"], r["min_keyword_coverage"], r["tries_with_gold"], r["refuses_without_gold"]]
           for r in rows])
    return rows


@app.command()
def main(corpus: Path = typer.Option(PIAF / "docs"), questions: Path = typer.Option(PIAF / "dev.jsonl"),
         limit: int = typer.Option(0, help="Seeded sample of dev questions (0 = all)"),
         only: str = typer.Option("chunking,fusion,top_k,gate", help="Which sweeps"),
         gate_questions: int = typer.Option(100),
         out: Path = typer.Option(None, help="Folder for the JSON results")):
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
            results["chunking"] = sweep("chunking", [
                {}, {"chunk_words": 60, "chunk_max_words": 100}, {"chunk_words": 150, "chunk_max_words": 240},
                {"chunk_overlap": 0}, {"chunk_overlap": 2}], corpus, evaluator, base, embedder, cache)
        if "fusion" in wanted:
            results["fusion"] = sweep("fusion", [
                {}, {"rrf_k": 20}, {"rrf_k": 100}, {"dense_weight": 1.5}, {"bm25_weight": 1.5},
                {"candidates": 20}, {"candidates": 100}], corpus, evaluator, base, embedder, cache)
        if "top_k" in wanted:
            ks = (3, 4, 5, 6)
            m = RetrievalEvaluator(qs, ks=ks)(_retriever(corpus, base, embedder, cache), "hybrid")
            rows = [{"top_k": k, "recall@k": m[f"recall@{k}"]} for k in ks]
            table("top_k: share of questions whose gold span is among the passages given to the LLM",
                  ["top_k", "recall@top_k"], [[x["top_k"], x["recall@k"]] for x in rows])
            results["top_k"] = rows
        if "gate" in wanted:
            results["gate"] = gate_sweep(corpus, base, embedder, load_questions(questions), cache, gate_questions)
    save("tune", results, out)


if __name__ == "__main__":
    app()
