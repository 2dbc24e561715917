import { openDatabase } from '../db/open.ts';
import { findPersonWithMembers } from '../record/record-store.ts';
const db = await openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dbench_api_3000_7' });
const ids = (await db.query<{ person_id: string }>(`SELECT person_id::text AS person_id FROM person WHERE status='active' LIMIT 200`)).rows.map((r) => r.person_id);
for (const stamp of [false, true, false, true]) {
  const t = performance.now();
  for (let k = 0; k < 3; k++) for (const id of ids) await findPersonWithMembers(db, id, { stamp });
  console.log(stamp, ((performance.now() - t) / 600).toFixed(3), 'ms');
}
await db.close();
