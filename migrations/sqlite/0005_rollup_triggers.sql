-- Rollups are maintained by triggers: inserting a usage record adds it to its hourly and daily
-- rollups inside the same statement, so they can never disagree with the ledger and the writer
-- pays no extra round trips for them. (A record inserted twice is ignored by ON CONFLICT, and
-- the trigger only fires for rows actually inserted.) A PostgreSQL backend does the same with a
-- trigger function.

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
