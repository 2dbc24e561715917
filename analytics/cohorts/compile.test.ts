import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileCohort, compileCohortSeries, CohortCompileError } from './compile.ts';
import { CohortDefinitionError, parseCohort, windowStart, type CohortDefinition } from './definition.ts';
import { loadRegisters } from './registers.ts';

const registers = loadRegisters();
const resolve = (n: string) => registers.get(n);

test('the shipped registers parse and compile, with every value a parameter', () => {
  const names = [...registers.keys()];
  for (const want of ['diabetes', 'diabetes-hba1c-75-no-care-plan', 'diabetes-education-not-offered', 'copd-emergency-admissions', 'smi-health-check-due', 'learning-disability-health-check-due', 'ent-referrals', 'frequent-ae-attenders', 'palliative-care', 'palliative-with-preferred-place', 'palliative-without-preferred-place']) {
    assert.ok(names.includes(want), want);
  }
  for (const def of registers.values()) {
    const c = compileCohort(def, { asOf: '2025-10-01', resolve, practice: 'P91001' });
    assert.ok(!/44054006|999791000000106|13645005|P91001|2025-10-01/.test(c.sql), `${def.name}: a value in the SQL text`);
    assert.ok(c.params.includes('P91001'));
    assert.equal((c.sql.match(/\$\d+/g) ?? []).map((x) => Number(x.slice(1))).reduce((a, b) => Math.max(a, b), 0), c.params.length);
  }
  const hba1c = compileCohort(registers.get('diabetes-hba1c-75-no-care-plan')!, { asOf: '2025-10-01', resolve });
  assert.deepEqual(hba1c.uses, ['diabetes']);
  assert.ok(hba1c.params.includes(75) && hba1c.params.includes('2024-07-01'));
  assert.deepEqual(compileCohort(registers.get('palliative-without-preferred-place')!, { asOf: '2025-10-01', resolve }).uses, ['palliative-care', 'palliative-with-preferred-place']);
});

test('a register compiled for many dates: the dates a parameter table, each window and age boundary computed per date', () => {
  for (const def of registers.values()) {
    const c = compileCohortSeries(def, { dates: ['2025-01-31', '2025-02-28'], resolve });
    assert.ok(!/44054006|999791000000106|13645005|2025-01-31|2024-/.test(c.sql), `${def.name}: a value in the SQL text`);
    assert.equal((c.sql.match(/\$\d+/g) ?? []).map((x) => Number(x.slice(1))).reduce((a, b) => Math.max(a, b), 0), c.params.length);
    assert.match(c.sql, /CROSS JOIN dates m/);
  }
  const c = compileCohortSeries(parseCohort({ name: 'x', title: 'x', panel: 'p', criteria: { all: [{ age: { min: 18 } }, { encounter: { kind: 'ae-attendance', within: { months: 12 }, atLeast: 3 } }] } }), { dates: ['2025-01-31', '2024-02-29'] });
  // Born on or before the date 18 years back, per date (as compileCohort computes it); the window starts a year back; the dates themselves.
  assert.ok(c.params.some((p) => JSON.stringify(p) === JSON.stringify(['2007-01-31', '2006-03-01'])));
  assert.ok(c.params.some((p) => JSON.stringify(p) === JSON.stringify(['2024-01-31', '2023-03-01'])));
  assert.ok(c.params.some((p) => JSON.stringify(p) === JSON.stringify(['2025-01-31', '2024-02-29'])));
  assert.throws(() => compileCohortSeries(registers.get('diabetes')!, { dates: [] }), CohortCompileError);
});

test('windows and ages are dates back from asOf', () => {
  assert.equal(windowStart('2025-10-01', { months: 15 }), '2024-07-01');
  assert.equal(windowStart('2025-10-01', { months: 12 }), '2024-10-01');
  assert.equal(windowStart('2025-03-01', { days: 1 }), '2025-02-28');
  const c = compileCohort(parseCohort({ name: 'x', title: 'x', panel: 'p', criteria: { age: { min: 18, max: 64 } } }), { asOf: '2025-10-01' });
  // 18 or over: born on or before 2007-10-01; 64 or under: born after 1960-10-01.
  assert.deepEqual(c.params, ['2007-10-01', '1960-10-01']);
});

const base = { name: 'bad', title: 'Bad', panel: 'test' };
const problems = (input: unknown) => {
  try {
    parseCohort(input, 'bad.json');
  } catch (err) {
    assert.ok(err instanceof CohortDefinitionError);
    return err.problems.join('\n');
  }
  assert.fail('expected a definition error');
};

test('bad definitions: unknown fields, type errors and SQL in values are each named', () => {
  const p = problems({
    ...base,
    colour: 'red',
    criteria: {
      all: [
        { condition: { codes: ["44054006'; DROP TABLE resource; --"], sytem: 'x' } },
        { observation: { codes: ['999791000000106'], comparator: '>=', value: '75' } },
        { encounter: { kind: 'ambulance', atLeast: 0, within: { weeks: 2 } } },
        { age: { min: 80, max: 18 } },
        { practice: 'P91001' },
        { frailty: true },
        { condition: { codes: ['1'] }, not: { age: { min: 1 } } },
      ],
    },
  });
  assert.match(p, /bad\.json: colour: unknown field/);
  assert.match(p, /criteria\.all\[0\]\.condition\.codes\[0\]: "44054006'; DROP TABLE resource; --" is not a code/);
  assert.match(p, /criteria\.all\[0\]\.condition\.sytem: unknown field/);
  assert.match(p, /all\[1\]\.observation\.value: expected a number/);
  assert.match(p, /all\[2\]\.encounter\.kind: expected one of ae-attendance/);
  assert.match(p, /all\[2\]\.encounter\.atLeast: expected a whole number from 1/);
  assert.match(p, /all\[2\]\.encounter\.within\.weeks: unknown field/);
  assert.match(p, /all\[3\]\.age: min is above max/);
  assert.match(p, /all\[4\]\.practice: expected a non-empty array of codes/);
  assert.match(p, /all\[5\]: unknown criterion "frailty"/);
  assert.match(p, /all\[6\]: expected exactly one of/);
  assert.match(problems({ ...base, name: 'Bad Name; --', criteria: { all: [] } }), /name: expected lower-case[\s\S]*all: expected a non-empty array/);
  assert.match(problems({ ...base }), /criteria: missing/);
  assert.match(problems([]), /expected a JSON object/);
  assert.match(problems({ ...base, criteria: { condition: { codes: ['1'], system: "http://x'; --" } } }), /system: expected a code system URI/);
});

test('circular and missing register references are named', () => {
  const defs = new Map<string, CohortDefinition>([
    ['a', parseCohort({ name: 'a', title: 'A', panel: 'p', criteria: { all: [{ register: 'b' }] } })],
    ['b', parseCohort({ name: 'b', title: 'B', panel: 'p', criteria: { not: { register: 'a' } } })],
    ['c', parseCohort({ name: 'c', title: 'C', panel: 'p', criteria: { register: 'nowhere' } })],
    ['self', parseCohort({ name: 'self', title: 'S', panel: 'p', criteria: { register: 'self' } })],
  ]);
  const r = (n: string) => defs.get(n);
  assert.throws(() => compileCohort(defs.get('a')!, { asOf: '2025-10-01', resolve: r }), (e: Error) => e instanceof CohortCompileError && /circular reference: a → b → a/.test(e.message));
  assert.throws(() => compileCohort(defs.get('self')!, { asOf: '2025-10-01', resolve: r }), /circular reference: self → self/);
  assert.throws(() => compileCohort(defs.get('c')!, { asOf: '2025-10-01', resolve: r }), /register "nowhere" \(referred to by c\) does not exist/);
  assert.throws(() => compileCohort(defs.get('c')!, { asOf: '1 Oct', resolve: r }), /asOf must be a date/);
});
