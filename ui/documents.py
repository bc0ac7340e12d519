"""The briefings behind the source cards: the original file, read-only, and a view of its text.

A card never carries a path: it links to `doc/<id>`, where the id is a hash of the
document's path, and an id is only ever resolved against the documents the live
index lists (its manifest). So the server hands out indexed briefings and nothing
else, whatever is put in the URL.

    doc/<id>                       the original file (PDFs open at `#page=N`)
    doc/<id>/view?s=120&e=245      its text, characters [120, 245) marked and scrolled to

>>> from ui.documents import doc_id, document_links
>>> doc_id("/briefings/treve.md")
'a50a274a8374bff8'
>>> document_links("/briefings/treve.md", 120, 245)            # doctest: +ELLIPSIS
"<span class='src-links'><a href='doc/a50a274a8374bff8' ...>open file</a> · <a href='doc/a50a274a8374bff8/view?s=120&amp;e=245#cited' ...>view in document</a></span>"
"""

from __future__ import annotations

import hashlib
import html
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.loaders import MAX_FILE_BYTES, SUPPORTED, LoadError, load_file, read_bytes

if TYPE_CHECKING:
    from rag.backends import Index

# The formats a browser shows as they are; the others (Word) are downloaded.
_INLINE = {"pdf": "application/pdf", "html": "text/html", "txt": "text/plain", "md": "text/plain"}
# Formats whose text view is worth a link (a PDF opens at its page, Word has no view in the browser).
VIEWABLE = {"txt", "md", "html"}
_ID = re.compile(r"[0-9a-f]{16}")


class DocumentNotFound(RagError):
    """The id names no document of the live index (or its file is gone)."""


@dataclass(frozen=True)
class IndexedDocument:
    """A document of the live index: its file and the manifest's entry (sha256, title, date, format)."""

    id: str
    path: Path
    entry: dict

    @property
    def format(self) -> str:
        return self.entry.get("format") or SUPPORTED.get(self.path.suffix.lower(), "")


def doc_id(path: str) -> str:
    """The opaque id of an indexed document's path, as cards link to it.

    >>> doc_id("/briefings/treve.md") == doc_id("/briefings/treve.md") != doc_id("/briefings/gaz.md")
    True
    """
    return hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def resolve(key: str, index: str | Index) -> IndexedDocument:
    """The indexed document with this id; DocumentNotFound for anything else (paths, unknown ids).

    `index` is the index backend (rag/backends.py), or the FAISS folder's path.

    >>> resolve("../../etc/passwd", "index")
    Traceback (most recent call last):
    ...
    ui.documents.DocumentNotFound: no document '../../etc/passwd' in the index
    """
    if not _ID.fullmatch(key or ""):
        raise DocumentNotFound(f"no document {key!r} in the index")
    try:
        if isinstance(index, str):
            from rag.folder_index import FolderIndex
            from rag.settings import Settings

            index = FolderIndex(Settings(index_dir=index), None)
        documents = index.documents()
    except RagError as e:
        raise DocumentNotFound(f"no index to look documents up in ({e})") from None
    for path, entry in documents.items():
        if doc_id(path) == key:
            if not Path(path).is_file():
                raise DocumentNotFound(f"{Path(path).name} was indexed but is no longer on disk")
            return IndexedDocument(key, Path(path), entry if isinstance(entry, dict) else {})
    raise DocumentNotFound(f"no document {key!r} in the index")


def document_text(path: str | Path, max_bytes: int = MAX_FILE_BYTES, entry: dict | None = None) -> str:
    """The text citations' offsets point into: the one place the view reads a document's text.

    That is the loader's text minus the boilerplate spans the build removed (`entry` is the
    document's manifest entry; rag/cleaning.py). A file changed since indexing shows as loaded.

    >>> document_text("samples/briefings/2025-05-16-istanbul.md")[:9]   # doctest: +SKIP
    '# Pourpar'
    """
    from rag.cleaning import remove_spans

    doc = load_file(path, max_bytes=max_bytes)
    dropped = (entry or {}).get("dropped") or ()
    if dropped and doc.sha256 == (entry or {}).get("sha256"):
        return remove_spans(doc.text, dropped)
    return doc.text


def document_links(doc: str, start: int, end: int, page: int | None = None) -> str:
    """The card's links: the original file (at its page for a PDF) and, for text formats, the view."""
    key = doc_id(doc)
    fmt = SUPPORTED.get(Path(doc).suffix.lower(), "")
    links = [f"<a href='doc/{key}{f'#page={page}' if page else ''}' target='_blank' rel='noopener'>open file</a>"]
    if fmt in VIEWABLE and 0 <= start < end:
        links.append(
            f"<a href='doc/{key}/view?s={start}&amp;e={end}#cited' target='_blank' rel='noopener'>view in document</a>"
        )
    return "<span class='src-links'>" + " · ".join(links) + "</span>"


_VIEW_CSS = (
    "body{font:16px/1.55 system-ui,sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem}"
    "pre{white-space:pre-wrap;font:inherit}mark{background:#fde68a;padding:0 2px}"
    ".meta{color:#666;font-size:.9em}.stale{color:#b45309}"
)


def view_html(doc: IndexedDocument, start: int, end: int, max_bytes: int = MAX_FILE_BYTES) -> str:
    """A page with the document's whole text, characters [start, end) in `<mark id="cited">`, scrolled to.

    Offsets outside the text show it without a mark. A file changed since it was indexed
    gets a warning: the offsets may no longer fall on the cited sentence.
    """
    text = document_text(doc.path, max_bytes, doc.entry)
    if 0 <= start < end <= len(text):
        body = (
            html.escape(text[:start])
            + "<mark id='cited'>"
            + html.escape(text[start:end])
            + "</mark>"
            + html.escape(text[end:])
        )
    else:
        body = html.escape(text)
    title = doc.entry.get("title") or doc.path.name
    meta = " · ".join(html.escape(x) for x in (doc.path.name, doc.entry.get("date", "")) if x)
    stale = ""
    if doc.entry.get("sha256") and _sha256(doc.path, max_bytes) != doc.entry["sha256"]:
        stale = (
            "<p class='stale'>This file changed since it was indexed: the highlight may be off. Rebuild the index.</p>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_VIEW_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='meta'>{meta} · "
        f"<a href='../{doc.id}'>open file</a></p>{stale}<pre>{body}</pre>"
        "<script>var m=document.getElementById('cited');if(m)m.scrollIntoView({block:'center'});</script>"
        "</body></html>"
    )


def _sha256(path: Path, max_bytes: int) -> str:
    try:
        return hashlib.sha256(read_bytes(path, max_bytes)).hexdigest()
    except LoadError:
        return ""


def original_headers(doc: IndexedDocument) -> dict[str, str]:
    """Response headers for the original file: shown inline when a browser can, never run as the app's page.

    An HTML briefing is sandboxed (its scripts cannot act as the chat's origin); a text file
    gets the charset it is written in; Word files are downloaded.
    """
    fmt = doc.format
    headers = {"x-content-type-options": "nosniff", "cache-control": "no-cache"}
    if fmt not in _INLINE:
        headers["content-disposition"] = f"attachment; filename*=UTF-8''{_quote(doc.path.name)}"
        headers["content-type"] = "application/octet-stream"
        return headers
    content_type = _INLINE[fmt]
    if content_type == "text/plain":
        content_type += "; charset=" + _charset(doc.path)
    headers["content-type"] = content_type  # as is: no charset forced on HTML, its <meta> decides
    headers["content-disposition"] = f"inline; filename*=UTF-8''{_quote(doc.path.name)}"
    if fmt != "pdf":  # the browsers' PDF viewers refuse sandboxed documents
        headers["content-security-policy"] = "sandbox"
    return headers


def _charset(path: Path) -> str:
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "windows-1252"  # what the loader falls back to as well


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


# --------------------------------------------------------------------------- HTTP
def document_routes(index: str | Index, max_bytes: int = MAX_FILE_BYTES) -> list:
    """Starlette routes serving `doc/<id>` and `doc/<id>/view`, for `demo.launch(app_kwargs={"routes": ...})`.

    They honour the app's login (`--auth`) like Gradio's own routes.
    """
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse
    from starlette.routing import Route

    async def original(request):
        if not await _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)
        try:
            doc = await run_in_threadpool(resolve, request.path_params["id"], index)
            headers = await run_in_threadpool(original_headers, doc)
        except (DocumentNotFound, OSError) as e:
            return PlainTextResponse(str(e), status_code=404)
        return FileResponse(doc.path, headers=headers)

    async def view(request):
        if not await _signed_in(request):
            return PlainTextResponse("sign in first", status_code=401)
        try:
            start, end = int(request.query_params.get("s", -1)), int(request.query_params.get("e", -1))
        except ValueError:
            start = end = -1
        try:
            doc = await run_in_threadpool(resolve, request.path_params["id"], index)
            page = await run_in_threadpool(view_html, doc, start, end, max_bytes)
        except (DocumentNotFound, LoadError) as e:
            return PlainTextResponse(str(e), status_code=404)
        return HTMLResponse(page, headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"})

    return [
        Route("/doc/{id}", original, methods=["GET", "HEAD"]),
        Route("/doc/{id}/view", view, methods=["GET", "HEAD"]),
    ]


async def _signed_in(request) -> bool:
    """Gradio's own check (routes.py `get_current_user`): no login configured, or a valid session cookie."""
    app = request.app
    if getattr(app, "auth", None) is None and getattr(app, "auth_dependency", None) is None:
        return True
    if getattr(app, "auth_dependency", None) is not None:
        user = app.auth_dependency(request)
        return (await user if inspect.isawaitable(user) else user) is not None
    token = request.cookies.get(f"access-token-{app.cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{app.cookie_id}"
    )
    return app.tokens.get(token) is not None
