"""Boilerplate lines out of the index: known share/follow/cookie lines, lines repeated across a folder."""

from pathlib import Path

import pytest

from conftest import write
from rag.cleaning import (
    DocumentChanged,
    drop_lines,
    dropped_spans,
    find_boilerplate,
    indexed_text,
    is_known_boilerplate,
    line_hashes,
    remove_spans,
)
from rag.indexing import build_index
from rag.schema import Document
from rag.store import IndexStore

FOOTER = "SUIVEZ-NOUS SUR ▼▼"
HOUSE = "La Lettre de la Défense — bulletin interne"  # in no fixed list: only its repetition tells
NOTES = {
    "2025-05-16-istanbul.txt": "Istanbul\n\nLes délégations russe et ukrainienne se sont retrouvées à Istanbul "
    "pour la première fois depuis 2022. Aucun accord n'a été signé.",
    "2025-05-19-appels.txt": "Appels\n\nDonald Trump a appelé Vladimir Poutine pendant deux heures. Les alliés doivent "
    "partager le fardeau de l'aide, a-t-il ajouté.",
    "2025-05-20-treve.txt": "Trêve\n\nParis et Londres proposent un cessez-le-feu de trente jours vérifié par des "
    "observateurs internationaux.",
    "2025-05-24-coalition.txt": "Coalition\n\nLa coalition des volontaires réunit une trentaine de pays prêts à "
    "garantir un éventuel accord.",
    "2025-06-04-otan.txt": "OTAN\n\nLe sommet de La Haye fixe un objectif de dépenses de défense de 5 % du PIB.",
}


def doc(text: str, path: str = "/x.txt") -> Document:
    return Document(path, text, "", "", "", "txt")


# --------------------------------------------------------------------------- rules, without an index
@pytest.mark.parametrize(
    "line",
    [
        "SUIVEZ-NOUS SUR ▼▼",
        "Suivez-nous sur Facebook et Instagram",
        "Follow us on X",
        "Partager",
        "Share this article",
        "Partager · Facebook · X · LinkedIn · E-mail",
        "Abonnez-vous",
        "Abonnez-vous à notre newsletter",
        "Subscribe to our newsletter",
        "Newsletter",
        "Lire aussi : Les sanctions prolongées de six mois",
        "À lire aussi",
        "Read more",
        "© 2025 Le Quotidien. Tous droits réservés.",
        "All rights reserved",
        (
            "Nous utilisons des cookies pour améliorer votre expérience. En poursuivant votre navigation, vous acceptez "
            "leur utilisation. Accepter Paramétrer"
        ),
        "We use cookies to improve your experience. By continuing you consent to our use of cookies.",
        "Accueil",
        "Retour en haut",
        "Mentions légales · CGU",
        "Publicité",
    ],
)
def test_known_boilerplate_lines(line):
    assert is_known_boilerplate(line)


@pytest.mark.parametrize(
    "line",
    [
        "Les alliés doivent partager le fardeau de l'aide, a-t-il ajouté.",
        "Share prices fell in Kyiv after the announcement.",
        "La newsletter du ministère a publié le chiffre de 12 % mardi.",
        "La directive européenne sur les cookies a été révisée en 2024.",
        "Suivez la réunion de Varsovie : elle décidera du financement de la reconstruction de l'Ukraine.",
        "Contact : Jean Dupont",
        "Istanbul",
        "",
    ],
)
def test_article_lines_that_merely_mention_such_words_are_kept(line):
    assert not is_known_boilerplate(line)


def test_a_line_repeated_in_enough_files_is_dropped_a_line_in_two_files_is_not():
    texts = [f"Note {i} sur la trêve.\n{HOUSE}" for i in range(10)]
    texts[0] += "\nLigne vue deux fois"
    texts[1] += "\nLigne vue deux fois"
    bp = find_boilerplate({str(i): line_hashes(t) for i, t in enumerate(texts)})
    assert drop_lines(doc(texts[0]), bp).text == "Note 0 sur la trêve.\nLigne vue deux fois"
    # 3 files of 20 is under 20 % of the folder: a recurring phrase, not a footer
    few = [t + ("\nPhrase récurrente" if i < 3 else "") for i, t in enumerate(texts + texts)]
    bp = find_boilerplate({str(i): line_hashes(t) for i, t in enumerate(few)})
    assert "Phrase récurrente" in drop_lines(doc(few[0]), bp).text


def test_a_copied_story_is_prose_not_boilerplate_even_in_every_file():
    story = (
        "KYIV (AFP) — Le président ukrainien a accepté lundi la proposition de cessez-le-feu.\n\n"
        "La trêve serait vérifiée par des observateurs internationaux, selon la présidence.\n\n"
        "Le Kremlin n'a pas réagi.\n\n"
        "Moscou pose comme condition l'arrêt des livraisons d'armes occidentales pendant trente jours."
    )
    texts = [f"Note {i}.\n\n{story}\n\n{HOUSE}" for i in range(5)]
    bp = find_boilerplate({str(i): line_hashes(t) for i, t in enumerate(texts)})
    cleaned = drop_lines(doc(texts[2]), bp).text
    assert cleaned == f"Note 2.\n\n{story}"  # the short line "Le Kremlin n'a pas réagi." too


def test_spans_keep_paragraphs_and_never_empty_a_file():
    for text, expected in [
        ("Partager\n\nA.\n\nB.", "A.\n\nB."),
        ("A.\nPartager\nB.", "A.\nB."),
        ("A.\n\nPartager\n\nB.\n", "A.\n\nB.\n"),
        ("A.\n\nSUIVEZ-NOUS SUR ▼▼\nPartager\n", "A."),
        ("Partager\nAbonnez-vous", "Partager\nAbonnez-vous"),
    ]:
        assert remove_spans(text, dropped_spans(text)) == expected, text


# --------------------------------------------------------------------------- in the index
def chunks_of(settings):
    return IndexStore(settings.index_dir).load().chunks


def test_folder_footers_never_reach_a_chunk_and_offsets_point_into_indexed_text(tmp_path, base_settings, embedder):
    folder = tmp_path / "briefings"
    for name, text in NOTES.items():
        write(folder, name, f"{text}\n\n{HOUSE}\nPartager\n\n{FOOTER}\n")
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    report = build_index(folder, settings=settings, embedder=embedder)
    assert report.boilerplate_lines == 3 * len(NOTES)
    assert "15 boilerplate lines dropped" in report.summary()
    chunks = chunks_of(settings)
    assert {Path(c.doc).name for c in chunks} == set(NOTES)
    for c in chunks:
        for junk in (FOOTER, "SUIVEZ", "▼", HOUSE, "Partager"):
            assert junk not in c.text, (junk, c.text)
    # an article sentence saying "partager" stays
    assert any("Les alliés doivent partager le fardeau de l'aide" in c.text for c in chunks)
    manifest = IndexStore(settings.index_dir).manifest()
    assert FOOTER.casefold() in manifest["boilerplate"]["lines"].values()
    assert manifest["counts"]["boilerplate_lines"] == 15
    from rag import index_status

    status = index_status(index_dir=settings.index_dir)
    assert status["boilerplate_lines"] == 15 and all("lines" not in f for f in status["files"].values())
    texts = {c.doc: indexed_text(c.doc, manifest) for c in chunks}
    for c in chunks:
        assert texts[c.doc][c.start : c.end] == c.text
    for d, text in texts.items():
        assert text == NOTES[Path(d).name]  # exactly the note, no trailing blank line

    write(folder, "2025-05-16-istanbul.txt", "changé")
    with pytest.raises(DocumentChanged, match="changed since it was indexed"):
        indexed_text(folder / "2025-05-16-istanbul.txt", manifest)


def test_incremental_build_cleans_unchanged_files_again_when_a_line_becomes_boilerplate(
    tmp_path, base_settings, embedder
):
    folder = tmp_path / "briefings"
    names = list(NOTES)
    for name in names[:2]:
        write(folder, name, f"{NOTES[name]}\n\n{HOUSE}")
    write(folder, names[2], NOTES[names[2]])
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    first = build_index(folder, settings=settings, embedder=embedder)
    assert first.boilerplate_lines == 0  # in 2 files only: kept
    assert sum(HOUSE in c.text for c in chunks_of(settings)) == 2

    write(folder, names[3], f"{NOTES[names[3]]}\n\n{HOUSE}")  # now in 3 of 4 files
    second = build_index(folder, settings=settings, embedder=embedder)
    assert [Path(p).name for p in second.added] == [names[3]]
    assert sorted(Path(p).name for p in second.recleaned) == sorted(names[:2])
    assert [Path(p).name for p in second.unchanged] == [names[2]]
    assert second.boilerplate_lines == 3 and "cleaned again" in second.summary()
    chunks = chunks_of(settings)
    assert not any(HOUSE in c.text for c in chunks)
    manifest = IndexStore(settings.index_dir).manifest()
    for c in chunks:
        assert indexed_text(c.doc, manifest)[c.start : c.end] == c.text

    third = build_index(folder, settings=settings, embedder=embedder)
    assert not third.wrote and len(third.unchanged) == 4 and not third.recleaned
    assert third.boilerplate_lines == 3


def test_dropped_lines_keep_pdf_page_numbers_exact():
    from rag.cleaning import without_spans
    from rag.schema import Document

    # three pages, each ending with a share footer that the build drops
    pages = ["Sommet de Rome.\nPartager", "Fonds de défense.\nPartager", "Prix du gaz.\nPartager"]
    text, starts = "", []
    for p in pages:
        starts.append(len(text) + (2 if text else 0))
        text = f"{text}\n\n{p}" if text else p
    doc = Document("r.pdf", text, "R", "", "", "pdf", pages=tuple(starts))
    spans = [(m, m + len("\nPartager")) for m in [text.index("\nPartager", s) for s in starts]]
    clean = without_spans(doc, spans)
    assert "Partager" not in clean.text
    for n, sentence in enumerate(["Sommet de Rome.", "Fonds de défense.", "Prix du gaz."], 1):
        assert clean.page_at(clean.text.index(sentence)) == n
