#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the official-SDK suites (Python,
# then TypeScript) and the dashboard in headless Chromium, against the real binary. Builds once
# (debug profile); run from anywhere.
#
# PostgreSQL: tests of the PostgreSQL backend run against the server named by
# TOLLGATE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432, trust auth; each test
# creates and drops its own database). In CI (CI=true) the server is started if it is not
# running, and an unreachable server fails the run; elsewhere those tests are skipped with a
# message.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

pg_url="${TOLLGATE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
if ! pg_up && [ "${CI:-}" = "true" ]; then
  echo "== starting PostgreSQL"
  (service postgresql start || pg_ctlcluster --skip-systemctl-redirect 15 main start) >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if command -v pg_isready >/dev/null && pg_up; then
  export TOLLGATE_TEST_POSTGRES_URL="$pg_url"
elif [ "${CI:-}" = "true" ]; then
  echo "FAILED: PostgreSQL is not reachable on 127.0.0.1:5432; CI runs the PostgreSQL tests" >&2
  exit 1
else
  echo "SKIPPED: PostgreSQL is not reachable on 127.0.0.1:5432; the PostgreSQL tests will be skipped" >&2
fi

# Databases the HTTP suite creates on PostgreSQL (one per test) are dropped by their prefix.
drop_test_databases() {
  psql -h 127.0.0.1 -U postgres -d postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'tgtest\_%'" 2>/dev/null |
    while read -r db; do dropdb -h 127.0.0.1 -U postgres --force "$db" 2>/dev/null || true; done
}

# LiteLLM's real price map for the import test (tests/api/litellm_real.rs): the pinned litellm
# wheel from PyPI into tests/.cache (reused offline once there). Outside CI a failed download
# only skips that test; in CI it fails the run.
if litellm_json="$(bash tests/litellm/fetch.sh)"; then
  export TOLLGATE_TEST_LITELLM_JSON="$litellm_json"
elif [ "${CI:-}" = "true" ]; then
  echo "FAILED: LiteLLM's price map could not be fetched from PyPI; CI runs the import test on it" >&2
  exit 1
else
  echo "SKIPPED: LiteLLM's price map could not be fetched from PyPI; the real-file import test will be skipped" >&2
fi

# libfaketime (Debian's faketime) gives one replica a skewed wall clock in
# tests/api/replicas.rs; in CI it is installed when missing, elsewhere that test is skipped
# with a message.
faketime_lib=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -e "$faketime_lib" ] && [ "${CI:-}" = "true" ]; then
  echo "== installing faketime"
  (apt-get install -y faketime >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y faketime >/dev/null 2>&1)) || true
  [ -e "$faketime_lib" ] || { echo "FAILED: faketime could not be installed; CI runs the clock-skew test" >&2; exit 1; }
fi
if [ -e "$faketime_lib" ]; then
  export TOLLGATE_TEST_FAKETIME="$faketime_lib"
fi

cargo build --quiet --bin tollgate
cargo test --quiet --all-targets
if [ -n "${TOLLGATE_TEST_POSTGRES_URL:-}" ]; then
  echo "== the HTTP suite again, on PostgreSQL"
  drop_test_databases
  TOLLGATE_TEST_BACKEND=postgres cargo test --quiet --test api -- --skip replicas:: --skip db_copy::
  drop_test_databases
fi
TOLLGATE_BIN="$root/target/debug/tollgate" bash tests/sdk/run.sh
TOLLGATE_BIN="$root/target/debug/tollgate" bash tests/sdk-ts/run.sh
TOLLGATE_BIN="$root/target/debug/tollgate" bash tests/browser/run.sh
