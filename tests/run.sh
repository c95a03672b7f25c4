#!/usr/bin/env bash
# The whole test suite: Rust unit and integration tests, then the official-SDK suite against
# the real binary. Builds once (debug profile); run from anywhere.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
cargo build --quiet --bin tollgate
cargo test --quiet --all-targets
TOLLGATE_BIN="$root/target/debug/tollgate" bash tests/sdk/run.sh
