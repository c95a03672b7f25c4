-- Teams, budgets, prepaid credits, rate limits and the alert outbox.

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    budget      TEXT,          -- JSON budget, NULL = none
    rate_limits TEXT,          -- JSON rate limits, NULL = none
    webhook_url TEXT,
    metadata    TEXT NOT NULL, -- JSON object
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

ALTER TABLE api_keys ADD COLUMN budget TEXT;
ALTER TABLE api_keys ADD COLUMN rate_limits TEXT;
ALTER TABLE api_keys ADD COLUMN webhook_url TEXT;

-- Prepaid credit ledger, append-only: grants (positive) and usage (negative) of a key or team.
CREATE TABLE credit_entries (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    owner_kind  TEXT NOT NULL CHECK (owner_kind IN ('key', 'team')),
    owner_id    TEXT NOT NULL,
    kind        TEXT NOT NULL, -- grant, refund, free_tier, usage
    amount_picos INTEGER NOT NULL,
    usage_id    TEXT,
    note        TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX credit_entries_owner ON credit_entries (owner_kind, owner_id);

-- Alerts, written in the transaction that caused them and delivered by webhook from here.
-- dedupe_key makes "once per threshold per period" a constraint, not a hope.
CREATE TABLE alerts (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    dedupe_key      TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    scope           TEXT NOT NULL,
    scope_id        TEXT NOT NULL,
    payload         TEXT NOT NULL, -- the JSON body delivered
    created_at      INTEGER NOT NULL,
    webhook_url     TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    delivered_at    INTEGER,
    last_error      TEXT
);
CREATE INDEX alerts_pending ON alerts (delivered_at, next_attempt_at);

-- Spend and reservations of each budget in each period, kept in the same transactions as the
-- usage records (settlement) and the reservations, so a conditional UPDATE can refuse a call
-- atomically: spent + reserved + this call's maximum must stay within the limit.
CREATE TABLE budget_counters (
    scope          TEXT NOT NULL, -- key, team, global
    scope_id       TEXT NOT NULL,
    period_start   INTEGER NOT NULL,
    period_end     INTEGER,
    spent_picos    INTEGER NOT NULL,
    reserved_picos INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_id, period_start)
);

CREATE TABLE credit_accounts (
    owner_kind     TEXT NOT NULL,
    owner_id       TEXT NOT NULL,
    balance_picos  INTEGER NOT NULL,
    reserved_picos INTEGER NOT NULL,
    granted_seq    INTEGER NOT NULL, -- seq of the latest grant (low-balance alerts are once per top-up)
    PRIMARY KEY (owner_kind, owner_id)
);

-- Open reservations of calls in flight; settled (deleted) with the call's usage record, or
-- released at the next start after a crash.
CREATE TABLE budget_reservations (
    call_id      TEXT NOT NULL,
    account      TEXT NOT NULL, -- key, team, global, key_credit, team_credit
    account_id   TEXT NOT NULL,
    period_start INTEGER NOT NULL,
    amount_picos INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (call_id, account, account_id)
);

CREATE INDEX usage_records_team_time ON usage_records (team_id, started_at);
