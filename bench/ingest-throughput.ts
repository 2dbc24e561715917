/**
 * Ingest throughput per feed format and database: FHIR resources/s, HL7 messages/s, CSV rows/s.
 *   node --import tsx bench/ingest-throughput.ts [--people 5000] [--db pglite,postgres] [--formats fhir,hl7,csv]
 * Parsing, identity linking and provenance are all included (it runs the real pipeline).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ingestPaths } from '../ingest/pipeline.ts';
import { arg, benchLocality, freshDatabase, rssMiB } from './util.ts';

const people = Number(arg('people', '5000'));
const kinds = arg('db', 'pglite,postgres').split(',') as ('pglite' | 'postgres')[];
const formats = new Set(arg('formats', 'fhir,hl7,csv').split(','));
const none = { accepted: 0, ignored: 0, quarantined: 0, duplicates: 0, resources: 0, files: 0, seconds: 0 };
const dir = await benchLocality(people);
const filesIn = (sub: string, ext: string) =>
  readdirSync(join(dir, sub))
    .filter((f) => f.endsWith(ext))
    .map((f) => join(dir, sub, f));

let peakRss = rssMiB();
const timer = setInterval(() => (peakRss = Math.max(peakRss, rssMiB())), 200);
for (const kind of kinds) {
  const db = await freshDatabase(kind);
  try {
    const fhir = formats.has('fhir') ? await ingestPaths(db, filesIn('gp', '.ndjson')) : none;
    const hl7 = formats.has('hl7') ? await ingestPaths(db, filesIn('hospital', '.hl7')) : none;
    const csv = formats.has('csv') ? await ingestPaths(db, [...filesIn('community', '.csv'), ...filesIn('socialcare', '.csv')]) : none;
    const replay = formats.has('fhir') ? await ingestPaths(db, filesIn('gp', '.ndjson')) : none;
    const line = (label: string, r: typeof fhir, unit: 'resources' | 'messages') => {
      const n = unit === 'resources' ? r.resources : r.accepted + r.ignored;
      return `${kind.padEnd(8)} ${label.padEnd(5)} ${String(n).padStart(9)} ${unit.padEnd(9)} ${r.seconds.toFixed(1).padStart(6)} s  ${Math.round(n / r.seconds)
        .toString()
        .padStart(7)} ${unit}/s  (${r.resources} resources, ${r.quarantined} quarantined)`;
    };
    if (formats.has('fhir')) console.log(line('FHIR', fhir, 'resources'));
    if (formats.has('hl7')) console.log(line('HL7', hl7, 'messages'));
    if (formats.has('csv')) console.log(line('CSV', csv, 'messages'));
    if (formats.has('fhir')) console.log(`${kind.padEnd(8)} replay of the FHIR feed: ${replay.duplicates} duplicates, ${replay.resources} resources changed, ${replay.seconds.toFixed(1)} s`);
  } finally {
    await db.drop();
  }
}
clearInterval(timer);
console.log(`people ${people}; peak RSS ${peakRss} MiB`);
