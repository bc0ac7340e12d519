"""Scaling out: the FAISS folder against PostgreSQL + pgvector, and build workers.

    python -m bench.scale                                  # 10k and 100k passages, 200 questions
    python -m bench.scale --sizes 10000 --queries 50 --ingest-docs 20

Three parts, each against a baseline measured in the same run:

1. Search at each size (passages grown from the real PIAF index as in `bench.search`,
   whose real texts the synthetic passages reuse; questions are real dev questions,
   their vectors passed in, so the embedder is not timed): p50/p95 of the hybrid
   search of the FAISS `Retriever` (baseline) and of the PostgreSQL searcher on a
   server started here (tools/postgres_local.py); the dense step alone, and the
   recall@10 of pgvector's HNSW against exact search over the same sentence
   vectors for several `hnsw.ef_search` values (how `pg_ef_search` was chosen);
   how long loading and indexing the rows took; the top passage of both backends
   agreeing.
2. Ingestion of real files (a PIAF subset) into PostgreSQL with one worker, then
   two (`PostgresIndex.build(workers=2)`: a second process on this machine), each
   into an empty store: documents per second and the ratio. On 2 cores the two
   workers share the CPUs the embedder already uses; the figure that matters for
   a team is the second machine's, which this cannot measure.
3. Optional (`--llm-url`): the same answer prompt through an OpenAI-compatible
   server against in-process llama.cpp (baseline): time to first token and total.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from bench.common import PIAF, console, percentile, ratio, save, table

app = typer.Typer(add_completion=False)
DOC_CHUNKS = 40  # synthetic passages per synthetic document


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _load_postgres(index, chunks, vectors, units, chunk_units) -> dict:
    """Write the grown corpus into an empty store as documents of DOC_CHUNKS passages; HNSW built after."""
    from rag.indexing import _Parts
    from rag.postgres import connect

    timings: dict = {"documents": []}  # (path, first, stop) of each document's units in `vectors`
    expect = index._expect()
    with connect(index.url, autocommit=True) as conn:
        index._prepare(conn, expect, True)
        # a bulk load indexes once at the end, as a team loading an archive would
        conn.execute("DROP INDEX rag_units_hnsw")
        t = time.perf_counter()
        for d, lo in enumerate(range(0, len(chunks), DOC_CHUNKS)):
            hi = min(lo + DOC_CHUNKS, len(chunks))
            first, stop = int(chunk_units[lo][0]), int(chunk_units[lo:hi, 1].max())
            part = _Parts(list(chunks[lo:hi]), units[first:stop], chunk_units[lo:hi] - first, [""] * (stop - first))
            entry = {
                "sha256": f"{d:064x}",
                "title": chunks[lo].title,
                "date": chunks[lo].date,
                "format": "txt",
                "chars": 0,
                "lines": [],
                "clean": "",
                "dropped": [],
                "dropped_lines": 0,
            }
            path = f"/synthetic/{d:06d}.txt"
            with conn.transaction():
                index._write_document(conn, path, entry, part, vectors[first:stop])
            timings["documents"].append((path, first, stop))
        timings["load_s"] = time.perf_counter() - t
        t = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(
            "CREATE INDEX rag_units_hnsw ON rag_units USING hnsw (embedding vector_ip_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        timings["hnsw_s"] = time.perf_counter() - t
        conn.execute("ANALYZE")
        index._set_meta(conn, expect=expect, source="/synthetic", built_at="bench", skipped=[], boilerplate={})
    return timings


def _hnsw_recall(url: str, qvecs: np.ndarray, vectors: np.ndarray, documents: list, ef_values: list[int]) -> list:
    """recall@10 of pgvector's HNSW against exact search over the very rows the store holds, per ef_search."""
    from rag.postgres import _vector, connect

    # neighbouring passages share a sentence: a unit can sit in two synthetic documents, so the exact
    # baseline searches the store's rows (each document's units, in order), not `vectors`
    stacked = np.concatenate([vectors[a:b] for _, a, b in documents])
    starts = np.cumsum([0] + [b - a for _, a, b in documents])[:-1]
    first_row = {path: int(x) for (path, _, _), x in zip(documents, starts)}
    truth = np.argsort(-(qvecs @ stacked.T), axis=1)[:, :10]
    del stacked
    rows = []
    with connect(url, autocommit=True) as conn:
        offsets = {doc_id: first_row[path] for doc_id, path in conn.execute("SELECT doc_id, path FROM rag_documents")}
        for ef in ef_values:
            conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            got, times = [], []
            for q in qvecs:
                t = time.perf_counter()
                found = conn.execute(
                    "SELECT doc_id, ord FROM rag_units ORDER BY embedding <#> %s::vector LIMIT 10", (_vector(q),)
                ).fetchall()
                times.append((time.perf_counter() - t) * 1000)
                got.append([offsets[d] + o for d, o in found])
            recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth.tolist(), got)]))
            rows.append({"ef_search": ef, "recall@10": recall, "p50_ms": percentile(times, 50)})
    return rows


def run_search(
    corpus: Path, sizes: list[int], n_queries: int, work: Path, pg_url: str, ef_values: list[int]
) -> list[dict]:
    from bench.search import grow_index, measure
    from rag.embedding import Embedder
    from rag.evaluation import load_questions, sample
    from rag.indexing import build_index
    from rag.lexical import BM25Index, analyze
    from rag.postgres import PostgresIndex, connect
    from rag.retrieval import Retriever
    from rag.settings import Settings
    from rag.store import IndexStore, LoadedIndex, make_faiss, searchable_text

    settings = Settings.from_env(index_dir=str(work / "index"))
    embedder = Embedder.load(settings)
    build_index(corpus, settings=settings, embedder=embedder)
    real = IndexStore(settings.index_dir).load()
    real_terms = [analyze(searchable_text(c)) for c in real.chunks]
    if (corpus.parent / "dev.jsonl").exists():
        questions = [q.question for q in sample(load_questions(corpus.parent / "dev.jsonl"), n_queries, seed=0)]
    else:  # another folder: the first sentence of some passages
        rng = np.random.default_rng(0)
        picks = rng.choice(len(real.chunks), min(n_queries, len(real.chunks)), replace=False)
        questions = [real.chunks[i].text.split(".")[0] for i in picks]
    qvecs = embedder.queries(questions)
    rows = []
    for n in sizes:
        console.print(f"[dim]{n:,} passages: growing the corpus, loading PostgreSQL ...[/]")
        chunks, vectors, units, chunk_units, terms = grow_index(real, real_terms, n)
        faiss_index = LoadedIndex(
            None, {}, chunks, vectors, make_faiss(vectors), BM25Index.from_terms(terms), units, chunk_units
        )
        del terms
        faiss_search = Retriever(IndexStore(work / "none"), embedder, settings, index=faiss_index)
        url = pg_url.rsplit("/", 1)[0] + "/" + f"scale{n}"
        with connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS scale{n} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE scale{n}")
        pg = PostgresIndex(settings.replace(store=url), embedder)
        load = _load_postgres(pg, chunks, vectors, units, chunk_units)
        pg_search = pg.searcher()
        pairs = list(zip(questions, qvecs))
        faiss_search.search(questions[0], query_vector=qvecs[0])  # warm caches once
        pg_search.search(questions[0], query_vector=qvecs[0])
        faiss_t = measure(lambda q, v, r=faiss_search: r.search(q, query_vector=v), pairs)
        pg_t = measure(lambda q, v, r=pg_search: r.search(q, query_vector=v), pairs)
        # a fresh table numbers chunks in insertion order, i.e. FAISS's row order
        with connect(url, autocommit=True) as conn:
            first_id = conn.execute("SELECT min(chunk_id) FROM rag_chunks").fetchone()[0]
        same_top = np.mean(
            [
                (a[0].chunk_id == b[0].chunk_id - first_id) if a and b else a == b
                for a, b in (
                    (faiss_search.search(q, query_vector=v, k=1), pg_search.search(q, query_vector=v, k=1))
                    for q, v in pairs[:50]
                )
            ]
        )
        recall = _hnsw_recall(url, qvecs, vectors, load["documents"], ef_values)
        pg.close()
        rows.append(
            {
                "passages": n,
                "sentence_vectors": len(vectors),
                "faiss_p50_ms": percentile(faiss_t, 50),
                "faiss_p95_ms": percentile(faiss_t, 95),
                "pg_p50_ms": percentile(pg_t, 50),
                "pg_p95_ms": percentile(pg_t, 95),
                "same_top_passage": float(same_top),
                "pg_load_s": load["load_s"],
                "pg_hnsw_build_s": load["hnsw_s"],
                "hnsw": recall,
                "queries": len(questions),
            }
        )
        show_search(rows[-1:])
        with connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS scale{n} WITH (FORCE)")
        del faiss_index, faiss_search, chunks, vectors, units, chunk_units
    return rows


def show_search(rows: list[dict]) -> None:
    table(
        "hybrid search latency (ms): PostgreSQL + pgvector vs the FAISS folder (baseline), same questions",
        [
            "passages",
            "sentence vectors",
            "FAISS p50",
            "FAISS p95",
            "PostgreSQL p50",
            "PostgreSQL p95",
            "p50 ratio",
            "same top passage",
            "PG load s",
            "HNSW build s",
        ],
        [
            [
                r["passages"],
                r["sentence_vectors"],
                r["faiss_p50_ms"],
                r["faiss_p95_ms"],
                r["pg_p50_ms"],
                r["pg_p95_ms"],
                ratio(r["pg_p50_ms"], r["faiss_p50_ms"]),
                r["same_top_passage"],
                r["pg_load_s"],
                r["pg_hnsw_build_s"],
            ]
            for r in rows
        ],
    )
    table(
        "pgvector HNSW (m 16, ef_construction 64): recall@10 of sentence vectors vs exact search",
        ["passages", "ef_search", "recall@10", "p50 ms (top 10)"],
        [[r["passages"], h["ef_search"], h["recall@10"], h["p50_ms"]] for r in rows for h in r["hnsw"]],
    )


def run_ingest(corpus: Path, n_docs: int, pg_url: str) -> dict:
    """Real files (the first n_docs of the corpus) into empty stores: one worker, then two."""
    from rag.embedding import Embedder
    from rag.postgres import PostgresIndex, connect
    from rag.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    for f in sorted(corpus.iterdir())[:n_docs]:
        shutil.copy(f, folder / f.name)
    embedder = Embedder.load(Settings.from_env())
    embedder.passages(["warm up"])
    out = {"documents": n_docs}
    try:
        for workers in (1, 2):
            name = f"ingest{workers}"
            with connect(pg_url, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                conn.execute(f"CREATE DATABASE {name}")
            index = PostgresIndex(Settings.from_env(store=pg_url.rsplit("/", 1)[0] + "/" + name), embedder)
            t = time.perf_counter()
            report = index.build(str(folder), workers=workers)
            out[f"workers_{workers}_s"] = time.perf_counter() - t
            out[f"workers_{workers}_chunks"] = report.chunks
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


def show_ingest(r: dict) -> None:
    table(
        f"ingestion into PostgreSQL, {r['documents']} documents (load, clean, chunk, embed, write)",
        ["workers", "seconds", "documents/s", "vs one worker"],
        [
            [w, r[f"workers_{w}_s"], r["documents"] / r[f"workers_{w}_s"], ratio(r[f"workers_{w}_s"], r["workers_1_s"])]
            for w in (1, 2)
        ],
    )


def run_llm(url: str) -> dict:
    """The README's example question's real prompt: through the server(s) at `url`, then in-process."""
    from rag.answering import Assistant
    from rag.embedding import Embedder
    from rag.indexing import build_index
    from rag.llm import LLM
    from rag.llm_server import ServerLLM
    from rag.retrieval import Retriever
    from rag.settings import Settings

    work = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    try:
        s = Settings.from_env(index_dir=str(work / "index"))
        embedder = Embedder.load(s)
        build_index(Path(__file__).resolve().parents[1] / "samples" / "briefings", settings=s, embedder=embedder)
        question = "Qui a proposé la trêve de 30 jours ?"
        out = {}
        for label, llm in (
            ("server", ServerLLM.connect(s.replace(llm_url=url))),
            ("in-process", LLM.load(s)),
        ):
            assistant = Assistant(s, Retriever.load(s, embedder), llm)
            assistant.answer(question)  # the constant prompt head cached on both sides
            t = time.perf_counter()
            a = assistant.answer(question)
            out[label] = {"total_s": time.perf_counter() - t, "ttft_s": a.timings.get("first_token"), "text": a.text}
            del assistant, llm
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def show_llm(r: dict) -> None:
    base = r["in-process"]
    table(
        "the example question answered through an LLM server vs in-process llama.cpp (baseline), second asking",
        ["path", "first token s", "total s", "total vs in-process", "answer"],
        [[k, v["ttft_s"], v["total_s"], ratio(v["total_s"], base["total_s"]), v["text"][:60]] for k, v in r.items()],
    )


@app.command()
def main(
    corpus: Path = typer.Option(PIAF / "docs", help="Folder of real documents to grow from and to ingest"),
    sizes: str = typer.Option("10000,100000", help="Comma-separated index sizes (passages)"),
    queries: int = typer.Option(200, help="Real dev questions timed per size"),
    ef: str = typer.Option("40,100,200,400", help="hnsw.ef_search values whose recall is measured"),
    ingest_docs: int = typer.Option(60, help="Documents ingested with one then two workers (0 = skip)"),
    llm_url: str = typer.Option("", help="An OpenAI-compatible server to time against in-process llama.cpp"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    from tools import postgres_local

    results: dict = {}
    data = tempfile.mkdtemp(prefix="bench-scale-pg-")
    try:
        pg_url = postgres_local.start(data, _free_port())
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            if sizes:
                results["search"] = run_search(
                    corpus,
                    [int(x) for x in sizes.split(",")],
                    queries,
                    Path(tmp),
                    pg_url,
                    [int(x) for x in ef.split(",")],
                )
                if len(results["search"]) > 1:
                    show_search(results["search"])
        if ingest_docs:
            results["ingest"] = run_ingest(corpus, ingest_docs, pg_url)
            show_ingest(results["ingest"])
    finally:
        postgres_local.stop(data)
        shutil.rmtree(data, ignore_errors=True)
    if llm_url:
        results["llm"] = run_llm(llm_url)
        show_llm(results["llm"])
    save("scale", results, out)


if __name__ == "__main__":
    app()
