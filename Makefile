# bioqwen — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

# Nothing in tests or the demo may reach a model hub; caches stay inside the checkout.
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_NO_ADVISORY_WARNINGS := 1
export TOKENIZERS_PARALLELISM := false
# One BLAS thread per process: two pytest workers on two cores otherwise oversubscribe 10-40x.
export OMP_NUM_THREADS ?= 1
export BIOQWEN_CACHE ?= $(CURDIR)/.cache/bioqwen
export WANDB_DIR ?= $(CURDIR)/.cache/wandb
export WANDB_CACHE_DIR ?= $(CURDIR)/.cache/wandb-cache
export WANDB_CONFIG_DIR ?= $(CURDIR)/.cache/wandb-config

DEPLOY := llama-cpp-python==0.3.36 gguf==0.19.0 diskcache==5.6.3
NO_AMX := -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMA_CMAKE_ARGS := -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)'

.PHONY: help setup demo test test-all smoke-paper lint format bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## create .venv and install the pinned lock (idempotent)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, by exact version, so the CPU wheel on local disk is taken, never a CUDA build.
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.lock
	# The deploy extra (GGUF export, INT4 rows): llama-cpp-python has no wheel on PyPI, so pip
	# builds its sdist once (~5 min on 2 cores). These CPUs report AMX but the sandbox traps its
	# tile instructions (Q4/Q8 files die with SIGILL), so the native build leaves AMX out; no
	# cache, so a wheel built natively elsewhere on this machine is never reused.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --disable-pip-version-check --no-cache-dir --no-deps $(DEPLOY)
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup ## the demo experiment via `bioqwen pipeline` (tiny model, samples, W&B offline), then `bioqwen report`; reruns skip unchanged steps
	bash scripts/demo.sh

# The paper's shapes end to end (tests/smoke, marker smoke_paper) are part of `make test`.
TEST_MARKERS := (not slow and not gpu) or smoke_paper

test: setup ## run the test suite (fast tests and smoke_paper; slow and gpu tests are deselected)
	$(BIN)/python -m pytest -n 2 -m "$(TEST_MARKERS)" -q

smoke-paper: setup ## the paper pipeline at the three bases' real shapes x 2 layers, with per-step time and peak RSS
	$(BIN)/python -m pytest -n 2 -m smoke_paper -q tests/smoke

test-all: setup ## run every CPU test, slow ones included
	$(BIN)/python -m pytest -n 2 -m "not gpu" -q

lint: setup ## ruff lint + format check and mypy on bioqwen/
	$(BIN)/ruff check bioqwen hydra_plugins tests benchmarks
	$(BIN)/ruff format --check bioqwen hydra_plugins tests benchmarks
	$(BIN)/mypy bioqwen hydra_plugins

format: setup ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix bioqwen hydra_plugins tests benchmarks
	$(BIN)/ruff format bioqwen hydra_plugins tests benchmarks

bench: setup ## run the CPU benchmarks (ratios printed side by side)
	@for b in benchmarks/*.py; do case $$b in *gpu_*) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean: ## remove caches and run outputs (keeps .venv)
	rm -rf .cache runs multirun outputs
