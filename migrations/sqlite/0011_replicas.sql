-- Replicas (used on PostgreSQL, where several gateway processes share one database; kept in the
-- SQLite schema so both schemas stay alike). Each process is an instance with a heartbeat; the
-- call starts and budget reservations it writes carry its id, so that crash recovery touches
-- only what a dead instance left behind. change_versions counts admin changes by kind (keys,
-- teams, catalog, credits); replicas poll it to reload their caches.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    started_at    INTEGER NOT NULL,
    heartbeat_at  INTEGER NOT NULL
);
ALTER TABLE call_starts ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
ALTER TABLE budget_reservations ADD COLUMN instance_id TEXT NOT NULL DEFAULT '';
CREATE TABLE change_versions (
    what     TEXT PRIMARY KEY,
    version  INTEGER NOT NULL
);
INSERT INTO change_versions (what, version) VALUES ('keys', 0), ('teams', 0), ('catalog', 0), ('credits', 0);
