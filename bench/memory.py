"""Where the memory of a serving process goes, stage by stage, and by mapping.

    python -m bench.memory                    # the web chat's start-up, then 10 questions
    python -m bench.memory --llm-mmap         # the GGUF mapped instead of read (the former default)

Loads what `rag serve` loads, in the same order, in this one process, and
reads /proc after each stage: the resident set (VmRSS) split into anonymous
memory (heaps, tensors, llama.cpp's buffers) and file-backed pages (the
mapped GGUF, shared libraries). The baseline is the bare interpreter. At the
end, the largest mappings by resident size name what is what (libtorch, the
GGUF file, ...).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import typer
from rich.markup import escape

from bench.common import ROOT, console, ratio, save, table

app = typer.Typer(add_completion=False)
QUESTIONS = [
    "Qui a proposé la trêve de 30 jours ?",
    "who proposed the 30-day truce?",
    "Qu'est-ce que l'alliance Weimar+ ?",
    "Quel est le PIB de la France ?",
]


def rss() -> dict:
    """Resident memory of this process in MB: total, anonymous, file-backed."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def mappings(top: int = 12) -> list[tuple[str, float]]:
    """The largest resident mappings, grouped by file (anonymous ones together)."""
    sizes: dict[str, float] = {}
    name = "(anonymous)"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split(maxsplit=5)
            name = parts[5].strip() if len(parts) == 6 and parts[5].strip() else "(anonymous)"
            name = os.path.basename(name) if name.startswith("/") else name
        elif line.startswith("Rss:"):
            sizes[name] = sizes.get(name, 0) + int(line.split()[1]) / 1024
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:top]


@app.command()
def main(
    questions: int = typer.Option(10, help="Questions answered after start-up"),
    llm_mmap: bool = typer.Option(False, help="Map the GGUF instead of reading it (RAG_LLM_MMAP)"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    os.environ["RAG_LLM_MMAP"] = "1" if llm_mmap else "0"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    stages = [("bare interpreter", rss())]

    import torch  # noqa: F401  - each import is a stage of its own

    stages.append(("import torch", rss()))
    import gradio  # noqa: F401

    import ui.app  # noqa: F401

    stages.append(("import gradio and the app", rss()))

    from rag.answering import Assistant
    from rag.embedding import Embedder
    from rag.llm import LLM
    from rag.retrieval import Retriever
    from rag.settings import Settings

    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        # Built by another process, as `rag serve` finds it: building is not serving.
        subprocess.run(
            [sys.executable, "-m", "rag.cli", "index", "build", str(ROOT / "samples" / "briefings"), "--index", tmp],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        s = Settings.from_env(index_dir=tmp)
        embedder = Embedder.load(s)
        embedder.queries(["warm"])
        stages.append(("embedder loaded", rss()))
        llm = LLM.load(s)
        stages.append((f"LLM loaded (GGUF {'mapped' if llm_mmap else 'read'})", rss()))
        assistant = Assistant(s, Retriever.load(s, embedder), llm)
        assistant.warm_up()
        stages.append(("index loaded, prompts warmed up (= ready)", rss()))
        for i in range(questions):
            assistant.answer(QUESTIONS[i % len(QUESTIONS)])
        if questions:
            stages.append((f"after {questions} questions", rss()))
        top = mappings()

    base = stages[0][1]["VmRSS"]
    rows, prev = [], 0.0
    for label, r in stages:
        rows.append([label, r["VmRSS"], r["VmRSS"] - prev if prev else "", r["RssAnon"], r["RssFile"]])
        prev = r["VmRSS"]
    table("Resident memory by stage (MB)", ["stage", "RSS", "added", "anonymous", "file-backed"], rows)
    ready = next(r for label, r in stages if "ready" in label)
    console.print(
        f"ready: {ready['VmRSS']:.0f} MB = {ratio(ready['VmRSS'], base)} the bare interpreter; "
        f"peak {stages[-1][1]['VmHWM']:.0f} MB"
    )
    table("Largest resident mappings at the end (MB)", ["mapping", "RSS"], [[escape(n), v] for n, v in top])
    save("memory", {"llm_mmap": llm_mmap, "stages": [{"stage": k, **v} for k, v in stages], "mappings": dict(top)}, out)


if __name__ == "__main__":
    app()
