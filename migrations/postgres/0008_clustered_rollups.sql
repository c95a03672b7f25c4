-- Reports read rollups by a range of buckets, optionally filtered to one key, team or model.
-- PostgreSQL version of migrations/sqlite/0008_clustered_rollups.sql. SQLite rebuilds the
-- rollups as WITHOUT ROWID tables clustered by their primary key and re-creates the rollup
-- triggers around the swap. PostgreSQL has no clustered tables: the rollups were created in
-- their final form by 0003 (same columns, same primary key, bucket first) and their triggers
-- by 0005, so this file only
-- * names the primary key as each rollup's CLUSTER index, so that an operator's
--   `CLUSTER usage_rollups_hourly;` (a maintenance task, not a migration: it rewrites the table
--   under an exclusive lock) lays the rows out in bucket order;
-- * adds the same per-dimension indexes as SQLite. An upsert that only adds to an existing
--   rollup row changes no indexed column, so it is a HOT update that leaves every index
--   untouched; only a row's first call in its bucket writes them.

ALTER TABLE usage_rollups_hourly CLUSTER ON usage_rollups_hourly_pkey;
ALTER TABLE usage_rollups_daily CLUSTER ON usage_rollups_daily_pkey;

CREATE INDEX usage_rollups_hourly_key ON usage_rollups_hourly (key_id, bucket);
CREATE INDEX usage_rollups_hourly_team ON usage_rollups_hourly (team_id, bucket);
CREATE INDEX usage_rollups_hourly_model ON usage_rollups_hourly (model_id, bucket);
CREATE INDEX usage_rollups_daily_key ON usage_rollups_daily (key_id, bucket);
CREATE INDEX usage_rollups_daily_team ON usage_rollups_daily (team_id, bucket);
CREATE INDEX usage_rollups_daily_model ON usage_rollups_daily (model_id, bucket);
