#!/usr/bin/env bash
# Drives the official `openai` and `@anthropic-ai/sdk` TypeScript SDKs (pinned in package.json
# and package-lock.json, installed from npm into tests/sdk-ts/node_modules, reused between runs)
# against the real server, with node's built-in test runner. Arguments are test files
# (default: every *.test.mjs here).
#
# openai 7.x declares `engines: node >=22`; npm warns (EBADENGINE) when installing it on an
# older Node but installs it, and the suite passes on Node 20.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIPPED: node and npm are not installed; the TypeScript SDK suite needs them" >&2
  [ "${CI:-}" = "true" ] && exit 1 || exit 0
fi
cd "$here"
# A lock newer than the installed tree (the pins changed) means a fresh install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  rm -rf node_modules
  if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
fi
export TOLLGATE_BIN="${TOLLGATE_BIN:-$root/target/debug/tollgate}"
[ -x "$TOLLGATE_BIN" ] || (cd "$root" && cargo build --quiet --bin tollgate)
if [ "$#" -eq 0 ]; then set -- ./*.test.mjs; fi
exec node --test "$@"
