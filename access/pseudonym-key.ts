/**
 * The keys of keyed pseudonyms (access/pseudonymise.ts), one per scope, in table `pseudonym_key`
 * (migration 0026): 256 random bits made on first use and kept, so that pseudonyms stay the
 * same from one extract to the next. Rotating a key (deleting its row) gives everyone new
 * pseudonyms from then on. Parameterised SQL only.
 */
import { randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.ts';

/** The scope of the pseudonyms in extracts for secondary use (views, cohorts). */
export const SECONDARY_USE_SCOPE = 'secondary-use';

/** The key for a scope, made if there is none yet (two callers at once agree on the first one written). */
export async function pseudonymKey(db: Queryable, scope: string): Promise<Buffer> {
  await db.query(`INSERT INTO pseudonym_key (scope, hmac_key) VALUES ($1, $2) ON CONFLICT (scope) DO NOTHING`, [scope, randomBytes(32)]);
  const r = await db.query<{ hmac_key: Uint8Array | Buffer }>(`SELECT hmac_key FROM pseudonym_key WHERE scope = $1`, [scope]);
  const key = r.rows[0]?.hmac_key;
  if (!key) throw new Error(`no pseudonym key for ${scope}`);
  return Buffer.from(key);
}
