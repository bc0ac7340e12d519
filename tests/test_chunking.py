"""Sentence splitting (French/English) and chunking with exact spans, on real briefings."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.chunking import chunk_document, split_sentences
from rag.loaders import load_file
from rag.schema import Document

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "briefings"
SEED_FILE = Path("/work/shared/seed/briefing-ukraine-fr.txt")


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def make_doc(text: str, path: str = "/tmp/doc.txt") -> Document:
    return Document(path=path, text=text, title="T", date="2025-01-01", sha256="0" * 64, format="txt")


# --------------------------------------------------------------------------- split_sentences
def test_french_abbreviations_do_not_split():
    text = (
        "M. Macron et Mme Durand ont évoqué la bataille d'Alésia en 52 av. J.-C. avec les délégués. "
        "Ils ont parlé des chars, des drones, etc. et des munitions. Le sommet a suivi."
    )
    assert sentences(text) == [
        "M. Macron et Mme Durand ont évoqué la bataille d'Alésia en 52 av. J.-C. avec les délégués.",
        "Ils ont parlé des chars, des drones, etc. et des munitions.",
        "Le sommet a suivi.",
    ]


def test_etc_at_sentence_end_splits_before_capital():
    assert sentences("Des chars, des drones, etc. Le sommet a suivi.") == [
        "Des chars, des drones, etc.",
        "Le sommet a suivi.",
    ]


def test_initials_and_decimals_do_not_split():
    text = "J. Biden a parlé avec Dr. Smith. Le taux est passé à 3.5 pour cent. La hausse de 2.25 points inquiète."
    assert sentences(text) == [
        "J. Biden a parlé avec Dr. Smith.",
        "Le taux est passé à 3.5 pour cent.",
        "La hausse de 2.25 points inquiète.",
    ]


def test_glued_sentences_are_split():
    text = "Les efforts sont dirigés par le président Donald Trump.Le président Trump a prévu des appels."
    assert sentences(text) == [
        "Les efforts sont dirigés par le président Donald Trump.",
        "Le président Trump a prévu des appels.",
    ]


def test_acronyms_with_dots_do_not_split():
    assert sentences("Les U.S. ont parlé aux Européens. Ils attendent.") == [
        "Les U.S. ont parlé aux Européens.",
        "Ils attendent.",
    ]


def test_exclamation_and_question_with_french_spacing():
    text = "Quelle surprise ! Pourquoi maintenant ? Personne ne le sait\u00a0! Le ministre se tait."
    assert sentences(text) == [
        "Quelle surprise !",
        "Pourquoi maintenant ?",
        "Personne ne le sait\u00a0!",
        "Le ministre se tait.",
    ]


def test_guillemets_with_french_spacing():
    text = (
        "Il a demandé : « Pourquoi ? » Le ministre n'a pas répondu. "
        "« Nous voulons la paix ! » a déclaré Zelensky. "
        "Il a conclu : «\u00a0C'est fini.\u00a0» Puis il est parti."
    )
    assert sentences(text) == [
        "Il a demandé : « Pourquoi ? »",
        "Le ministre n'a pas répondu.",
        "« Nous voulons la paix ! » a déclaré Zelensky.",
        "Il a conclu : «\u00a0C'est fini.\u00a0»",
        "Puis il est parti.",
    ]


def test_closing_quotes_stay_with_their_sentence():
    text = 'Il a dit « stop. » Ensuite le silence. Elle a écrit "assez." Puis elle est partie.'
    assert sentences(text) == [
        "Il a dit « stop. »",
        "Ensuite le silence.",
        'Elle a écrit "assez."',
        "Puis elle est partie.",
    ]


def test_title_lines_are_their_own_sentence():
    text = "Trêve de 30 jours : Paris presse Moscou\nDate : 2025-05-20\n\nLe président a parlé. Il a insisté."
    assert sentences(text) == [
        "Trêve de 30 jours : Paris presse Moscou",
        "Date : 2025-05-20",
        "Le président a parlé.",
        "Il a insisté.",
    ]


def test_split_sentences_spans_are_trimmed_and_ordered():
    text = "  Première phrase.   Deuxième phrase !\n\n  Troisième ?  "
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == ["Première phrase.", "Deuxième phrase !", "Troisième ?"]
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_split_sentences_respects_start_end():
    text = "Avant. Une phrase ici. Une autre là. Après."
    start, end = text.index("Une phrase"), text.index(" Après")
    assert [text[s:e] for s, e in split_sentences(text, start, end)] == ["Une phrase ici.", "Une autre là."]


# --------------------------------------------------------------------------- chunk invariants on real files
def _real_docs() -> list[Document]:
    paths = sorted(p for p in SAMPLES.glob("*") if p.is_file())
    if SEED_FILE.exists():
        paths.insert(0, SEED_FILE)
    return [load_file(p) for p in paths]


REAL_DOCS = _real_docs()
PARAMS = [(100, 160, 1), (40, 60, 1), (20, 30, 1), (8, 12, 1), (30, 40, 0), (30, 50, 2), (10, 30, 3)]


def _is_word_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def check_chunks(doc: Document, chunks, words: int, max_words: int, overlap: int) -> None:
    text = doc.text
    assert chunks, doc.path
    sents = split_sentences(text)

    def containing(pos: int):
        return next((s for s in sents if s[0] <= pos < s[1]), None)

    for c in chunks:
        # exact spans
        assert text[c.start : c.end] == c.text
        assert 0 <= c.start < c.end <= len(text)
        assert c.doc == doc.path and c.title == doc.title and c.date == doc.date
        assert c.text == c.text.strip()
        # never inside a word
        assert c.start == 0 or not (_is_word_char(text[c.start - 1]) and _is_word_char(text[c.start])), (
            doc.path,
            text[max(0, c.start - 20) : c.start + 20],
        )
        assert c.end == len(text) or not (_is_word_char(text[c.end - 1]) and _is_word_char(text[c.end])), (
            doc.path,
            text[c.end - 20 : c.end + 20],
        )
        # chunks start and end on sentence boundaries, unless cutting a very long sentence
        for pos, is_edge in (
            (c.start, any(s == c.start for s, _ in sents)),
            (c.end - 1, any(e == c.end for _, e in sents)),
        ):
            if not is_edge:
                s = containing(pos)
                assert s is not None and s[1] - s[0] > max_words * 5, (doc.path, c.text[:60], c.text[-60:])
        # word bounds: over max_words only when the chunk is (part of) one single sentence
        if len(c.text.split()) > max_words:
            s = containing(c.start)
            assert s is not None and c.end <= s[1], (doc.path, len(c.text.split()), c.text[:80])

    # every sentence lies inside a chunk, or (long sentences) every character of it is covered
    for s in sents:
        if not any(c.start <= s[0] and s[1] <= c.end for c in chunks):
            covered = {k for c in chunks for k in range(max(c.start, s[0]), min(c.end, s[1]))}
            missing = [k for k in range(s[0], s[1]) if k not in covered and not text[k].isspace()]
            assert not missing, text[s[0] : s[1]]

    # order and overlap: forward progress, the shared part is at most `overlap` sentences
    for a, b in zip(chunks, chunks[1:]):
        assert a.start < b.start and a.end < b.end, (a.text[-60:], b.text[:60])
        if b.start < a.end:
            shared = [s for s in sents if s[0] < a.end and s[1] > b.start]
            assert 0 < len(shared) <= overlap, (len(shared), a.text[-80:], b.text[:80])
            assert "\n\n" not in text[b.start : a.end]  # overlap never crosses a paragraph end

    # not one giant chunk for a document several times the target size
    if len(text.split()) > 3 * max_words:
        assert len(chunks) >= 2


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "w{}-max{}-ov{}".format(*p))
@pytest.mark.parametrize("doc", REAL_DOCS, ids=lambda d: Path(d.path).name)
def test_chunk_invariants_on_real_briefings(doc, params):
    chunks = chunk_document(doc, *params)
    check_chunks(doc, chunks, *params)


def test_seed_file_is_available_or_skipped():
    if not SEED_FILE.exists():
        pytest.skip(f"{SEED_FILE} absent")
    doc = load_file(SEED_FILE)
    chunks = chunk_document(doc)
    assert any("Donald Trump." in c.text for c in chunks)
    # the glued "Trump.Le président" is a sentence boundary
    assert "Trump.Le président Trump" in doc.text
    i = doc.text.index("Trump.Le président Trump") + len("Trump.")
    assert any(s == i for s, _ in split_sentences(doc.text))


def test_default_chunks_are_about_target_size():
    doc = make_doc(" ".join(f"Phrase numéro {i} avec quelques mots de plus." for i in range(200)))
    chunks = chunk_document(doc, words=100, max_words=160, overlap=1)
    check_chunks(doc, chunks, 100, 160, 1)
    sizes = [len(c.text.split()) for c in chunks]
    assert all(sizes), sizes
    assert all(90 <= n <= 160 for n in sizes[:-1]), sizes


def test_tiny_tail_merge_respects_max_words():
    # a 20-word sentence fills a chunk, a 3-word tail would be merged into it: 23 > max_words=22
    first = " ".join(["mot"] * 19) + " fin."
    doc = make_doc(first + " Trois mots seulement.")
    chunks = chunk_document(doc, words=20, max_words=22, overlap=0)
    check_chunks(doc, chunks, 20, 22, 0)
    assert all(len(c.text.split()) <= 22 for c in chunks)


def test_overlap_sentence_alone_never_becomes_a_chunk():
    # with the default sizes: after a 60+45-word chunk, the next sentence (120 words) cannot
    # join the repeated 45-word sentence, so repeating it would only yield a duplicate chunk
    def sentence(n, tag):
        return tag.capitalize() + " " + " ".join([tag] * (n - 2)) + " fin."

    doc = make_doc(
        " ".join([sentence(60, "alpha"), sentence(45, "beta"), sentence(120, "gamma"), sentence(30, "delta")])
    )
    chunks = chunk_document(doc)
    check_chunks(doc, chunks, 100, 160, 1)
    for a, b in zip(chunks, chunks[1:]):
        assert not (a.start <= b.start and b.end <= a.end), "chunk contained in the previous one"
    assert sum("beta" in c.text and "alpha" not in c.text and "gamma" not in c.text for c in chunks) == 0


def test_paragraph_boundaries_are_not_overlapped():
    paras = [" ".join(f"Paragraphe {p} phrase {i} avec du texte." for i in range(6)) for p in range(4)]
    doc = make_doc("\n\n".join(paras))
    chunks = chunk_document(doc, words=20, max_words=40, overlap=1)
    check_chunks(doc, chunks, 20, 40, 1)
    for a, b in zip(chunks, chunks[1:]):
        if b.start < a.end:  # overlapping chunks stay in one paragraph
            assert "\n\n" not in doc.text[b.start : a.end]


# --------------------------------------------------------------------------- pathological input
def test_very_long_line_without_spaces_or_punctuation():
    blob = "".join(chr(ord("a") + (i * 7) % 26) for i in range(50_000))
    text = "Titre\n\nUne phrase normale.\n" + blob + "\nFin du document."
    doc = make_doc(text)
    max_words = 160
    chunks = chunk_document(doc, words=100, max_words=max_words, overlap=1)
    assert len(chunks) >= 50_000 // (max_words * 15)
    covered = [False] * len(text)
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= max_words * 15, len(c.text)
        for k in range(c.start, c.end):
            covered[k] = True
    start = text.index(blob)
    assert all(covered[start : start + len(blob)])
    assert any("Fin du document." in c.text for c in chunks)
    assert any("Une phrase normale." in c.text for c in chunks)


def test_long_sentence_with_spaces_is_cut_at_spaces():
    words = [f"mot{i}" for i in range(3000)]
    text = " ".join(words) + "."
    doc = make_doc(text)
    chunks = chunk_document(doc, words=100, max_words=160, overlap=1)
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert len(c.text) <= 160 * 15
        assert c.start == 0 or text[c.start - 1] == " "
        assert c.end == len(text) or text[c.end] == " "
    covered = " ".join(c.text for c in chunks).replace(".", "").split()
    assert set(covered) == set(words)


def test_empty_and_blank_documents():
    assert chunk_document(make_doc("")) == []
    assert chunk_document(make_doc("   \n\n  ")) == []


# --------------------------------------------------------------------------- documents are separate
def test_chunks_never_cross_documents():
    a = make_doc("Premier document. " * 80 + "Fin du premier.", path="/tmp/a.txt")
    b = make_doc("Second document, autre sujet. " * 60 + "Fin du second.", path="/tmp/b.md")
    chunks_a = chunk_document(a, words=30, max_words=50)
    chunks_b = chunk_document(b, words=30, max_words=50)
    assert len(chunks_a) > 1 and len(chunks_b) > 1
    for doc, chunks in ((a, chunks_a), (b, chunks_b)):
        for c in chunks:
            assert c.doc == doc.path
            assert 0 <= c.start < c.end <= len(doc.text)
            assert doc.text[c.start : c.end] == c.text
    assert not any("second" in c.text.lower() for c in chunks_a)
    assert not any("premier" in c.text.lower() for c in chunks_b)
    assert chunks_a[-1].text.endswith("Fin du premier.")
    assert chunks_b[-1].text.endswith("Fin du second.")


def test_passages_across_pdf_pages_know_the_page_of_every_sentence(tmp_path):
    import re

    from test_loaders import pages_pdf

    from rag.chunking import chunk_units
    from rag.schema import page_in

    text = "Sentence {i} of page {p} tells about event number {p}{i} in the region."
    sentences_per_page = {1: 4, 2: 2, 3: 0, 4: 4, 5: 4}  # page 3 is blank
    pages = [[text.format(i=i, p=p) for i in range(n)] for p, n in sentences_per_page.items()]
    path = tmp_path / "p.pdf"
    path.write_bytes(pages_pdf(pages))
    doc = load_file(path)
    units, chunks, ranges = chunk_units(doc, words=150, max_words=200, overlap=1)
    assert [(c.page, [p for _, p in c.page_breaks]) for c in chunks] == [(1, [2, 4]), (5, [])]
    for c, (a, b) in zip(chunks, ranges):
        assert c.page == doc.page_at(c.start)
        for s, _ in units[a:b]:
            expected = int(re.search(r"of page (\d)", doc.text[s : s + 30]).group(1))
            assert page_in(c.page, c.page_breaks, s) == doc.page_at(s) == expected
