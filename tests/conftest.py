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
