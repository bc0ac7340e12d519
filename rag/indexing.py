"""Build or re-sync the index from a folder: load -> chunk -> embed -> store.

Incremental: files whose bytes did not change keep their chunks and vectors;
only added or changed files are chunked and embedded, deleted ones are
dropped. Boilerplate lines are removed before chunking (rag/cleaning.py); as
the lines repeated across the folder depend on all its files, an unchanged
file is cleaned and chunked again when what its cleaning depends on changed
(a footer line now reaching the threshold, say). The new index replaces the old one atomically; only
the added and changed files' passages are written, as a new segment (see `rag.store`, `rag.segments`).

>>> from rag import build_index
>>> report = build_index("samples/briefings", index_dir="index")   # doctest: +SKIP
>>> report.summary()                                                # doctest: +SKIP
'10 documents (10 added, 0 changed, 0 removed, 0 unchanged), 0 skipped, 27 chunks in 4.2 s'
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .chunking import chunk_units
from .cleaning import (
    RULES_VERSION,
    Boilerplate,
    dropped_spans,
    find_boilerplate,
    is_known_boilerplate,
    line_hash,
    line_hashes,
    normalise,
    without_spans,
)
from .embedding import Embedder
from .errors import FolderNotFound, IndexCorrupt, IndexIncompatible, NothingToIndex
from .loaders import LoadError, iter_files, load_file, read_bytes
from .schema import Chunk, Document, Skipped
from .segments import Passages
from .settings import Settings
from .store import Generation, IndexStore, unit_text

log = logging.getLogger(__name__)

# progress(stage, done, total): stage is "scan" or "embed"
Progress = Callable[[str, int, int], None]


@dataclass
class _Parts:
    """A freshly chunked document: its chunks, sentence units, each chunk's unit range, unit texts."""

    chunks: list[Chunk]
    units: np.ndarray  # (n, 2) start, end in the document
    ranges: np.ndarray  # (n_chunks, 2) first, stop, relative to this document's units
    texts: list[str]  # what is embedded for each unit


@dataclass
class BuildReport:
    folder: str
    index_dir: str
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    embedded_chunks: int = 0  # chunks of the added or changed files
    embedded_units: int = 0  # their sentence units, each embedded once
    # unchanged files cleaned and chunked again because the folder's boilerplate lines changed
    recleaned: list[str] = field(default_factory=list)
    boilerplate_lines: int = 0  # lines dropped as boilerplate, over all indexed files
    wrote: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.documents} documents ({len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.removed)} removed, {len(self.unchanged)} unchanged"
            + (f", {len(self.recleaned)} cleaned again" if self.recleaned else "")
            + f"), {len(self.skipped)} skipped, "
            f"{self.chunks} chunks in {self.timings.get('total', 0):.1f} s"
            + (f", {self.boilerplate_lines} boilerplate lines dropped" if self.boilerplate_lines else "")
        )


def clean_and_chunk(
    doc: Document, boilerplate: Boilerplate, settings: Settings, lines: list[str]
) -> tuple[dict, _Parts, dict[str, str]]:
    """One document's manifest entry (without `chunks`), its parts to embed and store, and the lines
    it lost as boilerplate (fingerprint -> normalised text). `lines` are `line_hashes(doc.text)`.

    The step every backend shares, so a FAISS folder and a PostgreSQL store of the same folder
    hold the same chunks.
    """
    dropped = dropped_spans(doc.text, boilerplate)
    gone = [line for a, b in dropped for line in doc.text[a:b].split("\n") if line.strip()]
    clean = without_spans(doc, dropped)
    doc_units, doc_chunks, doc_ranges = chunk_units(
        clean, settings.chunk_words, settings.chunk_max_words, settings.chunk_overlap
    )
    entry = {
        "sha256": clean.sha256,
        "title": clean.title,
        "date": clean.date,
        "format": clean.format,
        "chars": len(clean.text),
        **({"pages": len(clean.pages)} if clean.format == "pdf" else {}),
        "lines": lines,
        "clean": boilerplate.key(lines),
        "dropped": [list(x) for x in dropped],
        "dropped_lines": len(gone),
    }
    parts = _Parts(
        doc_chunks,
        np.asarray(doc_units, dtype=np.int64).reshape(-1, 2),
        np.asarray(doc_ranges, dtype=np.int64).reshape(-1, 2),
        [unit_text(clean.title, clean.text[a:b]) for a, b in doc_units],
    )
    return entry, parts, {line_hash(line): normalise(line) for line in gone}


def expected_settings(settings: Settings, embedder: Embedder) -> dict:
    """What an index must have been built with to be usable with these settings."""
    return {
        "embedder": {"name": embedder.name, "dim": embedder.dim, "fingerprint": embedder.fingerprint},
        "chunking": {
            "words": settings.chunk_words,
            "max_words": settings.chunk_max_words,
            "overlap": settings.chunk_overlap,
            "title_in_text": True,
        },
    }


def build_index(
    folder: str | os.PathLike | None = None,
    index_dir: str | os.PathLike | None = None,
    *,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    full: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    """Index (or re-sync) the briefings of `folder` into `index_dir`.

    `folder` defaults to the folder the index was last built from. Bad files are
    skipped and reported; the previous index stays live until the new one is
    complete. Raises FolderNotFound, NothingToIndex, IndexBusy.

    >>> build_index("samples/briefings", index_dir="/tmp/idx").documents   # doctest: +SKIP
    10
    """
    settings = (settings or Settings.from_env()).replace(index_dir=str(index_dir) if index_dir else None)
    store = IndexStore(settings.index_dir)
    t0 = time.perf_counter()
    folder = _resolve_folder(folder, store)
    report = BuildReport(folder=str(folder), index_dir=str(store.root))
    lock = store.lock()
    try:
        embedder = embedder or Embedder.load(settings)
        expect = expected_settings(settings, embedder)
        t = time.perf_counter()
        previous = None if full else _previous(store, expect)
        old_docs = previous.manifest["documents"] if previous else {}
        report.timings["open"] = time.perf_counter() - t

        # 1. scan: hash every file, load only new or changed ones (and those indexed before
        # lines were fingerprinted)
        t = time.perf_counter()
        files = list(iter_files(folder))
        kept: dict[str, dict] = {}
        loaded: dict[str, Document] = {}
        for i, path in enumerate(files):
            if progress:
                progress("scan", i, len(files))
            key = os.path.abspath(path)
            try:
                raw = read_bytes(path, int(settings.max_file_mb * 2**20))
                digest = hashlib.sha256(raw).hexdigest()
                old = old_docs.get(key)
                # A PDF indexed before chunks had pages is read again to get them.
                if (
                    old
                    and old["sha256"] == digest
                    and "lines" in old
                    and (old.get("format") != "pdf" or "pages" in old)
                ):
                    kept[key] = old
                    continue
                loaded[key] = load_file(path, raw)
                del raw
            except LoadError as e:
                report.skipped.append(Skipped(key, str(e)))
                log.warning("skipped %s: %s", path, e)
                continue
            kept[key] = {"lines": line_hashes(loaded[key].text)}

        # 2. boilerplate lines repeated across the folder; a file is (re)cleaned and chunked when
        # it is new or changed, or when what its cleaning depends on changed (rag/cleaning.py)
        boilerplate = find_boilerplate({key: kept[key]["lines"] for key in sorted(kept)})
        fresh: dict[str, _Parts] = {}
        dropped_texts: dict[str, str] = {}  # the dropped lines, for the manifest
        for key in sorted(kept):
            clean_key = boilerplate.key(kept[key]["lines"])
            if key not in loaded and kept[key].get("clean") == clean_key:
                report.unchanged.append(key)
                continue
            doc = loaded.pop(key, None)
            if doc is None:
                try:
                    doc = load_file(key, max_bytes=int(settings.max_file_mb * 2**20))
                except LoadError as e:
                    report.skipped.append(Skipped(key, str(e)))
                    del kept[key]
                    continue
                report.recleaned.append(key)
            kept[key], fresh[key], gone = clean_and_chunk(doc, boilerplate, settings, kept[key]["lines"])
            dropped_texts.update(gone)
            if key in report.recleaned or old_docs.get(key, {}).get("sha256") == doc.sha256:
                if key not in report.recleaned:
                    report.recleaned.append(key)  # indexed by a version that kept no line fingerprints
            else:
                (report.changed if key in old_docs else report.added).append(key)
        if progress:
            progress("scan", len(files), len(files))
        report.removed = sorted(set(old_docs) - set(kept))  # deleted, or now unreadable (also in skipped)
        report.timings["load_and_chunk"] = time.perf_counter() - t

        if not kept:
            raise nothing_to_index(folder, bool(files), report.skipped)

        report.documents = len(kept)
        report.boilerplate_lines = sum(entry.get("dropped_lines", 0) for entry in kept.values())
        skipped = [{"path": s.path, "reason": s.reason} for s in report.skipped]
        # a newly skipped (or no longer skipped) file changes what `index status` reports: write then too
        if previous and not fresh and not report.removed and previous.manifest.get("skipped", []) == skipped:
            report.chunks = previous.manifest.get("counts", {}).get("chunks", 0)
            report.timings["total"] = time.perf_counter() - t0
            return report  # nothing changed: keep the live index as it is

        # 2. embed the sentence units of the new documents only
        t = time.perf_counter()
        texts = [text for key in fresh for text in fresh[key].texts]
        total = len(texts)
        done = [0]

        def tick(n):
            done[0] += n
            if progress:
                progress("embed", done[0], total)

        new_vectors = embedder.passages(texts, progress=tick)
        report.embedded_chunks = sum(len(x.chunks) for x in fresh.values())
        report.embedded_units = total
        report.timings["embed"] = time.perf_counter() - t

        # 3. write: the new passages as a new segment (rag/segments.py), the others stay where they are
        t = time.perf_counter()
        passages: dict[str, Passages] = {}
        offset = 0
        for key, part in fresh.items():
            k = len(part.units)
            passages[key] = Passages(part.chunks, part.units, part.ranges, new_vectors[offset : offset + k])
            offset += k
        for key in kept:
            if key in fresh:
                kept[key] = dict(kept[key], chunks=len(fresh[key].chunks))
            else:
                kept[key] = dict(kept[key], chunks=old_docs.get(key, {}).get("chunks", 0))
        total_chunks = sum(entry["chunks"] for entry in kept.values())
        manifest = dict(
            expect,
            built_at=dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            source=str(folder),
            documents=kept,
            counts={"documents": len(kept), "chunks": total_chunks, "boilerplate_lines": report.boilerplate_lines},
            boilerplate={
                "rules": RULES_VERSION,
                "repeated_lines": len(boilerplate),
                "lines": _dropped_lines(previous, kept, boilerplate, dropped_texts),
            },
            skipped=skipped,
        )
        store.commit(manifest, sorted(kept), passages, previous, embedder.dim)
        report.wrote = True
        report.chunks = total_chunks
        report.timings["write"] = time.perf_counter() - t
    finally:
        lock.release()
    report.timings["total"] = time.perf_counter() - t0
    return report


def _dropped_lines(previous, kept: dict, boilerplate: Boilerplate, fresh_lines: dict[str, str]) -> dict[str, str]:
    """Fingerprint -> text of the lines dropped as boilerplate (those of unchanged files come from
    the previous manifest)."""
    lines = dict(fresh_lines)
    if previous:
        present = {h for entry in kept.values() if entry.get("dropped") for h in entry["lines"]}
        for h, text in previous.manifest.get("boilerplate", {}).get("lines", {}).items():
            if h in present and (h in boilerplate.groups or is_known_boilerplate(text)):
                lines.setdefault(h, text)
    return dict(sorted(lines.items(), key=lambda kv: kv[1]))


def _resolve_folder(folder, store: IndexStore) -> Path:
    if folder is None:
        if not store.exists():
            raise FolderNotFound("no folder given and no previous index to re-sync. Usage: rag index build <folder>")
        folder = store.manifest().get("source", "")
    return existing_folder(folder)


def existing_folder(folder) -> Path:
    """`folder` resolved, or FolderNotFound saying what is wrong with it (both index backends)."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise FolderNotFound(f"folder not found: {path}")
    if not path.is_dir():
        raise FolderNotFound(f"not a folder: {path} (give the folder that holds the briefings)")
    return path.resolve()


def nothing_to_index(folder, has_files: bool, skipped: list[Skipped]) -> NothingToIndex:
    """The error for a folder with no readable briefing, naming the first files skipped and why."""
    where = f"{folder}" if has_files else f"{folder} (it has no files)"
    reasons = "; ".join(f"{Path(s.path).name}: {s.reason}" for s in skipped[:3])
    return NothingToIndex(
        f"no readable briefing in {where}"
        + (f" — skipped: {reasons}" if reasons else "")
        + ". Supported: .txt .md .pdf .docx .html"
    )


def _previous(store: IndexStore, expect: dict) -> Generation | None:
    """The live generation if it can be reused incrementally, else None (a full rebuild)."""
    try:
        return store.generation(expect)
    except (IndexIncompatible, IndexCorrupt) as e:
        log.warning("previous index not reused, rebuilding fully: %s", e)
        return None
