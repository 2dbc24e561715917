/**
 * The matcher's lease (migration 0030): one matcher run at a time per database, whichever
 * process (several `bevan ingest`, `bevan mpi match`, a scheduled job) starts it. A run that finds
 * the lease held waits for it; a holder that died stops renewing and its lease expires.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Queryable } from '../db/database.ts';

export interface LeaseOptions {
  /** How long a lease lasts unless renewed (default 120 s); it is renewed every third of that. */
  ttlSeconds?: number;
  /** How often a waiting run asks again (default 500 ms). */
  pollMs?: number;
  /** Told once when the run has to wait, with the holder. */
  onWait?: (holder: string) => void;
}

/** Runs fn holding the matcher lease, waiting for it first when another run holds it. */
export async function withMatcherLease<T>(db: Queryable, fn: () => Promise<T>, o: LeaseOptions = {}): Promise<T> {
  const ttl = o.ttlSeconds ?? 120;
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let told = false;
  for (;;) {
    const r = await db.query<{ holder: string; mine: boolean }>(
      `INSERT INTO mpi_matcher_lease (name, holder, expires_at) VALUES ('matcher', $1, now() + make_interval(secs => $2))
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, acquired_at = now(), expires_at = EXCLUDED.expires_at
        WHERE mpi_matcher_lease.expires_at < now()
       RETURNING holder, true AS mine`,
      [holder, ttl],
    );
    if (r.rows.length) break;
    if (!told && o.onWait) {
      const h = await db.query<{ holder: string }>(`SELECT holder FROM mpi_matcher_lease WHERE name = 'matcher'`);
      if (h.rows[0]) o.onWait(h.rows[0].holder);
      told = true;
    }
    await new Promise((res) => setTimeout(res, o.pollMs ?? 500));
  }
  const renew = setInterval(() => {
    db.query(`UPDATE mpi_matcher_lease SET expires_at = now() + make_interval(secs => $2) WHERE name = 'matcher' AND holder = $1`, [holder, ttl]).catch(() => {
      // A database that is away now: the next renewal (or the run's own retry) meets it again.
    });
  }, Math.max(1000, (ttl * 1000) / 3));
  renew.unref();
  try {
    return await fn();
  } finally {
    clearInterval(renew);
    await db.query(`DELETE FROM mpi_matcher_lease WHERE name = 'matcher' AND holder = $1`, [holder]).catch(() => {
      // Not released (the database went away): it expires after ttl.
    });
  }
}
