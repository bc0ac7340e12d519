"""Read briefings (.txt, .md, .pdf, .docx, .html) into `Document`s.

Libraries: pypdf (PDF text and metadata), python-docx (Word), trafilatura
(the main content of HTML news pages) with BeautifulSoup/lxml (HTML title,
date, and whole-page text when trafilatura finds too little). Plain text is decoded by trying, in order, the BOMs,
strict UTF-8, cp1252 and latin-1, which covers French files as found in the
wild; anything that still looks binary is refused.

>>> from rag.loaders import load_folder
>>> docs, skipped = load_folder("samples/briefings")
>>> docs[0].title, docs[0].date                      # doctest: +SKIP
('Pourparlers d’Istanbul ...', '2025-05-16')
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from .schema import Document, Skipped

log = logging.getLogger(__name__)

SUPPORTED = {
    ".txt": "txt",
    ".md": "md",
    ".markdown": "md",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
}
MAX_FILE_BYTES = 20 * 1024 * 1024  # default of Settings.max_file_mb


class LoadError(Exception):
    """A file that cannot be used; the message is the one-line reason."""


# --------------------------------------------------------------------------- walking
def iter_files(folder: str | os.PathLike) -> Iterator[Path]:
    """All candidate files under `folder`, sorted, hidden entries skipped, links not followed into loops."""
    root = Path(folder)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def load_folder(folder: str | os.PathLike) -> tuple[list[Document], list[Skipped]]:
    """Load every supported file of a folder; bad files are skipped with a reason, never fatal."""
    docs, skipped = [], []
    for path in iter_files(folder):
        try:
            docs.append(load_file(path))
        except LoadError as e:
            skipped.append(Skipped(str(path), str(e)))
            log.warning("skipped %s: %s", path, e)
    return docs, skipped


def load_file(path: str | os.PathLike, raw: bytes | None = None, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Load one file. Raises `LoadError` with a one-line reason when it can't be used."""
    path = Path(path)
    fmt = SUPPORTED.get(path.suffix.lower())
    if fmt is None:
        raise LoadError(f"unsupported file type '{path.suffix or path.name}' (use .txt .md .pdf .docx .html)")
    if raw is None:
        raw = read_bytes(path, max_bytes)
    if not raw.strip():
        raise LoadError("empty file")
    try:
        read = _READERS[fmt](raw)
    except LoadError:
        raise
    except Exception as e:  # a corrupt file must never stop the folder
        raise LoadError(f"unreadable {fmt.upper()} ({type(e).__name__}: {_one_line(e)})") from e
    text, title, date = read[0], read[1], read[2]
    pages = read[3] if len(read) == 4 else ()  # PDF: where each page starts in `text`
    # Plain text keeps its characters where they are, so offsets match the file as Python
    # reads it (universal newlines; NULs become spaces); extracted formats (PDF, Word, HTML)
    # are tidied.
    if fmt in ("txt", "md"):
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ")
    else:
        cleaned = _clean(text)
        if cleaned != text:  # page offsets were computed on the reader's text
            pages = ()
        text = cleaned
    if not text.strip():
        raise LoadError("no text found (scanned PDF, script-only HTML or empty document?)")
    title = _one_line(title) or _title_from_name(path)
    date = date or _mtime_date(path)
    return Document(
        path=os.path.abspath(path),
        text=text,
        title=title[:200],
        date=date,
        sha256=hashlib.sha256(raw).hexdigest(),
        format=fmt,
        pages=pages,
    )


def read_bytes(path: Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The file's bytes; a file over `max_bytes` is refused before reading (bounded memory)."""
    try:
        if path.is_symlink() and not path.exists():
            raise LoadError("broken or looping symbolic link")
        size = path.stat().st_size
        if size > max_bytes:
            raise LoadError(
                f"too large ({size / 2**20:.0f} MB > {max_bytes / 2**20:.0f} MB; raise RAG_MAX_FILE_MB to index it)"
            )
        return path.read_bytes()
    except PermissionError:
        raise LoadError("permission denied") from None
    except FileNotFoundError:
        raise LoadError("file disappeared while reading") from None
    except IsADirectoryError:
        raise LoadError("is a directory") from None
    except OSError as e:
        raise LoadError(f"cannot read ({e.strerror or e})") from None


# --------------------------------------------------------------------------- text
_BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
]


def decode_text(raw: bytes) -> str:
    """Decode bytes of a text file: BOM, else UTF-8, else cp1252, else latin-1; refuse binary."""
    for bom, enc in _BOMS:
        if raw.startswith(bom):
            return raw.decode(enc, errors="replace")
    for enc in ("utf-8", "cp1252", "latin-1"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    controls = sum(1 for c in text[:100_000] if ord(c) < 32 and c not in "\t\n\r\f")
    if controls > 0.02 * min(len(text), 100_000):
        raise LoadError("binary content, not text")
    return text


_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_DATE_LINE = re.compile(r"^\s*(?:\*\*)?(?:date|publié le|published)\s*(?:\*\*)?\s*:\s*(.+)$", re.I | re.M)


def _read_text(raw: bytes) -> tuple[str, str, str]:
    text = decode_text(raw)
    head = "\n".join(text.lstrip().splitlines()[:8])
    title = ""
    m = _FRONT_MATTER.match(text)
    if m:
        fm = dict(_kv(line) for line in m.group(1).splitlines() if ":" in line)
        title = fm.get("title", "")
        date = parse_date(fm.get("date", ""))
    else:
        date = ""
    if not title:
        h = re.search(r"^\s*#\s+(.+)$", head, re.M)
        if h:
            title = h.group(1)
        else:  # plain text: a short first line is the title
            first = next((line.strip() for line in text.splitlines() if line.strip()), "")
            title = first if len(first) <= 150 and not first.endswith((".", ",", ";")) else ""
    if not date:
        d = _DATE_LINE.search(head)
        date = parse_date(d.group(1)) if d else ""
    return text, title.strip("# *"), date


def _kv(line: str) -> tuple[str, str]:
    k, v = line.split(":", 1)
    return k.strip().lower(), v.strip().strip("'\"")


def _read_pdf(raw: bytes) -> tuple[str, str, str, tuple[int, ...]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("pypdf").setLevel(logging.ERROR)
        try:
            reader = PdfReader(io.BytesIO(raw))
            if reader.is_encrypted and not reader.decrypt(""):
                raise LoadError("password-protected PDF")
            pages = [page.extract_text() or "" for page in reader.pages]
        except LoadError:
            raise
        except (PdfReadError, Exception) as e:
            if "crypt" in str(e).lower() or "password" in str(e).lower():
                raise LoadError("password-protected PDF") from None
            raise LoadError(f"corrupt PDF ({_one_line(e)})") from None
        meta = reader.metadata
    title = str(meta.get("/Title") or "") if meta else ""
    date = parse_date(str(meta.get("/CreationDate") or "")) if meta else ""
    text, starts = _join_pages(pages)
    if not title:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        title = first if len(first) <= 150 else ""
    if not date:
        d = _DATE_LINE.search(text[:2000])
        date = parse_date(d.group(1)) if d else ""
    return text, title, date, starts


def _join_pages(pages: list[str]) -> tuple[str, tuple[int, ...]]:
    """The pages' text joined by blank lines, empty pages dropped, and where each page starts in it.

    Each page is tidied on its own, so tidying the joined text changes nothing and the
    offsets stay exact. An empty page starts where the next non-empty one does.

    >>> _join_pages(["Un", "  ", "Trois"])
    ('Un\\n\\nTrois', (0, 4, 4))
    """
    parts: list[str] = []
    starts: list[int] = []
    pos = 0
    pending = 0  # empty pages waiting for the next page's start
    for page in pages:
        page = _clean(page)
        if not page:
            pending += 1
            continue
        if parts:
            pos += 2  # the "\n\n" before this page
        starts.extend([pos] * (pending + 1))
        pending = 0
        parts.append(page)
        pos += len(page)
    starts.extend([pos] * pending)
    return "\n\n".join(parts), tuple(starts)


def _read_docx(raw: bytes) -> tuple[str, str, str]:
    import io
    import zipfile

    import docx

    try:
        document = docx.Document(io.BytesIO(raw))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise LoadError(f"corrupt .docx ({_one_line(e)})") from None
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text for cell in row.cells))
    text = "\n\n".join(p.strip() for p in parts if p.strip())
    props = document.core_properties
    title = props.title or ""
    if not title:
        heading = next(
            (
                p.text
                for p in document.paragraphs
                if p.text.strip()
                and p.style is not None
                and p.style.name.lower().startswith(("heading", "title", "titre"))
            ),
            "",
        )
        title = heading
    date = ""
    d = _DATE_LINE.search(text[:2000])
    if d:
        date = parse_date(d.group(1))
    if not date and props.created:
        date = props.created.date().isoformat()
    return text, title, date


_BLOCKS = [
    "p",
    "div",
    "br",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "section",
    "article",
    "blockquote",
    "pre",
    "table",
    "ul",
    "ol",
    "header",
    "footer",
]


def _read_html(raw: bytes) -> tuple[str, str, str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "lxml")
    for tag in soup(["script", "style", "noscript", "template", "svg", "iframe", "nav"]):
        tag.decompose()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    h1 = soup.find("h1")
    headline = h1.get_text(" ", strip=True) if h1 else ""
    if not title and headline:
        title = headline
    date = ""
    for key, value in (
        ("name", "date"),
        ("property", "article:published_time"),
        ("name", "dc.date"),
        ("itemprop", "datePublished"),
    ):
        m = soup.find("meta", attrs={key: value})
        content = m.get("content") if m else None
        if content and isinstance(content, str):  # a list only for multi-valued attributes (class)
            date = parse_date(content)
            break
    if not date:
        t = soup.find("time", attrs={"datetime": True})
        stamp = t.get("datetime") if t else None
        if stamp and isinstance(stamp, str):
            date = parse_date(stamp)
    if soup.head:
        soup.head.decompose()
    for tag in soup.find_all(_BLOCKS):
        tag.insert_before("\n\n")
    text = soup.get_text()
    if not date:
        d = _DATE_LINE.search(text[:2000])
        date = parse_date(d.group(1)) if d else ""
    main = main_content(raw)
    # Trafilatura may miss the content of a short hand-written note (no <article>, few <p>):
    # then the whole page is the better text.
    words, main_words = len(text.split()), len(main.split())
    if main_words >= MIN_MAIN_WORDS or (main_words and main_words >= 0.5 * words):
        # trafilatura keeps the headline as metadata, not text: it is the article's first line
        if headline and headline not in main[: len(headline) + 200]:
            main = f"{headline}\n\n{main}"
        text = main
    return text, title, date


MIN_MAIN_WORDS = 40  # a main text this long is trusted even if the page has much more around it


def main_content(raw: bytes) -> str:
    """The article of an HTML page without menus, share bars, cookie banners and footers ("" if none).

    Trafilatura rather than readability-lxml, jusText or boilerpy3: it is built and evaluated
    for news pages (the best of these on the ScrapingHub and Trafilatura benchmarks), it is
    maintained, and it runs offline. Its blocks (paragraphs, headings, list items) are
    separated by blank lines because chunking cuts at paragraph ends.

    >>> main_content(b"<html><body><nav>Accueil</nav><article><p>" + b"Texte. " * 50
    ...              + b"</p></article><footer>Partager</footer></body></html>")[:13]
    'Texte. Texte.'
    """
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    # deduplicate=False: its cache spans calls, so a page's text would depend on earlier pages.
    out = trafilatura.extract(
        raw,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        include_links=False,
        include_images=False,
        deduplicate=False,
    )
    if not out:
        return ""
    return "\n\n".join(line.strip() for line in out.splitlines() if line.strip())


_Reader = Callable[[bytes], tuple[str, str, str] | tuple[str, str, str, tuple[int, ...]]]
_READERS: dict[str, _Reader] = {
    "txt": _read_text,
    "md": _read_text,
    "pdf": _read_pdf,
    "docx": _read_docx,
    "html": _read_html,
}


# --------------------------------------------------------------------------- helpers
def _clean(text: str) -> str:
    """Normalise line ends and blank runs; drop NULs. Offsets later index this exact string."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("janvier", "january", "jan"),
            ("février", "fevrier", "february", "feb"),
            ("mars", "march", "mar"),
            ("avril", "april", "apr"),
            ("mai", "may"),
            ("juin", "june", "jun"),
            ("juillet", "july", "jul"),
            ("août", "aout", "august", "aug"),
            ("septembre", "september", "sep", "sept"),
            ("octobre", "october", "oct"),
            ("novembre", "november", "nov"),
            ("décembre", "decembre", "december", "dec"),
        ]
    )
    for m in names
}


def parse_date(value: str) -> str:
    """Best-effort ISO date from '2025-05-16', '16/05/2025', '16 mai 2025', 'D:20250516…'.

    >>> parse_date("16 mai 2025"), parse_date("D:20250516120000Z")
    ('2025-05-16', '2025-05-16')
    """
    v = (value or "").strip().lower()
    patterns = [
        (r"(?:d:)?(\d{4})-?(\d{2})-?(\d{2})", ("y", "m", "d")),
        (r"(\d{1,2})[/.](\d{1,2})[/.](\d{4})", ("d", "m", "y")),
        (r"(\d{1,2})(?:er)?\s+([a-zéû]+)\.?\s+(\d{4})", ("d", "M", "y")),
        (r"([a-zéû]+)\.?\s+(\d{1,2}),?\s+(\d{4})", ("M", "d", "y")),
    ]
    for pattern, order in patterns:
        m = re.search(pattern, v)
        if not m:
            continue
        parts = dict(zip(order, m.groups()))
        month = _MONTHS.get(parts["M"]) if "M" in parts else int(parts["m"])
        try:
            return dt.date(int(parts["y"]), int(month or 0), int(parts["d"])).isoformat()
        except (TypeError, ValueError):
            continue
    return ""


def _mtime_date(path: Path) -> str:
    try:
        return dt.date.fromtimestamp(path.stat().st_mtime).isoformat()
    except OSError:
        return dt.date.today().isoformat()


def _title_from_name(path: Path) -> str:
    stem = re.sub(r"^\d{4}-\d{2}-\d{2}[-_ ]*", "", path.stem)
    return re.sub(r"[-_]+", " ", stem).strip().capitalize() or path.name


def _one_line(value) -> str:
    return " ".join(str(value).split())[:200]
