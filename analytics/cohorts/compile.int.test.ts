import { test } from 'node:test';
import assert from 'node:assert/strict';
import { testDatabases } from '../../test/databases.ts';
import { compileCohort } from './compile.ts';
import { refreshFlatTables } from '../flat/refresh.ts';
import { parseCohort } from './definition.ts';
import { AS_OF, idOf, loadCraftedStore, PEOPLE } from './fixtures.ts';
import { loadRegisters } from './registers.ts';

const registers = loadRegisters();
const resolve = (n: string) => registers.get(n);
const keyOf = new Map(PEOPLE.map((p) => [idOf(p.key), p.key]));

const EXPECTED: Record<string, string[]> = {
  diabetes: ['A', 'B', 'C', 'D', 'S', 'T', 'V', 'W1', 'W2', 'W3', 'W4', 'W5', 'X'],
  'diabetes-hba1c-75-no-care-plan': ['A'],
  'diabetes-education-not-offered': ['A', 'B', 'C', 'D', 'S', 'T', 'W1', 'W2', 'W3', 'W4', 'W5', 'X'],
  'copd-emergency-admissions': ['F'],
  'frequent-ae-attenders': ['H'],
  'smi-health-check-due': ['J'],
  'learning-disability-health-check-due': ['L'],
  'ent-referrals': ['N'],
  'palliative-care': ['P', 'Q', 'Q2'],
  'palliative-with-preferred-place': ['P'],
  'palliative-without-preferred-place': ['Q', 'Q2'],
};

for (const target of await testDatabases()) {
  test(`compiled registers on ${target.name}: the people who should match each criterion, and only they`, async () => {
    const db = await target.open();
    try {
      await loadCraftedStore(db);
      await refreshFlatTables(db); // the compiled SQL reads analytics/'s flat tables; its callers bring them up to date
      const run = async (def: Parameters<typeof compileCohort>[0], practice: string | null = 'P91001') => {
        const c = compileCohort(def, { asOf: AS_OF, practice, resolve });
        const r = await db.query<{ person_id: string }>(c.sql, c.params);
        return r.rows.map((x) => keyOf.get(x.person_id)!).sort();
      };
      for (const [name, want] of Object.entries(EXPECTED)) assert.deepEqual(await run(registers.get(name)!), want.sort(), name);
      // Every practice: R (P91002) joins the diabetes register; U (deceased) and E (resolved) never do.
      assert.deepEqual(await run(registers.get('diabetes')!, null), [...EXPECTED.diabetes!, 'R'].sort());
      // Criteria kinds not in the registers: medication, neighbourhood, practice, any-value observations, age max.
      const def = (criteria: unknown) => parseCohort({ name: 'x', title: 'x', panel: 'test', criteria });
      assert.deepEqual(await run(def({ neighbourhood: ['N2'] }), null), ['R']);
      assert.deepEqual(await run(def({ all: [{ practice: ['P91002', 'P99999'] }, { condition: { codes: ['44054006'] } }] }), null), ['R']);
      assert.deepEqual(await run(def({ observation: { codes: ['999791000000106'], which: 'any', comparator: '>', value: 85 } })), ['B', 'D']);
      assert.deepEqual(await run(def({ observation: { codes: ['999791000000106'], within: { months: 15 } } })), ['A', 'B', 'C']);
      assert.deepEqual(await run(def({ age: { max: 17 } })), ['M']);
      assert.deepEqual(await run(def({ all: [{ age: { min: 70 } }, { condition: { codes: ['13645005'] } }] })), ['F', 'G']);
      assert.deepEqual(await run(def({ encounter: { kind: 'elective-admission', within: { months: 12 } } })), ['G']);
      assert.deepEqual(await run(def({ encounter: { kind: 'emergency-admission', atLeast: 2 } })), ['F', 'G']); // no window: ever
      assert.deepEqual(await run(def({ condition: { codes: ['44054006'], includeInactive: true }, })).then((x) => x.includes('E')), true);
      assert.deepEqual(await run(def({ condition: { codes: ['44054006'], system: 'http://read.info/ctv3' } })), []);
      // A value that looks like SQL is only ever a parameter (and refused by the checker before that).
      assert.throws(() => def({ practice: ["P91001' OR '1'='1"] }), /is not a code/);
    } finally {
      await db.drop();
    }
  });
}
