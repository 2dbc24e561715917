-- Patient search and the access facts (access/facts-store.ts): a person's open episodes, referrals
-- and encounters (the "open-episode" relationship). resource_open_status_idx (migration 0021) holds
-- every episode, referral and encounter by (person, status), so each person weighed cost one index
-- descent per open status (ten); the open ones are a few hundred rows in 1.4 million at 20,000
-- people. This index holds only those, so a person is one descent, and the row's source system (the
-- organisation the relationship is with) is in the index. Its predicate is OPEN_ITEM_SQL in
-- access/facts-store.ts, word for word (a test checks), so that a generic plan can prove it.
CREATE INDEX IF NOT EXISTS resource_open_item_idx ON resource (person_id, source_system)
  WHERE ((resource_type = 'EpisodeOfCare' AND content->>'status' IN ('active', 'onhold', 'waitlist', 'planned')) OR (resource_type = 'ServiceRequest' AND content->>'status' IN ('active', 'on-hold')) OR (resource_type = 'Encounter' AND content->>'status' IN ('in-progress', 'arrived', 'triaged', 'onleave')));
