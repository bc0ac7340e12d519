"""rag eval's metrics on hand-made cases, and the whole run on a tiny PIAF sample."""

import json
import shutil

import pytest

from conftest import ROOT
from rag.evaluation import (
    BriefingEvaluator,
    Question,
    RetrievalEvaluator,
    as_markdown,
    halves,
    has_meta_talk,
    load_questions,
    loss_stage,
    normalize,
    overlaps,
    run_eval,
    sample,
    score_answer,
    token_f1,
    translated,
)
from rag.schema import Answer, Citation, Hit
from rag.settings import Settings

PIAF = ROOT.parent / "shared" / "eval" / "piaf"


def q(start=10, end=20, doc="a.md"):
    return Question("1", "Qui ?", "Donald Trump", doc, start, end)


def test_overlap_rule():
    assert overlaps("/x/a.md", 0, 11, q()) and overlaps("/x/a.md", 19, 30, q())
    assert not overlaps("/x/a.md", 0, 10, q()) and not overlaps("/x/a.md", 20, 30, q())
    assert not overlaps("/x/b.md", 0, 100, q())


def test_normalisation_and_f1():
    assert normalize("Le Président, Donald Trump [1].") == "president donald trump"
    # "l'" and "a" are dropped like articles: 3 predicted tokens, 2 right -> P 2/3, R 1
    assert token_f1("Donald Trump l'a proposée", "Donald Trump") == pytest.approx(0.8)
    assert token_f1("Macron", "Donald Trump") == 0.0


def test_answer_scoring():
    row = score_answer("C'est Donald Trump [1].", True, [("/x/a.md", 0, 15), ("/x/c.md", 0, 5)], q())
    assert row["correct"] and row["citation_hits"] == 1 and row["citations"] == 2
    assert not score_answer("Donald Trump", False, [], q())["correct"]


def test_an_answer_in_the_question_language_counts_through_its_aliases():
    # an English question over a French briefing is answered in English: its gold span is French
    gold = Question(
        "1", "How long?", "moins de deux heures", "a.md", 0, 20, lang="en", aliases=("less than two hours",)
    )
    assert score_answer("It lasted less than two hours [1].", True, [], gold)["correct"]
    assert score_answer("Moins de deux heures [1].", True, [], gold)["correct"]
    assert not score_answer("It lasted two hours [1].", True, [], gold)["correct"]
    assert not score_answer("less than two hours", False, [], gold)["correct"]


def test_shipped_briefing_aliases_are_for_answers_in_the_other_language():
    from rag.evaluation import BRIEFINGS_QA

    with_aliases = [x for x in load_questions(BRIEFINGS_QA) if x.aliases]
    assert with_aliases and all(x.answerable and x.answer not in x.aliases for x in with_aliases)


def test_citation_precision_is_judged_on_the_highlighted_sentence():
    # the passage holds the gold span, but the highlighted sentence (quote 0-9) does not
    row = score_answer("Donald Trump", True, [("/x/a.md", 0, 40, 0, 9)], q())
    assert row["citation_passage_hits"] == 1 and row["citation_hits"] == 0
    assert score_answer("Donald Trump", True, [("/x/a.md", 0, 40, 9, 25)], q())["citation_hits"] == 1


def hit(start, end, doc="/x/a.md"):
    return Hit(doc=doc, start=start, end=end, text="x" * (end - start), score=1.0)


def test_loss_stage_names_where_the_answer_was_lost():
    gold = q(10, 20)
    right = Answer(text="Donald Trump [1].", found=True, hits=[hit(0, 50)])
    assert loss_stage(right, gold) == "correct"
    assert loss_stage(Answer(text="Macron", found=True, hits=[hit(30, 50)]), gold) == "retrieval"
    shown_elsewhere = {"shown": [("/x/a.md", 30, 40)]}
    assert loss_stage(Answer(text="Macron", found=True, hits=[hit(0, 50)], trace=shown_elsewhere), gold) == "focus"
    shown = {"shown": [("/x/a.md", 0, 25)]}
    assert (
        loss_stage(Answer(text="no", found=False, hits=[hit(0, 50)], trace={**shown, "refused_by": "gate"}), gold)
        == "gate"
    )
    assert (
        loss_stage(
            Answer(text="no", found=False, hits=[hit(0, 50)], trace={**shown, "refused_by": "answerability"}), gold
        )
        == "answerability"
    )
    assert (
        loss_stage(Answer(text="Macron", found=True, hits=[hit(0, 50)], raw_text="Macron", trace=shown), gold)
        == "generation"
    )
    # the model named a sentence (1-based, of those shown) without the gold span: lost at selection
    two = {"shown": [("/x/a.md", 0, 25), ("/x/a.md", 26, 50)]}
    for named, stage in (([2], "selection"), ([1], "generation")):
        wrong = Answer(
            text="Macron", found=True, hits=[hit(0, 50)], raw_text="Macron", trace={**two, "evidence": named}
        )
        assert loss_stage(wrong, gold) == stage
    assert (
        loss_stage(
            Answer(
                text="no",
                found=False,
                hits=[hit(0, 50)],
                raw_text="Donald Trump 12",
                trace={**shown, "refused_by": "verification"},
            ),
            gold,
        )
        == "check"
    )


def test_meta_talk_detection():
    assert has_meta_talk("Elle est de bas niveau, citing passage [1].")
    assert has_meta_talk("Le chiffre est important, comme mentionné dans le passage [1].")
    assert has_meta_talk("According to passage [2], Trump proposed it.")
    assert not has_meta_talk("Donald Trump a proposé la trêve de 30 jours [1].")


def test_translations_replace_the_question_text(tmp_path):
    path = tmp_path / "en.jsonl"
    path.write_text(
        '{"id": "2", "question": "Who?"}\n{"id": "3", "question": "When?", "aliases": ["May"]}\n', encoding="utf-8"
    )
    qs = [Question("1", "Qui ?", "A", "a.md", 0, 1), Question("2", "Qui donc ?", "B", "a.md", 2, 3)]
    qs.append(Question("3", "Quand ?", "mai", "a.md", 4, 7))
    assert translated(qs, path) == [
        Question("2", "Who?", "B", "a.md", 2, 3, lang="en"),
        Question("3", "When?", "mai", "a.md", 4, 7, lang="en", aliases=("May",)),
    ]


def test_shipped_translations_cover_the_seeded_sample():
    if not PIAF.is_dir():
        pytest.skip("../shared/eval/piaf not present")
    from rag.evaluation import TRANSLATIONS

    picked = sample(load_questions(PIAF / "dev.jsonl"), 300, seed=0)
    english = translated(picked, TRANSLATIONS)
    # all 300, in the sample's order: `rag eval --answers 300 --cross 300` asks every one in English
    assert [x.id for x in english] == [x.id for x in picked]


class FakeAssistant:
    def __init__(self, replies):
        self.replies = replies

    def answer(self, question):
        text, found, cites = self.replies[question]
        return Answer(text=text, found=found, citations=cites, hits=[hit(0, 50, "/c/a.md")])


def test_briefing_evaluator_scores_refusals_per_language():
    cite = Citation(n=1, doc="/c/a.md", title="", start=0, end=50, text="", quote_start=5, quote_end=25)
    qs = [
        Question("1", "Qui ?", "Trump", "a.md", 10, 15, "fr", True),
        Question("2", "PIB ?", "", "", -1, -1, "fr", False),
        Question("3", "GDP?", "", "", -1, -1, "en", False),
        Question("4", "Who?", "Trump", "a.md", 10, 15, "en", True),
    ]
    bot = FakeAssistant(
        {
            "Qui ?": ("Trump [1].", True, [cite]),
            "PIB ?": ("non", False, []),
            "GDP?": ("It is 3% [1].", True, [cite]),
            "Who?": ("no", False, []),
        }
    )
    m = BriefingEvaluator(qs)(bot)
    assert m["fr"]["correct"] == 1 and m["fr"]["citation_precision"] == 1 and m["fr"]["not_found_unanswerable"] == 1
    assert m["en"]["not_found_unanswerable"] == 0 and m["en"]["not_found_answerable"] == 1
    assert "| en |" in as_markdown({"briefings": m})


class FakeRetriever:
    """Fixed rankings, to check the metric arithmetic."""

    class embedder:
        @staticmethod
        def queries(texts):
            import numpy as np

            return np.zeros((len(texts), 2), "float32")

    def __init__(self, hits):
        self.hits = hits
        self.settings = Settings(top_k=2, prompt_chars=25)

    def search(self, query, k, mode, query_vector):
        return self.hits[query][:k]


def test_retrieval_metrics_arithmetic():
    questions = [Question("1", "q1", "x", "a.md", 100, 110), Question("2", "q2", "y", "b.md", 0, 5)]

    def hit(doc, s, e, *sentences):
        return Hit(doc=f"/c/{doc}", start=s, end=e, text="t" * (e - s), score=1.0, sentences=sentences)

    hits = {
        "q1": [
            hit("z.md", 0, 2000, (0, 10, 0.95)),  # relevant at rank 2, beyond 2000 chars;
            hit("a.md", 90, 120, (90, 100, 0.9), (100, 120, 0.2)),
        ],  # its gold sentence is not shown
        "q2": [
            hit("z.md", 0, 4000, (0, 10, 0.95)),  # relevant but past the 3000 budget;
            hit("b.md", 0, 50, (0, 5, 0.3)),
        ],
    }  # its gold sentence fits the 25 chars
    m = RetrievalEvaluator(questions, ks=(1, 2))(FakeRetriever(hits))
    assert m["recall@1"] == 0 and m["recall@2"] == 1 and m["mrr@10"] == pytest.approx(0.5)
    assert m["recall@3000chars"] == 0.5
    assert m["gold_shown"] == 0.5


def test_halves_split_by_article():
    qs = [Question(str(i), "q", "a", f"doc-{i % 7}.md", 0, 1) for i in range(70)]
    split = halves(qs)
    a = {q.doc for q, h in zip(qs, split) if h == 0}
    b = {q.doc for q, h in zip(qs, split) if h == 1}
    assert a and b and not a & b and len(a) + len(b) == 7


def test_seeded_sample_is_stable():
    qs = [Question(str(i), "q", "a", "d", 0, 1) for i in range(50)]
    assert sample(qs, 5, seed=3) == sample(qs, 5, seed=3) != sample(qs, 5, seed=4)


@pytest.mark.slow
def test_run_eval_on_a_tiny_piaf_sample(tmp_path, base_settings):
    if not PIAF.is_dir():
        pytest.skip("../shared/eval/piaf not present")
    questions = load_questions(PIAF / "dev.jsonl")
    docs = sorted({x.doc for x in questions})[:4]
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for d in docs:
        shutil.copy(PIAF / "docs" / d, corpus / d)
    subset = tmp_path / "dev.jsonl"
    subset.write_text("".join(json.dumps(x.__dict__, ensure_ascii=False) + "\n" for x in questions if x.doc in docs))
    results = run_eval(
        corpus, subset, tmp_path / "work", settings=base_settings, answers=1, seed=0, cross=0, briefings=None
    )
    for mode in ("dense", "bm25", "hybrid"):
        r = results["retrieval"][mode]
        assert 0 < r["recall@1"] <= r["recall@5"] <= r["recall@10"] <= 1
    assert results["answers"]["questions"] == 1 and 0 <= results["answers"]["correct"] <= 1
    assert results["oracle"]["questions"] == 1
    assert 0 <= results["refusal"]["not_found_without_gold"] <= 1
    table = as_markdown(results)
    assert "| hybrid |" in table and "| oracle |" in table and "refusal" in table
    assert sum(results["answers"]["loss"].values()) == 1 and "where answers are lost" in table
