-- API keys and the usage ledger.

ALTER TABLE providers ADD COLUMN connect_timeout_ms INTEGER;
ALTER TABLE providers ADD COLUMN first_byte_timeout_ms INTEGER;
ALTER TABLE providers ADD COLUMN total_timeout_ms INTEGER;

-- A key's secret is never stored: only its SHA-256 (keys are 192-bit random, so a fast hash
-- is safe) and a short prefix to recognise it by.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    team_id        TEXT,
    key_hash       TEXT NOT NULL UNIQUE,
    key_prefix     TEXT NOT NULL,
    allowed_models TEXT,            -- JSON array, NULL = every model
    expires_at     INTEGER,
    disabled       INTEGER NOT NULL,
    revoked_at     INTEGER,
    metadata       TEXT NOT NULL,   -- JSON object
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- Written when a call is forwarded, so that a call cut short by a crash is closed out at the
-- next start (a usage record with status 'interrupted').
CREATE TABLE call_starts (
    id               TEXT PRIMARY KEY,
    started_at       INTEGER NOT NULL,
    key_id           TEXT,
    team_id          TEXT,
    model_id         TEXT NOT NULL,
    provider_id      TEXT,
    upstream_model   TEXT,
    endpoint         TEXT NOT NULL,
    streamed         INTEGER NOT NULL,
    price_version_id INTEGER,
    input_tokens_estimate INTEGER NOT NULL
);

-- The usage ledger: one row per call, append-only (never updated or deleted).
-- seq orders rows for stable cursor pagination; id is the call id (x-request-id), unique so a
-- retried write of the same record is a no-op.
CREATE TABLE usage_records (
    seq                 INTEGER PRIMARY KEY,
    id                  TEXT NOT NULL UNIQUE,
    started_at          INTEGER NOT NULL,
    finished_at         INTEGER NOT NULL,
    key_id              TEXT,
    team_id             TEXT,
    model_id            TEXT NOT NULL,
    provider_id         TEXT,
    upstream_model      TEXT,
    endpoint            TEXT NOT NULL,
    streamed            INTEGER NOT NULL,
    status              TEXT NOT NULL,
    http_status         INTEGER NOT NULL,
    upstream_status     INTEGER,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    images              INTEGER NOT NULL,
    usage_source        TEXT NOT NULL,
    price_version_id    INTEGER,
    cost_picos          INTEGER NOT NULL,
    latency_ms          INTEGER NOT NULL,
    ttft_ms             INTEGER,
    error               TEXT
);

CREATE INDEX usage_records_key_time ON usage_records (key_id, started_at);
CREATE INDEX usage_records_time ON usage_records (started_at);
