"""The local LLM (llama.cpp through llama-cpp-python), streaming, one generation at a time.

llama-cpp-python keeps the KV cache of the previous prompt and re-evaluates
only what differs after the longest common prefix; prompts therefore start
with a constant system message so that part is never recomputed.

>>> from rag.llm import LLM
>>> llm = LLM.load()                                                    # doctest: +SKIP
>>> "".join(llm.stream([{"role": "user", "content": "Dis bonjour."}]))  # doctest: +SKIP
'Bonjour !'
"""
from __future__ import annotations

import threading
from typing import Iterator

from .errors import ModelMissing
from .models import llm_path
from .settings import Settings


class LLM:
    def __init__(self, llama, name: str, settings: Settings):
        self.llama = llama
        self.name = name
        self.settings = settings
        # llama.cpp contexts are not thread-safe, and 2 cores serve one generation at a time anyway.
        self.lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings | None = None) -> "LLM":
        settings = settings or Settings.from_env()
        path = llm_path(settings)
        from llama_cpp import Llama

        try:
            llama = Llama(model_path=str(path), n_ctx=settings.n_ctx, n_threads=settings.threads,
                          n_batch=512, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise ModelMissing(f"cannot load the LLM {path} ({e}); delete it and run `rag models prepare`, "
                               "or set RAG_LLM_MODEL to a valid GGUF file") from None
        return cls(llama, path.name, settings)

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, messages: list[dict], max_tokens: int | None = None,
               stop: list[str] | None = None) -> Iterator[str]:
        """Yield text deltas of the assistant's reply. Holds the lock while generating."""
        with self.lock:
            chunks = self.llama.create_chat_completion(
                messages, stream=True, temperature=self.settings.temperature, top_p=1.0, top_k=1,
                repeat_penalty=1.05, max_tokens=max_tokens or self.settings.max_tokens, stop=stop)
            for chunk in chunks:
                delta = chunk["choices"][0]["delta"].get("content")
                if delta:
                    yield delta

    def complete(self, messages: list[dict], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))
