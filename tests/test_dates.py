"""Dates in questions: the phrases (fixed today), then retrieval and the answer path with the real embedder."""

import datetime as dt
import os
from contextlib import contextmanager

import pytest

from conftest import write
from rag.dates import DateRange, parse_period, without_phrase
from rag.retrieval import Filters, Retriever, date_bonus

TODAY = dt.date(2026, 11, 29)  # a Sunday


def period(question):
    p = parse_period(question, today=TODAY)
    return None if p is None else (p.start, p.end)


@pytest.mark.parametrize(
    "question, expected",
    [
        # absolute day
        ("Que s'est-il passé le 20 mai ?", ("2026-05-20", "2026-05-20")),
        ("What happened on May 20?", ("2026-05-20", "2026-05-20")),
        ("Le briefing du 20/05/2026 ?", ("2026-05-20", "2026-05-20")),
        ("Qu'a dit Macron le 1er mai ?", ("2026-05-01", "2026-05-01")),
        ("What happened on 2025-05-20?", ("2025-05-20", "2025-05-20")),
        # month, year
        ("Quoi de neuf en mars ?", ("2026-03-01", "2026-03-31")),
        ("What happened in March 2025?", ("2025-03-01", "2025-03-31")),
        ("Les budgets de défense en 2025 ?", ("2025-01-01", "2025-12-31")),
        # relative day
        ("Qu'a dit Macron hier ?", ("2026-11-28", "2026-11-28")),
        ("What did Macron say yesterday?", ("2026-11-28", "2026-11-28")),
        ("Et avant-hier, que s'est-il passé ?", ("2026-11-27", "2026-11-27")),
        ("Qu'a dit Trump il y a 3 jours ?", ("2026-11-26", "2026-11-26")),
        ("What did Trump say 3 days ago?", ("2026-11-26", "2026-11-26")),
        # weeks: Monday to Sunday
        ("Que s'est-il passé la semaine dernière en Ukraine ?", ("2026-11-16", "2026-11-22")),
        ("What happened last week in Ukraine?", ("2026-11-16", "2026-11-22")),
        ("Quoi de neuf cette semaine ?", ("2026-11-23", "2026-11-29")),
        # since X: X .. today
        ("What happened since Monday?", ("2026-11-23", "2026-11-29")),
        ("Qu'a fait l'UE depuis lundi ?", ("2026-11-23", "2026-11-29")),
        ("Qu'a fait l'UE depuis le 20 mai ?", ("2026-05-20", "2026-11-29")),
        # this / last month, recent days; never past today
        ("Les sanctions ce mois-ci ?", ("2026-11-01", "2026-11-29")),
        ("Sanctions this month?", ("2026-11-01", "2026-11-29")),
        ("Les sanctions du mois dernier ?", ("2026-10-01", "2026-10-31")),
        ("Les sanctions de ces 30 derniers jours ?", ("2026-10-30", "2026-11-29")),
        ("Sanctions in the last 30 days?", ("2026-10-30", "2026-11-29")),
        # written dates are read day first
        ("Que s'est-il passé le 12/05/2024 ?", ("2024-05-12", "2024-05-12")),
        ("What happened on 12/05/2024?", ("2024-05-12", "2024-05-12")),
        # a span between two dates
        ("Les réunions du 10 mai au 20 mai ?", ("2026-05-10", "2026-05-20")),
        ("Les budgets entre 2019 et 2021 ?", ("2019-01-01", "2021-12-31")),
        ("Budgets between 2019 and 2021?", ("2019-01-01", "2021-12-31")),
        # a season or marketing year spans its years, it is no day ("2024/25" is not 25 November 2024)
        ("How much maize was exported in the 2024/25 season?", ("2024-01-01", "2025-12-31")),
        ("Les exportations de la campagne 2024-2025 ?", ("2024-01-01", "2025-12-31")),
        ("Le blé en 2023/24 ?", ("2023-01-01", "2024-12-31")),
        # two dates apart in the question are not one period: the narrowest is kept
        ("En 2005, quelle fête a-t-on célébrée le 3 novembre 2005 en Tunisie ?", ("2005-11-03", "2005-11-03")),
    ],
)
def test_date_phrases_become_ranges(question, expected):
    assert period(question) == expected


@pytest.mark.parametrize(
    "question",
    [
        "la trêve de 30 jours",
        "Qui a proposé la trêve de 30 jours ?",
        "who proposed the 30-day truce?",
        "Qu'est-ce que l'alliance Weimar+ ?",
        "Combien de personnes sont mortes, 12 ou 300 ?",
        "How many people: 250 soldiers?",
        "Le plan de paix en 20 points",
        "What may Macron do next?",  # "may" the verb
        "May I ask about the truce?",
        "The protest march in Paris",  # "march" the noun
        "Une mission vers Mars",
        "Qui a gagné 2 à 1 ?",
        "What is the status of Kyiv now?",
        "La résolution 2024-99 du Conseil ?",  # a number, not years
    ],
)
def test_ordinary_questions_have_no_date(question):
    assert parse_period(question, today=TODAY) is None


@pytest.mark.parametrize(
    "question, phrase",
    [
        ("Les dernières nouvelles sur l'Ukraine ?", "dernières nouvelles"),
        ("What is the latest on the truce?", "latest"),
        ("What are the most recent sanctions?", "most recent"),
    ],
)
def test_latest_favours_the_newest_without_a_range(question, phrase):
    p = parse_period(question, today=TODAY)
    assert p == DateRange("", "", phrase, newest=True)
    assert p.describe() == "newest first"


def test_the_phrase_is_removed_for_keywords_only_when_words_remain():
    p = parse_period("Qu'a dit Macron hier ?", today=TODAY)
    assert p.phrase == "hier" and without_phrase("Qu'a dit Macron hier ?", p) == "Qu'a dit Macron ?"
    assert without_phrase("hier ?", parse_period("hier ?", today=TODAY)) == "hier ?"
    assert without_phrase("la trêve", None) == "la trêve"


def test_date_bonus_in_range_and_by_recency():
    in_may = DateRange("2026-05-20", "2026-05-20", "le 20 mai")
    assert date_bonus(["2026-05-20", "2026-05-27", ""], in_may).tolist() == [1.0, 0.0, 0.0]
    newest = DateRange("", "", "latest", newest=True)
    assert date_bonus(["2026-05-03", "2026-05-31", "2026-05-24", ""], newest).tolist() == [0.0625, 1.0, 0.5, 0.0]
    # the newest of the best-ranked passages counts, not a newer file ranked 12th (which gets no more than 1)
    dates = ["2026-05-24", "2026-05-31"] + ["2025-01-01"] * 9 + ["2026-08-01"]
    bonus = date_bonus(dates, newest, scores=list(range(12, 0, -1))).tolist()
    assert bonus[:2] == [0.5, 1.0] and bonus[-1] == 1.0


class _Index:
    alive = None  # no dead rows (rag/segments.py)

    def __init__(self, chunks):
        self.chunks = chunks

    def __len__(self):
        return len(self.chunks)


def test_the_hard_date_filter_keeps_undated_passages():
    from rag.schema import Chunk

    chunks = [
        Chunk("a.md", 0, 1, "x", date="2026-05-20"),
        Chunk("b.md", 0, 1, "x", date="2026-06-20"),
        Chunk("c.md", 0, 1, "x", date=""),
    ]
    mask = Retriever._allowed_rows(_Index(chunks), Filters(date_from="2026-05-01", date_to="2026-05-31"))
    assert mask.tolist() == [True, False, True]


# ---------------------------------------------------------------- with the real embedder and loader
AID = (
    "Les ministres européens de la défense se sont réunis à Bruxelles pour coordonner l'aide militaire à "
    "l'Ukraine. Ils ont promis de nouvelles livraisons de munitions d'artillerie et de systèmes de défense "
    "aérienne avant l'hiver."
)
AID_27 = (
    "Réunis à Bruxelles, les ministres de la défense de l'UE ont décidé d'accélérer l'aide militaire à "
    "l'Ukraine : munitions d'artillerie, défense aérienne et formation de soldats ukrainiens."
)
ASKED = "Qu'ont décidé les ministres de la défense sur l'aide militaire à l'Ukraine le 20 mai ?"


@pytest.fixture(scope="module")
def dated_retriever(tmp_path_factory, base_settings, embedder):
    import shutil

    from conftest import SAMPLES
    from rag.indexing import build_index

    folder = tmp_path_factory.mktemp("dated")
    shutil.copytree(SAMPLES, folder / "samples")  # other passages, so scores are normalised as in real use
    # Same topic, two days; the 27 May one says "ont décidé", so without the date it comes first.
    write(folder, "a.md", "# Aide militaire à l'Ukraine\nDate: 2026-05-20\n\n" + AID + "\n")
    write(folder, "b.md", "# Aide militaire à l'Ukraine\nDate: 2026-05-27\n\n" + AID_27 + "\n")
    # No date in the text: the loader falls back to the file's modification time.
    undated = write(
        folder,
        "c.txt",
        "Zaporijjia : la centrale de nouveau privée de courant\n\nLa centrale "
        "nucléaire de Zaporijjia a perdu sa dernière ligne électrique externe, selon l'AIEA ; les "
        "générateurs diesel assurent le refroidissement des réacteurs.\n",
    )
    os.utime(undated, (dt.datetime(2026, 8, 1).timestamp(),) * 2)
    settings = base_settings.replace(index_dir=str(tmp_path_factory.mktemp("dated-index")))
    build_index(folder, settings=settings, embedder=embedder)
    return Retriever.load(settings, embedder)


@pytest.mark.parametrize(
    "question", [ASKED, "What did the defence ministers decide on military aid to Ukraine on May 20?"]
)
def test_a_dated_question_ranks_that_days_briefing_first(dated_retriever, question):
    plain = dated_retriever.search(question, k=3)
    assert plain[0].date == "2026-05-27"  # the wording favours the other day ...
    dated = dated_retriever.search(question, k=3, dates=parse_period(question, today=TODAY))
    assert dated[0].date == "2026-05-20", [(h.date, h.score) for h in dated]  # ... the date wins
    assert dated[1].date == "2026-05-27"  # favoured, not filtered


@pytest.mark.parametrize(
    "q",
    [
        "Les dernières nouvelles sur l'aide militaire européenne à l'Ukraine ?",
        "What is the latest on the ammunition promised to Ukraine?",
    ],
)
def test_the_newest_briefing_first_for_latest_news(dated_retriever, q):
    plain = dated_retriever.search(q, k=3)
    assert plain[0].date == "2026-05-20"  # the wording favours the older
    hits = dated_retriever.search(q, k=3, dates=parse_period(q, today=TODAY))
    assert [h.date for h in hits[:2]] == ["2026-05-27", "2026-05-20"], [(h.date, h.score) for h in hits]


def test_a_passage_outside_the_period_or_without_a_written_date_is_still_found(dated_retriever):
    q = "La centrale de Zaporijjia a-t-elle perdu son alimentation électrique le 20 mai ?"
    hits = dated_retriever.search(q, k=3, dates=parse_period(q, today=TODAY))
    assert hits[0].doc.endswith("c.txt") and hits[0].date == "2026-08-01"


class _RefusingLLM:
    """Says "no" to "Answerable:" (the answer path up to the LLM is real; no 1.5B model is loaded)."""

    @contextmanager
    def session(self, messages, fixed=None):
        class Session:
            def feed(self, text):
                pass

            def probabilities(self, tokens):
                return [0.0, 1.0]

        yield Session()

    def format(self, messages):
        return " ".join(m["content"] for m in messages)

    def count_tokens(self, text):
        return len(text.split())


def test_the_answer_path_applies_the_period_and_shows_it(dated_retriever):
    from rag.answering import Assistant
    from ui.service import ChatService

    assistant = Assistant(dated_retriever.settings, dated_retriever, _RefusingLLM())
    assistant.today = TODAY
    q = ASKED
    a = assistant.answer(q)
    assert a.hits[0].date == "2026-05-20"
    assert a.trace["dates"] == {
        "from": "2026-05-20",
        "to": "2026-05-20",
        "phrase": "le 20 mai",
        "newest": False,
        "applied": "favour",
        "shown": "2026-05-20 → 2026-05-20",
        "in_range": 1,
    }
    service = ChatService(dated_retriever.settings)
    service.assistant = assistant
    shown = list(service.chat(q, [], show_query=True))[-1][0]
    assert shown.endswith("_(dates: 2026-05-20 → 2026-05-20)_"), shown
    assert "dates:" not in list(service.chat(q, [], show_query=False))[-1][0]
    # a period no briefing is from: answered from all, and said so
    a = assistant.answer("Qu'ont décidé les ministres de la défense hier ?")
    assert a.hits and a.trace["dates"]["in_range"] == 0 and "answered from all" in a.trace["dates"]["shown"]
