"""Evidence gate and citation checking, with the real embedder and sample passages."""
import numpy as np
import pytest

from rag.grounding import CitationChecker, evidence_gate, looks_not_found, parse_citations
from rag.schema import Hit

TRUCE = "Le cessez-le-feu de 30 jours a été proposé par Donald Trump et soutenu par les alliés européens."
GAS = "Les prix du gaz en Europe ont reculé à 36 euros le mégawattheure, les stocks étant remplis à 48 %."
WEIMAR = "L'alliance Weimar+ réunit la France, l'Allemagne et la Pologne, élargie à l'Italie et à l'Espagne."


@pytest.fixture(scope="module")
def hits_and_vectors(embedder):
    texts = [GAS, TRUCE, WEIMAR]
    hits = [Hit(doc=f"/d/{i}.md", start=0, end=len(t), text=t, score=1.0, chunk_id=i) for i, t in enumerate(texts)]
    return hits, embedder.passages(texts)


@pytest.fixture(scope="module")
def checker(embedder):
    return CitationChecker(embedder.queries, threshold=0.5)


def test_parse_citations_variants():
    parsed = parse_citations("Trump l'a proposée [2][3]. Macron l'a soutenue [1, 4]. [5] Fin [passage 6].")
    assert parsed[0] == ("Trump l'a proposée.", [2, 3])
    assert parsed[1][1] == [1, 4, 5]
    assert parsed[2] == ("Fin.", [6])


def test_wrong_citation_is_reattributed_and_renumbered(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("Donald Trump a proposé la trêve de 30 jours [1].", hits, vectors)
    assert [c.text for c in out.citations] == [TRUCE]
    assert out.text == "Donald Trump a proposé la trêve de 30 jours [1]."


def test_citation_to_no_passage_is_dropped(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("L'alliance Weimar+ réunit la France et la Pologne [7].", hits, vectors)
    assert [c.text for c in out.citations] == [WEIMAR] and out.text.endswith("[1].")


def test_uncited_supported_sentence_gets_its_passage(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("Les stocks de gaz sont remplis à 48 %.", hits, vectors)
    assert [c.text for c in out.citations] == [GAS]


def test_unsupported_sentence_is_removed(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("Le PIB de la France est de 2 800 milliards d'euros [1]. "
                        "Donald Trump a proposé le cessez-le-feu [2].", hits, vectors)
    assert "PIB" not in out.text and out.dropped and "PIB" in out.dropped[0]
    assert [c.text for c in out.citations] == [TRUCE]


def test_english_answer_supported_by_french_passage(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("The 30-day ceasefire was proposed by Donald Trump [2].", hits, vectors)
    assert [c.text for c in out.citations] == [TRUCE]


def test_citations_numbered_in_order_of_appearance(checker, hits_and_vectors):
    hits, vectors = hits_and_vectors
    out = checker.check("Weimar+ réunit la France, l'Allemagne et la Pologne [3]. "
                        "Le prix du gaz a reculé à 36 euros [1].", hits, vectors)
    assert [c.text for c in out.citations] == [WEIMAR, GAS]
    assert [c.n for c in out.citations] == [1, 2]
    assert "[1]" in out.text.split(".")[0] and "[2]" in out.text


def test_evidence_gate(hits_and_vectors, embedder):
    hits, vectors = hits_and_vectors
    def scored(q):
        qv = embedder.queries([q])[0]
        return [Hit(h.doc, h.start, h.end, h.text, 1.0, chunk_id=h.chunk_id, dense_score=float(v @ qv))
                for h, v in zip(hits, vectors)]
    assert evidence_gate("Qui a proposé la trêve de 30 jours ?", scored("Qui a proposé la trêve de 30 jours ?"),
                         0.83, 0.75).found
    assert not evidence_gate("Quelle est la capitale de l'Australie ?",
                             scored("Quelle est la capitale de l'Australie ?"), 0.83, 0.75).found
    assert not evidence_gate("anything", [], 0.83, 0.75).found


def test_not_found_detection():
    assert looks_not_found("NOT_FOUND")
    assert looks_not_found("Les passages ne mentionnent pas le PIB.")
    assert not looks_not_found("Donald Trump a proposé la trêve [1].")


def test_evidence_gate_uses_the_cross_language_threshold_only_across_languages():
    french = [Hit("/b/a.md", 0, 80, "La trêve de trente jours a été proposée par le président américain.", 1.0,
                  chunk_id=0, dense_score=0.81)]
    english = [Hit("/b/a.md", 0, 80, "The thirty-day truce was proposed by the American president.", 1.0,
                   chunk_id=0, dense_score=0.81)]
    q = "who backed that plan?"            # no content word in common: only the cosine can let it through
    assert evidence_gate(q, french, 0.82, 0.75, 0.80).found          # English question, French passage
    assert not evidence_gate(q, english, 0.82, 0.75, 0.80).found     # same language: the higher bar
    assert not evidence_gate(q, french, 0.82, 0.75).found            # no cross-language bar given
