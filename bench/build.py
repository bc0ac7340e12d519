"""Index build and re-sync of a corpus, against embedding the same texts alone.

    python -m bench.build                        # the PIAF corpus (191 articles)
    python -m bench.build --corpus samples/briefings --out artifacts/bench

Figures: the build's wall time and its split (load+chunk, embed, write), chunks
per second, the baseline (sentence-transformers `encode` of the very same
sentence-unit texts the index embeds, same model, same batch size, model
already loaded) and the ratio (target <= 1.15); a second baseline, `encode` of
the chunk texts (what an index of one vector per chunk embeds), prices the
sentence-level design; a no-change re-sync (target < 1 s) and a one-file
change (only that file re-embedded); peak RSS of the process after the build.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import typer

from bench.common import PIAF, console, peak_rss_mb, ratio, save, table

app = typer.Typer(add_completion=False)


def run(corpus: Path, work: Path) -> dict:
    from rag.embedding import Embedder
    from rag.indexing import build_index
    from rag.settings import Settings
    from rag.store import IndexStore, searchable_text, unit_text

    settings = Settings.from_env(index_dir=str(work / "index"))
    embedder = Embedder.load(settings)
    embedder.passages(["warm up"])  # model loading is not part of either figure
    rss_before = peak_rss_mb()

    # 1. the full build
    t = time.perf_counter()
    report = build_index(corpus, settings=settings, embedder=embedder, full=True)
    build_wall = time.perf_counter() - t
    rss_build = peak_rss_mb()
    index = IndexStore(settings.index_dir).load()
    chunks = index.chunks
    texts: list[str] = []  # what the build embedded: each unit once, in order
    for row, c in enumerate(chunks):
        a, b = index.chunk_units[row]
        for u in range(max(a, len(texts)), b):  # neighbours share their overlap unit
            texts.append(unit_text(c.title, c.text[index.units[u][0] - c.start : index.units[u][1] - c.start]))

    # 2. baselines: the same unit texts through sentence-transformers alone; the chunk texts
    model = embedder.model
    prompt = embedder._passage_prompt

    def encode(batch):
        t = time.perf_counter()
        model.encode(
            batch,
            prompt_name=prompt,
            batch_size=embedder.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return time.perf_counter() - t

    bare = encode(texts)
    bare_chunks = encode([searchable_text(c) for c in chunks])

    # 3. re-sync with nothing changed, in-process (the CLI adds ~0.3 s of imports)
    t = time.perf_counter()
    nochange = build_index(corpus, settings=settings, embedder=embedder)
    resync = time.perf_counter() - t

    # 4. one file changed, in a copy of the corpus
    copy = work / "corpus-copy"
    shutil.copytree(corpus, copy)
    settings2 = settings.replace(index_dir=str(work / "index-copy"))
    build_index(copy, settings=settings2, embedder=embedder)
    victim = sorted(p for p in copy.iterdir() if p.is_file())[0]
    with victim.open("a", encoding="utf-8") as f:
        f.write("\n\nParagraphe ajouté pour le banc d'essai : la trêve de trente jours a été prolongée.\n")
    t = time.perf_counter()
    changed = build_index(copy, settings=settings2, embedder=embedder)
    one_file = time.perf_counter() - t
    manifest = IndexStore(settings2.index_dir).manifest()
    victim_chunks = manifest["documents"][str(victim.resolve())]["chunks"]

    split = report.timings
    return {
        "corpus": str(corpus),
        "documents": report.documents,
        "chunks": report.chunks,
        "build_s": build_wall,
        "load_and_chunk_s": split.get("load_and_chunk", 0.0),
        "embed_s": split.get("embed", 0.0),
        "write_s": split.get("write", 0.0),
        "units": len(texts),
        "bare_embed_s": bare,
        "build_over_bare": build_wall / bare if bare else None,
        "bare_embed_chunks_s": bare_chunks,
        "build_over_bare_chunks": build_wall / bare_chunks if bare_chunks else None,
        "chunks_per_s": report.chunks / build_wall,
        "bare_chunks_per_s": report.chunks / bare,
        "resync_nochange_s": resync,
        "resync_nochange_wrote": nochange.wrote,
        "resync_one_file_s": one_file,
        "one_file_reembedded": changed.embedded_chunks,
        "one_file_chunks": victim_chunks,
        "one_file_total_chunks": changed.chunks,
        "peak_rss_mb_model_loaded": rss_before,
        "peak_rss_mb_after_build": rss_build,
    }


def show(r: dict) -> None:
    table(
        "Index build",
        ["figure", "value", "baseline", "ratio"],
        [
            ["documents / chunks / sentence units", f"{r['documents']} / {r['chunks']} / {r['units']}", "", ""],
            ["whole build (s)", r["build_s"], r["bare_embed_s"], ratio(r["build_s"], r["bare_embed_s"])],
            [
                "whole build vs one vector per chunk (s)",
                r["build_s"],
                r["bare_embed_chunks_s"],
                ratio(r["build_s"], r["bare_embed_chunks_s"]),
            ],
            ["  load + chunk (s)", r["load_and_chunk_s"], "", ""],
            ["  embed (s)", r["embed_s"], r["bare_embed_s"], ratio(r["embed_s"], r["bare_embed_s"])],
            ["  write: FAISS, BM25, store (s)", r["write_s"], "", ""],
            [
                "chunks per second",
                r["chunks_per_s"],
                r["bare_chunks_per_s"],
                ratio(r["chunks_per_s"], r["bare_chunks_per_s"]),
            ],
            ["re-sync, no change (s)", r["resync_nochange_s"], "target 1.0", ratio(r["resync_nochange_s"], 1.0)],
            [
                "re-sync, one file changed (s)",
                r["resync_one_file_s"],
                r["build_s"],
                ratio(r["resync_one_file_s"], r["build_s"]),
            ],
            ["  chunks re-embedded", r["one_file_reembedded"], f"{r['one_file_chunks']} in that file", ""],
            [
                "peak RSS after build (MB)",
                r["peak_rss_mb_after_build"],
                r["peak_rss_mb_model_loaded"],
                ratio(r["peak_rss_mb_after_build"], r["peak_rss_mb_model_loaded"]),
            ],
        ],
    )
    console.print(
        "[dim]baseline of the build: sentence-transformers encode of the same sentence-unit texts alone; "
        "second baseline: encode of the chunk texts "
        "(same model and batch size); of peak RSS: the process with the model loaded, before building[/]"
    )


@app.command()
def main(
    corpus: Path = typer.Option(PIAF / "docs", help="Folder to index"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        r = run(corpus, Path(tmp))
    show(r)
    save("build", r, out)


if __name__ == "__main__":
    app()
