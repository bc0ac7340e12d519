"""The benchmarks keep working: each runs on a tiny input and writes sensible results.

Only behaviour is checked here (the figures exist, re-sync re-embeds only the
changed file, approximate search finds the exact neighbours); timings are the
benchmarks' business, not the tests'.
"""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SAMPLES


def run_bench(module: str, *args: str, out, **env_extra: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", **env_extra)
    proc = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "┃" in proc.stdout or "|" in proc.stdout  # a table was printed
    return json.loads((out / f"{module}.json").read_text())


def test_build_bench_on_the_samples(tmp_path):
    r = run_bench("build", "--corpus", str(SAMPLES), out=tmp_path)
    assert r["documents"] >= 8 and r["chunks"] > r["documents"]
    assert r["build_s"] > 0 and r["bare_embed_s"] > 0 and r["embed_s"] <= r["build_s"]
    assert r["units"] > r["chunks"] and r["bare_embed_chunks_s"] > 0
    assert r["resync_nochange_wrote"] is False  # nothing changed: nothing rewritten
    assert r["one_file_reembedded"] == r["one_file_chunks"] < r["one_file_total_chunks"]
    assert r["machine"]["nproc"] >= 1


def test_search_bench_exercises_exact_and_approximate_indexes(tmp_path):
    r = run_bench(
        "search", "--corpus", str(SAMPLES), "--sizes", "30,3000", "--queries", "5", "--flat-max", "1000", out=tmp_path
    )
    small, large = r["sizes"]
    assert small["chunks"] == 30 and small["faiss"] == "IndexFlatIP" and small["recall@10_vs_exact"] == 1.0
    assert large["chunks"] == 3000 and large["faiss"] != "IndexFlatIP"
    assert large["recall@10_vs_exact"] >= 0.9
    assert 0 < large["hybrid_p50_ms"] <= large["hybrid_p95_ms"]


def test_grow_keeps_real_data_first_and_normalises():
    import numpy as np

    from bench.search import grow

    rng = np.random.default_rng(1)
    v = rng.normal(size=(5, 8)).astype("float32")
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    terms = [["a", "b", "c"], ["d"], ["e", "f"], ["g", "h"], ["i"]]
    out, grown, base = grow(v, terms, 50)
    assert out.shape == (50, 8) and np.allclose(out[:5], v) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert grown[:5] == terms and all(set(grown[i]) <= set(terms[base[i]]) for i in range(50))


@pytest.mark.slow
def test_answer_bench_on_the_example_questions(tmp_path):
    # One example question over two passages: the bench's code paths, not its figures. Its serving-process
    # part (a web chat server with its own LLM) is left out for CI time: the UI tests start that server.
    r = run_bench(
        "answer", "--piaf", "0", "--examples", "1", "--no-server", out=tmp_path, RAG_TOP_K="2", RAG_PROMPT_CHARS="900"
    )
    rows = r["answers"]["questions"]
    assert len(rows) == 1 and all(x["found"] and x["prompt_tokens"] > 50 for x in rows)
    assert all(x["ttft_s"] > 0 and x["bare_ttft_s"] > 0 for x in rows)
    # the second baseline reads the same prompt plus the lines forced before the answer: more tokens
    assert all(x["forced_tokens"] > x["prompt_tokens"] and x["bare_forced_ttft_s"] > 0 for x in rows)
    assert r["answers"]["sequence"] == {}  # the sequence needs two questions
    assert "server" not in r


def test_refusal_thresholds_are_chosen_from_a_logged_run(tmp_path):
    def row(p_yes, dense, correct, found=True):
        return {
            "found": found,
            "correct": correct,
            "citation_hits": int(correct),
            "citations": 1,
            "trace": {"gate": {"dense": dense, "coverage": 0.5, "missing": []}, "p_yes": p_yes},
        }

    # answerable questions: the model says yes; without their documents: it mostly says no
    present = [row(0.9 + i / 1000, 0.85, i % 4 != 0) for i in range(40)]
    absent = [row(0.2 if i % 5 else 0.95, 0.85, False) for i in range(40)]
    logged = tmp_path / "eval.json"
    logged.write_text(json.dumps({"details": {"answers": present, "refusal": absent}}))
    r = run_bench("refusal", str(logged), out=tmp_path)
    chosen = r["French questions (same language)"]
    assert 0.2 < chosen["thresholds"]["min_answerable"] <= 0.9  # between the two groups
    assert chosen["all"]["not_found_with_gold"] == 0 and chosen["all"]["not_found_without_gold"] == 0.8


def test_scale_bench_compares_postgres_with_faiss_and_one_with_two_workers(tmp_path):
    # Tiny sizes: the bench's code paths (a PostgreSQL server started and stopped, both searchers,
    # HNSW recall against exact search, one- and two-worker ingestion), not its figures.
    r = run_bench(
        "scale", "--corpus", str(SAMPLES), "--sizes", "300", "--queries", "5", "--ef", "40",
        "--ingest-docs", "3", out=tmp_path,
    )  # fmt: skip
    (row,) = r["search"]
    assert row["passages"] == 300 and row["pg_p50_ms"] > 0 and row["faiss_p50_ms"] > 0
    assert row["same_top_passage"] >= 0.6  # the two backends mostly agree on the best passage
    assert 0.5 <= row["hnsw"][0]["recall@10"] <= 1.0
    ingest = r["ingest"]
    assert ingest["workers_1_chunks"] == ingest["workers_2_chunks"] > 0  # same store either way


def test_resync_bench_on_a_tiny_folder(tmp_path):
    r = run_bench("resync", "--sizes", "300", "--queries", "3", "--no-real-embed", out=tmp_path)
    size = r["sizes"][0]
    assert size["files"] == 6 and size["chunks"] > size["files"]
    assert size["nochange"]["wrote"] is False and size["changed"]["wrote"] and size["deleted"]["wrote"]
    assert 0 < size["changed"]["embedded_units"] < size["units"]  # only the changed file embedded
    assert size["changed_found"] and size["deleted_gone"]
    assert size["vs_full_bm25"]["overlap@10"] == 1.0 and size["vs_full_bm25"]["max_bm25_gap"] < 1e-4


def test_replay_reruns_the_checks_on_a_logged_answer(tmp_path, monkeypatch):
    from bench.replay import replay
    from rag.settings import Settings

    text = "Le traité de Rome fut signé en 1957. Il fonde la Communauté économique européenne."
    row = {
        "question": "En quelle année le traité de Rome fut-il signé ?",
        "raw": "Le traité de Rome fut signé en 1957.",
        "hits": [
            {
                "doc": "rome.txt", "start": 0, "end": len(text), "title": "", "date": "", "text": text,
                "score": 1.0, "dense": 0.9, "bm25": 3.0, "sentences": [[0, 36, 0.9], [37, len(text), 0.7]],
            }
        ],
        "trace": {"shown": [["rome.txt", 0, 36], ["rome.txt", 37, len(text)]], "p_yes": 0.8, "evidence": [2]},
    }  # fmt: skip
    a = replay(row, Settings())
    assert a.found and a.citations[0].quote_start == 0  # the year is only in sentence 1: cited there
    assert "1957" in a.text
    assert not replay(row, Settings(min_answerable=0.99)).found  # the bar replayed: "not found"
    doubtful = {**row, "trace": {**row["trace"], "p_yes": 0.05}}
    assert not replay(doubtful, Settings()).found  # the model doubts: the answerability score refuses
    wrong = {**row, "raw": "Il fut signé en 1962."}
    assert not replay(wrong, Settings()).found  # a year no shown sentence gives
    assert replay({**row, "trace": {}}, Settings()) is None  # never reached the LLM: not replayable
