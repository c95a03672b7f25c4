#!/usr/bin/env bash
# Runs every cargo-fuzz target for a while (nightly + cargo-fuzz; see docs/fuzzing.md).
#   fuzz/run.sh            30 s per target
#   FUZZ_SECONDS=3600 fuzz/run.sh sse_relay translate
# New inputs go to fuzz/work/<target>/ (gitignored); the committed seeds in fuzz/corpus/<target>/
# are read, never written. A crash leaves its input in fuzz/artifacts/<target>/ and stops the run.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-30}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sse_relay translate usage price_input)
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz); skipped" >&2
    exit 0
fi
# The code is safe Rust: no sanitizer (faster builds and runs); overflow checks stay on.
cargo +nightly fuzz build -s none
for t in "${targets[@]}"; do
    mkdir -p "work/$t"
    echo "== $t: ${seconds}s"
    cargo +nightly fuzz run -s none "$t" "work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
done
