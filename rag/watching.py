"""Watch a folder of briefings and call back when its supported files change.

Why watchfiles: it is maintained, wraps the Rust `notify` crate (inotify on
Linux, FSEvents, ReadDirectoryChangesW; polling as fallback), groups bursts of
events itself (`debounce` / `step`), stops cleanly on an event, and is the
watcher uvicorn uses for --reload. The callback never runs concurrently with
itself: changes that arrive while it runs are merged into exactly one more call.

>>> from rag.watching import FolderWatcher
>>> w = FolderWatcher("samples/briefings", lambda changes: print(len(changes), "changed")).start()  # doctest: +SKIP
>>> w.stop()                                                                                          # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from .loaders import SUPPORTED

log = logging.getLogger(__name__)

# (watchfiles.Change, absolute path) pairs, as watchfiles yields them
Changes = set[tuple[int, str]]


def is_relevant(
    folder: str | os.PathLike, path: str | os.PathLike, deleted: bool = False, ignore: Iterable[str | os.PathLike] = ()
) -> bool:
    """Whether a change to `path` can change the index of `folder`.

    Supported briefings count; hidden entries (skipped by the loader too), editor and
    Office temporaries, and anything under `ignore` (the index itself) do not. A
    directory counts (a folder moved in or out brings or takes its files without
    an event per file).

    >>> is_relevant("/b", "/b/notes/a.md"), is_relevant("/b", "/b/.a.md.swp"), is_relevant("/b", "/b/~$a.docx")
    (True, False, False)
    """
    p = Path(os.path.abspath(path))
    for root in ignore:
        r = Path(os.path.abspath(root))
        if p == r or r in p.parents:
            return False
    try:
        parts = p.relative_to(os.path.abspath(folder)).parts
    except ValueError:
        return False
    if not parts or any(part.startswith(".") for part in parts):
        return False
    name = parts[-1]
    if name.startswith("~") or name.endswith("~"):
        return False
    if p.suffix.lower() in SUPPORTED:
        return True
    # a directory: it exists, or (deleted) had no file suffix
    return p.is_dir() or (deleted and not p.suffix)


class FolderWatcher:
    """Calls `on_change(changes)` in a background thread when supported files of `folder` change.

    Bursts are grouped: watchfiles yields once no new event came for `step_ms`
    (at most `debounce_ms` after the first). `on_change` runs in one worker
    thread, so two calls never overlap; what arrives during a call is merged and
    handled by exactly one more call after it. `notify(set())` asks for a call
    without a file event (e.g. to catch up at start).

    >>> w = FolderWatcher("briefings", lambda ch: print(sorted(p for _, p in ch))).start()  # doctest: +SKIP
    >>> w.stop()                                                                          # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        on_change: Callable[[Changes], object],
        debounce_ms: int = 1600,
        step_ms: int = 300,
        ignore: Iterable[str | os.PathLike] = (),
    ):
        self.folder = Path(folder).resolve()
        self.on_change = on_change
        self.debounce_ms, self.step_ms = debounce_ms, step_ms
        self.ignore = [os.path.abspath(p) for p in ignore]
        self.error = ""  # the last failure of the watcher or of on_change
        self.calls = 0  # completed on_change calls
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._pending: Changes = set()
        self._busy = False
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ control
    def start(self, timeout: float = 5.0) -> FolderWatcher:
        """Start watching; returns once the OS watch is in place (so no change after it is missed)."""
        if not self.folder.is_dir():
            raise FileNotFoundError(f"cannot watch {self.folder}: not a folder")
        self._threads = [
            threading.Thread(target=self._watch, name=f"watch {self.folder.name}", daemon=True),
            threading.Thread(target=self._work, name=f"sync {self.folder.name}", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._ready.wait(timeout)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; a running `on_change` call is left to finish (within `timeout`)."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    @property
    def running(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads) and not self._stop.is_set()

    @property
    def busy(self) -> bool:
        """True while `on_change` runs or changes wait for it."""
        with self._lock:
            return self._busy or self._wake.is_set()

    def notify(self, changes: Changes) -> None:
        """Queue changes for the worker (called by the watch thread; tests and catch-up call it directly)."""
        with self._lock:
            self._pending |= set(changes)
            self._wake.set()

    # ------------------------------------------------------------------ threads
    def _keep(self, change, path: str) -> bool:
        from watchfiles import Change

        return is_relevant(self.folder, path, deleted=change == Change.deleted, ignore=self.ignore)

    def _watch(self) -> None:
        from watchfiles import watch

        try:
            # yield_on_timeout: the first (empty) yield tells that the OS watch is set up
            for changes in watch(
                self.folder,
                watch_filter=self._keep,
                debounce=self.debounce_ms,
                step=self.step_ms,
                stop_event=self._stop,
                rust_timeout=500,
                yield_on_timeout=True,
                raise_interrupt=False,
            ):
                self._ready.set()
                if changes:
                    log.info("changes in %s: %s", self.folder, sorted(p for _, p in changes))
                    self.notify({(int(c), p) for c, p in changes})
        except Exception as e:  # noqa: BLE001 -- e.g. the folder itself was removed
            self.error = f"stopped watching {self.folder}: {type(e).__name__}: {e}"
            log.warning(self.error)
        finally:
            self._ready.set()
            self._stop.set()
            self._wake.set()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            with self._lock:
                if self._stop.is_set():
                    return
                changes, self._pending = self._pending, set()
                self._wake.clear()
                self._busy = True
            try:
                self.on_change(changes)
                if self.running:  # keep a watcher failure visible
                    self.error = ""
            except Exception as e:  # keep watching: the next change retries
                self.error = f"{type(e).__name__}: {e}"
                log.exception("on_change failed for %s", self.folder)
            finally:
                with self._lock:
                    self._busy = False
                    self.calls += 1
