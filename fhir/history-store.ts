/**
 * Reads a resource's replaced versions from `resource_history` (migration 0015: a trigger on
 * `resource` copies the old row whenever its content changes). Versions are found by the
 * resource's key (source system, type, source id), taken from the current row the repository has
 * already checked access to: the current row's person decides who may see every version.
 * Parameterised SQL only.
 */
import type { Queryable } from '../db/database.ts';
import type { ResourceRow } from '../record/rows.ts';
import type { VersionsPage } from './store.ts';

interface HistoryRow {
  version: unknown;
  source_time: unknown;
  received_at: unknown;
  content: ResourceRow['content'];
}

const KEY = 'source_system = $1 AND resource_type = $2 AND source_id = $3';

/** Replaced versions, newest first, `page.limit` from `page.offset`, and how many match `page.since`. */
export async function resourceVersions(tx: Queryable, current: ResourceRow, page: VersionsPage): Promise<{ total: number; rows: ResourceRow[] }> {
  const params = [current.source_system, current.resource_type, current.source_id, page.since ?? null];
  // Only versions older than the current one: a row left by a hand-made change is never shown twice.
  const where = `${KEY} AND version < $5 AND ($4::timestamptz IS NULL OR received_at >= $4::timestamptz)`;
  const n = await tx.query<{ n: unknown }>(`SELECT count(*) AS n FROM resource_history WHERE ${where}`, [...params, current.version]);
  const total = Number(n.rows[0]?.n ?? 0);
  if (!total || page.limit <= 0 || page.offset >= total) return { total, rows: [] };
  const r = await tx.query<HistoryRow>(
    `SELECT version, source_time, received_at, content FROM resource_history WHERE ${where}
      ORDER BY version DESC LIMIT $6 OFFSET $7`,
    [...params, current.version, page.limit, page.offset],
  );
  return { total, rows: r.rows.map((h) => toRow(current, h)) };
}

/** One replaced version, or null when it is not kept (never kept before migration 0015, or not a past version). */
export async function resourceVersion(tx: Queryable, current: ResourceRow, version: number): Promise<ResourceRow | null> {
  if (!(version < current.version)) return null;
  const r = await tx.query<HistoryRow>(`SELECT version, source_time, received_at, content FROM resource_history WHERE ${KEY} AND version = $4`, [
    current.source_system,
    current.resource_type,
    current.source_id,
    version,
  ]);
  return r.rows[0] ? toRow(current, r.rows[0]) : null;
}

/** A past version as a resource row: its own content and times, the current row's key, person and subject. */
function toRow(current: ResourceRow, h: HistoryRow): ResourceRow {
  return { ...current, version: Number(h.version), source_time: iso(h.source_time), received_at: iso(h.received_at) ?? '', content: h.content };
}

function iso(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  const d = v instanceof Date ? v : new Date(String(v));
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString();
}
