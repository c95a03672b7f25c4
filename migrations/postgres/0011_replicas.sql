-- Replicas sharing this database. Each process is an instance with a heartbeat; the call
-- starts and budget reservations it writes carry its id, so crash recovery (by any surviving
-- replica, once the dead one's lease has expired) touches only what the dead instance left.
-- Admin changes bump change_versions and NOTIFY 'tollgate_changes' in the same transaction,
-- by statement-level triggers: replicas LISTEN and reload their caches at once, and poll the
-- versions every second in case a notification was missed (a dropped listener connection).
CREATE TABLE instances (
    id            TEXT COLLATE "C" PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
ALTER TABLE call_starts ADD COLUMN instance_id TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE budget_reservations ADD COLUMN instance_id TEXT COLLATE "C" NOT NULL DEFAULT '';
CREATE INDEX call_starts_instance ON call_starts (instance_id);
CREATE INDEX budget_reservations_instance ON budget_reservations (instance_id);
CREATE TABLE change_versions (
    what     TEXT COLLATE "C" PRIMARY KEY,
    version  BIGINT NOT NULL
);
INSERT INTO change_versions (what, version) VALUES ('keys', 0), ('teams', 0), ('catalog', 0), ('credits', 0);

CREATE FUNCTION tollgate_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE change_versions SET version = version + 1 WHERE what = TG_ARGV[0];
    PERFORM pg_notify('tollgate_changes', TG_ARGV[0]);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('keys');
CREATE TRIGGER teams_changed AFTER INSERT OR UPDATE OR DELETE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('teams');
CREATE TRIGGER providers_changed AFTER INSERT OR UPDATE OR DELETE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('catalog');
CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('catalog');
CREATE TRIGGER model_prices_changed AFTER INSERT OR UPDATE OR DELETE ON model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('catalog');
CREATE TRIGGER related_models_changed AFTER INSERT OR UPDATE OR DELETE ON related_models
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('catalog');
-- Balances change with every call; only a new prepaid account matters to the caches.
CREATE TRIGGER credit_accounts_changed AFTER INSERT ON credit_accounts
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('credits');
