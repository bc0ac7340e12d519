"""A folder that keeps itself indexed: the watcher alone (fast fakes), then with the real embedder and index."""

import threading
import time

import pytest

from conftest import write
from rag.watching import FolderWatcher, is_relevant


def wait_until(predicate, timeout: float = 20.0, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# ---------------------------------------------------------------- the watcher, with fakes
@pytest.mark.parametrize(
    "path,deleted,expected",
    [
        ("/b/a.md", False, True),
        ("/b/sub/x.PDF", False, True),
        ("/b/page.htm", True, True),
        ("/b/.a.md", False, False),
        ("/b/.git/x.md", False, False),
        ("/b/a.md.swp", False, False),
        ("/b/~$report.docx", False, False),
        ("/b/a.md~", False, False),
        ("/b/data.npy", False, False),
        ("/b/index/gen-1/chunks.txt", False, False),
        ("/elsewhere/a.md", False, False),
        ("/b/old-folder", True, True),  # a removed sub-folder takes its briefings with it
    ],
)
def test_only_briefings_count(path, deleted, expected):
    assert is_relevant("/b", path, deleted=deleted, ignore=["/b/index"]) is expected


def test_changes_during_a_busy_call_make_exactly_one_more_call(tmp_path):
    calls, started, release = [], threading.Event(), threading.Event()

    def slow_build(changes):
        calls.append(set(changes))
        started.set()
        release.wait(10)

    watcher = FolderWatcher(tmp_path, slow_build).start()
    try:
        watcher.notify({(1, "/x/first.md")})
        assert started.wait(5)
        for i in range(5):  # arrive while the first build runs
            watcher.notify({(2, f"/x/{i}.md")})
        time.sleep(0.3)
        assert len(calls) == 1 and watcher.busy  # never two builds at once
        release.set()
        assert wait_until(lambda: watcher.calls == 2, 5)
        time.sleep(0.5)
        assert len(calls) == 2 and not watcher.busy
        assert calls[1] == {(2, f"/x/{i}.md") for i in range(5)}
    finally:
        release.set()
        watcher.stop()
    assert not watcher.running


def test_a_burst_of_files_is_one_call_and_noise_is_ignored(tmp_path):
    calls = []
    watcher = FolderWatcher(tmp_path, lambda changes: calls.append(changes), step_ms=300).start()
    try:
        for name in (".hidden.md", "draft.md.swp", "~$memo.docx", "vectors.npy", "notes.md~"):
            (tmp_path / name).write_text("noise")
        time.sleep(2)
        assert calls == [], "temporary, hidden or unsupported files must not trigger a sync"
        for i in range(20):
            write(tmp_path, f"n{i}.md", f"# Note {i}\n\ntexte")
        assert wait_until(lambda: calls, 10)
        time.sleep(1.5)
        seen = {p for batch in calls for _, p in batch}
        assert {str(tmp_path / f"n{i}.md") for i in range(20)} <= seen
        assert len(calls) <= 2, f"a burst should be grouped, got {len(calls)} calls"
        (tmp_path / "n3.md").unlink()
        assert wait_until(lambda: any(p.endswith("n3.md") and c == 3 for batch in calls[-1:] for c, p in batch), 10)
        # A folder copied in: its own files may come before the OS watches it, but the folder is reported
        # (the sync that follows scans everything).
        n = len(calls)
        write(tmp_path, "copied/a.md", "# A\n\ntexte")
        assert wait_until(lambda: len(calls) > n, 10)
        assert any(p.startswith(str(tmp_path / "copied")) for batch in calls[n:] for _, p in batch)
    finally:
        watcher.stop()
    assert not watcher.running


def test_a_failing_build_is_reported_and_watching_goes_on(tmp_path):
    def broken(changes):
        raise OSError("disk full")

    watcher = FolderWatcher(tmp_path, broken).start()
    try:
        watcher.notify(set())
        assert wait_until(lambda: watcher.calls == 1, 5)
        assert "disk full" in watcher.error and watcher.running
    finally:
        watcher.stop()


# ---------------------------------------------------------------- the served index, real embedder
def test_watched_folder_is_resynced_while_searches_go_on(tmp_path, base_settings, embedder):
    from rag.answering import Assistant
    from rag.indexing import build_index
    from rag.retrieval import Retriever
    from ui.service import ChatService

    folder = tmp_path / "briefings"
    write(
        folder,
        "otan.md",
        "# Sommet de l'OTAN\n\nLe sommet de l'OTAN s'est tenu à Vilnius en juillet 2023. "
        "Les alliés ont discuté de l'adhésion de l'Ukraine.",
    )
    write(
        folder,
        "gaz.md",
        "# Prix du gaz\n\nLes prix du gaz ont reculé à 36 euros le mégawattheure. "
        "Les stocks européens sont remplis à 48 %.",
    )
    write(
        folder,
        "pecheurs.md",
        "# Pêche\n\nLes pêcheurs bretons protestent contre les quotas de maquereau fixés à Bruxelles.",
    )
    settings = base_settings.replace(index_dir=str(tmp_path / "index"))
    build_index(folder, settings=settings, embedder=embedder)

    service = ChatService(settings)
    service._embedder = embedder
    # The chat's own retriever, without the LLM: a "question" here is its search.
    service.assistant = Assistant(settings, Retriever.load(settings, embedder), llm=None)
    retriever = service.assistant.retriever
    assert "Keeping" not in service.status_markdown()
    service.start_watching(str(folder))
    assert service.watching == str(folder.resolve())

    errors, empty, searches = [], [], [0]
    stop = threading.Event()

    def keep_asking():
        while not stop.is_set():
            try:
                if not retriever.search("Où s'est tenu le sommet de l'OTAN ?", k=3):
                    empty.append(time.monotonic())
                searches[0] += 1
            except Exception as e:  # noqa: BLE001 -- any failure is what the test looks for
                errors.append(repr(e))

    asker = threading.Thread(target=keep_asking, daemon=True)
    asker.start()
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        write(
            folder,
            "glacier.md",
            "# Climat\n\nLe glacier du Rhône a perdu 3 % de son volume en 2024, selon les glaciologues suisses.",
        )
        write(
            folder,
            "gaz.md",
            "# Prix du gaz\n\nLes prix du gaz ont bondi à 52 euros le mégawattheure "
            "après la panne d'un terminal norvégien.",
        )
        (folder / "pecheurs.md").unlink()

        def synced():
            docs = {c.doc.rsplit("/", 1)[-1]: c.text for c in retriever.refresh().chunks}
            return "glacier.md" in docs and "pecheurs.md" not in docs and "52 euros" in docs.get("gaz.md", "")

        assert wait_until(synced, 20), f"not re-synced within 20 s: {service.status_markdown()}"
        latency = time.monotonic() - t0
        top = retriever.search("Combien le glacier du Rhône a-t-il perdu ?", k=1)
        assert top and top[0].doc.endswith("glacier.md")
        assert all(not h.doc.endswith("pecheurs.md") for h in retriever.search("quotas de maquereau", k=5))
        assert "52 euros" in retriever.search("prix du gaz", k=1)[0].text
        assert "Last change" in service.status_markdown()
        files = {row[2] for row in service.index_rows()}
        assert {"glacier.md", "gaz.md", "otan.md"} == files

        # A rebuild from the page holds the build lock: the watcher waits for it, then syncs once more.
        with service._build_lock:
            write(folder, "tard.md", "# Rail\n\nLa ligne ferroviaire Lyon-Turin ouvrira en 2033.")
            time.sleep(3)
            assert "tard.md" not in {c.doc.rsplit("/", 1)[-1] for c in retriever.refresh().chunks}
        assert wait_until(lambda: "tard.md" in {c.doc.rsplit("/", 1)[-1] for c in retriever.refresh().chunks}, 20)
        assert wait_until(lambda: "added tard.md" in service.last_change, 5), service.last_change

        # Rebuilding from another folder in the page moves the watch there (else it would re-sync the old one).
        other = tmp_path / "other"
        write(other, "port.md", "# Port\n\nLe port du Havre a traité 3 millions de conteneurs.")
        assert "Added: port.md" in list(service.rebuild(str(other)))[-1]
        assert service.watching == str(other.resolve())
        write(folder, "ignored.md", "# Ignoré\n\nCe dossier n'est plus suivi.")
        write(other, "quai.md", "# Quai\n\nUn nouveau quai ouvrira au Havre en 2027.")
        assert wait_until(lambda: "added quai.md" in service.last_change, 20), service.last_change
        assert {c.doc.rsplit("/", 1)[-1] for c in retriever.refresh().chunks} == {"port.md", "quai.md"}
    finally:
        stop.set()
        asker.join(10)
        service.stop_watching()
    assert not errors, errors[:3]
    assert not empty, f"{len(empty)} searches found nothing while the index changed"
    assert searches[0] > 10
    assert not service.watching
    print(f"re-synced in {latency:.1f} s; {searches[0]} searches meanwhile")


def test_a_stopped_watch_does_not_sync(tmp_path, base_settings):
    from ui.service import ChatService

    service = ChatService(base_settings.replace(index_dir=str(tmp_path / "index")))
    write(tmp_path / "b", "a.md", "# A\n\ntexte")
    assert service.sync(tmp_path / "b", watched=True) is None  # a late call of a stopped watcher
    assert not (tmp_path / "index").exists()


@pytest.mark.slow
def test_watched_folder_while_the_chat_answers(tmp_path, base_settings, embedder, llm):
    """The whole answer path (real LLM) while files are added, edited and deleted: every question
    gets an answer, none an error, and the question after the sync sees the change."""
    import shutil

    from conftest import SAMPLES
    from rag.indexing import build_index
    from ui.service import ChatService

    folder = tmp_path / "briefings"
    shutil.copytree(SAMPLES, folder)
    # two passages keep the prompts short (CI time): the sync beside the chat is under test
    settings = base_settings.replace(index_dir=str(tmp_path / "index"), top_k=2, prompt_chars=900)
    build_index(folder, settings=settings, embedder=embedder)
    service = ChatService(settings)
    service._embedder, service._llm = embedder, llm  # reuse the session's loaded models
    assert service.load()
    service.start_watching(str(folder))
    try:
        finals, errors = [], []

        def ask(question):
            try:
                finals.append([text for text, _ in service.chat(question, [])][-1])
            except Exception as e:  # noqa: BLE001 -- any failure is a lost answer
                errors.append(repr(e))

        asker = threading.Thread(target=ask, args=("Qui a proposé la trêve de 30 jours ?",))
        asker.start()
        write(
            folder,
            "glacier.md",
            "# Climat\nDate : 2025-06-02\n\nLe glacier du Rhône a perdu 3 % de son "
            "volume en 2024, selon les glaciologues suisses.",
        )
        edited = folder / "2025-06-04-budgets-defense-sommet-otan.md"
        edited.write_text(
            edited.read_text(encoding="utf-8") + "\n\nLe sommet suivant se tiendra à Ankara.\n", encoding="utf-8"
        )
        victim = folder / "2025-06-10-prix-gaz-sanctions-ue.md"
        victim.unlink()
        asker.join(timeout=300)
        assert not errors and finals and "Trump" in finals[0] and not finals[0].startswith("⚠️")

        def synced():
            chunks = service.assistant.retriever.refresh().chunks
            docs = {c.doc.rsplit("/", 1)[-1] for c in chunks}
            ankara = any("Ankara" in c.text for c in chunks if c.doc.endswith(edited.name))
            return "glacier.md" in docs and victim.name not in docs and ankara

        assert wait_until(synced, 30), service.status_markdown()
        ask("Combien de volume le glacier du Rhône a-t-il perdu en 2024 ?")
        assert not errors and "3 %" in finals[-1].replace("\u202f", " ").replace("3%", "3 %"), finals[-1]
        history = " ".join(service.changes)  # the page shows the last three
        assert "Last change" in service.status_markdown()
        assert "added glacier.md" in history and victim.name in history and edited.name in history, history
    finally:
        service.stop_watching()
