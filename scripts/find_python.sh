#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter (Django 6.1 needs it), or fail loudly.
# Order: python3.13, python3.12 on PATH, then pyenv's 3.13.x / 3.12.x.
set -euo pipefail

ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }

for candidate in python3.13 python3.12; do
  if command -v "$candidate" >/dev/null 2>&1 && ok "$candidate"; then
    command -v "$candidate"; exit 0
  fi
done

pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
if [ -d "$pyenv_root/versions" ]; then
  for version in $(ls -1 "$pyenv_root/versions" | grep -E '^3\.1[3-9]\.|^3\.12\.' | sort -rV); do
    candidate="$pyenv_root/versions/$version/bin/python3"
    if [ -x "$candidate" ] && ok "$candidate"; then
      echo "$candidate"; exit 0
    fi
  done
fi

echo "error: Gatehouse needs Python 3.12 or newer (Django 6.1 requires it)." >&2
echo "       Install python3.12 or python3.13, or 'pyenv install 3.12', then run this again." >&2
exit 1
