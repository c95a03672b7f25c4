-- Model aliases: other names a caller may use for a catalog model (a provider's own name such
-- as `claude-sonnet-4-5-20250929`, or a family pattern such as `claude-sonnet-*` whose single
-- trailing `*` matches any rest). An alias is unique across the catalog (the primary key) and
-- never equals a model id (checked by the code that writes it, under a lock; see
-- src/store/catalog.rs). Aliases are not history: they are replaced and removed freely; what a
-- call asked for is kept on its usage record instead.
-- PostgreSQL version of migrations/sqlite/0013_model_aliases.sql: identical but for BIGINT,
-- COLLATE "C" and the change trigger (replicas reload their catalog when an alias changes, as
-- for the other catalog tables in 0011).
CREATE TABLE model_aliases (
    alias       TEXT COLLATE "C" PRIMARY KEY,
    model_id    TEXT COLLATE "C" NOT NULL REFERENCES models (id),
    created_at  BIGINT NOT NULL
);
CREATE INDEX model_aliases_model ON model_aliases (model_id);
CREATE TRIGGER model_aliases_changed AFTER INSERT OR UPDATE OR DELETE ON model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_changed('catalog');

-- The name the caller sent when it differs from the catalog id it resolved to (an alias or a
-- pattern's match); NULL when the caller named the catalog id. Adding a nullable column
-- without a default is a catalog-only change (no table rewrite), and the append-only triggers
-- of 0006 (BEFORE UPDATE / DELETE / TRUNCATE) hold for it as for every other column.
ALTER TABLE usage_records ADD COLUMN requested_model TEXT COLLATE "C";
-- So that a call closed out after a crash (or by another replica's recovery) keeps the name it
-- was asked by.
ALTER TABLE call_starts ADD COLUMN requested_model TEXT COLLATE "C";
