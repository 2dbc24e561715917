import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadIntervals, parseIntervals, RetestIntervalError, testCodes } from './intervals.ts';

const HEAD = 'test,title,interval_days,system,code,display,source\n';

test('the shipped intervals follow the issue: HbA1c 60 days, lipids and thyroid function 28, U&E and CRP 1', () => {
  const days = Object.fromEntries(loadIntervals().map((i) => [i.test, i.days]));
  assert.deepEqual({ hba1c: days.hba1c, lipids: days.lipids, tft: days['thyroid-function'], ue: days.ue, crp: days.crp }, { hba1c: 60, lipids: 28, tft: 28, ue: 1, crp: 1 });
  for (const i of loadIntervals()) assert.ok(i.source.length > 0 && i.codes.length > 0, i.test);
});

test('local laboratory codes count through the reference lab-code map', () => {
  const labCodes = new Map([
    ['hl7:RM2\u0000HBA1C', { system: 'http://loinc.org', code: '59261-8', display: 'HbA1c' }],
    ['hl7:RM2\u0000FOO', { system: 'http://loinc.org', code: '0000-0', display: 'not a test here' }],
  ]);
  const codes = testCodes(loadIntervals(), { labCodes });
  assert.deepEqual(codes.filter((c) => c.sourceSystem), [{ sourceSystem: 'hl7:RM2', system: '', code: 'HBA1C', test: 'hba1c' }]);
});

test('a bad intervals table names every problem', () => {
  const bad = HEAD + 'hba1c,HbA1c,sixty,http://snomed.info/sct,1,x,s\nhba1c,HbA1c,60,http://example.org/local,2,x,s\nlipids,Lipids,28,http://snomed.info/sct,1,x,s\nBad Key,X,0,http://loinc.org,9,x,\n';
  assert.throws(() => parseIntervals(bad), (e: unknown) => {
    const p = (e as RetestIntervalError).problems.join('\n');
    assert.match(p, /interval_days "sixty"/);
    assert.match(p, /example.org\/local is not SNOMED CT/);
    assert.match(p, /already a code of hba1c/);
    assert.match(p, /another title, interval or source/);
    assert.match(p, /source empty/);
    return true;
  });
  assert.throws(() => parseIntervals(HEAD), /no intervals/);
  assert.throws(() => parseIntervals('a,b\n1,2\n'), /header must be/);
});
