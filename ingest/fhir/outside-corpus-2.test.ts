/**
 * A shape found in the second outside corpus (docs/feeds.md "Stop 24: outside corpus, round 2"):
 * a published UK Core example whose root element has no FHIR namespace. Rebuilt synthetically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IngestItem, RejectedItem } from '../model.ts';
import { readFeedFile } from '../detect.ts';

const dir = mkdtempSync(join(tmpdir(), 'bevan-fhir-outside-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(path: string): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  for await (const i of readFeedFile(path)) out.push(i);
  return out;
}

test('FHIR XML whose root has no namespace is refused with what to add; with it, the same resource is read', async () => {
  const body = '\n\t<id value="fbc-1"/>\n\t<status value="final"/>\n\t<code><coding><system value="http://snomed.info/sct"/><code value="26604007"/></coding></code>\n\t<subject><reference value="Patient/p1"/></subject>\n</Observation>\n';
  const bare = join(dir, 'bare.xml');
  writeFileSync(bare, `<?xml version="1.0" encoding="UTF-8"?>\n<Observation>${body}`);
  const refused = await collect(bare);
  assert.equal(refused.length, 1);
  assert.equal(refused[0]!.kind, 'rejected');
  assert.match((refused[0] as RejectedItem).reason, /^FHIR XML without its namespace: the root element <Observation> has no xmlns.*<Observation xmlns="http:\/\/hl7\.org\/fhir">/);
  const fixed = join(dir, 'fixed.xml');
  writeFileSync(fixed, `<?xml version="1.0" encoding="UTF-8"?>\n<Observation xmlns="http://hl7.org/fhir">${body}`);
  const read = await collect(fixed);
  assert.equal(read[0]!.kind, 'accepted');
  // An element that is not a FHIR resource type is still other XML.
  const other = join(dir, 'other.xml');
  writeFileSync(other, '<PurchaseOrder><id value="1"/></PurchaseOrder>');
  assert.match(((await collect(other))[0] as RejectedItem).reason, /^XML, not FHIR JSON, HL7 v2 or CSV/);
});
