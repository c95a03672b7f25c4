# Helpers shared by bench/compare: messages, ports, waiting, and what /proc says about a
# process tree (CPU time, memory). Sourced, not run.

say() { printf '[compare %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on. Ports are picked at random in a range the
# kernel does not hand out as ephemeral ports by default, so two runs rarely collide; a port
# that answers a connect is taken and skipped.
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# Waits until URL answers any HTTP status (curl exit 0), up to $2 seconds.
wait_http() {
  local url=$1 secs=${2:-30} pid=${3:-}
  for _ in $(seq $((secs * 10))); do
    curl -s -o /dev/null --max-time 2 "$url" && return 0
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.1
  done
  return 1
}

# The process and all its descendants (nginx's master and workers, LiteLLM's server).
proc_tree() {
  local pid=$1 child
  echo "$pid"
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    proc_tree "$child"
  done
}

# CPU time (user + system) of a process tree, in clock ticks, from /proc/PID/stat: utime and
# stime are fields 14 and 15, the 12th and 13th after the command name in parentheses.
cpu_ticks() {
  local total=0 pid stat rest
  for pid in $(proc_tree "$1"); do
    stat=$(cat /proc/"$pid"/stat 2>/dev/null) || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# Sum of one /proc/PID/status field (VmRSS, VmHWM; kB) over a process tree.
mem_kb() {
  local total=0 pid kb
  for pid in $(proc_tree "$1"); do
    kb=$(awk -v f="$2:" '$1 == f { print $2 }' /proc/"$pid"/status 2>/dev/null)
    total=$((total + ${kb:-0}))
  done
  echo "$total"
}

# A whole number with its digits grouped by thousands: 28879 → 28,879.
digits() { sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta' <<<"$1"; }

# Whether a process is running (a zombie, exited but not yet reaped, is not).
alive() {
  local stat
  stat=$(cat /proc/"$1"/stat 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# Stops a process tree started by this script: TERM, then KILL after a grace period. Never
# fails (it runs in the exit trap, under set -e).
stop_tree() {
  local pid=${1:-} pids
  [[ -n $pid ]] && alive "$pid" || return 0
  pids=$(proc_tree "$pid")
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$pid" || break
    sleep 0.1
  done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
