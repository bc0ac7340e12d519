"""The PostgreSQL index backend: pgvector (HNSW) + full-text search, shared by replicas and build workers.

Chosen by `RAG_STORE=postgresql://user:password@host:port/database` (`--store`); the FAISS folder
(rag/folder_index.py) stays the default. Same chunks, same scoring, same `Hit`s as the FAISS
Retriever; what changes is where candidates come from and who may write:

* Search: one REPEATABLE READ, read-only transaction per question, so a question sees each
  document wholly old or wholly new. Candidates come from SQL: the sentence units nearest the
  question (HNSW on inner product of the normalised e5 vectors, `hnsw.ef_search` =
  `settings.pg_ef_search`; an exact scan when filters leave few units), and the chunks matching
  any of the question's words (full-text search, French and English stemming, accents folded
  with `unaccent`). Their unit cosines and keyword scores come back from SQL, and the FAISS
  Retriever's own Python scoring (rag/retrieval.py: small-to-big dense score, z-normalised convex
  or RRF fusion, document weight, date bonus, near-duplicates) ranks them.
* Keyword score (`Hit.bm25_score`): BM25-like, sum over the question's content words (stop words
  of both languages removed as in rag/lexical.py) of idf(word) x ts_rank(chunk, word, 1). A word's
  tsquery ORs its French and English stems: the question's words are OR-ed, never AND-ed as
  `plainto_tsquery` would (a question holds words no passage has). idf counts the chunks holding
  the word, as BM25's: without it "Trump" would weigh as much as "Weimar". On the sample briefings
  the top passage is the FAISS Retriever's for 15 of 16 questions (60 of the 64 top-4 passages).
  Cost: PostgreSQL ranks every chunk holding a word; past LEXICAL_EXACT such chunks, only the rare
  words' chunks and the common words' LEXICAL_POOL best are scored (see `_lexical`).
* Progress: ("scan", files hashed, files) then ("embed", documents written, documents to write).
* Build: incremental by sha256, as rag/indexing.py, with the same cleaning and chunking
  (`rag.indexing.clean_and_chunk`). Work goes through a job table that workers claim with
  `SELECT ... FOR UPDATE SKIP LOCKED`: the claimed row stays locked until the document is
  written, in the same transaction, so a file is done once, and a killed worker's file goes back
  to the others. Two phases, since boilerplate lines depend on every file: "scan" jobs read new
  or changed files and store their line fingerprints; the coordinator computes the folder's
  repeated lines; "index" jobs clean, chunk, embed and write one document each, in ONE
  transaction that also bumps the store's version.

Schema (version `SCHEMA_VERSION`, in `rag_schema`): rag_state (version counter, chunk count),
rag_meta (embedder, chunking, source, skipped files), rag_documents (one row per file, with its
line fingerprints), rag_units (sentence units and their vectors; HNSW index), rag_chunks (chunks as
ranges of units; a generated tsvector column with a GIN index), rag_builds and rag_jobs (the queue).

>>> from rag.settings import Settings
>>> index = PostgresIndex(Settings(store="postgresql://rag:secret@localhost:5433/rag"), None)
>>> index.location
'postgresql://rag:***@localhost:5433/rag'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .backends import Progress, WorkReport
from .cleaning import RULES_VERSION, Boilerplate, find_boilerplate, line_hashes
from .dates import DateRange, keyword_query
from .duplicates import fold
from .errors import FolderNotFound, IndexBusy, IndexIncompatible, IndexNotFound, RagError
from .indexing import BuildReport, clean_and_chunk, existing_folder, expected_settings, nothing_to_index
from .lexical import content_tokens
from .loaders import LoadError, iter_files, load_file, read_bytes
from .retrieval import Filters, collapse_duplicates, fuse, with_document_and_date
from .schema import Hit, Skipped
from .settings import Settings, masked_url

if TYPE_CHECKING:
    import psycopg

    from .embedding import Embedder

log = logging.getLogger(__name__)

# 1: documents, units (vector + HNSW), chunks (tsvector + GIN), build queue
SCHEMA_VERSION = 1
SETTING = "RAG_STORE / --store"
BUILD_LOCK = 0x7261675F6275696C  # pg_advisory_lock key held by the one coordinator of a store ("rag_buil")
POLL = 0.2  # seconds between looks at the queue when every job left is taken
EXACT_UNITS = 20_000  # filters leaving at most this many units: exact dense search instead of HNSW
TABLES = ("rag_jobs", "rag_builds", "rag_chunks", "rag_units", "rag_documents", "rag_meta", "rag_state", "rag_schema")


class StoreUnavailable(RagError):
    """The PostgreSQL store cannot be reached or used (URL, server, password, extensions)."""


# --------------------------------------------------------------------------- connecting
def _password(url: str) -> str:
    m = re.match(r"^[a-z]+://[^:/@?#]*:([^@/?#]*)@", url.strip())
    return m.group(1) if m else ""


def _reason(error: Exception, url: str) -> str:
    """libpq's message on one line, without the password should it hold it."""
    text = " ".join(str(error).split())
    secret = _password(url)
    return text.replace(secret, "***") if secret else text


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A connection to the store, or a one-line StoreUnavailable naming what to fix."""
    import psycopg

    where = masked_url(url)
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10, application_name="briefing-rag")
    except psycopg.ProgrammingError:  # not a URL libpq can read; its message quotes the URL, password included
        raise StoreUnavailable(
            f"{SETTING} is not a valid PostgreSQL URL ({where}): expected postgresql://user:password@host:port/database"
        ) from None
    except psycopg.OperationalError as e:
        reason = _reason(e, url)
        if "password authentication failed" in reason or "no password supplied" in reason:
            msg = f"PostgreSQL at {where} refused the user or password: fix them in {SETTING}"
        elif "Connection refused" in reason:
            msg = (
                f"no PostgreSQL server answers at {where} (connection refused): start it, or fix host/port in {SETTING}"
            )
        elif "does not exist" in reason and "database" in reason:
            msg = f"PostgreSQL at {where}: the database does not exist: create it (createdb), or fix {SETTING}"
        elif "resolve host" in reason or "translate host name" in reason:
            msg = f"PostgreSQL host of {where} is unknown: fix {SETTING}"
        elif "timeout" in reason.lower():
            msg = f"PostgreSQL at {where} did not answer in 10 s: check the server and {SETTING}"
        else:
            msg = f"cannot connect to PostgreSQL at {where} ({reason[:200]}): check {SETTING}"
        raise StoreUnavailable(msg) from None


def _vector(v: np.ndarray) -> str:
    """pgvector's text form; 8 significant digits keep a float32 exactly."""
    return "[" + ",".join(format(float(x), ".8g") for x in v) + "]"


# --------------------------------------------------------------------------- schema
def _schema_sql(dim: int, unaccent_schema: str) -> list[str]:
    ext = f'"{unaccent_schema}"'
    return [
        "CREATE TABLE rag_schema (version integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
        f"INSERT INTO rag_schema (version) VALUES ({SCHEMA_VERSION})",
        # one row: the version every document transaction bumps (readers' cache key), chunk count for idf
        """CREATE TABLE rag_state (one boolean PRIMARY KEY DEFAULT true CHECK (one), store_id text NOT NULL,
             version bigint NOT NULL DEFAULT 0, chunks bigint NOT NULL DEFAULT 0)""",
        f"INSERT INTO rag_state (store_id) VALUES ('{uuid.uuid4().hex[:12]}')",
        "CREATE TABLE rag_meta (key text PRIMARY KEY, value jsonb NOT NULL)",
        # unaccent() is STABLE (it reads a dictionary chosen by search_path), so generated columns and
        # index expressions cannot call it: this wrapper names the dictionary and is IMMUTABLE.
        f"""CREATE FUNCTION rag_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
             RETURN {ext}.unaccent('{ext}.unaccent'::regdictionary, $1)""",
        # what keyword search sees of a chunk: the title then the text (rag.store.searchable_text), with
        # both stemmers, as rag/lexical.py
        """CREATE FUNCTION rag_tsvector(title text, body text) RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
             RETURN to_tsvector('pg_catalog.french'::regconfig, rag_unaccent(coalesce(title || E'\\n', '') || body))
                 || to_tsvector('pg_catalog.english'::regconfig, rag_unaccent(coalesce(title || E'\\n', '') || body))""",
        # any of the words, by either stemmer (plainto_tsquery would require all of them)
        """CREATE FUNCTION rag_tsquery(words text) RETURNS tsquery LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
             RETURN replace(plainto_tsquery('pg_catalog.french'::regconfig, rag_unaccent(words))::text,
                            ' & ', ' | ')::tsquery
                 || replace(plainto_tsquery('pg_catalog.english'::regconfig, rag_unaccent(words))::text,
                            ' & ', ' | ')::tsquery""",
        """CREATE TABLE rag_documents (
             doc_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             path text NOT NULL UNIQUE, name text NOT NULL, sha256 text NOT NULL, title text NOT NULL,
             date text NOT NULL, format text NOT NULL, chars integer NOT NULL, pages integer,
             lines jsonb NOT NULL, clean text NOT NULL, dropped jsonb NOT NULL, dropped_lines integer NOT NULL,
             chunks integer NOT NULL, units integer NOT NULL, indexed_at timestamptz NOT NULL DEFAULT now())""",
        "CREATE INDEX rag_documents_name ON rag_documents (name)",
        "CREATE INDEX rag_documents_date ON rag_documents (date)",
        f"""CREATE TABLE rag_units (
             doc_id bigint NOT NULL REFERENCES rag_documents ON DELETE CASCADE, ord integer NOT NULL,
             start integer NOT NULL, "end" integer NOT NULL, embedding vector({int(dim)}) NOT NULL,
             PRIMARY KEY (doc_id, ord))""",
        # inner product = cosine on e5's normalised vectors, and cheaper
        "CREATE INDEX rag_units_hnsw ON rag_units USING hnsw (embedding vector_ip_ops) WITH (m = 16, ef_construction = 64)",
        """CREATE TABLE rag_chunks (
             chunk_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             doc_id bigint NOT NULL REFERENCES rag_documents ON DELETE CASCADE, ord integer NOT NULL,
             start integer NOT NULL, "end" integer NOT NULL, text text NOT NULL, title text NOT NULL,
             date text NOT NULL, page integer, page_breaks jsonb NOT NULL,
             unit_first integer NOT NULL, unit_stop integer NOT NULL,
             tsv tsvector GENERATED ALWAYS AS (rag_tsvector(title, text)) STORED,
             UNIQUE (doc_id, ord))""",
        "CREATE INDEX rag_chunks_units ON rag_chunks (doc_id, unit_first)",
        "CREATE INDEX rag_chunks_tsv ON rag_chunks USING gin (tsv)",
        """CREATE TABLE rag_builds (
             build_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, folder text NOT NULL,
             state text NOT NULL CHECK (state IN ('scan', 'index', 'done', 'failed', 'abandoned')),
             coordinator integer NOT NULL, boilerplate jsonb, started_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE rag_jobs (
             build_id bigint NOT NULL REFERENCES rag_builds ON DELETE CASCADE,
             phase text NOT NULL CHECK (phase IN ('scan', 'index')), path text NOT NULL,
             state text NOT NULL DEFAULT 'todo' CHECK (state IN ('todo', 'done', 'skipped')),
             kind text, reason text, sha256 text, lines jsonb, chunks integer, units integer,
             worker text, done_at timestamptz, PRIMARY KEY (build_id, phase, path))""",
    ]


def _extension(conn, name: str, what: str, url: str) -> str:
    """Create the extension if needed; its schema. One-line errors saying how to install it."""
    import psycopg

    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = %s", (name,)
    ).fetchone()
    if row:
        return str(row[0]).strip('"')
    try:
        conn.execute(f"CREATE EXTENSION IF NOT EXISTS {name}")
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        raise StoreUnavailable(
            f"PostgreSQL at {masked_url(url)}: this user may not create the {name} extension; "
            f"have an administrator run CREATE EXTENSION {name}; in that database ({SETTING} names it)"
        ) from None
    except psycopg.Error as e:
        conn.rollback()
        log.debug("CREATE EXTENSION %s: %s", name, _reason(e, url))
        raise StoreUnavailable(
            f"PostgreSQL at {masked_url(url)} lacks the {name} extension ({what}): install it on the server "
            f"({'pgvector 0.8 or later, package postgresql-<major>-pgvector' if name == 'vector' else 'PostgreSQL contrib, package postgresql-contrib'}), "
            f"or point {SETTING} at a server that has it"
        ) from None
    row = conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = %s", (name,)
    ).fetchone()
    return str(row[0]).strip('"')


def _schema_version(conn) -> int | None:
    """The store's schema version; None when it holds no briefing-rag schema."""
    if conn.execute("SELECT to_regclass('rag_schema')").fetchone()[0] is None:
        return None
    row = conn.execute("SELECT max(version) FROM rag_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _incompatible_schema(version: int, url: str) -> IndexIncompatible:
    where = masked_url(url)
    if version > SCHEMA_VERSION:
        return IndexIncompatible(
            f"the store at {where} has schema version {version}, newer than this briefing-rag's "
            f"{SCHEMA_VERSION}: upgrade briefing-rag, or rebuild it: rag index build <folder> --full ({SETTING})"
        )
    return IndexIncompatible(
        f"the store at {where} has schema version {version}, older than this briefing-rag's {SCHEMA_VERSION}: "
        f"rebuild it: rag index build <folder> --full ({SETTING})"
    )


def _meta(conn) -> dict:
    return {k: v for k, v in conn.execute("SELECT key, value FROM rag_meta").fetchall()}


def _check_expect(meta: dict, expect: dict, url: str) -> None:
    """The store must have been built with this embedder and chunking (as rag.store.check_compatible)."""
    built = meta.get("expect")
    if built is None:
        return  # created, nothing built yet
    for key in ("embedder", "chunking"):
        if built.get(key) != expect[key]:
            raise IndexIncompatible(
                f"the store at {masked_url(url)} was built with other {key} settings ({built.get(key)}; now "
                f"{expect[key]}): rebuild it: rag index build <folder> --full ({SETTING})"
            )


def _open_for_reading(conn, url: str, expect: dict | None) -> dict:
    """Check schema version and embedder; the store's meta. IndexNotFound when it holds no index."""
    version = _schema_version(conn)
    if version is None:
        raise IndexNotFound(
            f"no index in the store at {masked_url(url)}. Build one: rag index build <folder> ({SETTING})"
        )
    if version != SCHEMA_VERSION:
        raise _incompatible_schema(version, url)
    meta = _meta(conn)
    if expect is not None:
        _check_expect(meta, expect, url)
    return meta


# --------------------------------------------------------------------------- the index
class PostgresIndex:
    """`rag.backends.Index` in a PostgreSQL database (pgvector + full-text search)."""

    def __init__(self, settings: Settings, embedder: Embedder | None):
        self.settings, self.embedder = settings, embedder
        self.url = settings.store
        self.location = masked_url(self.url)
        self._pool: Any = None
        self._pool_lock = threading.Lock()

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            from .embedding import Embedder

            self.embedder = Embedder.load(self.settings)
        return self.embedder

    def _expect(self) -> dict:
        return expected_settings(self.settings, self._embedder())

    @contextmanager
    def _reading(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a read-only snapshot transaction (one consistent view of the store)."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._get_pool()
        try:
            with pool.connection(timeout=10) as conn:
                with conn.transaction():
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield conn
        except (psycopg.OperationalError, PoolTimeout) as e:  # the server went away since the pool opened
            raise StoreUnavailable(
                f"lost the PostgreSQL store at {self.location} ({_reason(e, self.url)[:200]}): check the server "
                f"and {SETTING}"
            ) from None

    def _get_pool(self):
        with self._pool_lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                connect(self.url, autocommit=True).close()  # a clear error now rather than a pool timeout
                pool = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=8,
                    kwargs={"connect_timeout": 10, "application_name": "briefing-rag"},
                    check=ConnectionPool.check_connection,  # a restarted server: reconnect, not fail
                    open=False,
                    name="briefing-rag",
                )
                pool.open(wait=True, timeout=30)
                self._pool = pool
            return self._pool

    def close(self) -> None:
        """Close the searchers' connections (the index can still be used: they reopen)."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    # ------------------------------------------------------------------ reading
    def status(self) -> dict:
        with self._reading() as conn:
            meta = _open_for_reading(conn, self.url, None)
            chunks = _one(conn, "SELECT chunks FROM rag_state")[0]
            files = self._documents(conn)
        expect = meta.get("expect") or {}
        return {
            "index_dir": self.location,
            "store": self.location,
            "source": meta.get("source"),
            "built_at": meta.get("built_at"),
            "documents": len(files),
            "chunks": int(chunks),
            "embedder": (expect.get("embedder") or {}).get("name"),
            "chunking": expect.get("chunking"),
            "skipped": meta.get("skipped", []),
            "boilerplate_lines": sum(d.get("dropped_lines", 0) for d in files.values()),
            "files": files,
        }

    def version(self) -> object:
        """'<store id>:<counter>': the counter is bumped by every document written or removed."""
        with self._get_pool().connection() as conn:
            if _schema_version(conn) is None:
                return None
            store_id, version = conn.execute("SELECT store_id, version FROM rag_state").fetchone()
            return f"{store_id}:{version}"

    def documents(self) -> dict[str, dict]:
        with self._reading() as conn:
            _open_for_reading(conn, self.url, None)
            return self._documents(conn)

    @staticmethod
    def _documents(conn) -> dict[str, dict]:
        rows = conn.execute(
            "SELECT path, sha256, title, date, format, chars, pages, clean, dropped, dropped_lines, chunks "
            "FROM rag_documents ORDER BY path"
        ).fetchall()
        out = {}
        for path, sha, title, date, fmt, chars, pages, clean, dropped, dropped_lines, chunks in rows:
            entry = {"sha256": sha, "title": title, "date": date, "format": fmt, "chars": chars}
            if pages is not None:
                entry["pages"] = pages
            entry.update(clean=clean, dropped=dropped, dropped_lines=dropped_lines, chunks=chunks)
            out[path] = entry
        return out

    def searcher(self) -> PostgresSearcher:
        return PostgresSearcher(self)

    # ------------------------------------------------------------------ building
    def build(
        self,
        folder: str | os.PathLike | None = None,
        *,
        full: bool = False,
        progress: Progress | None = None,
        workers: int = 1,
    ) -> BuildReport:
        """Sync the store with `folder` as the coordinator of a build; `workers` - 1 more local worker
        processes join it (others may join from any machine that sees the folder at the same path:
        `PostgresIndex(settings, embedder).work(wait=...)`, or `python -m rag.postgres work`).

        Raises FolderNotFound, NothingToIndex, IndexBusy (another coordinator), StoreUnavailable.

        >>> PostgresIndex(Settings.from_env(), None).build("samples/briefings").documents   # doctest: +SKIP
        10
        """
        t0 = time.perf_counter()
        control = connect(self.url, autocommit=True)
        helpers: list[subprocess.Popen] = []
        build_id = None
        try:
            if not _one(control, "SELECT pg_try_advisory_lock(%s)", (BUILD_LOCK,))[0]:
                raise IndexBusy(
                    f"another build is running on the store at {self.location}; wait for it to finish, "
                    "or join it as a worker (the current index stays usable meanwhile)"
                )
            expect = self._expect()
            before = _meta(control) if _one(control, "SELECT to_regclass('rag_meta')")[0] else {}
            self._prepare(control, expect, full)
            # builds whose coordinator died: their workers stop, their jobs are never taken again
            control.execute("UPDATE rag_builds SET state = 'abandoned' WHERE state IN ('scan', 'index')")
            meta = _meta(control)
            folder = self._resolve_folder(folder, {"source": meta.get("source") or before.get("source")})
            report = BuildReport(folder=str(folder), index_dir=self.location)
            limit = int(self.settings.max_file_mb * 2**20)

            # 1. hash every file; those new or changed are read by "scan" jobs
            t = time.perf_counter()
            old = {
                path: {"sha256": sha, "lines": lines, "clean": clean, "chunks": chunks}
                for path, sha, lines, clean, chunks in control.execute(
                    "SELECT path, sha256, lines, clean, chunks FROM rag_documents"
                )
            }
            files = list(iter_files(folder))
            digests: dict[str, str] = {}
            for i, path in enumerate(files):
                if progress:
                    progress("scan", i, len(files))
                key = os.path.abspath(path)
                try:
                    digests[key] = hashlib.sha256(read_bytes(path, limit)).hexdigest()
                except LoadError as e:
                    report.skipped.append(Skipped(key, str(e)))
                    log.warning("skipped %s: %s", path, e)
            to_scan = sorted(k for k, d in digests.items() if old.get(k, {}).get("sha256") != d)
            build_id = _one(
                control,
                "INSERT INTO rag_builds (folder, state, coordinator) VALUES (%s, 'scan', pg_backend_pid()) "
                "RETURNING build_id",
                (str(folder),),
            )[0]
            self._enqueue(control, build_id, "scan", [(p, None) for p in to_scan])
            if to_scan and workers > 1:
                helpers = self._spawn_workers(workers - 1)
            self._drain(build_id, "scan", None)
            kept: dict[str, list[str]] = {k: old[k]["lines"] for k in digests if k not in to_scan}
            for path, state, reason, lines in control.execute(
                "SELECT path, state, reason, lines FROM rag_jobs WHERE build_id = %s AND phase = 'scan' ORDER BY path",
                (build_id,),
            ):
                if state == "done":
                    kept[path] = lines
                else:
                    report.skipped.append(Skipped(path, reason))
            if progress:
                progress("scan", len(files), len(files))
            if not kept:
                raise nothing_to_index(folder, bool(files), report.skipped)

            # 2. the folder's repeated lines; which files to (re)clean, chunk and embed
            boilerplate = find_boilerplate({key: kept[key] for key in sorted(kept)})
            jobs: list[tuple[str, str]] = []
            for key in sorted(kept):
                if key not in to_scan and old[key]["clean"] == boilerplate.key(kept[key]):
                    report.unchanged.append(key)
                else:
                    jobs.append((key, "recleaned" if key not in to_scan else "changed" if key in old else "added"))
            removed = sorted(set(old) - set(kept))  # deleted, or now unreadable (also in skipped)
            report.timings["load_and_chunk"] = time.perf_counter() - t
            skipped = [{"path": s.path, "reason": s.reason} for s in report.skipped]
            if not jobs and not removed and meta.get("skipped", []) == skipped:
                control.execute("UPDATE rag_builds SET state = 'done' WHERE build_id = %s", (build_id,))
                control.execute("DELETE FROM rag_builds WHERE build_id < %s", (build_id,))
                report.documents, report.chunks = len(kept), sum(old[k]["chunks"] for k in kept)
                report.timings["total"] = time.perf_counter() - t0
                return report  # nothing changed

            # 3. index jobs: one document per transaction, by whichever worker claims it
            t = time.perf_counter()
            if removed:
                self._remove(removed)
            control.execute(
                "UPDATE rag_builds SET state = 'index', boilerplate = %s WHERE build_id = %s",
                (_json({"groups": dict(boilerplate.groups), "files": boilerplate.files}), build_id),
            )
            self._enqueue(control, build_id, "index", jobs)
            if jobs and workers > 1 and not helpers:
                helpers = self._spawn_workers(workers - 1)
            self._drain(build_id, "index", progress)
            gone = []
            for path, state, reason, kind, chunks, units in control.execute(
                "SELECT path, state, reason, kind, chunks, units FROM rag_jobs "
                "WHERE build_id = %s AND phase = 'index' ORDER BY path",
                (build_id,),
            ):
                if state == "skipped":
                    report.skipped.append(Skipped(path, reason))
                    gone.append(path)
                    continue
                getattr(report, kind).append(path)
                report.embedded_chunks += chunks
                report.embedded_units += units
            if gone:  # readable when scanned, not when indexed
                self._remove([p for p in gone if p in old])
                removed = sorted(set(removed) | {p for p in gone if p in old})
            report.removed = removed
            report.timings["embed"] = time.perf_counter() - t

            # 4. what the store describes; this build is done
            skipped = [{"path": s.path, "reason": s.reason} for s in report.skipped]
            with control.transaction():
                self._set_meta(
                    control,
                    expect=expect,
                    source=str(folder),
                    built_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                    skipped=skipped,
                    boilerplate={"rules": RULES_VERSION, "repeated_lines": len(boilerplate)},
                )
                if skipped != meta.get("skipped", []):  # what status() shows changed: readers' caches too
                    control.execute("UPDATE rag_state SET version = version + 1")
            control.execute("UPDATE rag_builds SET state = 'done' WHERE build_id = %s", (build_id,))
            control.execute("DELETE FROM rag_builds WHERE build_id < %s", (build_id,))
            report.documents, report.chunks, report.boilerplate_lines = _one(
                control,
                "SELECT count(*), (SELECT chunks FROM rag_state), coalesce(sum(dropped_lines), 0) FROM rag_documents",
            )
            report.wrote = True
        except BaseException:
            if build_id is not None and not control.closed:
                try:
                    control.execute(
                        "UPDATE rag_builds SET state = 'failed' WHERE build_id = %s AND state IN ('scan', 'index')",
                        (build_id,),
                    )
                except Exception:  # the connection may be what failed
                    pass
            raise
        finally:
            # all jobs are done (or the build failed): the helpers are idle, or still loading their model
            for proc in helpers:
                proc.terminate()
            for proc in helpers:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            control.close()
        report.timings["total"] = time.perf_counter() - t0
        return report

    def _resolve_folder(self, folder, meta: dict) -> Path:
        if folder is None:
            if not meta.get("source"):
                raise FolderNotFound(
                    f"no folder given and no previous build in the store at {self.location}. "
                    "Usage: rag index build <folder>"
                )
            folder = meta["source"]
        return existing_folder(folder)

    def _prepare(self, control, expect: dict, full: bool) -> None:
        """Extensions and tables, made when missing; rebuilt from scratch with `full`, an older schema or
        another embedder or chunking (as the FAISS build rebuilds an incompatible index)."""
        version = _schema_version(control)
        if version is not None and not full:
            if version > SCHEMA_VERSION:
                raise _incompatible_schema(version, self.url)
            if version < SCHEMA_VERSION:
                log.warning("store schema %s is older than %s: rebuilding it fully", version, SCHEMA_VERSION)
                full = True
            else:
                try:
                    _check_expect(_meta(control), expect, self.url)
                except IndexIncompatible as e:
                    log.warning("store not reused, rebuilding fully: %s", e)
                    full = True
        _extension(control, "vector", "pgvector, the vector type and HNSW index", self.url)
        installed = _one(control, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")[0]
        if _version(installed) < (0, 5):
            raise StoreUnavailable(
                f"PostgreSQL at {self.location} has pgvector {installed}; HNSW indexes need 0.5 or later (0.8 for "
                f"filtered searches): upgrade it on the server, then ALTER EXTENSION vector UPDATE ({SETTING})"
            )
        unaccent = _extension(control, "unaccent", "accent folding for full-text search", self.url)
        if version is not None and not full:
            return
        with control.transaction():
            for table in TABLES:
                control.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            for fn in ("rag_tsquery(text)", "rag_tsvector(text, text)", "rag_unaccent(text)"):
                control.execute(f"DROP FUNCTION IF EXISTS {fn}")
            for statement in _schema_sql(expect["embedder"]["dim"], unaccent):
                control.execute(statement)
            control.execute("INSERT INTO rag_meta (key, value) VALUES ('expect', %s)", (_json(expect),))

    @staticmethod
    def _set_meta(conn, **values) -> None:
        for key, value in values.items():
            conn.execute(
                "INSERT INTO rag_meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                (key, _json(value)),
            )

    @staticmethod
    def _enqueue(conn, build_id: int, phase: str, jobs: Sequence[tuple[str, str | None]]) -> None:
        if not jobs:
            return
        with conn.cursor().copy("COPY rag_jobs (build_id, phase, path, kind) FROM STDIN") as copy:
            for path, kind in jobs:
                copy.write_row((build_id, phase, path, kind))

    def _remove(self, paths: list[str]) -> None:
        with connect(self.url, autocommit=True) as conn:
            with conn.transaction():
                n = _one(
                    conn,
                    "WITH gone AS (DELETE FROM rag_documents WHERE path = ANY(%s) RETURNING chunks) "
                    "SELECT coalesce(sum(chunks), 0) FROM gone",
                    (paths,),
                )[0]
                conn.execute("UPDATE rag_state SET version = version + 1, chunks = chunks - %s", (n,))

    def _spawn_workers(self, n: int) -> list[subprocess.Popen]:
        """Local worker processes; the settings travel as RAG_* variables (the password not on a command line)."""
        env = dict(os.environ)
        for f in fields(Settings):
            env[f"RAG_{f.name.upper()}"] = str(getattr(self.settings, f.name))
        env.setdefault("HF_HUB_OFFLINE", "1")
        return [
            subprocess.Popen(
                [sys.executable, "-m", "rag.postgres", "work", "--wait", "30"], env=env, stdout=subprocess.DEVNULL
            )
            for _ in range(n)
        ]

    def _drain(self, build_id: int, phase: str, progress: Progress | None) -> None:
        """Work on this phase's jobs until none is left (others' included: a dead worker's job comes back)."""
        with connect(self.url, autocommit=True) as conn:
            worker = _worker_name()
            while True:
                if self._work_one(conn, build_id, phase, worker) is not None:
                    if progress and phase == "index":
                        done, total = _one(
                            conn,
                            "SELECT count(*) FILTER (WHERE state <> 'todo'), count(*) FROM rag_jobs "
                            "WHERE build_id = %s AND phase = %s",
                            (build_id, phase),
                        )
                        progress("embed", done, total)
                    continue
                left = _one(
                    conn,
                    "SELECT count(*) FROM rag_jobs WHERE build_id = %s AND phase = %s AND state = 'todo'",
                    (build_id, phase),
                )[0]
                if not left:
                    return
                time.sleep(POLL)

    def work(self, *, wait: float = 0.0, progress: Progress | None = None) -> WorkReport:
        """Join the builds running on this store as an extra worker, until none is left.

        Waits up to `wait` seconds for a build to start. The folder must be readable here at the
        path the coordinator gave (a shared file system). Returns what this worker did.

        >>> PostgresIndex(Settings.from_env(), None).work(wait=60).paths()   # doctest: +SKIP
        ['/data/briefings/a.md', ...]
        """
        worker = _worker_name()
        report = WorkReport(worker)
        deadline = time.monotonic() + wait
        joined = False
        with connect(self.url, autocommit=True) as conn:
            while True:
                version = _schema_version(conn)
                if version not in (None, SCHEMA_VERSION):
                    raise _incompatible_schema(version or 0, self.url)
                row = None
                if version is not None:
                    # a build whose coordinator died (its session, hence its lock, is gone) is not joined
                    row = conn.execute(
                        "SELECT b.build_id, b.state, b.folder FROM rag_builds b WHERE b.state IN ('scan', 'index') "
                        "AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
                        "AND l.pid = b.coordinator) ORDER BY b.build_id DESC LIMIT 1"
                    ).fetchone()
                if row is None:
                    if joined or time.monotonic() > deadline:
                        return report
                    time.sleep(POLL)
                    continue
                build_id, phase, folder = row
                if not joined:
                    if not Path(folder).is_dir():
                        raise FolderNotFound(
                            f"this worker cannot see the folder being indexed, {folder}: "
                            "mount it at the same path here, or run the worker where it is"
                        )
                    _check_expect(_meta(conn), self._expect(), self.url)
                    joined = True
                path = self._work_one(conn, build_id, phase, worker)
                if path is None:
                    time.sleep(POLL)
                    continue
                report.done.append((phase, path))
                if progress:
                    progress("embed" if phase == "index" else "scan", len(report.done), 0)

    def _work_one(self, conn, build_id: int, phase: str, worker: str) -> str | None:
        """Claim one job of the phase and do it; its path, or None when none is free.

        The claimed row stays locked (FOR UPDATE) in the transaction that writes the result: no other
        worker can take it, and if this one dies the lock goes with its connection and the job is free again.
        """
        with conn.transaction():
            row = conn.execute(
                "SELECT j.path, j.kind, b.boilerplate FROM rag_jobs j JOIN rag_builds b USING (build_id) "
                "WHERE j.build_id = %s AND j.phase = %s AND j.state = 'todo' AND b.state = j.phase "
                "ORDER BY j.path LIMIT 1 FOR UPDATE OF j SKIP LOCKED",
                (build_id, phase),
            ).fetchone()
            if row is None:
                return None
            path, kind, boilerplate = row
            limit = int(self.settings.max_file_mb * 2**20)
            try:
                doc = load_file(path, read_bytes(Path(path), limit))
            except LoadError as e:
                log.warning("skipped %s: %s", path, e)
                conn.execute(
                    "UPDATE rag_jobs SET state = 'skipped', reason = %s, worker = %s, done_at = now() "
                    "WHERE build_id = %s AND phase = %s AND path = %s",
                    (str(e), worker, build_id, phase, path),
                )
                return path
            lines = line_hashes(doc.text)
            if phase == "scan":
                conn.execute(
                    "UPDATE rag_jobs SET state = 'done', sha256 = %s, lines = %s, worker = %s, done_at = now() "
                    "WHERE build_id = %s AND phase = 'scan' AND path = %s",
                    (doc.sha256, _json(lines), worker, build_id, path),
                )
                return path
            bp = Boilerplate(boilerplate["groups"], boilerplate["files"])
            entry, parts, _ = clean_and_chunk(doc, bp, self.settings, lines)
            vectors = self._embedder().passages(parts.texts)
            self._write_document(conn, path, entry, parts, vectors)
            conn.execute(
                "UPDATE rag_jobs SET state = 'done', sha256 = %s, chunks = %s, units = %s, worker = %s, "
                "done_at = now() WHERE build_id = %s AND phase = 'index' AND path = %s",
                (doc.sha256, len(parts.chunks), len(parts.units), worker, build_id, path),
            )
            return path

    @staticmethod
    def _write_document(conn, path: str, entry: dict, parts, vectors: np.ndarray) -> None:
        """Replace one document (rows of rag_documents, rag_units, rag_chunks) inside the caller's transaction."""
        old = conn.execute("DELETE FROM rag_documents WHERE path = %s RETURNING chunks", (path,)).fetchone()
        doc_id = conn.execute(
            "INSERT INTO rag_documents (path, name, sha256, title, date, format, chars, pages, lines, clean, "
            "dropped, dropped_lines, chunks, units) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "RETURNING doc_id",
            (
                path,
                Path(path).name,
                entry["sha256"],
                entry["title"],
                entry["date"] or "",
                entry["format"],
                entry["chars"],
                entry.get("pages"),
                _json(entry["lines"]),
                entry["clean"],
                _json(entry["dropped"]),
                entry["dropped_lines"],
                len(parts.chunks),
                len(parts.units),
            ),
        ).fetchone()[0]
        with conn.cursor().copy('COPY rag_units (doc_id, ord, start, "end", embedding) FROM STDIN') as copy:
            for i, ((a, b), v) in enumerate(zip(parts.units.tolist(), vectors)):
                copy.write_row((doc_id, i, a, b, _vector(v)))
        with conn.cursor().copy(
            'COPY rag_chunks (doc_id, ord, start, "end", text, title, date, page, page_breaks, unit_first, unit_stop) '
            "FROM STDIN"
        ) as copy:
            for i, (c, (first, stop)) in enumerate(zip(parts.chunks, parts.ranges.tolist())):
                copy.write_row(
                    (
                        doc_id,
                        i,
                        c.start,
                        c.end,
                        c.text,
                        c.title,
                        c.date or "",
                        c.page,
                        json.dumps(c.page_breaks),
                        first,
                        stop,
                    )
                )
        conn.execute(
            "UPDATE rag_state SET version = version + 1, chunks = chunks + %s",
            (len(parts.chunks) - (old[0] if old else 0),),
        )


def _version(text: str) -> tuple[int, ...]:
    """'0.8.1' -> (0, 8, 1)."""
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _one(conn, query: str, params: Any = None) -> tuple:
    """The one row a query returns."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row


def _json(value):
    from psycopg.types.json import Jsonb

    return Jsonb(value)


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- searching
@dataclass
class _Candidate:
    chunk_id: int
    doc: str
    start: int
    end: int
    text: str
    title: str
    date: str
    page: int | None
    page_breaks: tuple[tuple[int, int], ...]
    sentences: tuple[tuple[int, int, float], ...]
    lexical: float


class PostgresSearcher:
    """`rag.backends.Searcher` over a PostgresIndex: every search reads the store as it is now."""

    def __init__(self, index: PostgresIndex):
        self.index = index
        self.settings = index.settings
        self.embedder = index._embedder()
        with index._reading() as conn:  # fail now, as the FAISS Retriever does, on a missing or other index
            _open_for_reading(conn, index.url, expected_settings(self.settings, self.embedder))

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: str = "hybrid",
        filters: Filters | None = None,
        query_vector: np.ndarray | None = None,
        dates: DateRange | None = None,
    ) -> list[Hit]:
        """Top-k passages for `query`, best first, as `rag.retrieval.Retriever.search` (same arguments)."""
        s = self.settings
        k = k or s.top_k
        if not query.strip():
            return []
        depth = max(s.candidates, k)
        q = query_vector if query_vector is not None else self.embedder.queries([query])[0]
        qv = _vector(np.asarray(q, dtype=np.float32))
        words = list(dict.fromkeys(content_tokens(keyword_query(query, dates)))) if mode in ("hybrid", "bm25") else []
        expect = expected_settings(s, self.embedder)
        with self.index._reading() as conn:
            _open_for_reading(conn, self.index.url, expect)
            n, vector_version = _one(
                conn, "SELECT chunks, (SELECT extversion FROM pg_extension WHERE extname = 'vector') FROM rag_state"
            )
            if n == 0:
                return []
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(s.pg_ef_search, 1)),))
            if _version(vector_version or "0") >= (0, 8):
                # filtered HNSW scans go on until enough rows pass the filter (before 0.8, at most ef_search rows)
                conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            docs_sql, params = _filter_sql(filters)
            dense_rows: list[int] = []
            if mode in ("hybrid", "dense"):
                dense_rows = self._dense(conn, qv, depth, docs_sql, params)
            terms: list[_Term] = []
            lexical: list[tuple[int, float]] = []
            if words:
                terms = _terms(conn, words, n)
                if terms:
                    lexical = self._lexical(conn, terms, depth, docs_sql, params)
            favoured: list[int] = []
            if dates is not None and dates.start and s.date_weight and mode in ("hybrid", "dense"):
                # the closest passages of the period compete even when the whole index holds better matches
                period = "d.date <> '' AND d.date BETWEEN %(p_start)s AND %(p_end)s"
                where = f"({docs_sql}) AND {period}" if docs_sql else period
                favoured = self._dense(conn, qv, depth, where, dict(params, p_start=dates.start, p_end=dates.end))
            rows = np.unique(np.array(dense_rows + [r for r, _ in lexical] + favoured, dtype=np.int64))
            if len(rows) == 0:
                return []
            cands = self._candidates(conn, qv, rows, terms)
        rows = np.array([c.chunk_id for c in cands], dtype=np.int64)  # sorted, as np.unique's
        cos = [np.array([x for _, _, x in c.sentences]) for c in cands]
        cosine = np.array([x.max() for x in cos])
        dense = cosine + s.sentence_mean_weight * np.array([x.mean() for x in cos])
        dense_ranking = np.array(dense_rows, dtype=np.int64)
        dense_top = dense[np.searchsorted(rows, dense_ranking)]
        bm25 = bm25_top = None
        if mode in ("hybrid", "bm25"):
            bm25 = np.array([c.lexical for c in cands])
            # the best keyword scores of the index, as the FAISS side's top-`depth` over all chunks (zeros included)
            bm25_top = np.zeros(min(depth, n))
            bm25_top[: len(lexical)] = [x for _, x in lexical][: len(bm25_top)]
        lexical_ranking = np.array([r for r, _ in lexical], dtype=np.int64)
        fused = fuse(s, rows, dense, dense_ranking, dense_top, lexical_ranking, bm25, bm25_top)
        fused = with_document_and_date(s, fused, [c.doc for c in cands], [c.date for c in cands], dates)
        order = sorted(range(len(rows)), key=lambda i: (-fused[i], rows[i]))

        def closest(i: int) -> tuple[str, ...]:
            c = cands[i]
            a, b, _ = max(c.sentences, key=lambda t: t[2])
            return tuple(fold(c.text[max(0, a - c.start) : b - c.start]))

        picks = collapse_duplicates(
            [c.text for c in cands], [c.doc for c in cands], [c.date for c in cands], rows, fused, order, k, closest
        )
        return [
            Hit(
                doc=cands[i].doc,
                start=cands[i].start,
                end=cands[i].end,
                text=cands[i].text,
                score=score,
                title=cands[i].title,
                date=cands[i].date,
                chunk_id=int(rows[i]),
                dense_score=float(cosine[i]),
                bm25_score=float(bm25[i]) if bm25 is not None else None,
                sentences=cands[i].sentences,
                page=cands[i].page,
                page_breaks=cands[i].page_breaks,
                also_in=also_in,
            )
            for i, score, also_in in picks
        ]

    @staticmethod
    def _dense(conn, qv: str, depth: int, where: str, params: dict) -> list[int]:
        """The `depth` chunks with the closest sentence units, best first (ties: chunk id)."""
        allowed = f"doc_id IN (SELECT d.doc_id FROM rag_documents d WHERE {where})" if where else "true"
        exact = False
        if where:
            units = conn.execute(f"SELECT coalesce(sum(d.units), 0) FROM rag_documents d WHERE {where}", params)
            exact = units.fetchone()[0] <= EXACT_UNITS
        # "+ 0" keeps the planner off the HNSW index: few units are ranked exactly (as FAISS does under filters)
        distance = "(embedding <#> %(q)s::vector)" + (" + 0" if exact else "")
        sql = (
            f"WITH u AS (SELECT doc_id, ord, embedding <#> %(q)s::vector AS d FROM rag_units WHERE {allowed} "
            f"ORDER BY {distance} LIMIT %(m)s) "
            "SELECT c.chunk_id FROM u JOIN rag_chunks c ON c.doc_id = u.doc_id AND u.ord >= c.unit_first "
            "AND u.ord < c.unit_stop GROUP BY c.chunk_id ORDER BY min(u.d), c.chunk_id LIMIT %(depth)s"
        )
        # a chunk has ~6 units and neighbours share one: 4x depth units give >= depth chunks (as rag/retrieval.py)
        return [r[0] for r in conn.execute(sql, dict(params, q=qv, m=4 * depth, depth=depth))]

    @staticmethod
    def _lexical(conn, terms: list[_Term], depth: int, where: str, params: dict) -> list[tuple[int, float]]:
        """The `depth` chunks with the best keyword scores (> 0), best first.

        Every chunk holding a word is scored when they are at most LEXICAL_EXACT in all (exact, as BM25
        over the whole index). Beyond, the chunks of the rare words (df <= LEXICAL_POOL) are all scored,
        and of those holding only common words, the LEXICAL_POOL best by plain ts_rank: scoring them all
        costs a tsvector read per chunk holding "Europe" (0.5-1.4 s for 50k chunks of common words).
        """
        allowed = f"AND c.doc_id IN (SELECT d.doc_id FROM rag_documents d WHERE {where})" if where else ""
        args = dict(params, tq=[t.query for t in terms], idf=[t.idf for t in terms], depth=depth)
        if sum(t.df for t in terms) <= LEXICAL_EXACT:
            pool = f"SELECT c.chunk_id FROM rag_chunks c WHERE c.tsv @@ %(any)s::tsquery {allowed}"
            args["any"] = _any(terms)
        else:
            rare = [t for t in terms if t.df <= LEXICAL_POOL]
            common = [t for t in terms if t.df > LEXICAL_POOL]
            parts = []
            if rare:
                parts.append(f"SELECT c.chunk_id FROM rag_chunks c WHERE c.tsv @@ %(rare)s::tsquery {allowed}")
                args["rare"] = _any(rare)
            if common:
                parts.append(
                    f"(SELECT c.chunk_id FROM rag_chunks c WHERE c.tsv @@ %(common)s::tsquery {allowed} "
                    "ORDER BY ts_rank(c.tsv, %(common)s::tsquery, 1) DESC LIMIT %(pool)s)"
                )
                args.update(common=_any(common), pool=LEXICAL_POOL)
            pool = " UNION ".join(parts)
        sql = (
            f"SELECT c.chunk_id, {_LEXICAL_SCORE} AS score FROM rag_chunks c "
            f"WHERE c.chunk_id IN ({pool}) ORDER BY score DESC, c.chunk_id LIMIT %(depth)s"
        )
        return [(r, float(x)) for r, x in conn.execute(sql, args) if x > 0]

    @staticmethod
    def _candidates(conn, qv: str, rows: np.ndarray, terms: list[_Term]) -> list[_Candidate]:
        """The candidates' chunks with each unit's cosine to the question and their keyword score, by chunk id."""
        score = _LEXICAL_SCORE if terms else "0.0"
        sql = (
            f'SELECT c.chunk_id, d.path, c.start, c."end", c.text, c.title, c.date, c.page, c.page_breaks, {score}, '
            'array_agg(u.start ORDER BY u.ord), array_agg(u."end" ORDER BY u.ord), '
            "array_agg(-(u.embedding <#> %(q)s::vector) ORDER BY u.ord) "
            "FROM rag_chunks c JOIN rag_documents d ON d.doc_id = c.doc_id "
            "JOIN rag_units u ON u.doc_id = c.doc_id AND u.ord >= c.unit_first AND u.ord < c.unit_stop "
            "WHERE c.chunk_id = ANY(%(rows)s) GROUP BY c.chunk_id, d.path ORDER BY c.chunk_id"
        )
        args = {"q": qv, "rows": rows.tolist(), "tq": [t.query for t in terms], "idf": [t.idf for t in terms]}
        return [
            _Candidate(
                chunk_id=r[0],
                doc=r[1],
                start=r[2],
                end=r[3],
                text=r[4],
                title=r[5],
                date=r[6],
                page=r[7],
                page_breaks=tuple((int(a), int(b)) for a, b in r[8]),
                lexical=float(r[9]),
                sentences=tuple((int(a), int(b), float(x)) for a, b, x in zip(r[10], r[11], r[12])),
            )
            for r in conn.execute(sql, args)
        ]


LEXICAL_EXACT = 20_000  # chunks holding any of the question's words, up to which all are scored
LEXICAL_POOL = 1_000  # beyond: a word in at most this many chunks is rare; common words' best chunks kept


@dataclass(frozen=True)
class _Term:
    """One word of the question: its tsquery (French | English stem), in how many chunks, its idf."""

    query: str
    df: int
    idf: float


def _terms(conn, words: list[str], n: int) -> list[_Term]:
    """The question's words as terms, with BM25's idf = ln(1 + (n - df + 0.5) / (df + 0.5)).

    df: counted with the GIN index, except for the words whose stems are among the column's most
    common lexemes in PostgreSQL's statistics (ANALYZE), whose share of chunks is read there: counting
    them costs a row read per chunk holding them, and their idf is small either way.
    """
    queries = [
        str(q)
        for (q,) in conn.execute(
            "SELECT DISTINCT q::text FROM (SELECT rag_tsquery(w) AS q FROM unnest(%s::text[]) AS w) x "
            "WHERE numnode(q) > 0 ORDER BY 1",
            (words,),
        )
    ]
    if not queries:
        return []
    common: dict[str, float] = {}
    stats = conn.execute(
        "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
        "WHERE tablename = 'rag_chunks' AND attname = 'tsv' AND schemaname = current_schema()"
    ).fetchone()
    if stats and stats[0]:
        common = dict(zip(stats[0], stats[1]))  # the frequencies array ends with 3 summary numbers
    df: dict[str, int] = {}
    unknown = []
    for q in queries:
        lexemes = [x.replace("''", "'") for x in re.findall(r"'((?:[^']|'')*)'", q)]
        if lexemes and all(x in common for x in lexemes):
            df[q] = round(n * max(common[x] for x in lexemes))
        else:
            unknown.append(q)
    if unknown:
        df.update(
            conn.execute(
                "SELECT q, (SELECT count(*) FROM rag_chunks WHERE tsv @@ q::tsquery) FROM unnest(%s::text[]) AS q",
                (unknown,),
            ).fetchall()
        )
    return [_Term(q, int(df[q]), float(np.log(1 + (n - df[q] + 0.5) / (df[q] + 0.5)))) for q in queries]


def _any(terms: list[_Term]) -> str:
    """A tsquery matching any of the terms."""
    return " | ".join(f"({t.query})" for t in terms)


# BM25-like keyword score of chunk c: sum over the question's words of idf x ts_rank (normalisation 1:
# divided by 1 + log of the chunk's length); each word's tsquery ORs its French and English stems.
_LEXICAL_SCORE = (
    "(SELECT coalesce(sum(t.idf * ts_rank(c.tsv, t.q, 1)), 0) "
    "FROM unnest(%(tq)s::tsquery[], %(idf)s::float8[]) AS t(q, idf) WHERE c.tsv @@ t.q)"
)


def _filter_sql(filters: Filters | None) -> tuple[str, dict]:
    """A condition on rag_documents d for the filters ('' for none) and its parameters.

    An undated document is kept by a date filter: nothing says it is outside the range (as rag/retrieval.py).
    """
    if not filters:
        return "", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    if filters.docs:
        parts.append("(d.path = ANY(%(f_docs)s) OR d.name = ANY(%(f_docs)s))")
        params["f_docs"] = list(filters.docs)
    if filters.date_from:
        parts.append("(d.date = '' OR d.date >= %(f_from)s)")
        params["f_from"] = filters.date_from
    if filters.date_to:
        parts.append("(d.date = '' OR d.date <= %(f_to)s)")
        params["f_to"] = filters.date_to
    return " AND ".join(parts), params


# --------------------------------------------------------------------------- python -m rag.postgres
def main(argv: list[str] | None = None) -> int:
    """`python -m rag.postgres build FOLDER [--workers N] [--full]` or `... work [--wait S]`, on RAG_STORE."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m rag.postgres", description="Build into RAG_STORE, or help a build."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="sync the store with a folder (the coordinator)")
    b.add_argument("folder", nargs="?")
    b.add_argument("--workers", type=int, default=1, help="local worker processes in all, this one included")
    b.add_argument("--full", action="store_true")
    w = sub.add_parser("work", help="join the running builds of the store as an extra worker")
    w.add_argument("--wait", type=float, default=0.0, help="seconds to wait for a build to start")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    settings = Settings.from_env()
    if not settings.store:
        print("error: set RAG_STORE=postgresql://user:password@host:port/database", file=sys.stderr)
        return 2
    index = PostgresIndex(settings, None)
    try:
        if args.command == "build":
            report = index.build(args.folder, full=args.full, workers=args.workers)
            print(f"{'index updated' if report.wrote else 'index already up to date'}: {report.summary()}")
        else:
            index._embedder().queries(["warm-up"])  # load the model before joining, not on the first job
            print("worker ready", flush=True)
            done = index.work(wait=args.wait)
            print(f"{done.worker}: {len(done.paths('scan'))} files read, {len(done.paths())} indexed")
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
