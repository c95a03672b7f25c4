-- Service tiers (OpenAI's flex and priority, Anthropic's priority; batch listed only):
-- * model_prices.service_tiers: a price version's prices in other tiers, a JSON list of
--   {tier, rates…, tiers} like `tiers` (read with the version, never summed or queried alone);
-- * usage_records.service_tier: the tier the upstream reported serving the call in (standard,
--   flex, priority, scale, batch; NULL when not reported, as for every record written before).
ALTER TABLE model_prices ADD COLUMN service_tiers TEXT NOT NULL DEFAULT '[]';
ALTER TABLE usage_records ADD COLUMN service_tier TEXT;
