#!/usr/bin/env bash
# The whole test suite: lint, types, migrations in sync, then pytest on real Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export GATEHOUSE_ENV=test
$PY -m ruff check .
$PY -m ruff format --check .
# The layers and no circles inside a package (contracts in pyproject.toml; docs/architecture.md).
.venv/bin/lint-imports --no-cache
$PY -m mypy triggers accounts staff api tenants invites outbox core backoffice
DJANGO_SETTINGS_MODULE=tests.settings $PY manage.py makemigrations --check --dry-run >/dev/null \
  || { echo "error: models changed without a migration (run makemigrations)" >&2; exit 1; }
exec $PY -m pytest "$@"
