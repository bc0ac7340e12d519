"""Questions translated into the passages' language: the language vote, the reply's clean-up, the real model."""

from __future__ import annotations

from rag.prompting import detect_language
from rag.schema import Hit
from rag.translation import other_language, passages_language, translate_question

FR = "Le président a proposé une trêve de trente jours aux deux parties."
EN = "The president proposed a thirty-day truce to both sides."


def hit(text: str) -> Hit:
    return Hit(doc="/b/a.md", start=0, end=len(text), text=text, score=1.0)


def test_passages_language_is_the_majority_then_the_best_passage():
    assert passages_language([]) is None
    assert passages_language([hit(FR), hit(EN), hit(FR)]) == "fr"
    assert passages_language([hit(EN), hit(FR)]) == "en"  # a tie: the best passage's language
    assert passages_language([hit(FR), hit(EN)]) == "fr"


class Replies:
    """A fake LLM that replies with a fixed text and records what it was asked."""

    def __init__(self, reply: str):
        self.reply, self.asked = reply, []

    def complete(self, messages, max_tokens=None):
        self.asked.append(messages)
        return self.reply


def test_the_first_line_of_the_reply_is_the_translation():
    llm = Replies('"Qui a proposé la trêve ?"\n\nNote: this is a translation.')
    assert translate_question(llm, "Who proposed the truce?", "fr") == "Qui a proposé la trêve ?"
    assert "French" in llm.asked[0][0]["content"] and llm.asked[0][1]["content"] == "Who proposed the truce?"


def test_an_unusable_reply_keeps_the_question():
    assert translate_question(Replies(""), "Who proposed the truce?", "fr") == "Who proposed the truce?"
    assert translate_question(Replies("?!"), "Who proposed the truce?", "fr") == "Who proposed the truce?"
    runaway = "Qui a proposé la trêve " + "et la paix " * 40
    assert translate_question(Replies(runaway), "Who proposed the truce?", "fr") == "Who proposed the truce?"


def test_the_local_model_translates_a_question_keeping_its_number(llm):
    out = translate_question(llm, "Who proposed the 30-day truce?", "fr")
    assert detect_language(out) == "fr" and "30" in out, out
    assert any(w in out.lower() for w in ("trêve", "cessez-le-feu", "treve")), out
    back = translate_question(llm, "Qui a proposé la trêve de 30 jours ?", "en")
    assert detect_language(back) == "en" and "30" in back, back


def test_other_language_is_the_first_passage_in_another_language():
    assert other_language([hit(EN), hit(EN)], "en") is None
    assert other_language([hit(EN), hit(FR)], "en") == "fr"
    assert other_language([hit(FR)], "fr") is None and other_language([], "fr") is None
