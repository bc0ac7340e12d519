"""Hybrid retrieval on the sample briefings with the real embedder."""
from pathlib import Path

import pytest

from rag.retrieval import Filters
from rag.store import IndexStore


def test_weimar_plus_passage_comes_first(retriever):
    hits = retriever.search("Weimar+", k=5)
    assert "Weimar+" in hits[0].text
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


@pytest.mark.parametrize("query,needle", [
    ("trêve de 30 jours", "30 jours"),
    ("Coalition des volontaires", "Coalition des volontaires"),
    ("délégation russe de bas niveau à Istanbul", "Istanbul"),
])
def test_names_numbers_and_phrases_are_findable(retriever, query, needle):
    assert needle in retriever.search(query, k=3)[0].text


def test_cross_language_question_finds_french_passage(retriever):
    hits = retriever.search("who proposed the 30-day truce?", k=4)
    assert any("proposé par Donald Trump" in h.text for h in hits)


def test_hits_point_to_exact_spans(retriever):
    for h in retriever.search("aide militaire américaine suspendue", k=5):
        text = IndexStore(retriever.settings.index_dir).load().chunks[h.chunk_id].text
        assert text == h.text
        from rag.loaders import load_file
        assert load_file(h.doc).text[h.start:h.end] == h.text


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
        sentence = h.text[s - h.start:e - h.start]
        expected = retriever.embedder.passages([f"{h.title}\n{sentence}"])[0] @ vec
        assert x == pytest.approx(float(expected), abs=1e-4)
    best = retriever.search(q, k=1)[0]
    s, e, _ = max(best.sentences, key=lambda t: t[2])
    assert "Trump" in best.text[s - best.start:e - best.start]      # the sentence that answers


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
        assert docs == sorted(docs, key=lambda d: docs.index(d))   # passages of a document come together
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
