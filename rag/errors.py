"""Exceptions with messages a user can act on.

Every error a user can cause is a `RagError`; the CLI prints its message on one
line and exits non-zero instead of showing a traceback.
"""


class RagError(Exception):
    """Base class: the message says what went wrong and what to do."""


class FolderNotFound(RagError):
    pass


class NothingToIndex(RagError):
    """The folder has no readable briefing at all."""


class IndexNotFound(RagError):
    pass


class IndexIncompatible(RagError):
    """The index was built with other models, settings or format version."""


class IndexCorrupt(RagError):
    pass


class IndexBusy(RagError):
    """Another build holds the index lock."""


class ModelMissing(RagError):
    pass


class InvalidQuestion(RagError):
    pass


class LLMUnavailable(RagError):
    """No LLM server of RAG_LLM_URL could answer: down, unreachable, or not an OpenAI-compatible API."""


class LLMRejected(RagError):
    """An LLM server refused the request itself (e.g. a prompt longer than its context): no other would take it."""
