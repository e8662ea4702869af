# Everyday tasks. Each uses the project's virtualenv (.venv), made by `make install`.
PYTHON := .venv/bin/python

.PHONY: install test-fast test lint format bench up

install:  ## the package, its test extras and the checkers, in .venv
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]'

test-fast:  ## the unit tests: no sample load, server, browser or published data (under a minute, on two workers)
	$(PYTHON) -m pytest -q -n 2 -m "not integration and not browser and not real"

test:  ## everything, as CI runs it (the README's test command)
	$(PYTHON) -m pytest -q

lint:  ## ruff (lint and format check) and mypy, as CI runs them
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

format:  ## rewrite the code in the house format and sort imports
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .

bench:  ## the benchmarks, each against its baseline in the same run
	$(PYTHON) benchmarks/ingest.py
	$(PYTHON) benchmarks/page_data.py
	$(PYTHON) benchmarks/pages.py

up:  ## build the sample database and serve the dashboard
	.venv/bin/crossforce up
