"""Model preparation and clear errors for missing or damaged models."""

import pytest

from rag import models
from rag.errors import ModelMissing
from rag.settings import Settings


def test_default_models_are_prepared_and_checked():
    s = Settings.from_env()
    path = models.llm_path(s)
    assert path.stat().st_size == models.LLM_SIZE
    assert (models.embedder_path(s) / "modules.json").is_file()


def test_missing_models_say_how_to_fix(tmp_path):
    s = Settings.from_env(models_dir=str(tmp_path))
    with pytest.raises(ModelMissing, match="rag models prepare"):
        models.llm_path(s)
    with pytest.raises(ModelMissing, match="rag models prepare"):
        models.embedder_path(s)
    with pytest.raises(ModelMissing, match="not found"):
        models.llm_path(s.replace(llm_model=str(tmp_path / "x.gguf")))


def test_truncated_default_llm_is_detected(tmp_path):
    (tmp_path / models.LLM_FILE).write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(ModelMissing, match="damaged"):
        models.llm_path(Settings.from_env(models_dir=str(tmp_path)))


def test_corrupt_gguf_gives_model_missing(tmp_path):
    from rag.llm import LLM

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"this is not a gguf file" * 100)
    with pytest.raises(ModelMissing, match="cannot load"):
        LLM.load(Settings.from_env(llm_model=str(bad)))


def test_llama_cpp_runs_multi_token_prompts():
    from rag.selfcheck import check_llm

    ok, message = check_llm()
    assert ok, message
