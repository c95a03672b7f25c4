-- Rate-limit windows shared by replicas (used on PostgreSQL; one SQLite process counts in
-- memory). Kept here so both schemas stay alike.
CREATE TABLE rate_windows (
    subject   TEXT NOT NULL,
    minute    INTEGER NOT NULL,
    requests  INTEGER NOT NULL,
    tokens    INTEGER NOT NULL,
    PRIMARY KEY (subject, minute)
);
CREATE TABLE rate_inflight (
    call_id      TEXT NOT NULL,
    subject      TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    PRIMARY KEY (call_id, subject)
);
CREATE INDEX rate_inflight_subject ON rate_inflight (subject);
