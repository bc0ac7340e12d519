"""Choose the refusal thresholds (evidence gate, model answerability) from one logged `rag eval` run.

    RAG_MIN_KEYWORD_COVERAGE=0 RAG_MIN_ANSWERABLE=0 RAG_MIN_ANSWERABLE_CROSS=0 \
        rag eval --answers 200 --cross 100 --out artifacts/bench/eval-open.json
    python -m bench.refusal artifacts/bench/eval-open.json

With the gate and the answerability bar both open, every question reaches the
LLM and its trace records the gate's figures (best cosine, keyword coverage,
missing key terms) and the model's probability of "yes". Since decoding is
deterministic, the answer under any stricter thresholds is known exactly: "not
found" where the gate or the bar would have stopped it, else the logged answer.
So one run prices every threshold: this tool sweeps them, tunes on one fixed half
of the questions (even positions of the seeded sample) and reports the other half
too, so the figures are not tuning noise. French questions set the same-language
thresholds, English questions over the French documents the cross-language ones.
The briefing QA set is never used here.

Since the answerability bar applies to a score that also weighs the cosine and the
question's missing names (rag/grounding.py `answerability`), this tool's P(yes)
sweep describes the model's own signal; `python -m bench.replay --fit` fits that
score and replays every check on the same kind of log.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import typer

from bench.common import console, save, table

app = typer.Typer(add_completion=False)
DENSE = (0.0, 0.74, 0.75, 0.76, 0.77, 0.78, 0.79, 0.80, 0.81, 0.82, 0.83, 0.84, 0.86)
ANSWERABLE = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
COVERAGE = (0.75, 1.01)  # 1.01: coverage alone never lets a question through


def passes(row: dict, dense: float, coverage: float, answerable: float) -> bool:
    """Would this logged question have reached an answer under these thresholds?"""
    gate = row["trace"].get("gate")
    if gate is None or "p_yes" not in row["trace"]:
        return row["found"]  # stopped before the LLM in the logged run: unknown, keep as logged
    opened = gate["coverage"] >= coverage or (gate["dense"] >= dense and not gate["missing"])
    return opened and row["trace"]["p_yes"] >= answerable and row["found"]


def score(present: list[dict], absent: list[dict], dense: float, coverage: float, answerable: float) -> dict:
    found = [passes(r, dense, coverage, answerable) for r in present]
    cited = [r for r, f in zip(present, found) if f]
    cites = sum(r["citations"] for r in cited)
    n, m = max(len(present), 1), max(len(absent), 1)
    return {
        "correct": sum(f and r["correct"] for r, f in zip(present, found)) / n,
        "citation_precision": sum(r["citation_hits"] for r in cited) / cites if cites else 0.0,
        "not_found_with_gold": 1 - sum(found) / n,
        "not_found_without_gold": sum(not passes(r, dense, coverage, answerable) for r in absent) / m,
    }


def choose(present, absent, max_wrong: float = 0.08) -> tuple[tuple, dict]:
    """The thresholds that refuse most often without the gold documents while wrongly refusing at most
    `max_wrong` of the answerable questions (ties: more correct answers, then lower thresholds)."""
    best = None
    for dense, coverage, answerable in itertools.product(DENSE, COVERAGE, ANSWERABLE):
        m = score(present, absent, dense, coverage, answerable)
        ok = m["not_found_with_gold"] <= max_wrong
        key = (ok, m["not_found_without_gold"] if ok else -m["not_found_with_gold"], m["correct"], -dense, -answerable)
        if best is None or key > best[0]:
            best = (key, (dense, coverage, answerable), m)
    return best[1], best[2]


def halves(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    return rows[0::2], rows[1::2]


@app.command()
def main(
    results: Path = typer.Argument(..., help="JSON written by `rag eval --out` with the thresholds open"),
    max_wrong: float = typer.Option(0.08, help="Largest share of answerable questions refused"),
    out: Path = typer.Option(None, help="Folder for the JSON results"),
):
    data = json.loads(results.read_text())
    details = data["details"]
    report = {}
    for label, present_key, absent_key in (
        ("French questions (same language)", "answers", "refusal"),
        ("English questions (cross-language)", "cross_answers", "cross_refusal"),
    ):
        if present_key not in details:
            continue
        tune_p, test_p = halves(details[present_key])
        tune_a, test_a = halves(details[absent_key])
        (dense, coverage, answerable), tuned = choose(tune_p, tune_a, max_wrong)
        rows = []
        for name, p, a in (
            ("tune half", tune_p, tune_a),
            ("report half", test_p, test_a),
            ("all", details[present_key], details[absent_key]),
        ):
            m = score(p, a, dense, coverage, answerable)
            rows.append(
                [
                    name,
                    len(p),
                    m["correct"],
                    m["citation_precision"],
                    m["not_found_with_gold"],
                    m["not_found_without_gold"],
                ]
            )
            report.setdefault(label, {})[name] = m
        open_m = score(details[present_key], details[absent_key], 0.0, 0.0, 0.0)
        rows.append(
            [
                "all, thresholds open",
                len(details[present_key]),
                open_m["correct"],
                open_m["citation_precision"],
                open_m["not_found_with_gold"],
                open_m["not_found_without_gold"],
            ]
        )
        report[label]["thresholds"] = {
            "min_dense": dense,
            "min_keyword_coverage": coverage,
            "min_answerable": answerable,
        }
        table(
            f"{label}: min cosine {dense}, min keyword coverage {coverage}, min P(yes) {answerable}",
            [
                "questions",
                "n",
                "correct",
                "citation precision",
                "not found, gold present (wrong)",
                "not found, gold absent (right)",
            ],
            rows,
        )
        sweep = []
        for answerable_bar in ANSWERABLE:
            m = score(details[present_key], details[absent_key], dense, coverage, answerable_bar)
            sweep.append([answerable_bar, m["correct"], m["not_found_with_gold"], m["not_found_without_gold"]])
        table(
            f"{label}: the answerability bar alone (gate as chosen), all questions",
            ["min P(yes)", "correct", "wrong refusals", "right refusals"],
            sweep,
        )
    console.print("[dim]tuned on the even positions of the seeded sample, reported on the odd ones too[/]")
    save("refusal", report, out)


if __name__ == "__main__":
    app()
