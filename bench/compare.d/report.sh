# The run's report: the machine, the settings and one markdown table of the rows. Sourced.

# report: the whole markdown document on stdout.
report() {
  local cpu commit
  cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"
  cat <<EOF
## bench/compare, $(date -u '+%Y-%m-%d %H:%M UTC')

Machine: $(nproc) cores ($cpu), $(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); load average $LOAD_BEFORE before the run, $(cut -d' ' -f1-3 /proc/loadavg) after.
Tollgate $commit (release build); $("$NGINX" -v 2>&1 | sed 's|nginx version: ||'); $LOADGEN_VERSION; $CONNECTIONS connections; max throughput over ${DURATION} s (closed loop), $(latency_note). Took ${ELAPSED} s.

EOF
  table
  cat <<'EOF'

Max rps: closed loop, the path saturated. × hop: that over the bare hop's (streaming rows: the
streaming hop's). p50/p90/p99: at the row's rate (see above). Added: the row's p50 / p99 minus the
bare hop's and the direct path's at the same rate. CPU: user + system time of the process under
test (nginx: master and worker; LiteLLM: its process tree) during the latency run, per call;
on PostgreSQL rows, "+ N db" is the database server's CPU per call over the same run (all its
processes; the server is shared with nothing else during the run).
RSS: VmRSS at the end / VmHWM (peak). Records: usage records with status ok in the gateway's
database against the calls answered 200 over all of the row's runs.
EOF
}

latency_note() {
  if [[ $LOADGEN == wrk ]]; then
    echo "latency closed-loop at max throughput (oha could not be installed; wrk has no fixed-rate mode)"
  else
    echo "latency at a fixed rate over ${DURATION} s (open loop, latency-corrected)"
  fi
}

# The markdown table from $ROWS (see measure in load.sh for its columns).
table() {
  awk -F'\t' '
    function ms(s) { return (s == "-") ? "—" : sprintf("%.2f", s * 1000) }
    function added(a, b) { return (a == "-" || b == "-") ? "—" : sprintf("%+.2f", (a - b) * 1000) }
    function thousands(n,   s, out) { s = sprintf("%.0f", n); out = ""; while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) } return s out }
    NR == FNR {
      if (($4 == "direct" || $4 == "hop") && $6 != "-") { p50[$2, $3, $4] = $6; p99[$2, $3, $4] = $8 }
      if ($4 == "hop" && $5 != "-") hopmax[$2] = $5
      next
    }
    FNR == 1 {
      print "| path | rate (calls/s) | max rps | × hop | p50 ms | p90 ms | p99 ms | added p50 / p99 vs hop (ms) | added p50 / p99 vs direct (ms) | CPU µs/call | RSS MB (end / peak) | records |"
      print "|---|---|---|---|---|---|---|---|---|---|---|---|"
    }
    {
      max = ($5 == "-") ? "—" : thousands($5)
      ratio = ($5 == "-" || !($2 in hopmax)) ? "—" : sprintf(($5 / hopmax[$2] < 0.1) ? "%.3f×" : "%.2f×", $5 / hopmax[$2])
      vshop = ($4 == "direct" || $4 == "hop" || !(($2, $3, "hop") in p50)) ? "—" : added($6, p50[$2, $3, "hop"]) " / " added($8, p99[$2, $3, "hop"])
      vsdir = ($4 == "direct" || !(($2, $3, "direct") in p50)) ? "—" : added($6, p50[$2, $3, "direct"]) " / " added($8, p99[$2, $3, "direct"])
      mem = ($10 == "-") ? "—" : sprintf("%.0f / %.0f", $10 / 1024, $11 / 1024)
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, ($3 == 0) ? "max" : thousands($3), max, ratio, ms($6), ms($7), ms($8), vshop, vsdir, (($9 == "-") ? "—" : thousands($9)) (($13 == "-" || $13 == "") ? "" : " + " thousands($13) " db"), mem, ($12 == "-") ? "—" : $12
    }
  ' "$ROWS" "$ROWS"
}
