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

# `make bench` runs every script in bench/, each at a small size so that the whole run takes
# minutes; `make bench BENCH=full` runs them at their own defaults (the sizes bench/README.md
# quotes). A script without an entry below runs at its defaults. Run by hand, never by CI.
BENCH ?= small
BENCH_HELPERS := bench/eventlogs.py
BENCH_SCRIPTS := $(filter-out $(BENCH_HELPERS),$(sort $(wildcard bench/*.py)))
bench_small_ingest := --duration 5 --warmup 1
bench_small_correlate := --events 20000 --rate 5000 --seconds 5
bench_small_editor := --events 100000 --runs 3
bench_small_flow_page := --events 100000 --runs 5
bench_small_query := --orders 50000 --runs 3
bench_small_retention := --events 20000 --ingest-seconds 2
bench_small_import := --copies 2 --duration 3
bench_small_discover := --copies 2 --runs 3 --explorer-events 200000
bench_small_alerts := --events 50000 --rules 200 --baseline-rules 20
bench_small_scale := --orders 1000
bench_args = $(if $(filter full,$(BENCH)),,$(bench_small_$(basename $(notdir $(1)))))

bench: install
	$(foreach script,$(BENCH_SCRIPTS),$(PY) $(script) $(call bench_args,$(script)) && ) true
