#!/usr/bin/env bash
# Brings LiteLLM's real price map (model_prices_and_context_window.json, shipped in the litellm
# wheel as litellm/model_prices_and_context_window_backup.json) into tests/.cache/litellm/ and
# prints the JSON file's path. The wheel is pinned by version and the extracted file by its
# SHA-256, so the HTTP test's exact counts and costs hold for this file only; to move to a
# newer LiteLLM, change both pins and the counts in tests/api/litellm_real.rs.
#
# Only PyPI is reached (pip download, no dependencies, wheels only); nothing from the wheel is
# installed or run: the JSON file is read out of the zip with Python's zipfile. A cached copy
# with the right hash is reused without any network. Exit status 1 (with the reason on stderr)
# when the file cannot be had.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

version="1.110.2"
json_sha256="8943af58bf9f979c6a4bef815687117ffa341e462a41faed9be17b5c33d3dcc2"
member="litellm/model_prices_and_context_window_backup.json"

cache="${TOLLGATE_TEST_CACHE:-$root/tests/.cache}/litellm"
out="$cache/model_prices_and_context_window-$version.json"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$out" ] && [ "$(sha "$out")" = "$json_sha256" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache/wheels"
if ! command -v python3 >/dev/null; then
  echo "python3 is not installed (it runs pip and reads the wheel)" >&2
  exit 1
fi
wheel="$(ls "$cache/wheels"/litellm-"$version"-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
  if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: -d "$cache/wheels" "litellm==$version" >&2; then
    echo "pip could not download litellm==$version from PyPI" >&2
    exit 1
  fi
  wheel="$(ls "$cache/wheels"/litellm-"$version"-*.whl 2>/dev/null | head -n1 || true)"
  [ -n "$wheel" ] || { echo "pip left no litellm-$version wheel in $cache/wheels" >&2; exit 1; }
fi
python3 - "$wheel" "$member" "$out.tmp" <<'EOF'
import sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, open(out, "wb") as f:
    f.write(z.read(member))
EOF
got="$(sha "$out.tmp")"
if [ "$got" != "$json_sha256" ]; then
  rm -f "$out.tmp"
  echo "$member in $(basename "$wheel") has SHA-256 $got, not the pinned $json_sha256" >&2
  exit 1
fi
mv "$out.tmp" "$out"
echo "$out"
