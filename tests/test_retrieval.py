"""Hybrid retrieval on the sample briefings with the real embedder."""

from pathlib import Path

import pytest

from rag.retrieval import Filters
from rag.store import IndexStore


def test_weimar_plus_passage_comes_first(retriever):
    hits = retriever.search("Weimar+", k=5)
    assert "Weimar+" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize(
    "query,needle",
    [
        ("trêve de 30 jours", "30 jours"),
        ("Coalition des volontaires", "Coalition des volontaires"),
        ("délégation russe de bas niveau à Istanbul", "Istanbul"),
    ],
)
def test_names_numbers_and_phrases_are_findable(retriever, query, needle):
    assert needle in retriever.search(query, k=3)[0].text


def test_cross_language_question_finds_french_passage(retriever):
    hits = retriever.search("who proposed the 30-day truce?", k=4)
    assert any("proposé par Donald Trump" in h.text for h in hits)


def test_hits_point_to_exact_spans(retriever):
    for h in retriever.search("aide militaire américaine suspendue", k=5):
        text = IndexStore(retriever.settings.index_dir).load().chunks[h.chunk_id].text
        assert text == h.text
        from rag.cleaning import indexed_text

        assert indexed_text(h.doc, retriever.index.manifest)[h.start : h.end] == h.text


def test_modes_and_fusion(retriever):
    dense = retriever.search("Weimar+", k=5, mode="dense")
    bm25 = retriever.search("Weimar+", k=5, mode="bm25")
    hybrid = retriever.search("Weimar+", k=5)
    assert all(h.bm25_score is None for h in dense)
    assert all(h.bm25_score > 0 for h in bm25)
    # RRF: a passage ranked well by both retrievers cannot fall below one ranked by only one
    top = hybrid[0]
    assert top.chunk_id in {h.chunk_id for h in dense} | {h.chunk_id for h in bm25}
    assert retriever.search("   ", k=5) == []


def test_filters_by_document_and_date(retriever):
    name = "2025-05-20-treve-30-jours-macron.md"
    hits = retriever.search("Trump", k=5, filters=Filters(docs=(name,)))
    assert hits and all(Path(h.doc).name == name for h in hits)
    hits = retriever.search("Trump", k=10, filters=Filters(date_from="2025-06-01"))
    assert hits and all(h.date >= "2025-06-01" for h in hits)
    assert retriever.search("Trump", k=5, filters=Filters(date_from="2030-01-01")) == []


def test_hits_carry_their_sentences_and_the_closest_one_is_the_dense_score(retriever):
    q = "Qui a proposé la trêve de 30 jours ?"
    vec = retriever.embedder.queries([q])[0]
    for h in retriever.search(q, k=4, query_vector=vec):
        starts, ends, cosines = zip(*h.sentences)
        assert starts[0] == h.start and ends[-1] == h.end and list(starts) == sorted(starts)
        assert h.dense_score == pytest.approx(max(cosines))
        # each cosine is that of the sentence embedded with its title, as the index did
        s, e, x = max(h.sentences, key=lambda t: t[2])
        sentence = h.text[s - h.start : e - h.start]
        expected = retriever.embedder.passages([f"{h.title}\n{sentence}"])[0] @ vec
        assert x == pytest.approx(float(expected), abs=1e-4)
    best = retriever.search(q, k=1)[0]
    s, e, _ = max(best.sentences, key=lambda t: t[2])
    assert "Trump" in best.text[s - best.start : e - best.start]  # the sentence that answers


def test_reciprocal_rank_fusion_and_document_evidence_are_settings(monkeypatch, retriever):
    q = "alliés européens cessez-le-feu"
    s = retriever.settings
    default = [h.chunk_id for h in retriever.search(q, k=5)]
    try:
        monkeypatch.setattr(retriever, "settings", s.replace(fusion="rrf", doc_weight=0.0))
        rrf = retriever.search(q, k=5)
        assert [h.score for h in rrf] == sorted((h.score for h in rrf), reverse=True) and rrf[0].score < 0.05
        monkeypatch.setattr(retriever, "settings", s.replace(doc_weight=100.0))
        # a very large document weight ranks passages by their document's best score first
        docs = [h.doc for h in retriever.search(q, k=5)]
        assert docs == sorted(docs, key=lambda d: docs.index(d))  # passages of a document come together
    finally:
        monkeypatch.setattr(retriever, "settings", s)
    assert [h.chunk_id for h in retriever.search(q, k=5)] == default


def test_rrf_combines_rankings(monkeypatch, retriever):
    # With the dense side disabled by weight 0, hybrid equals the BM25 order.
    s = retriever.settings
    monkeypatch.setattr(retriever, "settings", s.replace(dense_weight=0.0))
    try:
        hybrid = [h.chunk_id for h in retriever.search("alliés européens cessez-le-feu", k=5)]
    finally:
        monkeypatch.setattr(retriever, "settings", s)
    bm25 = [h.chunk_id for h in retriever.search("alliés européens cessez-le-feu", k=5, mode="bm25")]
    assert hybrid == bm25


# --------------------------------------------------------------------------- near-duplicate passages
WIRE = (
    "GENÈVE (AFP) — Les négociateurs russes et ukrainiens se sont accordés jeudi à Genève sur un échange "
    "de mille prisonniers de chaque camp, le plus important depuis le début de la guerre, sous l'égide de la "
    "Croix-Rouge.\n\nL'échange doit avoir lieu en trois étapes à la frontière biélorusse d'ici la fin du mois, "
    "selon un communiqué conjoint publié après six heures de discussions. Les listes nominatives ont été "
    "transmises au Comité international de la Croix-Rouge.\n\nLes deux délégations n'ont en revanche pas "
    "progressé sur un cessez-le-feu : Moscou exige le retrait ukrainien de quatre régions, ce que Kyiv refuse "
    "catégoriquement."
)
WIRE_NOTES = {  # the same story pasted under five briefings' own title, date and line
    "point-matin.txt": ("2025-06-03", "Échange de prisonniers", "Point du matin pour la cellule de crise."),
    "geneve.txt": ("2025-06-01", "Genève : accord humanitaire", "Premier signal positif depuis Istanbul."),
    "revue.txt": ("2025-06-05", "Revue de presse du jeudi", "Revue établie par le service de veille."),
    "ministre.txt": (
        "2025-06-02",
        "Note au ministre",
        "Pour le ministre avant son entretien avec son homologue suisse.",
    ),
    "humanitaire.txt": ("2025-06-04", "Suivi humanitaire", "La semaine reprend la dépêche suivante."),
}
OTHER_NOTES = {
    "gaz.txt": "Prix du gaz\nDate : 2025-06-10\n\nLes prix du gaz ont fortement augmenté en juin sur le marché "
    "européen. Le stockage atteint 48 % des capacités.",
    "otan.txt": "Sommet de l'OTAN\nDate : 2025-06-04\n\nLe sommet de La Haye fixe un objectif de dépenses de "
    "défense de 5 % du PIB d'ici 2035.",
    "analyse.txt": "Analyse\nDate : 2025-06-06\n\nLes échanges de prisonniers précédents, en 2024, portaient sur "
    "quelques centaines de personnes et avaient été négociés par les Émirats arabes unis.",
}


@pytest.fixture(scope="module")
def wire_retriever(tmp_path_factory, base_settings, embedder):
    from conftest import write
    from rag.indexing import build_index
    from rag.retrieval import Retriever

    folder = tmp_path_factory.mktemp("wire")
    for name, (date, title, line) in WIRE_NOTES.items():
        write(folder, name, f"{title}\nDate : {date}\n\n{line}\n\n{WIRE}\n")
    for name, text in OTHER_NOTES.items():
        write(folder, name, text)
    settings = base_settings.replace(index_dir=str(tmp_path_factory.mktemp("wire-index")))
    report = build_index(folder, settings=settings, embedder=embedder)
    assert report.documents == 8 and report.boilerplate_lines == 0  # a copied story is not boilerplate
    return Retriever.load(settings, embedder)


def test_a_story_pasted_in_five_briefings_fills_one_slot_the_earliest_with_the_others_in_also_in(wire_retriever):
    hits = wire_retriever.search("échange de mille prisonniers à Genève sous l'égide de la Croix-Rouge", k=4)
    copies = [h for h in hits if Path(h.doc).name in WIRE_NOTES]
    assert len(copies) == 1, [Path(h.doc).name for h in hits]
    kept = copies[0]
    assert Path(kept.doc).name == "geneve.txt" and kept.date == "2025-06-01"  # the earliest copy
    assert sorted(Path(d).name for d in kept.also_in) == sorted(set(WIRE_NOTES) - {"geneve.txt"})
    assert hits[0] is kept
    # the other slots go to distinct passages, best first
    assert len({h.doc for h in hits}) == len(hits) == 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.also_in == () for h in hits[1:])


def test_a_question_about_one_copys_own_line_gets_that_copy(wire_retriever):
    hits = wire_retriever.search("entretien du ministre avec son homologue suisse", k=3)
    assert Path(hits[0].doc).name == "ministre.txt"
    assert "homologue suisse" in hits[0].text
