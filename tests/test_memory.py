"""Freed heap memory goes back to the system after an answer (rag/memory.py)."""

import ctypes
import ctypes.util
from pathlib import Path

from rag.memory import trim_heap


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_trim_heap_returns_freed_pages_to_the_system():
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    # 2,000 blocks of 64 KB on the heap, touched, then all freed but the last (which keeps the heap's
    # top in place, so free() alone cannot give the pages back): what an answer's buffers leave behind.
    blocks = [libc.malloc(64 * 1024) for _ in range(2000)]
    for b in blocks:
        ctypes.memset(b, 1, 64 * 1024)
    for b in blocks[:-1]:
        libc.free(b)
    before = _rss_mb()
    assert trim_heap() is True
    after = _rss_mb()
    libc.free(blocks[-1])
    assert before - after > 60, (before, after)  # ~125 MB were freed but still resident
