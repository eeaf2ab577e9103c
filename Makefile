# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format migrate superuser clean bench soak

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput

## make run: SQLite, console backend, demo data, admin/admin (local only), on 127.0.0.1:8000,
## and a task worker beside the server (Ctrl-C stops both; if one dies, so does the other)
run: migrate
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py ensure_local_admin
	$(BIN)/python manage.py run_local $(HOST):$(PORT)

## make test: the whole suite (DATABASE_URL picks the database; SQLite in memory by default)
test: install
	$(BIN)/python manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(BIN)/pytest $(PYTEST_ARGS)

## make bench: webhook req/s and p50/p99 against a peer view on the same stack, under
## gunicorn as in production, on SQLite and PostgreSQL (installs wrk if missing; bench/README.md)
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

## make soak: 60 s at 32 connections of whole calls, each checked to stay on the release it
## began on, while a release is published every 2 s; BENCH_ARGS="--soak mixed": 60 s at 64
## connections mixing voice, Gather, SMS and status callbacks (bench/README.md)
soak: install
	$(BIN)/python bench/run.py --soak $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

superuser: install
	$(BIN)/python manage.py createsuperuser

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
