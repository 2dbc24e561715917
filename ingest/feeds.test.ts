import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeedsFileError, loadFeeds, parseFeeds, sourceKeyProblem } from './feeds.ts';

const problemsOf = (value: unknown): string[] => {
  const r = parseFeeds(value, '/data');
  return 'problems' in r ? r.problems : [];
};

test('a feeds file: each source with its kind, ODS code, format and where it arrives; paths resolved against the file', () => {
  const r = parseFeeds(
    {
      locality: 'locality.json',
      feeds: [
        { key: 'gp:P91001', kind: 'gp', ods: 'p91001', format: 'fhir', folder: 'gp/P91001.ndjson' },
        { key: 'hl7:RM2', kind: 'hospital', ods: 'RM2', format: 'HL7', folder: 'hospital', mllpPort: 2575, name: 'Acute PAS' },
        { key: 'csv:socialcare', kind: 'Social care', format: 'csv', folder: '/srv/drop/socialcare' },
        { key: 'hl7:RW3', kind: 'hospital', ods: 'RW3', format: 'hl7v2' },
      ],
    },
    '/data',
  );
  assert.ok('config' in r, JSON.stringify(r));
  assert.equal(r.config.locality, '/data/locality.json');
  assert.deepEqual(r.config.feeds, [
    { key: 'gp:P91001', kind: 'gp', ods: 'P91001', format: 'fhir', folder: '/data/gp/P91001.ndjson' },
    { key: 'hl7:RM2', kind: 'hospital', ods: 'RM2', format: 'hl7v2', name: 'Acute PAS', folder: '/data/hospital', mllpPort: 2575 },
    { key: 'csv:socialcare', kind: 'social-care', format: 'csv', folder: '/srv/drop/socialcare' },
    { key: 'hl7:RW3', kind: 'hospital', ods: 'RW3', format: 'hl7v2' },
  ]);
  // A bare list is a feeds file too.
  assert.ok('config' in parseFeeds([{ key: 'csv:community', kind: 'community', format: 'csv', folder: 'c' }], '/data'));
});

test('an unknown kind and a duplicate key are each named, with every other problem, at once', () => {
  const problems = problemsOf({
    feeds: [
      { key: 'gp:P91001', kind: 'gp', ods: 'P91001', format: 'fhir', folder: 'gp' },
      { key: 'gp:P91001', kind: 'pharmacy', ods: 'P91001', format: 'fhir', folder: 'gp2' },
      { key: 'GP:p91001', kind: 'gp', ods: 'P91001', format: 'fhir' },
    ],
  });
  assert.deepEqual(problems, [
    `feeds[1] (gp:P91001): key "gp:P91001" is also feeds[0]'s: each source has one feed (list its folder and port on one entry)`,
    'feeds[1] (gp:P91001): kind "pharmacy" is not one of gp, hospital, community, mental-health, social-care, other',
    `feeds[2] (GP:p91001): key "GP:p91001" differs only in case from feeds[0]'s "gp:P91001": two sources need keys that differ in more than case`,
  ]);
});

test('every other mistake gets a sentence that says what to write', () => {
  const problems = problemsOf({
    feeds: [
      { key: 'hl7 RM2', kind: 'hospital', format: 'hl7v2', foldr: 'x' },
      { kind: 'community', format: 'xml', ods: 'not an ods' },
      { key: 'csv:a', kind: 'community', format: 'csv', folder: 'drop', mllpPort: 2575 },
      { key: 'csv:b', kind: 'community', format: 'csv', folder: 'drop/b' },
      { key: 'hl7:X', kind: 'hospital', ods: 'X01', format: 'hl7v2', folder: 'drop', mllpPort: 70000 },
      { key: 'csv:c', kind: 'community', format: 'csv', folder: 'drop' },
      'gp',
    ],
    extra: true,
  });
  assert.deepEqual(problems, [
    'unknown field "extra" (a feeds file has "feeds" and, optionally, "locality")',
    'feeds[0] (hl7 RM2): unknown field "foldr" (a feed has key, kind, ods, format, name, folder, mllpPort)',
    'feeds[0] (hl7 RM2): source key "hl7 RM2" is not usable: up to 64 letters, digits and : . _ - /, without spaces, e.g. hl7:RM2 or gp:P91001',
    'feeds[0] (hl7 RM2): "ods" is missing: a trust has an ODS code (e.g. RM2)',
    'feeds[1]: "key" is missing: the source system key, e.g. "hl7:RM2" or "gp:P91001"',
    'feeds[1]: format "xml" is not one of fhir, hl7v2, csv',
    'feeds[1]: ods "not an ods" is not an ODS code (3 to 10 letters and digits, e.g. P91001 or RM2)',
    'feeds[2] (csv:a): mllpPort is for HL7 v2 feeds, but its format is csv',
    `feeds[3] (csv:b): folder "drop/b" is inside feeds[2] (csv:a)'s folder: its files would be read twice`,
    'feeds[4] (hl7:X): mllpPort 70000 is not a port number (1 to 65535)',
    `feeds[5] (csv:c): folder "drop" is already feeds[2] (csv:a)'s: a folder belongs to one feed of each format (its files would be read twice)`,
    'feeds[6] is not an object with "key", "kind" and "format"',
  ]);
  assert.deepEqual(problemsOf({ feeds: [] }), ['"feeds" is empty: list at least one feed']);
  assert.deepEqual(problemsOf('feeds'), ['a feeds file is a JSON object {"feeds": [...]}']);
  assert.equal(sourceKeyProblem('gp:P91001'), null);
});

test('loadFeeds: a file that is not JSON, or has problems, throws them all in one error', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'bevan-feeds-'));
  try {
    const file = join(dir, 'feeds.json');
    await writeFile(file, '{"feeds": [');
    assert.throws(() => loadFeeds(file), (err: unknown) => err instanceof FeedsFileError && /is not valid JSON/.test(err.message));
    await writeFile(file, JSON.stringify({ feeds: [{ key: 'a:1', kind: 'x', format: 'csv' }, { key: 'a:1', kind: 'other', format: 'csv' }] }));
    assert.throws(
      () => loadFeeds(file),
      (err: unknown) => err instanceof FeedsFileError && err.problems.length === 2 && err.message.startsWith(`${file}: 2 problems:\n  - feeds[0] (a:1): kind "x"`),
    );
    await writeFile(file, JSON.stringify({ feeds: [{ key: 'csv:community', kind: 'community', format: 'csv', folder: 'community' }] }));
    assert.deepEqual(loadFeeds(file).feeds[0]!.folder, join(dir, 'community'));
    assert.throws(() => loadFeeds(join(dir, 'nope.json')), /cannot be read: ENOENT/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
