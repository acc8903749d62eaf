#!/usr/bin/env bash
# Print the path of a suitable Python (>= 3.12: Django 6.1 needs it), or fail loudly.
# Looks at python3.13 and python3.12 on PATH, then pyenv's 3.13.x and 3.12.x.
# Among those, 3.12 is preferred: the embedded Postgres (pgserver 0.1.4) ships wheels for
# CPython 3.12 only, and 3.12 is also the Lambda runtime the deployment package targets.
# A 3.13 alone still works, with DATABASE_URL pointing at a Postgres server.
set -euo pipefail

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

candidates=()
for name in python3.13 python3.12; do
  if command -v "$name" >/dev/null 2>&1; then candidates+=("$(command -v "$name")"); fi
done
pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
if [ -d "$pyenv_root/versions" ]; then
  for version in $(ls -1 "$pyenv_root/versions" | grep -E '^3\.1[2-9]\.[0-9]+$' | sort -rV); do
    candidates+=("$pyenv_root/versions/$version/bin/python3")
  done
fi

first_ok=""
for candidate in "${candidates[@]}"; do
  [ -x "$candidate" ] || continue
  version="$(version_of "$candidate")"
  case "$version" in
    3.12) echo "$candidate"; exit 0 ;;
    3.1[3-9]) [ -n "$first_ok" ] || first_ok="$candidate" ;;
  esac
done

if [ -n "$first_ok" ]; then
  echo "note: no Python 3.12 found; using $first_ok. The embedded Postgres needs 3.12," >&2
  echo "      so set DATABASE_URL to a PostgreSQL server." >&2
  echo "$first_ok"; exit 0
fi

echo "error: Gatehouse needs Python 3.12 or newer (Django 6.1 requires it)." >&2
echo "       Install python3.12 (or 'pyenv install 3.12'), then run this again." >&2
exit 1
