-- Rollups are maintained by a trigger: inserting usage records adds them to their hourly and
-- daily rollups inside the same statement (so in the same transaction), so they can never
-- disagree with the ledger and the writer pays no extra round trips for them.
-- PostgreSQL version of migrations/sqlite/0005_rollup_triggers.sql. Differences, and why:
-- * One trigger, FOR EACH STATEMENT with a transition table (REFERENCING NEW TABLE), instead
--   of SQLite's two row triggers (usage_records_hourly, usage_records_daily): a multi-row
--   insert of a batch adds to each rollup row once, with the batch's sums, instead of once per
--   record. The transition table holds only the rows actually inserted, so a record written
--   twice (INSERT … ON CONFLICT (id) DO NOTHING) is counted once, as in SQLite.
-- * Fixed lock order, for replicas writing at once: hourly rows, then daily rows (the order
--   src/store/reports.rs upsert_rollups uses for adjustments), each in primary-key order
--   (ORDER BY). Two PostgreSQL row triggers would fire in name order, daily first.
-- * Each SUM (NUMERIC in PostgreSQL) is cast back to BIGINT, and BIGINT + BIGINT raises
--   "bigint out of range" (SQLSTATE 22003) on overflow: the statement fails instead of losing
--   exactness (SQLite turns an overflowing + into a REAL).
-- * 0008's drop/re-create of the triggers around the table swap is not needed in PostgreSQL.

CREATE FUNCTION tollgate_usage_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_rollups_hourly (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
    SELECT n.started_at - n.started_at % 3600000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT
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
        cost_picos = usage_rollups_hourly.cost_picos + EXCLUDED.cost_picos;
    INSERT INTO usage_rollups_daily (bucket, key_id, team_id, model_id, provider_id, requests, input_tokens,
        cached_input_tokens, cache_write_tokens, output_tokens, reasoning_tokens, images, cost_picos)
    SELECT n.started_at - n.started_at % 86400000, COALESCE(n.key_id, ''), COALESCE(n.team_id, ''), n.model_id,
           COALESCE(n.provider_id, ''), COUNT(*), SUM(n.input_tokens)::BIGINT, SUM(n.cached_input_tokens)::BIGINT,
           SUM(n.cache_write_tokens)::BIGINT, SUM(n.output_tokens)::BIGINT, SUM(n.reasoning_tokens)::BIGINT,
           SUM(n.images)::BIGINT, SUM(n.cost_picos)::BIGINT
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
        cost_picos = usage_rollups_daily.cost_picos + EXCLUDED.cost_picos;
    RETURN NULL;
END;
$$;

CREATE TRIGGER usage_records_rollups AFTER INSERT ON usage_records
    REFERENCING NEW TABLE AS new_records
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_usage_rollups();
