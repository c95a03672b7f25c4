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
