import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_OFFSET, parsePaging, sinceInstant, versionWindow } from './paging.ts';

const limits = { defaultCount: 10, maxCount: 50 };

test('parsePaging: defaults, last value wins, counts above the maximum give the maximum', () => {
  assert.deepEqual(parsePaging({}, limits), { kind: 'ok', paging: { count: 10, offset: 0 } });
  assert.deepEqual(parsePaging({ _count: '5', _offset: '15' }, limits), { kind: 'ok', paging: { count: 5, offset: 15 } });
  assert.deepEqual(parsePaging({ _count: ['5', '7'] }, limits), { kind: 'ok', paging: { count: 7, offset: 0 } });
  assert.deepEqual(parsePaging({ _count: '5000' }, limits), { kind: 'ok', paging: { count: 50, offset: 0 } });
  assert.deepEqual(parsePaging({ _count: '0' }, limits), { kind: 'ok', paging: { count: 0, offset: 0 } });
  assert.deepEqual(parsePaging({ _since: '2025-10-01T09:00:00+01:00' }, limits), { kind: 'ok', paging: { count: 10, offset: 0, since: '2025-10-01T08:00:00.000Z' } });
});

test('parsePaging: bad _count, _offset and _since are problems, each named', () => {
  for (const bad of ['-1', 'abc', '1.5', '', ' 3', '1e3', '9999999999']) {
    const r = parsePaging({ _count: bad }, limits);
    assert.equal(r.kind, 'invalid', `_count=${bad}`);
    if (r.kind === 'invalid') assert.match(r.problems[0]!, /^_count/);
  }
  assert.equal(parsePaging({ _offset: String(MAX_OFFSET + 1) }, limits).kind, 'invalid');
  assert.equal(parsePaging({ _offset: '-3' }, limits).kind, 'invalid');
  const r = parsePaging({ _count: 'x', _since: 'soon' }, limits);
  assert.equal(r.kind, 'invalid');
  if (r.kind === 'invalid') assert.deepEqual(r.problems.map((p) => p.split(':')[0]), ['_count', '_since']);
});

test('sinceInstant: FHIR instants and whole dates; a time needs its zone', () => {
  assert.equal(sinceInstant('2025-10-01T09:00:00Z'), '2025-10-01T09:00:00.000Z');
  assert.equal(sinceInstant('2025-10-01T09:00:00.123456Z'), '2025-10-01T09:00:00.123Z');
  assert.equal(sinceInstant('2025-10-01T09:00Z'), '2025-10-01T09:00:00.000Z');
  assert.equal(sinceInstant('2025-10-01'), '2025-10-01T00:00:00.000Z');
  for (const bad of ['soon', '2025-10-01T09:00:00', '2025-13-01', '2025-10-01T25:00:00Z', '2025', '2025-10-01T09:00:00Z; DROP TABLE resource', '1 OR 1=1']) {
    assert.equal(sinceInstant(bad), null, bad);
  }
});

test('versionWindow: the current version first, then replaced versions, page by page', () => {
  // Versions 5 (current), 4, 3, 2, 1 in pages of 2: [5,4] [3,2] [1].
  assert.deepEqual(versionWindow(true, 0, 2), { withCurrent: true, offset: 0, limit: 1 });
  assert.deepEqual(versionWindow(true, 2, 2), { withCurrent: false, offset: 1, limit: 2 });
  assert.deepEqual(versionWindow(true, 4, 2), { withCurrent: false, offset: 3, limit: 2 });
  // The current version not listed (received before _since): replaced versions from the offset.
  assert.deepEqual(versionWindow(false, 2, 2), { withCurrent: false, offset: 2, limit: 2 });
  // _count=0: nothing but the total.
  assert.deepEqual(versionWindow(true, 0, 0), { withCurrent: false, offset: 0, limit: 0 });
});
