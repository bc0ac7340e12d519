"""French/English analysis and the BM25 keyword index."""

from __future__ import annotations

import numpy as np
import pytest

from rag.lexical import BM25Index, analyze, content_tokens, fold


def shares_term(a: str, b: str) -> bool:
    return bool(set(analyze(a)) & set(analyze(b)))


# --------------------------------------------------------------------------- analyze
def test_lower_casing():
    assert analyze("PRÉSIDENT Trump") == analyze("président trump")
    assert all(t == t.lower() for t in analyze("OTAN Bruxelles WASHINGTON Kyiv"))


def test_accent_folding():
    assert fold("Européens à Genève, français, août") == "Europeens a Geneve, francais, aout"
    assert set(analyze("Européens")) == set(analyze("europeens"))
    assert shares_term("Européens", "europeens")
    assert shares_term("trêve", "TREVE")
    assert all(t.isascii() for t in analyze("négociations européennes à Genève, trêve prolongée"))


@pytest.mark.parametrize(
    "a, b",
    [
        ("négociations", "négociation"),
        ("européens", "européen"),
        ("sanctions", "sanction"),
        ("proposed", "proposes"),
        ("negotiations", "negotiation"),
        ("allies", "ally"),
    ],
)
def test_stemming_french_and_english(a, b):
    assert shares_term(a, b), (analyze(a), analyze(b))


def test_unrelated_words_do_not_share_terms():
    assert not shares_term("trêve", "gaz")
    assert not shares_term("Weimar", "Istanbul")
    assert not shares_term("30", "300")


def test_weimar_plus_keeps_both_terms():
    terms = analyze("Weimar+")
    assert "weimar+" in terms and "weimar" in terms
    assert "weimar+" not in analyze("Weimar")  # plain Weimar does not match Weimar+ exactly


def test_numbers_kept_whole():
    terms = analyze("une trêve de 30 jours et 2025 euros")
    assert "30" in terms and "2025" in terms
    assert "3" not in terms and "0" not in terms


def test_stop_words_and_elisions_dropped():
    assert analyze("le la les de du des et un une the of and is") == []
    terms = analyze("l'alliance d'Europe qu'il n'a")
    assert "l" not in terms and "d" not in terms and "qu" not in terms
    assert all(len(t) > 1 for t in terms)
    assert shares_term("l'alliance", "alliance") and shares_term("d'Europe", "Europe")
    assert "l" not in content_tokens("l'alliance") and "alliance" in content_tokens("l'alliance")


def test_question_words_are_stop_words():
    assert analyze("Qui a proposé quoi, quand et pourquoi ?") == analyze("a proposé")
    assert analyze("Who proposed what and when?") == analyze("proposed")


def test_empty_text():
    assert analyze("") == []
    assert analyze("  ,;!? ... ") == []


# --------------------------------------------------------------------------- BM25
TEXTS = [
    "L'alliance Weimar+ regroupe plusieurs pays européens autour de la France.",
    "Le triangle de Weimar réunit la France, l'Allemagne et la Pologne depuis 1991.",
    "Trump propose une trêve de 30 jours, Macron exhorte Poutine à l'accepter.",
    "Le prix du gaz baisse depuis 30 semaines malgré les sanctions.",
    "Les négociations directes reprennent à Istanbul sous l'égide de la Turquie.",
    "The European allies backed the ceasefire proposed by President Trump.",
]


@pytest.fixture(scope="module")
def index():
    return BM25Index.build(TEXTS)


def test_scores_shape(index):
    scores = index.scores("trêve")
    assert isinstance(scores, np.ndarray) and scores.shape == (len(TEXTS),)
    assert index.n_docs == len(TEXTS)


def test_weimar_plus_ranks_weimar_plus_text_first(index):
    scores = index.scores("Weimar+")
    assert int(scores.argmax()) == 0
    assert scores[0] > scores[1] > 0  # plain "Weimar" still matches, lower
    assert scores[2:].max() == 0


def test_thirty_days_ranks_truce_text_first(index):
    scores = index.scores("30 jours")
    assert int(scores.argmax()) == 2
    assert scores[2] > scores[3] > 0  # "30 semaines" only shares the number
    assert scores[[0, 1, 4, 5]].max() == 0


def test_inflected_and_unaccented_queries_match(index):
    assert int(index.scores("negociation Istanbul").argmax()) == 4
    assert int(index.scores("proposes ceasefire").argmax()) == 5
    assert int(index.scores("TREVE").argmax()) == 2


def test_unknown_words_give_zero_scores(index):
    scores = index.scores("zorglub xyzzyq")
    assert scores.shape == (len(TEXTS),)
    assert not scores.any()
    assert not index.scores("").any()
    assert not index.scores("le la les de").any()  # stop words only


def test_save_load_round_trip(index, tmp_path):
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25", len(TEXTS))
    assert loaded.n_docs == len(TEXTS)
    for q in ["Weimar+", "30 jours", "gaz sanctions", "Trump", "zorglub", "négociations européennes"]:
        np.testing.assert_allclose(loaded.scores(q), index.scores(q), rtol=1e-6, atol=1e-7)


def test_empty_corpus(tmp_path):
    empty = BM25Index.build([])
    assert empty.n_docs == 0
    assert empty.scores("Weimar+").shape == (0,)
    empty.save(tmp_path / "empty")
    loaded = BM25Index.load(tmp_path / "empty", 0)
    assert loaded.n_docs == 0 and loaded.scores("trêve").shape == (0,)


def test_corpus_with_text_without_terms():
    idx = BM25Index.build(["", "le la les", "La trêve de 30 jours."])
    scores = idx.scores("trêve")
    assert scores.shape == (3,)
    assert int(scores.argmax()) == 2 and scores[:2].max() == 0
