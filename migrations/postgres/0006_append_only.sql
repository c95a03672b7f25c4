-- The ledgers are append-only: a usage record, an adjustment or a credit entry is never
-- changed or removed, whatever code runs against the database. Corrections are new rows that
-- reference the old ones.
-- PostgreSQL version of migrations/sqlite/0006_append_only.sql: the same rule as BEFORE UPDATE
-- and BEFORE DELETE row triggers (same names, same messages, containing 'append-only'; they
-- fire for each row touched, as in SQLite). Added in PostgreSQL only: a BEFORE TRUNCATE
-- statement trigger on each ledger, since TRUNCATE skips row triggers (SQLite has no TRUNCATE).
-- The error's SQLSTATE is 23001 (restrict_violation). Only a table owner or superuser can
-- disable these triggers.

CREATE FUNCTION tollgate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_ARGV[0], ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER usage_records_append_only_update BEFORE UPDATE ON usage_records
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('usage records are append-only');
CREATE TRIGGER usage_records_append_only_delete BEFORE DELETE ON usage_records
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('usage records are append-only');
CREATE TRIGGER usage_records_append_only_truncate BEFORE TRUNCATE ON usage_records
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_append_only('usage records are append-only');

CREATE TRIGGER usage_adjustments_append_only_update BEFORE UPDATE ON usage_adjustments
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('usage adjustments are append-only');
CREATE TRIGGER usage_adjustments_append_only_delete BEFORE DELETE ON usage_adjustments
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('usage adjustments are append-only');
CREATE TRIGGER usage_adjustments_append_only_truncate BEFORE TRUNCATE ON usage_adjustments
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_append_only('usage adjustments are append-only');

CREATE TRIGGER credit_entries_append_only_update BEFORE UPDATE ON credit_entries
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('credit entries are append-only');
CREATE TRIGGER credit_entries_append_only_delete BEFORE DELETE ON credit_entries
    FOR EACH ROW EXECUTE FUNCTION tollgate_append_only('credit entries are append-only');
CREATE TRIGGER credit_entries_append_only_truncate BEFORE TRUNCATE ON credit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_append_only('credit entries are append-only');
