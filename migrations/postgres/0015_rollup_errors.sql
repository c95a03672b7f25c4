-- The rollups count the calls that did not succeed (`errors`: status other than 'ok'), so
-- that an error rate over any period is exact and read from the rollups like spend.
-- PostgreSQL version of migrations/sqlite/0015_rollup_errors.sql. Differences, and why:
-- * ADD COLUMN … DEFAULT 0 does not rewrite the table (PostgreSQL 11+); the backfill then
--   updates only the rollup rows that had errors.
-- * The statement trigger's function is replaced (CREATE OR REPLACE) instead of SQLite's
--   drop and re-create of its two row triggers; the trigger itself is unchanged.

ALTER TABLE usage_rollups_hourly ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;

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

CREATE OR REPLACE FUNCTION tollgate_usage_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors)
    SELECT n.started_at - n.started_at % 3600000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT,
           COUNT(*) FILTER (WHERE n.status <> 'ok')
    FROM new_records n
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_hourly.requests + EXCLUDED.requests,
        input_tokens = usage_rollups_hourly.input_tokens + EXCLUDED.input_tokens,
        cached_input_tokens = usage_rollups_hourly.cached_input_tokens + EXCLUDED.cached_input_tokens,
        cache_write_tokens = usage_rollups_hourly.cache_write_tokens + EXCLUDED.cache_write_tokens,
        output_tokens = usage_rollups_hourly.output_tokens + EXCLUDED.output_tokens,
        reasoning_tokens = usage_rollups_hourly.reasoning_tokens + EXCLUDED.reasoning_tokens,
        images = usage_rollups_hourly.images + EXCLUDED.images,
        cost_picos = usage_rollups_hourly.cost_picos + EXCLUDED.cost_picos,
        errors = usage_rollups_hourly.errors + EXCLUDED.errors;
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors)
    SELECT n.started_at - n.started_at % 86400000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT,
           COUNT(*) FILTER (WHERE n.status <> 'ok')
    FROM new_records n
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_daily.requests + EXCLUDED.requests,
        input_tokens = usage_rollups_daily.input_tokens + EXCLUDED.input_tokens,
        cached_input_tokens = usage_rollups_daily.cached_input_tokens + EXCLUDED.cached_input_tokens,
        cache_write_tokens = usage_rollups_daily.cache_write_tokens + EXCLUDED.cache_write_tokens,
        output_tokens = usage_rollups_daily.output_tokens + EXCLUDED.output_tokens,
        reasoning_tokens = usage_rollups_daily.reasoning_tokens + EXCLUDED.reasoning_tokens,
        images = usage_rollups_daily.images + EXCLUDED.images,
        cost_picos = usage_rollups_daily.cost_picos + EXCLUDED.cost_picos,
        errors = usage_rollups_daily.errors + EXCLUDED.errors;
    RETURN NULL;
END;
$$;
