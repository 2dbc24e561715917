/**
 * STU3 → R4 conversion cost, no database: an NDJSON file of GP Connect STU3 Bundles (one per
 * patient, 15 resources each: ingest/fhir/fixtures/gpconnect-stu3.ts) read through readFeedFile,
 * against the same Bundles already converted (R4, so read without conversion); resources/s and
 * node CPU-s per 1,000 resources.
 *   node --import tsx bench/fhir-stu3.ts [--patients 5000]
 */
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeedFile } from '../ingest/detect.ts';
import { itemsFromFhirJson } from '../ingest/fhir/bundle.ts';
import { gpConnectStu3Bundle } from '../ingest/fhir/fixtures/gpconnect-stu3.ts';
import type { AcceptedItem } from '../ingest/model.ts';

const i = process.argv.indexOf('--patients');
const patients = Number(i >= 0 ? process.argv[i + 1] : 5000);
const stu3: string[] = [];
const r4: string[] = [];
for (let n = 0; n < patients; n++) {
  const b = gpConnectStu3Bundle({ patientId: `p${n}` });
  stu3.push(JSON.stringify(b));
  const item = itemsFromFhirJson(structuredClone(b), { contentHash: 'x', raw: '', origin: 'bench' })[0] as AcceptedItem;
  // The R4 twin: the converted resources, without the tag (so nothing marks them STU3).
  const entry = item.resources.map(({ resource }) => ({ resource: { ...resource, meta: undefined } }));
  r4.push(JSON.stringify({ resourceType: 'Bundle', type: 'collection', id: `r4-p${n}`, entry }));
}
const files = { stu3: join(tmpdir(), `bevan-bench-stu3-${process.pid}.ndjson`), r4: join(tmpdir(), `bevan-bench-r4-${process.pid}.ndjson`) };
writeFileSync(files.stu3, stu3.join('\n') + '\n');
writeFileSync(files.r4, r4.join('\n') + '\n');

for (const [label, path] of Object.entries(files)) {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let resources = 0;
  let rejected = 0;
  for await (const item of readFeedFile(path, { source: 'gp:bench' })) {
    if (item.kind === 'accepted') resources += item.resources.length;
    else if (item.kind === 'rejected') rejected++;
  }
  const s = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu);
  const cpuS = (c.user + c.system) / 1e6;
  console.log(
    `${label}: ${(statSync(path).size / 1048576).toFixed(1)} MiB, ${resources} resources (${rejected} rejected) in ${s.toFixed(2)}s = ${Math.round(resources / s)}/s, ` +
      `node CPU ${cpuS.toFixed(2)}s (${((1000 * cpuS) / Math.max(resources, 1)).toFixed(3)} CPU-s per 1,000 resources)`,
  );
  rmSync(path, { force: true });
}
