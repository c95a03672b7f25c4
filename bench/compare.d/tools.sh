# Installs what bench/compare needs, once, and caches it inside bench/ (gitignored): nginx
# and sqlite3 from Debian, oha into bench/.tools, LiteLLM into bench/.venv. Sourced.

APT_UPDATED=
apt_install() {
  command -v apt-get >/dev/null || die "$1 is missing and apt-get is not available: install $1"
  [[ $(id -u) == 0 ]] || die "$1 is missing: run 'apt-get install $1' as root (or this script)"
  if [[ -z $APT_UPDATED ]]; then
    apt-get update -qq >&2 || die "apt-get update failed"
    APT_UPDATED=1
  fi
  say "installing $* from Debian"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

ensure_debian_tools() {
  if ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]]; then
    apt_install nginx-light || apt_install nginx || die "could not install nginx"
  fi
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  command -v sqlite3 >/dev/null || apt_install sqlite3 || die "could not install sqlite3"
  command -v curl >/dev/null || apt_install curl || die "could not install curl"
  command -v jq >/dev/null || apt_install jq || die "could not install jq"
}

# The load generator: oha (open-loop fixed rates with latency correction), installed once into
# bench/.tools. When it cannot be installed, Debian's wrk, which has no fixed-rate mode: the
# latency columns are then closed-loop at max throughput, and the report says so. LOADGEN=wrk
# chooses wrk anyway. Sets LOADGEN.
ensure_loadgen() {
  OHA=$BENCH/.tools/bin/oha
  if [[ ${LOADGEN:-} == wrk ]]; then
    OHA=/nonexistent
  elif [[ ! -x $OHA ]]; then
    say "installing oha into bench/.tools (once; a few minutes)"
    if CARGO_TARGET_DIR=$BENCH/.cache/oha-target nice -n 10 \
      cargo install oha --locked --root "$BENCH/.tools" >&2; then
      rm -rf "$BENCH/.cache/oha-target"
    else
      say "cargo install oha failed; falling back to Debian's wrk (no fixed-rate latency)"
    fi
  fi
  if [[ -x $OHA ]]; then
    LOADGEN=oha
    LOADGEN_VERSION=$("$OHA" --version)
  else
    command -v wrk >/dev/null || apt_install wrk || die "neither oha nor wrk could be installed"
    LOADGEN=wrk
    LOADGEN_VERSION="wrk $({ wrk -v 2>&1 || true; } | awk '{ print $2; exit }')"
  fi
}

# LiteLLM from PyPI into bench/.venv. Returns non-zero (the caller skips LiteLLM) when the
# venv cannot be made, e.g. without network access to PyPI.
ensure_litellm() {
  LITELLM=$BENCH/.venv/bin/litellm
  [[ -x $LITELLM ]] && return 0
  say "installing LiteLLM into bench/.venv (once)"
  python3 -m venv "$BENCH/.venv" >&2 &&
    PIP_CACHE_DIR=$BENCH/.cache/pip "$BENCH/.venv/bin/pip" install -q 'litellm[proxy]' >&2 &&
    [[ -x $LITELLM ]]
}
