"""The `rag` command: one-line errors with non-zero exit codes, never a traceback."""
import json
import subprocess
import sys

import pytest

from conftest import SAMPLES


def rag(*args, env_index=None, timeout=600):
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if env_index:
        env["RAG_INDEX_DIR"] = str(env_index)
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def assert_one_line_error(proc, code, needle):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], proc.stderr


def test_build_status_search(tmp_path, embedder):
    index = tmp_path / "index"
    proc = rag("index", "build", str(SAMPLES), "--index", str(index), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "10 added" in proc.stdout or "added" in proc.stdout
    again = rag("index", "build", "--index", str(index), "--quiet")
    assert again.returncode == 0 and "up to date" in again.stdout
    status = json.loads(rag("index", "status", "--json", env_index=index).stdout)
    assert status["documents"] >= 8 and status["embedder"] == "multilingual-e5-small"
    found = rag("search", "Weimar+", "-k", "1", env_index=index)
    assert found.returncode == 0 and "weimar" in found.stdout.lower()


def test_errors(tmp_path):
    assert_one_line_error(rag("index", "build", str(tmp_path / "nope"), "--index", str(tmp_path / "i")),
                          1, "folder not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(rag("index", "build", str(tmp_path / "empty"), "--index", str(tmp_path / "i")),
                          3, "no readable briefing")
    assert_one_line_error(rag("ask", "hello", "--index", str(tmp_path / "none")), 1, "no index")
    assert_one_line_error(rag("index", "status", "--index", str(tmp_path / "none")), 1, "rag index build")


def test_question_errors(sample_settings):
    assert_one_line_error(rag("ask", "", "--index", sample_settings.index_dir), 1, "empty question")
    assert_one_line_error(rag("ask", "x" * 50_000, "--index", sample_settings.index_dir), 1, "too long")


def test_missing_model_is_a_clear_error(sample_settings, tmp_path):
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_LLM_MODEL=str(tmp_path / "missing.gguf"))
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Qui ?", "--index", sample_settings.index_dir],
                          capture_output=True, text=True, env=env, timeout=300)
    assert_one_line_error(proc, 1, "LLM file not found")
