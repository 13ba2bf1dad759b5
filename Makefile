# Amora: `make run` serves the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT  # config.py builds BASE_URL (links in mail) from them when it is unset
export FLASK_APP := app:create_app

.PHONY: run test lint worker clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo "Amora is serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --worker-class gthread --workers 1 --threads 32 \
		--access-logfile - 'app:create_app()'

test: $(VENV)/.installed
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

worker: $(VENV)/.installed
	$(BIN)/flask worker

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
