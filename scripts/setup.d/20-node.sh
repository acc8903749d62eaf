#!/usr/bin/env bash
# Node tools for the end-to-end tests: cognito-local, pinned in e2e/package-lock.json.
# `npm ci` installs exactly the lockfile; a stamp skips it when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/../../e2e"

if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm not found; the cognito-local end-to-end tests need Node.js 20+ and npm" >&2
  exit 0
fi

stamp=node_modules/.gatehouse-lock.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/cognito-local/lib/bin/start.js ]; then
  exit 0
fi
echo "setup: installing cognito-local (npm ci in e2e/)"
# No install scripts: nothing here needs one (aws-sdk's only prints a notice).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
