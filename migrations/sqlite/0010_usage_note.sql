-- Why a record's tokens are the gateway's own count rather than the upstream's report (an
-- invalid or absurd usage report, a stream the gateway cut at its output cap, a record the
-- ledger refused as reported), with the raw report kept for inspection.
ALTER TABLE usage_records ADD COLUMN usage_note TEXT;
