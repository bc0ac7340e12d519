"""The cited briefings behind the source cards: ids resolved only within the index, the view's highlight,
and the routes served by a real Gradio app (with a login), fetched over HTTP."""

import html
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import pytest
from test_loaders import pages_pdf

from conftest import write
from rag.indexing import build_index
from rag.retrieval import Retriever
from rag.schema import Answer, Citation
from rag.store import IndexStore
from ui.documents import DocumentNotFound, doc_id, document_text, original_headers, resolve, view_html
from ui.service import sources_html

NOTE = (
    "# Trêve & <b>négociations</b>\nDate : 2025-05-20\n\n"
    "Les délégations se sont retrouvées à Istanbul le 16 mai. "
    "Le cessez-le-feu de 30 jours a été proposé par Donald Trump. "
    "Moscou a répondu par un mémorandum.\n\nLes discussions reprendront en juin."
)
PDF = [
    ["Rome summit. The leaders met in Rome on Monday."],
    [],
    ["Truce in Kivu. The armed groups signed a ceasefire in Goma on Friday, under the mediation of Qatar."],
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, base_settings, embedder):
    """A small index: a Markdown note with HTML-like text, a cp1252 text file, an HTML page, a PDF."""
    root = tmp_path_factory.mktemp("documents")
    folder = root / "briefings"
    write(folder, "treve.md", NOTE)
    (folder / "gaz.txt").write_bytes("Gaz\n\nLes prix du gaz ont baissé à 36 € le mégawattheure.".encode("cp1252"))
    write(
        folder,
        "page.html",
        "<html><head><title>Page</title><script>alert(1)</script></head>"
        "<body><p>Les céréales partent d'Odessa par la mer Noire.</p></body></html>",
    )
    (folder / "rapport.pdf").write_bytes(pages_pdf(PDF))
    settings = base_settings.replace(index_dir=str(root / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    return settings, folder


def _citation(settings, embedder, query):
    """The Citation the answerer would build for the top hit and its sentence closest to the query."""
    hit = Retriever(IndexStore(settings.index_dir), embedder, settings).search(query, k=1)[0]
    s, e, _ = max(hit.sentences, key=lambda t: t[2])
    return Citation(
        n=1,
        doc=hit.doc,
        title=hit.title,
        start=hit.start,
        end=hit.end,
        text=hit.text,
        date=hit.date,
        quote_start=s,
        quote_end=e,
        page=hit.page_at(s),
    )


def _view_href(card_html: str) -> str:
    m = re.search(r"href='(doc/[0-9a-f]{16}/view\?[^']*)'", card_html)
    assert m, card_html
    return html.unescape(m.group(1))


def test_resolver_refuses_unknown_ids_and_paths_outside_the_index(indexed, tmp_path):
    settings, folder = indexed
    md = str(folder / "treve.md")
    assert resolve(doc_id(md), settings.index_dir).path == Path(md)
    for key in [
        "../../etc/passwd",
        "/etc/passwd",
        md,
        doc_id("/etc/passwd"),
        doc_id(md).upper(),
        "0" * 16,
        "",
        doc_id(md) + "/../x",
    ]:
        with pytest.raises(DocumentNotFound):
            resolve(key, settings.index_dir)
    with pytest.raises(DocumentNotFound, match="no index"):
        resolve(doc_id(md), str(tmp_path / "no-index"))


def test_resolver_refuses_a_document_deleted_since_indexing(indexed, tmp_path, base_settings, embedder):
    folder = tmp_path / "b"
    write(folder, "a.md", "# A\n\nUne note sur le gaz.")
    write(folder, "b.md", "# B\n\nUne note sur le blé.")
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    (folder / "b.md").unlink()
    with pytest.raises(DocumentNotFound, match="no longer on disk"):
        resolve(doc_id(str(folder / "b.md")), settings.index_dir)


def test_view_marks_the_cited_sentence_at_the_citations_offsets(indexed, embedder):
    settings, _ = indexed
    c = _citation(settings, embedder, "Qui a proposé le cessez-le-feu de 30 jours ?")
    assert Path(c.doc).name == "treve.md" and c.page is None
    card = sources_html(Answer(text="Trump [1].", found=True, citations=[c]))
    assert "p. " not in card and "view in document" in card and "target='_blank'" in card
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(_view_href(card)).query)
    s, e = int(query["s"][0]), int(query["e"][0])
    assert (s, e) == (c.quote_start, c.quote_end)
    text = document_text(c.doc)
    assert text[s:e] == "Le cessez-le-feu de 30 jours a été proposé par Donald Trump."
    page = view_html(resolve(doc_id(c.doc), settings.index_dir), s, e)
    # the whole document, escaped, with exactly the cited characters marked
    assert (
        "<pre>"
        + html.escape(text[:s])
        + "<mark id='cited'>"
        + html.escape(text[s:e])
        + "</mark>"
        + html.escape(text[e:])
        + "</pre>"
    ) in page
    assert "&lt;b&gt;négociations&lt;/b&gt;" in page and "<b>négociations" not in page
    assert "scrollIntoView" in page and "changed since it was indexed" not in page
    # offsets outside the text: the document without a mark, never an error
    assert "<mark" not in view_html(resolve(doc_id(c.doc), settings.index_dir), 5, 10**9)


def test_pdf_card_shows_its_page_and_opens_the_file_at_it(indexed, embedder):
    settings, _ = indexed
    c = _citation(settings, embedder, "ceasefire signed in Goma")
    assert Path(c.doc).name == "rapport.pdf" and c.page == 3  # the quote's page; the passage starts on 1
    card = sources_html(Answer(text="Goma [1].", found=True, citations=[c]))
    assert "rapport.pdf · p. 3 · chars" in card
    assert f"href='doc/{doc_id(c.doc)}#page=3'" in card and "view in document" not in card


def test_original_files_are_served_inert(indexed):
    settings, folder = indexed
    headers = {
        name: original_headers(resolve(doc_id(str(folder / name)), settings.index_dir))
        for name in ["treve.md", "gaz.txt", "page.html", "rapport.pdf"]
    }
    assert headers["treve.md"]["content-type"] == "text/plain; charset=utf-8"
    assert headers["gaz.txt"]["content-type"] == "text/plain; charset=windows-1252"
    assert headers["page.html"]["content-type"] == "text/html"
    assert headers["page.html"]["content-security-policy"] == "sandbox"  # its scripts never run as the app
    assert headers["rapport.pdf"]["content-type"] == "application/pdf"
    assert "content-security-policy" not in headers["rapport.pdf"]  # PDF viewers refuse sandboxing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_app_serves_the_view_and_the_file_behind_its_login(indexed, embedder):
    """The real Gradio app (ui/app.py build_app, launched with the routes main() gives it and a login),
    without the LLM: the card's link is fetched over HTTP."""
    from ui.app import build_app
    from ui.documents import document_routes
    from ui.service import ChatService

    settings, _ = indexed
    c = _citation(settings, embedder, "Qui a proposé le cessez-le-feu de 30 jours ?")
    href = _view_href(sources_html(Answer(text="Trump [1].", found=True, citations=[c])))
    demo = build_app(ChatService(settings))
    demo.queue()
    port = _free_port()
    demo.launch(
        server_name="127.0.0.1",
        server_port=port,
        prevent_thread_lock=True,
        quiet=True,
        auth=("reader", "secret"),
        app_kwargs={"routes": document_routes(settings.index_dir)},
    )
    base = f"http://127.0.0.1:{port}/"
    try:

        def status(opener, url):
            try:
                with opener.open(url, timeout=30) as r:
                    return r.status, r.read(), r.headers
            except urllib.error.HTTPError as e:
                return e.code, e.read(), e.headers

        anonymous = urllib.request.build_opener()
        assert status(anonymous, base + href)[0] == 401  # the login covers the files too
        reader = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        login = urllib.parse.urlencode({"username": "reader", "password": "secret"}).encode()
        assert status(reader, urllib.request.Request(base + "login", data=login))[0] == 200

        code, body, _ = status(reader, base + href)  # the card's link, relative to the page
        text = document_text(c.doc)
        assert code == 200
        assert f"<mark id='cited'>{html.escape(text[c.quote_start : c.quote_end])}</mark>" in body.decode()
        code, body, headers = status(reader, base + f"doc/{doc_id(c.doc)}")
        assert code == 200 and body == Path(c.doc).read_bytes() and headers["content-security-policy"] == "sandbox"
        for bad in [
            "doc/0123456789abcdef/view?s=0&e=5",
            f"doc/{doc_id('/etc/passwd')}",
            "doc/..%2F..%2F..%2Fetc%2Fpasswd",
            "doc/%2Fetc%2Fpasswd/view",
        ]:
            code, body, _ = status(reader, base + bad)
            assert code == 404 and b"root:" not in body, bad
        code, body, _ = status(reader, base + "gradio_api/info")  # Gradio's own API still there
        assert code == 200 and b'"/chat"' in body
    finally:
        demo.close()
