#!/usr/bin/env bash
# Chromium for the admin's browser tests (tests/browser/, Playwright drives /usr/bin/chromium).
# Debian's packages, not a Playwright browser download: the machines reach package registries only.
# Idempotent and quiet: does nothing when the browser is already there. When it cannot be
# installed, setup fails with the reason (under CI the browser tests would fail anyway;
# locally they would skip, unnoticed).
set -euo pipefail

fail() {
  echo "setup: error: $*" >&2
  echo "setup: the browser tests need /usr/bin/chromium (Debian: apt-get install chromium chromium-driver)" >&2
  exit 1
}

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || fail "no apt-get on this machine to install Chromium with; install it yourself"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "not root and no sudo: cannot install Chromium"
  sudo -n true 2>/dev/null || fail "not root and sudo needs a password: run 'sudo apt-get install chromium chromium-driver'"
  SUDO="sudo -n"
fi
echo "setup: installing chromium and chromium-driver (Debian packages) for the browser tests"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null || fail "apt-get update failed"
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null \
  || fail "apt-get install chromium chromium-driver failed"
[ -x /usr/bin/chromium ] || fail "the chromium package is installed but /usr/bin/chromium is not there"
