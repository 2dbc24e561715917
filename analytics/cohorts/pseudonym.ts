// Pseudonyms for secondary use: HMAC-SHA256 of the person id under a key kept in the database
// (table pseudonym_key, migration 0028), created on first use.
import { createHmac, randomBytes } from 'node:crypto';
import type { Queryable } from '../../db/database.ts';

export const SECONDARY_USE_KEY = 'secondary-use';

/** The key for a purpose, created (32 random bytes) the first time it is asked for. */
export async function pseudonymKey(db: Queryable, purpose = SECONDARY_USE_KEY): Promise<Buffer> {
  await db.query('INSERT INTO pseudonym_key (purpose, key_hex) VALUES ($1, $2) ON CONFLICT (purpose) DO NOTHING', [purpose, randomBytes(32).toString('hex')]);
  const r = await db.query<{ key_hex: string }>('SELECT key_hex FROM pseudonym_key WHERE purpose = $1', [purpose]);
  return Buffer.from(r.rows[0]!.key_hex, 'hex');
}

/** A person's pseudonym under a key: 32 hex digits (128 bits of the HMAC). */
export function pseudonymFor(key: Buffer, personId: string): string {
  return createHmac('sha256', key).update(personId).digest('hex').slice(0, 32);
}
