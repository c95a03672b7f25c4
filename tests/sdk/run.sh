#!/usr/bin/env bash
# Drives the official Python `openai` and `anthropic` SDKs against the real server.
# Installs them, and Schemathesis for test_schema.py, from PyPI into a virtualenv
# (tests/sdk/.venv, reused between runs).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if ! command -v python3 >/dev/null; then
  echo "SKIPPED: python3 is not installed; the SDK compatibility suite needs it" >&2
  [ "${CI:-}" = "true" ] && exit 1 || exit 0
fi
venv="$here/.venv"
if [ ! -x "$venv/bin/pytest" ]; then
  # A half-made or dangling venv (a failed earlier install) is replaced, not reused.
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check openai anthropic pytest
fi
if [ ! -x "$venv/bin/st" ]; then
  # A venv made before test_schema.py existed gets Schemathesis added.
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi
export TOLLGATE_BIN="${TOLLGATE_BIN:-$root/target/debug/tollgate}"
[ -x "$TOLLGATE_BIN" ] || (cd "$root" && cargo build --quiet)
cd "$here"
exec "$venv/bin/pytest" -q "$@"
