-- Audit batches (access/audit.ts appendAuditBatch): a transaction that writes several entries
-- to one chain moves its head once, by as many entries. The head still never moves back.
CREATE OR REPLACE FUNCTION audit_chain_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'UPDATE' OR NEW.chain <> OLD.chain OR NEW.seq <= OLD.seq THEN
    RAISE EXCEPTION 'audit_chain heads only move forward' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END $$;
