-- Rollups become WITHOUT ROWID tables, clustered by their primary key (bucket first): a
-- report's range of buckets is then one run of consecutive leaf pages, where a rowid table
-- made every row an index probe plus a table lookup. The rollup triggers are dropped and
-- recreated around the swap (a trigger naming a dropped table would fail the rename).
-- (PostgreSQL: CLUSTER on the primary key, or an index that INCLUDEs the measures.)

DROP TRIGGER usage_records_hourly;
DROP TRIGGER usage_records_daily;

CREATE TABLE usage_rollups_hourly_clustered (
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
) WITHOUT ROWID;

INSERT INTO usage_rollups_hourly_clustered SELECT * FROM usage_rollups_hourly;
DROP TABLE usage_rollups_hourly;
ALTER TABLE usage_rollups_hourly_clustered RENAME TO usage_rollups_hourly;

CREATE TABLE usage_rollups_daily_clustered (
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
) WITHOUT ROWID;

INSERT INTO usage_rollups_daily_clustered SELECT * FROM usage_rollups_daily;
DROP TABLE usage_rollups_daily;
ALTER TABLE usage_rollups_daily_clustered RENAME TO usage_rollups_daily;


CREATE TRIGGER usage_records_hourly AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
    VALUES (NEW.started_at - NEW.started_at % 3600000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_hourly.requests + 1,
        input_tokens = usage_rollups_hourly.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_hourly.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_hourly.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_hourly.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_hourly.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_hourly.images + excluded.images,
        cost_picos = usage_rollups_hourly.cost_picos + excluded.cost_picos;
END;

CREATE TRIGGER usage_records_daily AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
    VALUES (NEW.started_at - NEW.started_at % 86400000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_daily.requests + 1,
        input_tokens = usage_rollups_daily.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_daily.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_daily.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_daily.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_daily.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_daily.images + excluded.images,
        cost_picos = usage_rollups_daily.cost_picos + excluded.cost_picos;
END;

-- Reports filtered to one key, team or model (a per-key dashboard) read that slice of the
-- range instead of filtering every row of it. An upsert that only adds to an existing rollup
-- row leaves these indexes untouched; only a row's first call in its bucket writes them.
CREATE INDEX usage_rollups_hourly_key ON usage_rollups_hourly (key_id, bucket);
CREATE INDEX usage_rollups_hourly_team ON usage_rollups_hourly (team_id, bucket);
CREATE INDEX usage_rollups_hourly_model ON usage_rollups_hourly (model_id, bucket);
CREATE INDEX usage_rollups_daily_key ON usage_rollups_daily (key_id, bucket);
CREATE INDEX usage_rollups_daily_team ON usage_rollups_daily (team_id, bucket);
CREATE INDEX usage_rollups_daily_model ON usage_rollups_daily (model_id, bucket);
