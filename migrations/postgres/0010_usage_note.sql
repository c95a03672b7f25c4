-- Why a record's tokens are the gateway's own count rather than the upstream's report (an
-- invalid or absurd usage report, a stream the gateway cut at its output cap, a record the
-- ledger refused as reported), with the raw report kept for inspection.
-- PostgreSQL version of migrations/sqlite/0010_usage_note.sql: identical but for COLLATE "C".
-- (There is no 0009, in either folder.) Adding a nullable column without a default is a
-- catalog-only change in PostgreSQL: no table rewrite, and the ledger's triggers are unaffected.
ALTER TABLE usage_records ADD COLUMN usage_note TEXT COLLATE "C";
