"""Segments: the immutable parts an index is made of, so that a re-sync writes only what changed.

A segment is a directory `index_dir/segments/seg-<time>-<id>/` holding the passages of some
documents, each document's passages contiguous:

    segment.json     counts, and each document's chunk rows and unit rows: {path: [row, stop, unit, stop]}
    chunks.jsonl     one chunk per line (rag/store.py describes the fields)
    units.npy        the sentence units: (start, end) in their document
    chunk_units.npy  chunk i is made of units [first, stop) of this segment
    vectors.npy      float32, row i embeds unit i
    dense.faiss      FAISS index over the vectors (rag.store.make_faiss)
    postings/        term frequencies for BM25 (rag/postings.py)

A generation (rag/store.py) lists its segments, oldest first, each with its dead documents:
those changed or deleted since the segment was written, whose rows are skipped. A re-sync
writes the added and changed files' passages as one small new segment and marks their old
rows dead, so the big files are shared by generations, never copied. When the rows outside the
first segment's live ones (dead rows, newer segments) pass COMPACT_FRACTION of the live rows,
the sync writes all live passages as one segment instead (compaction), in file order like a full
build; when there are more than MAX_SEGMENTS, the newer ones are merged into one (`plan`).

Readers see one index (`combine`): rows are the segments' rows one after the other, dead rows
included but unreachable: FAISS searches skip their units (`SegmentedDense`), BM25 gives them 0
and leaves them out of its statistics (rag.postings.CollectionBM25), `alive` marks them.

>>> plan([(1000, 0)], fresh_rows=50)                # one changed file: append a segment
1
>>> plan([(1000, 90), (50, 0)], fresh_rows=50)      # > 10% of the live rows outside the first: compact
0
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .lexical import analyze
from .postings import CollectionBM25, Postings
from .schema import Chunk

COMPACT_FRACTION = 0.1  # rows outside the first segment's live rows, as a share of the live rows
MAX_SEGMENTS = 8  # more: the newer segments are merged into one


@dataclass
class Passages:
    """A document's passages: chunks, sentence units, each chunk's unit range (relative), unit vectors."""

    chunks: list[Chunk]
    units: np.ndarray  # (n, 2) start, end in the document
    ranges: np.ndarray  # (n_chunks, 2) first, stop, relative to these units
    vectors: np.ndarray  # (n, dim) float32


class Segment:
    """One segment directory; its files are read on first use (a build reads only what it copies)."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.name
        meta = json.loads((path / "segment.json").read_text(encoding="utf-8"))
        self.n_chunks: int = meta["chunks"]
        self.n_units: int = meta["units"]
        self.docs: dict[str, tuple[int, int, int, int]] = {k: tuple(v) for k, v in meta["docs"].items()}

    @cached_property
    def chunk_lines(self) -> list[str]:
        return (self.path / "chunks.jsonl").read_text(encoding="utf-8").splitlines()

    @cached_property
    def chunks(self) -> list[Chunk]:
        return [chunk_from_record(json.loads(line)) for line in self.chunk_lines]

    @cached_property
    def vectors(self) -> np.ndarray:
        # mapped, not read: a build copies the rows it keeps, a reader all of them once (VectorRows)
        return np.load(self.path / "vectors.npy", mmap_mode="r", allow_pickle=False)

    @cached_property
    def units(self) -> np.ndarray:
        return np.load(self.path / "units.npy", allow_pickle=False)

    @cached_property
    def chunk_units(self) -> np.ndarray:
        return np.load(self.path / "chunk_units.npy", allow_pickle=False)

    @cached_property
    def dense(self) -> Any:
        import faiss

        return faiss.read_index(str(self.path / "dense.faiss"))

    @cached_property
    def postings(self) -> Postings:
        return Postings.load(self.path / "postings")

    def read_all(self) -> Segment:
        """Load every file now and check they agree (ValueError if not): what a reader needs."""
        chunks, units, chunk_units, vectors = self.chunks, self.units, self.chunk_units, self.vectors
        if not (
            len(chunks) == self.n_chunks == len(chunk_units) == self.postings.n_docs
            and len(units) == self.n_units == self.dense.ntotal == vectors.shape[0]
            and (self.n_chunks == 0 or (chunk_units.min() >= 0 and chunk_units.max() <= self.n_units))
        ):
            raise ValueError(
                f"segment {self.name} is inconsistent (chunks {len(chunks)}/{self.n_chunks}, units "
                f"{len(units)}/{self.n_units}, vectors {vectors.shape[0]}, faiss {self.dense.ntotal})"
            )
        return self

    def dead_rows(self, dead: Collection[str]) -> int:
        return sum(self.docs[d][1] - self.docs[d][0] for d in dead if d in self.docs)


def plan(segments: Sequence[tuple[int, int]], fresh_rows: int) -> int:
    """How many of the segments (rows, dead rows), oldest first, a sync keeps as they are.

    The others' live passages and the fresh ones are written as one new segment: all of them
    (0, compaction) when the rows outside the first segment's live rows would pass
    COMPACT_FRACTION of the live rows; all but the first when there would be more than
    MAX_SEGMENTS; else none (the fresh passages alone, appended).
    """
    if not segments:
        return 0
    live = sum(n - d for n, d in segments) + fresh_rows
    outside = segments[0][1] + sum(n for n, _ in segments[1:]) + fresh_rows
    if outside > COMPACT_FRACTION * live:
        return 0
    if len(segments) + (1 if fresh_rows else 0) > MAX_SEGMENTS:
        return 1
    return len(segments)


class SegmentWriter:
    """Gathers documents' passages in order (new ones, or copies from segments), then writes one segment."""

    def __init__(self, dim: int):
        self.dim = dim
        self.lines: list[str] = []
        self.units: list[np.ndarray] = []
        self.ranges: list[np.ndarray] = []
        self.vectors: list[np.ndarray] = []
        self.docs: dict[str, list[int]] = {}
        self.fresh_terms: list[list[str]] = []
        self.postings: list[tuple[Any, np.ndarray]] = []  # (source, rows), source a Postings or "fresh"
        self.n_chunks = self.n_units = 0

    def __len__(self) -> int:
        return self.n_chunks

    def add(self, doc: str, p: Passages, terms: list[list[str]] | None = None) -> None:
        """A document's passages; `terms` of each chunk's searchable text (analysed here when not given)."""
        from .store import searchable_text

        if terms is None:
            terms = [analyze(searchable_text(c)) for c in p.chunks]
        first = len(self.fresh_terms)
        self.fresh_terms.extend(terms)
        self.postings.append(("fresh", np.arange(first, first + len(p.chunks))))
        self._append(
            doc, [json.dumps(chunk_record(c), ensure_ascii=False) for c in p.chunks], p.units, p.ranges, p.vectors
        )

    def copy(self, segment: Segment, doc: str) -> None:
        """A document's passages as `segment` holds them (no re-embedding, no re-analysis)."""
        row, stop, unit, unit_stop = segment.docs[doc]
        self.postings.append((segment.postings, np.arange(row, stop)))
        self._append(
            doc,
            segment.chunk_lines[row:stop],
            segment.units[unit:unit_stop],
            segment.chunk_units[row:stop] - unit,
            segment.vectors[unit:unit_stop],
        )

    def _append(self, doc: str, lines: list[str], units, ranges, vectors) -> None:
        self.docs[doc] = [self.n_chunks, self.n_chunks + len(lines), self.n_units, self.n_units + len(units)]
        self.lines.extend(lines)
        self.units.append(np.asarray(units, np.int64).reshape(-1, 2))
        self.ranges.append(np.asarray(ranges, np.int64).reshape(-1, 2) + self.n_units)
        self.vectors.append(np.asarray(vectors, np.float32).reshape(-1, self.dim))
        self.n_chunks += len(lines)
        self.n_units += len(units)

    def write(self, directory: Path) -> Segment:
        """Write the segment into `directory` (its temporary name first), durably, and return it."""
        import faiss

        from .store import _fsync_dir, _fsync_tree, make_faiss

        name = f"seg-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        tmp = directory / f".tmp-{name}"
        tmp.mkdir(parents=True)
        try:
            cat = np.concatenate
            vectors = cat(self.vectors) if self.vectors else np.zeros((0, self.dim), np.float32)
            (tmp / "chunks.jsonl").write_text("".join(line + "\n" for line in self.lines), encoding="utf-8")
            np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
            np.save(
                tmp / "units.npy", cat(self.units) if self.units else np.zeros((0, 2), np.int64), allow_pickle=False
            )
            ranges = cat(self.ranges) if self.ranges else np.zeros((0, 2), np.int64)
            np.save(tmp / "chunk_units.npy", ranges, allow_pickle=False)
            faiss.write_index(make_faiss(vectors), str(tmp / "dense.faiss"))
            fresh = Postings.from_terms(self.fresh_terms)
            Postings.select([(fresh if src == "fresh" else src, rows) for src, rows in self.postings]).save(
                tmp / "postings"
            )
            meta = {"chunks": self.n_chunks, "units": self.n_units, "docs": self.docs}
            (tmp / "segment.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
            _fsync_tree(tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)  # else the next build removes it
            raise
        final = directory / name
        os.replace(tmp, final)
        _fsync_dir(directory)
        return Segment(final)


@dataclass
class Combined:
    """Several segments seen as one index (rows one segment after the other)."""

    chunks: list[Chunk]
    vectors: np.ndarray
    units: np.ndarray
    chunk_units: np.ndarray
    dense: Any
    bm25: CollectionBM25
    alive: np.ndarray | None  # per chunk row; None: all alive


class VectorRows:
    """The segments' vectors one after the other in one array with room to grow, for a reader.

    A reload after a sync that appended a segment copies that segment's rows only: the array
    is the same, the new view a longer one (rows a previous view shows are never written again).
    """

    GROWTH = 1.25  # room for the deltas a compaction allows (rag.segments.COMPACT_FRACTION), and more

    def __init__(self):
        self.names: list[str] = []
        self.array: np.ndarray | None = None
        self.n = 0

    def view(self, segments: Sequence[Segment]) -> np.ndarray:
        names = [seg.name for seg in segments]
        total = sum(seg.n_units for seg in segments)
        dim = segments[0].vectors.shape[1] if segments else 1
        if self.array is None or names[: len(self.names)] != self.names or total > len(self.array):
            # np.empty: the room is address space until rows are written
            self.array, self.names, self.n = np.empty((int(total * self.GROWTH) + 1024, dim), np.float32), [], 0
        for seg in segments[len(self.names) :]:
            self.array[self.n : self.n + seg.n_units] = seg.vectors
            self.n += seg.n_units
            self.names.append(seg.name)
        return self.array[: self.n]


def combine(parts: Sequence[tuple[Segment, frozenset[str]]], rows: VectorRows | None = None) -> Combined:
    """One index over loaded segments and their dead documents; `rows` holds the vectors (reused across reloads)."""
    chunks: list[Chunk] = []
    alive_rows, alive_units, units, ranges = [], [], [], []
    n_units = 0
    for seg, dead in parts:
        chunks.extend(seg.chunks)
        rows_ok = np.ones(seg.n_chunks, bool)
        units_ok = np.ones(seg.n_units, bool)
        for doc in dead:
            if doc in seg.docs:
                a, b, ua, ub = seg.docs[doc]
                rows_ok[a:b] = False
                units_ok[ua:ub] = False
        alive_rows.append(rows_ok)
        alive_units.append(units_ok)
        units.append(seg.units)
        ranges.append(seg.chunk_units + n_units)
        n_units += seg.n_units
    alive = np.concatenate(alive_rows) if alive_rows else np.zeros(0, bool)
    return Combined(
        chunks=chunks,
        vectors=(rows or VectorRows()).view([seg for seg, _ in parts]),
        units=np.concatenate(units) if units else np.zeros((0, 2), np.int64),
        chunk_units=np.concatenate(ranges) if ranges else np.zeros((0, 2), np.int64),
        dense=SegmentedDense.over([(seg.dense, ok) for (seg, _), ok in zip(parts, alive_units)]),
        bm25=CollectionBM25([seg.postings for seg, _ in parts], None if alive.all() else alive),
        alive=None if alive.all() else alive,
    )


class SegmentedDense:
    """Several FAISS indexes searched as one, their dead units skipped: the answers of one index.

    Unit ids are global (segment after segment). Each index is searched for the k best of its
    live units (a FAISS ID selector, so dead ones never take a place), then the lists are merged.
    """

    def __init__(self, parts: list[tuple[Any, np.ndarray]]):
        import faiss

        self.parts = []
        offset = 0
        for index, alive in parts:
            params: Any = None
            if not alive.all():
                bits = np.packbits(alive, bitorder="little")
                selector = faiss.IDSelectorBitmap(len(alive), faiss.swig_ptr(bits))
                if isinstance(index, faiss.IndexIVF):
                    params = faiss.SearchParametersIVF()
                    params.nprobe = index.nprobe  # the index's own, not the parameters' default of 1
                else:
                    params = faiss.SearchParameters()
                params.sel = selector
                params.keep = (bits, selector)  # FAISS holds raw pointers to them: keep them alive
            self.parts.append((index, offset, params))
            offset += index.ntotal
        self.ntotal = offset

    @classmethod
    def over(cls, parts: list[tuple[Any, np.ndarray]]) -> Any:
        """The one index itself when there is one and nothing is dead (no cost), else a SegmentedDense."""
        if len(parts) == 1 and parts[0][1].all():
            return parts[0][0]
        return cls(parts)

    def search(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """As faiss.Index.search: (scores, ids), best first, -1 ids when fewer than k."""
        scores, ids = [], []
        for index, offset, params in self.parts:
            if index.ntotal == 0:
                continue
            d, i = index.search(x, min(k, index.ntotal), params=params)
            scores.append(d)
            ids.append(np.where(i >= 0, i + offset, -1))
        if not scores:
            return np.full((len(x), k), -np.inf, np.float32), np.full((len(x), k), -1, np.int64)
        d, i = np.concatenate(scores, axis=1), np.concatenate(ids, axis=1)
        d = np.where(i >= 0, d, -np.inf)
        order = np.argsort(-d, axis=1, kind="stable")[:, :k]
        d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
        if d.shape[1] < k:
            pad = k - d.shape[1]
            d = np.pad(d, ((0, 0), (0, pad)), constant_values=-np.inf)
            i = np.pad(i, ((0, 0), (0, pad)), constant_values=-1)
        return d.astype(np.float32), i


def chunk_record(chunk: Chunk) -> dict:
    """A chunk as one line of chunks.jsonl; page fields only for PDFs (other lines stay as before pages)."""
    rec = asdict(chunk)
    if rec["page"] is None:
        del rec["page"]
    if not rec["page_breaks"]:
        del rec["page_breaks"]
    return rec


def chunk_from_record(rec: dict) -> Chunk:
    if "page_breaks" in rec:
        rec["page_breaks"] = tuple((int(a), int(b)) for a, b in rec["page_breaks"])
    return Chunk(**rec)
