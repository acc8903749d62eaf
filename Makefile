# Everyday commands. `make run` and `make test` are the two the README promises.
PY := .venv/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup run stop reset test test-fast lint format migrations-check bench worker openapi

setup:
	@scripts/setup.sh

# Postgres, moto (SES, SNS, SQS, KMS), cognito-local, the triggers and the admin; Ctrl-C stops
# them all (scripts/run_local.py). PORT=8001 make run for another admin port.
run: setup
	@$(PY) scripts/run_local.py

# Whatever a run left behind (its processes by their recorded ids, the embedded Postgres).
stop:
	@$(PY) scripts/run_local.py stop

# Stop, then delete .local/: the database, cognito-local's user pool and the logs.
reset:
	@$(PY) scripts/run_local.py reset

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
