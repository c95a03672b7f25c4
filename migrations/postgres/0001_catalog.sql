-- The catalog: providers, models, effective-dated prices and related models.
-- PostgreSQL version of migrations/sqlite/0001_catalog.sql; same tables, columns and keys.
-- Differences from SQLite, and why:
-- * Every integer is BIGINT: the Rust code binds and reads i64 (sqlx decodes i64 from INT8
--   only). Times stay integer milliseconds since the Unix epoch (UTC).
-- * models.open_weights is BOOLEAN: the Rust code binds and reads a bool.
-- * model_prices.id (a SQLite rowid) is an identity column; the code never inserts it
--   (it reads it back with RETURNING id). A copy from SQLite that keeps the ids must use
--   OVERRIDING SYSTEM VALUE and then setval() the identity's sequence.
-- * Every TEXT column is COLLATE "C": comparisons and ORDER BY are byte-wise, as with
--   SQLite's BINARY collation, whatever the database's locale (and btree compares are cheaper).
-- Prices are TEXT decimal strings: read, never summed. JSON documents are TEXT (the code binds
-- strings).

CREATE TABLE providers (
    id            TEXT COLLATE "C" PRIMARY KEY,
    kind          TEXT COLLATE "C" NOT NULL CHECK (kind IN ('openai', 'anthropic')),
    name          TEXT COLLATE "C" NOT NULL,
    base_url      TEXT COLLATE "C" NOT NULL,
    api_key_env   TEXT COLLATE "C",
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE models (
    id                TEXT COLLATE "C" PRIMARY KEY,
    name              TEXT COLLATE "C" NOT NULL,
    creator           TEXT COLLATE "C" NOT NULL,
    provider_id       TEXT COLLATE "C" NOT NULL REFERENCES providers (id),
    upstream_model    TEXT COLLATE "C" NOT NULL,
    description       TEXT COLLATE "C" NOT NULL,
    context_length    BIGINT,
    max_output_tokens BIGINT,
    input_modalities  TEXT COLLATE "C" NOT NULL, -- JSON array of strings
    capabilities      TEXT COLLATE "C" NOT NULL, -- JSON array of strings
    default_params    TEXT COLLATE "C" NOT NULL, -- JSON object
    open_weights      BOOLEAN NOT NULL,
    added_on          TEXT COLLATE "C" NOT NULL, -- YYYY-MM-DD
    status            TEXT COLLATE "C" NOT NULL CHECK (status IN ('active', 'deprecated')),
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);

-- Append-only by convention: a new price is a new row; rows are never updated or deleted.
CREATE TABLE model_prices (
    id                    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id              TEXT COLLATE "C" NOT NULL REFERENCES models (id),
    effective_from        BIGINT NOT NULL,
    input_per_mtok        TEXT COLLATE "C" NOT NULL,
    output_per_mtok       TEXT COLLATE "C" NOT NULL,
    cached_input_per_mtok TEXT COLLATE "C",
    cache_write_per_mtok  TEXT COLLATE "C",
    reasoning_per_mtok    TEXT COLLATE "C",
    per_request           TEXT COLLATE "C" NOT NULL,
    per_image             TEXT COLLATE "C" NOT NULL,
    tiers                 TEXT COLLATE "C" NOT NULL, -- JSON array of tiers
    created_at            BIGINT NOT NULL,
    UNIQUE (model_id, effective_from)
);

CREATE TABLE related_models (
    model_id   TEXT COLLATE "C" NOT NULL REFERENCES models (id),
    related_id TEXT COLLATE "C" NOT NULL REFERENCES models (id),
    position   BIGINT NOT NULL,
    PRIMARY KEY (model_id, related_id)
);
