"""The local LLM (llama.cpp through llama-cpp-python): deterministic greedy decoding, one generation at a time.

Answers must not depend on what was asked before. llama.cpp reuses the KV cache
of the previous prompt, and evaluating the same tokens in other batch splits
rounds differently, enough to flip a 1.5B model's greedy choice. So a prompt is
always evaluated the same way: its constant head (system prompt and examples,
`fixed` tokens) is evaluated alone once and kept; everything after it is
re-evaluated from that point on every call, in the same batches.

A `Session` then lets the caller read the next-token probabilities (e.g. of
"yes" against "no"), force text into the reply ("Evidence: [") and generate
greedily up to a stop string, all on the same cached context.

>>> from rag.llm import LLM
>>> llm = LLM.load()                                                    # doctest: +SKIP
>>> "".join(llm.stream([{"role": "user", "content": "Dis bonjour."}]))  # doctest: +SKIP
'Bonjour !'
>>> with llm.session(messages) as s:                                    # doctest: +SKIP
...     s.feed("Answerable:"); p = s.probabilities([" yes", " no"])
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

import numpy as np

from .errors import ModelMissing
from .models import llm_path
from .settings import Settings

if TYPE_CHECKING:  # llama_cpp is imported when the model loads, not with rag
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter
    from llama_cpp.llama_types import ChatCompletionRequestMessage


class LLM:
    def __init__(self, llama, name: str, settings: Settings):
        self.llama = llama
        self.name = name
        self.settings = settings
        # llama.cpp contexts are not thread-safe, and 2 cores serve one generation at a time anyway.
        self.lock = threading.RLock()
        self._head: list[int] = []  # the constant head currently held, evaluated alone
        self._snapshots: dict[tuple[int, ...], bytes] = {}  # KV cache of each head, as first evaluated
        self._formatter: Jinja2ChatFormatter | None = None

    @classmethod
    def load(cls, settings: Settings | None = None) -> LLM:
        settings = settings or Settings.from_env()
        path = llm_path(settings)
        from llama_cpp import Llama

        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=settings.n_ctx,
                n_threads=settings.threads,
                n_batch=512,
                use_mmap=settings.llm_mmap,
                verbose=False,
            )
        except (ValueError, RuntimeError) as e:
            raise ModelMissing(
                f"cannot load the LLM {path} ({e}); delete it and run `rag models prepare`, "
                "or set RAG_LLM_MODEL to a valid GGUF file"
            ) from None
        return cls(llama, path.name, settings)

    # ------------------------------------------------------------------ prompts
    def format(self, messages: list[dict]) -> str:
        """The model's own chat template applied to `messages`, ready for the assistant's reply."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            meta = self.llama.metadata
            template = meta.get("tokenizer.chat_template")
            if not template:
                raise ModelMissing(f"the LLM {self.name} has no chat template in its GGUF metadata")

            def piece(key: str) -> str:
                if key not in meta:
                    return ""
                return self.llama.detokenize([int(meta[key])], special=True).decode("utf-8", "ignore")

            self._formatter = Jinja2ChatFormatter(
                template, eos_token=piece("tokenizer.ggml.eos_token_id"), bos_token=piece("tokenizer.ggml.bos_token_id")
            )
        # our {role, content} dicts are the shape of llama_cpp's message TypedDicts
        return self._formatter(messages=cast("list[ChatCompletionRequestMessage]", messages)).prompt

    def tokens(self, text: str, special: bool = True) -> list[int]:
        return self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def count_tokens(self, text: str) -> int:
        return len(self.tokens(text))

    def fixed_length(self, messages: list[dict]) -> int:
        """How many leading tokens of `messages`' prompt do not depend on the last message's content."""
        other = [*messages[:-1], {**messages[-1], "content": "\x00" + messages[-1]["content"][::-1]}]
        a, b = self.tokens(self.format(messages)), self.tokens(self.format(other))
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def session(self, messages: list[dict], fixed: int | None = None) -> Iterator[Session]:
        """Evaluate `messages` deterministically and hold the model for reading and generating."""
        with self.lock:
            tokens = self.tokens(self.format(messages))
            fixed = self.fixed_length(messages) if fixed is None else fixed
            if len(tokens) + 8 > self.llama.n_ctx():
                raise ValueError(f"prompt of {len(tokens)} tokens does not fit the context ({self.llama.n_ctx()})")
            self._evaluate(tokens, fixed)
            yield Session(self)

    def _evaluate(self, tokens: list[int], fixed: int) -> None:
        ll = self.llama
        head = tokens[:fixed]
        if head != self._head or ll.n_tokens < len(head) or list(ll.input_ids[: len(head)]) != head:
            self._restore_or_evaluate(head)
        ll.n_tokens = len(head)
        ll.eval(tokens[len(head) :])

    def _restore_or_evaluate(self, head: list[int]) -> None:
        """Bring `head` into the KV cache exactly as when it was first evaluated alone.

        A snapshot of each head's cache (a few MB) is kept, so switching between prompts
        (answer, follow-up rewrite) neither recomputes nor re-rounds it.
        """
        import ctypes

        import llama_cpp

        ll, ctx, key = self.llama, self.llama._ctx.ctx, tuple(head)
        ll.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        self._head = []
        if key in self._snapshots:
            data = self._snapshots[key]
            llama_cpp.llama_state_seq_set_data(ctx, (ctypes.c_uint8 * len(data)).from_buffer_copy(data), len(data), 0)
            ll.input_ids[: len(head)] = head
            ll.n_tokens = len(head)
        else:
            ll.eval(head)
            size = llama_cpp.llama_state_seq_get_size(ctx, 0)
            buf = (ctypes.c_uint8 * size)()
            n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
            if len(self._snapshots) >= 4:
                self._snapshots.pop(next(iter(self._snapshots)))
            self._snapshots[key] = bytes(buf)[:n]
        self._head = head

    def logits(self) -> np.ndarray:
        """Next-token logits after the last evaluated token."""
        ll = self.llama
        return np.ctypeslib.as_array(ll._ctx.get_logits_ith(-1), shape=(ll.n_vocab(),)).copy()

    def is_end(self, token: int) -> bool:
        import llama_cpp

        return token == self.llama.token_eos() or bool(llama_cpp.llama_vocab_is_eog(self.llama._model.vocab, token))

    # ------------------------------------------------------------------ plain chat
    def stream(
        self, messages: list[dict], max_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield text deltas of the assistant's reply (greedy). Holds the lock while generating."""
        with self.session(messages) as s:
            yield from s.generate(max_tokens or self.settings.max_tokens, stop or [])

    def complete(self, messages: list[dict], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))


class Session:
    """A prompt evaluated in the LLM; read probabilities, force text, generate. Use inside `LLM.session`."""

    def __init__(self, llm: LLM):
        self.llm = llm
        self._pending: np.ndarray | None = None  # next-token logits restored after a branch was read

    def _logits(self) -> np.ndarray:
        return self._pending if self._pending is not None else self.llm.logits()

    def _eval(self, tokens: list[int]) -> None:
        self._pending = None
        self.llm.llama.eval(tokens)

    def feed(self, text: str) -> None:
        """Append text to the reply as if the model had written it."""
        tokens = self.llm.tokens(text, special=False)
        if tokens:
            self._eval(tokens)

    def probabilities(self, choices: list[str]) -> list[float]:
        """Probability of each choice's first token as the next token, normalised over the choices."""
        return _normalised(self._logits(), [self.llm.tokens(c, special=False)[0] for c in choices])

    def branch_probabilities(self, prefix: str, choices: list[str]) -> list[float]:
        """`probabilities(choices)` as if `prefix` had been fed; the session is left as it was.

        The prefix is evaluated, read, then taken back (llama.cpp drops the cache past `n_tokens`).
        """
        if not prefix:
            return self.probabilities(choices)
        ll, kept = self.llm.llama, self._logits()
        n = ll.n_tokens
        self._eval(self.llm.tokens(prefix, special=False))
        try:
            return self.probabilities(choices)
        finally:
            ll.n_tokens = n
            self._pending = kept

    def generate(self, max_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy continuation, yielded as text deltas, until an end token, a stop string or max_tokens."""
        ll = self.llm.llama
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = ""
        for _ in range(max_tokens):
            token = int(np.argmax(self._logits()))
            if self.llm.is_end(token):
                break
            piece = decoder.decode(ll.detokenize([token], special=False))
            cut = min(
                (i for i in ((text + piece).find(s, max(len(text) - len(s), 0)) for s in stop if s) if i >= 0),
                default=-1,
            )
            if cut >= 0:
                if cut > len(text):
                    yield (text + piece)[len(text) : cut]
                return
            self._eval([token])
            text += piece
            if piece:
                yield piece


def _normalised(logits: np.ndarray, tokens: list[int]) -> list[float]:
    x = logits[tokens].astype(np.float64)
    e = np.exp(x - x.max())
    return list(e / e.sum())
