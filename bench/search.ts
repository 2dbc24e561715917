/**
 * Clinical search time through the repository (decision, read of the person's resources of the
 * needed types, matching, sort, page, includes, audit write), one client at a time.
 *   node --import tsx bench/search.ts [--items 400] [--searches 200] [--db pglite,postgres]
 * One person with `items` resources (Observations, Conditions, Encounters, MedicationRequests)
 * besides the record fixtures, and 200 other people of 50 items each in the same table; prints
 * p50/p95 per query. PostgreSQL runs when DATABASE_URL or BEVAN_TEST_DATABASE_URL is set (or --db postgres).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Resource } from '@medplum/fhirtypes';
import { repositoryFor } from '../fhir/repository-for.ts';
import { parseClinicalSearch, type ClinicalType } from '../fhir/search/params.ts';
import { GP, insertFixtures, insertResource, PERSON_ID } from '../record/test-fixtures.ts';
import type { ResourceRow } from '../record/rows.ts';
import { arg, freshDatabase } from './util.ts';

const ITEMS = Number(arg('items', '400'));
const SEARCHES = Number(arg('searches', '200'));
const PG = process.env.DATABASE_URL ?? process.env.BEVAN_TEST_DATABASE_URL;
const kinds = arg('db', PG ? 'pglite,postgres' : 'pglite').split(',') as ('pglite' | 'postgres')[];
const SCT = 'http://snomed.info/sct';
const CODES = ['1107481000000106', '75367002', '27113001', '60621009', '1000661000000107'];

function items(personId: string, subject: string, n: number, prefix: string): ResourceRow[] {
  const out: ResourceRow[] = [];
  for (let i = 0; i < n; i++) {
    const day = new Date(Date.UTC(2010, 0, 1) + i * 9 * 86_400_000).toISOString().slice(0, 10);
    const kind = i % 8;
    const base = { id: `${prefix}${i}`, subject: { reference: `Patient/${subject}` } };
    const resource: Resource =
      kind < 5
        ? ({ resourceType: 'Observation', ...base, status: 'final', code: { coding: [{ system: SCT, code: CODES[i % CODES.length] }] }, effectiveDateTime: day, encounter: { reference: `Encounter/${prefix}${i - (i % 8) + 5}` } } as Resource)
        : kind === 5
          ? ({ resourceType: 'Encounter', ...base, status: 'finished', class: { code: 'AMB' }, period: { start: `${day}T09:00:00Z`, end: `${day}T09:15:00Z` } } as Resource)
          : kind === 6
            ? ({ resourceType: 'Condition', ...base, code: { coding: [{ system: SCT, code: '44054006' }] }, clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: day } as Resource)
            : ({ resourceType: 'MedicationRequest', ...base, status: 'active', intent: 'order', medicationCodeableConcept: { coding: [{ system: 'https://dmd.nhs.uk', code: '325278009' }] }, authoredOn: day } as Resource);
    out.push({ source_system: GP, resource_type: resource.resourceType, source_id: resource.id!, person_id: personId, subject_id: subject, version: 1, source_time: null, received_at: '2025-10-01T08:00:00.000Z', content: resource });
  }
  return out;
}

const QUERIES: [string, ClinicalType, Record<string, string>][] = [
  ['Observation code+date -date _count=20', 'Observation', { patient: PERSON_ID, code: `${SCT}|1107481000000106`, date: 'ge2015-01-01', _sort: '-date' }],
  ['Condition clinical-status=active', 'Condition', { patient: PERSON_ID, 'clinical-status': 'active' }],
  ['Encounter date + _revinclude Observation:encounter', 'Encounter', { patient: PERSON_ID, date: 'ge2018', _revinclude: 'Observation:encounter' }],
  ['Observation _include patient+encounter', 'Observation', { patient: PERSON_ID, _include: 'Observation:patient,Observation:encounter' }],
  ['_summary=count', 'Observation', { patient: PERSON_ID, _summary: 'count' }],
];

for (const kind of kinds) {
  const db = await freshDatabase(kind);
  try {
    await insertFixtures(db);
    for (const r of items(PERSON_ID, 'gp-pat-1', ITEMS, 'b')) await insertResource(db, r);
    for (let p = 0; p < 200; p++) {
      const pid = randomUUID();
      await db.query('INSERT INTO person (person_id) VALUES ($1)', [pid]);
      for (const r of items(pid, `pat-${p}`, 50, `p${p}-`)) await insertResource(db, r);
    }
    const repo = repositoryFor({ principal: { user: 'dr.bench', role: 'gp', organisation: 'P91001' }, purpose: 'direct-care', db, from: 'bench' });
    console.log(`${kind}: one person with ${ITEMS + 20} items, ${SEARCHES} searches per query`);
    for (const [name, type, query] of QUERIES) {
      const parsed = parseClinicalSearch(type, query);
      if (parsed.kind !== 'ok') throw new Error(parsed.problems.join('; '));
      const times: number[] = [];
      let last = { total: 0, matches: [] as Resource[], included: [] as Resource[] };
      for (let i = 0; i < SEARCHES; i++) {
        const t = performance.now();
        last = await repo.searchResources(parsed.search, { query });
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const q = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))]!.toFixed(1);
      console.log(`  ${name.padEnd(52)} p50 ${q(0.5)} ms  p95 ${q(0.95)} ms  (total ${last.total}, page ${last.matches.length}, included ${last.included.length})`);
    }
  } finally {
    await db.drop();
  }
}
