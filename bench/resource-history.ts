/**
 * What keeping resource versions (migration 0015) costs the ingest writer: the same FHIR bundles
 * written as new resources, again unchanged, and again with every resource changed, with the
 * history trigger in place and with it dropped.
 *   node --import tsx bench/resource-history.ts [--resources 20000] [--db pglite,postgres]
 * Bundles of one Patient and 99 Observations, written through the real writer (writeBatch), 10
 * bundles a batch. PostgreSQL runs when DATABASE_URL or BEVAN_BENCH_DATABASE_URL is set (or --db postgres).
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Database } from '../db/database.ts';
import { itemsFromFhirJson } from '../ingest/fhir/bundle.ts';
import type { IngestItem } from '../ingest/model.ts';
import { writeBatch } from '../ingest/writer.ts';
import { nhsCheckDigit } from '../mpi/nhs-number.ts';
import { freshDatabase } from './util.ts';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const RESOURCES = Number(arg('resources', '20000'));
const PER_BUNDLE = 100;
const BUNDLES = Math.ceil(RESOURCES / PER_BUNDLE);
const kinds = arg('db', process.env.DATABASE_URL || process.env.BEVAN_BENCH_DATABASE_URL ? 'pglite,postgres' : 'pglite').split(',') as ('pglite' | 'postgres')[];

function nhsNumber(i: number): string {
  for (let base = 200_000_000 + i * 7; ; base++) {
    const nine = String(base).slice(0, 9);
    if (nhsCheckDigit(nine) !== null) return nine + nhsCheckDigit(nine);
  }
}

function bundle(k: number, phase: string, value: number): IngestItem[] {
  const pid = `p${k}`;
  const entry: object[] = [{ resource: { resourceType: 'Patient', id: pid, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: nhsNumber(k) }], name: [{ family: `Family${k}`, given: ['Test'] }], birthDate: '1950-01-01' } }];
  for (let i = 1; i < PER_BUNDLE; i++) {
    entry.push({ resource: { resourceType: 'Observation', id: `o${k}-${i}`, status: 'final', subject: { reference: `Patient/${pid}` }, code: { text: 'Systolic blood pressure' }, valueQuantity: { value: value + (i % 40), unit: 'mmHg' }, effectiveDateTime: '2025-09-01T09:00:00Z' } });
  }
  const value_ = { resourceType: 'Bundle', id: `b${k}-${phase}`, type: 'collection', entry };
  const raw = JSON.stringify(value_);
  return itemsFromFhirJson(value_, { contentHash: createHash('sha256').update(raw).digest('hex'), raw, origin: 'bench' }, { source: 'gp:BENCH' });
}

async function phase(db: Database, name: string, value: number): Promise<number> {
  const t0 = performance.now();
  for (let k = 0; k < BUNDLES; k += 10) {
    const items: IngestItem[] = [];
    for (let j = k; j < Math.min(BUNDLES, k + 10); j++) items.push(...bundle(j, name, value));
    await writeBatch(db, items);
  }
  return (performance.now() - t0) / 1000;
}

for (const kind of kinds) {
  for (const trigger of [true, false]) {
    const db = await freshDatabase(kind);
    try {
      if (!trigger) await db.exec('DROP TRIGGER resource_history_keep ON resource');
      const insert = await phase(db, 'new', 120);
      const unchanged = await phase(db, 'same', 120);
      const changed = await phase(db, 'changed', 130);
      const kept = (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM resource_history')).rows[0]!.n;
      const n = BUNDLES * PER_BUNDLE;
      const rate = (s: number) => `${(n / s).toFixed(0)}/s`;
      console.log(`${kind} ${trigger ? 'with trigger   ' : 'without trigger'}: ${n} resources; insert ${insert.toFixed(2)} s (${rate(insert)}), unchanged ${unchanged.toFixed(2)} s (${rate(unchanged)}), changed ${changed.toFixed(2)} s (${rate(changed)}); history rows ${kept}`);
    } finally {
      await db.drop();
    }
  }
}
