import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bundle } from '@medplum/fhirtypes';
import { buildIntegratedRecord } from '../record/integrated-record.ts';
import { identities, NOW, PERSON_ID, person, practices, rows } from '../record/test-fixtures.ts';
import { everythingPage } from './everything-page.ts';

const record = buildIntegratedRecord(person, identities, rows, practices, { now: NOW });
const ids = (b: Bundle) => (b.entry ?? []).map((e) => `${e.resource!.resourceType}/${e.resource!.id}`);

test('$everything pages: the merged Patient first, every other resource once, in received order, with the total', () => {
  const all = everythingPage(record, rows);
  const listed = rows.filter((r) => r.resource_type !== 'Patient').length;
  assert.equal(all.total, 1 + listed);
  assert.equal(all.entry!.length, all.total);
  assert.equal(all.entry![0]!.resource!.id, PERSON_ID);
  assert.match(all.entry![0]!.resource!.meta!.versionId!, /^[0-9a-f]{16}$/);
  assert.ok(all.entry!.every((e) => e.search?.mode === 'match'));
  const received = all.entry!.slice(1).map((e) => e.resource!.meta!.lastUpdated!);
  assert.deepEqual(received, [...received].sort(), 'ordered by lastUpdated');
  const seen: string[] = [];
  for (let offset = 0; offset < all.total! + 4; offset += 4) {
    const page = everythingPage(record, rows, { count: 4, offset });
    assert.equal(page.total, all.total);
    if (offset) assert.ok(!ids(page).includes(`Patient/${PERSON_ID}`));
    assert.ok((page.entry?.length ?? 0) <= 4);
    seen.push(...ids(page));
  }
  assert.deepEqual(seen, ids(all), 'the pages, walked, are the whole record once');
  const past = everythingPage(record, rows, { count: 4, offset: 400 });
  assert.equal(past.entry, undefined);
  assert.equal(past.total, all.total);
  assert.equal(everythingPage(record, rows, { count: 0 }).entry, undefined);
});

test('$everything: _type and _since narrow what is listed; the Patient stays', () => {
  const enc = everythingPage(record, rows, { types: ['Encounter'] });
  assert.deepEqual(enc.entry!.map((e) => e.resource!.resourceType), ['Patient', 'Encounter', 'Encounter', 'Encounter', 'Encounter', 'Encounter']);
  const cut = rows[10]!.received_at;
  const recent = everythingPage(record, rows, { since: cut });
  assert.equal(recent.total, 1 + rows.filter((r) => r.resource_type !== 'Patient' && r.received_at >= cut).length);
  assert.ok(recent.entry!.slice(1).every((e) => e.resource!.meta!.lastUpdated! >= cut));
  assert.equal(everythingPage(record, rows, { redacted: true }).meta!.security![0]!.code, 'REDACTED');
});
