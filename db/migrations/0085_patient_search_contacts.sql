-- Patient search by phone, email and telecom (fhir/pg-store.ts): the normalised, space-separated
-- values of migration 0041 as arrays, so that `&&` with the values searched is an index probe,
-- not a read of every identity. Partial: identities that hold any.
CREATE INDEX IF NOT EXISTS source_identity_phone_idx ON source_identity USING gin ((string_to_array(phone, ' '))) WHERE phone IS NOT NULL;
CREATE INDEX IF NOT EXISTS source_identity_email_idx ON source_identity USING gin ((string_to_array(email, ' '))) WHERE email IS NOT NULL;
-- Patient search by deceased and death-date: the few source Patients that carry deceased[x].
CREATE INDEX IF NOT EXISTS resource_patient_deceased_idx ON resource (person_id)
  WHERE resource_type = 'Patient' AND (content ? 'deceasedDateTime' OR content ? 'deceasedBoolean');
