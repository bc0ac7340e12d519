"""The period a question is about ("le 20 mai", "last week", "depuis lundi", "latest"), relative to today.

dateparser finds the date phrases and their granularity (day, week, month,
year); this module turns them into an inclusive range of ISO dates, adds the
few forms dateparser misses ("la semaine dernière", "le mois dernier", "the
past week"), reads "since X"/"depuis X" as X..today and "latest"/"dernières
nouvelles" as "favour the newest", and refuses dateparser's false dates in
ordinary questions ("la trêve de 30 jours", "the protest march", "What may
happen?"): a phrase only counts when it holds a date word (month after a
preposition or beside a number, weekday, hier/yesterday, this/last week...),
a written date or a year.

>>> import datetime as dt
>>> parse_period("Qu'a dit Macron le 20 mai ?", today=dt.date(2026, 11, 29))
DateRange(start='2026-05-20', end='2026-05-20', phrase='le 20 mai', newest=False)
>>> parse_period("Qui a proposé la trêve de 30 jours ?", today=dt.date(2026, 11, 29)) is None
True
>>> parse_period("Exports in the 2024/25 season?", today=dt.date(2026, 11, 29))
DateRange(start='2024-01-01', end='2025-12-31', phrase='2024/25', newest=False)
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import warnings
from dataclasses import dataclass

_LANGUAGES = ["fr", "en"]
_MONTH = (
    r"janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|"
    r"decembre|january|february|march|april|may|june|july|august|september|october|november|december"
)
_WEEKDAY = (
    r"lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_UNIT = r"jours?|days?|semaines?|weeks?|mois|months?|ans?|années?|years?"
# Words that make a phrase a date on their own (month names need more: "Mars", "march", "may" are words too).
_ANCHOR = re.compile(
    rf"\b(?:{_WEEKDAY}|hier|avant-hier|aujourd['’]hui|yesterday|today)\b"
    r"|\b(?:ce|cet|cette|this|last|past|previous|dernier|dernière|passée?)\b"
    r".*\b(?:semaine|week|mois|month|année|an|year)\b"
    r"|\b(?:semaine|week|mois|month|année|an|year)\b.*\b(?:dernier|dernière|passée?|-ci)\b"
    r"|\b\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?\b|\b\d{4}-\d{2}-\d{2}\b|\b(?:19|20)\d{2}\b",
    re.I,
)
_MONTH_WORD = re.compile(rf"\b({_MONTH})\b", re.I)
# A month name is a date after a preposition ("en mars", "in May") or beside a number ("20 mai", "May 2025").
_MONTH_CONTEXT = re.compile(
    r"(?:\b(?:in|on|of|since|from|until|by|early|late|mid|en|de|du|d['’]|début|fin|mi"
    r"|depuis)[\s-]*|\d(?:er)?\s*)$",
    re.I,
)
_DURATION = re.compile(rf"^\D*(\d+)[\s-]*({_UNIT})\b", re.I)
# what joins the two ends of one period: "du 10 mai au 20 mai", "between May 10 and May 20"
_BETWEEN = re.compile(r"\s*(?:et|and|à|au|to|until|through|-|–)(?:\s+(?:le|la|l'|the))?\s*", re.I)
_SINCE = re.compile(r"\b(?:depuis|since|from|à partir d[eu]|after|après)\s+(?:le\s+|the\s+|l['’])?$", re.I)
# Periods dateparser 1.5 does not find (checked on each): (regex, unit, how many units back).
_OWN = [
    (re.compile(r"\b(?:la\s+)?semaine\s+(?:dernière|passée)|\b(?:the\s+)?(?:past|previous)\s+week\b", re.I), "week", 1),
    (re.compile(r"\b(?:le\s+)?mois\s+(?:dernier|passé)|\b(?:the\s+)?(?:past|previous)\s+month\b", re.I), "month", 1),
    (
        re.compile(r"\bl['’](?:an|année)\s+(?:dernier|dernière|passée?)|\b(?:the\s+)?(?:past|previous)\s+year\b", re.I),
        "year",
        1,
    ),
]
_RECENT_UNITS = re.compile(
    rf"\b(?:ces|les|the\s+(?:last|past))\s+(\d+)\s+(?:derni(?:er|ère)s\s+)?({_UNIT})"
    r"(?:\s+derni(?:er|ère)s)?\b",
    re.I,
)
# A span of years: a season or marketing year ("2024/25", "2024-2025", "la campagne 2023/24"), not a day.
_YEARS = re.compile(r"\b((?:19|20)\d{2})\s?[/–-]\s?((?:19|20)?\d{2})\b(?![/.-]\d)")
_NEWEST = re.compile(
    r"\b(?:latest|most\s+recent|newest|recent\s+news|dernières?\s+(?:nouvelles|informations|infos"
    r"|actualités|news)|plus\s+récente?s?|récemment|recently)\b",
    re.I,
)


@dataclass(frozen=True)
class DateRange:
    """Inclusive ISO dates the question is about; `phrase` is its text in the question (a contiguous span);
    `newest`: it asks for the latest news (start/end empty when that is all it asks)."""

    start: str
    end: str
    phrase: str
    newest: bool = False

    def describe(self) -> str:
        """'2026-05-20 → 2026-05-20', 'newest first', or both."""
        parts = [f"{self.start} → {self.end}"] if self.start else []
        return ", ".join(parts + (["newest first"] if self.newest else []))

    def contains(self, iso: str) -> bool:
        return bool(self.start and iso and self.start <= iso <= self.end)


def parse_period(question: str, today: dt.date | None = None) -> DateRange | None:
    """The period `question` asks about, relative to `today`, or None if it names no date.

    >>> parse_period("What happened last week?", today=dt.date(2026, 11, 29))
    DateRange(start='2026-11-16', end='2026-11-22', phrase='last week', newest=False)
    """
    today = today or dt.date.today()
    text = question or ""
    spans: list[tuple[int, int, dt.date, dt.date]] = []  # (start, end in text, first day, last day)
    masked = text
    for pattern, unit, back in _OWN:
        for m in pattern.finditer(text):
            first, last = _period_of(_shift(today, unit, -back), unit)
            spans.append((m.start(), m.end(), first, last))
            masked = _blank(masked, m)
    for m in _YEARS.finditer(masked):
        first_year, second = int(m.group(1)), m.group(2)
        last_year = int(second) if len(second) == 4 else first_year // 100 * 100 + int(second)
        if 0 < last_year - first_year <= 10:  # "2024-12" is a month, left to dateparser
            spans.append((m.start(), m.end(), dt.date(first_year, 1, 1), dt.date(last_year, 12, 31)))
            masked = _blank(masked, m)
    for m in _RECENT_UNITS.finditer(masked):
        spans.append((m.start(), m.end(), _shift(today, _unit(m.group(2)), -int(m.group(1))), today))
        masked = _blank(masked, m)
    # "1er mai": dateparser's search skips "1er" and reads "mai" alone; same length keeps the offsets.
    masked = re.sub(r"\b1er\b", "1  ", masked)
    pos = 0
    for phrase, when in _search(masked, today):
        # dateparser gives the phrase with its spaces collapsed
        located = re.compile(r"\s+".join(map(re.escape, phrase.split()))).search(masked, pos)
        if located is None:
            continue
        start, end = located.span()
        pos = end
        # dateparser keeps the joining word of a span's second end ("2019 et 2021" -> "et 2021")
        joined = re.match(r"(?:et|and|au|to|until|through)\s+", text[start:end], re.I)
        if joined:
            start += joined.end()
        since = _SINCE.search(text[:start])
        found = _accept(masked, start, end, when.date(), bool(since))
        if found is None:
            continue
        first, last = found
        if since:
            start, last = since.start(), today
        spans.append((start, end, first, last))
    newest = _NEWEST.search(text)
    if not spans and not newest:
        return None
    spans.sort()
    if len(spans) > 1 and not all(
        _BETWEEN.fullmatch(text[b:c]) for (_, b, _, _), (c, _, _, _) in zip(spans, spans[1:])
    ):
        # dates apart in the question ("En 2005, ... le 2 novembre") are not one period: keep the narrowest
        spans = [min(spans, key=lambda x: (x[3] - x[2], x[0]))]
    bounds = [(a, b) for a, b, _, _ in spans] + ([newest.span()] if newest else [])
    a, b = min(x for x, _ in bounds), max(y for _, y in bounds)
    if not spans:
        return DateRange("", "", text[a:b].strip(), True)
    first = min(s[2] for s in spans)
    last = max(s[3] for s in spans)
    if first <= today < last:  # "this month", "cette année": nothing is dated after today
        last = today
    return DateRange(first.isoformat(), last.isoformat(), text[a:b].strip(), bool(newest))


_LITERAL = re.compile(
    r"\d|\b(?:janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre|"
    r"decembre|january|february|march|april|may|june|july|august|september|october|november|december)\b",
    re.I,
)


def keyword_query(question: str, period: DateRange | None) -> str:
    """What keyword search should match: the question without a relative date phrase ("la semaine
    dernière", "latest", "since Monday": words no passage is about), but with a written date
    ("le 20 mai", "en 1990"), which passages often hold too.

    >>> keyword_query("Les dernières nouvelles sur le gaz ?", DateRange("", "", "dernières nouvelles", True))
    'Les sur le gaz ?'
    >>> keyword_query("Le gaz le 20 mai ?", DateRange("2026-05-20", "2026-05-20", "le 20 mai"))
    'Le gaz le 20 mai ?'
    """
    if period is None or _LITERAL.search(period.phrase):
        return question
    return without_phrase(question, period)


def without_phrase(question: str, period: DateRange | None) -> str:
    """The question without its date phrase (for keyword search and the evidence gate), or as is if nothing is left.

    >>> without_phrase("Qu'a dit Macron hier ?", DateRange("2026-11-28", "2026-11-28", "hier"))
    "Qu'a dit Macron ?"
    """
    if period is None or not period.phrase:
        return question
    rest = " ".join(question.replace(period.phrase, " ", 1).split())
    return rest if re.search(r"[^\W\d_]{3,}", rest) else question


def _blank(text: str, m: re.Match) -> str:
    """`text` with the match replaced by spaces, so later searches skip it and offsets stay."""
    return text[: m.start()] + " " * (m.end() - m.start()) + text[m.end() :]


def _parser_settings(base: dt.date) -> dict:
    # Written dates are read day first ("12/05" is 12 May), as the French and British briefings write them.
    return {"RELATIVE_BASE": dt.datetime.combine(base, dt.time()), "PREFER_DATES_FROM": "past", "DATE_ORDER": "DMY"}


def _search(text: str, today: dt.date) -> list:
    from dateparser.search import search_dates

    settings = _parser_settings(today)
    with warnings.catch_warnings():  # dateparser warns about pytz/locale internals
        warnings.simplefilter("ignore")
        return search_dates(text, languages=_LANGUAGES, settings=settings) or []


def _accept(text: str, start: int, end: int, when: dt.date, since: bool) -> tuple[dt.date, dt.date] | None:
    """(first, last day) meant by dateparser's phrase text[start:end], or None if it is not a date at all."""
    phrase = text[start:end]
    if _DURATION.match(phrase):
        # "30 jours" is a length ("la trêve de 30 jours"), a date only as "il y a 30 jours", "30 days ago"
        # or "depuis 30 jours".
        before, after = text[max(0, start - 8) : start + 1].lower(), (phrase + text[end : end + 5]).lower()
        if not (since or re.search(r"il\s+y\s+a?\s*$", before) or re.search(r"\bago\b", after)):
            return None
        return when, when
    months = [
        m
        for m in _MONTH_WORD.finditer(phrase)
        if _MONTH_CONTEXT.search(text[: start + m.start()]) or re.match(r"\s*\d", phrase[m.end() :])
    ]
    if not months and not _ANCHOR.search(phrase):
        return None
    period = _granularity(phrase, when)
    if period == "day" and months and not re.search(r"\d", phrase):
        period = "month"  # "neuf en mars": dateparser read "neuf" as the 9th
    return _period_of(when, period)


def _granularity(phrase: str, when: dt.date) -> str:
    from dateparser.date import DateDataParser

    settings = _parser_settings(when)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = DateDataParser(languages=_LANGUAGES, settings=settings).get_date_data(phrase)
    return data.period if data and data.period in ("week", "month", "year") else "day"


def _period_of(day: dt.date, unit: str) -> tuple[dt.date, dt.date]:
    if unit == "week":
        monday = day - dt.timedelta(days=day.weekday())
        return monday, monday + dt.timedelta(days=6)
    if unit == "month":
        return day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1])
    if unit == "year":
        return dt.date(day.year, 1, 1), dt.date(day.year, 12, 31)
    return day, day


def _unit(word: str) -> str:
    w = word.lower()
    return (
        "week"
        if w.startswith(("semaine", "week"))
        else "month"
        if w.startswith(("mois", "month"))
        else "year"
        if w.startswith(("an", "year"))
        else "day"
    )


def _shift(day: dt.date, unit: str, n: int) -> dt.date:
    if unit == "day":
        return day + dt.timedelta(days=n)
    if unit == "week":
        return day + dt.timedelta(weeks=n)
    months = day.year * 12 + day.month - 1 + (n * 12 if unit == "year" else n)
    year, month = divmod(months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))
