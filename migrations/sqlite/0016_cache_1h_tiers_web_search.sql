-- Prices and usage kinds for issue 12's leftovers:
-- * One-hour cache writes (Anthropic's `cache_control: {"ttl": "1h"}`), priced apart from the
--   5-minute writes: model_prices.cache_write_1h_per_mtok (NULL: the cache-write price);
--   usage_records.cache_write_1h_tokens, of a call's cache_write_tokens those written for one
--   hour (0 for every record written before: all were charged as 5-minute writes).
-- * Service tiers: model_prices.service_tiers, a version's prices in other tiers (a JSON list
--   of {tier, rates…, tiers} like `tiers`: read with the version, never summed or queried
--   alone, so a column and not a child table); usage_records.service_tier, the tier the
--   upstream reported serving the call in (standard, flex, priority, scale, batch; NULL when
--   not reported, as for every record written before).
-- * Web searches: model_prices.per_web_search, USD per search (a fee like per_request; '0'
--   before); usage_records.web_search_requests, the searches the upstream reported (0 before).
-- The rollups sum the two new counts like the other token kinds (reports re-price from sums),
-- so the rollup triggers are re-created to carry them.
ALTER TABLE model_prices ADD COLUMN cache_write_1h_per_mtok TEXT;
ALTER TABLE usage_records ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_hourly ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_prices ADD COLUMN service_tiers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE usage_records ADD COLUMN service_tier TEXT;
ALTER TABLE model_prices ADD COLUMN per_web_search TEXT NOT NULL DEFAULT '0';
ALTER TABLE usage_records ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_hourly ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage_rollups_daily ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER usage_records_hourly;
DROP TRIGGER usage_records_daily;

CREATE TRIGGER usage_records_hourly AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors, cache_write_1h_tokens, web_search_requests)
    VALUES (NEW.started_at - NEW.started_at % 3600000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos,
            CASE WHEN NEW.status = 'ok' THEN 0 ELSE 1 END, NEW.cache_write_1h_tokens, NEW.web_search_requests)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_hourly.requests + 1,
        input_tokens = usage_rollups_hourly.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_hourly.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_hourly.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_hourly.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_hourly.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_hourly.images + excluded.images,
        cost_picos = usage_rollups_hourly.cost_picos + excluded.cost_picos,
        errors = usage_rollups_hourly.errors + excluded.errors,
        cache_write_1h_tokens = usage_rollups_hourly.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
        web_search_requests = usage_rollups_hourly.web_search_requests + excluded.web_search_requests;
END;

CREATE TRIGGER usage_records_daily AFTER INSERT ON usage_records BEGIN
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos, errors, cache_write_1h_tokens, web_search_requests)
    VALUES (NEW.started_at - NEW.started_at % 86400000, COALESCE(NEW.key_id, ''), COALESCE(NEW.team_id, ''), NEW.model_id,
            COALESCE(NEW.provider_id, ''), 1, NEW.input_tokens, NEW.cached_input_tokens, NEW.cache_write_tokens,
            NEW.output_tokens, NEW.reasoning_tokens, NEW.images, NEW.cost_picos,
            CASE WHEN NEW.status = 'ok' THEN 0 ELSE 1 END, NEW.cache_write_1h_tokens, NEW.web_search_requests)
    ON CONFLICT (bucket, key_id, team_id, model_id, provider_id) DO UPDATE SET
        requests = usage_rollups_daily.requests + 1,
        input_tokens = usage_rollups_daily.input_tokens + excluded.input_tokens,
        cached_input_tokens = usage_rollups_daily.cached_input_tokens + excluded.cached_input_tokens,
        cache_write_tokens = usage_rollups_daily.cache_write_tokens + excluded.cache_write_tokens,
        output_tokens = usage_rollups_daily.output_tokens + excluded.output_tokens,
        reasoning_tokens = usage_rollups_daily.reasoning_tokens + excluded.reasoning_tokens,
        images = usage_rollups_daily.images + excluded.images,
        cost_picos = usage_rollups_daily.cost_picos + excluded.cost_picos,
        errors = usage_rollups_daily.errors + excluded.errors,
        cache_write_1h_tokens = usage_rollups_daily.cache_write_1h_tokens + excluded.cache_write_1h_tokens,
        web_search_requests = usage_rollups_daily.web_search_requests + excluded.web_search_requests;
END;
