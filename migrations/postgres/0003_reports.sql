-- Report rollups and append-only adjustments (corrections that reference a usage record; the
-- record itself never changes). Absent key/team/provider are '' in rollups so that the primary
-- key can dedupe them.
-- PostgreSQL version of migrations/sqlite/0003_reports.sql. Differences, and why:
-- * The rollups are created here in their final form (SQLite rebuilds them as WITHOUT ROWID
--   tables in 0008; PostgreSQL has no such thing: 0008 adds their indexes and marks the
--   primary key as their CLUSTER index). fillfactor 80 leaves room on each page so the
--   constant "add to this row" updates stay HOT (no index writes; no measure is indexed).
-- * usage_adjustments.seq is an identity column (a SQLite rowid); integers BIGINT; TEXT
--   COLLATE "C".
-- * The backfill (a no-op on a new database; kept for equivalence) casts each SUM back to
--   BIGINT: SUM(bigint) is NUMERIC in PostgreSQL; the cast fails loudly rather than overflow.
-- * The per-dimension seq indexes are created as in SQLite and dropped again by 0007.

CREATE TABLE usage_rollups_hourly (
    bucket              BIGINT NOT NULL, -- start of the UTC hour, ms
    key_id              TEXT COLLATE "C" NOT NULL,
    team_id             TEXT COLLATE "C" NOT NULL,
    model_id            TEXT COLLATE "C" NOT NULL,
    provider_id         TEXT COLLATE "C" NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    images              BIGINT NOT NULL,
    cost_picos          BIGINT NOT NULL,
    PRIMARY KEY (bucket, key_id, team_id, model_id, provider_id)
) WITH (fillfactor = 80);

CREATE TABLE usage_rollups_daily (
    bucket              BIGINT NOT NULL, -- start of the UTC day, ms
    key_id              TEXT COLLATE "C" NOT NULL,
    team_id             TEXT COLLATE "C" NOT NULL,
    model_id            TEXT COLLATE "C" NOT NULL,
    provider_id         TEXT COLLATE "C" NOT NULL,
    requests            BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    cache_write_tokens  BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    reasoning_tokens    BIGINT NOT NULL,
    images              BIGINT NOT NULL,
    cost_picos          BIGINT NOT NULL,
    PRIMARY KEY (bucket, key_id, team_id, model_id, provider_id)
) WITH (fillfactor = 80);

CREATE TABLE usage_adjustments (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    usage_id    TEXT COLLATE "C" NOT NULL REFERENCES usage_records (id),
    created_at  BIGINT NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL,
    reason      TEXT COLLATE "C",
    cost_delta_picos BIGINT NOT NULL,
    price_version_id BIGINT
);

CREATE INDEX usage_adjustments_usage ON usage_adjustments (usage_id);
CREATE INDEX usage_records_key_seq ON usage_records (key_id, seq);
CREATE INDEX usage_records_team_seq ON usage_records (team_id, seq);
CREATE INDEX usage_records_model_seq ON usage_records (model_id, seq);

INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
SELECT started_at - started_at % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id,
       COALESCE(provider_id, ''), COUNT(*), SUM(input_tokens)::BIGINT, SUM(cached_input_tokens)::BIGINT,
       SUM(cache_write_tokens)::BIGINT, SUM(output_tokens)::BIGINT, SUM(reasoning_tokens)::BIGINT,
       SUM(images)::BIGINT, SUM(cost_picos)::BIGINT
FROM usage_records
GROUP BY 1, 2, 3, 4, 5;

INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
    cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
SELECT started_at - started_at % 86400000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id,
       COALESCE(provider_id, ''), COUNT(*), SUM(input_tokens)::BIGINT, SUM(cached_input_tokens)::BIGINT,
       SUM(cache_write_tokens)::BIGINT, SUM(output_tokens)::BIGINT, SUM(reasoning_tokens)::BIGINT,
       SUM(images)::BIGINT, SUM(cost_picos)::BIGINT
FROM usage_records
GROUP BY 1, 2, 3, 4, 5;
