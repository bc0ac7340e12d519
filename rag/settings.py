"""One settings object, with documented defaults.

Every field can be overridden by an environment variable `RAG_<FIELD>` (e.g.
`RAG_INDEX_DIR=/data/index`, `RAG_TOP_K=8`), and the CLI flags override both.

>>> from rag.settings import Settings
>>> s = Settings.from_env(top_k=5)
>>> s.top_k
5
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path


def _default_models_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return os.path.join(base, "briefing-rag", "models")


@dataclass(frozen=True)
class Settings:
    # --- where things live ---------------------------------------------------
    index_dir: str = "index"            # built index (relative to the working directory)
    models_dir: str = dataclasses.field(default_factory=_default_models_dir)
    # embedder: a sentence-transformers folder; empty = the converted multilingual-e5-small
    embed_model: str = ""
    # LLM: a GGUF file; empty = the Qwen2.5-Coder-1.5B-Instruct Q4_K_M from the PyPI parts
    llm_model: str = ""

    # Larger files are skipped with a reason: embedding 50 MB of text takes hours on 2 cores.
    max_file_mb: float = 20.0

    # --- chunking ------------------------------------------------------------
    chunk_words: int = 100              # target words per chunk (sentences are never cut)
    chunk_max_words: int = 160          # hard cap, except a single sentence longer than it
    # On PIAF dev (bench/tune.py) an overlap of 2 raised recall@1 0.726 -> 0.737 and recall within
    # 3,000 characters 0.909 -> 0.915, but with it the 1.5B model answered the user's own seed
    # question from the wrong passage (tests/test_answering.py), so 1 stays. 60-word chunks
    # lost recall@5 (0.885), 150-word ones lost recall within 3,000 characters (0.904).
    chunk_overlap: int = 1              # sentences repeated from the previous chunk

    # --- retrieval -----------------------------------------------------------
    top_k: int = 4                      # passages given to the LLM (and returned by search)
    candidates: int = 50                # per-retriever depth before fusion
    rrf_k: int = 60                     # reciprocal rank fusion constant
    dense_weight: float = 1.0           # RRF weight of the dense ranking
    bm25_weight: float = 1.0            # RRF weight of the keyword ranking
    embed_batch_size: int = 32

    # --- grounding -----------------------------------------------------------
    # Evidence gate (rag/grounding.py): try to answer when a passage holds min_keyword_coverage
    # of the question's content words, or when the best e5 cosine reaches min_dense_score and
    # no key term of the question (name, acronym, number) is missing from all passages.
    # A question in another language than the passages (English over French briefings) scores
    # lower cosines, hence its own bar. Both bars and the answerability bars below were chosen
    # by `python -m bench.refusal` on one `rag eval` run logged with them open (PIAF dev, 50
    # French and 30 English questions, tuned on one half, reported on the other; bench/README.md).
    # The old cross-language bar 0.80 wrongly refused 47 % of answerable English questions;
    # 0.76 wrongly refuses 7 %.
    min_dense_score: float = 0.82
    min_dense_score_cross: float = 0.76
    min_keyword_coverage: float = 0.75
    # The model's own answerability: after the sentences and the question, the probability of
    # " yes" against " no" to "Answerable:". Below the bar the answer is "not found" without
    # generating. On PIAF dev it separates poorly once the gate has run: any bar up to 0.4
    # (0.5 across languages) changed nothing measured, higher ones refused answerable questions
    # faster than unanswerable ones. The bars sit at the top of that harmless range.
    min_answerable: float = 0.4
    min_answerable_cross: float = 0.5

    # --- generation ----------------------------------------------------------
    passage_sentences: int = 3          # sentences of each passage shown to the LLM (closest to the question; 0 = all)
    n_ctx: int = 4096
    n_threads: int = 0                  # 0 = all cores
    max_tokens: int = 160
    temperature: float = 0.0
    max_question_chars: int = 2000      # longer questions are rejected with a clear error

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Defaults, then `RAG_*` environment variables, then explicit overrides (None ignored)."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(f"RAG_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def threads(self) -> int:
        return self.n_threads or (os.cpu_count() or 1)


def _coerce(type_name, raw: str):
    t = type_name if isinstance(type_name, str) else type_name.__name__
    if t == "int":
        return int(raw)
    if t == "float":
        return float(raw)
    return raw
