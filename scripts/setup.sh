#!/usr/bin/env bash
# Install everything Gatehouse needs into .venv (idempotent and quick when nothing changed).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "setup: error: $*" >&2
  exit 1
}

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
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
    || fail "pip could not upgrade itself in .venv (pip's message is above)"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt \
    || fail "pip could not install requirements-dev.txt (pip's message is above; is the package index reachable?)"
  echo "$want" > "$stamp"
fi
# Checked every time, not only after an install: a venv can lose a package, and the browser
# tests need Playwright's driver (shipped in its wheel; the browser is Debian's, 30-chromium.sh).
.venv/bin/python -c 'import playwright.sync_api' 2>/dev/null \
  || fail "Playwright is not importable in .venv (pip install -r requirements-dev.txt)"

# Further installs (node packages, a browser) live in scripts/setup.d/, run in name order.
# Each fails setup when its part cannot be installed. GATEHOUSE_SETUP_SKIP names steps to leave
# out on purpose (e.g. "node chromium" to only run the admin); their tests then skip, or fail
# under CI=true.
for step in scripts/setup.d/*.sh; do
  [ -e "$step" ] || continue
  name="$(basename "$step" .sh)"
  name="${name#*-}"
  case " ${GATEHOUSE_SETUP_SKIP:-} " in
    *" $name "*)
      echo "setup: warning: skipping $step (GATEHOUSE_SETUP_SKIP); the tests that need it will not run" >&2
      continue
      ;;
  esac
  bash "$step" || fail "$step could not install its part (its message is above)"
done

if [ ! -f .env ]; then
  secret="$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')"
  sed -e "s|^SECRET_KEY=.*|SECRET_KEY=$secret|" .env.example > .env
  echo "setup: wrote .env for local development (GATEHOUSE_ENV=development)"
fi
