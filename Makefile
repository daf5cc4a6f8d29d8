# `make run` serves the API on $(HOST):$(PORT) (default 127.0.0.1:8000) and runs one sending
# worker and the local mail catcher beside it (Procfile, honcho); `make test` runs the whole
# suite. Both create .venv from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# `make key`: a new API key's raw value alone on stdout.
NAME ?= Local key
SCOPES ?= *
WORKSPACE ?= default
# Test-only secrets; a real deployment sets its own. Tests never read a developer's .env.
TEST_ENV := ENV_FILE=/dev/null SECRET_KEY=test-only-secret-key FIELD_ENCRYPTION_KEYS=$${FIELD_ENCRYPTION_KEYS:-YyH4Jt54Baw_X_tVYsKtpHNVqt-SN286Nc-ZaBw6b0c=}

.PHONY: install run createsuperuser key test lint format check-migrations schema bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# A development .env (DEBUG=true, generated secrets), written once if there is none.
.env:
	$(PYTHON) scripts/dev_env.py $@

# Links in mail point at the address served, unless PUBLIC_BASE_URL is set (in the environment,
# on the command line, or in .env: honcho hands .env to the processes and it wins).
PUBLIC_BASE_URL ?= http://$(HOST):$(PORT)

run: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	HOST=$(HOST) PUBLIC_BASE_URL="$(PUBLIC_BASE_URL)" PATH="$(CURDIR)/$(BIN):$$PATH" \
	  $(BIN)/honcho start -f Procfile -p $(PORT)

# Asks for a name, an email and a password; set DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD
# to answer them from the environment instead.
createsuperuser: $(STAMP) .env
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput)

# The key's description goes to stderr, the raw key alone to stdout: KEY=$$(make -s key ...).
key: $(STAMP) .env
	@$(BIN)/python manage.py migrate --noinput >/dev/null
	@out=$$($(BIN)/python manage.py create_api_key --name "$(NAME)" --scopes "$(SCOPES)" \
	    --workspace "$(WORKSPACE)" $(if $(DAYS),--expires-in-days $(DAYS))) \
	  && printf '%s\n' "$$out" | sed '$$d' >&2 && printf '%s\n' "$$out" | tail -n 1

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
