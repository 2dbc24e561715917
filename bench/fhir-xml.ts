/**
 * FHIR XML read throughput, no database: one large XML Bundle (the synthetic GP bundle with many
 * Observations, written as FHIR XML) read through readFeedFile, against the same Bundle as JSON;
 * resources/s, CPU and peak RSS.
 *   node --import tsx bench/fhir-xml.ts [--observations 200000]
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeedFile } from '../ingest/detect.ts';
import { fhirJsonToXml, gpBundle } from '../ingest/fhir/test-bundles.ts';

const i = process.argv.indexOf('--observations');
const observations = Number(i >= 0 ? process.argv[i + 1] : 200_000);
const bundle = gpBundle({ observations });
const files = { xml: join(tmpdir(), `bevan-bench-${process.pid}.xml`), json: join(tmpdir(), `bevan-bench-${process.pid}.json`) };
writeFileSync(files.xml, `<?xml version="1.0" encoding="UTF-8"?>\n${fhirJsonToXml(bundle)}\n`);
writeFileSync(files.json, JSON.stringify(bundle));

for (const [label, path] of Object.entries(files)) {
  if (typeof globalThis.gc === 'function') globalThis.gc();
  let peak = 0;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const cpu = process.cpuUsage();
  let resources = 0;
  let rejected = 0;
  for await (const item of readFeedFile(path)) {
    if (item.kind === 'accepted') resources += item.resources.length;
    else if (item.kind === 'rejected') rejected++;
  }
  clearInterval(timer);
  const s = (performance.now() - started) / 1000;
  const c = process.cpuUsage(cpu);
  const { size } = await import('node:fs').then((fs) => fs.statSync(path));
  console.log(
    `${label}: ${(size / 1048576).toFixed(1)} MiB, ${resources} resources (${rejected} rejected) in ${s.toFixed(2)}s = ${Math.round(resources / s)}/s, ` +
      `CPU ${((c.user + c.system) / 1e6).toFixed(2)}s, peak RSS ${Math.round(peak / 1048576)} MiB`,
  );
}
for (const p of Object.values(files)) rmSync(p, { force: true });
