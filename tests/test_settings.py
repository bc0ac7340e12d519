"""One settings object: defaults, then RAG_* environment variables, then explicit overrides."""

from rag.settings import Settings


def test_settings_from_env(monkeypatch):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_MIN_DENSE_SCORE", "0.5")
    monkeypatch.setenv("RAG_INDEX_DIR", "/tmp/somewhere")
    s = Settings.from_env(top_k=3)
    assert (s.top_k, s.min_dense_score, s.index_dir) == (3, 0.5, "/tmp/somewhere")


def test_boolean_settings_from_env(monkeypatch):
    import pytest

    assert Settings.from_env().llm_mmap is False
    monkeypatch.setenv("RAG_LLM_MMAP", "true")
    assert Settings.from_env().llm_mmap is True
    monkeypatch.setenv("RAG_LLM_MMAP", "0")
    assert Settings.from_env().llm_mmap is False
    monkeypatch.setenv("RAG_LLM_MMAP", "maybe")
    with pytest.raises(ValueError, match="boolean"):
        Settings.from_env()
