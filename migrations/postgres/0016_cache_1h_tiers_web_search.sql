-- Prices and usage kinds for issue 12's leftovers: one-hour cache writes, service tiers, web
-- searches. PostgreSQL version of migrations/sqlite/0016_cache_1h_tiers_web_search.sql (see it
-- for each column): the same columns, with COLLATE "C" on text; the rollup function (last
-- replaced by 0015) is replaced (CREATE OR REPLACE, so its statement trigger stays as it is) to sum the new
-- counts. Every column is nullable or has a constant default: catalog-only changes in
-- PostgreSQL, no table rewrite.
ALTER TABLE model_prices ADD COLUMN cache_write_1h_per_mtok TEXT COLLATE "C";
ALTER TABLE usage_records ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_hourly ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE model_prices ADD COLUMN service_tiers TEXT COLLATE "C" NOT NULL DEFAULT '[]';
ALTER TABLE usage_records ADD COLUMN service_tier TEXT COLLATE "C";
ALTER TABLE model_prices ADD COLUMN per_web_search TEXT COLLATE "C" NOT NULL DEFAULT '0';
ALTER TABLE usage_records ADD COLUMN web_search_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_hourly ADD COLUMN web_search_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN web_search_requests BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION tollgate_usage_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors, cache_write_1h_tokens, web_search_requests)
    SELECT n.started_at - n.started_at % 3600000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT,
           COUNT(*) FILTER (WHERE n.status <> 'ok'), SUM(n.cache_write_1h_tokens)::BIGINT, SUM(n.web_search_requests)::BIGINT
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
        errors = usage_rollups_hourly.errors + EXCLUDED.errors,
        cache_write_1h_tokens = usage_rollups_hourly.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens,
        web_search_requests = usage_rollups_hourly.web_search_requests + EXCLUDED.web_search_requests;
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors, cache_write_1h_tokens, web_search_requests)
    SELECT n.started_at - n.started_at % 86400000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT,
           COUNT(*) FILTER (WHERE n.status <> 'ok'), SUM(n.cache_write_1h_tokens)::BIGINT, SUM(n.web_search_requests)::BIGINT
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
        errors = usage_rollups_daily.errors + EXCLUDED.errors,
        cache_write_1h_tokens = usage_rollups_daily.cache_write_1h_tokens + EXCLUDED.cache_write_1h_tokens,
        web_search_requests = usage_rollups_daily.web_search_requests + EXCLUDED.web_search_requests;
    RETURN NULL;
END;
$$;
