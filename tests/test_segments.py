"""Re-syncs that write only the changed files, as segments: same hits as a full build, safe when killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import rag.segments
from conftest import ROOT, SAMPLES, write
from rag.indexing import build_index, expected_settings
from rag.retrieval import Filters, Retriever
from rag.store import IndexStore

QUERIES = [
    "Weimar+",
    "trêve de 30 jours",
    "qui a proposé la trêve ?",
    "prix du gaz en Europe",
    "exportations de céréales par la mer Noire",
    "sommet de l'OTAN budgets de défense",
]
NEW = "# Note ajoutée\n\nLe port de Constanța a reçu un convoi de blé ukrainien escorté par la marine roumaine."


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "briefings"
    for p in SAMPLES.iterdir():
        write(d, p.name, p.read_text(encoding="utf-8"))
    return d


@pytest.fixture
def no_compaction(monkeypatch):
    monkeypatch.setattr(rag.segments, "COMPACT_FRACTION", 1e9)


def segment_entries(index_dir) -> list[dict]:
    store = IndexStore(index_dir)
    return json.loads((store.current() / "manifest.json").read_text(encoding="utf-8"))["segments"]


def edit(folder: Path) -> tuple[str, str]:
    """Change one file, add one, delete one; return the changed and the deleted file names."""
    changed = folder / "2025-06-10-prix-gaz-sanctions-ue.md"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n\nLe plafond du prix du gaz a été relevé à 60 euros.\n")
    write(folder, "2025-06-20-note-ajoutee.md", NEW)
    deleted = folder / "2025-05-24-coalition-des-volontaires.md"
    deleted.unlink()
    return changed.name, deleted.name


def hits(settings, embedder, **kw) -> list[list[tuple]]:
    retriever = Retriever(IndexStore(settings.index_dir), embedder, settings)
    out = []
    for q in QUERIES:
        found = retriever.search(q, k=5, **kw)
        out.append([(Path(h.doc).name, h.start, h.end, round(h.score, 4), h.also_in) for h in found])
    return out


def same_hits(a, b):
    """Equal up to float rounding (rows differ between a segmented and a rebuilt index, spans do not)."""
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert [h[:3] for h in x] == [h[:3] for h in y]
        assert np.allclose([h[3] for h in x], [h[3] for h in y], atol=2e-3)


def full_build(folder, settings, embedder, tmp_path):
    full = settings.replace(index_dir=str(tmp_path / "full"))
    build_index(folder, settings=full, embedder=embedder, full=True)
    return full


def test_delta_then_compaction_gives_the_hits_of_a_full_build(
    folder, base_settings, embedder, tmp_path, monkeypatch, no_compaction
):
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    base = segment_entries(settings.index_dir)[0]["name"]
    changed, deleted = edit(folder)
    report = build_index(folder, settings=settings, embedder=embedder)
    assert report.embedded_chunks == sum(c.doc.endswith((changed, "note-ajoutee.md")) for c in _chunks(settings))
    entries = segment_entries(settings.index_dir)
    assert [e["name"] for e in entries][0] == base and len(entries) == 2  # the base kept, one delta added
    assert sorted(Path(d).name for d in entries[0]["dead"]) == sorted([changed, deleted])
    assert IndexStore(settings.index_dir).manifest()["counts"]["chunks"] == report.chunks

    full = full_build(folder, settings, embedder, tmp_path)
    for kw in ({}, {"mode": "bm25"}, {"mode": "dense"}, {"filters": Filters(date_from="2025-05-20")}):
        same_hits(hits(settings, embedder, **kw), hits(full, embedder, **kw))
    # BM25 statistics are those of the whole live collection: scores equal a rebuild's
    a = Retriever(IndexStore(settings.index_dir), embedder, settings)
    b = Retriever(IndexStore(full.index_dir), embedder, full)
    for q in QUERIES:
        sa, sb = a.index.bm25.scores(q), b.index.bm25.scores(q)
        by_span_a = {(c.doc, c.start): s for c, s in zip(a.index.chunks, sa)}
        by_span_b = {(c.doc, c.start): s for c, s in zip(b.index.chunks, sb)}
        live_a = {k: by_span_a[k] for k in by_span_b}
        assert np.allclose(list(live_a.values()), list(by_span_b.values()), atol=1e-5)

    # a compaction folds the delta and the dead rows back into one segment, in file order
    monkeypatch.setattr(rag.segments, "COMPACT_FRACTION", 0.0)
    write(folder, "2025-06-21-autre.md", "# Autre\n\nUne note de plus sur la mer Baltique.")
    build_index(folder, settings=settings, embedder=embedder)
    build_index(folder, settings=full, embedder=embedder, full=True)
    entries = segment_entries(settings.index_dir)
    assert len(entries) == 1 and entries[0]["dead"] == []
    assert [c.doc for c in _chunks(settings)] == [c.doc for c in _chunks(full)]
    same_hits(hits(settings, embedder), hits(full, embedder))
    assert len(list((Path(settings.index_dir) / "segments").iterdir())) <= 3  # unused segments removed


def _chunks(settings):
    idx = IndexStore(settings.index_dir).load()
    return [idx.chunks[r] for r in idx.live_rows()]


def test_deleted_and_replaced_passages_are_never_found(folder, base_settings, embedder, tmp_path, no_compaction):
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    changed, deleted = edit(folder)
    build_index(folder, settings=settings, embedder=embedder)
    retriever = Retriever(IndexStore(settings.index_dir), embedder, settings)
    assert retriever.index.alive is not None and not retriever.index.alive.all()  # the dead rows are there
    for kw in ({}, {"mode": "bm25"}, {"mode": "dense"}, {"filters": Filters(date_from="2025-01-01")}):
        found = retriever.search("Coalition des volontaires", k=20, **kw)
        assert found and deleted not in {Path(h.doc).name for h in found}
    gas = [h for h in retriever.search("prix du gaz plafond", k=50) if Path(h.doc).name == changed]
    assert gas and all(h.doc == gas[0].doc for h in gas)
    assert len({(h.start, h.end) for h in gas}) == len(gas)  # each passage of the changed file once, the new copy
    assert any("60 euros" in h.text for h in gas)
    from rag.dates import DateRange

    period = DateRange("2025-05-24", "2025-05-24", "le 24 mai")
    found = retriever.search("volontaires", k=10, dates=period)
    assert deleted not in {Path(h.doc).name for h in found}


def test_a_reader_picks_up_the_delta_and_reads_only_it(folder, base_settings, embedder, tmp_path, no_compaction):
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    retriever = Retriever(IndexStore(settings.index_dir), embedder, settings)
    assert "Constanța" not in retriever.search("port de Constanța convoi de blé", k=1)[0].text
    base = dict(retriever.store._loaded)
    before = retriever.index
    edit(folder)
    build_index(folder, settings=settings, embedder=embedder)
    assert "Constanța" in retriever.search("port de Constanța convoi de blé", k=1)[0].text  # next query
    assert all(retriever.store._loaded[name] is seg for name, seg in base.items())  # base segment not re-read
    assert np.shares_memory(before.vectors, retriever.index.vectors)  # its vectors not copied again ...
    assert np.array_equal(before.vectors, retriever.index.vectors[: len(before.vectors)])  # ... nor overwritten
    assert len(retriever.store._loaded) == 2


def test_many_small_syncs_keep_few_segments_and_the_same_hits(folder, base_settings, embedder, tmp_path, monkeypatch):
    monkeypatch.setattr(rag.segments, "COMPACT_FRACTION", 1e9)
    monkeypatch.setattr(rag.segments, "MAX_SEGMENTS", 3)
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    for i in range(5):
        write(folder, f"2025-07-0{i + 1}-note-{i}.md", f"# Note {i}\n\nLa réunion numéro {i} a eu lieu à Genève.")
        build_index(folder, settings=settings, embedder=embedder)
        assert len(segment_entries(settings.index_dir)) <= 3
    full = full_build(folder, settings, embedder, tmp_path)
    same_hits(hits(settings, embedder), hits(full, embedder))
    found = Retriever(IndexStore(settings.index_dir), embedder, settings).search("réunion numéro 3 Genève", k=1)
    assert "numéro 3" in found[0].text


KILL = """
import os, signal, sys
from pathlib import Path
import rag.segments
from rag.embedding import Embedder
from rag.indexing import build_index
from rag.settings import Settings

where = sys.argv[3]
rag.segments.COMPACT_FRACTION = 1e9  # a delta sync
real_replace = os.replace

def replace(src, dst):
    if where == "switch" and Path(dst).name == "CURRENT":
        os.kill(os.getpid(), signal.SIGKILL)  # segment and generation written, CURRENT not replaced yet
    real_replace(src, dst)
    if where == "segment" and Path(dst).name.startswith("seg-"):
        os.kill(os.getpid(), signal.SIGKILL)  # the new segment in place, no generation lists it

os.replace = replace
settings = Settings.from_env(index_dir=sys.argv[2])
build_index(sys.argv[1], settings=settings, embedder=Embedder.load(settings))
"""


@pytest.mark.parametrize("where", ["segment", "switch"])
def test_a_kill_during_a_delta_sync_leaves_the_previous_index(
    folder, base_settings, embedder, tmp_path, where, no_compaction
):
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    live = IndexStore(settings.index_dir).current()
    before = hits(settings, embedder)
    edit(folder)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILL), str(folder), settings.index_dir, where],
        cwd=ROOT,
        env=dict(os.environ, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -9, proc.stderr[-2000:]
    store = IndexStore(settings.index_dir)
    assert store.current() == live  # the previous generation is still the live one ...
    store.load(expected_settings(settings, embedder))
    assert hits(settings, embedder) == before  # ... whole
    live_segments = {e["name"] for e in segment_entries(settings.index_dir)}
    orphans = [p for p in (Path(settings.index_dir) / "segments").iterdir() if p.name not in live_segments]
    assert orphans  # what the killed build wrote is there, unused

    report = build_index(folder, settings=settings, embedder=embedder)  # the next sync completes
    assert report.wrote and len(segment_entries(settings.index_dir)) == 2
    used = {e["name"] for e in segment_entries(settings.index_dir)}
    for gen in Path(settings.index_dir).glob("gen-*"):
        used |= {e["name"] for e in json.loads((gen / "manifest.json").read_text())["segments"]}
    assert {p.name for p in (Path(settings.index_dir) / "segments").iterdir()} == used  # orphans removed
    assert not list(Path(settings.index_dir).rglob(".tmp-*"))
    assert "Constanța" in Retriever(store, embedder, settings).search("port de Constanța convoi de blé", k=1)[0].text


def test_an_index_of_format_2_loads_and_the_next_build_rewrites_it(folder, base_settings, embedder, tmp_path):
    from rag.lexical import BM25Index
    from rag.store import make_faiss, searchable_text

    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    before = hits(settings, embedder)
    # rewrite it as the previous version did: one directory, bm25s arrays, no segments
    idx = IndexStore(settings.index_dir).load()
    gen = IndexStore(settings.index_dir).current()
    manifest = dict(json.loads((gen / "manifest.json").read_text(encoding="utf-8")), format=2)
    del manifest["segments"]
    manifest["counts"]["units"] = len(idx.units)
    seg = Path(settings.index_dir) / "segments" / segment_entries(settings.index_dir)[0]["name"]
    for name in ("chunks.jsonl", "units.npy", "chunk_units.npy", "vectors.npy", "dense.faiss"):
        (gen / name).write_bytes((seg / name).read_bytes())
    (gen / "bm25").mkdir()
    BM25Index.build([searchable_text(c) for c in idx.chunks]).save(gen / "bm25")
    assert make_faiss(np.asarray(idx.vectors)).ntotal == len(idx.units)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    old = IndexStore(settings.index_dir).load(expected_settings(settings, embedder))
    assert isinstance(old.bm25, BM25Index)
    same_hits(hits(settings, embedder), before)  # the old index answers as before
    edit(folder)
    report = build_index(folder, settings=settings, embedder=embedder)
    assert report.embedded_chunks < report.chunks  # the old vectors were reused
    assert IndexStore(settings.index_dir).manifest()["format"] == 3
    full = full_build(folder, settings, embedder, tmp_path)
    same_hits(hits(settings, embedder), hits(full, embedder))
