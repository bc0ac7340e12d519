"""The on-disk index survives builds killed at any moment (SIGKILL) and refuses concurrent builds."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES, write
from rag.indexing import build_index, expected_settings
from rag.retrieval import Retriever
from rag.store import IndexStore


@pytest.mark.slow
def test_killed_builds_never_damage_the_previous_index(tmp_path, base_settings, embedder):
    folder = tmp_path / "briefings"
    folder.mkdir()
    for p in SAMPLES.iterdir():
        write(folder, p.name, p.read_text(encoding="utf-8"))
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    expect = expected_settings(settings, embedder)
    rng = random.Random(7)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    for i in range(6):
        # each round changes a file so the build has real work (embedding, writing) to be killed in
        write(folder, f"extra-{i}.md", f"# Note {i}\n\nLa réunion numéro {i} a eu lieu à Genève.")
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.cli", "index", "build", str(folder), "--index", settings.index_dir, "--quiet"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        index = IndexStore(settings.index_dir).load(expect)  # always loads ...
        hits = Retriever(IndexStore(settings.index_dir), embedder, settings).search("Weimar+", k=1)
        assert "Weimar+" in hits[0].text and len(index.chunks) >= 27  # ... and answers
    report = build_index(folder, settings=settings, embedder=embedder)  # the next build completes
    assert {f"extra-{i}.md" for i in range(6)} <= {
        Path(c.doc).name for c in IndexStore(settings.index_dir).load().chunks
    }
    assert report.documents == 16
    assert not list(Path(settings.index_dir).glob(".tmp-*"))  # stale temporaries cleaned up
    assert len(list(Path(settings.index_dir).glob("gen-*"))) <= 2
