import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database } from '../db/database.ts';
import { repositoryFor } from '../fhir/repository-for.ts';
import { msh, PID_SARAH, pv1, seg } from '../ingest/hl7v2/fixtures/samples.ts';
import { gpBundle } from '../ingest/fhir/test-bundles.ts';
import { parseText } from '../ingest/quarantine.ts';
import { writeBatch } from '../ingest/writer.ts';
import { testDatabases } from '../test/databases.ts';
import { verifyAuditChain } from './audit.ts';
import { isBevanError, type RequestContext } from './context.ts';
import { restrictionsOf } from './restrictions.ts';

const NHS = '9434765919';

/** An ADT^A08 for the hospital's Sarah Jones with PD1-12 as given ('' leaves it empty). */
function a08(id: string, time: string, protection: string): string {
  return [msh({ type: 'ADT^A08^ADT_A01', id, time }), seg('EVN', { 1: 'A08', 2: time }), PID_SARAH, seg('PD1', { 3: 'Stretford Medical Practice^GPP^P91001', 12: protection }), pv1({})].join('\r') + '\r';
}

/** The GP's bundle for the same person (same NHS number), labelled restricted or not. */
function gp(id: string, lastUpdated: string, label: 'R' | 'V' | null): string {
  const b = gpBundle({ id, patientId: 'gp-sarah' }) as { entry: { resource: Record<string, unknown> }[] };
  const patient = b.entry[0]!.resource;
  // The hospital's Sarah Jones, so that the MPI links the two by NHS number.
  Object.assign(patient, { name: [{ use: 'official', family: 'Jones', given: ['Sarah', 'Anne'] }], birthDate: '1980-03-15', address: [{ use: 'home', postalCode: 'M32 0XY' }] });
  patient.meta = { lastUpdated, ...(label ? { security: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: label }] } : {}) };
  return JSON.stringify(b);
}

async function ingest(db: Database, text: string): Promise<void> {
  const items = await parseText(text, 'test');
  assert.ok(items.every((i) => i.kind !== 'rejected'), JSON.stringify(items));
  const r = await writeBatch(db, items);
  assert.equal(r.quarantined, 0);
}

for (const target of await testDatabases()) {
  test(`restricted flags from the feeds on ${target.name}: HL7 PD1-12 and FHIR meta.security withhold the person on search and read, lifted per source`, async () => {
    const db = await target.open();
    try {
      const ctx: RequestContext = { principal: { user: 'dr.jones', role: 'gp', organisation: 'P91001' }, purpose: 'direct-care', db, from: 'test' };
      const repo = () => repositoryFor(ctx);
      const found = async () => (await repo().searchPatients({ nhsNumbers: [NHS] }, { count: 10, offset: 0 })).total;
      const readable = async (personId: string) => {
        try {
          await repo().readPatient(personId);
          return true;
        } catch (err) {
          if (isBevanError(err) && err.kind === 'forbidden') {
            assert.match(err.message, /restricted/);
            return false;
          }
          throw err;
        }
      };

      await ingest(db, gp('b1', '2025-03-01T09:00:00Z', null));
      await ingest(db, a08('R1', '20250301100000', ''));
      const person = await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM person WHERE nhs_number = $1`, [NHS]);
      const personId = person.rows[0]!.person_id;
      const linked = await db.query<{ n: number }>(`SELECT count(DISTINCT person_id)::int AS n FROM source_identity`);
      assert.equal(linked.rows[0]!.n, 1, 'one person for both sources');
      assert.equal(await found(), 1);
      assert.equal(await readable(personId), true);

      // The hospital flags the person: withheld from search and read, for a GP with a relationship too.
      await ingest(db, a08('R2', '20250302100000', 'Y'));
      assert.equal(await found(), 0);
      assert.equal(await readable(personId), false);
      const stored = await db.query<{ content: { meta?: { security?: { code: string }[] } } }>(`SELECT content FROM resource WHERE source_system = 'hl7:RM2' AND resource_type = 'Patient'`);
      assert.equal(stored.rows[0]!.content.meta!.security![0]!.code, 'R', 'the hospital Patient carries the label');
      // An A08 that leaves PD1-12 empty says nothing: still restricted.
      await ingest(db, a08('R3', '20250303100000', ''));
      assert.equal(await readable(personId), false);
      // PD1-12 = N lifts the hospital's flag.
      await ingest(db, a08('R4', '20250304100000', 'N'));
      assert.equal(await found(), 1);
      assert.equal(await readable(personId), true);

      // The GP system labels its Patient R: restricted again, whatever the hospital says.
      await ingest(db, gp('b2', '2025-03-05T09:00:00Z', 'R'));
      assert.equal(await found(), 0);
      await ingest(db, a08('R5', '20250306100000', 'N'));
      assert.equal(await readable(personId), false, 'any source restricted: restricted');
      // A GP bundle older than the flag cannot lift it; a newer one without the label does.
      await ingest(db, gp('b3', '2025-03-04T09:00:00Z', null));
      assert.equal(await readable(personId), false, 'an older statement does not lift a flag');
      await ingest(db, gp('b4', '2025-03-07T09:00:00Z', null));
      assert.equal(await found(), 1);
      assert.equal(await readable(personId), true);
      // V (very restricted) and PD1-12 = "" (the HL7 null): flagged, then lifted.
      await ingest(db, gp('b5', '2025-03-08T09:00:00Z', 'V'));
      assert.equal(await readable(personId), false);
      await ingest(db, gp('b6', '2025-03-09T09:00:00Z', null));
      await ingest(db, a08('R6', '20250310100000', 'Y'));
      assert.equal(await readable(personId), false);
      await ingest(db, a08('R7', '20250311100000', '""'));
      assert.equal(await readable(personId), true);

      // Every change of state is audited (by the feed), and the rows say why.
      const changes = await db.query<{ action: string; actor: string; person_id: string }>(
        `SELECT action, actor, person_id::text AS person_id FROM audit_log WHERE action LIKE 'restriction.%' ORDER BY audit_id`,
      );
      assert.deepEqual(
        changes.rows.map((r) => `${r.action} ${r.actor}`),
        ['restriction.set feed:hl7:RM2', 'restriction.lift feed:hl7:RM2', 'restriction.set feed:gp:P91001', 'restriction.lift feed:gp:P91001', 'restriction.set feed:gp:P91001', 'restriction.lift feed:gp:P91001', 'restriction.set feed:hl7:RM2', 'restriction.lift feed:hl7:RM2'],
      );
      assert.ok(changes.rows.every((r) => r.person_id === personId));
      const rows = await restrictionsOf(db, [personId]);
      assert.equal(rows.length, 2);
      assert.ok(rows.every((r) => r.liftedAt !== null));
      assert.match(rows.find((r) => r.system === 'hl7:RM2')!.reason, /PD1-12 protection indicator Y \(message R6\)/);
      // A denied read is audited like any other.
      const denials = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_log WHERE actor = 'dr.jones' AND decision = 'deny' AND reason LIKE '%restricted%'`);
      assert.ok(denials.rows[0]!.n >= 5);
      assert.equal((await verifyAuditChain(db)).ok, true);
    } finally {
      await db.drop();
    }
  });
}
