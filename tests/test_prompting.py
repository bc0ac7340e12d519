"""Sentence selection and the select-then-answer prompt (no model needed: a fake embedder)."""
import numpy as np

from rag.prompting import ANSWER, EXAMPLES, SYSTEM, build_messages, detect_language, passage_sentences, \
    select_sentences
from rag.schema import Hit

DOC = ("# Trêve de 30 jours\nDate : 2025-05-20\n\nLe cessez-le-feu de 30 jours a été proposé par Donald Trump. "
       "Emmanuel Macron s'est placé en première ligne. La Russie n'a pas répondu. Reste la vérification.")


def fake_embed(texts):
    """A vector per text: how many times it says 'Trump' and 'Macron'."""
    v = np.array([[t.count("Trump"), t.count("Macron"), 0.1] for t in texts], dtype="float32")
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def hit(text=DOC, start=100, title="Trêve de 30 jours"):
    return Hit(doc="/b/treve.md", start=start, end=start + len(text), text=text, score=1.0, title=title,
               date="2025-05-20")


def test_title_and_date_lines_are_not_sentences():
    h = hit()
    assert [h.text[s:e] for s, e in passage_sentences(h)][:1] == \
        ["Le cessez-le-feu de 30 jours a été proposé par Donald Trump."]
    assert len(passage_sentences(h)) == 4


def test_closest_sentences_are_kept_in_reading_order_with_document_offsets():
    question = fake_embed(["Trump Macron"])[0]
    two = select_sentences(question, [hit(), hit(start=900)], fake_embed, keep=2)
    assert [x.n for x in two] == [1, 2, 3, 4] and [x.hit for x in two] == [0, 0, 1, 1]
    assert two[0].text.startswith("Le cessez-le-feu") and two[1].text.startswith("Emmanuel Macron")
    h = hit()
    assert DOC[two[0].start - h.start:two[0].end - h.start] == two[0].text        # offsets into the document
    assert len(select_sentences(question, [h], fake_embed, keep=0)) == 4          # 0 = whole passages


def test_prompt_numbers_sentences_under_their_passage_and_follows_the_question_language():
    sentences = select_sentences(fake_embed(["Trump"])[0], [hit()], fake_embed, keep=2)
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
