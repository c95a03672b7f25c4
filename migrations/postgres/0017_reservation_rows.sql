-- Reservations on PostgreSQL are insert-only rows: an account's reserved amount is the sum of
-- its rows, read with its spent (or balance) in one statement under the account's advisory
-- lock (src/store/reserve_many.rs). This index serves that sum; the accounts'
-- `reserved_picos` columns are no longer kept (left in place, and cleared by a full release).
CREATE INDEX budget_reservations_account ON budget_reservations (account, account_id, period_start);
