/**
 * Feeds 1 GB single-line garbage files through readFeedFile and prints time and peak RSS, to
 * show memory stays flat on hostile input (the unit test does the same at 200 MB).
 * Run: node --expose-gc --import tsx bench/bad-input-1gb.ts [sizeMiB]
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFeedFile } from '../ingest/detect.ts';

const mib = Number(process.argv[2] ?? 1024);

const cases = [
  { name: 'FHIR-looking: a never-ending JSON string', prefix: '{"resourceType":"Bundle","id":"x","note":"', unit: 'A' },
  { name: 'FHIR-looking: tiny entries without end', prefix: '{"resourceType":"Bundle","entry":[', unit: '{"resource":{"resourceType":"Observation","id":"o"}},' },
  { name: 'CSV-looking: one endless header line', prefix: 'contact_id,client_id,', unit: 'abc_def,' },
  { name: 'binary noise', prefix: '\x00\x01', unit: '\xff\xfe\x00' },
];

for (const c of cases) {
  const path = join(tmpdir(), `bevan-bad-input-${process.pid}.dat`);
  const fd = openSync(path, 'w');
  writeSync(fd, c.prefix);
  const block = Buffer.from(c.unit.repeat(Math.floor((1024 * 1024) / c.unit.length)), 'latin1');
  for (let i = 0; i < mib; i++) writeSync(fd, block);
  closeSync(fd);
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  const started = performance.now();
  const reasons: string[] = [];
  try {
    for await (const item of readFeedFile(path)) reasons.push(item.kind === 'rejected' ? item.reason.slice(0, 100) : item.kind);
  } finally {
    clearInterval(timer);
    rmSync(path, { force: true });
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  const seconds = (performance.now() - started) / 1000;
  console.log(`${c.name}: ${mib} MiB in ${seconds.toFixed(2)} s (${(mib / seconds).toFixed(0)} MiB/s); RSS ${(before / 1e6).toFixed(0)} → peak ${(peak / 1e6).toFixed(0)} MB (+${((peak - before) / 1e6).toFixed(0)} MB)`);
  for (const r of reasons) console.log(`  → ${r}`);
}
