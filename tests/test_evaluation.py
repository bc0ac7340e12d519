"""rag eval's metrics on hand-made cases, and the whole run on a tiny PIAF sample."""
import json
import shutil
from pathlib import Path

import pytest

from conftest import ROOT
from rag.evaluation import (Question, RetrievalEvaluator, as_markdown, load_questions, normalize, overlaps,
                            run_eval, sample, score_answer, token_f1)
from rag.schema import Hit

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


class FakeRetriever:
    """Fixed rankings, to check the metric arithmetic."""

    class embedder:
        @staticmethod
        def queries(texts):
            import numpy as np
            return np.zeros((len(texts), 2), "float32")

    def __init__(self, hits):
        self.hits = hits

    def search(self, query, k, mode, query_vector):
        return self.hits[query][:k]


def test_retrieval_metrics_arithmetic():
    questions = [Question("1", "q1", "x", "a.md", 100, 110), Question("2", "q2", "y", "b.md", 0, 5)]
    hit = lambda doc, s, e: Hit(doc=f"/c/{doc}", start=s, end=e, text="t" * (e - s), score=1.0)
    hits = {"q1": [hit("z.md", 0, 2000), hit("a.md", 90, 120)],           # relevant at rank 2, beyond 2000 chars
            "q2": [hit("z.md", 0, 4000), hit("b.md", 0, 50)]}              # relevant but past the 3000 budget
    m = RetrievalEvaluator(questions, ks=(1, 2))(FakeRetriever(hits))
    assert m["recall@1"] == 0 and m["recall@2"] == 1 and m["mrr@10"] == pytest.approx(0.5)
    assert m["recall@3000chars"] == 0.5


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
    results = run_eval(corpus, subset, tmp_path / "work", settings=base_settings, answers=2, seed=0)
    for mode in ("dense", "bm25", "hybrid"):
        r = results["retrieval"][mode]
        assert 0 < r["recall@1"] <= r["recall@5"] <= r["recall@10"] <= 1
    assert results["answers"]["questions"] == 2 and 0 <= results["answers"]["correct"] <= 1
    assert results["oracle"]["questions"] == 2
    assert 0 <= results["refusal"]["not_found_without_gold"] <= 1
    table = as_markdown(results)
    assert "| hybrid |" in table and "| oracle |" in table and "refusal" in table
