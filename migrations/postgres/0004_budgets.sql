-- Teams, budgets, prepaid credits, rate limits and the alert outbox.
-- PostgreSQL version of migrations/sqlite/0004_budgets.sql. Differences, and why:
-- * credit_entries.seq and alerts.seq (SQLite rowids) are identity columns; the code never
--   inserts them (grant_credit reads credit_entries.seq back with RETURNING seq, and
--   credit_accounts.granted_seq stores it). A copy from SQLite that keeps them uses
--   OVERRIDING SYSTEM VALUE, then setval().
-- * Integers BIGINT (the code binds i64; alerts.next_attempt_at holds i64::MAX for "never");
--   TEXT COLLATE "C".
-- * budget_counters and credit_accounts are a handful of rows updated by every reservation
--   and settlement: fillfactor 50 keeps those updates HOT (nothing they change is indexed).
-- * usage_records_team_time carries seq like the other time indexes (see 0002).

CREATE TABLE teams (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL,
    budget      TEXT COLLATE "C",          -- JSON budget, NULL = none
    rate_limits TEXT COLLATE "C",          -- JSON rate limits, NULL = none
    webhook_url TEXT COLLATE "C",
    metadata    TEXT COLLATE "C" NOT NULL, -- JSON object
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE api_keys ADD COLUMN budget TEXT COLLATE "C";
ALTER TABLE api_keys ADD COLUMN rate_limits TEXT COLLATE "C";
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT COLLATE "C";

-- Prepaid credit ledger, append-only (see 0006): grants (positive) and usage (negative) of a
-- key or team.
CREATE TABLE credit_entries (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT COLLATE "C" NOT NULL UNIQUE,
    owner_kind  TEXT COLLATE "C" NOT NULL CHECK (owner_kind IN ('key', 'team')),
    owner_id    TEXT COLLATE "C" NOT NULL,
    kind        TEXT COLLATE "C" NOT NULL, -- grant, refund, free_tier, usage
    amount_picos BIGINT NOT NULL,
    usage_id    TEXT COLLATE "C",
    note        TEXT COLLATE "C",
    created_at  BIGINT NOT NULL
);
CREATE INDEX credit_entries_owner ON credit_entries (owner_kind, owner_id);

-- Alerts, written in the transaction that caused them and delivered by webhook from here.
-- dedupe_key makes "once per threshold per period" a constraint, not a hope.
CREATE TABLE alerts (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    dedupe_key      TEXT COLLATE "C" NOT NULL UNIQUE,
    kind            TEXT COLLATE "C" NOT NULL,
    scope           TEXT COLLATE "C" NOT NULL,
    scope_id        TEXT COLLATE "C" NOT NULL,
    payload         TEXT COLLATE "C" NOT NULL, -- the JSON body delivered
    created_at      BIGINT NOT NULL,
    webhook_url     TEXT COLLATE "C",
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at    BIGINT,
    last_error      TEXT COLLATE "C"
);
CREATE INDEX alerts_pending ON alerts (delivered_at, next_attempt_at);

-- Spend and reservations of each budget in each period, kept in the same transactions as the
-- usage records (settlement) and the reservations, so a conditional UPDATE can refuse a call
-- atomically: spent + reserved + this call's maximum must stay within the limit.
CREATE TABLE budget_counters (
    scope          TEXT COLLATE "C" NOT NULL, -- key, team, global
    scope_id       TEXT COLLATE "C" NOT NULL,
    period_start   BIGINT NOT NULL,
    period_end     BIGINT,
    spent_picos    BIGINT NOT NULL,
    reserved_picos BIGINT NOT NULL,
    PRIMARY KEY (scope, scope_id, period_start)
) WITH (fillfactor = 50);

CREATE TABLE credit_accounts (
    owner_kind     TEXT COLLATE "C" NOT NULL,
    owner_id       TEXT COLLATE "C" NOT NULL,
    balance_picos  BIGINT NOT NULL,
    reserved_picos BIGINT NOT NULL,
    granted_seq    BIGINT NOT NULL, -- seq of the latest grant (low-balance alerts are once per top-up)
    PRIMARY KEY (owner_kind, owner_id)
) WITH (fillfactor = 50);

-- Open reservations of calls in flight; settled (deleted) with the call's usage record, or
-- released at the next start after a crash.
CREATE TABLE budget_reservations (
    call_id      TEXT COLLATE "C" NOT NULL,
    account      TEXT COLLATE "C" NOT NULL, -- key, team, global, key_credit, team_credit
    account_id   TEXT COLLATE "C" NOT NULL,
    period_start BIGINT NOT NULL,
    amount_picos BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (call_id, account, account_id)
);

CREATE INDEX usage_records_team_time ON usage_records (team_id, started_at, seq);
