-- The read path under load (docs/performance.md).
--
-- An audit append is one statement (access/audit.ts): the chain's head moves with
-- UPDATE … SET prev_hash = hash, hash = sha256(…) RETURNING, and the row is inserted from what it
-- returns. The head keeps the hash it replaced so that the statement can give it to the new row.
ALTER TABLE audit_chain ADD COLUMN IF NOT EXISTS prev_hash text;
