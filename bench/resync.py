"""Re-sync of one changed file in a large folder index (10k and 100k passages), and the reader's reload.

    python -m bench.resync                                   # 10k and 100k passages (~50 per file)
    python -m bench.resync --sizes 10000 --work /tmp/resync --out artifacts/bench

The folder is synthetic: plain French-like text from a fixed seed (a Zipf vocabulary
of pseudo-words made of French syllables), ~50 passages per file, each file with a
date line and a repeated footer (boilerplate). Embedding 100k passages for real would
take hours on 2 cores, so every build here uses a fake embedder: fixed-seed random unit
vectors of the e5 dimension, one per text (a hash of the text seeds it), which costs
almost nothing; what is timed is the store. What embedding the changed file costs with
the real e5 model is measured apart, once (`--no-real-embed` skips it).

Per size: the full build (the baseline a re-sync is compared with); a re-sync with
nothing changed; a re-sync after one file changed, split into scan (list, hash,
boilerplate), chunk, embed, write and other (lock, opening the previous index), with
the bytes the process wrote; the reload of a reader that was serving before the
re-sync (`Retriever.refresh`) and a cold load; a re-sync after one file deleted; search
latency after them; and the rankings of the re-synced index against a full rebuild of
the same folder (top-10 overlap, hybrid and BM25, and the largest BM25 score gap).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import typer

from bench.common import console, peak_rss_mb, percentile, ratio, save, table

app = typer.Typer(add_completion=False)

PASSAGES_PER_FILE = 50
SEED = 20260101
DIM = 384  # multilingual-e5-small

_SYLLABLES = (
    "ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go la le li lo lu ma me mi mo mu na ne ni no "
    "pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo an en in on ou oi eu ai au er ir ur "
    "tion ment que ble tre pre gra cha che chi pro con com par pour sur sous ter ver mar por bri cla"
).split()
_FUNCTION_WORDS = (
    "le la les un une des du de et en dans sur pour par avec sans au aux ce cette ces qui que il elle ils est sont "
    "a ont été plus moins selon après avant entre contre vers depuis"
).split()
FOOTER = "Diffusion restreinte — ne pas transmettre hors du service."


class FakeEmbedder:
    """Fixed-seed random unit vectors, one per text (same text, same vector): a build costs no model time."""

    name = "fake-e5"
    fingerprint = "fake-random-unit-vectors"
    dim = DIM
    batch_size = 32

    def passages(self, texts: list[str], progress=None) -> np.ndarray:
        out = self._vectors(texts, b"passage")
        if progress:
            progress(len(texts))
        return out

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._vectors(texts, b"query")

    def _vectors(self, texts: list[str], kind: bytes) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(kind + text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim, dtype=np.float32)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


def vocabulary(size: int = 30_000) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-words of 1-4 French syllables and their Zipf probabilities (function words first)."""
    rng = np.random.default_rng(SEED)
    words = dict.fromkeys(_FUNCTION_WORDS)
    while len(words) < size:
        words.setdefault("".join(rng.choice(_SYLLABLES, rng.integers(1, 5))))
    p = 1.0 / np.arange(1, size + 1) ** 1.05
    return np.array(list(words)), p / p.sum()


def briefing(i: int, words: np.ndarray, p: np.ndarray, variant: int = 0) -> str:
    """File `i` of the folder: a title, a date, paragraphs of sentences, a footer. `variant` > 0 changes
    one paragraph (the same file, edited)."""
    rng = np.random.default_rng([SEED, i])
    n_sent = PASSAGES_PER_FILE * 6
    lengths = rng.integers(8, 35, n_sent)
    tokens = words[rng.choice(len(words), int(lengths.sum()), p=p)]
    sentences, at = [], 0
    for n in lengths:
        s = " ".join(tokens[at : at + n])
        at += n
        sentences.append(s[0].upper() + s[1:] + ".")
    paragraphs, at = [], 0
    while at < len(sentences):
        n = int(rng.integers(3, 7))
        paragraphs.append(" ".join(sentences[at : at + n]))
        at += n
    if variant:
        edit = np.random.default_rng([SEED, i, variant])
        extra = words[edit.choice(len(words), 20, p=p)]
        paragraphs[len(paragraphs) // 2] = " ".join(extra).capitalize() + f" (révision {variant})."
    date = f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"
    return f"# Note de synthèse n° {i}\nDate : {date}\n\n" + "\n\n".join(paragraphs) + f"\n\n{FOOTER}\n"


def make_folder(folder: Path, n_files: int) -> None:
    """Write the synthetic folder (kept between runs: the same seed gives the same files)."""
    words, p = vocabulary()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_files):
        path = folder / f"note-{i:05d}.md"
        text = briefing(i, words, p)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for extra in folder.glob("note-*.md"):
        if int(extra.stem.split("-")[1]) >= n_files:
            extra.unlink()


def written_mb() -> float:
    """Bytes this process has passed to write() so far (/proc/self/io wchar), in MB."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def timed_sync(folder: Path, settings, embedder) -> dict:
    """One build_index call: its wall time and split, and what it wrote."""
    import rag.indexing as indexing

    spent = {"chunk": 0.0}
    real = indexing.chunk_units

    def chunk_units(*a, **k):
        t = time.perf_counter()
        try:
            return real(*a, **k)
        finally:
            spent["chunk"] += time.perf_counter() - t

    indexing.chunk_units = chunk_units
    mb = written_mb()
    t = time.perf_counter()
    try:
        report = indexing.build_index(folder, settings=settings, embedder=embedder)
    finally:
        indexing.chunk_units = real
    wall = time.perf_counter() - t
    s = report.timings
    load_and_chunk = s.get("load_and_chunk", 0.0)
    return {
        "s": wall,
        "scan_s": load_and_chunk - spent["chunk"],
        "chunk_s": spent["chunk"],
        "embed_s": s.get("embed", 0.0),
        "write_s": s.get("write", 0.0),
        "other_s": wall - load_and_chunk - s.get("embed", 0.0) - s.get("write", 0.0),
        "written_mb": written_mb() - mb,
        "wrote": report.wrote,
        "embedded_units": report.embedded_units,
        "chunks": report.chunks,
        "timings": dict(s),
    }


def queries(folder: Path, n: int) -> list[str]:
    """Questions made of a sentence start from random files (fixed seed)."""
    rng = np.random.default_rng(SEED + 1)
    files = sorted(folder.glob("note-*.md"))
    out = []
    for i in rng.choice(len(files), n, replace=len(files) < n):
        paragraphs = files[i].read_text(encoding="utf-8").split("\n\n")[1:-1]
        words = paragraphs[int(rng.integers(0, len(paragraphs)))].split()
        start = int(rng.integers(0, max(1, len(words) - 8)))
        out.append(" ".join(words[start : start + 8]))
    return out


def rankings(retriever, qs: list[str], qvecs: np.ndarray, mode: str) -> list[list[tuple]]:
    return [
        [(h.doc, h.start, h.end, h.score, h.bm25_score) for h in retriever.search(q, k=10, mode=mode, query_vector=v)]
        for q, v in zip(qs, qvecs)
    ]


def compare(a: list[list[tuple]], b: list[list[tuple]]) -> dict:
    """Top-10 overlap of two rankings of the same queries, same top-1 share, largest BM25 score gap."""
    overlap, same_top, gap = [], [], 0.0
    for x, y in zip(a, b):
        kx, ky = [h[:3] for h in x], [h[:3] for h in y]
        overlap.append(len(set(kx) & set(ky)) / max(len(kx), 1))
        same_top.append(kx[:1] == ky[:1])
        bx, by = {h[:3]: h[4] for h in x}, {h[:3]: h[4] for h in y}
        for key in set(bx) & set(by):
            if bx[key] is not None and by[key] is not None:
                gap = max(gap, abs(bx[key] - by[key]))
    return {"overlap@10": float(np.mean(overlap)), "same_top1": float(np.mean(same_top)), "max_bm25_gap": gap}


def dense_recall(index, qvecs: np.ndarray, k: int = 10) -> float:
    """recall@k of the index's FAISS search (its own approximations) against exact search over its live units."""
    import faiss

    live_units = np.ones(len(index.vectors), bool)
    for row in np.flatnonzero(~index.alive) if getattr(index, "alive", None) is not None else []:
        a, b = index.chunk_units[row]
        live_units[a:b] = False
    ids = np.flatnonzero(live_units)
    _, exact = faiss.knn(qvecs, np.ascontiguousarray(index.vectors[ids]), k, faiss.METRIC_INNER_PRODUCT)
    _, got = index.dense.search(qvecs, k)
    return float(np.mean([len(set(ids[e]) & set(g)) / k for e, g in zip(exact, got)]))


def run_size(n_passages: int, work: Path, n_queries: int, compare_full: bool, compaction: bool = True) -> dict:
    from rag.indexing import build_index
    from rag.retrieval import Retriever
    from rag.settings import Settings
    from rag.store import IndexStore

    n_files = max(3, n_passages // PASSAGES_PER_FILE)
    folder = work / f"folder-{n_files}"
    console.print(f"[dim]{n_passages:,} passages: writing {n_files:,} files ...[/]")
    make_folder(folder, n_files)
    index_dir = work / f"index-{n_files}"
    shutil.rmtree(index_dir, ignore_errors=True)
    settings = Settings.from_env(index_dir=str(index_dir))
    embedder = FakeEmbedder()
    r: dict = {"files": n_files}

    console.print("[dim]full build ...[/]")
    t = time.perf_counter()
    full = build_index(folder, settings=settings, embedder=embedder, full=True)
    r["full_build_s"] = time.perf_counter() - t
    r["chunks"] = full.chunks
    r["full_build_timings"] = dict(full.timings)
    r["index_mb"] = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20

    t = time.perf_counter()
    retriever = Retriever(IndexStore(index_dir), embedder, settings)
    r["reader_load_s"] = time.perf_counter() - t
    units = len(retriever.index.vectors)
    r["units"] = units
    qs = queries(folder, n_queries)
    qvecs = embedder.queries(qs)
    retriever.search(qs[0], query_vector=qvecs[0])

    r["nochange"] = timed_sync(folder, settings, embedder)

    console.print("[dim]one file changed ...[/]")
    words, p = vocabulary()
    victim = folder / f"note-{n_files // 2:05d}.md"
    victim.write_text(briefing(n_files // 2, words, p, variant=1), encoding="utf-8")
    r["changed"] = timed_sync(folder, settings, embedder)
    t = time.perf_counter()
    retriever.refresh()
    r["reader_reload_s"] = time.perf_counter() - t
    t = time.perf_counter()
    IndexStore(index_dir).load()
    r["cold_load_after_s"] = time.perf_counter() - t
    revised = [h for h in retriever.search("révision 1", k=3, mode="bm25")]
    r["changed_found"] = bool(revised) and revised[0].doc == str(victim.resolve())

    console.print("[dim]one file deleted ...[/]")
    gone = folder / f"note-{n_files // 3:05d}.md"
    gone_text = gone.read_text(encoding="utf-8")
    gone.unlink()
    r["deleted"] = timed_sync(folder, settings, embedder)
    t = time.perf_counter()
    retriever.refresh()
    r["reader_reload_deleted_s"] = time.perf_counter() - t
    r["deleted_gone"] = str(gone.resolve()) not in {h.doc for h in retriever.search(qs[0], k=50, query_vector=qvecs[0])}
    r["segments_after"] = len(IndexStore(index_dir).manifest().get("segments", [None]))

    hybrid = []
    for q, v in zip(qs, qvecs):
        t = time.perf_counter()
        retriever.search(q, query_vector=v)
        hybrid.append((time.perf_counter() - t) * 1000)
    bm25 = []
    for q in qs:
        t = time.perf_counter()
        retriever.index.bm25.scores(q)
        bm25.append((time.perf_counter() - t) * 1000)
    r["hybrid_p50_ms"], r["bm25_p50_ms"] = percentile(hybrid, 50), percentile(bm25, 50)

    if compare_full:
        console.print("[dim]full rebuild of the same folder, to compare rankings ...[/]")
        full_dir = work / f"index-{n_files}-full"
        shutil.rmtree(full_dir, ignore_errors=True)
        full_settings = settings.replace(index_dir=str(full_dir))
        build_index(folder, settings=full_settings, embedder=embedder, full=True)
        rebuilt = Retriever(IndexStore(full_dir), embedder, full_settings)
        for mode in ("hybrid", "bm25"):
            r[f"vs_full_{mode}"] = compare(rankings(retriever, qs, qvecs, mode), rankings(rebuilt, qs, qvecs, mode))
        # the hybrid rankings differ where FAISS approximates (IVF above rag.store.FLAT_MAX vectors,
        # trained on other vectors in the two indexes): how close each is to exact search
        r["dense_recall@10_synced"] = dense_recall(retriever.index, qvecs)
        r["dense_recall@10_rebuilt"] = dense_recall(rebuilt.index, qvecs)
        shutil.rmtree(full_dir, ignore_errors=True)
    try:
        import rag.segments as segments
    except ImportError:  # the code before segments: every sync rewrites everything
        segments = None
    if segments is not None and compaction:
        console.print("[dim]one file changed, compaction forced ...[/]")
        victim.write_text(briefing(n_files // 2, words, p, variant=2), encoding="utf-8")
        fraction, segments.COMPACT_FRACTION = segments.COMPACT_FRACTION, 0.0
        try:
            r["compacting"] = timed_sync(folder, settings, embedder)
        finally:
            segments.COMPACT_FRACTION = fraction
        t = time.perf_counter()
        retriever.refresh()
        r["reader_reload_compacted_s"] = time.perf_counter() - t

    gone.write_text(gone_text, encoding="utf-8")  # the folder is kept for the next run
    victim.write_text(briefing(n_files // 2, words, p), encoding="utf-8")
    r["peak_rss_mb"] = peak_rss_mb()
    shutil.rmtree(index_dir, ignore_errors=True)
    return r


def real_embedding(work: Path) -> dict:
    """What embedding the changed file costs with the real e5 model (model loaded and warm)."""
    from rag.chunking import chunk_units
    from rag.embedding import Embedder
    from rag.loaders import load_file
    from rag.settings import Settings
    from rag.store import unit_text

    settings = Settings.from_env()
    words, p = vocabulary()
    path = work / "one-file" / "note.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(briefing(7, words, p, variant=1), encoding="utf-8")
    doc = load_file(path)
    units, chunks, _ = chunk_units(doc, settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap)
    texts = [unit_text(doc.title, doc.text[a:b]) for a, b in units]
    embedder = Embedder.load(settings)
    embedder.passages(["warm up"])
    t = time.perf_counter()
    embedder.passages(texts)
    return {
        "real_embed_one_file_s": time.perf_counter() - t,
        "one_file_chunks": len(chunks),
        "one_file_units": len(units),
    }


def show(rows: list[dict], real: dict | None) -> None:
    def split(s: dict) -> str:
        return f"{s['scan_s']:.2f} / {s['chunk_s']:.2f} / {s['embed_s']:.2f} / {s['write_s']:.2f} / {s['other_s']:.2f}"

    body = []
    for r in rows:
        body += [
            [f"{r['chunks']:,} passages", f"{r['files']:,} files, {r['units']:,} vectors", "", ""],
            ["  full build, fake embedder (s)", r["full_build_s"], "", ""],
            ["  re-sync, no change (s)", r["nochange"]["s"], "", ""],
            [
                "  re-sync, one file changed (s)",
                r["changed"]["s"],
                r["full_build_s"],
                ratio(r["changed"]["s"], r["full_build_s"]),
            ],
            ["    scan / chunk / embed / write / other (s)", split(r["changed"]), "", ""],
            [
                "    written (MB)",
                r["changed"]["written_mb"],
                r["index_mb"],
                ratio(r["changed"]["written_mb"], r["index_mb"]),
            ],
            [
                "  reader reload after it (s)",
                r["reader_reload_s"],
                r["reader_load_s"],
                ratio(r["reader_reload_s"], r["reader_load_s"]),
            ],
            [
                "  cold load after it (s)",
                r["cold_load_after_s"],
                r["reader_load_s"],
                ratio(r["cold_load_after_s"], r["reader_load_s"]),
            ],
            [
                "  re-sync, one file deleted (s)",
                r["deleted"]["s"],
                r["full_build_s"],
                ratio(r["deleted"]["s"], r["full_build_s"]),
            ],
            ["    scan / chunk / embed / write / other (s)", split(r["deleted"]), "", ""],
            ["  reader reload after it (s)", r["reader_reload_deleted_s"], r["reader_load_s"], ""],
            *(
                [
                    [
                        "  re-sync that compacts (forced), one file changed (s)",
                        r["compacting"]["s"],
                        r["full_build_s"],
                        ratio(r["compacting"]["s"], r["full_build_s"]),
                    ],
                    ["    scan / chunk / embed / write / other (s)", split(r["compacting"]), "", ""],
                    ["  reader reload after it (s)", r["reader_reload_compacted_s"], r["reader_load_s"], ""],
                ]
                if "compacting" in r
                else []
            ),
            ["  hybrid / BM25 search p50 after (ms)", f"{r['hybrid_p50_ms']:.1f} / {r['bm25_p50_ms']:.1f}", "", ""],
            ["  changed text found / deleted file gone", f"{r['changed_found']} / {r['deleted_gone']}", "", ""],
        ]
        for mode in ("hybrid", "bm25"):
            if f"vs_full_{mode}" in r:
                c = r[f"vs_full_{mode}"]
                body.append(
                    [
                        f"  vs full rebuild, {mode}: overlap@10 / same top-1 / BM25 gap",
                        f"{c['overlap@10']:.3f} / {c['same_top1']:.3f} / {c['max_bm25_gap']:.2g}",
                        "",
                        "",
                    ]
                )
        if "dense_recall@10_synced" in r:
            body.append(
                [
                    "  FAISS recall@10 vs exact: re-synced / rebuilt",
                    f"{r['dense_recall@10_synced']:.3f} / {r['dense_recall@10_rebuilt']:.3f}",
                    "",
                    "",
                ]
            )
    if real:
        body.append(
            [
                f"real e5 embedding of the changed file ({real['one_file_units']} sentence units) (s)",
                real["real_embed_one_file_s"],
                "",
                "",
            ]
        )
    table("Re-sync of one file in a large index (fake embedder)", ["figure", "value", "baseline", "ratio"], body)
    console.print(
        "[dim]baseline of a re-sync: the full build of the same folder (same run); of a reload: the first load[/]"
    )


@app.command()
def main(
    sizes: str = typer.Option("10000,100000", help="Comma-separated index sizes in passages (~50 per file)"),
    queries_: int = typer.Option(20, "--queries", help="Questions for search latency and the ranking comparison"),
    work: Path = typer.Option(None, help="Folder for the synthetic folders (kept: reruns reuse them)"),
    compare_full: bool = typer.Option(True, help="Compare the re-synced index's rankings with a full rebuild"),
    real_embed: bool = typer.Option(True, help="Also time the real e5 embedding of the changed file"),
    compaction: bool = typer.Option(True, help="Also time a re-sync that compacts (segments only)"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    with tempfile.TemporaryDirectory(prefix="bench-resync-") as tmp:
        base = work or Path(tmp)
        rows = [run_size(int(n), base, queries_, compare_full, compaction) for n in sizes.split(",")]
        real = real_embedding(base) if real_embed else None
    show(rows, real)
    save("resync", {"sizes": rows, **(real or {})}, out)


if __name__ == "__main__":
    app()
