-- Catalog import (LiteLLM's price map, OpenRouter's model list):
-- * providers.listing_only: a provider that speaks neither protocol the gateway forwards (its
--   models are listed and priced; calls get a clear 400 until it is configured);
-- * models.mode: the source's mode (`chat`, `embedding`, `image_generation`, …); only `chat`
--   models are served by the gateway;
-- * models.deprecated_from: the model is deprecated from this date (YYYY-MM-DD);
-- * model_prices.source: who set a price version (`seed`, `litellm`, `openrouter`); NULL is an
--   administrator, whose prices an import never overwrites (they are pinned).
ALTER TABLE providers ADD COLUMN listing_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN mode TEXT NOT NULL DEFAULT 'chat';
ALTER TABLE models ADD COLUMN deprecated_from TEXT;
ALTER TABLE model_prices ADD COLUMN source TEXT;
-- The source prices of pinned models that differ from the administrator's, as the last import
-- of each source found them (GET /admin/catalog/drift). Replaced by every import of a source:
-- a report, not a ledger.
CREATE TABLE catalog_drift (
    model_id       TEXT NOT NULL,
    source         TEXT NOT NULL,
    source_prices  TEXT NOT NULL, -- JSON prices
    pinned_prices  TEXT NOT NULL, -- JSON prices
    seen_at        INTEGER NOT NULL,
    PRIMARY KEY (model_id, source)
);
