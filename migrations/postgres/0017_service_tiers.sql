-- Service tiers: a price version's prices in other tiers, and the tier a call was served in.
-- PostgreSQL version of migrations/sqlite/0017_service_tiers.sql: identical but for COLLATE "C".
-- Both are catalog-only changes (a constant default, a nullable column): no table rewrite, and
-- the ledger's triggers are unaffected.
ALTER TABLE model_prices ADD COLUMN service_tiers TEXT COLLATE "C" NOT NULL DEFAULT '[]';
ALTER TABLE usage_records ADD COLUMN service_tier TEXT COLLATE "C";
