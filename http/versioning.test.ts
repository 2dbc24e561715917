import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notModified, pageLinks } from './versioning.ts';

test('notModified: If-None-Match by weak comparison, then If-Modified-Since to the second', () => {
  const at = '2025-10-01T09:00:00.250Z';
  assert.equal(notModified('W/"3"', undefined, '3', at), true);
  assert.equal(notModified('"3"', undefined, '3', at), true);
  assert.equal(notModified('W/"2", W/"3"', undefined, '3', at), true);
  assert.equal(notModified('*', undefined, '3', at), true);
  assert.equal(notModified('W/"2"', undefined, '3', at), false);
  assert.equal(notModified('W/"33"', undefined, '3', at), false);
  // If-None-Match, when sent, decides alone (RFC 9110 13.2.2).
  assert.equal(notModified('W/"2"', 'Wed, 01 Oct 2025 10:00:00 GMT', '3', at), false);
  assert.equal(notModified(undefined, 'Wed, 01 Oct 2025 09:00:00 GMT', '3', at), true, 'same second');
  assert.equal(notModified(undefined, 'Wed, 01 Oct 2025 08:59:59 GMT', '3', at), false);
  assert.equal(notModified(undefined, 'not a date', '3', at), false);
  assert.equal(notModified(undefined, undefined, '3', at), false);
});

test('pageLinks: self, first, previous, next and last carry the set parameters; past the end there is no next', () => {
  const base = 'https://bevan.example/fhir/Patient/p/$everything';
  const rel = (links: { relation: string; url: string }[]) => Object.fromEntries(links.map((l) => [l.relation, new URL(l.url).searchParams.get('_offset')]));
  const middle = pageLinks(base, { _type: 'Observation,Encounter' }, { count: 10, offset: 10 }, 25);
  assert.deepEqual(rel(middle), { self: '10', first: '0', previous: '0', next: '20', last: '20' });
  const u = new URL(middle[0]!.url);
  assert.equal(u.searchParams.get('_type'), 'Observation,Encounter');
  assert.equal(u.searchParams.get('_count'), '10');
  assert.equal(u.pathname, '/fhir/Patient/p/$everything');
  assert.deepEqual(rel(pageLinks(base, {}, { count: 10, offset: 0 }, 25)), { self: '0', first: '0', next: '10', last: '20' });
  assert.deepEqual(rel(pageLinks(base, {}, { count: 10, offset: 20 }, 25)), { self: '20', first: '0', previous: '10', last: '20' });
  // Past the end: previous is the last page.
  assert.deepEqual(rel(pageLinks(base, {}, { count: 10, offset: 500 }, 25)), { self: '500', first: '0', previous: '20', last: '20' });
  assert.deepEqual(rel(pageLinks(base, {}, { count: 10, offset: 0 }, 0)), { self: '0', first: '0', last: '0' });
  assert.deepEqual(rel(pageLinks(base, {}, { count: 0, offset: 0 }, 25)), { self: '0' });
});
