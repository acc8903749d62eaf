#!/usr/bin/env bash
# Node tools for the end-to-end tests: cognito-local, pinned in e2e/package-lock.json.
# `npm ci` installs exactly the lockfile; a stamp skips it when nothing changed.
# A part that cannot be installed fails setup with the reason: the suite needs it (under CI a
# missing cognito-local fails the end-to-end tests; locally they would skip, unnoticed).
set -euo pipefail
cd "$(dirname "$0")/../../e2e"

fail() {
  echo "setup: error: $*" >&2
  echo "setup: cognito-local (tests/e2e/) needs Node.js 20 or newer with npm: install them, then run make setup again" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node not found on PATH"
command -v npm >/dev/null 2>&1 || fail "npm not found on PATH"
node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
[ "$node_major" -ge 20 ] 2>/dev/null || fail "Node.js $(node --version 2>/dev/null || echo '?') is too old"

stamp=node_modules/.gatehouse-lock.sha256
want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/cognito-local/lib/bin/start.js ]; then
  exit 0
fi
echo "setup: installing cognito-local (npm ci in e2e/)"
# No install scripts: nothing here needs one (aws-sdk's only prints a notice).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
  || fail "npm ci in e2e/ failed (is the npm registry reachable?)"
[ -f node_modules/cognito-local/lib/bin/start.js ] \
  || fail "npm ci finished but node_modules/cognito-local/lib/bin/start.js is missing"
echo "$want" > "$stamp"
