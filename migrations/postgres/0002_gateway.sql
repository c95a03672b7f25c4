-- API keys, call starts and the usage ledger.
-- PostgreSQL version of migrations/sqlite/0002_gateway.sql; same tables, columns and keys.
-- Differences from SQLite, and why:
-- * Integers are BIGINT (the code binds i64); api_keys.disabled, call_starts.streamed and
--   usage_records.streamed are BOOLEAN (the code binds and reads bool).
-- * usage_records.seq (a SQLite rowid: the ledger order) is an identity column; the code never
--   inserts it. A copy from SQLite that keeps seq uses OVERRIDING SYSTEM VALUE, then setval().
-- * The time index also carries seq: SQLite appends the rowid to every index, so its
--   (started_at) index is really (started_at, seq), the order audit pages read in
--   (ORDER BY started_at DESC, seq DESC with a (started_at, seq) < (…) cursor). PostgreSQL
--   indexes do not carry the row's key, so it is spelled out. Same for key_time below.
-- * TEXT columns are COLLATE "C" (byte-wise, as SQLite's BINARY collation).

ALTER TABLE providers ADD COLUMN connect_timeout_ms BIGINT;
ALTER TABLE providers ADD COLUMN first_byte_timeout_ms BIGINT;
ALTER TABLE providers ADD COLUMN total_timeout_ms BIGINT;

-- A key's secret is never stored: only its SHA-256 (keys are 192-bit random, so a fast hash
-- is safe) and a short prefix to recognise it by.
CREATE TABLE api_keys (
    id             TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT COLLATE "C" NOT NULL,
    team_id        TEXT COLLATE "C",
    key_hash       TEXT COLLATE "C" NOT NULL UNIQUE,
    key_prefix     TEXT COLLATE "C" NOT NULL,
    allowed_models TEXT COLLATE "C",            -- JSON array, NULL = every model
    expires_at     BIGINT,
    disabled       BOOLEAN NOT NULL,
    revoked_at     BIGINT,
    metadata       TEXT COLLATE "C" NOT NULL,   -- JSON object
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);

-- Written when a call is forwarded, so that a call cut short by a crash is closed out at the
-- next start (a usage record with status 'interrupted').
CREATE TABLE call_starts (
    id               TEXT COLLATE "C" PRIMARY KEY,
    started_at       BIGINT NOT NULL,
    key_id           TEXT COLLATE "C",
    team_id          TEXT COLLATE "C",
    model_id         TEXT COLLATE "C" NOT NULL,
    provider_id      TEXT COLLATE "C",
    upstream_model   TEXT COLLATE "C",
    endpoint         TEXT COLLATE "C" NOT NULL,
    streamed         BOOLEAN NOT NULL,
    price_version_id BIGINT,
    input_tokens_estimate BIGINT NOT NULL
);

-- The usage ledger: one row per call, append-only (never updated or deleted; see 0006).
-- seq orders rows for stable cursor pagination; id is the call id (x-request-id), unique so a
-- retried write of the same record is a no-op (INSERT … ON CONFLICT (id) DO NOTHING).
CREATE TABLE usage_records (
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id                  TEXT COLLATE "C" NOT NULL UNIQUE,
    started_at          BIGINT NOT NULL,
    finished_at         BIGINT NOT NULL,
    key_id              TEXT COLLATE "C",
    team_id             TEXT COLLATE "C",
    model_id            TEXT COLLATE "C" NOT NULL,
    provider_id         TEXT COLLATE "C",
    upstream_model      TEXT COLLATE "C",
    endpoint            TEXT COLLATE "C" NOT NULL,
    streamed            BOOLEAN NOT NULL,
    status              TEXT COLLATE "C" NOT NULL,
    http_status         BIGINT NOT NULL,
    upstream_status     BIGINT,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    images              BIGINT NOT NULL,
    usage_source        TEXT COLLATE "C" NOT NULL,
    price_version_id    BIGINT,
    cost_picos          BIGINT NOT NULL,
    latency_ms          BIGINT NOT NULL,
    ttft_ms             BIGINT,
    error               TEXT COLLATE "C"
);

CREATE INDEX usage_records_key_time ON usage_records (key_id, started_at, seq);
CREATE INDEX usage_records_time ON usage_records (started_at, seq);
