import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Database, Queryable } from '../../db/database.ts';
import { testDatabases } from '../../test/databases.ts';
import { refreshFlatTables } from '../flat/refresh.ts';
import { loadCodeLists } from './code-lists.ts';
import { featureStatement, refreshFeatures } from './features.ts';
import { jsonFeatureStatement } from './features-json.ts';
import { cond, enc, id, load, SCT, type Crafted, type Res } from './fixtures.ts';

// The features from the flat tables (features.ts) must be the features from the stored JSON
// (features-json.ts, the statement they replaced), person by person, on a varied population:
// every encounter class, source and status; coded entries with several codings, odd statuses,
// abatements, no dates; coded and uncoded medicines; results with ties, text values and no value;
// social care packages open and closed. Then again after new resources and a person move.

const lists = loadCodeLists();
const ltc = lists.longTermConditions.map((c) => c.code);
const efi = lists.efiDeficits.flatMap((d) => d.codes);
const SOURCES = ['hl7:RM2', 'hl7:RXV', 'gp:P91001', 'csv:community', 'csv:socialcare', 'hl7:RW3'];
const CLASSES = ['IMP', 'EMER', 'AMB', 'HH', 'VR', undefined];
const STATUSES = ['finished', 'cancelled', 'entered-in-error', 'in-progress', undefined];

function population(): Crafted[] {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const day = () => `${2021 + Math.floor(rand() * 5)}-${String(1 + Math.floor(rand() * 12)).padStart(2, '0')}-${String(1 + Math.floor(rand() * 28)).padStart(2, '0')}`;
  const people: Crafted[] = [];
  for (let n = 1; n <= 160; n++) {
    const resources: Res[] = [];
    for (let i = Math.floor(rand() * 12); i > 0; i--) {
      const cls = pick(CLASSES);
      const content: Record<string, unknown> = { status: pick(STATUSES) };
      if (cls) content.class = { code: cls };
      if (rand() < 0.5) content.priority = { coding: [{ code: pick(['EM', 'EL', 'UR']) }] };
      if (rand() < 0.3) content.serviceType = { coding: [{ system: rand() < 0.7 ? 'http://terminology.hl7.org/CodeSystem/v2-0069' : SCT, code: 'CAR' }] };
      if (rand() < 0.95) content.period = { start: `${day()}T10:00:00Z`, ...(rand() < 0.5 ? { end: `${day()}T12:00:00Z` } : {}) };
      resources.push({ type: 'Encounter', source: pick(SOURCES), content });
    }
    for (let i = Math.floor(rand() * 8); i > 0; i--) {
      const codes = [pick(rand() < 0.5 ? ltc : efi), ...(rand() < 0.3 ? [pick([...ltc, ...efi, '22298006'])] : [])];
      const extra: Record<string, unknown> = {};
      if (rand() < 0.15) extra.abatementDateTime = day();
      if (rand() < 0.1) extra.verificationStatus = { coding: [{ code: pick(['refuted', 'entered-in-error', 'confirmed']) }] };
      const type = rand() < 0.8 ? 'Condition' : 'Procedure';
      const r = cond(codes[0]!, day(), extra);
      const content = { ...r.content, code: { coding: codes.map((code) => ({ system: SCT, code })) } };
      if (type === 'Procedure') {
        delete (content as Record<string, unknown>).onsetDateTime;
        Object.assign(content, rand() < 0.8 ? { performedDateTime: day(), status: pick(['completed', 'not-done']) } : { recordedDate: day() });
      }
      resources.push({ type, content });
    }
    for (let i = Math.floor(rand() * 9); i > 0; i--) {
      const coded = rand() < 0.8;
      resources.push({
        type: rand() < 0.7 ? 'MedicationRequest' : 'MedicationStatement',
        content: {
          status: pick(['completed', 'active', 'cancelled', 'entered-in-error']),
          medicationCodeableConcept: coded ? { coding: [{ system: 'https://dmd.nhs.uk', code: `3${Math.floor(rand() * 6)}` }] } : { text: pick(['aspirin 75mg', 'bisoprolol']) },
          ...(rand() < 0.5 ? { authoredOn: day() } : { effectiveDateTime: day() }),
        },
      });
    }
    for (let i = Math.floor(rand() * 6); i > 0; i--) {
      const code = pick([...lists.featureCodes.hba1c, ...lists.featureCodes.egfr]);
      const value = rand() < 0.1 ? { value: '61' } : rand() < 0.05 ? {} : { value: Math.round(rand() * 100 * 10) / 10, unit: 'mmol/mol' };
      resources.push({ type: 'Observation', content: { status: pick(['final', 'final', 'cancelled']), code: { coding: [{ system: SCT, code }, ...(rand() < 0.2 ? [{ system: 'http://loinc.org', code: '4548-4' }] : [])] }, effectiveDateTime: `${day()}T09:00:00Z`, valueQuantity: value } });
    }
    if (rand() < 0.2) resources.push({ type: 'EpisodeOfCare', source: 'csv:socialcare', content: { status: pick(['active', 'finished', 'cancelled']), period: { start: day(), ...(rand() < 0.5 ? { end: day() } : {}) } } });
    people.push({ n, practice: n % 2 ? 'P91001' : 'P91002', birthDate: `${1930 + Math.floor(rand() * 90)}-06-15`, sex: rand() < 0.5 ? 'male' : 'female', ...(n % 37 === 0 ? { deceased: day() } : {}), resources });
  }
  return people;
}

/** Every feature row of the date, as text, computed by one statement (rolled back after). */
async function rowsOf(db: Database, statement: { sql: string; params: unknown[] }, indexDate: string): Promise<string[]> {
  const rows: string[] = [];
  await db
    .transaction(async (tx: Queryable) => {
      await tx.query('DELETE FROM risk_feature WHERE index_date = $1::date', [indexDate]);
      await tx.query(statement.sql, statement.params);
      const r = await tx.query<{ row: string }>(`SELECT (to_jsonb(f) - 'computed_at')::text AS row FROM risk_feature f WHERE index_date = $1::date ORDER BY person_id`, [indexDate]);
      rows.push(...r.rows.map((x) => x.row));
      throw new Error('rollback');
    })
    .catch((err: Error) => {
      if (err.message !== 'rollback') throw err;
    });
  return rows;
}

async function assertSameFeatures(db: Database, dates: string[]): Promise<void> {
  await refreshFlatTables(db);
  for (const d of dates) {
    const fromJson = await rowsOf(db, jsonFeatureStatement(d, lists), d);
    const fromFlat = await rowsOf(db, featureStatement(d, lists), d);
    assert.ok(fromJson.length > 100, `people scored on ${d}`);
    assert.deepEqual(fromFlat, fromJson, `features on ${d}`);
  }
}

for (const target of await testDatabases()) {
  test(`risk features on ${target.name}: the flat tables give the same rows as the stored JSON, after new resources and a person move too`, async () => {
    const db = await target.open();
    try {
      const people = population();
      await load(db, people);
      const first = await refreshFlatTables(db);
      assert.equal(first.mode, 'full');
      await assertSameFeatures(db, ['2023-01-01', '2024-01-01', '2025-01-01', '2024-02-29']);

      // New resources after the watermark reach the flat tables with the next refresh.
      await db.query(
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content)
         VALUES ('hl7:RM2', 'Encounter', 'late-1', $1, 'gp-1', 'h-late-1', $2::jsonb), ('gp:P91001', 'Condition', 'late-2', $1, 'gp-1', 'h-late-2', $3::jsonb)`,
        [id(1), JSON.stringify({ resourceType: 'Encounter', ...enc('IMP', '2024-05-05', { priority: { coding: [{ code: 'EM' }] } }).content }), JSON.stringify({ resourceType: 'Condition', ...cond(ltc[0]!, '2019-01-01').content })],
      );
      // A changed resource too (its content and received_at change, as the writer's upsert does).
      await db.query(`UPDATE resource SET content = jsonb_set(content, '{status}', '"cancelled"'), received_at = now() WHERE resource_type = 'Encounter' AND person_id = $1 AND source_id <> 'late-1'`, [id(3)]);
      const next = await refreshFlatTables(db);
      assert.equal(next.mode, 'incremental');
      assert.ok(next.encounters >= 1 && next.codedEntries >= 1, 'the new resources, and only what changed, are read');
      // A person move (as the MPI's merge moves an identity's resources): the trigger moves the flat rows.
      await db.query('UPDATE resource SET person_id = $2 WHERE person_id = $1', [id(4), id(2)]);
      const moved = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM analytics_encounter WHERE person_id = $1', [id(4)]);
      assert.equal(moved.rows[0]!.n, 0, 'no flat row is left under the person its resource left');
      await assertSameFeatures(db, ['2024-01-01', '2025-01-01']);

      // refreshFeatures brings the tables up to date itself.
      await db.query(
        `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, content_hash, content) VALUES ('hl7:RM2', 'Encounter', 'late-3', $1, 'gp-1', 'h-late-3', $2::jsonb)`,
        [id(1), JSON.stringify({ resourceType: 'Encounter', ...enc('EMER', '2024-06-06').content })],
      );
      const before = await rowsOf(db, jsonFeatureStatement('2025-01-01', lists), '2025-01-01');
      await db.transaction((tx) => refreshFeatures(tx, '2025-01-01', lists));
      const after = await db.query<{ row: string }>("SELECT (to_jsonb(f) - 'computed_at')::text AS row FROM risk_feature f WHERE index_date = '2025-01-01' ORDER BY person_id");
      assert.deepEqual(after.rows.map((x) => x.row), before);
    } finally {
      await db.drop();
    }
  });
}
