# Tollgate under test: the release binary on a fresh database (a SQLite file, or a PostgreSQL
# database created for the row and dropped after it), the seeded catalog, a provider pointed at
# the nginx upstream, one priced model and one API key. Sourced.

ADMIN_TOKEN=compare-admin

# Builds the release binary unless TOLLGATE_BIN names one.
build_tollgate() {
  if [[ -n ${TOLLGATE_BIN:-} ]]; then
    [[ -x $TOLLGATE_BIN ]] || die "TOLLGATE_BIN=$TOLLGATE_BIN is not an executable"
    return 0
  fi
  say "building the release binary (cargo build --release --bin tollgate --examples)"
  (cd "$ROOT" && nice -n 10 cargo build --release --bin tollgate --examples >&2) ||
    die "the release build failed"
  TOLLGATE_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/tollgate
}

# Answers "yes" when PostgreSQL takes connections at $POSTGRES_SERVER.
postgres_reachable() {
  command -v psql >/dev/null && psql "$POSTGRES_SERVER/postgres" -Atqc 'SELECT 1' >/dev/null 2>&1
}

admin() {
  curl -sf -X "$1" -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' \
    ${3:+-d "$3"} "$TG_URL$2"
}

# start_tollgate sqlite|postgres: a fresh database and a running gateway at $TG_URL ($TG_PID).
start_tollgate() {
  local backend=$1 db_url
  TG_DB_N=$((${TG_DB_N:-0} + 1))
  if [[ $backend == postgres ]]; then
    TG_PGDB=tgcompare_$$_$TG_DB_N
    psql "$POSTGRES_SERVER/postgres" -qc "CREATE DATABASE $TG_PGDB" >/dev/null ||
      die "could not create database $TG_PGDB"
    PG_DATABASES+=("$TG_PGDB") # dropped by stop_tollgate, or by the exit trap
    db_url=$POSTGRES_SERVER/$TG_PGDB
  else
    TG_SQLITE=$WORK/tollgate-$TG_DB_N.db
    db_url=sqlite://$TG_SQLITE
  fi
  TG_BACKEND=$backend
  TG_PORT=$(free_port)
  TG_URL=http://127.0.0.1:$TG_PORT
  # TOLLGATE_WORKERS sets the gateway's runtime worker threads (tokio's TOKIO_WORKER_THREADS,
  # default one per core) without touching the load generator's.
  # TG_LEASE_CALLS (the budget-lease row) turns on budget leases (docs/budgets.md).
  env ${TOLLGATE_WORKERS:+TOKIO_WORKER_THREADS=$TOLLGATE_WORKERS} \
    ${TG_LEASE_CALLS:+TOLLGATE_BUDGET_LEASE_CALLS=$TG_LEASE_CALLS} \
    TOLLGATE_LISTEN=127.0.0.1:$TG_PORT TOLLGATE_DATABASE_URL=$db_url \
    TOLLGATE_ADMIN_TOKEN=$ADMIN_TOKEN TOLLGATE_SEEDS_DIR=$ROOT/seeds TOLLGATE_LOG=warn \
    "$TOLLGATE_BIN" serve >"$WORK/tollgate-$TG_DB_N.log" 2>&1 &
  TG_PID=$!
  wait_http "$TG_URL/healthz" 60 "$TG_PID" ||
    die "Tollgate did not start: $(tail -n 5 "$WORK/tollgate-$TG_DB_N.log")"
}

# configure_tollgate plain|budget: the bench provider and model, and a key ($TG_KEY, id
# $TG_KEY_ID); with `budget` the key has a hard monthly budget, so every call reserves its
# maximum cost before it is forwarded and settles it with its record.
configure_tollgate() {
  local budget='' key
  admin POST /admin/providers \
    "{\"id\":\"bench\",\"kind\":\"openai\",\"name\":\"Bench\",\"base_url\":\"$UPSTREAM_URL/v1\"}" >/dev/null &&
    admin POST /admin/providers \
      "{\"id\":\"bench-sse\",\"kind\":\"openai\",\"name\":\"Bench SSE\",\"base_url\":\"$UPSTREAM_URL/sse/v1\"}" >/dev/null &&
    admin POST /admin/models '{"id":"bench-model","name":"Bench","provider":"bench","capabilities":["chat","streaming"],"price":{"input_per_mtok":"0.15","output_per_mtok":"0.60"}}' >/dev/null &&
    admin POST /admin/models '{"id":"bench-model-sse","name":"Bench SSE","provider":"bench-sse","upstream_model":"bench-model","capabilities":["chat","streaming"],"price":{"input_per_mtok":"0.15","output_per_mtok":"0.60"}}' >/dev/null ||
    die "could not configure Tollgate's provider and model: $(tail -n 5 "$WORK/tollgate-$TG_DB_N.log")"
  [[ $1 == budget ]] && budget=',"budget":{"limit_usd":"1000000","period":"monthly","mode":"hard"}'
  key=$(admin POST /admin/keys "{\"name\":\"compare-$1\"$budget}") || die "could not create a key"
  TG_KEY=$(jq -r .key <<<"$key")
  TG_KEY_ID=$(jq -r .id <<<"$key")
}

# "status count" lines: the usage records of the key, by status, read from the database.
usage_counts() {
  local sql="SELECT status, COUNT(*) FROM usage_records WHERE key_id = '$TG_KEY_ID' GROUP BY status ORDER BY status"
  if [[ $TG_BACKEND == postgres ]]; then
    psql "$POSTGRES_SERVER/$TG_PGDB" -AtF ' ' -c "$sql"
  else
    sqlite3 -separator ' ' "$TG_SQLITE" "$sql"
  fi
}

stop_tollgate() {
  stop_tree "$TG_PID"
  TG_PID=
  if [[ $TG_BACKEND == postgres ]]; then
    drop_database "$TG_PGDB"
  else
    rm -f "$TG_SQLITE" "$TG_SQLITE-wal" "$TG_SQLITE-shm"
  fi
}

# Never fails: it runs in the exit trap too.
drop_database() {
  psql "$POSTGRES_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1 || true
}

# Every call answered 200 must have its record with status ok (committed before the response
# ended). Calls cut off by oha at a run's deadline may have completed in the gateway too, so
# up to ROW_ERRORS more are allowed. Sets RECORDS for the table; counts a failure otherwise.
check_records() {
  local ok other
  ok=$(usage_counts | awk '$1 == "ok" { print $2 }')
  other=$(usage_counts | awk '$1 != "ok" { printf "%s%s %s", sep, $2, $1; sep = ", " }')
  ok=${ok:-0}
  if ((ok < ROW_OK || ok > ROW_OK + ROW_ERRORS)); then
    say "FAILURE: $1: $ok usage records with status ok for $ROW_OK answers 200 (+$ROW_ERRORS cut off)${other:+; others: $other}"
    RECORDS="FAILED: $(digits "$ok") of $(digits "$ROW_OK")"
    FAILURES=$((FAILURES + 1))
  else
    say "  $1: all $ROW_OK calls answered 200 have their record ($ok ok${other:+; others: $other})"
    RECORDS="$(digits "$ok") of $(digits "$ROW_OK")"
  fi
  if [[ -n ${TG_LEASE_CALLS:-} ]]; then lease_counts "$ok"; fi
}

# With budget leases on: how many of the row's calls were admitted from a lease (the rest
# waited for a reservation round trip), and how many leases were granted and refused.
lease_counts() {
  local m
  m=$(curl -sf "$TG_URL/metrics") || return 0
  say "  leases: $(metric "$m" budget_lease_admissions) of $1 calls admitted from a lease;" \
    "$(metric "$m" budget_leases_granted) leases granted, $(metric "$m" budget_leases_refused) refused"
}

# The value of the counter `tollgate_$2` in the metrics text $1 (0 when absent).
metric() {
  awk -v n="tollgate_$2_total" '$1 == n { v = $2 } END { printf "%d", v + 0 }' <<<"$1"
}

# The bare Rust hop (bench/rust_hop.rs, built with the release binary's examples): the crates
# Tollgate is built from forwarding bytes and nothing else. Sets RUST_HOP_URL and RUST_HOP_PID;
# fails when the example was not built (TOLLGATE_BIN from elsewhere).
start_rust_hop() {
  local bin
  bin=$(dirname "$TOLLGATE_BIN")/examples/rust_hop
  [[ -x $bin ]] || { say "bare Rust hop skipped: $bin not built (cargo build --release --examples)"; return 1; }
  RUST_HOP_PORT=$(free_port)
  RUST_HOP_URL=http://127.0.0.1:$RUST_HOP_PORT
  # RUST_HOP_MODE: commit=task, thread, lead, inline or meter, see bench/rust_hop.rs.
  # TMPDIR: commit=meter keeps its SQLite file in the temp dir; the run's own is removed after.
  TMPDIR=$WORK "$bin" "127.0.0.1:$RUST_HOP_PORT" "$UPSTREAM_URL" ${RUST_HOP_MODE:+"$RUST_HOP_MODE"} >"$WORK/rust-hop.log" 2>&1 &
  RUST_HOP_PID=$!
  wait_http "$RUST_HOP_URL/healthz" 30 "$RUST_HOP_PID" ||
    die "the bare Rust hop did not start: $(tail -n 5 "$WORK/rust-hop.log")"
}
