-- PostgreSQL version of migrations/sqlite/0014_catalog_import.sql (BOOLEAN for the flag).
ALTER TABLE providers ADD COLUMN listing_only BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE models ADD COLUMN mode TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE models ADD COLUMN deprecated_from TEXT;
ALTER TABLE model_prices ADD COLUMN source TEXT;
CREATE TABLE catalog_drift (
    model_id       TEXT COLLATE "C" NOT NULL,
    source         TEXT COLLATE "C" NOT NULL,
    source_prices  TEXT NOT NULL,
    pinned_prices  TEXT NOT NULL,
    seen_at        BIGINT NOT NULL,
    PRIMARY KEY (model_id, source)
);
