import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Queryable } from '../../db/database.ts';
import { ingestPaths } from '../../ingest/pipeline.ts';
import { generateLocality } from '../../synth/generate.ts';
import { testDatabases } from '../../test/databases.ts';
import { refreshFlatTables } from '../flat/refresh.ts';
import { activityCtesFromJson } from './activity-json.ts';
import { activityCtes } from './report.ts';
import { loadSources, type SourceSetting } from './tariff.ts';

// The commissioning classification over the flat tables (report.ts activityCtes) must give what
// the statement over the stored JSON it replaced gave (activity-json.ts): every person's activity,
// row for row (person, source, setting, day, activity, quantity), and the people counted, on a
// generated locality (every setting, outpatient firsts and follow-ups, social care hours).

const locality = mkdtempSync(join(tmpdir(), 'bevan-use-flat-'));
await generateLocality({ people: 150, seed: 7, out: locality });

type Ctes = typeof activityCtes;
async function activityRows(q: Queryable, ctes: Ctes, o: { sources: SourceSetting[]; start: string; asOf: string; cohortFilter?: string }): Promise<{ activity: string[]; people: string[] }> {
  const params: unknown[] = [];
  const bind = (v: unknown) => (params.push(v), `$${params.length}`);
  const c = ctes(bind, o);
  const r = await q.query<{ row: string }>(
    `${c.sql} SELECT concat_ws('|', a.person_id, a.source_system, a.setting, a.day, a.activity, round(sum(a.quantity), 6), count(*)) AS row
       FROM activity a JOIN people p ON p.person_id = a.person_id
      WHERE a.day >= ${c.start}::date AND a.day <= ${c.asOf}::date
      GROUP BY a.person_id, a.source_system, a.setting, a.day, a.activity`,
    params,
  );
  const p = await q.query<{ row: string }>(`${c.sql} SELECT concat_ws('|', person_id, practice, neighbourhood) AS row FROM people`, params);
  return { activity: r.rows.map((x) => x.row).sort(), people: p.rows.map((x) => x.row).sort() };
}

for (const target of await testDatabases()) {
  test(`commissioning activity on ${target.name}: the flat tables give what the stored JSON gave`, async () => {
    const db = await target.open();
    try {
      await ingestPaths(db, [locality]);
      await refreshFlatTables(db);
      const sources = loadSources();
      const asOf = new Date().toISOString().slice(0, 10);
      for (const start of [`${Number(asOf.slice(0, 4)) - 2}${asOf.slice(4, 7)}-01`, `${asOf.slice(0, 7)}-01`]) {
        const o = { sources, start, asOf };
        const json = await activityRows(db, activityCtesFromJson, o);
        const flat = await activityRows(db, activityCtes, o);
        assert.deepEqual(flat.people, json.people, `the same people (from ${start})`);
        assert.deepEqual(flat.activity, json.activity, `the same activity, row for row (from ${start})`);
        if (start < asOf.slice(0, 7)) {
          const kinds = new Set(json.activity.map((x) => x.split('|')[4]));
          for (const k of ['ae-attendance', 'emergency-admission', 'elective-admission', 'outpatient-first', 'outpatient-follow-up', 'community-contact']) assert.ok(kinds.has(k), `the locality has ${k}`);
        }
      }
      // A cohort filter (here: people at one practice) narrows both the same way.
      const practice = (await db.query<{ practice: string }>('SELECT practice FROM analytics_person ORDER BY practice LIMIT 1')).rows[0]!.practice;
      const narrowed = (ctes: Ctes) => (bind: (v: unknown) => string, o: { sources: SourceSetting[]; start: string; asOf: string }) => {
        const p = bind(practice);
        return ctes(bind, { ...o, cohortFilter: `AND g.practice = ${p}` });
      };
      const o = { sources, start: `${Number(asOf.slice(0, 4)) - 1}${asOf.slice(4, 7)}-01`, asOf };
      const json = await activityRows(db, narrowed(activityCtesFromJson), o);
      assert.ok(json.activity.length > 0, 'the practice has activity');
      assert.deepEqual(await activityRows(db, narrowed(activityCtes), o), json, 'the same with a cohort filter');
    } finally {
      await db.drop();
    }
  });
}
