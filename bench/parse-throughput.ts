/**
 * Adapter parse throughput, no database: FHIR resources/s (NDJSON and one large streamed
 * Bundle) and CSV rows/s, reading temp files through readFeedFile on one core; with `--feeds
 * DIR`, every feed file under DIR too (a generated locality's hospital/ HL7 v2 files, say), read
 * and prepared (ingest/prepare.ts) as the parsing thread does, with the CPU µs per item.
 *   node --import tsx bench/parse-throughput.ts [--bundles 20000] [--rows 300000] [--feeds DIR] [--only-feeds]
 */
import { readdirSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { readFeedFile } from '../ingest/detect.ts';
import { prepareItem } from '../ingest/prepare.ts';
import { gpBundle } from '../ingest/fhir/test-bundles.ts';

// Not bench/util.ts: that pulls in the generator and databases, and this measures parsing alone.
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const rssMiB = () => Math.round(process.memoryUsage().rss / 1048576);

const bundles = Number(arg('bundles', '20000'));
const rows = Number(arg('rows', '300000'));

async function measure(label: string, path: string | string[], unit: 'resources' | 'rows' | 'items', prepare = false): Promise<void> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let accepted = 0;
  let rejected = 0;
  let resources = 0;
  let items = 0;
  for (const p of typeof path === 'string' ? [path] : path) for await (const read of readFeedFile(p)) {
    const item = prepare ? prepareItem(read) : read;
    items++;
    if (item.kind === 'accepted') {
      accepted++;
      resources += item.resources.length;
    } else if (item.kind === 'rejected') rejected++;
  }
  const s = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const n = unit === 'resources' ? resources : unit === 'items' ? items : accepted;
  console.log(
    `${label.padEnd(30)} ${String(n).padStart(9)} ${unit.padEnd(9)} ${s.toFixed(2).padStart(6)} s  ${Math.round(n / s).toLocaleString('en-GB').padStart(10)} ${unit}/s  ${((used.user + used.system) / n).toFixed(1).padStart(7)} CPU µs/${unit.replace(/s$/, '')}  (accepted ${accepted}, rejected ${rejected}, RSS ${rssMiB()} MiB)`,
  );
}

async function writeLines(path: string, n: number, line: (i: number) => string, header?: string): Promise<void> {
  const out = createWriteStream(path);
  if (header) out.write(`${header}\n`);
  for (let i = 0; i < n; i++) if (!out.write(`${line(i)}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
}

const feedsDir = arg('feeds', '');
const walk = (p: string): string[] => (statSync(p).isDirectory() ? readdirSync(p).sort().flatMap((f) => walk(join(p, f))) : [p]);
if (feedsDir) await measure(`feeds in ${feedsDir}`.slice(-30), walk(feedsDir), 'items', true);
if (process.argv.includes('--only-feeds')) process.exit(0);

const dir = tmpdir();
const ndjson = join(dir, `bevan-parse-${process.pid}.ndjson`);
const big = join(dir, `bevan-parse-${process.pid}-big.json`);
const csv = join(dir, `bevan-parse-${process.pid}.csv`);
try {
  // A GP record of ~25 resources per person, ids varied so nothing is cached.
  await writeLines(ndjson, bundles, (i) => JSON.stringify(gpBundle({ patientId: `p${i}`, id: `b${i}`, observations: 23 })));
  await measure('FHIR NDJSON (25 res/bundle)', ndjson, 'resources');

  writeFileSync(big, JSON.stringify(gpBundle({ observations: 150_000 }), null, 1));
  await measure('FHIR one Bundle, streamed', big, 'resources');

  const header =
    'contact_id,client_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,gp_practice,contact_date,service,team,contact_type,snomed_code,snomed_display,duration_minutes,staff_role';
  await writeLines(
    csv,
    rows,
    (i) =>
      `CC${i},CL${i % 50000},943 476 5919,Testperson,Alex,14/03/1950,F,ZZ9 9ZZ,P91001,2024-02-01,District nursing,North team,Home visit,225358003,"Wound care, dressing",30,Community nurse`,
    header,
  );
  await measure('CSV community contacts', csv, 'rows');
} finally {
  for (const p of [ndjson, big, csv]) rmSync(p, { force: true });
}
