# The two set-up commands of README: `make run` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
export FLASK_APP := webapp

.PHONY: run test install browser-deps clean bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## Install, migrate, create the demo workspace and serve on http://127.0.0.1:5000 (SQLite, in-process runner).
run: install
	$(BIN)/flask db upgrade
	AUTOMATIONS_ENABLED=$${AUTOMATIONS_ENABLED:-true} $(BIN)/flask demo
	AUTOMATIONS_ENABLED=$${AUTOMATIONS_ENABLED:-true} $(BIN)/flask run --host 127.0.0.1 --port $${PORT:-5000}

browser-deps:
	scripts/ensure-chromium

## Install and run the whole test suite on SQLite, browser tests in headless Chromium included.
test: install browser-deps
	$(BIN)/pytest

## Benchmarks B1–B6 at small sizes (about 4 minutes; PostgreSQL + Redis needed, see bench/README.md).
## Full sizes (1,000,000 runs for B4, 100,000 for B5; much longer): $(BIN)/python -m bench.run --full
bench: install
	$(BIN)/python -m bench.run --small

clean:
	rm -rf $(VENV) instance .pytest_cache tmp
