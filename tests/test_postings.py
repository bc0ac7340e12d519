"""BM25 over segments scores like bm25s on one index of the same live passages."""

from __future__ import annotations

import random

import numpy as np

from conftest import SAMPLES
from rag.lexical import BM25Index, analyze
from rag.postings import CollectionBM25, Postings


def bm25s_scores(corpus: list[list[str]], query: list[str]) -> np.ndarray:
    index = BM25Index.from_terms(corpus)
    ids = index._bm25.get_tokens_ids(query)
    return np.asarray(index._bm25.get_scores(ids), np.float32) if ids else np.zeros(len(corpus), np.float32)


def random_corpus(n: int, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    words = [f"t{i}" for i in range(400)]
    # skewed: a few frequent terms, many rare ones; some passages without any term
    return [[rng.choice(words[: rng.randint(3, 400)]) for _ in range(rng.randint(0, 40))] for _ in range(n)]


def test_one_segment_scores_as_bm25s():
    corpus = random_corpus(3000)
    bm25 = CollectionBM25([Postings.from_terms(corpus)])
    for query in (["t1", "t5", "t300", "t1"], ["t77"], ["t399", "absent"], ["absent"]):
        assert np.allclose(bm25.term_scores(query), bm25s_scores(corpus, query), atol=1e-5)


def test_real_text_scores_as_bm25s():
    texts = [p.read_text(encoding="utf-8") for p in sorted(SAMPLES.iterdir())]
    passages = [para for t in texts for para in t.split("\n\n") if para.strip()]
    corpus = [analyze(p) for p in passages]
    bm25 = CollectionBM25([Postings.from_terms(corpus)])
    for q in ("trêve de 30 jours", "Weimar+", "prix du gaz en Europe", "who proposed the truce"):
        expected = bm25s_scores(corpus, analyze(q))
        assert expected.max() > 0
        assert np.allclose(bm25.scores(q), expected, atol=1e-5)


def test_segments_with_dead_rows_score_as_an_index_of_the_live_rows():
    corpus = random_corpus(3000, seed=1)
    whole = Postings.from_terms(corpus)
    # a base segment, a second one, and a small delta re-adding changed passages
    base = Postings.select([(whole, np.arange(0, 2000))])
    second = Postings.select([(whole, np.arange(2000, 3000))])
    changed = [terms + ["t3"] for terms in corpus[100:150]]
    delta = Postings.from_terms(changed)
    alive = np.ones(3000 + 50, bool)
    alive[100:150] = False  # replaced by the delta
    alive[2500:2600] = False  # deleted
    bm25 = CollectionBM25([base, second, delta], alive)
    live = [corpus[i] for i in range(3000) if alive[i]] + changed
    for query in (["t3", "t9"], ["t150", "t2", "t2"], ["t399"]):
        got = bm25.term_scores(query)
        assert not got[~alive].any()  # dead rows never score
        assert np.allclose(got[alive], bm25s_scores(live, query), atol=1e-5)


def test_select_merges_and_reorders_without_reanalysing():
    corpus = random_corpus(500, seed=2)
    a, b = Postings.from_terms(corpus[:300]), Postings.from_terms(corpus[300:])
    order_a, order_b = np.arange(299, -1, -3), np.arange(0, 200, 2)
    merged = Postings.select([(b, order_b), (a, order_a)])
    expected = Postings.from_terms([corpus[300 + i] for i in order_b] + [corpus[i] for i in order_a])
    for query in (["t1", "t2"], ["t40"], ["t200", "t7"]):
        assert np.allclose(
            CollectionBM25([merged]).term_scores(query), CollectionBM25([expected]).term_scores(query), atol=1e-6
        )
    assert merged.n_docs == len(order_a) + len(order_b)


def test_save_and_load(tmp_path):
    p = Postings.from_terms([["trev", "30"], ["gaz"], ["gaz", "prix", "gaz"], []])
    p.save(tmp_path / "postings")
    q = Postings.load(tmp_path / "postings")
    assert q.terms == p.terms and np.array_equal(q.tf, p.tf) and list(q.lengths) == [2, 1, 3, 1]
