"""The on-disk index: FAISS vectors, BM25, chunk store and manifest, swapped atomically.

Layout of `index_dir`:

    CURRENT              name of the live generation (replaced atomically)
    gen-<time>-<id>/     one complete index
        manifest.json    format version, models, chunking settings, per-file hashes
        chunks.jsonl     one chunk per line (doc, start, end, text, title, date; PDFs: page, page_breaks)
        units.npy        the sentence units of the chunks: (start, end) in their document, in order
        chunk_units.npy  chunk i is made of units [first, stop) (neighbours share an overlap unit)
        vectors.npy      float32 embeddings, row i = unit i (reused by incremental builds)
        dense.faiss      FAISS index over the vectors (exact below 50k units, IVF above)
        bm25/            bm25s arrays (numpy, no pickle) and vocabulary (JSON)
    .build.lock          held by the one build allowed at a time

A build writes a new generation beside the live one and only then replaces
CURRENT, so a crash at any moment leaves the previous index intact. Nothing is
loaded with pickle.

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
import time
import uuid
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .errors import IndexBusy, IndexCorrupt, IndexIncompatible, IndexNotFound
from .lexical import BM25Index
from .schema import Chunk

# 2: dense vectors per sentence unit instead of per chunk (small-to-big retrieval, bench/README.md)
FORMAT_VERSION = 2
FLAT_MAX = 50_000  # exact search up to this many vectors, IVF above (see make_faiss)


@dataclass
class LoadedIndex:
    """A loaded index. Dense vectors are per sentence unit; a chunk is a range of units.

    Without `units` (benchmarks on synthetic vectors) each chunk is its own single unit.
    """

    path: Path | None  # None for an index made in memory (benchmarks)
    manifest: dict
    chunks: list[Chunk]
    vectors: np.ndarray  # one row per unit
    dense: Any  # faiss.Index over `vectors` (an IndexFlatIP or an IndexIVFFlat)
    bm25: BM25Index  # one document per chunk
    units: np.ndarray | None = None  # (n_units, 2) start, end in the unit's document
    chunk_units: np.ndarray | None = None  # (n_chunks, 2) first, stop unit rows

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
        """Each chunk's ISO date ("" when unknown), as an array: a period is then two comparisons."""
        return np.array([c.date or "" for c in self.chunks], dtype=str)

    def __len__(self) -> int:
        return len(self.chunks)


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
        """Load the live index. `expect` (embedder fingerprint, chunking) must match the manifest."""
        import faiss

        gen = self._require_current()
        manifest = self._read_manifest(gen)
        if expect:
            check_compatible(manifest, expect, self.root)
        try:
            chunks = [_chunk(json.loads(line)) for line in (gen / "chunks.jsonl").open(encoding="utf-8")]
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

    def write(
        self, manifest: dict, chunks: list[Chunk], vectors: np.ndarray, units: np.ndarray, chunk_units: np.ndarray
    ) -> Path:
        """Write a complete new generation, then make it live atomically. Caller holds the lock.

        `vectors[i]` embeds unit `units[i]`; chunk j is made of units `chunk_units[j]` = [first, stop).
        """
        import faiss

        self._remove_stale_temporaries()
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = self.root / f".tmp-{name}"
        tmp.mkdir(parents=True)
        try:
            manifest = dict(
                manifest,
                format=FORMAT_VERSION,
                counts=dict(manifest.get("counts", {}), chunks=len(chunks), units=len(units)),
            )
            with (tmp / "chunks.jsonl").open("w", encoding="utf-8") as f:
                for c in chunks:
                    f.write(json.dumps(_record(c), ensure_ascii=False) + "\n")
            np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
            np.save(tmp / "units.npy", np.asarray(units, dtype=np.int64).reshape(-1, 2), allow_pickle=False)
            np.save(tmp / "chunk_units.npy", np.asarray(chunk_units, dtype=np.int64).reshape(-1, 2), allow_pickle=False)
            faiss.write_index(make_faiss(vectors), str(tmp / "dense.faiss"))
            (tmp / "bm25").mkdir()
            BM25Index.build([searchable_text(c) for c in chunks]).save(tmp / "bm25")
            (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            _fsync_tree(tmp)
            final = self.root / name
            os.replace(tmp, final)
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
        for p in self.root.glob(".tmp-gen-*"):
            shutil.rmtree(p, ignore_errors=True)
        for p in self.root.glob(".CURRENT-*"):
            p.unlink(missing_ok=True)

    def _remove_old_generations(self, keep: set[str]) -> None:
        # The previous generation is kept: a reader that read CURRENT just before the
        # switch can still open it.
        for p in self.root.glob("gen-*"):
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)


def _record(chunk: Chunk) -> dict:
    """A chunk as one line of chunks.jsonl; page fields only for PDFs (other lines stay as before pages)."""
    rec = asdict(chunk)
    if rec["page"] is None:
        del rec["page"]
    if not rec["page_breaks"]:
        del rec["page_breaks"]
    return rec


def _chunk(rec: dict) -> Chunk:
    if "page_breaks" in rec:
        rec["page_breaks"] = tuple((int(a), int(b)) for a, b in rec["page_breaks"])
    return Chunk(**rec)


def searchable_text(chunk: Chunk) -> str:
    """What keyword retrieval sees of a chunk: the document title gives context to every passage."""
    return f"{chunk.title}\n{chunk.text}" if chunk.title else chunk.text


def unit_text(title: str, sentence: str) -> str:
    """What dense retrieval embeds of a sentence unit: the title gives it context ("Il a gagné" of what)."""
    return f"{title}\n{sentence}" if title else sentence


def check_compatible(manifest: dict, expect: dict, root: Path) -> None:
    if manifest.get("format") != FORMAT_VERSION:
        raise IndexIncompatible(
            f"index at {root} has format {manifest.get('format')}, this version reads "
            f"{FORMAT_VERSION}. Rebuild it: rag index build <folder> --full"
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
