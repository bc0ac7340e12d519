"""The web chat (Gradio): streamed answers with clickable citations, sources beside, an index panel.

    rag serve                      # http://127.0.0.1:7860
    python -m ui.app --port 7861

API: `Client(url).predict("who proposed the 30-day truce?", api_name="/chat")`
returns the answer text with its citation markers [1], [2].
"""

from __future__ import annotations

import argparse
import re
import sys

import gradio as gr

from rag.errors import RagError
from rag.settings import Settings
from ui.documents import document_routes
from ui.service import INDEX_COLUMNS, LOCALHOSTS, ChatService

CSS = """
#sources .src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 8px 10px; margin: 8px 0; }
#sources .src.active { outline: 3px solid #f59e0b; }
#sources .src.pending { border-style: dashed; opacity: 0.9; }
#sources .src-meta { color: var(--body-text-color-subdued); font-size: 0.85em; }
#sources .src-text { margin-top: 6px; white-space: pre-wrap; font-size: 0.92em; }
#sources mark { background: #fde68a; color: inherit; padding: 0 2px; }
#sources .src-open { margin-top: 4px; font-size: 0.85em; }
#sources .hit { border-top: 1px dashed var(--border-color-primary); padding: 6px 0; }
a.cite, a[href^="#src-"] { font-weight: 600; text-decoration: none; cursor: pointer; }
"""

# Clicking a [n] marker shows (scrolls to and outlines) source n; no DOM rewriting, so streaming is untouched.
HEAD = """
<script>
document.addEventListener('click', function (e) {
  const a = e.target.closest && e.target.closest('a[href^="#src-"]');
  if (!a) return;
  e.preventDefault(); e.stopPropagation();
  const n = a.getAttribute('href').slice(5);
  const card = document.getElementById('src-' + n);
  if (!card) return;
  document.querySelectorAll('#sources .src.active').forEach(x => x.classList.remove('active'));
  card.classList.add('active');
  card.scrollIntoView({behavior: 'smooth', block: 'center'});
}, true);
</script>
"""

_MARKER = re.compile(r"\[(\d+)\]")
_LINK = re.compile(r"\[\[(\d+)\]\]\(#src-\d+\)")


def link_markers(text: str) -> str:
    """[1] -> a markdown link to source card 1 (shown in the page only; the API returns plain markers)."""
    return _MARKER.sub(lambda m: f"[[{m.group(1)}]](#src-{m.group(1)})", text)


def plain_markers(text: str) -> str:
    return _LINK.sub(lambda m: f"[{m.group(1)}]", text)


def _plain_history(history):
    out = []
    for turn in history or []:
        if isinstance(turn, dict) and turn.get("role") == "assistant":
            content = turn.get("content")
            if isinstance(content, str):
                turn = dict(turn, content=plain_markers(content))
            elif isinstance(content, list):
                turn = dict(
                    turn,
                    content=[
                        dict(p, text=plain_markers(p.get("text", ""))) if isinstance(p, dict) else p for p in content
                    ],
                )
        out.append(turn)
    return out


def build_app(service: ChatService) -> gr.Blocks:
    settings = service.settings

    def chat_ui(message, history, k, docs, date_from, date_to, show_passages, show_query):
        for text, sources in service.chat(
            message, _plain_history(history), k, docs, date_from, date_to, show_passages, show_query
        ):
            yield (link_markers(text) if sources else text), sources

    def chat(question: str) -> str:
        """Answer a question from the briefings; the text carries citation markers [1], [2]."""
        final = ""
        for text, _ in service.chat(question, []):
            final = text
        return final

    def refresh_index():
        return service.status_markdown(), gr.update(choices=service.document_choices()), service.default_folder()

    def toggle_watch(on, folder_value):
        try:
            if on:
                service.start_watching(folder_value)
            else:
                service.stop_watching()
        except RagError as e:
            gr.Warning(str(e))
            on = False
        return gr.update(value=on), gr.Timer(active=on), service.status_markdown()

    def tick(seen):
        # Cheap while nothing changes: one read of CURRENT, then no update sent to the page.
        version = (str(service.index_version()), service.watch_markdown())
        if version == seen:
            return gr.skip(), gr.skip(), gr.skip(), seen
        return (service.status_markdown(), service.index_rows(), gr.update(choices=service.document_choices()), version)

    with gr.Blocks(title="Briefings — questions and answers") as demo:
        gr.Markdown(
            "## Briefings — ask a question, get a cited answer\n"
            "Answers come only from your indexed briefings. Click a marker like **[1]** to see its source."
        )
        with gr.Tab("Chat"):
            with gr.Row():
                with gr.Column(scale=3):
                    sources = gr.HTML(render=False, elem_id="sources")
                    # Settings for power users, rendered by ChatInterface in a closed accordion.
                    k = gr.Slider(
                        1, 10, value=settings.top_k, step=1, label="Passages given to the model", render=False
                    )
                    docs = gr.Dropdown(
                        choices=service.document_choices(),
                        multiselect=True,
                        value=[],
                        label="Only these documents (empty = all)",
                        render=False,
                    )
                    date_from = gr.Textbox(label="From date (YYYY-MM-DD)", value="", render=False)
                    date_to = gr.Textbox(label="To date (YYYY-MM-DD)", value="", render=False)
                    show_passages = gr.Checkbox(
                        label="Show the retrieved passages and their scores", value=False, render=False
                    )
                    show_query = gr.Checkbox(
                        label="Show the search query (rewritten follow-ups)", value=False, render=False
                    )
                    gr.ChatInterface(
                        fn=chat_ui,
                        chatbot=gr.Chatbot(elem_id="chat", height=520, label="Chat"),
                        textbox=gr.Textbox(
                            placeholder="Ask about the briefings… e.g. who proposed the 30-day truce?",
                            elem_id="question",
                            submit_btn=True,
                        ),
                        additional_inputs=[k, docs, date_from, date_to, show_passages, show_query],
                        additional_inputs_accordion=gr.Accordion(label="Settings", open=False, render=False),
                        additional_outputs=[sources],
                        examples=[
                            ["Qui a proposé la trêve de 30 jours ?"],
                            ["who proposed the 30-day truce?"],
                            ["Qu'est-ce que l'alliance Weimar+ ?"],
                        ],
                        run_examples_on_click=False,
                        api_name="ask",
                        concurrency_limit=1,
                    )
                with gr.Column(scale=2):
                    sources.render()
        with gr.Tab("Index"):
            status = gr.Markdown(service.status_markdown())
            folder = gr.Textbox(label="Folder of briefings", value=service.default_folder())
            uploads = gr.File(
                label=f"Add files to the briefings (.txt .md .pdf .docx .html, {settings.max_file_mb:.0f} MB max)",
                file_count="multiple",
                file_types=[".txt", ".md", ".pdf", ".docx", ".html", ".htm"],
            )
            with gr.Row():
                rebuild = gr.Button("Rebuild index", variant="primary")
                watch = gr.Checkbox(
                    label="Keep the index in sync with the folder (re-index changes within seconds)",
                    value=bool(service.watching),
                )
            report = gr.Textbox(label="Progress and report", lines=8, interactive=False)
            table = gr.Dataframe(
                value=service.index_rows,
                headers=INDEX_COLUMNS,
                label="Indexed and skipped files",
                datatype=["str", "str", "str", "number", "str"],
                interactive=False,
                show_search="filter",
                wrap=True,
                max_height=420,
            )
            timer = gr.Timer(3, active=bool(service.watching))
            seen = gr.State(None)
            rebuild.click(
                service.rebuild,
                inputs=[folder, uploads],
                outputs=report,
                api_name="rebuild",
                concurrency_id="build",
                concurrency_limit=1,
            ).then(refresh_index, outputs=[status, docs, folder], api_name=False).then(
                service.index_rows, outputs=table, api_name=False
            )
            # api_name=False (no API endpoint) is accepted by gradio 6 but its signature only types str | None
            watch.input(
                toggle_watch,
                inputs=[watch, folder],
                outputs=[watch, timer, status],
                api_name=False,  # type: ignore[arg-type]
            )
            timer.tick(
                tick,
                inputs=seen,
                outputs=[status, table, docs, seen],
                api_name=False,  # type: ignore[arg-type]  # as above
                show_progress="hidden",
                concurrency_limit=None,
            )
        # A page opened later shows whether the server is watching (the toggle may have changed since start).
        demo.load(
            lambda: (gr.update(value=bool(service.watching)), gr.Timer(active=bool(service.watching))),
            outputs=[watch, timer],
            api_name=False,
            show_progress="hidden",
        )
        # The stable API endpoint: question in, answer text with [n] markers out. Shares the LLM's queue.
        gr.api(chat, api_name="chat", concurrency_id="llm", concurrency_limit=1)
    return demo


def main(
    index_dir: str | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | None = None,
    allowed_roots: list[str] | None = None,
    watch: bool = False,
) -> None:
    """Serve the chat; `watch=True` keeps the index in sync with its folder (`rag serve --watch`)."""
    settings = Settings.from_env(index_dir=index_dir)
    credentials: tuple[str, str] | None = None
    if auth:
        user, colon, password = auth.partition(":")
        if not colon:  # gradio would take a 1-tuple and fail only at the first login (checked before loading)
            raise RagError(f"--auth wants user:password, got {auth!r}")
        credentials = (user, password)
    if host not in LOCALHOSTS and not auth:
        print(
            f"warning: serving on {host} without --auth: anyone who can reach this address can use it", file=sys.stderr
        )
    service = ChatService(settings, host=host, allowed_roots=allowed_roots)
    service.load()  # models once, at start (errors are shown in the page)
    if service.error:
        print(f"note: {service.error}", file=sys.stderr)
    if watch:
        try:
            print(service.start_watching().replace("`", ""), flush=True)
        except RagError as e:
            print(
                f"note: not watching ({e}); tick 'Keep the index in sync' in the Index tab once a folder is indexed",
                file=sys.stderr,
            )
    demo = build_app(service)
    demo.queue(default_concurrency_limit=1, max_size=200)
    print(f"Briefings chat on http://{host}:{port}", flush=True)
    demo.launch(
        server_name=host,
        server_port=port,
        auth=credentials,
        css=CSS,
        head=HEAD,
        show_error=False,
        max_file_size=f"{int(settings.max_file_mb)}mb",
        quiet=True,
        # the cited briefings, read-only (ui/documents.py), ahead of Gradio's own routes
        app_kwargs={"routes": document_routes(service.index(), int(settings.max_file_mb * 2**20))},
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default=None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--auth", default=None, help="user:password")
    parser.add_argument("--watch", action="store_true", help="keep the index in sync with its folder")
    args = parser.parse_args()
    main(args.index, args.host, args.port, args.auth, watch=args.watch)
