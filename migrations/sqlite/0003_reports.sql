-- Report rollups, written in the same transaction as each usage record, and append-only
-- adjustments (corrections that reference a usage record; the record itself never changes).
-- Absent key/team/provider are '' in rollups so that the primary key can dedupe them.

CREATE TABLE usage_rollups_hourly (
    bucket              INTEGER NOT NULL, -- start of the UTC hour, ms
    key_id              TEXT NOT NULL,
    team_id             TEXT NOT NULL,
    model_id            TEXT NOT NULL,
    provider_id         TEXT NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    images              INTEGER NOT NULL,
    cost_picos          INTEGER NOT NULL,
    PRIMARY KEY (bucket, key_id, team_id, model_id, provider_id)
);

CREATE TABLE usage_rollups_daily (
    bucket              INTEGER NOT NULL, -- start of the UTC day, ms
    key_id              TEXT NOT NULL,
    team_id             TEXT NOT NULL,
    model_id            TEXT NOT NULL,
    provider_id         TEXT NOT NULL,
    requests            INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    cached_input_tokens INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    reasoning_tokens    INTEGER NOT NULL,
    images              INTEGER NOT NULL,
    cost_picos          INTEGER NOT NULL,
    PRIMARY KEY (bucket, key_id, team_id, model_id, provider_id)
);

CREATE TABLE usage_adjustments (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    usage_id    TEXT NOT NULL REFERENCES usage_records (id),
    created_at  INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    reason      TEXT,
    cost_delta_picos INTEGER NOT NULL,
    price_version_id INTEGER
);

CREATE INDEX usage_adjustments_usage ON usage_adjustments (usage_id);
CREATE INDEX usage_records_key_seq ON usage_records (key_id, seq);
CREATE INDEX usage_records_team_seq ON usage_records (team_id, seq);
CREATE INDEX usage_records_model_seq ON usage_records (model_id, seq);

INSERT INTO usage_rollups_hourly
SELECT started_at - started_at % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id,
       COALESCE(provider_id, ''), COUNT(*), SUM(input_tokens), SUM(cached_input_tokens),
       SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(images), SUM(cost_picos)
FROM usage_records
GROUP BY started_at - started_at % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id, COALESCE(provider_id, '');

INSERT INTO usage_rollups_daily
SELECT started_at - started_at % 86400000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id,
       COALESCE(provider_id, ''), COUNT(*), SUM(input_tokens), SUM(cached_input_tokens),
       SUM(cache_write_tokens), SUM(output_tokens), SUM(reasoning_tokens), SUM(images), SUM(cost_picos)
FROM usage_records
GROUP BY started_at - started_at % 86400000, COALESCE(key_id, ''), COALESCE(team_id, ''), model_id, COALESCE(provider_id, '');
