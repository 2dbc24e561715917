/**
 * Third-party FHIR R4 bundles (../shared/samples, when present: the CDC trusted-intermediary's
 * `message` bundles translated from US laboratory HL7 v2, and any other `.fhir`/`.json` Bundle
 * there) through the real file reader, with a configured source as `bevan ingest --source` gives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readFeedFile } from '../detect.ts';
import type { AcceptedItem, RejectedItem } from '../model.ts';

const SAMPLES = new URL('../../../shared/samples/', import.meta.url).pathname;

function fhirFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...fhirFiles(p));
    else if (/\.(fhir|fhir\.json)$/.test(name)) out.push(p);
  }
  return out;
}

test('third-party FHIR samples: every bundle accepted with --source, at least 95% of entries stored', { skip: !existsSync(SAMPLES) && 'no ../shared/samples' }, async (t) => {
  const files = fhirFiles(SAMPLES);
  let entries = 0;
  let stored = 0;
  let bundles = 0;
  const reasons = new Map<string, number>();
  for (const file of files) {
    const items = [];
    for await (const i of readFeedFile(file, { source: 'sample:lab' })) items.push(i);
    const acc = items.filter((i): i is AcceptedItem => i.kind === 'accepted');
    assert.equal(acc.length, 1, `${file}: ${items.filter((i) => i.kind === 'rejected').map((i) => (i as RejectedItem).reason).join('; ')}`);
    bundles++;
    stored += acc[0]!.resources.length;
    entries += acc[0]!.resources.length + items.length - 1;
    assert.ok(acc[0]!.identities.length >= 1, `${file}: a Patient`);
    for (const r of items.filter((i): i is RejectedItem => i.kind === 'rejected')) {
      const k = r.reason.replace(/^entry \d+ (\([^)]*\))?:? ?/, '').slice(0, 90);
      reasons.set(k, (reasons.get(k) ?? 0) + 1);
    }
  }
  t.diagnostic(`${bundles} bundles, ${stored} of ${entries} entries stored (${((100 * stored) / Math.max(entries, 1)).toFixed(1)}%)`);
  for (const [k, n] of reasons) t.diagnostic(`${n} × ${k}`);
  assert.ok(bundles > 0);
  assert.ok(stored / entries >= 0.95, `${stored}/${entries}`);
});

test('third-party FHIR message bundles without --source: the sender their MessageHeader names is the source', { skip: !existsSync(SAMPLES) && 'no ../shared/samples' }, async () => {
  const files = fhirFiles(SAMPLES);
  let messages = 0;
  let named = 0;
  const keys = new Set<string>();
  for (const file of files) {
    const items = [];
    for await (const i of readFeedFile(file)) items.push(i);
    const acc = items.filter((i): i is AcceptedItem => i.kind === 'accepted');
    const rejected = items.filter((i): i is RejectedItem => i.kind === 'rejected');
    if (rejected.some((r) => /cannot tell which source system/.test(r.reason))) continue;
    messages++;
    if (acc.length === 1 && acc[0]!.sourceSystem.startsWith('fhir:')) {
      named++;
      keys.add(acc[0]!.sourceSystem);
    }
  }
  // A few test files send a MessageHeader that names no one (and no practice): those need --source.
  assert.ok(messages >= files.length - 5, `${messages} of ${files.length} bundles had a source`);
  assert.ok(named >= messages - 1, `${named} of ${messages} keyed by their MessageHeader`);
  assert.ok(keys.has('fhir:SISGDSP'), [...keys].join(', '));
});
