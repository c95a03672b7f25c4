#!/usr/bin/env bash
# The dashboard's browser tests: headless Chromium (Debian's `chromium`) driven by
# playwright-core (pinned in package.json and package-lock.json, installed from npm into
# tests/browser/node_modules and reused between runs) against the real binary, with node's
# built-in test runner. Screenshots go to tests/browser/output/. Arguments are test files
# (default: every *.test.mjs here).
#
# Outside CI a missing node/npm or Chromium skips the suite with a message (exit 0); in CI
# (CI=true) Chromium is installed with apt-get when missing, and anything still missing fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
skip() {
  echo "SKIPPED: $1" >&2
  [ "${CI:-}" = "true" ] && exit 1 || exit 0
}
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  skip "node and npm are not installed; the dashboard's browser tests need them"
fi
chromium="${CHROMIUM_PATH:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$chromium" ] && [ "${CI:-}" = "true" ] && command -v apt-get >/dev/null; then
  echo "== installing Debian's chromium"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
  chromium="$(command -v chromium || true)"
fi
if [ -z "$chromium" ]; then
  skip "Chromium is not installed (apt-get install chromium); the dashboard's browser tests need it"
fi
export CHROMIUM_PATH="$chromium"
cd "$here"
# A lock newer than the installed tree (the pins changed) means a fresh install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  rm -rf node_modules
  npm ci --no-audit --no-fund
fi
export TOLLGATE_BIN="${TOLLGATE_BIN:-$root/target/debug/tollgate}"
[ -x "$TOLLGATE_BIN" ] || (cd "$root" && cargo build --quiet --bin tollgate)
rm -rf output
mkdir -p output
if [ "$#" -eq 0 ]; then set -- ./*.test.mjs; fi
exec node --test --test-concurrency=1 "$@"
