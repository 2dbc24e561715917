/**
 * Feed files already loaded whole (migration 0024): replaying an unchanged feed costs a read and a
 * sha256 of each file, not a parse. A file is recorded only when every item it held was accepted,
 * ignored or a duplicate (nothing quarantined, no conflict), and only if it did not change while
 * it was read; read again with the same bytes and source, each of its items would meet its own
 * hash in the message log and count as a duplicate, so the pipeline counts them so at once.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Queryable } from '../db/database.ts';

export interface FileFingerprint {
  hash: string;
  source: string;
  size: number;
  mtimeMs: number;
}

/** The sha256 of a file's bytes, with its size and modification time when the hashing began; null if it cannot be read. */
export async function fingerprintFile(path: string, source: string | undefined): Promise<FileFingerprint | null> {
  try {
    const before = await stat(path);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return { hash: hash.digest('hex'), source: source ?? '', size: before.size, mtimeMs: before.mtimeMs };
  } catch {
    return null; // the reader meets the same error and quarantines the file with it
  }
}

export interface KnownFile {
  items: number;
  format: string | null;
  runId: string;
}

export async function findKnownFile(db: Queryable, f: FileFingerprint): Promise<KnownFile | null> {
  const r = await db.query<{ items: number; format: string | null; run_id: string }>(
    'SELECT items, format, run_id::text AS run_id FROM ingest_known_file WHERE content_hash = $1 AND source = $2 AND size = $3',
    [f.hash, f.source, f.size],
  );
  const row = r.rows[0];
  return row ? { items: row.items, format: row.format, runId: row.run_id } : null;
}

/** Records a file loaded whole, if it is still as it was fingerprinted (same size and modification time). */
export async function recordKnownFile(db: Queryable, path: string, f: FileFingerprint, run: { runId: string; format: string | null; items: number }): Promise<boolean> {
  const now = await stat(path).catch(() => null);
  if (!now || now.size !== f.size || now.mtimeMs !== f.mtimeMs) return false;
  await db.query(
    `INSERT INTO ingest_known_file (content_hash, source, size, format, items, run_id) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (content_hash, source) DO UPDATE SET size = EXCLUDED.size, format = EXCLUDED.format, items = EXCLUDED.items, run_id = EXCLUDED.run_id, recorded_at = now()`,
    [f.hash, f.source, f.size, run.format, run.items, run.runId],
  );
  return true;
}
