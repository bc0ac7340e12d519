"""Check that llama.cpp runs a multi-token prompt without crashing.

llama-cpp-python's default `-march=native` build segfaults on CPUs with AMX as
soon as a prompt is longer than one token. The check runs in a child process so
a crash becomes a clear message instead of a dead interpreter.

    python -m rag.selfcheck
"""

from __future__ import annotations

import subprocess
import sys

_CHILD = """
import sys
from rag.models import llm_path
from rag.settings import Settings
from llama_cpp import Llama
llm = Llama(model_path=str(llm_path(Settings.from_env())), n_ctx=256, verbose=False)
out = llm("Paris est la capitale de la", max_tokens=3, temperature=0)
import llama_cpp
info = llama_cpp.llama_print_system_info().decode()
simd = [f.split("=")[0].split(":")[-1].strip() for f in info.replace("|", ";").split(";") if f.strip().endswith("= 1")]
sys.stdout.write(out["choices"][0]["text"] + "\\n" + " ".join(simd))
"""


def check_llm(timeout: float = 300) -> tuple[bool, str]:
    proc = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=timeout)
    if proc.returncode == 0:
        text, _, simd = proc.stdout.strip().partition("\n")
        return True, f"llama.cpp OK (continuation: {text.strip()!r}; CPU features: {simd or 'unknown'})"
    if proc.returncode < 0:
        return False, (
            f"llama.cpp crashed (signal {-proc.returncode}) on a short prompt. "
            "llama-cpp-python was probably built with -march=native: rebuild it with "
            "`pip cache remove llama_cpp_python && CMAKE_ARGS=-DGGML_NATIVE=OFF "
            ".venv/bin/pip install --force-reinstall --no-deps llama-cpp-python==0.3.36`"
        )
    last = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
    return False, f"llama.cpp check failed: {last}"


if __name__ == "__main__":
    ok, message = check_llm()
    print(message, file=sys.stdout if ok else sys.stderr)
    sys.exit(0 if ok else 1)
