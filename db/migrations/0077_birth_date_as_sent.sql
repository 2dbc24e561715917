-- A birth date that is not a whole, valid date, kept as the source sent it (mpi/link.ts): a year
-- (YYYY) or a year and month (YYYY-MM), which HL7 v2 DTM and FHIR date allow, or a day that does
-- not exist (1987-02-30, a day and month swapped: 1987-13-05). source_identity.birth_date (a date)
-- cannot hold these, and they were dropped, taking with them the strongest field the matcher had
-- for such a record. NULL when birth_date holds the date, or none was sent. The matcher compares
-- COALESCE(birth_date::text, birth_date_as_sent) at the precision it has (fellegi-sunter.ts
-- compareBirthDate); nothing else reads it.
ALTER TABLE source_identity ADD COLUMN IF NOT EXISTS birth_date_as_sent text;
