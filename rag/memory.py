"""Process memory housekeeping for a long-running server.

After an answer, Python, torch and llama.cpp have freed their temporary buffers, but glibc
keeps the freed pages in its heap. `trim_heap` hands them back to the system: ~25-30 MB of
resident memory after each answer on the sample index (bench/README.md), a few milliseconds.

>>> from rag.memory import trim_heap
>>> trim_heap() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache


@cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def trim_heap() -> bool:
    """Return freed heap memory to the system (glibc's malloc_trim); False where there is no such call."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
