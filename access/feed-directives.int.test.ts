import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../db/database.ts';
import { gpBundle } from '../ingest/fhir/test-bundles.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { verifyAuditChain } from './audit.ts';
import { addCareTeamMember, listCareTeam } from './care-team.ts';
import { listConsent, recordConsent } from './consent.ts';
import type { RequestContext } from './context.ts';
import { gatherAccessFacts } from './facts-store.ts';
import { CONSENT_SCOPE_SYSTEM, ODS_SYSTEM } from './feed-directives.ts';
import { currentPolicy, decide } from './policy.ts';

const SCT = 'http://snomed.info/sct';
const NOW = new Date();

function consent(id: string, codeValue: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    resourceType: 'Consent', id, status: 'active', patient: { reference: 'Patient/pat-1' }, dateTime: '2025-05-01T09:00:00Z',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] }, category: [{ coding: [{ system: SCT, code: codeValue }] }], provision: { type: 'deny' }, ...over,
  };
}

function careTeam(status: string): Record<string, unknown> {
  return {
    resourceType: 'CareTeam', id: 'team-1', status, subject: { reference: 'Patient/pat-1' },
    participant: [
      { member: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: 'RM3' } }, role: [{ text: 'district nursing' }] },
      { member: { reference: 'Practitioner/dr-1', identifier: { system: 'https://fhir.hl7.org.uk/Id/gmc-number', value: 'G1234567' } } },
    ],
  };
}

async function ingest(db: Database, id: string, extra: Record<string, unknown>[]): Promise<void> {
  const items = await parseText(JSON.stringify(gpBundle({ id, extra })), 'test');
  assert.ok(items.every((i) => i.kind !== 'rejected'), JSON.stringify(items));
  const r = await writeBatch(db, items);
  assert.equal(r.quarantined, 0);
}

for (const target of await testDatabases()) {
  test(`Consent and CareTeam from a GP feed on ${target.name}: dissent and care teams take effect in the access decision; withdrawn by the same source only`, async () => {
    const db = await target.open();
    try {
      const policy = currentPolicy()!;
      await ingest(db, 'b1', [consent('c-ndoo', '827241000000103'), consent('c-research', '827241000000103', { scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'research' }] } }), careTeam('active')]);
      const personId = (await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM person WHERE nhs_number = '9434765919'`)).rows[0]!.person_id;
      const facts = async (user: string, role: 'community-nurse' | 'analyst', organisation: string | null) =>
        (await gatherAccessFacts(db, policy, { user, role, organisation }, [{ personId, nhsNumber: '9434765919', memberIds: [personId] }], new Date())).get(personId)!;

      // The opt-out excludes the person from secondary use; the community provider is on the care team.
      const analyst = await facts('ann', 'analyst', null);
      assert.equal(analyst.nationalDataOptOut, true);
      assert.equal(decide(policy, { action: 'export', principal: { user: 'ann', role: 'analyst', organisation: null }, purpose: 'secondary-use', facts: analyst, now: NOW }).kind, 'deny');
      const nurse = await facts('nurse.kay', 'community-nurse', 'RM3');
      assert.deepEqual(nurse.careTeam, ['org:RM3']);
      const read = decide(policy, { action: 'read', principal: { user: 'nurse.kay', role: 'community-nurse', organisation: 'RM3' }, purpose: 'direct-care', facts: nurse, now: NOW });
      assert.equal(read.kind, 'permit', read.kind === 'deny' ? read.reason : '');

      // What has no effect is audited with its reason: the research consent, the practitioner with no organisation.
      const none = await db.query<{ action: string; reason: string }>(`SELECT action, reason FROM audit_log WHERE detail->>'effect' = 'none' ORDER BY audit_id`);
      assert.deepEqual(none.rows.map((r) => r.action), ['consent.feed', 'care-team.feed']);
      assert.match(none.rows[0]!.reason, /Consent\/c-research: scope research is not patient-privacy/);
      assert.match(none.rows[1]!.reason, /Practitioner G1234567.*onBehalfOf or managingOrganization/);
      const recorded = await db.query<{ actor: string; action: string }>(`SELECT actor, action FROM audit_log WHERE action IN ('consent.record', 'care-team.add') ORDER BY audit_id`);
      assert.deepEqual(recorded.rows.map((r) => [r.actor, r.action]), [['feed:gp:P91001', 'consent.record'], ['feed:gp:P91001', 'care-team.add']]);

      // The same extract again (a new bundle id) changes nothing and adds no audit of changes.
      await ingest(db, 'b2', [consent('c-ndoo', '827241000000103'), careTeam('active')]);
      assert.equal((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE action IN ('consent.record', 'care-team.add')`)).rows[0]!.n, 2);

      // A dissent recorded in Bevan by an administrator is not lifted by the feed's permit; the feed's own opt-out is.
      const admin: RequestContext = { principal: { user: 'root', role: 'admin', organisation: null }, purpose: 'administration', db, from: 'test' };
      await recordConsent(admin, { personId }, 'dissent-sharing');
      await ingest(db, 'b3', [
        consent('c-ndoo', '827241000000103', { status: 'inactive', dateTime: new Date(Date.now() + 1000).toISOString() }),
        consent('c-share', '417528008', { provision: { type: 'permit' }, dateTime: new Date(Date.now() + 1000).toISOString() }),
        careTeam('inactive'),
      ]);
      const directives = (await listConsent(admin, { personId })).directives;
      assert.deepEqual(directives.map((d) => [d.kind, d.withdrawnAt === null, d.recordedBy, d.withdrawnBy]), [['dissent-sharing', true, 'root', null], ['national-data-opt-out', false, 'feed:gp:P91001', 'feed:gp:P91001']]);
      assert.match((await db.query<{ reason: string }>(`SELECT reason FROM audit_log WHERE action = 'consent.feed' AND detail->>'kind' = 'dissent-sharing'`)).rows[0]!.reason, /recorded by root \(a feed withdraws only what it recorded itself\)/);
      assert.equal((await facts('nurse.kay', 'community-nurse', 'RM3')).careTeam.length, 0, 'the inactive team ends the membership the feed made');

      // A member added in Bevan stays when the feed ends its team.
      await addCareTeamMember(admin, { personId }, { member: 'org:RM3', role: 'key worker' });
      await ingest(db, 'b4', [careTeam('inactive')]);
      assert.deepEqual((await listCareTeam(admin, { personId })).members.map((m) => [m.member, m.recordedBy]), [['org:RM3', 'root']]);

      const v = await verifyAuditChain(db);
      assert.equal(v.ok, true, v.reason);
    } finally {
      await db.drop();
    }
  });
}
