"""Replay the answer checks on a logged `rag eval` run, without retrieval or the LLM.

    RAG_MIN_KEYWORD_COVERAGE=0 RAG_MIN_ANSWERABLE=0 RAG_MIN_ANSWERABLE_CROSS=0 \
        rag eval --answers 60 --cross 60 --oracle 0 --no-retrieval --no-briefings --out open.json
    python -m bench.replay open.json            # the current code's checks and settings
    RAG_MIN_ANSWERABLE=0.6 python -m bench.replay open.json

With the evidence gate and the answerability bar open, every question reaches the
LLM and the log keeps what it was shown (passages, sentence cosines, the numbered
sentences), its probability of "yes", the sentence it named and its reply. Decoding
is deterministic, so everything after generation is a pure function of that log:
the gate (`rag.grounding.evidence_gate`), the answerability bar, and the
verification that picks the citation (`rag.answering.verify_answer`). This tool
re-runs them with the current code and settings and scores the result like
`rag eval`, so a change to a check is measured on the same answers in seconds
instead of an hour of LLM time. Figures are given for both halves of the seeded
sample (even and odd positions): choose on one, report the other.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import typer

from bench.common import PIAF, ROOT, console, save, table

app = typer.Typer(add_completion=False)


def hits_of(row: dict) -> list:
    from rag.schema import Hit

    return [
        Hit(
            doc=h["doc"],
            start=h["start"],
            end=h["end"],
            text=h["text"],
            score=h["score"],
            title=h["title"],
            date=h["date"],
            dense_score=h["dense"],
            bm25_score=h.get("bm25"),
            sentences=tuple(tuple(x) for x in h["sentences"]),
        )
        for h in row["hits"]
    ]


def sentences_of(row: dict, hits: list) -> list:
    """The numbered sentences the model was shown, rebuilt from their logged offsets."""
    from rag.prompting import Sentence

    out = []
    for n, (doc, s, e) in enumerate(row["trace"].get("shown", []), 1):
        i = next(i for i, h in enumerate(hits) if h.doc == doc and h.start <= s and e <= h.end)
        text = " ".join(hits[i].text[s - hits[i].start : e - hits[i].start].split())
        out.append(Sentence(n, i, s, e, text))
    return out


def replay(row: dict, settings):
    """The answer the current checks give for one logged question (None if it never reached the LLM)."""
    from rag.answering import verify_answer
    from rag.dates import DateRange, without_phrase
    from rag.grounding import answerability, evidence_gate, same_language
    from rag.prompting import detect_language
    from rag.schema import Answer

    trace = dict(row["trace"])
    if "p_yes" not in trace:
        return None
    q = row["question"]
    query = row.get("query") or q  # what was searched: the translation of a question in another language
    language = detect_language(q)
    hits = hits_of(row)
    base = dict(question=q, language=language, query=query, hits=hits)
    sentences = sentences_of(row, hits)

    def refused(stage: str) -> Answer:
        return Answer(text="", found=False, raw_text="", trace={**trace, "refused_by": stage}, **base)

    dates = trace.get("dates")
    gate_query = query
    if dates and (dates.get("newest") or dates.get("in_range")):
        # the period picked the passages: the gate did without its words, as in rag/answering.py
        gate_query = without_phrase(query, DateRange(dates["from"], dates["to"], dates["phrase"], dates["newest"]))
    gate = evidence_gate(
        gate_query,
        # asked again in the other language of a mixed folder: gated against the passages in it
        [h for h in hits if detect_language(h.text) == trace["translated_after_gate"]]
        if trace.get("translated_after_gate")
        else hits,
        settings.min_dense_score,
        settings.min_keyword_coverage,
        settings.min_dense_score_cross,
        trace.get("translated_from"),
    )
    if not gate.found:
        return refused("gate")
    cross = 2 * sum(same_language(query, h.text) for h in hits) < len(hits)
    score = answerability(*answerability_features(row, hits), cross)
    if score < (settings.min_answerable_cross if cross else settings.min_answerable):
        return refused("answerability")
    evidence = [sentences[n - 1] for n in trace.get("evidence", []) if 1 <= n <= len(sentences)]
    return verify_answer(row.get("raw") or "", evidence, sentences, query, base, trace)


def answerability_features(row: dict, hits: list | None = None) -> tuple[float, float, float]:
    """(best cosine, P(yes), share of the question's names missing) of a logged question."""
    from rag.grounding import missing_share, searchable_text_of

    hits = hits_of(row) if hits is None else hits
    best = max((h.dense_score or 0.0) for h in hits) if hits else 0.0
    texts = [searchable_text_of(h) for h in hits]
    missing = min(missing_share(x, texts) for x in {row["question"], row.get("query") or row["question"]})
    return best, row["trace"]["p_yes"], missing


def fit(present: list[dict], absent: list[dict], max_wrong: float = 0.08) -> tuple[tuple, float]:
    """Logistic regression of "the document is there" on answerability_features, on standardised
    features, returned as raw coefficients (b, w_dense, w_yes, w_missing), and the lowest score bar
    that refuses at most `max_wrong` of `present` beyond those refused anyway."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rows = [r for r in present + absent if "p_yes" in r["trace"]]
    x = np.array([answerability_features(r) for r in rows])
    y = np.array([1] * sum("p_yes" in r["trace"] for r in present) + [0] * sum("p_yes" in r["trace"] for r in absent))
    mean, scale = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=1.0).fit((x - mean) / scale, y)
    w = model.coef_[0] / scale
    b = float(model.intercept_[0] - (model.coef_[0] * mean / scale).sum())
    scores = 1 / (1 + np.exp(-(b + x @ w)))
    bars = sorted(scores[y == 1])
    bar = float(bars[int(max_wrong * len(bars))]) if len(bars) else 0.5  # refuse fewer than max_wrong of them
    return (round(b, 3), *(round(float(v), 3) for v in w)), round(bar - 1e-4, 4)


def score_run(present: list[dict], absent: list[dict], questions: dict, settings) -> dict:
    """`rag eval`'s answer figures for the replayed answers of one language."""
    from rag.evaluation import citation_tuples, loss_stage, score_answer, summarize

    rows: list[dict] = []
    losses: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    skipped = 0
    for r in present:
        a = replay(r, settings)
        if a is None:
            skipped += 1
            continue
        q = questions[r["id"]]
        rows.append(score_answer(a.text, a.found, citation_tuples(a), q))
        losses[loss_stage(a, q)] += 1
    refused = []
    for r in absent:
        a = replay(r, settings)
        if a is None:
            skipped += 1
            continue
        refused.append(not a.found)
        stages[a.trace.get("refused_by", "answered")] += 1
    m = summarize(rows)
    return {
        "n": m["questions"],
        "correct": m["correct"],
        "citation_precision": m["citation_precision"],
        "not_found_with_gold": 1 - m["found"],
        "not_found_without_gold": sum(refused) / max(len(refused), 1),
        "loss": dict(losses),
        "absent_stopped_by": dict(stages),
        "not_replayable": skipped,
    }


def score_briefings(rows: list[dict], settings) -> dict:
    """The briefing QA set's figures per language (report only: never choose settings on it)."""
    from rag.evaluation import BRIEFINGS_QA, citation_tuples, load_questions, score_answer, summarize

    questions = {q.id: q for q in load_questions(BRIEFINGS_QA)}
    out: dict = {}
    for r in rows:
        q = questions[r["id"]]
        a = replay(r, settings)
        g = out.setdefault(q.lang, {"answerable": [], "unanswerable": [], "not_replayable": 0})
        if a is None:
            g["not_replayable"] += 1
        elif q.answerable:
            g["answerable"].append(score_answer(a.text, a.found, citation_tuples(a), q))
        else:
            g["unanswerable"].append(not a.found)
    report = {}
    for lang, g in sorted(out.items()):
        m = summarize(g["answerable"])
        report[lang] = {
            "n": len(g["answerable"]) + len(g["unanswerable"]),
            "correct": m["correct"],
            "citation_precision": m["citation_precision"],
            "not_found_with_gold": 1 - m["found"],
            "not_found_without_gold": sum(g["unanswerable"]) / max(len(g["unanswerable"]), 1),
            "not_replayable": g["not_replayable"],
        }
    return report


def questions_by_id(lang: str) -> dict:
    from rag.evaluation import load_questions, translated

    qs = load_questions(PIAF / "dev.jsonl")
    if lang == "en":
        qs = translated(qs, ROOT / "samples" / "eval" / "piaf-dev-en.jsonl")
    return {q.id: q for q in qs}


@app.command()
def main(
    results: list[Path] = typer.Argument(..., help="JSON written by `rag eval --out` with the gate and bars open"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
    refit: bool = typer.Option(False, "--fit", help="Fit the answerability score on half 1 first, then replay"),
):
    from rag.evaluation import LOSS_STAGES
    from rag.settings import Settings

    settings = Settings.from_env()
    if refit:
        from rag import grounding

        logged: dict = {}
        for path in results:
            logged.update(json.loads(path.read_text())["details"])
        bars = {}
        for group, present_key, absent_key in (
            ("same", "answers", "refusal"),
            ("cross", "cross_answers", "cross_refusal"),
        ):
            coefficients, bar = fit(logged[present_key][0::2], logged[absent_key][0::2])
            grounding.ANSWERABILITY[group] = coefficients
            bars[group] = bar
            console.print(f"answerability, {group} language, fit on half 1: coefficients {coefficients}, bar {bar}")
        settings = settings.replace(min_answerable=bars["same"], min_answerable_cross=bars["cross"])
    details: dict = {}
    for path in results:  # e.g. a PIAF run and a briefing-set run
        details.update(json.loads(path.read_text())["details"])
    report: dict = {}
    rows = []
    for lang, present_key, absent_key in (("fr", "answers", "refusal"), ("en", "cross_answers", "cross_refusal")):
        if present_key not in details or absent_key not in details:
            continue
        questions = questions_by_id(lang)
        p, a = details[present_key], details[absent_key]
        for part, (pp, aa) in (("half 1", (p[0::2], a[0::2])), ("half 2", (p[1::2], a[1::2])), ("all", (p, a))):
            m = score_run(pp, aa, questions, settings)
            report[f"{lang} {part}"] = m
            rows.append(
                [
                    f"{lang} {part}",
                    m["n"],
                    m["correct"],
                    m["citation_precision"],
                    m["not_found_with_gold"],
                    m["not_found_without_gold"],
                    " ".join(f"{k}:{m['loss'].get(k, 0)}" for k in LOSS_STAGES if m["loss"].get(k)),
                    " ".join(f"{k}:{v}" for k, v in sorted(m["absent_stopped_by"].items())),
                ]
            )
    if "briefings" in details:
        for lang, m in score_briefings(details["briefings"], settings).items():
            report[f"briefings {lang}"] = m
            rows.append(
                [
                    f"briefing set, {lang}",
                    m["n"],
                    m["correct"],
                    m["citation_precision"],
                    m["not_found_with_gold"],
                    m["not_found_without_gold"],
                    "",
                    "",
                ]
            )
    table(
        "replayed checks (current code and settings) on logged answers",
        [
            "questions",
            "n",
            "correct",
            "citation precision",
            "not found, gold present (wrong)",
            "not found, gold absent (right)",
            "loss (gold present)",
            "gold absent: stopped by",
        ],
        rows,
    )
    console.print("[dim]halves: even and odd positions of the seeded sample[/]")
    save("replay", report, out)


if __name__ == "__main__":
    app()
