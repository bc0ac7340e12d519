"""The LLM on OpenAI-compatible servers (`RAG_LLM_URL` / `--llm-url`): the `Generator` of rag/backends.py over HTTP.

The assistant asks the LLM for more than chat replies: it reads the probability of
" yes" to "Answerable:", forces text into the reply ("Evidence: [") and generates up
to stop strings (rag/answering.py). So the prompt is built here, with the chat
template applied client-side, and sent as raw text to the legacy completions
endpoint; a session is that text, growing with what is fed and generated.

Calls and the HTTP requests they make (base URL = one of RAG_LLM_URL, e.g. http://gpu1:8080/v1):

- `connect`: GET {base}/models on each server (is it OpenAI-compatible, which model).
- `format(messages)`: none. The chat template of the project's GGUF when the file is here
  (`rag models prepare`; the same code as the in-process LLM, so the same prompt text),
  else ChatML with Qwen's default system line, which is what Qwen2.5's template renders
  for these messages. The prompts and thresholds were tuned on Qwen2.5; a server running
  another model family would need both retuned, not only a template setting.
- `count_tokens(text)`: POST {root}/extras/tokenize (llama-cpp-python) or {root}/tokenize
  (llama.cpp, vLLM), root = base without /v1; else the local GGUF's tokenizer; else a
  conservative estimate (`estimate_tokens`).
- `Session.probabilities(choices)`: POST {base}/completions with the session text,
  max_tokens 1, logprobs 10, streamed; the top logprobs of the first token, normalised over
  each choice's first token (the longest listed token that begins the choice).
- `Session.generate(max_tokens, stop)` and `stream`: POST {base}/completions with
  stream true, temperature 0 (greedy), stop, max_tokens, a fixed seed, and neutral
  penalties (llama-cpp-python's default repeat_penalty is 1.1, which changes greedy text).

A server must support: POST /v1/completions with a text prompt, SSE streaming, `stop`,
`max_tokens`, temperature 0; GET /v1/models. Optional: `logprobs` (llama-cpp-python needs
`--logits_all true`, its default; llama.cpp's server maps `logprobs` to `n_probs`; vLLM
returns up to --max-logprobs, 20 by default) and a tokenize endpoint. `--logits_all true`
costs llama-cpp-python memory and time: it keeps n_ctx x n_vocab float32 scores (2.5 GB
reserved at 4,096 x 151,936; the server went from 1.3 to 3.0 GB RSS with a 1,700-token
prompt) and computes the output layer for every prompt token. Without logprobs
the answerability check cannot run: one warning names what the server lacks,
`supports_logprobs` becomes False (for status pages) and every question that passed the
embedding evidence gate is treated as answerable (`probabilities` gives the first choice 1).
Ollama's /v1/completions wraps the prompt in the model's own template (it has no raw
mode there) and has no logprobs: serve the model with a pass-through template
(`TEMPLATE {{ .Prompt }}`, `PARAMETER repeat_penalty 1` in its Modelfile).

Several URLs are tried in order, always starting with the first that is up (no rotation:
consecutive requests of one answer then reuse the same server's prompt cache, and one
prompt gets one server's arithmetic). A server that refuses the connection, times out
(connect 3 s, then `settings.llm_timeout` without a byte) or answers 5xx is skipped for
30 s and the next one answers. A server that dies mid-stream is replaced by the next one,
which continues from the prompt plus the text already generated: greedy decoding gives
the same continuation, so the answer is not cut. When none answers, `LLMUnavailable`
says which URLs were tried and why (passwords and query values masked).
`RAG_LLM_API_KEY` is sent as `Authorization: Bearer` and never shown.

Determinism. The in-process LLM evaluates every prompt in the same batches (rag/llm.py)
because the batch split alone moves this 1.5B model: in process, P(yes) of one short
prompt is 0.379 to 0.425 depending on where its batches are cut. A server cuts its own:
llama-cpp-python's `Llama.generate` always reuses the longest token prefix shared with
the previous request and evaluates only the rest (no flag turns this off; `--cache` adds
a state cache on top: leave it off). So the first request of an answer depends on the
request before it: one answerability prompt gave logprob(" yes") -0.0840 after an
unrelated prompt and -0.0978 after another question's (P 0.919 and 0.907). Within an
answer each request extends the previous one by the fed text, as in process. The README
question gets the same answer and citation on both paths (tests/test_llm_server.py); a
question whose P(yes) sits on a threshold can go either way, and can differ from one
asking to the next. llama.cpp's server documents the same (`cache_prompt`, default true,
"can cause nondeterministic results"; false re-evaluates every prompt); vLLM is
batch-invariant only with VLLM_BATCH_INVARIANT=1 on recent GPUs.

Recommended llama-cpp-python server for this project (one model, one request at a time,
logprobs on, the in-process batch size, all cores: its default is half, and no mapping):

    python -m llama_cpp.server --model ~/.cache/briefing-rag/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf \\
        --host 0.0.0.0 --port 8080 --n_ctx 4096 --n_batch 512 --n_threads <cores> \\
        --logits_all true --use_mmap false --interrupt_requests false

(`--interrupt_requests false`: by default a new request cuts the stream being served;
the client would continue it, but twice the work.) Its context must hold RAG_N_CTX.

>>> from rag.llm_server import ServerLLM
>>> llm = ServerLLM.connect(Settings(llm_url="http://127.0.0.1:8080/v1"))     # doctest: +SKIP
>>> with llm.session(messages) as s:                                          # doctest: +SKIP
...     s.feed("Answerable:"); p = s.probabilities([" yes", " no"])
>>> mask_url("http://bob:secret@gpu1:8080/v1?api_key=abc")
'http://bob:***@gpu1:8080/v1?api_key=***'
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx

from .errors import LLMRejected, LLMUnavailable, ModelMissing
from .models import llm_path
from .settings import Settings

if TYPE_CHECKING:
    from .llm import LLM

log = logging.getLogger(__name__)

SEED = 1234  # greedy decoding ignores it; a server that samples anyway then samples the same way
TOP_LOGPROBS = 10  # vLLM allows 20 by default, OpenAI's own API 5; " yes" and " no" sit in the top few
CONNECT_TIMEOUT = 3.0
COOLDOWN = 30.0  # seconds a failed server is tried only after the others
SETTING = "RAG_LLM_URL / --llm-url"
# Qwen2's pre-tokenizer, with Python's classes: letters = [^\W\d_]
_PRE_TOKENS = re.compile(r"[^\r\n\w]?[^\W\d_]+|\d|(?:[^\s\w]|_)+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."


@dataclass
class Server:
    """One base URL of RAG_LLM_URL, without its credentials (sent as basic auth, never printed)."""

    url: str  # e.g. http://gpu1:8080/v1
    shown: str  # safe to print
    auth: httpx.BasicAuth | None = None
    model: str = ""  # the id GET /models gave, sent as "model" (Ollama and vLLM need it)
    probed: bool = False  # GET /models answered (else asked again before the next request)
    down_until: float = 0.0

    @property
    def root(self) -> str:
        """Where the non-OpenAI endpoints (tokenize) live: the base without its /v1."""
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url


@dataclass
class Chunk:
    """One streamed completion event."""

    text: str = ""
    finish: str | None = None
    logprobs: dict | None = None


class _Broken(Exception):
    """A stream stopped after it had started: the caller continues it elsewhere."""


class _ServerError(Exception):
    """An error sent inside a 200 stream."""


def mask_url(url: str) -> str:
    """`url` safe to print: password and query values replaced by ***."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    if parts.username is not None:
        host = f"{parts.username}:***@{host}" if parts.password is not None else f"{parts.username}@{host}"
    shown = f"{parts.scheme}://{host}{parts.path}"
    if parts.query:
        shown += "?" + "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return shown


def parse_servers(llm_url: str) -> list[Server]:
    """The servers of a comma-separated RAG_LLM_URL; a URL without a path gets /v1.

    >>> [s.url for s in parse_servers("http://a:8080/v1/, https://b")]
    ['http://a:8080/v1', 'https://b/v1']
    """
    servers = []
    for raw in (u.strip() for u in llm_url.split(",")):
        if not raw:
            continue
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise LLMUnavailable(f"{SETTING}: {mask_url(raw)!r} is not an http(s) URL (e.g. http://gpu1:8080/v1)")
        path = parts.path.rstrip("/") or "/v1"
        query = f"?{parts.query}" if parts.query else ""
        url = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{path}{query}"
        auth = (
            httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
            if parts.username is not None
            else None
        )
        shown = mask_url(f"{parts.scheme}://{parts.netloc}{path}{query}")
        servers.append(Server(url=url, shown=shown, auth=auth))
    if not servers:
        raise LLMUnavailable(f"{SETTING} is empty: give one or more server URLs, e.g. http://gpu1:8080/v1")
    return servers


def chatml(messages: list[dict]) -> str:
    """ChatML as Qwen2.5's template renders it (its default system line when there is none)."""
    if not messages or messages[0]["role"] != "system":
        messages = [{"role": "system", "content": _QWEN_SYSTEM}, *messages]
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def estimate_tokens(text: str) -> int:
    """At least as many tokens as Qwen's tokenizer gives, to fit prompts when no tokenizer is at hand.

    Text is cut as Qwen's pre-tokenizer cuts it (words with their leading space, single
    digits, punctuation runs, spaces); each piece counts one token per 3 bytes, at least
    one. On the prompts and sample briefings that is 1.4-2 times the real count, and never
    less on dates, numbers, names or markup (tests/test_llm_server.py).

    >>> estimate_tokens("Le 20 mai")
    6
    """
    return sum(max(1, math.ceil(len(piece.encode("utf-8")) / 3)) for piece in _PRE_TOKENS.findall(text))


def sse_chunks(lines: Iterable[str]) -> Iterator[Chunk]:
    """The completion chunks of a server-sent event stream, until `data: [DONE]`.

    >>> [c.text for c in sse_chunks(['data: {"choices": [{"text": "Hi"}]}', "", ": ping", "data: [DONE]"])]
    ['Hi']
    """
    data: list[str] = []

    def dispatch() -> Chunk | None:
        payload = "\n".join(data).strip()
        data.clear()
        if not payload:
            return None
        try:
            event = json.loads(payload)
        except ValueError:
            raise _ServerError(f"not JSON in the stream: {payload[:80]!r}") from None
        if isinstance(event, dict) and event.get("error"):
            raise _ServerError(_error_text(event))
        choices = event.get("choices") if isinstance(event, dict) else None
        if not choices:
            return Chunk()  # e.g. a usage-only event
        c = choices[0]
        return Chunk(text=c.get("text") or "", finish=c.get("finish_reason"), logprobs=c.get("logprobs"))

    for line in lines:
        if line.startswith("data:"):
            if line[5:].strip() == "[DONE]":
                return
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("error:"):  # llama.cpp's server streams its errors so
            raise _ServerError(_one_line(line[6:]))
        elif not line.strip() and data:
            chunk = dispatch()
            if chunk is not None:
                yield chunk
        # ": ping" comments, "event:" and "id:" lines: nothing to read
    if data:
        chunk = dispatch()
        if chunk is not None:
            yield chunk


def top_logprobs(logprobs: dict) -> dict[str, float] | None:
    """Token text -> logprob at the first position, from the legacy completions shape
    (llama-cpp-python, vLLM: `top_logprobs: [{token: logprob}]`) or the chat shape
    (llama.cpp: `content: [{token, logprob, top_logprobs: [{token, logprob}]}]`)."""
    top: dict[str, float] = {}
    if isinstance(logprobs.get("top_logprobs"), list) and logprobs["top_logprobs"]:
        first = logprobs["top_logprobs"][0]
        if isinstance(first, dict):
            top = {str(k): float(v) for k, v in first.items() if v is not None}
        elif isinstance(first, list):
            top = {str(x["token"]): float(x["logprob"]) for x in first if isinstance(x, dict) and "token" in x}
        tokens, values = logprobs.get("tokens") or [], logprobs.get("token_logprobs") or []
        if tokens and values and values[0] is not None:
            top.setdefault(str(tokens[0]), float(values[0]))
    elif isinstance(logprobs.get("content"), list) and logprobs["content"]:
        first = logprobs["content"][0]
        top = {str(x["token"]): float(x["logprob"]) for x in first.get("top_logprobs") or [] if "token" in x}
        if "token" in first and first.get("logprob") is not None:
            top.setdefault(str(first["token"]), float(first["logprob"]))
    return top or None


def normalise(top: dict[str, float], choices: Sequence[str]) -> list[float]:
    """Probabilities of the choices' first tokens, normalised over the choices.

    A choice's first token is the longest listed token that begins it; a choice whose
    first token is not listed gets the smallest listed logprob (an upper bound).

    >>> [round(p, 3) for p in normalise({" yes": -0.1, " no": -2.5, " Yes": -3.0}, [" yes", " no"])]
    [0.917, 0.083]
    """
    floor = min(top.values())

    def logprob(choice: str) -> float:
        keys = [k for k in top if k and choice.startswith(k)]
        return top[max(keys, key=len)] if keys else floor

    x = [logprob(c) for c in choices]
    m = max(x)
    e = [math.exp(v - m) for v in x]
    return [v / sum(e) for v in e]


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error_text(body: object) -> str:
    """The message of an error body: OpenAI's {"error": {"message"}}, {"error": "..."}, FastAPI's {"detail"}."""
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _one_line(error if isinstance(error, str) else json.dumps(error))
    return _one_line(body if isinstance(body, str) else json.dumps(body))


def _describe(e: Exception, timeout: float) -> str:
    """A transport failure in a few words."""
    if isinstance(e, httpx.ConnectTimeout):
        return f"no connection within {CONNECT_TIMEOUT:g} s"
    if isinstance(e, httpx.ConnectError):
        return "connection refused" if "refused" in str(e).lower() else f"cannot connect ({_one_line(str(e), 80)})"
    if isinstance(e, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (RAG_LLM_TIMEOUT)"
    if isinstance(e, httpx.RemoteProtocolError):
        return "connection closed by the server"
    if isinstance(e, _ServerError):
        return f"server error: {e}"
    return _one_line(f"{type(e).__name__}: {e}", 100)


def _unavailable(failures: list[tuple[str, str]]) -> LLMUnavailable:
    tried = "; ".join(f"{url}: {why}" for url, why in failures)
    return LLMUnavailable(f"no LLM server answered ({tried}): start one, or fix {SETTING}")


class ServerLLM:
    """`rag.backends.Generator` over OpenAI-compatible completion servers; thread-safe (httpx's pool)."""

    def __init__(self, servers: list[Server], settings: Settings, local: LLM | None = None):
        self.servers = servers
        self.settings = settings
        self.local = local  # the project's GGUF read for its template and tokenizer only (vocab_only)
        self.name = os.path.basename(servers[0].model.rstrip("/")) or "server"
        self.location = ", ".join(s.shown for s in servers)  # safe to print
        self.supports_logprobs: bool | None = None  # None until the first `probabilities`
        self.supports_tokenize: bool | None = None  # None until the first `count_tokens`
        self.limitations: list[str] = []  # one line per missing capability, for status pages
        self._tokenize_path: str | None = None
        self._lock = threading.Lock()
        key = os.environ.get("RAG_LLM_API_KEY", "")
        self.client = httpx.Client(
            timeout=httpx.Timeout(settings.llm_timeout, connect=CONNECT_TIMEOUT),
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )

    @classmethod
    def connect(cls, settings: Settings | None = None) -> ServerLLM:
        """Check every server of `settings.llm_url` (GET /models); LLMUnavailable when none answers.

        A server that is down now is kept (tried after the others); one that answers
        but is not an OpenAI-compatible API is dropped with a warning.
        """
        settings = settings or Settings.from_env()
        llm = cls(parse_servers(settings.llm_url), settings, _local_vocabulary(settings))
        failures: list[tuple[str, str]] = []
        usable = []
        for server in llm.servers:
            why, reachable = llm._probe(server)
            if why is not None:
                failures.append((server.shown, why))
            if why is None or not reachable:
                usable.append(server)  # one that is down now may come back
            if why is not None and not reachable:
                llm._down(server)
        if len(failures) == len(llm.servers):
            raise _unavailable(failures)
        for url, why in failures:
            log.warning("LLM server %s is not used now: %s", url, why)
        llm.servers = usable
        llm.location = ", ".join(s.shown for s in usable)
        llm.name = os.path.basename(next((s.model for s in usable if s.model), "").rstrip("/")) or "server"
        return llm

    def _probe(self, server: Server) -> tuple[str | None, bool]:
        """(why the server is unusable or None, whether it answered at all)."""
        try:
            r = self.client.get(server.url + "/models", auth=server.auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.TransportError as e:
            return _describe(e, self.settings.llm_timeout), False
        if r.status_code in (401, 403):
            return f"unauthorized (HTTP {r.status_code}): check RAG_LLM_API_KEY", True
        if r.status_code >= 500:
            return f"HTTP {r.status_code}: {_error_text(r.text)}", False
        try:
            data = r.json()
            models = [m["id"] for m in data["data"]] if r.status_code == 200 else None
        except (ValueError, KeyError, TypeError):
            models = None
        if models is None:
            return f"not an OpenAI-compatible API (GET {server.shown}/models: HTTP {r.status_code})", True
        server.model, server.probed = (str(models[0]) if models else ""), True
        return None, True

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------------ prompts
    def format(self, messages: list[dict]) -> str:
        """The chat template applied to `messages`, ready for the assistant's reply."""
        return self.local.format(messages) if self.local is not None else chatml(messages)

    def count_tokens(self, text: str) -> int:
        """Tokens of `text`: the server's tokenizer, else the local GGUF's, else an overestimate."""
        n = self._server_count(text)
        if n is not None:
            return n
        if self.local is not None:
            return self.local.count_tokens(text)
        return estimate_tokens(text)

    def _server_count(self, text: str) -> int | None:
        if self.supports_tokenize is False:
            return None
        paths = [self._tokenize_path] if self._tokenize_path else ["/extras/tokenize", "/tokenize"]
        for path in paths:
            # llama-cpp-python reads "input"; llama.cpp "content"; vLLM "prompt" (and ignores the others)
            body = (
                {"input": text}
                if path == "/extras/tokenize"
                else {"content": text, "prompt": text, "add_special": False, "add_special_tokens": False}
            )
            try:
                status, data, _ = self._post(path, body, root=True)
            except LLMUnavailable:
                return None  # down: the completion request that follows will say so
            n = None
            if status == 200 and isinstance(data, dict):
                tokens, count = data.get("tokens"), data.get("count")
                n = len(tokens) if isinstance(tokens, list) else count if isinstance(count, int) else None
            if n is not None:
                self._tokenize_path, self.supports_tokenize = path, True
                return n
        self.supports_tokenize = False
        log.info("LLM server %s has no tokenize endpoint: tokens are counted locally", self.servers[0].shown)
        return None

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def session(self, messages: list[dict], fixed: int | None = None) -> Iterator[ServerSession]:
        """A session on `messages`' prompt. `fixed` is ignored: the server manages its own cache."""
        yield ServerSession(self, self.format(messages))

    def stream(
        self, messages: list[dict], max_tokens: int | None = None, stop: list[str] | None = None
    ) -> Iterator[str]:
        """Yield text deltas of the assistant's reply (greedy)."""
        yield from self.generate(self.format(messages), max_tokens or self.settings.max_tokens, stop or [])

    def complete(self, messages: list[dict], max_tokens: int | None = None) -> str:
        return "".join(self.stream(messages, max_tokens))

    # ------------------------------------------------------------------ requests
    def _body(self, prompt: str, max_tokens: int, stop: Sequence[str] = (), logprobs: int | None = None) -> dict:
        body: dict = {
            "prompt": prompt,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_p": 1.0,
            "seed": SEED,
            "stream": True,
            # llama.cpp's names, ignored elsewhere: llama-cpp-python's default repeat_penalty is 1.1
            "repeat_penalty": 1.0,
            "frequency_penalty": 0.0,
            "presence_penalty": 0.0,
        }
        if stop:
            body["stop"] = list(stop)
        if logprobs:
            body["logprobs"] = logprobs
        return body

    def generate(self, prompt: str, max_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy continuation of `prompt` as text deltas, until an end token, a stop string or max_tokens.

        A server that dies mid-stream is replaced: the next one continues from the prompt
        plus the text so far. `max_tokens` counts streamed pieces (a piece holding two
        tokens, e.g. a split UTF-8 character, counts once).
        """
        stop = [s for s in stop if s]
        text, produced, resumed = "", 0, 0
        while produced < max_tokens:
            try:
                with closing(self._stream(self._body(prompt + text, max_tokens - produced, stop))) as chunks:
                    for chunk in chunks:
                        if chunk.text:
                            whole = text + chunk.text
                            # the server applies `stop` too; this catches one that does not
                            found = (whole.find(s, max(len(text) - len(s) + 1, 0)) for s in stop)
                            cut = min((i for i in found if i >= 0), default=-1)
                            if cut >= 0:
                                if cut > len(text):
                                    yield whole[len(text) : cut]
                                return
                            text, produced = whole, produced + 1
                            yield chunk.text
                        if chunk.finish or produced >= max_tokens:  # the server counts too; this, one that does not
                            return
            except _Broken as e:
                resumed += 1
                if resumed > len(self.servers):
                    raise LLMUnavailable(f"the LLM servers kept failing mid-answer ({e}): fix {SETTING}") from None
                log.warning("%s after %d pieces: continuing on the next server", e, produced)

    def probabilities(self, prompt: str, choices: Sequence[str]) -> list[float]:
        """Next-token probability of each choice's first token after `prompt`, normalised over the choices."""
        if not choices:
            return []
        if self.supports_logprobs is False:
            return _first(choices)
        body = self._body(prompt, 1, logprobs=TOP_LOGPROBS)
        for attempt in range(len(self.servers) + 1):
            try:
                top = self._top_logprobs(body)
                break
            except _Broken as e:
                if attempt == len(self.servers):
                    raise LLMUnavailable(f"the LLM servers kept failing ({e}): fix {SETTING}") from None
            except LLMRejected as e:
                if _about_logprobs(str(e)):  # e.g. vLLM above its --max-logprobs
                    return self._without_logprobs(str(e), choices)
                raise
        if isinstance(top, str):
            return self._without_logprobs(top, choices)
        self.supports_logprobs = True
        return normalise(top, choices)

    def _top_logprobs(self, body: dict) -> dict[str, float] | str:
        """The top logprobs of the first completion token, or why the server gave none."""
        seen = False
        with closing(self._stream(body, empty_ok=True)) as chunks:
            for chunk in chunks:
                seen = True
                if chunk.logprobs:
                    top = top_logprobs(chunk.logprobs)
                    if top:
                        return top
        if seen:
            return "its completions carry no logprobs"
        # llama-cpp-python without --logits_all streams nothing at all; unstreamed, it says why
        status, data, text = self._post("/completions", {**body, "stream": False}, keep=_about_logprobs)
        message = _error_text(data if data is not None else text)
        if status != 200:
            if _about_logprobs(text):
                return message
            raise LLMRejected(f"the LLM server refused the request: {message}")
        choice = ((data or {}).get("choices") or [{}])[0] if isinstance(data, dict) else {}
        logprobs = choice.get("logprobs") if isinstance(choice, dict) else None
        return (top_logprobs(logprobs) if isinstance(logprobs, dict) else None) or "its completions carry no logprobs"

    def _without_logprobs(self, reason: str, choices: Sequence[str]) -> list[float]:
        with self._lock:
            if self.supports_logprobs is not False:
                self.supports_logprobs = False
                message = (
                    f"the LLM server {self.servers[0].shown} gives no logprobs ({_one_line(reason, 120)}): "
                    "the answerability check is skipped and every question that passes the evidence gate is "
                    "answered (llama-cpp-python: start it with --logits_all true)"
                )
                self.limitations.append(message)
                log.warning(message)
        return _first(choices)

    def _order(self) -> list[Server]:
        """Servers to try: those up, in the configured order, then those that failed lately."""
        now = time.monotonic()
        up = [s for s in self.servers if s.down_until <= now]
        return up + sorted((s for s in self.servers if s.down_until > now), key=lambda s: s.down_until)

    def _down(self, server: Server) -> None:
        server.down_until = time.monotonic() + COOLDOWN

    def _failure(self, server: Server, r: httpx.Response) -> str:
        """Why a non-200 answer makes this server unusable; raises LLMRejected when no server would do better."""
        try:
            body: object = r.json()
        except ValueError:
            body = r.text
        message = _error_text(body)
        if r.status_code in (400, 413, 422):
            hint = f" (its context must hold RAG_N_CTX={self.settings.n_ctx} tokens)" if "context" in message else ""
            raise LLMRejected(f"the LLM server {server.shown} refused the request: {message}{hint}")
        if r.status_code in (401, 403):
            return f"unauthorized (HTTP {r.status_code}): check RAG_LLM_API_KEY"
        if r.status_code in (404, 405):
            return f"no completions endpoint (HTTP {r.status_code}): not an OpenAI-compatible API, or the URL lacks /v1"
        return f"HTTP {r.status_code}: {message}"

    def _send(self, server: Server, path: str, body: dict, root: bool = False, stream: bool = False) -> httpx.Response:
        """POST `body` (with the server's model) to one server; once more when the server had closed or
        reset the kept-alive connection before answering (as llama-cpp-python does after a failed stream)."""
        if not server.probed:  # it was down when we connected: learn its model name now
            self._probe(server)
        request = self.client.build_request(
            "POST",
            (server.root if root else server.url) + path,
            json={**body, "model": server.model} if server.model else body,
        )
        auth = server.auth or httpx.USE_CLIENT_DEFAULT
        try:
            return self.client.send(request, stream=stream, auth=auth)
        except (httpx.RemoteProtocolError, httpx.ReadError):  # nothing was answered: sending again is safe
            return self.client.send(request, stream=stream, auth=auth)

    def _stream(self, body: dict, empty_ok: bool = False) -> Generator[Chunk, None, None]:
        """Chunks of one streamed completion, from the first server that starts answering.

        Ends after the chunk that has a finish_reason; raises _Broken when the server fails
        after the first chunk (a stream that ends without finish_reason was cut, e.g. by
        llama-cpp-python's interrupt_requests); an empty stream is a failure unless `empty_ok`.
        """
        failures: list[tuple[str, str]] = []
        for server in self._order():
            started = False
            try:
                with closing(self._send(server, "/completions", body, stream=True)) as r:
                    if r.status_code != 200:
                        r.read()
                        failures.append((server.shown, self._failure(server, r)))
                        self._down(server)
                        continue
                    try:
                        for chunk in sse_chunks(r.iter_lines()):
                            started = True
                            yield chunk
                            if chunk.finish:
                                server.down_until = 0.0
                                return
                    except (httpx.TransportError, _ServerError) as e:
                        if not started:
                            raise
                        self._down(server)
                        raise _Broken(f"LLM server {server.shown}: {_describe(e, self.settings.llm_timeout)}") from None
                if started:
                    self._down(server)
                    raise _Broken(f"LLM server {server.shown}: the stream ended before the completion did")
                if empty_ok:
                    return
                failures.append((server.shown, "an empty stream"))
                self._down(server)
            except (httpx.TransportError, _ServerError) as e:
                failures.append((server.shown, _describe(e, self.settings.llm_timeout)))
                self._down(server)
        raise _unavailable(failures)

    def _post(
        self, path: str, body: dict, root: bool = False, keep: Callable[[str], bool] | None = None
    ) -> tuple[int, object, str]:
        """(status, JSON or None, text) of a POST from the first server that answers; 5xx and
        unreachable servers are skipped unless `keep(text)` says the answer is the one wanted."""
        failures: list[tuple[str, str]] = []
        for server in self._order():
            try:
                r = self._send(server, path, body, root=root)
            except httpx.TransportError as e:
                failures.append((server.shown, _describe(e, self.settings.llm_timeout)))
                self._down(server)
                continue
            if (r.status_code >= 500 or r.status_code in (401, 403, 429)) and not (keep and keep(r.text)):
                failures.append((server.shown, f"HTTP {r.status_code}: {_error_text(r.text)}"))
                self._down(server)
                continue
            try:
                data: object = r.json()
            except ValueError:
                data = None
            return r.status_code, data, r.text
        raise _unavailable(failures)


class ServerSession:
    """A prompt on the server side: the text sent grows with what is fed and generated. Use inside `ServerLLM.session`."""

    def __init__(self, llm: ServerLLM, prompt: str):
        self.llm = llm
        self.text = prompt

    def feed(self, text: str) -> None:
        """Append text to the reply as if the model had written it."""
        self.text += text

    def probabilities(self, choices: list[str]) -> list[float]:
        """Probability of each choice's first token as the next token, normalised over the choices."""
        return self.llm.probabilities(self.text, choices)

    def branch_probabilities(self, prefix: str, choices: list[str]) -> list[float]:
        """`probabilities(choices)` as if `prefix` had been fed; the session is left as it was.

        Without logprobs nothing is known: all choices are equally likely (the caller's other
        evidence decides), not the first one as for "Answerable: yes".
        """
        if self.llm.supports_logprobs is False:
            return [1.0 / len(choices)] * len(choices)
        return self.llm.probabilities(self.text + prefix, choices)

    def generate(self, max_tokens: int, stop: Sequence[str] = ()) -> Iterator[str]:
        """Greedy continuation, yielded as text deltas; the text becomes part of the session."""
        for delta in self.llm.generate(self.text, max_tokens, stop):
            self.text += delta
            yield delta


def _first(choices: Sequence[str]) -> list[float]:
    """Without logprobs: the first choice (the caller lists the default first, " yes" before " no")."""
    return [1.0] + [0.0] * (len(choices) - 1)


def _about_logprobs(text: str) -> bool:
    return bool(re.search(r"logprob|logits_all|n_probs", text, re.I))


def _local_vocabulary(settings: Settings) -> LLM | None:
    """The project's GGUF, vocabulary only (~0.5 s, no weights): its chat template and tokenizer."""
    try:
        path = llm_path(settings)
    except ModelMissing:
        return None
    from llama_cpp import Llama
    from llama_cpp._utils import suppress_stdout_stderr

    from .llm import LLM

    try:
        with suppress_stdout_stderr(disable=False):  # llama.cpp prints a context warning even when not verbose
            llama = Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as e:
        log.warning("cannot read the template of %s (%s): ChatML is used", path, e)
        return None
    return LLM(llama, path.name, settings)
