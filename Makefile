# The two commands: `make run` and `make test`. Everything else here serves them.
# Needs only Python 3.11+ and make; the virtualenv and every pinned package are installed on first use.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test install lint format bench messages clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s); set PYTHON=python3.x" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)

# Installs exactly what requirements.lock pins; re-runs only when the lock file changes.
$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

install: $(VENV)/.installed

## run: install, migrate, create the demo admin, load demo data if empty, start web + worker + beat.
run: install
	@mkdir -p var
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py demo_setup
	@echo "Starting http://127.0.0.1:$(PORT)/admin/ with a Celery worker and beat. Ctrl-C stops everything."
	SCRM_WEB_PORT=$(PORT) DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/honcho -f Procfile.dev start -p $(PORT)

## test: install and run the whole suite (SQLite unless DATABASE_URL is set).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

## bench: build the large data set on PostgreSQL and measure it (see bench/README.md).
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## messages: refresh and compile the Simplified Chinese translations (needs GNU gettext).
messages: install
	DJANGO_DEBUG=true $(BIN)/python manage.py makemessages -l zh_Hans --ignore=.venv --ignore=var
	DJANGO_DEBUG=true $(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv

clean:
	rm -rf var $(VENV)
