#!/usr/bin/env bash
# Chromium for the admin's browser tests (tests/browser/, Playwright drives /usr/bin/chromium).
# Debian's packages, not a Playwright browser download: the machines reach package registries only.
# Idempotent and quiet: does nothing when the browser is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: no apt-get; install Chromium yourself for the browser tests (they skip without it)" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "setup: not root; browser tests will skip until /usr/bin/chromium exists" >&2
    exit 0
  fi
fi
echo "setup: installing chromium and chromium-driver (Debian packages) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
