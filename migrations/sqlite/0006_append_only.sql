-- The ledgers are append-only: a usage record, an adjustment or a credit entry is never
-- changed or removed, whatever code runs against the database. Corrections are new rows that
-- reference the old ones. (PostgreSQL: the same with BEFORE UPDATE OR DELETE triggers.)

CREATE TRIGGER usage_records_append_only_update BEFORE UPDATE ON usage_records
BEGIN SELECT RAISE(ABORT, 'usage records are append-only'); END;
CREATE TRIGGER usage_records_append_only_delete BEFORE DELETE ON usage_records
BEGIN SELECT RAISE(ABORT, 'usage records are append-only'); END;

CREATE TRIGGER usage_adjustments_append_only_update BEFORE UPDATE ON usage_adjustments
BEGIN SELECT RAISE(ABORT, 'usage adjustments are append-only'); END;
CREATE TRIGGER usage_adjustments_append_only_delete BEFORE DELETE ON usage_adjustments
BEGIN SELECT RAISE(ABORT, 'usage adjustments are append-only'); END;

CREATE TRIGGER credit_entries_append_only_update BEFORE UPDATE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;
CREATE TRIGGER credit_entries_append_only_delete BEFORE DELETE ON credit_entries
BEGIN SELECT RAISE(ABORT, 'credit entries are append-only'); END;
