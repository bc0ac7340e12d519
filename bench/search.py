"""Retrieval latency of `search` at 1k, 10k and 100k chunks, and the recall of approximate FAISS.

    python -m bench.search                                   # PIAF, sizes 1k 10k 100k
    python -m bench.search --sizes 1000,10000 --queries 50

The corpus is grown synthetically from a real index (PIAF by default): beyond
the real chunks, each synthetic chunk copies a real chunk's sentence units,
each unit vector mixed with a random real one plus Gaussian noise
(renormalised), and its text is the real chunk's analysed terms with one term
dropped. Queries are real dev questions. Dense vectors are per sentence unit
(~6 per chunk), so 1M chunks would need ~6M vectors (~9 GB of float32): that
size is for the PostgreSQL store, not this in-memory one.

Per size: p50/p95 of the hybrid `Retriever.search` excluding the query
embedding (a vector is passed in) and including it, of the dense FAISS search
alone, and of the BM25 scoring alone; the FAISS index type that
`rag.store.make_faiss` chose for that size, its build time and its recall@10
against exact search (baseline: exact inner product over the same vectors,
timed too). Targets: p50 < 10 ms at 10k and < 50 ms at 100k excluding
embedding; recall >= 0.95 where FAISS is approximate.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from bench.common import PIAF, console, peak_rss_mb, percentile, ratio, save, table

app = typer.Typer(add_completion=False)


def grow(vectors: np.ndarray, terms: list[list[str]], n: int, seed: int = 0):
    """`n` vectors and term lists: the real ones first, then perturbed mixes of them."""
    rng = np.random.default_rng(seed)
    n0 = len(vectors)
    if n <= n0:
        return vectors[:n].copy(), terms[:n], np.arange(n)
    base = np.concatenate([np.arange(n0), rng.integers(0, n0, n - n0)])
    out = np.empty((n, vectors.shape[1]), np.float32)
    out[:n0] = vectors
    out[n0:] = _mix(vectors, base[n0:], rng)
    return out, _grow_terms(terms, base), base


def _mix(vectors: np.ndarray, rows: np.ndarray, rng) -> np.ndarray:
    """A perturbed copy of each of `vectors[rows]`: mixed with a random other vector, plus noise."""
    n0, dim = vectors.shape
    out = np.empty((len(rows), dim), np.float32)
    for lo in range(0, len(rows), 100_000):
        hi = min(lo + 100_000, len(rows))
        a = vectors[rows[lo:hi]]
        b = vectors[rng.integers(0, n0, hi - lo)]
        alpha = rng.uniform(0.6, 1.0, (hi - lo, 1)).astype(np.float32)
        x = alpha * a + (1 - alpha) * b + rng.normal(0, 0.2 / np.sqrt(dim), (hi - lo, dim)).astype(np.float32)
        out[lo:hi] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _grow_terms(terms: list[list[str]], base: np.ndarray) -> list[list[str]]:
    n0 = len(terms)
    grown = list(terms)
    for i in range(n0, len(base)):
        t = terms[base[i]]
        j = i % max(len(t), 1)
        grown.append(t[:j] + t[j + 1 :])
    return grown


def grow_index(real, terms: list[list[str]], n: int, seed: int = 0):
    """An index of `n` chunks grown from a real one (real chunks first). A synthetic chunk copies a
    real chunk's sentence units, each vector perturbed as in `grow`; its terms lose one term.

    Returns chunks, unit vectors, unit spans, chunk unit ranges and the chunks' terms.
    """
    rng = np.random.default_rng(seed)
    n0 = len(real.chunks)
    if n <= n0:
        last = int(real.chunk_units[n - 1][1])
        return (real.chunks[:n], real.vectors[:last].copy(), real.units[:last], real.chunk_units[:n].copy(), terms[:n])
    base = np.concatenate([np.arange(n0), rng.integers(0, n0, n - n0)])
    ranges = real.chunk_units[base[n0:]]
    lengths = ranges[:, 1] - ranges[:, 0]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    src = np.repeat(ranges[:, 0] - starts, lengths) + np.arange(lengths.sum())  # base units, in order
    n_real = len(real.vectors)
    vectors = np.empty((n_real + len(src), real.vectors.shape[1]), np.float32)
    vectors[:n_real] = real.vectors
    vectors[n_real:] = _mix(real.vectors, src, rng)
    units = np.concatenate([real.units, real.units[src]])
    own = np.stack([n_real + starts, n_real + starts + lengths], axis=1)
    chunk_units = np.concatenate([real.chunk_units, own])
    return [real.chunks[b] for b in base], vectors, units, chunk_units, _grow_terms(terms, base)


def measure(fn, repeats: list) -> list[float]:
    times = []
    for args in repeats:
        t = time.perf_counter()
        fn(*args)
        times.append((time.perf_counter() - t) * 1000)
    return times


def run(corpus: Path, sizes: list[int], n_queries: int, work: Path, flat_max: int | None) -> list[dict]:
    import faiss

    from rag import store as store_mod
    from rag.embedding import Embedder
    from rag.evaluation import load_questions, sample
    from rag.indexing import build_index
    from rag.lexical import BM25Index, analyze
    from rag.retrieval import Retriever
    from rag.settings import Settings
    from rag.store import IndexStore, LoadedIndex, make_faiss, searchable_text

    if flat_max is not None:
        store_mod.FLAT_MAX = flat_max
    settings = Settings.from_env(index_dir=str(work / "index"))
    embedder = Embedder.load(settings)
    build_index(corpus, settings=settings, embedder=embedder)
    real = IndexStore(settings.index_dir).load()
    real_terms = [analyze(searchable_text(c)) for c in real.chunks]
    questions_file = corpus.parent / "dev.jsonl"
    if questions_file.exists():
        questions = [q.question for q in sample(load_questions(questions_file), n_queries, seed=0)]
    else:
        questions = [
            c.text.split(".")[0] for c in random.Random(0).sample(real.chunks, min(n_queries, len(real.chunks)))
        ]
    qvecs = embedder.queries(questions)
    rows = []
    for n in sizes:
        console.print(f"[dim]{n:,} chunks: growing the corpus ...[/]")
        chunks, vectors, units, chunk_units, terms = grow_index(real, real_terms, n)  # texts are not copied
        t = time.perf_counter()
        dense = make_faiss(vectors)
        faiss_build = time.perf_counter() - t
        t = time.perf_counter()
        bm25 = BM25Index.from_terms(terms)
        bm25_build = time.perf_counter() - t
        del terms
        index = LoadedIndex(None, {}, chunks, vectors, dense, bm25, units, chunk_units)
        retriever = Retriever(IndexStore(work / "none"), embedder, settings, index=index)
        depth = settings.candidates
        kind = type(dense).__name__

        # warm caches once, then time each query
        retriever.search(questions[0], query_vector=qvecs[0])
        # defaults bind this size's objects: the loop ends with `del`, so late-binding closures would name nothing
        hybrid = measure(lambda q, v, r=retriever: r.search(q, query_vector=v), list(zip(questions, qvecs)))
        with_embed = measure(lambda q, r=retriever: r.search(q), [(q,) for q in questions])
        dense_t = measure(lambda v, d=dense, k=depth: d.search(v[None, :], k), [(v,) for v in qvecs])
        bm25_t = measure(lambda q, b=bm25: b.scores(q), [(q,) for q in questions])
        exact_t = measure(
            lambda v, x=vectors, k=depth: faiss.knn(v[None, :], x, k, faiss.METRIC_INNER_PRODUCT), [(v,) for v in qvecs]
        )
        # recall@10 of the chosen FAISS index against exact search on the same vectors
        _, truth = faiss.knn(qvecs, vectors, 10, faiss.METRIC_INNER_PRODUCT)
        _, got = dense.search(qvecs, 10)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, got)]))
        rows.append(
            {
                "chunks": n,
                "units": len(vectors),
                "faiss": kind,
                "faiss_build_s": faiss_build,
                "bm25_build_s": bm25_build,
                "hybrid_p50_ms": percentile(hybrid, 50),
                "hybrid_p95_ms": percentile(hybrid, 95),
                "with_embedding_p50_ms": percentile(with_embed, 50),
                "with_embedding_p95_ms": percentile(with_embed, 95),
                "dense_p50_ms": percentile(dense_t, 50),
                "exact_dense_p50_ms": percentile(exact_t, 50),
                "bm25_p50_ms": percentile(bm25_t, 50),
                "recall@10_vs_exact": recall,
                "peak_rss_mb": peak_rss_mb(),
                "queries": len(questions),
            }
        )
        show(rows[-1:])
        del index, retriever, dense, bm25, vectors, chunks, units, chunk_units
    return rows


def show(rows: list[dict]) -> None:
    table(
        "search latency (ms) by index size",
        [
            "chunks",
            "sentence vectors",
            "FAISS index",
            "hybrid p50",
            "hybrid p95",
            "+embed p50",
            "+embed p95",
            "dense p50",
            "exact p50 (baseline)",
            "dense/exact",
            "BM25 p50",
            "recall@10 vs exact",
            "FAISS build s",
        ],
        [
            [
                r["chunks"],
                r["units"],
                r["faiss"],
                r["hybrid_p50_ms"],
                r["hybrid_p95_ms"],
                r["with_embedding_p50_ms"],
                r["with_embedding_p95_ms"],
                r["dense_p50_ms"],
                r["exact_dense_p50_ms"],
                ratio(r["dense_p50_ms"], r["exact_dense_p50_ms"]),
                r["bm25_p50_ms"],
                r["recall@10_vs_exact"],
                r["faiss_build_s"],
            ]
            for r in rows
        ],
    )


@app.command()
def main(
    corpus: Path = typer.Option(PIAF / "docs", help="Folder of real documents to grow from"),
    sizes: str = typer.Option(
        "1000,10000,100000", help="Comma-separated index sizes (chunks; ~6 sentence vectors each: 1M chunks need ~9 GB)"
    ),
    queries: int = typer.Option(200, help="Real questions timed per size"),
    flat_max: int = typer.Option(None, help="Override rag.store.FLAT_MAX (exact search up to this size)"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        rows = run(corpus, [int(x) for x in sizes.split(",")], queries, Path(tmp), flat_max)
    if len(rows) > 1:
        show(rows)
    save("search", {"sizes": rows}, out)


if __name__ == "__main__":
    app()
