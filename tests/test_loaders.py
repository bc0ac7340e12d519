"""Loaders on real files written by the tests: encodings, metadata, PDF/DOCX/HTML, bad files."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import random
import re
from pathlib import Path

import pytest

from rag.loaders import LoadError, load_file, load_folder, parse_date

FRENCH = "Le président a proposé une trêve à Paris ; l’été, ça coûte 5 € et c’est une œuvre déjà célèbre."
FRENCH_WORDS = ["président", "proposé", "trêve", "à", "l’été", "ça", "coûte", "5 €", "œuvre", "déjà", "célèbre"]
MOJIBAKE = ["Ã", "â€", "Å“", "\ufffd", "\ufeff", "\x00"]


def _assert_clean_french(text: str, words=FRENCH_WORDS) -> None:
    for w in words:
        assert w in text, (w, text)
    for bad in MOJIBAKE:
        assert bad not in text, (bad, text)


def _write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# --------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1252", "utf-16"])
def test_text_encodings_decode_french(tmp_path, encoding):
    content = "Note de synthèse\n\n" + FRENCH + "\n"
    raw = content.encode(encoding)
    if encoding == "utf-8-sig":
        assert raw.startswith(b"\xef\xbb\xbf")
    if encoding == "utf-16":
        assert raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    doc = load_file(_write(tmp_path, f"note-{encoding}.txt", raw))
    _assert_clean_french(doc.text)
    assert doc.text.startswith("Note de synthèse")  # no BOM left in front
    assert doc.title == "Note de synthèse"
    assert doc.format == "txt"


def test_cp1252_specific_bytes_are_not_utf8(tmp_path):
    # the cp1252-only characters (’ € œ) must come back, not latin-1 control characters
    raw = "« L’euro € et l’œuvre » à Paris, ça marche.".encode("cp1252")
    assert b"\x92" in raw and b"\x80" in raw and b"\x9c" in raw
    doc = load_file(_write(tmp_path, "cp.txt", raw))
    assert "L’euro € et l’œuvre" in doc.text
    assert not re.search(r"[\x80-\x9f]", doc.text)


def test_latin1_text(tmp_path):
    content = "Réunion à Genève\n\nLa délégation française a déjà reçu l'accord, ça avance à grands pas."
    raw = content.encode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    doc = load_file(_write(tmp_path, "latin.txt", raw))
    _assert_clean_french(doc.text, ["Réunion", "Genève", "délégation", "française", "déjà", "reçu", "ça", "à grands"])
    assert doc.title == "Réunion à Genève"


def test_text_with_stray_nul_bytes_is_read_without_them(tmp_path):
    body = ("La trêve de trente jours a été proposée par les Européens. " * 6).strip()
    raw = body.encode("utf-8")
    raw = raw[:40] + b"\x00" + raw[40:120] + b"\x00" + raw[120:]
    doc = load_file(_write(tmp_path, "nul.txt", raw))
    assert "\x00" not in doc.text
    assert "trêve" in doc.text and "Européens" in doc.text
    assert doc.text.replace(" ", "") == body.replace(" ", "")


def test_crlf_normalised(tmp_path):
    doc = load_file(_write(tmp_path, "crlf.txt", "Titre court\r\n\r\nPremière ligne.\r\nDeuxième ligne.\r\n"))
    assert "\r" not in doc.text
    assert doc.text == "Titre court\n\nPremière ligne.\nDeuxième ligne.\n"


def test_text_offsets_match_the_file_as_python_reads_it(tmp_path):
    raw = "# Titre  \n\n\n\nPremier paragraphe avec espaces finaux.   \n\nSecond.\n"
    path = _write(tmp_path, "offsets.md", raw)
    assert load_file(path).text == path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- metadata of text files
def test_markdown_heading_and_date_line(tmp_path):
    md = "# Istanbul : Moscou envoie une délégation\n\nDate : 2025-05-16\n\nLa Russie a dépêché une délégation.\n"
    doc = load_file(_write(tmp_path, "istanbul.md", md))
    assert doc.title == "Istanbul : Moscou envoie une délégation"
    assert doc.date == "2025-05-16"
    assert doc.format == "md"
    assert "La Russie a dépêché une délégation." in doc.text


def test_markdown_front_matter(tmp_path):
    md = (
        '---\ntitle: "Trêve de 30 jours : Paris presse Moscou"\ndate: 2025-05-20\nauthor: x\n---\n\n'
        "# Un autre titre\n\nEmmanuel Macron a exhorté Poutine à accepter la trêve.\n"
    )
    doc = load_file(_write(tmp_path, "treve.md", md))
    assert doc.title == "Trêve de 30 jours : Paris presse Moscou"
    assert doc.date == "2025-05-20"
    assert "Emmanuel Macron a exhorté Poutine" in doc.text


def test_plain_text_date_falls_back_to_mtime_and_title_to_first_line(tmp_path):
    path = _write(tmp_path, "2024-01-01-note.txt", "Note interne\n\nLa réunion a eu lieu sans précision de jour.\n")
    stamp = dt.datetime(2024, 3, 15, 12, 0, 0).timestamp()
    os.utime(path, (stamp, stamp))
    doc = load_file(path)
    assert doc.date == "2024-03-15"
    assert doc.title == "Note interne"


def test_title_falls_back_to_file_name_when_first_line_is_a_sentence(tmp_path):
    path = _write(tmp_path, "2025-05-19-appels-trump.txt", "Le président a appelé ses homologues ce matin.\n")
    assert load_file(path).title == "Appels trump"


# --------------------------------------------------------------------------- HTML
def test_html_title_date_and_no_script_or_style(tmp_path):
    html = """<!DOCTYPE html>
<html lang="fr"><head>
<meta charset="utf-8">
<title>L'Europe écartée : l'alliance Weimar+ prend forme</title>
<meta name="date" content="2025-05-22">
<style>body { color: red; } .cssSecretRule { display: none; }</style>
<script>var jsSecretVariable = "ne pas indexer";</script>
</head><body>
<h1>Titre visible</h1>
<p>L'alliance Weimar+ regroupe plusieurs pays européens.</p><p>Deuxième paragraphe, à Varsovie.</p>
<script>console.log("inlineSecretCall");</script>
<style>p { margin: 0 } .bodyStyleSecret {}</style>
</body></html>"""
    doc = load_file(_write(tmp_path, "weimar.html", html))
    assert doc.title == "L'Europe écartée : l'alliance Weimar+ prend forme"
    assert doc.date == "2025-05-22"
    assert doc.format == "html"
    assert "L'alliance Weimar+ regroupe plusieurs pays européens." in doc.text
    assert "Deuxième paragraphe, à Varsovie." in doc.text
    assert "européens.Deuxième" not in doc.text  # block elements are separated
    for secret in (
        "jsSecretVariable",
        "ne pas indexer",
        "inlineSecretCall",
        "console.log",
        "color: red",
        "cssSecretRule",
        "bodyStyleSecret",
        "margin",
    ):
        assert secret not in doc.text, secret


NEWS_PAGE = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<title>Trêve : Kyiv accepte un cessez-le-feu de 30 jours | Le Quotidien</title>
<meta property="article:published_time" content="2025-05-20T08:00:00+02:00">
</head><body>
<header><div class="logo">Le Quotidien</div>
<ul class="menu"><li><a href="/">Accueil</a></li><li><a href="/monde">International</a></li><li><a href="/eco">Économie</a></li><li><a href="/abo">Abonnez-vous</a></li></ul></header>
<div id="cookie-banner">Nous utilisons des cookies pour améliorer votre expérience. En poursuivant votre navigation, vous acceptez leur utilisation. <button>Accepter</button> <button>Paramétrer</button></div>
<main><article>
<h1>Trêve : Kyiv accepte un cessez-le-feu de 30 jours</h1>
<div class="share">Partager <a href="#">Facebook</a> <a href="#">Twitter</a> <a href="#">LinkedIn</a></div>
<p>Le président ukrainien a annoncé lundi qu'il acceptait la proposition de cessez-le-feu de trente jours portée par Paris et Londres, à condition que Moscou s'y engage également et que la trêve soit vérifiée par des observateurs.</p>
<p>Les Européens veulent partager le fardeau de la surveillance : plusieurs capitales ont proposé des moyens satellitaires et des drones pour contrôler la ligne de front pendant la durée de la trêve.</p>
<p class="related">Lire aussi : Les sanctions européennes contre la Russie prolongées de six mois</p>
<p>Le Kremlin a répondu qu'il étudierait la proposition, tout en posant ses propres conditions, notamment l'arrêt des livraisons d'armes occidentales pendant la durée du cessez-le-feu.</p>
</article></main>
<aside><h3>Les plus lus</h3><ul><li><a href="#">Un autre article très lu sur la politique intérieure</a></li><li><a href="#">Météo : canicule annoncée</a></li></ul></aside>
<footer><p>SUIVEZ-NOUS SUR ▼▼</p><p>Facebook · Twitter · Instagram</p><p>Abonnez-vous à notre newsletter</p><p>© 2025 Le Quotidien. Tous droits réservés.</p><p><a href="/mentions">Mentions légales</a> · <a href="/cgu">CGU</a></p></footer>
</body></html>"""


def test_html_news_page_keeps_the_article_not_menus_share_bars_cookies_or_footer(tmp_path):
    doc = load_file(_write(tmp_path, "treve.html", NEWS_PAGE))
    assert doc.date == "2025-05-20"
    assert doc.title.startswith("Trêve : Kyiv accepte")
    assert "Le président ukrainien a annoncé lundi" in doc.text
    assert "Le Kremlin a répondu qu'il étudierait la proposition" in doc.text
    # an article sentence that happens to say "partager" is content
    assert "Les Européens veulent partager le fardeau de la surveillance" in doc.text
    # paragraphs stay paragraphs: chunking cuts at blank lines
    assert "observateurs.\n\nLes Européens" in doc.text
    for junk in (
        "SUIVEZ-NOUS",
        "Abonnez-vous",
        "newsletter",
        "cookies",
        "Accepter",
        "Paramétrer",
        "Tous droits réservés",
        "Mentions légales",
        "Les plus lus",
        "Météo",
        "Accueil",
        "Facebook",
        "Twitter",
        "Lire aussi",
    ):
        assert junk not in doc.text, junk


def test_html_note_where_trafilatura_finds_nothing_keeps_its_whole_text(tmp_path):
    from rag.loaders import main_content

    # a hand-written note put in a <footer>: trafilatura (rightly, for news pages) discards it
    html = (
        "<html><head><title>Note</title></head><body><footer><p>Réunion à Varsovie le 12 juin. "
        "Ordre du jour : garanties.</p></footer></body></html>"
    )
    assert main_content(html.encode()) == ""
    doc = load_file(_write(tmp_path, "note.html", html))
    assert "Réunion à Varsovie le 12 juin. Ordre du jour : garanties." in doc.text


# --------------------------------------------------------------------------- DOCX
def _docx_bytes(title: str | None, heading: str, paragraphs: list[str]) -> bytes:
    docx = pytest.importorskip("docx")
    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.add_heading(heading, level=1)
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_text_title_and_date(tmp_path):
    raw = _docx_bytes(
        "Coalition des volontaires",
        "Une coalition européenne",
        [
            "Date : 2025-05-24",
            "Le Royaume-Uni, l'Allemagne et la France soutiennent l'Ukraine.",
            "Deuxième paragraphe à propos de la trêve.",
        ],
    )
    doc = load_file(_write(tmp_path, "coalition.docx", raw))
    assert doc.format == "docx"
    assert doc.title == "Coalition des volontaires"
    assert doc.date == "2025-05-24"
    for part in (
        "Une coalition européenne",
        "Le Royaume-Uni, l'Allemagne et la France soutiennent l'Ukraine.",
        "Deuxième paragraphe à propos de la trêve.",
    ):
        assert part in doc.text
    assert doc.text.index("Une coalition") < doc.text.index("Le Royaume-Uni") < doc.text.index("Deuxième")


def test_docx_title_from_heading_when_no_core_title(tmp_path):
    raw = _docx_bytes(None, "Budgets de défense en hausse", ["Les alliés augmentent leurs dépenses."])
    assert load_file(_write(tmp_path, "budgets.docx", raw)).title == "Budgets de défense en hausse"


# --------------------------------------------------------------------------- PDF
def _pdf_string(s: str) -> bytes:
    return b"(" + s.encode("latin-1").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def minimal_pdf(text: str = "La treve de 30 jours", info: dict[str, str] | None = None) -> bytes:
    """A one-page PDF with a Helvetica text object and a correct xref table."""
    content = b"BT /F1 12 Tf 72 712 Td " + _pdf_string(text) + b" Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    if info:
        objects.append(b"<< " + b" ".join(b"/" + k.encode() + b" " + _pdf_string(v) for k, v in info.items()) + b" >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    trailer = b"<< /Size %d /Root 1 0 R" % (len(objects) + 1)
    if info:
        trailer += b" /Info %d 0 R" % len(objects)
    out += b"trailer\n" + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    raw = bytes(out)
    # self-check: every xref offset points at its "n 0 obj"
    for n, off in enumerate(offsets, start=1):
        assert raw[off:].startswith(b"%d 0 obj" % n)
    return raw


def pages_pdf(pages: list[list[str]]) -> bytes:
    """A PDF with one page per entry, each line of the entry a text line (an empty entry: a blank page)."""
    n = len(pages)
    font = 3 + 2 * n  # objects: catalog, pages, then (page, contents) per page, font
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(n)), n),
    ]
    for i, lines in enumerate(pages):
        content = b"BT /F1 11 Tf 14 TL 72 740 Td " + b" ".join(_pdf_string(line) + b" Tj T*" for line in lines) + b" ET"
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (4 + 2 * i, font)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for k, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_pdf_pages_are_mapped_exactly_even_across_a_blank_page(tmp_path):
    from pypdf import PdfReader

    pages = [
        ["Page one: the summit opened in Rome."],
        [],
        ["Page three: the truce was signed."],
        ["Page four: gas prices fell."],
    ]
    raw = pages_pdf(pages)
    assert len(PdfReader(io.BytesIO(raw), strict=True).pages) == 4
    doc = load_file(_write(tmp_path, "pages.pdf", raw))
    assert len(doc.pages) == 4 and doc.pages[1] == doc.pages[2]  # the blank page starts with the next
    for number, lines in enumerate(pages, start=1):
        if lines:
            start = doc.pages[number - 1]
            assert doc.text[start:].startswith(lines[0]), (number, doc.text[start : start + 40])
            assert doc.page_at(start) == number and doc.page_at(start + len(lines[0]) - 1) == number
    assert doc.page_at(doc.text.index("truce")) == 3 and doc.page_at(doc.text.index("gas")) == 4
    assert doc.page_at(doc.text.index("Rome")) == 1


def test_formats_without_pages_have_none(tmp_path):
    doc = load_file(_write(tmp_path, "note.txt", "Une note.\n\nSur deux paragraphes."))
    assert doc.pages == () and doc.page_at(5) is None


def test_minimal_pdf_is_valid_for_pypdf_strict():
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(minimal_pdf()), strict=True)
    assert len(reader.pages) == 1
    assert "La treve de 30 jours" in reader.pages[0].extract_text()


def test_pdf_text_extracted(tmp_path):
    doc = load_file(_write(tmp_path, "treve.pdf", minimal_pdf()))
    assert doc.format == "pdf"
    assert "La treve de 30 jours" in doc.text
    assert doc.title == "La treve de 30 jours"  # first short line when no /Title


def test_pdf_title_and_date_metadata(tmp_path):
    raw = minimal_pdf(
        "Les prix du gaz baissent", {"Title": "Gaz : prix et sanctions", "CreationDate": "D:20250610093000Z"}
    )
    doc = load_file(_write(tmp_path, "gaz.pdf", raw))
    assert "Les prix du gaz baissent" in doc.text
    assert doc.title == "Gaz : prix et sanctions"
    assert doc.date == "2025-06-10"


def _encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter
    from pypdf.errors import DependencyError

    writer = PdfWriter()
    writer.add_page(PdfReader(io.BytesIO(minimal_pdf())).pages[0])
    try:
        writer.encrypt("secret", algorithm="RC4-128")
    except DependencyError:
        pytest.importorskip("cryptography")
        writer = PdfWriter()
        writer.add_page(PdfReader(io.BytesIO(minimal_pdf())).pages[0])
        writer.encrypt("secret", algorithm="AES-256")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_password_protected_pdf_is_refused(tmp_path):
    path = _write(tmp_path, "secret.pdf", _encrypted_pdf())
    with pytest.raises(LoadError, match="password"):
        load_file(path)
    _write(tmp_path, "ok.txt", "Bonne note\n\nLa trêve tient.")
    docs, skipped = load_folder(tmp_path)
    assert [Path(d.path).name for d in docs] == ["ok.txt"]
    assert len(skipped) == 1 and Path(skipped[0].path).name == "secret.pdf"
    assert "password" in skipped[0].reason


# --------------------------------------------------------------------------- bad files in a folder
def test_bad_files_are_skipped_with_one_line_reasons_and_good_files_loaded(tmp_path):
    good = {
        "bonne-note.txt": "Bonne note\n\nLa trêve de 30 jours a été proposée.",
        "autre.md": "# Autre note\n\nDate : 2025-05-20\n\nLes Européens soutiennent la trêve.",
    }
    for name, text in good.items():
        _write(tmp_path, name, text)
    _write(tmp_path, "bonne.pdf", minimal_pdf())
    bad = {
        "vide.txt": (b"", "empty"),
        "blancs.md": (b"  \n\t\n   \r\n", "empty"),
        "aleatoire.txt": (random.Random(20250516).randbytes(4096), "binary"),
        "faux.docx": (b"PK\x03\x04 this is not a zip archive " + random.Random(7).randbytes(512), "docx"),
        "donnees.xyz": (b"La trevee de 30 jours", "unsupported"),
        "tronque.pdf": (b"%PDF-1.4\n garbage", "pdf"),
    }
    for name, (data, _) in bad.items():
        _write(tmp_path, name, data)
    os.symlink(tmp_path / "n-existe-pas.txt", tmp_path / "lien-casse.txt")
    bad["lien-casse.txt"] = (None, "link")

    docs, skipped = load_folder(tmp_path)

    assert sorted(Path(d.path).name for d in docs) == sorted([*good, "bonne.pdf"])
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert sorted(reasons) == sorted(bad)
    for name, (_, keyword) in bad.items():
        reason = reasons[name]
        assert reason and "\n" not in reason and "\r" not in reason, (name, reason)
        assert keyword in reason.lower(), (name, reason)
    assert "PDF" in reasons["tronque.pdf"]


def test_unreadable_file_is_skipped(tmp_path):
    _write(tmp_path, "lisible.txt", "Lisible\n\nLa trêve tient toujours.")
    locked = _write(tmp_path, "verrouille.txt", "Secret\n\nPersonne ne doit lire ceci.")
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that can read a mode-000 file (root)")
        docs, skipped = load_folder(tmp_path)
        assert [Path(d.path).name for d in docs] == ["lisible.txt"]
        assert len(skipped) == 1 and Path(skipped[0].path).name == "verrouille.txt"
        assert "permission" in skipped[0].reason and "\n" not in skipped[0].reason
    finally:
        locked.chmod(0o644)


def test_load_file_raises_load_error_not_other_exceptions(tmp_path):
    for name, data in [
        ("a.txt", b""),
        ("b.pdf", b"%PDF-1.4\n garbage"),
        ("c.docx", b"junk" * 50),
        ("d.html", b"<html><script>only()</script></html>"),
    ]:
        with pytest.raises(LoadError):
            load_file(_write(tmp_path, name, data))


# --------------------------------------------------------------------------- names, path, hash
def test_names_with_spaces_accents_and_emoji(tmp_path):
    names = ["note de synthèse.txt", "Trêve à Genève — été.md", "drapeau 🇺🇦 paix 🕊️.txt", "Ωmega ünïcode.html"]
    for i, name in enumerate(names):
        body = (
            f"<html><body><p>Texte numéro {i}, la trêve.</p></body></html>"
            if name.endswith(".html")
            else f"Titre {i}\n\nTexte numéro {i}, la trêve."
        )
        _write(tmp_path, name, body)
    docs, skipped = load_folder(tmp_path)
    assert skipped == []
    by_name = {Path(d.path).name: d for d in docs}
    assert sorted(by_name) == sorted(names)
    for i, name in enumerate(names):
        assert f"Texte numéro {i}, la trêve." in by_name[name].text
        assert Path(by_name[name].path) == tmp_path / name


def test_load_file_absolute_path_and_sha256_of_raw_bytes(tmp_path, monkeypatch):
    raw = "\ufeffTitre\r\n\r\nLa trêve de 30 jours.\r\n".encode("utf-8")
    _write(tmp_path, "hash.txt", raw)
    monkeypatch.chdir(tmp_path)
    doc = load_file("hash.txt")
    assert os.path.isabs(doc.path)
    assert doc.path == str(tmp_path / "hash.txt")
    assert doc.sha256 == hashlib.sha256(raw).hexdigest()
    assert doc.sha256 != hashlib.sha256(doc.text.encode("utf-8")).hexdigest()  # raw bytes, not text
    assert load_file(tmp_path / "hash.txt", raw=raw).sha256 == doc.sha256


# --------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    "value, expected",
    [
        ("2025-05-16", "2025-05-16"),
        ("16/05/2025", "2025-05-16"),
        ("16 mai 2025", "2025-05-16"),
        ("1er juin 2025", "2025-06-01"),
        ("May 16, 2025", "2025-05-16"),
        ("D:20250516120000Z", "2025-05-16"),
        ("12 février 2025", "2025-02-12"),
        ("3 août 2024", "2024-08-03"),
        ("2025-05-16T10:30:00+02:00", "2025-05-16"),
        ("", ""),
        ("pas de date ici", ""),
        ("31/02/2025", ""),
    ],
)
def test_parse_date(value, expected):
    assert parse_date(value) == expected


def test_html_article_keeps_its_headline():
    """trafilatura keeps the <h1> as metadata only: the headline stays the text's first line."""
    from conftest import SAMPLES
    from rag.loaders import load_file

    doc = load_file(SAMPLES / "2025-05-22-weimar-plus-europe-ecartee.html")
    assert doc.text.startswith("L'Europe écartée des pourparlers : l'alliance Weimar+ prend forme\n\n")
    assert doc.text.count("l'alliance Weimar+ prend forme") == 1
