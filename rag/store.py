"""The on-disk index: segments of passages (FAISS vectors, BM25 postings, chunks) and a manifest, swapped atomically.

Layout of `index_dir`:

    CURRENT              name of the live generation (replaced atomically)
    gen-<time>-<id>/     one complete index
        manifest.json    format version, models, chunking settings, per-file hashes, and the
                         segments it is made of, each with its dead documents
    segments/seg-*/      immutable parts shared by generations (rag/segments.py): chunks.jsonl,
                         units.npy, chunk_units.npy, vectors.npy (one float32 row per sentence
                         unit), dense.faiss (exact below 50k units, IVF above), postings/ (BM25)
    .build.lock          held by the one build allowed at a time

A build writes its new segment (only the added and changed files' passages; all of them when
it compacts) and a new generation beside the live one, and only then replaces CURRENT, so a
crash at any moment leaves the previous index intact; segments no kept generation lists are
removed afterwards. Nothing is loaded with pickle. Generations of format 2 (one directory with
the files of a segment and bm25s arrays) still load; the next build rewrites them as segments.

>>> from rag.store import IndexStore
>>> store = IndexStore("index")
>>> idx = store.load()                                   # doctest: +SKIP
>>> len(idx.chunks), idx.manifest["embedder"]["name"]    # doctest: +SKIP
(42, 'multilingual-e5-small')
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexBusy, IndexCorrupt, IndexIncompatible, IndexNotFound
from .lexical import BM25Index
from .schema import Chunk
from .segments import Passages, Segment, SegmentWriter, VectorRows, chunk_from_record, combine, plan

# 2: dense vectors per sentence unit instead of per chunk (small-to-big retrieval, bench/README.md)
# 3: segments shared by generations, BM25 from term postings (rag/segments.py); format 2 still loads
FORMAT_VERSION = 3
READABLE_FORMATS = (2, 3)
FLAT_MAX = 50_000  # exact search up to this many vectors, IVF above (see make_faiss)


@dataclass
class LoadedIndex:
    """A loaded index. Dense vectors are per sentence unit; a chunk is a range of units.

    Without `units` (benchmarks on synthetic vectors) each chunk is its own single unit.
    Rows of documents changed or deleted since their segment was written stay until a
    compaction (`alive` False) but are never found: FAISS skips their units, BM25 gives 0.
    """

    path: Path | None  # None for an index made in memory (benchmarks)
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray  # one row per unit
    dense: Any  # searched like a faiss.Index over `vectors` (rag.segments.SegmentedDense over several)
    bm25: Any  # .scores(query) of every chunk and .n_docs: rag.postings.CollectionBM25 or rag.lexical.BM25Index
    units: np.ndarray | None = None  # (n_units, 2) start, end in the unit's document
    chunk_units: np.ndarray | None = None  # (n_chunks, 2) first, stop unit rows
    alive: np.ndarray | None = None  # per chunk, False for a dead row; None: all alive

    def __post_init__(self):
        if self.chunk_units is None:
            n = len(self.chunks)
            self.chunk_units = np.stack([np.arange(n), np.arange(1, n + 1)], axis=1) if n else np.zeros((0, 2), int)
            self.units = np.array([(c.start, c.end) for c in self.chunks], dtype=np.int64).reshape(-1, 2)
        # Chunk ranges are sorted (a build writes documents and their chunks in order), so the
        # chunks holding unit u are the run [first, last] with first = the first chunk ending
        # after u and last = the last chunk starting at or before u.
        u = np.arange(len(self.vectors))
        self.unit_first_chunk = np.searchsorted(self.chunk_units[:, 1], u, side="right")
        self.unit_last_chunk = np.searchsorted(self.chunk_units[:, 0], u, side="right") - 1

    @cached_property
    def chunk_dates(self) -> np.ndarray:
        """Each chunk's ISO date ("" when unknown, or dead), as an array: a period is then two comparisons."""
        dates = np.array([c.date or "" for c in self.chunks], dtype=str)
        if self.alive is not None:
            dates[~self.alive] = ""
        return dates

    def live_rows(self) -> np.ndarray:
        """Row numbers of the live chunks."""
        return np.arange(len(self.chunks)) if self.alive is None else np.flatnonzero(self.alive)

    def __len__(self) -> int:
        return len(self.chunks)


@dataclass
class Generation:
    """The live generation as a build sees it: manifest and segment lists, no passage loaded."""

    path: Path
    manifest: dict
    segments: list[Segment] = field(default_factory=list)
    dead: list[frozenset[str]] = field(default_factory=list)  # per segment
    legacy: LoadedIndex | None = None  # a format-2 generation, loaded whole (its passages are copied)

    def live(self) -> dict[str, int]:
        """Document -> index of the segment holding its live passages."""
        return {doc: i for i, seg in enumerate(self.segments) for doc in seg.docs if doc not in self.dead[i]}


def make_faiss(vectors: np.ndarray):
    """Exact inner product up to FLAT_MAX chunks; above, an inverted-file index (IVF).

    Measured by bench/search.py: exact search takes ~14 ms at 100k chunks and grows
    linearly. IVF with 4·sqrt(n) lists, of which 1/16 are probed, kept recall@10
    against exact search at 0.98 on 100k synthetic chunks with sub-millisecond
    searches, and builds faster than HNSW at that recall (HNSW M=32 needed
    efConstruction 200: 24 s vs 5 s at 100k).
    """
    import faiss

    n, dim = vectors.shape if vectors.ndim == 2 else (0, 0)
    if n <= FLAT_MAX:
        index: faiss.Index = faiss.IndexFlatIP(dim or 1)
    else:
        # k-means wants ~40+ training points per list
        nlist = max(1, min(int(4 * np.sqrt(n)), n // 40))
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        train = vectors[np.random.default_rng(0).choice(n, min(n, 64 * nlist), replace=False)]
        ivf.train(np.ascontiguousarray(train))
        ivf.nprobe = max(16, nlist // 16)  # saved with the index
        index = ivf
    if n:
        index.add(vectors)
    return index


class IndexStore:
    def __init__(self, index_dir: str | os.PathLike):
        self.root = Path(index_dir)
        # what `load` read, for the next reload: segments (immutable) and their vectors
        self._loaded: dict[str, Segment] = {}
        self._rows = VectorRows()
        self._loading = threading.Lock()  # searchers of one store may reload at once

    # ------------------------------------------------------------------ reading
    def current(self) -> Path | None:
        pointer = self.root / "CURRENT"
        try:
            name = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        path = self.root / name
        return path if name and path.is_dir() else None

    def exists(self) -> bool:
        return self.current() is not None

    def manifest(self) -> dict:
        gen = self._require_current()
        return self._read_manifest(gen)

    def load(self, expect: dict | None = None) -> LoadedIndex:
        """Load the live index. `expect` (embedder fingerprint, chunking) must match the manifest.

        Segments this store already read are reused (they never change): after a re-sync that
        added one small segment, a reader reads only that one.
        """
        gen = self._require_current()
        manifest = self._read_manifest(gen)
        if expect:
            check_compatible(manifest, expect, self.root)
        if "segments" not in manifest:
            return _load_legacy(gen, manifest)
        try:
            with self._loading:
                loaded: dict[str, Segment] = {}
                parts = []
                for entry in manifest["segments"]:
                    seg = self._loaded.get(entry["name"]) or Segment(self.root / "segments" / entry["name"]).read_all()
                    loaded[seg.name] = seg
                    parts.append((seg, frozenset(entry["dead"])))
                view = combine(parts, self._rows)
                self._loaded = loaded
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, json.JSONDecodeError) as e:
            raise IndexCorrupt(
                f"index at {gen} is damaged ({type(e).__name__}: {e}). Rebuild it: rag index build <folder> --full"
            ) from None
        n = manifest.get("counts", {}).get("chunks")
        live = len(view.chunks) if view.alive is None else int(view.alive.sum())
        if live != n:
            raise IndexCorrupt(
                f"index at {gen} is inconsistent ({live} live chunks, manifest {n}). "
                "Rebuild it: rag index build <folder> --full"
            )
        return LoadedIndex(
            gen, manifest, view.chunks, view.vectors, view.dense, view.bm25, view.units, view.chunk_units, view.alive
        )

    def generation(self, expect: dict | None = None) -> Generation | None:
        """The live generation for a build to start from (None: no index yet); reads manifests only.

        Raises IndexIncompatible and IndexCorrupt as `load` does; a format-2 generation is loaded whole.
        """
        gen = self.current()
        if gen is None:
            return None
        manifest = self._read_manifest(gen)
        if expect:
            check_compatible(manifest, expect, self.root)
        if "segments" not in manifest:
            return Generation(gen, manifest, legacy=_load_legacy(gen, manifest))
        try:
            segments = [Segment(self.root / "segments" / e["name"]) for e in manifest["segments"]]
            dead = [frozenset(e["dead"]) for e in manifest["segments"]]
        except (OSError, ValueError, TypeError, KeyError, json.JSONDecodeError) as e:
            raise IndexCorrupt(
                f"index at {gen} is damaged ({type(e).__name__}: {e}). Rebuild it: rag index build <folder> --full"
            ) from None
        return Generation(gen, manifest, segments, dead)

    def _require_current(self) -> Path:
        gen = self.current()
        if gen is None:
            raise IndexNotFound(f"no index at {self.root.resolve()}. Build one: rag index build <folder>")
        return gen

    @staticmethod
    def _read_manifest(gen: Path) -> dict:
        try:
            manifest = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise IndexCorrupt(
                f"index manifest {gen / 'manifest.json'} is unreadable ({e}). "
                "Rebuild it: rag index build <folder> --full"
            ) from None
        if not isinstance(manifest, dict):
            raise IndexCorrupt(f"index manifest {gen / 'manifest.json'} is not an object. Rebuild it.")
        return manifest

    # ------------------------------------------------------------------ writing
    def lock(self, timeout: float = 0):
        """The build lock: a second concurrent build gets IndexBusy instead of mixing indexes."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.root / ".build.lock"))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise IndexBusy(
                f"another build is running on {self.root.resolve()}; "
                "wait for it to finish (the current index stays usable meanwhile)"
            ) from None
        return lock

    def commit(
        self, manifest: dict, docs: list[str], fresh: Mapping[str, Passages], previous: Generation | None, dim: int
    ) -> Path:
        """Make live a generation of `docs` (sorted): those in `fresh` with these passages, the others
        as `previous` holds them. Caller holds the lock.

        Writes one segment of the fresh passages; the previous segments stay as they are, with the
        changed and deleted documents marked dead. When `rag.segments.plan` says to merge (compaction),
        the merged segments' live passages are copied into the new one, in `docs` order.
        """
        self._remove_stale_temporaries()
        wanted = set(docs)
        segments = previous.segments if previous else []
        holder = previous.live() if previous else {}
        dead = [set(d) for d in previous.dead] if previous else []
        for doc, i in holder.items():
            if doc in fresh or doc not in wanted:
                dead[i].add(doc)
        fresh_rows = sum(len(p.chunks) for p in fresh.values())
        keep = plan([(seg.n_chunks, seg.dead_rows(d)) for seg, d in zip(segments, dead)], fresh_rows)
        entries = [
            {"name": seg.name, "dead": sorted(d & seg.docs.keys())}
            for seg, d in zip(segments[:keep], dead[:keep])
            if seg.docs.keys() - d  # a segment whose documents are all dead is dropped
        ]
        legacy = previous.legacy if previous else None
        legacy_rows = _rows_by_doc(legacy) if legacy else {}
        writer = SegmentWriter(dim)
        live_chunks = 0
        for doc in docs:
            if doc in fresh:
                writer.add(doc, fresh[doc])
                live_chunks += len(fresh[doc].chunks)
            elif doc in holder:
                seg = segments[holder[doc]]
                if holder[doc] >= keep:
                    writer.copy(seg, doc)
                live_chunks += seg.docs[doc][1] - seg.docs[doc][0]
            elif legacy and doc in legacy_rows:
                writer.add(doc, _legacy_passages(legacy, legacy_rows[doc]))
                live_chunks += legacy_rows[doc][1] - legacy_rows[doc][0]
        if len(writer) or not entries:
            entries.append({"name": writer.write(self.root / "segments").name, "dead": []})
        manifest = dict(
            manifest,
            format=FORMAT_VERSION,
            counts=dict(manifest.get("counts", {}), chunks=live_chunks),
            segments=entries,
        )
        return self._switch(manifest)

    def write(
        self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, units: np.ndarray, chunk_units: np.ndarray
    ) -> Path:
        """Write a complete new generation of these passages, then make it live. Caller holds the lock.

        `vectors[i]` embeds unit `units[i]`; chunk j is made of units `chunk_units[j]` = [first, stop);
        a document's chunks are consecutive.
        """
        chunk_units = np.asarray(chunk_units, np.int64).reshape(-1, 2)
        fresh: dict[str, Passages] = {}
        row = 0
        while row < len(chunks):
            stop = row
            while stop < len(chunks) and chunks[stop].doc == chunks[row].doc:
                stop += 1
            lo, hi = int(chunk_units[row, 0]), int(chunk_units[stop - 1, 1])
            fresh[chunks[row].doc] = Passages(
                chunks[row:stop], units[lo:hi], chunk_units[row:stop] - lo, vectors[lo:hi]
            )
            row = stop
        dim = vectors.shape[1] if np.ndim(vectors) == 2 else 1
        return self.commit(manifest, list(fresh), fresh, None, dim)

    def _switch(self, manifest: dict) -> Path:
        """Write the generation's manifest, make it CURRENT atomically, remove what no kept generation uses."""
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir(parents=True)
        try:
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            _fsync_tree(tmp)
            final = self.root / name
            os.replace(tmp, final)
            _fsync_dir(self.root)  # the generation (and a first segments/) durable before CURRENT names it
            pointer_tmp = self.root / f".CURRENT-{uuid.uuid4().hex[:6]}"
            pointer_tmp.write_text(name)
            _fsync_file(pointer_tmp)
            previous = self.current()
            os.replace(pointer_tmp, self.root / "CURRENT")  # the atomic switch
            _fsync_dir(self.root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self._remove_old_generations(keep={final.name, previous.name if previous else ""})
        return final

    def _remove_stale_temporaries(self) -> None:
        # Under the lock, any temporary left is from a build that died.
        for p in [*self.root.glob(".tmp-gen-*"), *self.root.glob("segments/.tmp-seg-*")]:
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".CURRENT-*"):
            p.unlink(missing_ok=True)

    def _remove_old_generations(self, keep: set[str]) -> None:
        # The previous generation is kept: a reader that read CURRENT just before the switch
        # can still open it, and its segments. A segment no kept generation lists goes.
        for p in self.root.glob("gen-*"):
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
        used: set[str] = set()
        for p in self.root.glob("gen-*"):
            try:
                used.update(e["name"] for e in self._read_manifest(p).get("segments", []))
            except (IndexCorrupt, KeyError, TypeError):
                return  # a generation we cannot read may use any segment: remove none
        for p in self.root.glob("segments/seg-*"):
            if p.name not in used:
                shutil.rmtree(p, ignore_errors=True)


def _load_legacy(gen: Path, manifest: dict) -> LoadedIndex:
    """A format-2 generation: one directory holding every file, BM25 as bm25s arrays."""
    import faiss

    try:
        chunks = [chunk_from_record(json.loads(line)) for line in (gen / "chunks.jsonl").open(encoding="utf-8")]
        vectors = np.load(gen / "vectors.npy", allow_pickle=False)
        units = np.load(gen / "units.npy", allow_pickle=False)
        chunk_units = np.load(gen / "chunk_units.npy", allow_pickle=False)
        dense = faiss.read_index(str(gen / "dense.faiss"))
        bm25 = BM25Index.load(gen / "bm25", len(chunks))
    except (OSError, ValueError, TypeError, RuntimeError, json.JSONDecodeError) as e:
        raise IndexCorrupt(
            f"index at {gen} is damaged ({type(e).__name__}: {e}). Rebuild it: rag index build <folder> --full"
        ) from None
    n = manifest.get("counts", {}).get("chunks")
    n_units = manifest.get("counts", {}).get("units")
    if not (
        len(chunks) == n == len(chunk_units)
        and bm25.n_docs == n
        and len(units) == n_units == dense.ntotal == vectors.shape[0]
        and (n == 0 or (chunk_units.min() >= 0 and chunk_units.max() <= n_units))
    ):
        raise IndexCorrupt(
            f"index at {gen} is inconsistent (chunks {len(chunks)}, units {len(units)}, "
            f"vectors {vectors.shape[0]}, faiss {dense.ntotal}, manifest {n}/{n_units}). "
            f"Rebuild it: rag index build <folder> --full"
        )
    return LoadedIndex(gen, manifest, chunks, vectors, dense, bm25, units, chunk_units)


def _rows_by_doc(index: LoadedIndex) -> dict[str, tuple[int, int]]:
    """Document -> its run of chunk rows in a format-2 index (written in document order)."""
    rows: dict[str, tuple[int, int]] = {}
    for row, c in enumerate(index.chunks):
        rows[c.doc] = (rows.get(c.doc, (row, row))[0], row + 1)
    return rows


def _legacy_passages(index: LoadedIndex, rows: tuple[int, int]) -> Passages:
    assert index.chunk_units is not None and index.units is not None  # set by LoadedIndex.__post_init__
    a, b = rows
    ranges = index.chunk_units[a:b]
    lo, hi = int(ranges[:, 0].min()), int(ranges[:, 1].max())
    return Passages(index.chunks[a:b], index.units[lo:hi], ranges - lo, index.vectors[lo:hi])


def searchable_text(chunk: Chunk) -> str:
    """What keyword retrieval sees of a chunk: the document title gives context to every passage."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


def unit_text(title: str, sentence: str) -> str:
    """What dense retrieval embeds of a sentence unit: the title gives it context ("Il a gagné" of what)."""
    return f"{title}\n{sentence}" if title else sentence


def check_compatible(manifest: dict, expect: dict, root: Path) -> None:
    if manifest.get("format") not in READABLE_FORMATS:
        raise IndexIncompatible(
            f"index at {root} has format {manifest.get('format')}, this version reads "
            f"{' and '.join(map(str, READABLE_FORMATS))}. Rebuild it: rag index build <folder> --full"
        )
    for key in ("embedder", "chunking"):
        if key in expect and manifest.get(key) != expect[key]:
            raise IndexIncompatible(
                f"index at {root} was built with other {key} settings ({manifest.get(key)}; now {expect[key]}). "
                f"Rebuild it: rag index build <folder> --full"
            )


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            _fsync_file(p)
    for p in [root, *[d for d in root.rglob("*") if d.is_dir()]]:
        _fsync_dir(p)
