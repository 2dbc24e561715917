-- Master patient index: indexes for the matcher's blocking passes (mpi/blocking.ts), so that no
-- pass needs a date of birth and each is an index lookup at borough scale. The expressions are
-- the ones the blocking queries use, character for character.
-- Soundex of family name + given initial (also the swapped-names pass).
CREATE INDEX IF NOT EXISTS source_identity_block_name_idx ON source_identity (family_soundex, upper(left(given, 1)));
-- Given name + birth year (a range on birth_date).
CREATE INDEX IF NOT EXISTS source_identity_block_given_idx ON source_identity (upper(given), birth_date);
-- House number + town.
CREATE INDEX IF NOT EXISTS source_identity_block_house_idx ON source_identity (upper(town), substring(address FROM '[0-9]+'));
-- Family name + town.
CREATE INDEX IF NOT EXISTS source_identity_block_family_town_idx ON source_identity (upper(family), upper(town));
-- Postcode alone is served by source_identity_postcode_dob_idx (postcode leads); birth date by
-- source_identity_birth_date_idx; Soundex + birth year by source_identity_soundex_dob_idx (0002).
