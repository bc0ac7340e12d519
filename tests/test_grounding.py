"""Evidence gate and citation checking, with the real embedder and sample passages."""

import pytest

from rag.grounding import adds_nothing, evidence_gate, looks_not_found, strip_meta_talk, unsupported, with_markers
from rag.schema import Hit

TRUCE = "Le cessez-le-feu de 30 jours a été proposé par Donald Trump et soutenu par les alliés européens."
GAS = "Les prix du gaz en Europe ont reculé à 36 euros le mégawattheure, les stocks étant remplis à 48 %."
WEIMAR = "L'alliance Weimar+ réunit la France, l'Allemagne et la Pologne, élargie à l'Italie et à l'Espagne."


@pytest.fixture(scope="module")
def hits_and_vectors(embedder):
    texts = [GAS, TRUCE, WEIMAR]
    hits = [Hit(doc=f"/d/{i}.md", start=0, end=len(t), text=t, score=1.0, chunk_id=i) for i, t in enumerate(texts)]
    return hits, embedder.passages(texts)


def test_meta_talk_is_removed():
    assert (
        strip_meta_talk("La Russie a envoyé une délégation de bas niveau, citing passage [1].")
        == "La Russie a envoyé une délégation de bas niveau."
    )
    assert (
        strip_meta_talk("Le chiffre est relativement important, comme mentionné dans le passage [1].")
        == "Le chiffre est relativement important."
    )
    assert strip_meta_talk("According to passage [2], Trump proposed it.") == "Trump proposed it."
    assert strip_meta_talk("Trump l'a proposée [3].") == "Trump l'a proposée."
    assert strip_meta_talk("Selon le passage 2, Macron l'a soutenue.") == "Macron l'a soutenue."


def test_numbers_and_names_must_be_in_the_evidence():
    question = "Combien de drones la Russie a-t-elle lancés ?"
    evidence = "La Russie a intensifié ses offensives avec une attaque massive de drones."
    assert unsupported("La Russie a lancé 300 drones.", evidence, question, True) == (["300"], [])
    assert unsupported("Le prix est de 36 euros.", GAS, "Quel est le prix du gaz ?", True) == ([], [])
    assert unsupported("Le stock de 1 200 tonnes.", "un stock de 1200 tonnes", "", True) == ([], [])
    # a name the evidence does not hold (the neighbouring entity), caught in the same language ...
    assert unsupported("C'est la Coalition des volontaires.", WEIMAR, "Quelle alliance ?", True)[1] == ["coalition"]
    # ... close spellings pass, and names are not compared across languages
    assert unsupported("Zelenskyy a proposé des négociations.", "Volodymyr Zelensky a proposé", "", True) == ([], [])
    assert unsupported("Putin refused.", "Poutine a refusé.", "Who refused?", False) == ([], [])


def test_echo_of_the_question_adds_nothing():
    assert adds_nothing("Qui a soutenu la trêve ?", "Et qui a soutenu la trêve ?")
    assert adds_nothing("Who supported it [1].", "who supported it?")
    assert not adds_nothing("Les alliés européens ont soutenu la trêve.", "Qui a soutenu la trêve ?")


def test_markers_go_before_the_final_punctuation():
    assert with_markers("Trump l'a proposée.", [1]) == "Trump l'a proposée [1]."
    assert with_markers("Trump", [1, 2]) == "Trump [1][2]"


def test_evidence_gate(hits_and_vectors, embedder):
    hits, vectors = hits_and_vectors

    def scored(q):
        qv = embedder.queries([q])[0]
        return [
            Hit(h.doc, h.start, h.end, h.text, 1.0, chunk_id=h.chunk_id, dense_score=float(v @ qv))
            for h, v in zip(hits, vectors)
        ]

    assert evidence_gate(
        "Qui a proposé la trêve de 30 jours ?", scored("Qui a proposé la trêve de 30 jours ?"), 0.83, 0.75
    ).found
    assert not evidence_gate(
        "Quelle est la capitale de l'Australie ?", scored("Quelle est la capitale de l'Australie ?"), 0.83, 0.75
    ).found
    assert not evidence_gate("anything", [], 0.83, 0.75).found


def test_not_found_detection():
    assert looks_not_found("NOT_FOUND")
    assert looks_not_found("Les passages ne mentionnent pas le PIB.")
    assert not looks_not_found("Donald Trump a proposé la trêve [1].")


def test_evidence_gate_uses_the_cross_language_threshold_only_across_languages():
    french = [
        Hit(
            "/b/a.md",
            0,
            80,
            "La trêve de trente jours a été proposée par le président américain.",
            1.0,
            chunk_id=0,
            dense_score=0.81,
        )
    ]
    english = [
        Hit(
            "/b/a.md",
            0,
            80,
            "The thirty-day truce was proposed by the American president.",
            1.0,
            chunk_id=0,
            dense_score=0.81,
        )
    ]
    q = "who backed that plan?"  # no content word in common: only the cosine can let it through
    assert evidence_gate(q, french, 0.82, 0.75, 0.80).found  # English question, French passage
    assert not evidence_gate(q, english, 0.82, 0.75, 0.80).found  # same language: the higher bar
    assert not evidence_gate(q, french, 0.82, 0.75).found  # no cross-language bar given


def test_a_translated_question_needs_only_the_names_the_asker_typed():
    """An English question translated by the LLM into French: "Gdansk" became "Dantzig", which no
    passage holds; the translator's word, not the asker's, so it does not stop the gate."""
    passage = "Le sommet de Gdansk a réuni les ministres de la défense de l'OTAN en mai."
    hits = [Hit("/b/a.md", 0, len(passage), passage, 1.0, chunk_id=0, dense_score=0.85)]
    translation = "Qui a assisté au sommet de Dantzig ?"
    assert evidence_gate(translation, hits, 0.83, 0.75).missing_terms == ("dantzig",)
    assert not evidence_gate(translation, hits, 0.83, 0.75).found
    assert evidence_gate(translation, hits, 0.83, 0.75, original="Who attended the Gdansk summit?").found
    # a name the asker typed is required, as in a question asked in the passages' language
    typed = evidence_gate(translation, hits, 0.83, 0.75, original="Who attended the Dantzig summit?")
    assert not typed.found and typed.missing_terms == ("dantzig",)
    # the asker's "Putin" kept by the translation is the passage's "Poutine": same consonants
    passage = "Emmanuel Macron a exhorté Vladimir Poutine à accepter la trêve de 30 jours."
    hits = [Hit("/b/t.md", 0, len(passage), passage, 1.0, chunk_id=0, dense_score=0.85)]
    translation = "Quel dirigeant français a exhorté Vladimir Putin à accepter la trêve ?"
    original = "Which French leader urged Vladimir Putin to accept the truce?"
    assert not evidence_gate(translation, hits, 0.83, 0.75).found
    assert evidence_gate(translation, hits, 0.83, 0.75, original=original).found
    patel = evidence_gate(translation.replace("Putin", "Patel"), hits, 0.83, 0.75, original.replace("Putin", "Patel"))
    assert not patel.found and patel.missing_terms == ("patel",)


def test_a_key_term_written_another_way_is_not_missing():
    """A number the passage writes as a word or an ordinal, and a name the asker misspelled by one
    letter, are there; a different name of the same length is not."""
    basilicas = "Ces quatre basiliques majeures sont associées à trois basiliques mineures de Rome."
    hits = [Hit("/b/a.md", 0, len(basilicas), basilicas, 1.0, chunk_id=0, dense_score=0.86)]
    assert evidence_gate("Quelles sont les 3 basiliques mineures de Rome ?", hits, 0.83, 0.75).found
    assert not evidence_gate("Quelles sont les 7 basiliques mineures de Rome ?", hits, 0.83, 0.75).found

    galaxy = "La galaxie Messier 87 a été découverte en 1781 par Charles Messier ; le 350e anniversaire."
    hits = [Hit("/b/m.md", 0, len(galaxy), galaxy, 1.0, chunk_id=0, dense_score=0.86)]
    assert evidence_gate("Quand a été découverte Mesier 87 ?", hits, 0.83, 0.75).found
    assert evidence_gate("Que fête le 350 anniversaire de Messier ?", hits, 0.83, 0.75).found
    missed = evidence_gate("Quand a été découverte Meunier 87 ?", hits, 0.83, 0.75)
    assert not missed.found and missed.missing_terms == ("meunier",)


def test_question_terms_held_counts_the_questions_names_and_numbers():
    from rag.grounding import question_terms_held

    q = "Qui a proposé le cessez-le-feu de 30 jours à Istanbul ?"
    assert question_terms_held(q, "Trump a prévu des appels pour promouvoir un cessez-le-feu.") == 0
    assert question_terms_held(q, "Un cessez-le-feu de 30 jours proposé par Trump.") == 1
    assert question_terms_held(q, "À Istanbul, un cessez-le-feu de 30 jours.") == 2
    assert question_terms_held("who proposed the 30-day truce?", "une trêve de 30 jours") == 1


def test_answer_support_reads_the_answers_own_words_in_a_sentence():
    from rag.grounding import answer_support

    question = "Qui a proposé la trêve de 30 jours ?"
    assert answer_support("Donald Trump a proposé la trêve.", TRUCE, question) == 1.0
    assert answer_support("Donald Trump a proposé la trêve.", WEIMAR, question) == 0.0
    # only the answer's own words count: the question's words are in every candidate sentence
    assert answer_support("La trêve de 30 jours.", TRUCE, question) == 0.0
    half = answer_support("Les alliés européens et la Pologne.", TRUCE, question)
    assert 0.0 < half < 1.0


def test_answerability_rises_with_the_models_yes_and_the_cosine_and_falls_with_missing_names():
    from rag.grounding import answerability

    for cross in (False, True):
        base = answerability(0.86, 0.9, 0.0, cross)
        assert answerability(0.86, 0.3, 0.0, cross) < base
        assert answerability(0.80, 0.9, 0.0, cross) < base
        assert answerability(0.86, 0.9, 1.0, cross) < base
        assert 0.0 < answerability(0.70, 0.1, 1.0, cross) < 0.05 < 0.95 < answerability(0.92, 0.99, 0.0, cross)
