"""The `rag` command: one-line errors with non-zero exit codes, never a traceback."""

import json
import subprocess
import sys

from conftest import SAMPLES


def rag(*args, env_index=None, timeout=600):
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if env_index:
        env["RAG_INDEX_DIR"] = str(env_index)
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


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
    assert_one_line_error(
        rag("index", "build", str(tmp_path / "nope"), "--index", str(tmp_path / "i")), 1, "folder not found"
    )
    (tmp_path / "empty").mkdir()
    assert_one_line_error(
        rag("index", "build", str(tmp_path / "empty"), "--index", str(tmp_path / "i")), 3, "no readable briefing"
    )
    assert_one_line_error(rag("ask", "hello", "--index", str(tmp_path / "none")), 1, "no index")
    assert_one_line_error(rag("index", "status", "--index", str(tmp_path / "none")), 1, "rag index build")


def test_question_errors(sample_settings):
    assert_one_line_error(rag("ask", "", "--index", sample_settings.index_dir), 1, "empty question")
    assert_one_line_error(rag("ask", "x" * 50_000, "--index", sample_settings.index_dir), 1, "too long")


def test_missing_model_is_a_clear_error(sample_settings, tmp_path):
    import os

    env = dict(os.environ, HF_HUB_OFFLINE="1", RAG_LLM_MODEL=str(tmp_path / "missing.gguf"))
    proc = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "Qui ?", "--index", sample_settings.index_dir],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert_one_line_error(proc, 1, "LLM file not found")


def test_messy_folder_is_indexed_with_a_report(tmp_path, sample_settings):
    """Every good briefing indexed, each bad file skipped with a one-line reason, exit code 0."""
    import io
    import os
    import random

    from pypdf import PdfWriter

    d = tmp_path / "messy"
    d.mkdir()
    good = {
        "bonne note.md": "# Note\n\nLa trêve de 30 jours a été proposée par Donald Trump.".encode(),
        "accents éà 🚀.txt": "Titre\n\nLes alliés européens soutiennent le cessez-le-feu.".encode(),
        "cp1252.txt": "Résumé\n\nLa délégation russe était de bas niveau à Istanbul.".encode("cp1252"),
        "latin1.txt": "Réunion\n\nLe président français a exhorté Moscou à accepter la trêve.".encode("latin-1"),
        "utf16.txt": "Note UTF-16\n\nL'alliance Weimar+ regroupe plusieurs pays européens.".encode("utf-16"),
        "nul.txt": b"Coalition\n\nLa Coalition des volontaires\x00 soutient l'Ukraine.",
        "longline.txt": b"Ligne " + b"x" * 30_000 + b" fin.",
    }
    for name, raw in good.items():
        (d / name).write_bytes(raw)
    rnd = random.Random(0)
    (d / "empty.txt").write_bytes(b"")
    (d / "random.txt").write_bytes(bytes(rnd.randrange(256) for _ in range(4096)))
    (d / "truncated.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R")
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.encrypt("secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    (d / "locked.pdf").write_bytes(buf.getvalue())
    (d / "junk.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (d / "scripts.html").write_text(
        "<html><head><script>var a=1;</script><style>p{}</style></head><body><script>alert(1)</script></body></html>"
    )
    with open(d / "huge.txt", "wb") as f:  # sparse 50 MB file: refused before reading
        f.truncate(50 * 2**20)
    os.symlink(d / "loop-b", d / "loop-a")
    os.symlink(d / "loop-a", d / "loop-b")

    proc = rag("index", "build", str(d), "--index", str(tmp_path / "index"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    skipped = {
        line.split(":", 1)[0].rsplit("/", 1)[-1]: line
        for line in proc.stderr.splitlines()
        if line.startswith("skipped")
    }
    assert set(skipped) == {
        "empty.txt",
        "random.txt",
        "truncated.pdf",
        "locked.pdf",
        "junk.docx",
        "scripts.html",
        "huge.txt",
        "loop-a",
        "loop-b",
    }, proc.stderr
    assert "password" in skipped["locked.pdf"] and "too large" in skipped["huge.txt"]
    status = json.loads(rag("index", "status", "--json", "--index", str(tmp_path / "index")).stdout)
    assert {n.rsplit("/", 1)[-1] for n in status["files"]} == set(good)
