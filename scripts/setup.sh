#!/usr/bin/env bash
# Install everything Gatehouse needs into .venv (idempotent and quick when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="$(scripts/find_python.sh)"
if [ -x .venv/bin/python ] && ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)'; then
  echo "setup: .venv has an old Python; recreating it" >&2
  rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON ($("$PYTHON" --version))"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.requirements.sha256
want="$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python requirements"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# Further installs (node packages, a browser) live in scripts/setup.d/, run in name order.
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  bash "$step"
done

if [ ! -f .env ]; then
  secret="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')"
  sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$secret|" .env.example > .env
  echo "setup: wrote .env for local development (GATEHOUSE_ENV=development)"
fi
