"""Two web replicas (`python -m ui.app`, as `rag serve`) sharing one PostgreSQL store and one LLM server.

Starts: the session's PostgreSQL (conftest `pg_url`) and llama-cpp-python server (`llm_server_url`),
then two web chat processes on two ports. Both answer the same question the same way, and a
document indexed through one replica's Index tab API is answered from by the other, no restart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, SAMPLES, free_port, stop_process, write

pytestmark = pytest.mark.slow


def _replica(env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"http://127.0.0.1:{port}/"


def _wait(proc: subprocess.Popen, url: str) -> None:
    for _ in range(480):
        if proc.poll() is not None:
            pytest.fail("a replica exited")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail("a replica did not start within 240 s")


def test_two_replicas_on_one_store_and_one_llm_server(tmp_path, new_store, llm_server_url, base_settings, embedder):
    from gradio_client import Client

    from rag.postgres import PostgresIndex

    folder = tmp_path / "briefings"
    folder.mkdir()
    for name in ("2025-05-20-treve-30-jours-macron.md", "2025-05-22-weimar-plus-europe-ecartee.html"):
        shutil.copy(SAMPLES / name, folder / name)
    url = new_store("replicas")
    PostgresIndex(base_settings.replace(store=url), embedder).build(str(folder))

    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
        RAG_STORE=url,
        RAG_LLM_URL=llm_server_url,
        RAG_TOP_K="2",  # short prompts: the replicas are under test, not the answers (CI time)
        RAG_PROMPT_CHARS="900",
    )
    env.pop("RAG_INDEX_DIR", None)
    (a, url_a), (b, url_b) = _replica(env), _replica(env)
    try:
        _wait(a, url_a)
        _wait(b, url_b)
        first, second = Client(url_a, verbose=False), Client(url_b, verbose=False)
        question = "Qui a proposé la trêve de 30 jours ?"
        answer_a = first.predict(question, api_name="/chat")
        answer_b = second.predict(question, api_name="/chat")
        assert "Trump" in answer_a and "[1]" in answer_a, answer_a
        assert answer_b == answer_a

        # An update through replica A's Index tab (its /rebuild API), answered from by replica B.
        write(
            folder,
            "2025-06-02-port-de-gdansk.md",
            "# Le port de Gdansk rouvre\n\nLe port de Gdansk a rouvert le 2 juin 2025 après l'incendie. "
            "La ministre Katarzyna Nowak a annoncé la réouverture du terminal céréalier.\n",
        )
        report = first.predict(str(folder), [], api_name="/rebuild")
        assert "1 added" in report, report
        answer = second.predict("Qui a annoncé la réouverture du terminal céréalier de Gdansk ?", api_name="/chat")
        assert "Nowak" in answer and "[1]" in answer, answer
    finally:
        stop_process(a)
        stop_process(b)
