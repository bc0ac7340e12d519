"""Answer speed against the bare LLM, and the memory of a serving process.

    python -m bench.answer                       # example question + 10 PIAF questions, then the server
    python -m bench.answer --piaf 2 --no-server  # quicker

For each question, from the same llama.cpp cache state (only the constant
system prompt cached, as on a warmed-up server):
- the pipeline: `Assistant.stream` (query embedding, hybrid retrieval, evidence
  gate, sentence selection, prompt, answerability, evidence choice, generation,
  verification): time to first token and total;
- the baseline: llama.cpp alone (the same `Llama` object and sampling
  settings) given the very same chat messages, generating one token: its time
  to first token, and the prompt's token count.
- a second baseline: llama.cpp alone on those messages followed by the lines
  the pipeline forces into the reply before the answer ("Answerable: yes",
  "Evidence: [n] <that sentence>", "Answer:"): the same tokens the pipeline
  evaluates, so its ratio is the pipeline's own overhead, while the first
  ratio also counts what the design reads.
Target: pipeline TTFT <= 1.1x the bare figure. Then a fresh cache: the first
question (nothing cached) against the second (system prompt cached).

The serving part starts `python -m ui.app` on the sample index, asks questions
through `gradio_client` and reads the server's RSS (current and peak) from /proc.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import typer

from bench.common import PIAF, ROOT, console, median, proc_memory_mb, ratio, save, table

app = typer.Typer(add_completion=False)
EXAMPLES = ["who proposed the 30-day truce?", "Qui a proposé la trêve de 30 jours ?"]
# A fresh process's first two questions, in one language: each language has its own system prompt, so a
# second question in the other language would find nothing cached either.
SEQUENCE = ["Qui a proposé la trêve de 30 jours ?", "Qu'est-ce que l'alliance Weimar+ ?"]


class Spy:
    """Wraps the LLM to record the messages the pipeline sends and the text it forces into each reply."""

    def __init__(self, llm):
        self.llm, self.sent, self.fed = llm, [], []
        self._session = llm.session
        llm.session = self.session

    @contextmanager
    def session(self, messages, *args, **kwargs):
        self.sent.append(messages)
        self.fed.append([])
        with self._session(messages, *args, **kwargs) as s:
            feed = s.feed

            def recorded(text: str) -> None:
                self.fed[-1].append(text)
                feed(text)

            s.feed = recorded
            yield s


def reset(assistant, warm: bool = True) -> None:
    assistant.llm.llama.reset()  # forget the cached prompt ...
    assistant.llm._head = []
    if warm:
        # ... and cache only the system prompt, as a started server does: restored from the heads'
        # snapshots when they were made before (the same KV state, without recomputing it)
        assistant.warm_up()
    else:
        assistant.llm._snapshots = {}  # a fresh process: nothing cached at all


def bare(assistant, messages) -> tuple[float, int]:
    """llama.cpp alone on the same messages: time to the first generated token, prompt tokens."""
    llm = assistant.llm
    t = time.perf_counter()
    out = llm.llama.create_chat_completion(messages, max_tokens=1, temperature=0.0, top_p=1.0, top_k=1)
    return time.perf_counter() - t, out["usage"]["prompt_tokens"]


def bare_forced(assistant, messages, forced: str) -> tuple[float, int]:
    """llama.cpp alone on the messages' prompt plus the text forced into the reply: time to one token, tokens."""
    llm = assistant.llm
    t = time.perf_counter()
    out = llm.llama.create_completion(llm.format(messages) + forced, max_tokens=1, temperature=0.0, top_p=1.0, top_k=1)
    return time.perf_counter() - t, out["usage"]["prompt_tokens"]


def one(assistant, spy: Spy, question: str, warm: bool = True) -> dict:
    reset(assistant, warm)
    spy.sent.clear()
    spy.fed.clear()
    t = time.perf_counter()
    first, final = None, None
    for ev in assistant.stream(question):
        if ev.delta and first is None:
            first = time.perf_counter() - t
        if ev.answer is not None:
            final = ev.answer
    total = time.perf_counter() - t
    row = {
        "question": question,
        "found": final.found,
        "ttft_s": first,
        "total_s": total,
        "answer": final.text,
        "llm_calls": len(spy.sent),
    }
    if spy.sent:
        reset(assistant, warm)
        row["bare_ttft_s"], row["prompt_tokens"] = bare(assistant, spy.sent[0])
        if final.found and spy.fed[0]:
            reset(assistant, warm)
            forced = "".join(spy.fed[0])
            row["bare_forced_ttft_s"], row["forced_tokens"] = bare_forced(assistant, spy.sent[0], forced)
    return row


def run_answers(piaf_n: int, work: Path, examples: int = len(EXAMPLES)) -> dict:
    from rag.answering import Assistant
    from rag.embedding import Embedder
    from rag.evaluation import load_questions, sample
    from rag.indexing import build_index
    from rag.llm import LLM
    from rag.retrieval import Retriever
    from rag.settings import Settings

    base = Settings.from_env()
    embedder, llm = Embedder.load(base), LLM.load(base)
    spy = Spy(llm)
    sets = [("samples", ROOT / "samples" / "briefings", EXAMPLES[:examples])]
    if piaf_n:
        qs = sample(load_questions(PIAF / "dev.jsonl"), piaf_n, seed=0)
        sets.append(("PIAF", PIAF / "docs", [q.question for q in qs]))
    rows, sequence = [], {}
    for name, corpus, questions in sets:
        s = base.replace(index_dir=str(work / name))
        build_index(corpus, settings=s, embedder=embedder)
        assistant = Assistant(s, Retriever.load(s, embedder), llm)
        for q in questions:
            row = dict(one(assistant, spy, q), corpus=name)
            rows.append(row)
            console.print(
                f"[dim]{name}: {q[:60]} -> {row['ttft_s']:.2f} s first token, {row.get('bare_ttft_s', 0):.2f} s bare[/]"
            )
        if name == "samples" and len(questions) >= 2:
            # A fresh process: nothing cached for the first question, the system prompt for the second.
            reset(assistant, warm=False)
            for i, q in enumerate(SEQUENCE):
                t = time.perf_counter()
                a = assistant.answer(q)
                sequence[f"question {i + 1}"] = {
                    "ttft_s": a.timings.get("first_token"),
                    "total_s": time.perf_counter() - t,
                }
    return {"questions": rows, "sequence": sequence}


def show_answers(r: dict) -> None:
    rows = []
    for x in r["questions"]:
        label = f"{x['corpus']}: {x['question'][:48]}"
        if "bare_ttft_s" in x:
            rows.append(
                [
                    label,
                    x["prompt_tokens"],
                    x["ttft_s"],
                    x["bare_ttft_s"],
                    ratio(x["ttft_s"], x["bare_ttft_s"]),
                    x.get("forced_tokens", ""),
                    x.get("bare_forced_ttft_s", ""),
                    ratio(x["ttft_s"], x["bare_forced_ttft_s"]) if "bare_forced_ttft_s" in x else "",
                    x["total_s"],
                    "yes" if x["found"] else "no",
                ]
            )
        else:
            rows.append([label, 0, x["ttft_s"], "no LLM call", "", "", "", "", x["total_s"], "not found (gate)"])
    with_llm = [x for x in r["questions"] if "bare_ttft_s" in x]
    if with_llm:
        p, b = median([x["ttft_s"] for x in with_llm]), median([x["bare_ttft_s"] for x in with_llm])
        rows.append(
            [
                "median of questions sent to the LLM",
                int(median([x["prompt_tokens"] for x in with_llm])),
                p,
                b,
                ratio(p, b),
                "",
                "",
                "",
                median([x["total_s"] for x in with_llm]),
                "",
            ]
        )
    forced = [x for x in with_llm if "bare_forced_ttft_s" in x]
    if forced:
        p, b = median([x["ttft_s"] for x in forced]), median([x["bare_forced_ttft_s"] for x in forced])
        rows.append(
            [
                "median of questions answered (forced lines too)",
                int(median([x["prompt_tokens"] for x in forced])),
                p,
                "",
                "",
                int(median([x["forced_tokens"] for x in forced])),
                b,
                ratio(p, b),
                median([x["total_s"] for x in forced]),
                "",
            ]
        )
    table(
        "Answer time (s): pipeline vs llama.cpp alone on the same prompt",
        [
            "question",
            "prompt tokens",
            "pipeline TTFT",
            "bare TTFT",
            "ratio",
            "tokens with forced lines",
            "bare TTFT, same tokens",
            "ratio",
            "pipeline total",
            "found",
        ],
        rows,
    )
    seq = r.get("sequence") or {}
    if len(seq) == 2:
        a, b = seq["question 1"], seq["question 2"]
        table(
            "Fresh process: first vs second question (cached system prompt)",
            ["figure", "question 1", "question 2", "ratio"],
            [
                ["time to first token (s)", a["ttft_s"], b["ttft_s"], ratio(b["ttft_s"], a["ttft_s"])],
                ["total (s)", a["total_s"], b["total_s"], ratio(b["total_s"], a["total_s"])],
            ],
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server(n_questions: int, work: Path) -> dict:
    """Start the web chat on the sample index, ask questions, read its memory."""
    from gradio_client import Client

    from rag.indexing import build_index
    from rag.settings import Settings

    s = Settings.from_env(index_dir=str(work / "samples"))
    build_index(ROOT / "samples" / "briefings", settings=s)  # a no-change re-sync after run_answers
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    t = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--index", s.index_dir, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(480):
            if proc.poll() is not None:
                raise RuntimeError("the server exited")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.25)
        ready = time.perf_counter() - t
        at_start = proc_memory_mb(proc.pid)
        client = Client(url, verbose=False)
        questions = EXAMPLES + ["Qu'est-ce que l'alliance Weimar+ ?", "Quel est le PIB de la France ?"]
        times = []
        for i in range(n_questions):
            t = time.perf_counter()
            client.predict(questions[i % len(questions)], api_name="/chat")
            times.append(time.perf_counter() - t)
        after = proc_memory_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "ready_s": ready,
        "rss_start_mb": at_start["VmRSS"],
        "rss_after_mb": after["VmRSS"],
        "peak_rss_mb": after["VmHWM"],
        "questions": n_questions,
        "median_answer_s": median(times),
    }


def show_server(r: dict) -> None:
    table(
        f"Serving process (web chat on the sample index, {r['questions']} questions via /chat)",
        ["figure", "value", "baseline", "ratio"],
        [
            ["launch to ready (s)", r["ready_s"], "", ""],
            [
                "RSS after the questions (MB)",
                r["rss_after_mb"],
                r["rss_start_mb"],
                ratio(r["rss_after_mb"], r["rss_start_mb"]),
            ],
            ["peak RSS (MB)", r["peak_rss_mb"], r["rss_start_mb"], ratio(r["peak_rss_mb"], r["rss_start_mb"])],
            ["median answer over /chat (s)", r["median_answer_s"], "", ""],
        ],
    )
    console.print("[dim]baseline of memory: the server's RSS once ready, before any question[/]")


@app.command()
def main(
    piaf: int = typer.Option(10, help="PIAF dev questions (seeded sample) besides the example questions"),
    examples: int = typer.Option(
        len(EXAMPLES), help="Example questions on the samples (2: also the first-vs-second question sequence)"
    ),
    server: bool = typer.Option(True, help="Also measure a serving process"),
    server_questions: int = typer.Option(8, help="Questions asked to the server"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-answer-") as tmp:
        results["answers"] = run_answers(piaf, Path(tmp), examples)
        show_answers(results["answers"])
        if server:
            results["server"] = run_server(server_questions, Path(tmp))
            show_server(results["server"])
    save("answer", results, out)


if __name__ == "__main__":
    app()
