/**
 * How much of a corpus of other people's messages Bevan's adapters accept, no database: every
 * file under DIR read as `bevan ingest` reads it (format told from content, readFeedFile), each
 * item counted by format, message type (HL7 MSH-9, FHIR Bundle.type or resource type, CSV
 * contract) and outcome; rejections grouped by reason with values blanked, so a new corpus shows
 * at once what Bevan refuses and why. With `--list`, every rejection with its origin.
 *   node --import tsx bench/corpus-acceptance.ts --dir /tmp/corpus [--list] [--json]
 * The corpus lives outside the repository (third-party data is never committed).
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readFeedFile } from '../ingest/detect.ts';
import type { IngestItem } from '../ingest/model.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
const dir = arg('dir');
if (!dir) {
  console.error('usage: node --import tsx bench/corpus-acceptance.ts --dir DIR [--list] [--json]');
  process.exit(2);
}
const list = process.argv.includes('--list');
const asJson = process.argv.includes('--json');

const walk = (p: string): string[] =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => !f.startsWith('.'))
        .sort()
        .flatMap((f) => walk(join(p, f)))
    : [p];

/** The message type of a rejected item, read from its raw text where it can be. */
function rejectedType(item: IngestItem & { kind: 'rejected' }): string {
  const raw = item.raw ?? '';
  const msh = /(?:^|[\r\n\x0b])\s*MSH(.)(.*)/.exec(raw);
  if (msh) {
    const fields = msh[2]!.split(msh[1]!);
    const comp = /^(.)/.exec(fields[0] ?? '')?.[1] ?? '^';
    const t = (fields[7] ?? '').split(comp);
    return t[0] ? `${t[0]}${t[1] ? `^${t[1]}` : ''}` : '(no MSH-9)';
  }
  const rt = /"resourceType"\s*:\s*"([A-Za-z]+)"/.exec(raw);
  if (rt) return rt[1]!;
  const xml = /^\s*(?:<\?[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:\w+:)?([A-Za-z]+)[\s>]/.exec(raw);
  if (xml) return xml[1]!;
  const method = /"method"\s*:\s*"([A-Za-z]+)"/.exec(raw);
  if (method) return `Bundle entry ${method[1]!.toUpperCase()}`;
  return '(unknown)';
}

/** A reason with its particular values blanked, so that like reasons count together. */
const reasonKind = (r: string): string =>
  r
    .replace(/"[^"]*"/g, '"…"')
    .replace(/'[^']*'/g, "'…'")
    .replace(/\b\d+\b/g, 'N')
    .replace(/(\/tmp|\.\.?)\/\S+/g, 'PATH')
    .slice(0, 160);

const started = performance.now();
const cpu = process.cpuUsage();
const byFormat = new Map<string, { accepted: number; ignored: number; rejected: number }>();
const byType = new Map<string, { accepted: number; ignored: number; rejected: number }>();
const byReason = new Map<string, { n: number; example: string }>();
const rejections: string[] = [];
const files = walk(dir);
let resources = 0;
for (const file of files) {
  for await (const item of readFeedFile(file)) {
    const format = item.format;
    const type = item.kind === 'rejected' ? rejectedType(item) : item.event;
    const key = `${format} ${type}`;
    for (const [m, k] of [
      [byFormat, format],
      [byType, key],
    ] as const) {
      const c = m.get(k) ?? { accepted: 0, ignored: 0, rejected: 0 };
      c[item.kind]++;
      m.set(k, c);
    }
    if (item.kind === 'accepted') resources += item.resources.length;
    if (item.kind === 'rejected') {
      const k = `${format}: ${reasonKind(item.reason)}`;
      const c = byReason.get(k) ?? { n: 0, example: `${relative(dir, item.origin)}: ${item.reason}` };
      c.n++;
      byReason.set(k, c);
      rejections.push(`${relative(dir, item.origin) || item.origin}: ${item.reason.slice(0, 300)}`);
    }
  }
}
const seconds = (performance.now() - started) / 1000;
const used = process.cpuUsage(cpu);
const total = [...byFormat.values()].reduce((a, c) => ({ accepted: a.accepted + c.accepted, ignored: a.ignored + c.ignored, rejected: a.rejected + c.rejected }), { accepted: 0, ignored: 0, rejected: 0 });

if (asJson) {
  console.log(JSON.stringify({ files: files.length, ...total, resources, byFormat: Object.fromEntries(byFormat), byType: Object.fromEntries(byType), byReason: Object.fromEntries(byReason), ...(list ? { rejections } : {}) }, null, 1));
} else {
  const row = (k: string, c: { accepted: number; ignored: number; rejected: number }) =>
    `  ${k.padEnd(34)} ${String(c.accepted).padStart(6)} ${String(c.ignored).padStart(7)} ${String(c.rejected).padStart(8)}`;
  console.log(`${files.length} files under ${dir}: ${total.accepted} accepted, ${total.ignored} ignored, ${total.rejected} quarantined; ${resources} resources`);
  console.log(`${seconds.toFixed(2)} s wall, ${((used.user + used.system) / 1e6).toFixed(2)} CPU-s (node, no database)`);
  console.log(`\n  ${'format'.padEnd(34)} accepted ignored quarantined`);
  for (const [k, c] of [...byFormat].sort()) console.log(row(k, c));
  console.log(`\n  ${'format and type'.padEnd(34)} accepted ignored quarantined`);
  for (const [k, c] of [...byType].sort()) console.log(row(k, c));
  if (byReason.size) {
    console.log('\nquarantined, by reason (values blanked):');
    for (const [k, c] of [...byReason].sort((a, b) => b[1].n - a[1].n)) console.log(`  ${String(c.n).padStart(4)}  ${k}\n        e.g. ${c.example.slice(0, 240)}`);
  }
  if (list) {
    console.log('\nevery quarantined item:');
    for (const r of rejections) console.log(`  ${r}`);
  }
}
