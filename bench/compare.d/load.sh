# The load: oha with $CONNECTIONS connections, non-streaming (or streaming) chat completions.
# Each row is a 1 s warm-up, a closed-loop run at maximum throughput, and an open-loop run at
# a fixed rate with oha's latency correction (a late request's wait counts from when it was due,
# so a stall is not hidden by the generator slowing down). Sourced.

# loadgen_run OUT URL BODY KEY ARGS: one run of the load generator, its JSON summary (oha's
# fields) in OUT. ARGS are oha's: -z SECONDS -w (for a time; the requests under way at the end
# are waited for, so every call is counted), -q RATE, -n CALLS, --latency-correction.
loadgen_run() {
  local out=$1 url=$2 body=$3 key=$4
  shift 4
  if [[ $LOADGEN == wrk ]]; then
    # wrk knows only a duration: the closed-loop run of -z.
    WRK_BODY=$body WRK_KEY=$key wrk -t 2 -c "$CONNECTIONS" -d "$2" --latency \
      -s "$HERE/wrk.lua" "$url" >"$out.txt" 2>"$out.err" ||
      die "wrk failed on $url: $(tail -n 3 "$out.err")"
    grep '^{' "$out.txt" | tail -n 1 >"$out"
    return 0
  fi
  "$OHA" --no-tui --output-format json -m POST -c "$CONNECTIONS" \
    -H 'content-type: application/json' ${key:+-H "authorization: Bearer $key"} \
    -D "$body" "$@" "$url" >"$out" 2>"$out.err" ||
    die "oha failed on $url: $(tail -n 3 "$out.err")"
}

# Field of an oha summary, e.g. `oha_get FILE .summary.requestsPerSec`.
oha_get() { jq -r "$2 // 0" "$1"; }

# Responses with status 200, and requests that got no answer (errors, cut at the deadline).
oha_ok() { jq -r '.statusCodeDistribution["200"] // 0' "$1"; }
oha_errors() { jq -r '[.errorDistribution[]?] | add // 0' "$1"; }

# Warns about anything but 200s in a run: the row's numbers would not be the path's.
oha_check() {
  local bad
  bad=$(jq -r '[(.statusCodeDistribution | to_entries[] | select(.key != "200" and .value > 0) | "\(.value)× HTTP \(.key)"),
                (.errorDistribution | to_entries[] | select(.value > 0) | "\(.value)× \(.key)")] | join(", ")' "$1")
  [[ -n $bad ]] && say "  note ($2): $bad"
  return 0
}

# measure ROW_LABEL GROUP ROLE RATE URL BODY KEY PID [fixed-only]
# Appends one line to $ROWS: label, group, rate, role, max rps, p50/p90/p99 (ms), CPU µs per
# call of PID's process tree at the fixed rate, VmRSS and VmHWM (kB) at the end, records.
# Sets ROW_OK (200s over all its runs) and ROW_ERRORS for the record check. When DB_PID names
# the database server's postmaster (PostgreSQL rows), ROW_DB is the CPU µs per call of its
# whole process tree (backends, WAL writer, checkpointer, autovacuum) over the same run.
measure() {
  local label=$1 group=$2 role=$3 rate=$4 url=$5 body=$6 key=$7 pid=$8 only=${9:-}
  local n=$((${#MEASURED[@]} + 1)) max=- ticks0 ticks1 calls f db0='' db1=
  MEASURED+=("$label")
  f=$WORK/oha-$n
  if [[ -n $only ]]; then
    say "$label: a baseline at $rate calls/s for ${DURATION} s"
  elif [[ $LOADGEN == wrk ]]; then
    say "$label: max throughput for ${DURATION} s"
  else
    say "$label: max throughput for ${DURATION} s, then $rate calls/s for ${DURATION} s"
  fi
  loadgen_run "$f-warm.json" "$url" "$body" "$key" -z 1s -q "$rate" -w
  if [[ -z $only ]]; then
    [[ $LOADGEN == wrk ]] && ticks0=$(cpu_ticks "$pid")
    loadgen_run "$f-max.json" "$url" "$body" "$key" -z "${DURATION}s" -w
    [[ $LOADGEN == wrk ]] && ticks1=$(cpu_ticks "$pid")
    oha_check "$f-max.json" "$label, max"
    max=$(oha_get "$f-max.json" .summary.requestsPerSec)
  fi
  if [[ $LOADGEN == wrk ]]; then
    # No fixed rate: the latency and CPU columns are those of the max-throughput run, and
    # the row's rate is 0 ("at max"), so every row is compared with the baselines at max.
    cp "$f-max.json" "$f-latency.json"
    rate=0
  else
    ticks0=$(cpu_ticks "$pid")
    [[ -n ${DB_PID:-} ]] && db0=$(cpu_ticks "$DB_PID")
    loadgen_run "$f-latency.json" "$url" "$body" "$key" -q "$rate" -n $((rate * DURATION)) --latency-correction
    ticks1=$(cpu_ticks "$pid")
    [[ -n ${DB_PID:-} ]] && db1=$(cpu_ticks "$DB_PID")
  fi
  oha_check "$f-latency.json" "$label, $rate/s"
  calls=$(jq -r '[.statusCodeDistribution[]?] | add // 0' "$f-latency.json")
  ROW_DB=-
  [[ -n $db1 && $calls -gt 0 ]] && ROW_DB=$(awk -v t=$((db1 - db0)) -v hz="$CLK_TCK" -v c="$calls" 'BEGIN { printf "%.0f", t * 1e6 / hz / c }')
  ROW_OK=0 ROW_ERRORS=0
  for g in "$f"-warm.json "$f"-max.json "$f"-latency.json; do
    [[ $LOADGEN == wrk && $g == *latency* || ! -f $g ]] && continue
    ROW_OK=$((ROW_OK + $(oha_ok "$g")))
    ROW_ERRORS=$((ROW_ERRORS + $(oha_errors "$g")))
    # wrk neither counts nor waits for the requests under way when its time is up.
    [[ $LOADGEN == wrk ]] && ROW_ERRORS=$((ROW_ERRORS + CONNECTIONS))
  done
  # A path that answered nothing has no numbers: a failed row, not a row of zeros.
  if ((ROW_OK == 0)); then
    say "  FAILED ($label): no call was answered 200"
    FAILURES=$((FAILURES + 1))
    ROW=$(printf '%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-' "$label (FAILED: no call answered 200)" "$group" "$rate" "$role")
    return 0
  fi
  ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$label" "$group" "$rate" "$role" "$max" \
    "$(oha_get "$f-latency.json" '.latencyPercentiles.p50')" \
    "$(oha_get "$f-latency.json" '.latencyPercentiles.p90')" \
    "$(oha_get "$f-latency.json" '.latencyPercentiles.p99')" \
    "$(awk -v t=$((ticks1 - ticks0)) -v hz="$CLK_TCK" -v c="$calls" 'BEGIN { if (c > 0) printf "%.0f", t * 1e6 / hz / c; else print "-" }')" \
    "$(mem_kb "$pid" VmRSS)" "$(mem_kb "$pid" VmHWM)")
}

# Appends the measured row with its record check (or "-") to the rows file.
emit_row() { printf '%s\t%s\t%s\n' "$ROW" "${1:--}" "${ROW_DB:--}" >>"$ROWS"; }
