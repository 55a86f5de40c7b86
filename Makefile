# The two commands of the quick start: `make run` and `make test`. Everything else is set up by them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-embedded test-services lint setup setup-dev clean

run: setup
	$(PY) -m workstation run --host $(HOST) --port $(PORT)

# Lint, then the whole suite twice: on the embedded default, then on PostgreSQL + RabbitMQ.
test: setup-dev lint test-embedded test-services

test-embedded: setup-dev
	WORKSTATION_TEST_BACKEND=embedded $(PY) -m pytest -q $(PYTEST_ARGS)

test-services: setup-dev
	WORKSTATION_TEST_BACKEND=services $(PY) -m pytest -q $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check workstation workers tests benchmarks
	$(VENV)/bin/ruff format --check workstation workers tests benchmarks

setup: $(VENV)/.installed
setup-dev: $(VENV)/.installed-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
