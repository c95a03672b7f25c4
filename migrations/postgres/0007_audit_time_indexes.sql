-- The audit trail pages by (started_at, seq), newest first, through the time indexes. The
-- per-dimension seq indexes it used before made a page over a long range sort the whole range;
-- they go, and the model dimension gets a time index like key and team have.
-- PostgreSQL version of migrations/sqlite/0007_audit_time_indexes.sql. Difference: the new
-- index spells out seq as its last column (SQLite appends the rowid to every index implicitly;
-- PostgreSQL does not), so that ORDER BY started_at DESC, seq DESC with a
-- (started_at, seq) < (…) cursor is an index range read backwards, as in SQLite.

DROP INDEX usage_records_key_seq;
DROP INDEX usage_records_team_seq;
DROP INDEX usage_records_model_seq;
CREATE INDEX usage_records_model_time ON usage_records (model_id, started_at, seq);
