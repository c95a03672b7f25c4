-- Model aliases: other names a caller may use for a catalog model (a provider's own name such
-- as `claude-sonnet-4-5-20250929`, or a family pattern such as `claude-sonnet-*` whose single
-- trailing `*` matches any rest). An alias is unique across the catalog (the primary key) and
-- never equals a model id (checked by the code that writes it). Aliases are not history: they
-- are replaced and removed freely; what a call asked for is kept on its usage record instead.
CREATE TABLE model_aliases (
    alias       TEXT PRIMARY KEY,
    model_id    TEXT NOT NULL REFERENCES models (id),
    created_at  INTEGER NOT NULL
);
CREATE INDEX model_aliases_model ON model_aliases (model_id);

-- The name the caller sent when it differs from the catalog id it resolved to (an alias or a
-- pattern's match); NULL when the caller named the catalog id. A nullable column without a
-- default: existing rows read NULL, nothing is rewritten, and the append-only triggers of
-- 0006 (BEFORE UPDATE / BEFORE DELETE) hold for it as for every other column.
ALTER TABLE usage_records ADD COLUMN requested_model TEXT;
-- So that a call closed out after a crash keeps the name it was asked by.
ALTER TABLE call_starts ADD COLUMN requested_model TEXT;
