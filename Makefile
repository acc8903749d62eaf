# Everyday commands. `make run` and `make test` are the two the README promises.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run test test-fast lint format migrations-check bench worker openapi

setup:
	@scripts/setup.sh

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo "Gatehouse admin: http://127.0.0.1:8000/admin/"
	$(PY) manage.py runserver 127.0.0.1:8000

test: setup
	scripts/test.sh

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

migrations-check: setup
	$(PY) manage.py makemigrations --check --dry-run

worker: setup
	$(PY) manage.py db_worker

bench: setup
	$(PY) bench/run.py

# The tenant API's contract (docs/openapi.json); tests/api/test_openapi.py checks it for drift.
openapi: setup
	GATEHOUSE_ENV=test $(PY) scripts/openapi.py
