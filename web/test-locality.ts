/**
 * For the browser tests: the real server (buildServer, listening on a free port of 127.0.0.1)
 * on an in-memory PGlite database holding a small generated locality, fed in through the real
 * formats and matched (as `bevan demo` does), with local users to sign in as. Not a test itself.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { addUser } from '../access/users.ts';
import type { Role } from '../access/context.ts';
import type { Database } from '../db/database.ts';
import { migrate } from '../db/migrator.ts';
import { openPglite } from '../db/pglite-adapter.ts';
import { buildServer } from '../http/server.ts';
import { WEB_DIST } from '../http/web.ts';
import { loadLocality } from '../ingest/locality.ts';
import { ingestPaths } from '../ingest/pipeline.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { generateLocality } from '../synth/generate.ts';

export const PASSWORD = 'a long test password';

export interface TestPerson {
  personId: string;
  nhsNumber: string;
  family: string;
  given: string;
  practice: string;
  systems: string[];
}

export interface TestLocality {
  url: string;
  db: Database;
  app: FastifyInstance;
  /** Someone with items from the most source systems (at least three), registered at `gp`'s practice. */
  person: TestPerson;
  /** Users, each with PASSWORD: `gp` at the person's practice, `far-gp` at a practice with no relationship to them. */
  users: { gp: string; farGp: string };
  seconds: { generate: number; ingest: number };
  close(): Promise<void>;
}

export async function startTestLocality(o: { people?: number; seed?: number } = {}): Promise<TestLocality> {
  const folder = mkdtempSync(join(tmpdir(), 'bevan-web-'));
  const db = await openPglite(null);
  let app: FastifyInstance | undefined;
  try {
    const m = await migrate(db);
    if (m.kind !== 'ok') throw new Error(`migration ${m.migration} failed: ${m.error}`);
    const t0 = performance.now();
    await generateLocality({ people: o.people ?? 200, seed: o.seed ?? 42, out: folder, workers: 0 });
    const t1 = performance.now();
    await loadLocality(db, join(folder, 'locality.json'));
    const files = ['gp', 'hospital', 'community', 'socialcare', 'mentalhealth'].flatMap((d) => {
      try {
        return readdirSync(join(folder, d), { withFileTypes: true, recursive: true })
          .filter((e) => e.isFile())
          .map((e) => join(e.parentPath, e.name))
          .sort();
      } catch {
        return [];
      }
    });
    await ingestPaths(db, files);
    await runMatcher(db);
    const t2 = performance.now();
    const found = await db.query<{ person_id: string; nhs_number: string; practice: string; family: string; given: string; systems: string[] }>(
      `SELECT p.person_id::text AS person_id, p.nhs_number, max(s.practice) AS practice, max(s.family) AS family, max(s.given) AS given,
              array_agg(DISTINCT s.source_system ORDER BY s.source_system) AS systems
         FROM person p JOIN source_identity s ON s.person_id = p.person_id
        WHERE p.status = 'active' AND p.nhs_number IS NOT NULL
        GROUP BY p.person_id, p.nhs_number
       HAVING count(DISTINCT s.source_system) >= 3 AND max(s.practice) IS NOT NULL AND max(s.family) IS NOT NULL
        ORDER BY count(DISTINCT s.source_system) DESC, p.nhs_number LIMIT 1`,
    );
    const row = found.rows[0];
    if (!row) throw new Error('the generated locality has nobody with items from three source systems');
    const users = { gp: 'web-gp', farGp: 'web-far-gp' };
    const add = (username: string, role: Role, organisation: string) => addUser(db, { username, role, organisation, password: PASSWORD });
    await add(users.gp, 'gp', row.practice);
    await add(users.farGp, 'gp', 'P99999');
    app = buildServer({ db, webDist: WEB_DIST });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const server = app;
    return {
      url: `http://127.0.0.1:${port}`,
      db,
      app: server,
      person: { personId: row.person_id, nhsNumber: row.nhs_number, family: row.family, given: row.given, practice: row.practice, systems: row.systems },
      users,
      seconds: { generate: (t1 - t0) / 1000, ingest: (t2 - t1) / 1000 },
      async close() {
        await server.close();
        await db.close();
        rmSync(folder, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await app?.close();
    await db.close();
    rmSync(folder, { recursive: true, force: true });
    throw err;
  }
}
