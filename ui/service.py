"""What the web chat does, without Gradio: answer, render sources, manage the index.

Kept apart from `ui/app.py` (layout and wiring) so the behaviour is testable
without a browser.
"""

from __future__ import annotations

import html
import logging
import os
import queue
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import IndexNotFound, RagError
from rag.loaders import SUPPORTED
from rag.prompting import detect_language
from rag.retrieval import Filters
from rag.schema import Answer
from rag.settings import Settings
from rag.watching import FolderWatcher

if TYPE_CHECKING:  # the assistant loads on first use, with its models
    from rag.answering import Assistant
    from rag.backends import Index

log = logging.getLogger(__name__)

UPLOAD_DIR = "uploaded"
# Shown while the LLM reads the passages (several seconds on 2 cores), beside the passages, until the answer streams.
READING = {"fr": "_Rédaction de la réponse…_", "en": "_Writing the answer…_"}
LOCALHOSTS = {"127.0.0.1", "localhost", "::1"}


class ChatService:
    """Loads the models once and serves questions; a rebuild runs beside the chat."""

    def __init__(self, settings: Settings, host: str = "127.0.0.1", allowed_roots: list[str] | None = None):
        self.settings = settings
        self.host = host
        self.allowed_roots = [Path(r).resolve() for r in (allowed_roots or [])]
        self.assistant: Assistant | None = None
        self.error = ""
        self._load_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self.changes: list[str] = []  # newest first: "2026-11-29 10:42:03: added a.txt; removed c.txt"
        self._watcher: FolderWatcher | None = None  # set while the folder is watched
        self._status_cache: tuple = (None, {})
        self._index: Index | None = None  # the index backend (rag/backends.py), made on first use

    @property
    def last_change(self) -> str:
        """The newest index change this process made or saw ("" before any)."""
        return self.changes[0] if self.changes else ""

    @last_change.setter
    def last_change(self, text: str) -> None:
        self.changes = [text, *self.changes][:5]  # a few are kept: one sync rarely tells the whole story

    # ------------------------------------------------------------------ loading
    def load(self) -> bool:
        """Load embedder, LLM and index; remember a readable error instead of raising."""
        from rag.answering import Assistant
        from rag.backends import open_llm
        from rag.embedding import Embedder

        with self._load_lock:
            if self.assistant is not None:
                return True
            try:
                if not hasattr(self, "_llm"):
                    self._embedder = Embedder.load(self.settings)
                    self._llm = open_llm(self.settings)
                retriever = self.index().searcher()
                self.assistant = Assistant(self.settings, retriever, self._llm)
                self.assistant.warm_up()
                self.error = ""
            except IndexNotFound:
                self.error = (
                    "No index yet. Open the **Index** tab and build one from a folder of briefings "
                    "(or run `rag index build <folder>`)."
                )
            except RagError as e:
                self.error = str(e)
            return self.assistant is not None

    # ------------------------------------------------------------------ chat
    def chat(
        self,
        message: str,
        history,
        k: int | None = None,
        docs: list[str] | None = None,
        date_from: str = "",
        date_to: str = "",
        show_passages: bool = False,
        show_query: bool = False,
    ) -> Iterator[tuple[str, str]]:
        """Yield (answer markdown so far, sources HTML) while the answer streams."""
        if not self.load():
            yield f"⚠️ {self.error}", ""
            return
        assert self.assistant is not None  # load() succeeded
        filters = Filters(tuple(docs or ()), (date_from or "").strip(), (date_to or "").strip())
        text, cards = "", ""
        language = detect_language(message)
        try:
            for event in self.assistant.stream(
                message, k=int(k) if k else None, history=history, filters=filters or None
            ):
                if event.answer is not None:
                    a = event.answer
                    shown = a.text
                    if show_query and a.query != a.question:
                        shown += f"\n\n_(searched for: {a.query})_"
                    if show_query and a.trace.get("dates"):
                        shown += f"\n\n_(dates: {a.trace['dates']['shown']})_"
                    yield shown, sources_html(a, show_passages)
                    return
                if event.hits:
                    # Retrieval takes under a second; the LLM several: show what it is reading meanwhile.
                    cards = passages_html(list(event.hits), message, language)
                    yield READING.get(language, READING["en"]), cards
                elif event.status == "reading" and not text:
                    yield READING.get(language, READING["en"]), cards
                elif event.delta:
                    text += event.delta
                    yield text, cards
        except RagError as e:
            yield f"⚠️ {e}", ""

    # ------------------------------------------------------------------ index
    def index(self) -> Index:
        """The index backend the settings name (FAISS folder or PostgreSQL), with the embedder once loaded."""
        from rag.backends import open_index

        embedder = getattr(self, "_embedder", None)
        if self._index is None or (embedder is not None and getattr(self._index, "embedder", None) is not embedder):
            self._index = open_index(self.settings, embedder)
        return self._index

    def status(self) -> dict:
        # The page refreshes this every few seconds while watching: read the index once per version.
        version = self.index_version()
        if version is not None and self._status_cache[0] == version:
            return self._status_cache[1]
        try:
            info = self.index().status()
        except RagError as e:
            return {"error": str(e)}
        self._status_cache = (version, info)
        return info

    def index_version(self):
        """Changes with every written build (None without an index or when the store is unreachable)."""
        try:
            return self.index().version()
        except RagError:
            return None

    def status_markdown(self) -> str:
        s = self.status()
        if "error" in s:
            return f"⚠️ {s['error']}"
        text = (
            f"**{s['documents']} documents, {s['chunks']} passages** from `{s['source']}`  \n"
            f"Built {s['built_at']} with `{s['embedder']}`; {len(s.get('skipped') or [])} file(s) skipped."
        )
        return text + self.watch_markdown()

    def document_choices(self) -> list[str]:
        files = self.status().get("files") or {}
        return sorted(Path(p).name for p in files)

    def default_folder(self) -> str:
        return str(self.status().get("source") or "")

    def check_folder(self, folder: str) -> Path:
        path = Path(folder or "").expanduser()
        if not str(folder or "").strip():
            raise RagError("give the folder of briefings to index")
        resolved = path.resolve()
        roots = self.allowed_roots
        if self.host not in LOCALHOSTS and not roots:
            current = self.default_folder()
            roots = [Path(current).resolve()] if current else []
        if roots and not any(resolved == r or r in resolved.parents for r in roots):
            raise RagError(
                f"{folder} is outside the folders this server may index: " + ", ".join(str(r) for r in roots)
            )
        return resolved

    def add_uploads(self, files: list[str], folder: str) -> tuple[list[str], list[str]]:
        """Copy uploaded files into <folder>/uploaded/; returns (added names, refused with reasons)."""
        target = self.check_folder(folder) / UPLOAD_DIR
        added, refused = [], []
        for f in files or []:
            src = Path(f if isinstance(f, str) else getattr(f, "name", ""))
            name = safe_name(src.name)
            if Path(name).suffix.lower() not in SUPPORTED:
                refused.append(f"{src.name}: unsupported type (use .txt .md .pdf .docx .html)")
                continue
            size = src.stat().st_size if src.exists() else 0
            limit = self.settings.max_file_mb * 2**20
            if size > limit:
                refused.append(f"{src.name}: too large ({size / 2**20:.0f} MB > {self.settings.max_file_mb:.0f} MB)")
                continue
            target.mkdir(parents=True, exist_ok=True)
            dest = target / name
            if dest.resolve().parent != target.resolve():  # never escape the folder
                refused.append(f"{src.name}: invalid file name")
                continue
            shutil.copyfile(src, dest)
            added.append(name)
        return added, refused

    def rebuild(self, folder: str, files: list[str] | None = None) -> Iterator[str]:
        """Sync the index with `folder` (plus uploads), yielding progress lines; the chat keeps working."""
        try:
            path = self.check_folder(folder)
            added, refused = self.add_uploads(files or [], str(path)) if files else ([], [])
        except RagError as e:
            yield f"⚠️ {e}"
            return
        if not self._build_lock.acquire(blocking=False):
            yield "⚠️ a rebuild is already running; wait for it to finish."
            return
        try:
            lines = [f"Uploaded: {', '.join(added)}"] if added else []
            lines += [f"Refused upload {r}" for r in refused]
            events: queue.Queue = queue.Queue()
            result: dict = {}

            def progress(stage, done, total):
                events.put(f"{'reading files' if stage == 'scan' else 'embedding passages'}: {done}/{total}")

            def run():
                try:
                    result["report"] = self.index().build(str(path), progress=progress)
                except Exception as e:  # shown in the page, never a traceback
                    result["error"] = str(e) if isinstance(e, RagError) else f"{type(e).__name__}: {e}"
                finally:
                    events.put(None)

            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            last = 0.0
            while True:
                item = events.get()
                if item is None:
                    break
                if time.monotonic() - last > 0.3:
                    last = time.monotonic()
                    yield "\n".join(lines + [item])
            worker.join()
            if "error" in result:
                yield "\n".join(lines + [f"⚠️ Rebuild failed, the previous index is still in use: {result['error']}"])
                return
            yield "\n".join(lines + [build_summary(result["report"])])
            self.note_change(result["report"])
            if self.watching and self.watching != str(path):
                self.start_watching(str(path))  # the index now follows this folder: watch it instead
            if self.assistant is None:
                self.load()
        finally:
            self._build_lock.release()

    # ------------------------------------------------------------------ watching
    @property
    def watching(self) -> str:
        """The folder kept in sync with the index ("" when not watching)."""
        w = self._watcher
        return str(w.folder) if w is not None and w.running else ""

    def start_watching(self, folder: str | None = None) -> str:
        """Keep the index in sync with `folder` (default: the indexed one); raises RagError if it cannot.

        Added, changed or removed briefings are re-indexed within seconds by the
        incremental build; the chat's retriever picks the new index on its next search.

        >>> service.start_watching("samples/briefings")          # doctest: +SKIP
        'Watching `/.../samples/briefings`: changes are indexed within seconds.'
        """
        path = self.check_folder(folder or self.default_folder())
        if not path.is_dir():
            raise RagError(f"cannot watch {path}: folder not found")
        if self.watching != str(path):
            self.stop_watching()
            watcher = FolderWatcher(
                path, lambda changes: self.sync(path, watched=True), ignore=[self.settings.index_dir]
            )
            self._watcher = watcher.start()
            watcher.notify(set())  # catch up with what changed while nobody watched
        return f"Watching `{path}`: changes are indexed within seconds."

    def stop_watching(self) -> None:
        """Stop keeping the index in sync (a sync under way finishes)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    def sync(self, folder: str | Path, watched: bool = False):
        """Re-sync the index with `folder` now (the watcher's callback); returns the BuildReport or None.

        Waits for a rebuild started from the page (they share `_build_lock`), so the
        two never run at once, and records what changed in `last_change`.

        >>> service.sync("samples/briefings").summary()          # doctest: +SKIP
        '10 documents (1 added, 0 changed, 0 removed, 9 unchanged), 0 skipped, 27 chunks in 1.2 s'
        """
        from rag.embedding import Embedder
        from rag.errors import IndexBusy

        before = {x["path"] for x in self.status().get("skipped") or []}
        report, error = None, None
        with self._build_lock:
            if watched and self.watching != str(folder):
                return None  # the watcher was stopped or moved to another folder meanwhile
            for _attempt in range(5):
                try:
                    if not hasattr(self, "_embedder"):
                        self._embedder = Embedder.load(self.settings)
                    report = self.index().build(str(folder))
                    self.note_change(report, before)
                    break
                except IndexBusy as e:  # `rag index build` runs in a shell: wait for it
                    error = str(e)
                    time.sleep(2)
                except RagError as e:
                    error = str(e)
                    break
        if report is None:
            self.last_change = (
                f"{time.strftime('%Y-%m-%d %H:%M:%S')}: sync failed, the previous index is still in use: {error}"
            )
            return None
        # As after a rebuild: a live assistant's retriever switches to the new index on its next search;
        # with none yet (there was no index), make one if the models are loaded, else the next question does.
        if self.assistant is None and hasattr(self, "_llm"):
            self.load()
        return report

    def note_change(self, report, skipped_before: set[str] | None = None) -> None:
        """Remember when the index last changed and what changed (shown in the Index tab)."""
        if not report.wrote:
            return
        root = Path(report.folder)
        parts = [
            f"{verb} {', '.join(_relative(p, root) for p in paths)}"
            for verb, paths in (
                ("added", report.added),
                ("changed", report.changed),
                ("removed", report.removed),
                ("cleaned again (boilerplate lines changed)", report.recleaned),
            )
            if paths
        ]
        if skipped_before is not None:
            parts += [
                f"skipped {_relative(s.path, root)} ({s.reason})"
                for s in report.skipped
                if s.path not in skipped_before
            ]
        self.last_change = f"{time.strftime('%Y-%m-%d %H:%M:%S')}: {'; '.join(parts) or 'skipped files updated'}"

    def watch_markdown(self) -> str:
        """The watching state and the last change, as lines to append to the status."""
        lines = []
        if self._watcher is not None and self.watching:
            busy = " Syncing…" if self._watcher.busy else ""
            lines.append(f"🔄 Keeping the index in sync with `{self.watching}`.{busy}")
        if self._watcher is not None and self._watcher.error:
            lines.append(f"⚠️ {self._watcher.error}")
        if self.changes:
            lines.append(f"Last change {self.changes[0]}")
            lines += [f"Before: {change}" for change in self.changes[1:3]]
        return "".join("  \n" + line for line in lines)

    def index_rows(self) -> list[list]:
        """The Index tab's table: one row per indexed document, then one per skipped file with its reason.

        Columns are INDEX_COLUMNS; files are shown relative to the indexed folder.

        >>> service.index_rows()[0]                                # doctest: +SKIP
        ['Trêve de 30 jours', '2025-05-20', '2025-05-20-treve.md', 3, '']
        """
        s = self.status()
        if "error" in s:
            return []
        root = Path(s.get("source") or "/")
        rows = [
            [d.get("title", ""), d.get("date", ""), _relative(p, root), d.get("chunks", 0), ""]
            for p, d in sorted((s.get("files") or {}).items())
        ]
        rows += [
            ["", "", _relative(x["path"], root), 0, x["reason"]]
            for x in sorted(s.get("skipped") or [], key=lambda x: x["path"])
        ]
        return rows


INDEX_COLUMNS = ["Title", "Date", "File", "Passages", "Skipped because"]


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).relative_to(root))
    except ValueError:
        return str(path)


def safe_name(name: str) -> str:
    """A plain file name: no directories, no '..', no control characters."""
    name = os.path.basename(name.replace("\\", "/"))
    name = re.sub(r"[\x00-\x1f\x7f]", "", name).strip().lstrip(".")
    return name or "upload"


def build_summary(report) -> str:
    def names(paths):
        return ", ".join(Path(p).name for p in paths) or "none"

    lines = [
        ("Index updated: " if report.wrote else "Index already up to date: ") + report.summary(),
        f"Added: {names(report.added)}",
        f"Changed: {names(report.changed)}",
        f"Removed: {names(report.removed)}",
    ]
    lines += [f"Skipped {Path(s.path).name}: {s.reason}" for s in report.skipped]
    return "\n".join(lines)


def sources_html(answer: Answer, show_passages: bool = False) -> str:
    """Cards for the cited passages (supporting sentence highlighted); ids src-N for the [N] links."""
    parts = []
    if answer.found and answer.citations:
        parts.append("<div class='sources'><h4>Sources</h4>")
        for c in answer.citations:
            parts.append(
                f"<div class='src' id='src-{c.n}'><div class='src-head'><b>[{c.n}]</b> {html.escape(c.title)}"
                f" <span class='src-meta'>{html.escape(c.date)} · {html.escape(Path(c.doc).name)}{page_note(c.page)}"
                f" · chars {c.start}–{c.end}{also_in_html(c.also_in)}</span></div>"
                f"<div class='src-text'>{highlight(c.text, c.quote_start - c.start, c.quote_end - c.start)}</div>"
                + card_links(c.doc, c.start, c.end, c.quote_start, c.quote_end, c.page)
                + "</div>"
            )
        parts.append("</div>")
    if not answer.found and answer.hits:
        # Let the reader check for themselves: what came closest, with its best-matching sentence.
        parts.append("<div class='sources closest'><h4>Closest passages, none of which answers the question</h4>")
        for i, h in enumerate(answer.hits[:3], 1):
            s, e = closest_sentence(answer.query or answer.question, h)
            parts.append(
                f"<div class='src' id='near-{i}'><div class='src-head'>{html.escape(h.title)}"
                f" <span class='src-meta'>{html.escape(h.date)} · {html.escape(Path(h.doc).name)}"
                f"{page_note(h.page_at(h.start + max(s, 0)))}"
                f" · chars {h.start}–{h.end}</span></div>"
                f"<div class='src-text'>{highlight(h.text, s, e)}</div>"
                + card_links(h.doc, h.start, h.end, h.start + s, h.start + e, h.page)
                + "</div>"
            )
        parts.append("</div>")
    if show_passages and answer.hits:
        parts.append("<div class='retrieved'><h4>Retrieved passages</h4>")
        for i, h in enumerate(answer.hits, 1):
            scores = f"fused {h.score:.4f}"
            if h.dense_score is not None:
                scores += f" · cosine {h.dense_score:.3f}"
            if h.bm25_score is not None:
                scores += f" · BM25 {h.bm25_score:.2f}"
            parts.append(
                f"<div class='hit'><b>#{i}</b> {html.escape(h.title)} "
                f"<span class='src-meta'>{html.escape(Path(h.doc).name)} · {scores}</span>"
                f"<div class='src-text'>{html.escape(h.text)}</div></div>"
            )
        parts.append("</div>")
    return "".join(parts)


PASSAGES_HEADING = {"fr": "Passages trouvés — rédaction de la réponse…", "en": "Passages found — writing the answer…"}


def passages_html(hits, question: str, language: str = "en") -> str:
    """Cards for the retrieved passages, shown while the answer is written (they become the cited sources
    when the answer is checked). Ids are hit-N, so [n] markers never point at them."""
    parts = [
        f"<div class='sources pending'><h4>{html.escape(PASSAGES_HEADING.get(language, PASSAGES_HEADING['en']))}</h4>"
    ]
    for i, h in enumerate(hits, 1):
        s, e = closest_sentence(question, h)
        page = h.page_at(h.start + s) if s >= 0 else h.page
        parts.append(
            f"<div class='src pending' id='hit-{i}'><div class='src-head'>{html.escape(h.title)}"
            f" <span class='src-meta'>{html.escape(h.date)} · {html.escape(Path(h.doc).name)}"
            f"{page_note(page)}{also_in_html(h.also_in)}</span></div>"
            f"<div class='src-text'>{highlight(h.text, s, e)}</div>"
            + card_links(h.doc, h.start, h.end, h.start + s, h.start + e, page)
            + "</div>"
        )
    parts.append("</div>")
    return "".join(parts)


def page_note(page: int | None) -> str:
    """ " · p. 3" in a card's meta line for a PDF passage; nothing for formats without pages."""
    return f" · p. {page}" if page else ""


def card_links(
    doc: str, start: int, end: int, quote_start: int = -1, quote_end: int = -1, page: int | None = None
) -> str:
    """The card's "open file" / "view in document" links; the view marks the quote, else the passage.

    >>> "view?s=10&amp;e=20" in card_links("/b/a.md", 0, 50, 10, 20)
    True
    """
    from ui.documents import document_links

    s, e = (quote_start, quote_end) if 0 <= quote_start < quote_end else (start, end)
    return f"<div class='src-open'>{document_links(doc, s, e, page)}</div>"


def also_in_html(docs) -> str:
    """' · also in: a.txt, b.txt' for a passage found (nearly) the same in other documents."""
    return f" · also in: {html.escape(', '.join(Path(d).name for d in docs))}" if docs else ""


def closest_sentence(question: str, hit) -> tuple[int, int]:
    """Offsets in `hit.text` of its sentence closest to the question ((-1, -1) if none).

    Retrieved hits carry each sentence's cosine to the question; otherwise shared words decide.
    """
    from rag.grounding import keyword_support
    from rag.prompting import is_content, passage_sentences

    if hit.sentences:
        scored = [
            (s - hit.start, e - hit.start, x)
            for s, e, x in hit.sentences
            if is_content(hit, hit.text[s - hit.start : e - hit.start])
        ]
        if scored:
            s, e, _ = max(scored, key=lambda t: t[2])
            return s, e
    spans = passage_sentences(hit)
    if not spans:
        return -1, -1
    scores = [keyword_support(question, hit.text[s:e]) for s, e in spans]
    best = max(range(len(spans)), key=lambda i: scores[i])
    return spans[best] if scores[best] > 0 else (-1, -1)


def highlight(text: str, start: int, end: int) -> str:
    if 0 <= start < end <= len(text):
        return html.escape(text[:start]) + "<mark>" + html.escape(text[start:end]) + "</mark>" + html.escape(text[end:])
    return html.escape(text)
