-- The rollups count the calls that did not succeed (`errors`: status other than 'ok'), so
-- that an error rate over any period is exact and read from the rollups like spend, instead
-- of from a sample of the latest calls. Existing rollups are backfilled from the records (a
-- rollup row is a cache of the ledger, not the ledger: it may be updated; the records are
-- not). The record triggers are re-created to count errors; adjustments add no calls, so
-- their upserts leave `errors` as it is (DEFAULT 0 on a new row).
-- (PostgreSQL: the same column, backfill and trigger function.)

DROP TRIGGER usage_records_hourly;
DROP TRIGGER usage_records_daily;

ALTER TABLE usage_rollups_hourly ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;

UPDATE usage_rollups_hourly AS r SET errors = e.n
FROM (SELECT started_at - started_at % 3600000 AS bucket, COALESCE(key_id, '') AS key_id,
             COALESCE(team_id, '') AS team_id, model_id, COALESCE(provider_id, '') AS provider_id,
             COUNT(*) AS n
      FROM usage_records WHERE status <> 'ok'
      GROUP BY 1, 2, 3, 4, 5) AS e
WHERE r.bucket = e.bucket AND r.key_id = e.key_id AND r.team_id = e.team_id
  AND r.model_id = e.model_id AND r.provider_id = e.provider_id;

UPDATE usage_rollups_daily AS r SET errors = e.n
FROM (SELECT started_at - started_at % 86400000 AS bucket, COALESCE(key_id, '') AS key_id,
             COALESCE(team_id, '') AS team_id, model_id, COALESCE(provider_id, '') AS provider_id,
             COUNT(*) AS n
      FROM usage_records WHERE status <> 'ok'
      GROUP BY 1, 2, 3, 4, 5) AS e
WHERE r.bucket = e.bucket AND r.key_id = e.key_id AND r.team_id = e.team_id
  AND r.model_id = e.model_id AND r.provider_id = e.provider_id;

CREATE TRIGGER usage_records_hourly AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors)
    VALUES (NEW.started_at - NEW.started_at % 3600000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos,
            CASE WHEN NEW.status = 'ok' THEN 0 ELSE 1 END)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_hourly.requests + 1,
        input_tokens = usage_rollups_hourly.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_hourly.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_hourly.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_hourly.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_hourly.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_hourly.images + excluded.images,
        cost_picos = usage_rollups_hourly.cost_picos + excluded.cost_picos,
        errors = usage_rollups_hourly.errors + excluded.errors;
END;

CREATE TRIGGER usage_records_daily AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors)
    VALUES (NEW.started_at - NEW.started_at % 86400000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos,
            CASE WHEN NEW.status = 'ok' THEN 0 ELSE 1 END)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_daily.requests + 1,
        input_tokens = usage_rollups_daily.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_daily.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_daily.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_daily.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_daily.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_daily.images + excluded.images,
        cost_picos = usage_rollups_daily.cost_picos + excluded.cost_picos,
        errors = usage_rollups_daily.errors + excluded.errors;
END;
