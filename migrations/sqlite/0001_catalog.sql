-- The catalog: providers, models, effective-dated prices and related models.
-- Times are INTEGER milliseconds since the Unix epoch (UTC), portable to PostgreSQL BIGINT.
-- Prices are TEXT decimal strings: they are read, never summed. Amounts that reports sum
-- (costs, in later migrations) are INTEGER picodollars; see src/money.rs.

CREATE TABLE providers (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic')),
    name          TEXT NOT NULL,
    base_url      TEXT NOT NULL,
    api_key_env   TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE models (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    creator           TEXT NOT NULL,
    provider_id       TEXT NOT NULL REFERENCES providers (id),
    upstream_model    TEXT NOT NULL,
    description       TEXT NOT NULL,
    context_length    INTEGER,
    max_output_tokens INTEGER,
    input_modalities  TEXT NOT NULL, -- JSON array of strings
    capabilities      TEXT NOT NULL, -- JSON array of strings
    default_params    TEXT NOT NULL, -- JSON object
    open_weights      INTEGER NOT NULL,
    added_on          TEXT NOT NULL, -- YYYY-MM-DD
    status            TEXT NOT NULL CHECK (status IN ('active', 'deprecated')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

-- Append-only: a new price is a new row; rows are never updated or deleted.
CREATE TABLE model_prices (
    id                    INTEGER PRIMARY KEY,
    model_id              TEXT NOT NULL REFERENCES models (id),
    effective_from        INTEGER NOT NULL,
    input_per_mtok        TEXT NOT NULL,
    output_per_mtok       TEXT NOT NULL,
    cached_input_per_mtok TEXT,
    cache_write_per_mtok  TEXT,
    reasoning_per_mtok    TEXT,
    per_request           TEXT NOT NULL,
    per_image             TEXT NOT NULL,
    tiers                 TEXT NOT NULL, -- JSON array of tiers
    created_at            INTEGER NOT NULL,
    UNIQUE (model_id, effective_from)
);

CREATE TABLE related_models (
    model_id   TEXT NOT NULL REFERENCES models (id),
    related_id TEXT NOT NULL REFERENCES models (id),
    position   INTEGER NOT NULL,
    PRIMARY KEY (model_id, related_id)
);
