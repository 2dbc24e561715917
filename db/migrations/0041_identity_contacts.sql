-- What identifies people in data without an NHS number (mpi/README.md): the email addresses and
-- phone numbers a source holds for the person, and identifiers other than the NHS number (a
-- national insurance or social security number, passport, driving licence). Normalised by
-- mpi/link.ts and space-separated (no value holds a space): email lower case, phone digits only
-- (UK numbers in national form), identifiers as `kind|VALUE` (fellegi-sunter.ts normaliseIdentifier).
-- The matcher compares them and blocks on email and on an identifier; nothing indexes them here,
-- since it reads every identity once a run and groups them in memory (mpi/blocking.ts).
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS email text;
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS phone text;
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS other_id text;
