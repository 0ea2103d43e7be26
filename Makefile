.PHONY: install run test lint format bench

VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/bin/flowscope:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -e '.[test]'

install: $(VENV)/bin/flowscope

run: install
	$(VENV)/bin/flowscope serve

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check src tests bench migrations
	$(VENV)/bin/ruff format --check src tests bench migrations
	$(VENV)/bin/mypy --strict src

format: install
	$(VENV)/bin/ruff check --fix src tests bench migrations
	$(VENV)/bin/ruff format src tests bench migrations

bench: install
	$(PY) bench/ingest.py
