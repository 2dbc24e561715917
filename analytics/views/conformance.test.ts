/**
 * Conformance to SQL-on-FHIR v2: one group for each file of the specification's test suite
 * (tests/*.json in github.com/FHIR/sql-on-fhir-v2: basic, collection, combinations, constant,
 * constant_types, fhirpath, fhirpath_numbers, fn_boundary, fn_empty, fn_extension, fn_first,
 * fn_join, fn_oftype, fn_reference_keys, foreach, logic, repeat, row_index, union, validate,
 * view_resource, where), each exercising the behaviours that file tests with our own resources
 * and views, written in the suite's format and judged as its runner judges (rows in any order,
 * columns in order when given, an error when one is expected). Where this engine differs from
 * the suite, the last test says how, and shows what it does instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSpecTestFile } from './spec-tests.ts';
import { compileView } from './view-definition.ts';
import { rowObject, rowsOf } from './view-runner.ts';

import { col, groups, view } from './conformance-cases.ts';

// ---------------------------------------------------------------------------------------------
for (const fastPath of [true, false]) {
  test(`SQL-on-FHIR v2 conformance (${fastPath ? 'with the fast path' : 'FHIRPath.js alone'}): ${groups.length} groups, one per file of the specification's test suite, pass in full`, () => {
    assert.equal(groups.length, 22);
    const failures: string[] = [];
    let total = 0;
    for (const g of groups) {
      for (const r of runSpecTestFile(g, { fastPath }).results) {
        total++;
        if (!r.passed) failures.push(`${g.title} / ${r.title}: ${r.message}${r.observed ? `\n  observed ${JSON.stringify(r.observed)}` : ''}`);
      }
    }
    assert.ok(total >= 140, `${total} tests`);
    assert.deepEqual(failures, []);
  });
}

test('the fast path and FHIRPath.js give the same rows, in the same order, for every view of the suite', () => {
  let compared = 0;
  for (const g of groups) {
    const fast = runSpecTestFile(g, { fastPath: true }).results;
    const slow = runSpecTestFile(g, { fastPath: false }).results;
    for (const [i, r] of fast.entries()) {
      assert.deepEqual(r.observed, slow[i]!.observed, `${g.title} / ${r.title}`);
      assert.equal(r.passed, slow[i]!.passed, `${g.title} / ${r.title}`);
      compared++;
    }
  }
  assert.ok(compared >= 140);
});

test('an error names where in the view it is and which resource broke it', () => {
  const multi = compileView(view('Patient', [{ column: [col('family', 'name.family')] }]));
  assert.throws(() => rowsOf(multi, { resourceType: 'Patient', id: 'p9', name: [{ family: 'a' }, { family: 'b' }] }), /column "family" \(select\[0\]\.column\[0\]\) gave 2 values for Patient\/p9 but is not a collection/);
  try {
    compileView(view('Patient', [{ column: [col('id', 'id', { type: 'varchar' }), col('id', '%x')] }, { forEach: 'a', repeat: ['b'] }], { where: [{ path: 'name.' }] }));
    assert.fail('refused');
  } catch (err) {
    const e = err as { kind: string; details: string[] };
    assert.equal(e.kind, 'unprocessable');
    assert.ok(e.details.some((d) => /^select\[0\]\.column\[0\]\.type: "varchar" is not a FHIR R4 type/.test(d)), e.details.join('\n'));
    assert.ok(e.details.some((d) => /^select\[0\]\.column\[1\]\.path: %x is not a constant/.test(d)));
    assert.ok(e.details.some((d) => /column "id" is already defined \(select\[0\]\.column\[0\]\)/.test(d)));
    assert.ok(e.details.some((d) => /^select\[1\]: only one of forEach, forEachOrNull and repeat/.test(d)));
    assert.ok(e.details.some((d) => /^where\[0\]\.path: not a valid FHIRPath expression/.test(d)));
  }
});

test('Period boundaries (the specification lists lowBoundary and highBoundary on Period)', () => {
  const v = compileView(view('Encounter', [{ column: [col('lo', 'period.lowBoundary()', { type: 'dateTime' }), col('hi', 'period.highBoundary()', { type: 'dateTime' })] }]));
  const [row] = rowsOf(v, { resourceType: 'Encounter', status: 'finished', class: { code: 'IMP' }, period: { start: '2024-03-01', end: '2024-03' } });
  assert.deepEqual(rowObject(v, row!), { lo: '2024-03-01T00:00:00.000000000+14:00', hi: '2024-03-31T23:59:59.999999999-12:00' });
});

test('where this engine differs from the suite (docs/analytics/views.md lists these)', () => {
  // A decimal's precision is that of the JSON number: 1.0 arrives as 1, so its high boundary is 1.99999999, not the suite's 1.09999999.
  const dec = compileView(view('Observation', [{ column: [col('lo', 'value.ofType(Quantity).value.lowBoundary()'), col('hi', 'value.ofType(Quantity).value.highBoundary()')] }]));
  assert.deepEqual(rowObject(dec, rowsOf(dec, { resourceType: 'Observation', valueQuantity: { value: 1.0 } })[0]!), { lo: 1, hi: 1.99999999 });
});
