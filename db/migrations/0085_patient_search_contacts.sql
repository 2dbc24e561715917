-- Patient search by phone, email and telecom (fhir/pg-store.ts): the normalised, space-separated
-- values of migration 0041 as arrays, so that `&&` with the values searched is an index probe,
-- not a read of every identity. Partial: identities that hold any.
CREATE INDEX IF NOT EXISTS source_identity_phone_idx ON source_identity USING gin ((string_to_array(phone, ' '))) WHERE phone IS NOT NULL;
CREATE INDEX IF NOT EXISTS source_identity_email_idx ON source_identity USING gin ((string_to_array(email, ' '))) WHERE email IS NOT NULL;
-- (deceased and death-date use migration 0038's resource_patient_deceased_idx.)
