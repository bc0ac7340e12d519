"""The web chat: a real server started by the test, reached with gradio_client and a real browser."""

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import ROOT
from rag.answering import StreamEvent
from rag.schema import Answer, Citation, Hit
from ui.app import link_markers, plain_markers
from ui.service import ChatService, highlight, safe_name, sources_html

ARTIFACTS = ROOT / "artifacts"
CHROMIUM = "/usr/bin/chromium"


# ---------------------------------------------------------------- unit
def test_markers_link_to_sources_and_back():
    linked = link_markers("Trump [1]. Macron [2].")
    assert linked == "Trump [[1]](#src-1). Macron [[2]](#src-2)."
    assert plain_markers(linked) == "Trump [1]. Macron [2]."


def test_source_card_lists_the_other_briefings_holding_the_same_passage():
    c = Citation(
        n=1,
        doc="/b/geneve.txt",
        title="Genève",
        start=0,
        end=10,
        text="Même dépêche",
        also_in=("/b/revue.txt", "/b/ministre.txt"),
    )
    html = sources_html(Answer(text="Oui [1].", found=True, citations=[c]))
    assert "also in: revue.txt, ministre.txt" in html
    assert "also in" not in sources_html(Answer(text="Oui [1].", found=True, citations=[replace(c, also_in=())]))


def test_sources_html_highlights_the_supporting_sentence():
    text = "Intro. Le cessez-le-feu a été proposé par Trump. Fin."
    c = Citation(
        n=1,
        doc="/x/a.md",
        title="T <b>",
        start=100,
        end=100 + len(text),
        text=text,
        date="2025-05-20",
        quote_start=107,
        quote_end=100 + text.index(" Fin"),
    )
    html = sources_html(Answer(text="Trump [1].", found=True, citations=[c]))
    assert "id='src-1'" in html and "<mark>Le cessez-le-feu a été proposé par Trump.</mark>" in html
    assert "T &lt;b&gt;" in html  # titles are escaped
    assert sources_html(Answer(text="not found", found=False)) == ""
    assert highlight("abc", -1, -1) == "abc"


def test_not_found_shows_the_closest_passages():
    text = "# Gaz\nLes prix du gaz ont reculé à 36 euros. Les stocks sont remplis à 48 %."
    hit = Hit(doc="/x/gaz.md", start=0, end=len(text), text=text, score=0.5, title="Gaz", date="2025-06-10")
    html = sources_html(
        Answer(
            text="Je n'ai pas trouvé la réponse dans les briefings.",
            found=False,
            question="À quel niveau les stocks sont-ils remplis en Italie ?",
            hits=[hit],
        )
    )
    assert "none of which answers the question" in html and "gaz.md" in html
    assert "<mark>Les stocks sont remplis à 48 %.</mark>" in html


class _FakeAssistant:
    """Replays a fixed event sequence: retrieved passages, reading, two deltas, the final answer."""

    def __init__(self, hit, answer):
        self.events = [
            StreamEvent(status="retrieved", hits=(hit,)),
            StreamEvent(status="reading"),
            StreamEvent(delta="Donald "),
            StreamEvent(delta="Trump"),
            StreamEvent(answer=answer),
        ]

    def stream(self, *args, **kwargs):
        yield from self.events


def test_passages_are_shown_before_the_answer_then_become_the_cited_sources(base_settings):
    text = "Le cessez-le-feu de 30 jours a été proposé par Trump. Zelensky l'a accepté."
    hit = Hit(
        doc="/x/treve.md",
        start=0,
        end=len(text),
        text=text,
        score=1.0,
        title="Trêve",
        date="2025-05-12",
        sentences=((0, 53, 0.91), (54, len(text), 0.80)),
    )
    cite = Citation(
        n=1, doc=hit.doc, title=hit.title, start=0, end=len(text), text=text, date=hit.date, quote_start=0, quote_end=53
    )
    service = ChatService(base_settings)
    service.assistant = _FakeAssistant(hit, Answer(text="Donald Trump [1].", found=True, citations=[cite]))
    steps = list(service.chat("Qui a proposé la trêve de 30 jours ?", []))
    first_text, first_cards = steps[0]
    assert "Rédaction de la réponse" in first_text  # a visible "writing" state ...
    assert "id='hit-1'" in first_cards and "Passages trouvés" in first_cards  # ... beside the passages
    assert "<mark>Le cessez-le-feu de 30 jours a été proposé par Trump.</mark>" in first_cards
    assert "id='src-" not in first_cards  # [n] markers never point at a pending card
    assert "view?s=0&amp;e=53" in first_cards  # the card opens the document at that sentence
    streamed = [cards for text, cards in steps[1:-1] if "Trump" in text]
    assert streamed and all(cards == first_cards for cards in streamed)  # cards stay while the answer streams
    final_text, final_cards = steps[-1]
    assert final_text == "Donald Trump [1]." and "id='src-1'" in final_cards and "hit-1" not in final_cards


@pytest.mark.parametrize(
    "name,expected",
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\evil.md", "evil.md"),
        ("a/b/c.pdf", "c.pdf"),
        (".hidden.txt", "hidden.txt"),
        ("note\x00.txt", "note.txt"),
        ("Été 2025 🚀.md", "Été 2025 🚀.md"),
    ],
)
def test_upload_names_cannot_escape(name, expected):
    assert safe_name(name) == expected


def test_uploads_are_checked(tmp_path, base_settings):
    service = ChatService(base_settings)
    folder = tmp_path / "briefings"
    folder.mkdir()
    good = tmp_path / "ok.md"
    good.write_text("# Note\n\nTexte.")
    bad = tmp_path / "virus.exe"
    bad.write_bytes(b"MZ")
    added, refused = service.add_uploads([str(good), str(bad)], str(folder))
    assert added == ["ok.md"] and (folder / "uploaded" / "ok.md").is_file()
    assert len(refused) == 1 and "unsupported type" in refused[0]


def test_remote_server_only_indexes_allowed_roots(tmp_path, base_settings):
    from rag.errors import RagError

    allowed = tmp_path / "allowed"
    allowed.mkdir()
    service = ChatService(base_settings, host="0.0.0.0", allowed_roots=[str(allowed)])
    assert service.check_folder(str(allowed)) == allowed.resolve()
    with pytest.raises(RagError, match="outside"):
        service.check_folder("/etc")
    local = ChatService(base_settings, host="127.0.0.1")
    assert local.check_folder(str(tmp_path)) == tmp_path.resolve()


# ---------------------------------------------------------------- a real server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(index_dir, **env_extra):
    port = _free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", **env_extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--index", index_dir, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        if proc.poll() is not None:
            pytest.fail("server exited")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("server did not start within 120 s")


@pytest.mark.slow
def test_load_twenty_concurrent_clients_all_answered(sample_settings):
    """Twenty clients at once are queued and all answered, none lost.

    Short prompts and answers (one passage, 500 characters of it, max 8 tokens) keep this to about two
    minutes on 2 cores: the queue is under test, not the answers. The server's memory over a hundred
    questions is a figure, not a behaviour: `python -m bench.answer` prints it.
    """
    from gradio_client import Client

    proc, url = _start_server(sample_settings.index_dir, RAG_MAX_TOKENS="8", RAG_TOP_K="1", RAG_PROMPT_CHARS="500")
    try:
        questions = [
            "Qui a proposé la trêve de 30 jours ?",
            "Qu'est-ce que l'alliance Weimar+ ?",
            "Quel est le PIB de la France ?",
            "who proposed the 30-day truce?",
        ]
        answers, errors = {}, []

        def ask(i):
            try:
                answers[i] = Client(url, verbose=False).predict(questions[i % 4], api_name="/chat")
            except Exception as e:  # noqa: BLE001 - any failure is a lost question
                errors.append(repr(e))

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=900)
        assert not errors and len(answers) == 20  # all queued and answered, none lost
        assert all(isinstance(a, str) and a and not a.startswith("⚠️") for a in answers.values())
        # the same question gets the same answer, whichever client asked it and in what order
        for i in range(4, 20):
            assert answers[i] == answers[i % 4], (questions[i % 4], answers[i], answers[i % 4])
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(sample_settings):
    port = _free_port()
    # Two passages keep the prompts short (CI time on 2 cores): the served chat is under test here;
    # answers at the default settings are tested in-process (tests/test_answering.py).
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", RAG_TOP_K="2")
    env["RAG_PROMPT_CHARS"] = "900"
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.app", "--index", sample_settings.index_dir, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"server exited: {proc.stdout.read()}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("server did not start within 120 s")
        print(f"\nserver ready in {time.perf_counter() - started:.1f} s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    return Client(server, verbose=False)


@pytest.mark.slow
def test_api_chat_answers_with_citation(client):
    text = client.predict("who proposed the 30-day truce?", api_name="/chat")
    assert "Trump" in text and "[1]" in text


@pytest.mark.slow
def test_api_chat_not_found(client):
    text = client.predict("Quel est le PIB de la France ?", api_name="/chat")
    assert "pas trouvé" in text and "[1]" not in text


@pytest.mark.slow
def test_two_concurrent_questions_are_both_answered(server):
    from gradio_client import Client

    questions = ["Qui a proposé la trêve de 30 jours ?", "Quels pays forment la Coalition des volontaires ?"]
    answers = {}

    def ask(q):
        answers[q] = Client(server, verbose=False).predict(q, api_name="/chat")

    threads = [threading.Thread(target=ask, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert set(answers) == set(questions)
    assert "Trump" in answers[questions[0]]
    assert any(c in answers[questions[1]] for c in ("Royaume-Uni", "Allemagne", "France"))


@pytest.mark.slow
def test_the_served_app_opens_a_cards_document_view(server, sample_settings):
    """`rag serve` (main()) serves the cards' links: the view with the cited sentence marked, 404 otherwise."""
    import html as htmlmod
    import re
    import urllib.error

    from rag.chunking import split_sentences
    from rag.store import IndexStore
    from ui.documents import document_text

    path = sorted(IndexStore(sample_settings.index_dir).manifest()["documents"])[0]
    text = document_text(path)
    s, e = split_sentences(text)[2]
    c = Citation(n=1, doc=path, title="T", start=0, end=len(text), text=text, quote_start=s, quote_end=e)
    href = htmlmod.unescape(
        re.search(
            r"href='(doc/[0-9a-f]+/view\?[^']*)'", sources_html(Answer(text="x [1].", found=True, citations=[c]))
        ).group(1)
    )
    with urllib.request.urlopen(server + href, timeout=30) as r:
        assert r.status == 200
        assert f"<mark id='cited'>{htmlmod.escape(text[s:e])}</mark>" in r.read().decode()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(server + "doc/0123456789abcdef/view", timeout=30)
    assert missing.value.code == 404


@pytest.mark.slow
def test_browser_streams_answer_and_shows_highlighted_source(server):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium not installed (make test installs it when run as root)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(server)
            page.wait_for_selector("#question textarea")
            page.fill("#question textarea", "Qui a proposé la trêve de 30 jours ?")
            # Enter -> first passage card (retrieval, < 1 s of work) -> first answer text -> cited sources.
            # A short answer ("Donald Trump") streams in a fraction of a second: the page itself records
            # the first answer text it renders (a MutationObserver), so polling cannot miss it.
            bot = "() => [...document.querySelectorAll('#chat [data-testid=\"bot\"]')].map(e => e.innerText).join(' ')"
            waiting = ["Rédaction de la réponse", "Lecture des passages", "Writing the answer", "Reading the passages"]
            page.evaluate(
                """(waiting) => {
                    window.__first = null;
                    const bot = () => [...document.querySelectorAll('#chat [data-testid="bot"]')]
                        .map(e => e.innerText).join(' ').trim();
                    new MutationObserver(() => {
                        const text = bot();
                        if (window.__first === null && text && !waiting.some(w => text.includes(w))) {
                            window.__first = {text: text, at: performance.now()};
                        }
                    }).observe(document.body, {subtree: true, childList: true, characterData: true});
                }""",
                waiting,
            )
            asked_ms = page.evaluate("() => performance.now()")
            asked = time.perf_counter()
            page.keyboard.press("Enter")
            first_card = first_text = None
            partial = ""
            deadline = time.perf_counter() + 180
            while time.perf_counter() < deadline and not page.locator("#sources .src:not(.pending)").count():
                if first_card is None and page.locator("#sources .src").count():
                    first_card = time.perf_counter() - asked
                    page.screenshot(path=str(ARTIFACTS / "chat-sources-first.png"))
                time.sleep(0.1)
            first = page.evaluate("() => window.__first")
            if first is not None:
                first_text, partial = (first["at"] - asked_ms) / 1000, first["text"]
            page.wait_for_selector("#sources .src:not(.pending)", timeout=5_000)
            final = page.evaluate(bot)
            done = time.perf_counter() - asked
            secs = lambda x: "never" if x is None else f"{x:.2f} s"  # noqa: E731
            print(
                f"\nEnter -> first card {secs(first_card)}, -> first answer text {secs(first_text)}, "
                f"-> cited sources {secs(done)}"
            )
            assert first_card is not None and first_text is not None
            assert first_card < first_text  # the passages come before the answer
            assert partial != final and "Trump" in final  # streamed, not shown all at once
            marker = page.locator('#chat a[href="#src-1"]').first
            assert marker.inner_text() == "[1]"
            marker.click()
            active = page.locator("#sources .src.active")
            active.wait_for(timeout=5_000)
            assert active.get_attribute("id") == "src-1"
            quote = active.locator("mark").inner_text()
            assert "Trump" in quote and "30 jours" in quote
            page.screenshot(path=str(ARTIFACTS / "chat.png"))
        finally:
            browser.close()


@pytest.mark.slow
def test_rebuild_from_the_page_while_the_chat_keeps_answering(tmp_path, base_settings, embedder, llm):
    from conftest import SAMPLES
    from rag.indexing import build_index

    folder = tmp_path / "briefings"
    shutil.copytree(SAMPLES, folder)
    # two passages keep the prompt short (CI time): the rebuild beside the chat is under test
    settings = base_settings.replace(index_dir=str(tmp_path / "index"), top_k=2, prompt_chars=900)
    build_index(folder, settings=settings, embedder=embedder)
    service = ChatService(settings)
    service._embedder, service._llm = embedder, llm  # reuse the session's loaded models
    assert service.load()
    note = tmp_path / "note-otan.md"
    note.write_text("# Sommet de Vilnius\nDate : 2025-06-20\n\nLe prochain sommet se tiendra à Vilnius le 3 juillet.")

    progress: list[str] = []
    worker = threading.Thread(target=lambda: progress.extend(service.rebuild(str(folder), [str(note)])))
    worker.start()
    answer = [text for text, _ in service.chat("Qui a proposé la trêve de 30 jours ?", [])][-1]
    worker.join(timeout=300)
    assert "Trump" in answer  # answered during or around the rebuild
    report = progress[-1]
    assert "Uploaded: note-otan.md" in report and "Added: note-otan.md" in report
    assert "Removed: none" in report
    assert (folder / "uploaded" / "note-otan.md").is_file()
    hits = service.assistant.retriever.search("Vilnius", k=1)  # the chat switched to the new index
    assert "Vilnius" in hits[0].text
    assert "note-otan.md" in service.document_choices()


def test_page_errors_are_messages(tmp_path, base_settings):
    service = ChatService(base_settings.replace(index_dir=str(tmp_path / "none")))
    out = list(service.chat("Qui ?", []))
    assert out[-1][0].startswith("⚠️") and "No index yet" in out[-1][0]
    assert list(service.rebuild(str(tmp_path / "missing")))[-1].startswith("⚠️")


def test_index_table_lists_documents_and_skipped_files_with_reasons(tmp_path, base_settings, embedder):
    from conftest import write
    from rag.indexing import build_index

    folder = tmp_path / "briefings"
    write(
        folder,
        "sub/otan.md",
        "# Sommet de Vilnius\nDate : 2025-06-20\n\nLe prochain sommet se tiendra à "
        "Vilnius le 3 juillet. Les alliés discuteront de l'Ukraine.",
    )
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)
    service = ChatService(settings)
    service._embedder = embedder
    rows = service.index_rows()
    assert rows == [["Sommet de Vilnius", "2025-06-20", "sub/otan.md", 1, ""]]

    # A corrupt PDF alone changes no passage, yet the table (and the manifest) must list it with its reason.
    (folder / "rapport.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf")
    report = service.sync(str(folder))
    assert report is not None and report.wrote
    rows = service.index_rows()
    skipped = [r for r in rows if r[2] == "rapport.pdf"]
    assert len(skipped) == 1 and "PDF" in skipped[0][4] and skipped[0][3] == 0
    assert "skipped rapport.pdf" in service.last_change
    assert "1 file(s) skipped" in service.status_markdown() and "Last change" in service.status_markdown()
    assert service.sync(str(folder)).wrote is False  # nothing new: the live index is kept


def test_auth_without_a_password_is_refused_before_the_models_load(base_settings):
    from rag.errors import RagError
    from ui.app import main

    with pytest.raises(RagError, match="user:password"):
        main(index_dir=base_settings.index_dir, auth="alice")
