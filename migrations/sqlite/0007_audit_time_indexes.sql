-- The audit trail pages by (started_at, seq), newest first, through the time indexes (SQLite
-- appends the rowid seq to every index). The per-dimension seq indexes it used before made a
-- page over a long range sort the whole range; they go, and the model dimension gets a time
-- index like key and team have. One index fewer to maintain on every insert, too.

DROP INDEX usage_records_key_seq;
DROP INDEX usage_records_team_seq;
DROP INDEX usage_records_model_seq;
CREATE INDEX usage_records_model_time ON usage_records (model_id, started_at);
