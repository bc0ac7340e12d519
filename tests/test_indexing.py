"""Incremental sync, atomic replacement, locking and incompatible indexes, with the real embedder."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write
from rag.errors import FolderNotFound, IndexBusy, IndexCorrupt, IndexIncompatible, IndexNotFound, NothingToIndex
from rag.indexing import build_index, expected_settings
from rag.retrieval import Retriever
from rag.store import IndexStore

DOCS = {
    "a.md": "# Trêve\nDate : 2025-05-20\n\nLe cessez-le-feu de 30 jours a été proposé par Donald Trump.",
    "b.txt": "Gaz\n\nLes prix du gaz ont baissé en Europe au printemps, selon les négociants.",
    "c.md": "# Céréales\n\nL'Ukraine exporte son blé par la mer Noire malgré les frappes sur Odessa.",
}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "briefings"
    for name, text in DOCS.items():
        write(d, name, text)
    return d


@pytest.fixture
def settings(base_settings, tmp_path):
    return base_settings.replace(index_dir=str(tmp_path / "index"))


def docs_in_index(settings):
    return {Path(c.doc).name for c in IndexStore(settings.index_dir).load().chunks}


def test_build_then_sync_add_change_delete(folder, settings, embedder):
    first = build_index(folder, settings=settings, embedder=embedder)
    assert len(first.added) == 3 and first.wrote and first.chunks == 3

    again = build_index(folder, settings=settings, embedder=embedder)
    assert not again.wrote and len(again.unchanged) == 3 and again.embedded_chunks == 0

    write(folder, "b.txt", "Gaz\n\nLes prix du gaz ont fortement augmenté en juin. Le stockage atteint 48 %.")
    write(folder, "d.md", "# OTAN\n\nLe sommet de l'OTAN se tiendra à La Haye les 24 et 25 juin.")
    (folder / "c.md").unlink()
    sync = build_index(folder, settings=settings, embedder=embedder)
    assert [Path(p).name for p in sync.changed] == ["b.txt"]
    assert [Path(p).name for p in sync.added] == ["d.md"]
    assert [Path(p).name for p in sync.removed] == ["c.md"]
    assert sync.embedded_chunks == 2  # only the changed and the added file
    assert docs_in_index(settings) == {"a.md", "b.txt", "d.md"}

    # the unchanged file kept exactly its vector; the changed one got a new one
    store = IndexStore(settings.index_dir).load()
    texts = [c.text for c in store.chunks]
    assert any("fortement augmenté" in t for t in texts) and not any("mer Noire" in t for t in texts)
    hits = Retriever(IndexStore(settings.index_dir), embedder, settings).search("sommet OTAN La Haye", k=1)
    assert Path(hits[0].doc).name == "d.md"


def test_vectors_of_unchanged_files_are_reused(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    before = IndexStore(settings.index_dir).load()
    write(folder, "b.txt", "Gaz\n\nAutre texte sur le gaz naturel liquéfié.")
    build_index(folder, settings=settings, embedder=embedder)
    after = IndexStore(settings.index_dir).load()

    def unit_vectors(idx, name):  # the sentence-unit vectors of one file's chunks
        rows = [i for i, c in enumerate(idx.chunks) if c.doc.endswith(name)]
        return idx.vectors[idx.chunk_units[rows[0]][0] : idx.chunk_units[rows[-1]][1]]

    assert np.array_equal(unit_vectors(before, "a.md"), unit_vectors(after, "a.md"))
    old, new = unit_vectors(before, "b.txt"), unit_vectors(after, "b.txt")
    assert old.shape != new.shape or not np.allclose(old, new)


def test_units_and_chunks_line_up_after_incremental_builds(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    write(folder, "b.txt", "Gaz\n\nAutre texte sur le gaz. Une deuxième phrase. Et une troisième.")
    write(folder, "e.md", "# Neuf\n\nUn document ajouté. Il a deux phrases.")
    build_index(folder, settings=settings, embedder=embedder)
    idx = IndexStore(settings.index_dir).load()
    assert len(idx.units) == len(idx.vectors) and idx.chunk_units[-1][1] == len(idx.units)
    for row, c in enumerate(idx.chunks):
        a, b = idx.chunk_units[row]
        assert (idx.units[a][0], idx.units[b - 1][1]) == (c.start, c.end)  # a chunk is its units
        assert all(idx.unit_first_chunk[u] <= row <= idx.unit_last_chunk[u] for u in range(a, b))
    # each unit's vector is the embedding of that sentence (with its title), wherever it came from
    c = next(c for c in idx.chunks if c.doc.endswith("e.md"))
    u = idx.chunk_units[idx.chunks.index(c)][1] - 1
    text = c.text[idx.units[u][0] - c.start : idx.units[u][1] - c.start]
    assert text == "Il a deux phrases."
    assert np.allclose(idx.vectors[u], embedder.passages([f"{c.title}\n{text}"])[0], atol=1e-5)


def test_failed_build_leaves_previous_index_usable(folder, settings, embedder, monkeypatch):
    build_index(folder, settings=settings, embedder=embedder)
    live = IndexStore(settings.index_dir).current()
    write(folder, "e.md", "# Nouveau\n\nUn document ajouté juste avant la panne.")

    import rag.store

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(rag.store, "make_faiss", boom)  # while the new segment is being written
    with pytest.raises(OSError, match="simulated"):
        build_index(folder, settings=settings, embedder=embedder)
    monkeypatch.undo()

    store = IndexStore(settings.index_dir)
    assert store.current() == live
    assert docs_in_index(settings) == {"a.md", "b.txt", "c.md"}
    assert not list(Path(settings.index_dir).rglob(".tmp-*"))
    assert "e.md" in {Path(p).name for p in build_index(folder, settings=settings, embedder=embedder).added}


def test_second_build_refuses_while_one_holds_the_lock(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    lock = IndexStore(settings.index_dir).lock()
    try:
        with pytest.raises(IndexBusy, match="another build"):
            build_index(folder, settings=settings, embedder=embedder)
    finally:
        lock.release()
    assert docs_in_index(settings) == {"a.md", "b.txt", "c.md"}


def test_incompatible_index_gives_rebuild_instruction(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    other = settings.replace(chunk_words=50)
    with pytest.raises(IndexIncompatible, match="rag index build"):
        Retriever.load(other, embedder)
    # a build with the new settings rebuilds everything instead of mixing
    report = build_index(folder, settings=other, embedder=embedder)
    assert len(report.added) == 3
    Retriever.load(other, embedder)


def test_old_format_and_tampered_files_are_clear_errors(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    store = IndexStore(settings.index_dir)
    gen = store.current()
    expect = expected_settings(settings, embedder)

    manifest = json.loads((gen / "manifest.json").read_text())
    (gen / "manifest.json").write_text(json.dumps(dict(manifest, format=0)))
    with pytest.raises(IndexIncompatible, match="format"):
        store.load(expect)
    (gen / "manifest.json").write_text(json.dumps(manifest))

    segment = Path(settings.index_dir) / "segments" / manifest["segments"][0]["name"]
    (segment / "vectors.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(IndexCorrupt, match="rebuild|Rebuild"):
        store.load(expect)


def test_bad_folders(tmp_path, settings, embedder):
    with pytest.raises(FolderNotFound):
        build_index(tmp_path / "missing", settings=settings, embedder=embedder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NothingToIndex, match="no readable briefing"):
        build_index(empty, settings=settings, embedder=embedder)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.txt").write_bytes(b"")
    (junk / "y.pdf").write_bytes(b"%PDF-1.4 broken")
    with pytest.raises(NothingToIndex, match="x.txt"):
        build_index(junk, settings=settings, embedder=embedder)
    with pytest.raises(IndexNotFound):
        IndexStore(settings.index_dir).load()


def test_bad_files_are_skipped_and_reported(folder, settings, embedder):
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (folder / "empty.txt").write_bytes(b"")
    report = build_index(folder, settings=settings, embedder=embedder)
    assert report.documents == 3
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert set(reasons) == {"broken.pdf", "empty.txt"}
    assert all("\n" not in r for r in reasons.values())


def test_resync_without_folder_uses_the_last_one(folder, settings, embedder):
    build_index(folder, settings=settings, embedder=embedder)
    write(folder, "z.md", "# Z\n\nUne note de plus.")
    report = build_index(None, settings=settings, embedder=embedder)
    assert [Path(p).name for p in report.added] == ["z.md"]


def test_file_deleted_or_unreadable_during_the_build(folder, settings, embedder, monkeypatch):
    """A file that vanishes between listing and reading, or can't be read, is skipped; the rest is indexed."""
    import rag.indexing

    write(folder, "vanishing.md", "# Bientôt supprimé\n\nCe fichier disparaît pendant la construction.")
    write(folder, "locked.md", "# Verrouillé\n\nPas de permission de lecture.")
    real = rag.indexing.read_bytes

    def flaky(path, *args):
        if path.name == "vanishing.md":
            path.unlink()
        if path.name == "locked.md":
            raise rag.indexing.LoadError("permission denied")  # what read_bytes says on EACCES
        return real(path, *args)

    monkeypatch.setattr(rag.indexing, "read_bytes", flaky)
    report = build_index(folder, settings=settings, embedder=embedder)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {"vanishing.md": "file disappeared while reading", "locked.md": "permission denied"}
    assert docs_in_index(settings) == {"a.md", "b.txt", "c.md"}


def test_permission_error_message(tmp_path, monkeypatch):
    from rag.loaders import LoadError, read_bytes

    p = write(tmp_path, "x.txt", "texte")
    monkeypatch.setattr(Path, "read_bytes", lambda self: (_ for _ in ()).throw(PermissionError(13, "denied")))
    with pytest.raises(LoadError, match="permission denied"):
        read_bytes(p)


PDF_PAGES = [
    [
        "Rome summit. The leaders of the European Union met in Rome on Monday to discuss",
        "the budget of the common defence fund and the rules for joint purchases of shells.",
        "The Italian presidency wanted an agreement before the summer, but the Dutch and",
        "the Swedish delegations asked for more time to consult their national parliaments.",
        "A new meeting of the finance ministers is planned in Brussels at the end of June.",
        "Diplomats said the compromise text would keep the ceiling of one hundred billion euros.",
    ],
    [],  # a blank page: still counted
    [
        "Truce in Kivu. The armed groups of North Kivu signed a ceasefire in Goma on Friday,",
        "under the mediation of Qatar and Angola, after three months of fighting near Sake.",
        "The agreement opens humanitarian corridors for the displaced families of the region",
        "and asks the fighters to withdraw twenty kilometres from the main roads within ten days.",
        "Observers from the African Union will monitor the line of contact from next week.",
        "The previous ceasefire, signed in the spring, had collapsed after only eleven days.",
    ],
    [
        "Gas prices. Wholesale gas prices fell to thirty-six euros per megawatt hour in Amsterdam,",
        "their lowest level since the winter, as storage sites filled faster than expected.",
        "Traders pointed to mild weather, strong Norwegian flows and more liquefied gas cargoes",
        "arriving from the United States and Qatar at the terminals of Rotterdam and Zeebrugge.",
        "Analysts warned that a cold autumn could still push prices up before the heating season.",
        "The European Commission kept its target of storage sites filled to ninety percent.",
    ],
]


def test_pdf_passages_carry_their_page(tmp_path, settings, embedder):
    from test_loaders import pages_pdf

    from rag.loaders import load_file

    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(pages_pdf(PDF_PAGES))
    write(folder, "note.txt", "Gaz\n\nLes prix du gaz ont baissé en Europe au printemps, selon les négociants.")
    build_index(folder, settings=settings, embedder=embedder)
    retriever = Retriever(IndexStore(settings.index_dir), embedder, settings)

    hit = retriever.search("ceasefire signed in Goma under the mediation of Qatar and Angola", k=1)[0]
    assert Path(hit.doc).name == "report.pdf" and "Goma" in hit.text
    assert hit.page == 3  # the blank page 2 counts, as in a PDF viewer
    assert load_file(hit.doc).page_at(hit.start) == 3
    gas = retriever.search("wholesale gas prices Amsterdam megawatt hour", k=1, mode="bm25")[0]
    assert Path(gas.doc).name == "report.pdf" and gas.page == 4
    first = retriever.search("Rome summit defence fund", k=1, mode="bm25")[0]
    assert first.page == 1
    txt = retriever.search("prix du gaz négociants", k=5, mode="bm25")
    assert [h.page for h in txt if h.doc.endswith("note.txt")] == [None]


def test_index_built_before_pages_loads_and_pdfs_get_pages_on_the_next_build(tmp_path, settings, embedder):
    from test_loaders import pages_pdf

    folder = tmp_path / "pdfs"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(pages_pdf(PDF_PAGES))
    write(folder, "note.txt", "Gaz\n\nLes prix du gaz ont baissé en Europe au printemps, selon les négociants.")
    build_index(folder, settings=settings, embedder=embedder)
    # Make it look like an index written before pages existed: no "page" in the chunks,
    # no "pages" in the manifest's PDF entry.
    gen = IndexStore(settings.index_dir).current()
    manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    chunks_file = Path(settings.index_dir) / "segments" / manifest["segments"][0]["name"] / "chunks.jsonl"
    lines = [json.loads(line) for line in chunks_file.read_text(encoding="utf-8").splitlines()]
    assert any(rec.get("page") == 3 for rec in lines)
    assert not any("page" in rec for rec in lines if rec["doc"].endswith("note.txt"))  # as before pages
    chunks_file.write_text(
        "".join(json.dumps({k: v for k, v in rec.items() if k not in ("page", "page_breaks")}) + "\n" for rec in lines),
        encoding="utf-8",
    )
    for entry in manifest["documents"].values():
        entry.pop("pages", None)
    (gen / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")

    old = IndexStore(settings.index_dir).load(expected_settings(settings, embedder))
    assert {c.page for c in old.chunks} == {None}  # still loadable, pages unknown
    report = build_index(folder, settings=settings, embedder=embedder)
    assert [Path(p).name for p in report.recleaned] == ["report.pdf"]  # re-read for its pages only
    assert report.changed == [] and report.added == []
    assert [Path(p).name for p in report.unchanged] == ["note.txt"]
    new = IndexStore(settings.index_dir).load()
    assert {c.page for c in new.chunks if c.doc.endswith("report.pdf")} >= {1, 3, 4}
