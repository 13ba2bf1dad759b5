# Amora: `make run` serves the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export HOST PORT  # config.py builds BASE_URL (links in mail) from them when it is unset
export FLASK_APP := app:create_app

# The lock files pin every package (with hashes) for this target, whatever machine runs `make lock`.
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-unknown-linux-gnu
# `make lock UPGRADE=--upgrade` moves every pin to the newest release pyproject.toml allows;
# `make lock UPGRADE='--upgrade-package ruff'` moves one. Plain `make lock` keeps the pins it can.
UPGRADE ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes $(LOCK_TARGET) \
	--custom-compile-command 'make lock' $(UPGRADE)

.PHONY: run test lint worker clean lock

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Exactly the locked packages (pip refuses anything without a matching hash), then Amora itself
# without resolving anything again.
$(VENV)/.installed: requirements-dev.lock pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

# Regenerate both locks from pyproject.toml: the runtime one first, then the dev one held to the
# same versions. Commit them with the pyproject.toml change.
lock: $(VENV)/.installed
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra dev --constraint requirements.lock -o requirements-dev.lock

run: $(VENV)/.installed
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	@echo "Amora is serving on http://$(HOST):$(PORT)  (Ctrl-C to stop)"
	$(BIN)/gunicorn --bind $(HOST):$(PORT) --worker-class gthread --workers 1 --threads 32 \
		--access-logfile - 'app:create_app()'

# Parallel processes (pytest-xdist); work stealing evens out the slow files. TEST_WORKERS=0: one.
TEST_WORKERS ?= 4
test: $(VENV)/.installed
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

worker: $(VENV)/.installed
	$(BIN)/flask worker

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
