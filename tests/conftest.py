"""Shared fixtures: the real models (prepared by `make test`) and a sample index built once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples" / "briefings"
SEED = ROOT.parent / "shared" / "seed"


@pytest.fixture(scope="session")
def base_settings(tmp_path_factory):
    from rag.settings import Settings

    return Settings.from_env(index_dir=str(tmp_path_factory.mktemp("index")))


@pytest.fixture(scope="session")
def embedder(base_settings):
    from rag.embedding import Embedder

    return Embedder.load(base_settings)


@pytest.fixture(scope="session")
def sample_settings(base_settings, embedder):
    """Settings whose index_dir holds the sample briefings' index."""
    from rag.indexing import build_index

    report = build_index(SAMPLES, settings=base_settings, embedder=embedder)
    assert report.documents >= 8 and not report.skipped
    return base_settings


@pytest.fixture(scope="session")
def retriever(sample_settings, embedder):
    from rag.retrieval import Retriever

    return Retriever.load(sample_settings, embedder)


@pytest.fixture(scope="session")
def llm(base_settings):
    from rag.llm import LLM

    return LLM.load(base_settings)


@pytest.fixture(scope="session")
def assistant(sample_settings, retriever, llm):
    from rag.answering import Assistant

    return Assistant(sample_settings, retriever, llm)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------- real servers the tests start
@pytest.fixture(scope="session")
def pg_url():
    """The URL of a fresh PostgreSQL server's `rag` database (tools/postgres_local.py); stopped and removed after."""
    import shutil
    import tempfile

    from tools import postgres_local

    # not under pytest's tmp_path: as root the server runs as another user, who cannot enter /tmp/pytest-of-root
    folder = tempfile.mkdtemp(prefix="rag-pg-test-")
    try:
        yield postgres_local.start(folder, free_port(), durable=False)  # throwaway: no fsync
    finally:
        postgres_local.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def new_store(pg_url):
    """new_store(name) -> the URL of a new, empty database on the test server."""
    import psycopg

    def make(name: str) -> str:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return pg_url.rsplit("/", 1)[0] + "/" + name

    return make


def start_llm_server(port: int, *flags: str, log: Path):
    """python -m llama_cpp.server on the project's GGUF, as rag/llm_server.py recommends."""
    import subprocess
    import sys
    import time

    import httpx

    from rag.models import llm_path
    from rag.settings import Settings

    model = str(llm_path(Settings.from_env()))
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--n_ctx", "4096", "--n_batch", "512", "--n_threads", str(os.cpu_count() or 1)]
    cmd += ["--use_mmap", "false", "--interrupt_requests", "false", *flags]
    with log.open("w") as err:
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("llama_cpp.server did not start within 180 s")


def stop_process(process) -> None:
    import subprocess

    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def llm_server_url(tmp_path_factory):
    """One llama-cpp-python server (logprobs on) for the whole run: its OpenAI-compatible base URL."""
    port = free_port()
    process = start_llm_server(port, "--logits_all", "true", log=tmp_path_factory.mktemp("server") / "server.log")
    yield f"http://127.0.0.1:{port}/v1"
    stop_process(process)
