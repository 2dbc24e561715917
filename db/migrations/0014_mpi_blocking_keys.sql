-- Master patient index: the matcher now reads every identity's blocking fields once a run and
-- groups them in memory (mpi/blocking.ts), so the expression indexes that served its per-identity
-- blocking joins (0006) are read by nothing, while every ingest upsert and every matcher update of
-- source_identity still paid for them (four more index entries per row version, one of them a
-- regular expression). Those of 0002 stay: other searches use birth date and postcode.
DROP INDEX IF EXISTS source_identity_block_name_idx;
DROP INDEX IF EXISTS source_identity_block_given_idx;
DROP INDEX IF EXISTS source_identity_block_house_idx;
DROP INDEX IF EXISTS source_identity_block_family_town_idx;
