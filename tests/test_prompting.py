"""Sentence selection and the select-then-answer prompt (no model needed: a fake embedder)."""

import numpy as np
import pytest

from rag.prompting import ANSWER, EXAMPLES, SYSTEM, build_messages, detect_language, passage_sentences, select_sentences
from rag.schema import Hit

DOC = (
    "# Trêve de 30 jours\nDate : 2025-05-20\n\nLe cessez-le-feu de 30 jours a été proposé par Donald Trump. "
    "Emmanuel Macron s'est placé en première ligne. La Russie n'a pas répondu. Reste la vérification."
)


def fake_embed(texts):
    """A vector per text: how many times it says 'Trump' and 'Macron'."""
    v = np.array([[t.count("Trump"), t.count("Macron"), 0.1] for t in texts], dtype="float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def hit(text=DOC, start=100, title="Trêve de 30 jours"):
    return Hit(
        doc="/b/treve.md", start=start, end=start + len(text), text=text, score=1.0, title=title, date="2025-05-20"
    )


def test_title_and_date_lines_are_not_sentences():
    h = hit()
    assert [h.text[s:e] for s, e in passage_sentences(h)][:1] == [
        "Le cessez-le-feu de 30 jours a été proposé par Donald Trump."
    ]
    assert len(passage_sentences(h)) == 4


def test_closest_sentences_compete_across_passages_within_a_character_budget():
    question = fake_embed(["Trump Macron"])[0]
    h0, h1 = hit(), hit(start=900)
    first, second = (
        " ".join(x.split())
        for x in (
            "Le cessez-le-feu de 30 jours a été proposé par Donald Trump.",
            "Emmanuel Macron s'est placé en première ligne.",
        )
    )
    picked = select_sentences(question, [h0, h1], fake_embed, len(first) + len(second))
    # the two closest sentences of the better passage fill the budget; the weaker passage gives none
    assert [x.text for x in picked] == [first, second] and [x.hit for x in picked] == [0, 0]
    assert [x.n for x in picked] == [1, 2]
    assert DOC[picked[0].start - h0.start : picked[0].end - h0.start] == picked[0].text  # document offsets
    # a larger budget takes the weaker passage's sentences too, in reading order, numbered 1..n
    more = select_sentences(question, [h0, h1], fake_embed, 2 * (len(first) + len(second)))
    assert [x.hit for x in more] == [0, 0, 1, 1] and [x.n for x in more] == [1, 2, 3, 4]
    assert len(select_sentences(question, [h0], fake_embed, 0)) == 4  # 0 = whole passages


def test_a_sentence_cap_keeps_the_closest_sentences_in_reading_order():
    question = fake_embed(["Trump Macron"])[0]
    h0, h1 = hit(), hit(start=900)
    every = select_sentences(question, [h0, h1], fake_embed, 0)
    capped = select_sentences(question, [h0, h1], fake_embed, 0, max_sentences=3)
    closest = sorted(every, key=lambda x: -x.score)[:3]
    assert {(x.hit, x.start) for x in capped} == {(x.hit, x.start) for x in closest}
    assert [(x.hit, x.start) for x in capped] == sorted((x.hit, x.start) for x in capped)  # reading order
    assert [x.n for x in capped] == [1, 2, 3]
    assert select_sentences(question, [h0, h1], fake_embed, 0, max_sentences=0) == every  # 0 = no cap


def test_stored_sentence_scores_are_used_and_a_shared_sentence_is_shown_once():
    text = "Il pleut. Trump a gagné. Macron a perdu."
    a = Hit("/b/x.md", 0, 24, text[:24], 1.0, sentences=((0, 9, 0.5), (10, 24, 0.9)))
    b = Hit("/b/x.md", 10, 40, text[10:], 0.9, sentences=((10, 24, 0.9), (25, 40, 0.8)))

    def no_embedding(texts):
        raise AssertionError("stored scores must be used")

    picked = select_sentences(None, [a, b], no_embedding, 100)
    assert [(x.text, x.hit) for x in picked] == [("Il pleut.", 0), ("Trump a gagné.", 0), ("Macron a perdu.", 1)]
    assert [x.text for x in select_sentences(None, [a, b], no_embedding, 30)] == ["Trump a gagné.", "Macron a perdu."]


def test_prompt_numbers_sentences_under_their_passage_and_follows_the_question_language():
    sentences = select_sentences(fake_embed(["Trump"])[0], [hit()], fake_embed, 120)
    for language in ("fr", "en"):
        messages = build_messages("Qui a proposé la trêve ?", [hit()], sentences, language)
        assert messages[0] == {"role": "system", "content": SYSTEM[language]}
        assert len(messages) == 2 + 2 * len(EXAMPLES[language])
        user = messages[-1]["content"]
        assert user.startswith("Passage 1 — Trêve de 30 jours, 2025-05-20\n[1] Le cessez-le-feu")
        assert user.endswith("Question: Qui a proposé la trêve ?")
    # the worked examples reply in the labels the caller forces, in the prompt's language
    assert all(reply.startswith("Answerable:") for _, reply in EXAMPLES["fr"] + EXAMPLES["en"])
    assert ANSWER["fr"] in EXAMPLES["fr"][0][1] and ANSWER["en"] in EXAMPLES["en"][0][1]
    assert detect_language(EXAMPLES["fr"][0][1].split(ANSWER["fr"])[1]) == "fr"


@pytest.mark.parametrize(
    "text,language",
    [
        ("Who founded Lutte Ouvrière?", "en"),  # the accents of a name are not French
        ("Why was Françoise's father imprisoned?", "en"),
        ("Qui a fondé Lutte Ouvrière ?", "fr"),
        ("Où est né Molière ?", "fr"),  # the first word's accent counts
        ("Élue en 2019, elle préside la commission.", "fr"),
    ],
)
def test_detect_language_reads_function_words_not_names(text, language):
    assert detect_language(text) == language
