# `make run` serves the API on 127.0.0.1:8000 and runs one sending worker (Procfile, honcho);
# `make test` runs the whole suite.
# Both create .venv from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test-only secrets; a real deployment sets its own.
TEST_ENV := SECRET_KEY=test-only-secret-key FIELD_ENCRYPTION_KEYS=$${FIELD_ENCRYPTION_KEYS:-YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c=}

.PHONY: install run test lint format check-migrations schema bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=$${DEBUG:-true} $(BIN)/honcho start -f Procfile

test: $(STAMP)
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-migrations: $(STAMP)
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

schema: $(STAMP)
	$(TEST_ENV) $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

bench: $(STAMP)
	command -v wrk >/dev/null || apt-get install -y -q wrk
	$(TEST_ENV) $(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
