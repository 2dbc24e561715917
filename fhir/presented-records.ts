/**
 * Presented `$everything` pages shared by every server on one database (migration 0079,
 * `presented_record`). Behind a load balancer each server's own response cache
 * (fhir/response-cache.ts) starts empty and sees only its share of the requests; a page rendered by
 * any server is kept here, gzip-compressed, for all of them. One row per person and view; a row is
 * handed out only under the record's version stamp it was rendered from (with the day), so a page of
 * a record that has changed since is never served, and the next render replaces it.
 *
 * The view key names everything else a page depends on — the policy (its content, so every server
 * with the same policy file agrees), the decision's obligations (what is withheld), the token's
 * scopes, the request's parameters, and PRESENTATION_VERSION — hashed. The base URL is not in it:
 * pages are stored with BASE_PLACEHOLDER where the base goes (http/everything-render.ts restores it).
 *
 * The decision and the audit row are never stored: a request finds the person, reads the facts, is
 * decided and audited whether its page comes from here, from the process's cache, or is rendered.
 * Only this file writes SQL against presented_record.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync, constants } from 'node:zlib';
import type { Queryable } from '../db/database.ts';

/**
 * Bump when the rendering of `$everything` changes (everything-page.ts, fhir-bundle.ts presentation,
 * care-setting tags, links): pages of the old rendering are then never found again. The package
 * version is in the key too, so a release changes every key by itself.
 */
export const PRESENTATION_VERSION = 1;
const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * Where the base URL goes in a stored page. NUL cannot occur in anything the page is made of
 * (PostgreSQL text and jsonb refuse it), and JSON.stringify writes it as the six characters
 * `\u0000`, so the serialised placeholder can only be one this code wrote.
 */
export const BASE_PLACEHOLDER = '\u0000bevan-base\u0000';
/** BASE_PLACEHOLDER as it appears in the serialised page. */
export const BASE_PLACEHOLDER_JSON = Buffer.from(JSON.stringify(BASE_PLACEHOLDER).slice(1, -1), 'utf8');

export interface PresentedPage {
  /** The page's UTF-8 JSON, BASE_PLACEHOLDER for the base URL. */
  json: Buffer;
  /** What the audit entry of a read says about it. */
  items: number;
  withheld: number;
}

/** The view key of a page: a hash of the parts (JSON), with the presentation's version. */
export function presentedViewKey(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify([PRESENTATION_VERSION, PACKAGE_VERSION, ...parts])).digest('base64url');
}

const policyHashes = new WeakMap<object, string>();

/** A hash of a policy's content (the same on every server that loaded the same file), memoised per policy object. */
export function policyHash(policy: object | null): string {
  if (!policy) return 'none';
  let h = policyHashes.get(policy);
  if (h === undefined) policyHashes.set(policy, (h = createHash('sha256').update(JSON.stringify(policy)).digest('base64url').slice(0, 22)));
  return h;
}

/** The page kept for this person and view under this stamp, or null (none, or one rendered from another version of the record). */
export async function readPresentedPage(db: Queryable, personId: string, viewKey: string, stamp: string): Promise<PresentedPage | null> {
  const r = await db.query<{ body: Buffer | Uint8Array; items: number; withheld: number }>(
    'SELECT body, items, withheld FROM presented_record WHERE person_id = $1::uuid AND view_key = $2 AND stamp = $3',
    [personId, viewKey, stamp],
  );
  const row = r.rows[0];
  if (!row) return null;
  return { json: gunzipSync(row.body), items: row.items, withheld: row.withheld };
}

/**
 * Keeps a page for this person and view, replacing whatever was kept (one row per person and view).
 * A person deleted meanwhile (an empty person mpi/link.ts made) keeps nothing: the row is only
 * written while the person exists.
 */
export async function keepPresentedPage(db: Queryable, personId: string, viewKey: string, stamp: string, page: PresentedPage): Promise<void> {
  // Level 1: a page is ~6x smaller at a fraction of level 6's CPU; the bytes are sent by the database on every shared hit.
  const body = gzipSync(page.json, { level: constants.Z_BEST_SPEED });
  await db.query(
    `INSERT INTO presented_record (person_id, view_key, stamp, body, json_bytes, items, withheld)
     SELECT $1::uuid, $2, $3, $4, $5, $6, $7 WHERE EXISTS (SELECT 1 FROM person WHERE person_id = $1::uuid)
     ON CONFLICT (person_id, view_key) DO UPDATE
       SET stamp = EXCLUDED.stamp, body = EXCLUDED.body, json_bytes = EXCLUDED.json_bytes, items = EXCLUDED.items, withheld = EXCLUDED.withheld, rendered_at = now()`,
    [personId, viewKey, stamp, body, page.json.length, page.items, page.withheld],
  );
}

/**
 * Removes the pages rendered before `day` (YYYY-MM-DD, UTC): their stamps name an earlier day, so no
 * request can be served them any more. `bevan everything prebuild` runs it first. Returns the rows removed.
 */
export async function prunePresentedPages(db: Queryable, day: string): Promise<number> {
  const r = await db.query(`DELETE FROM presented_record WHERE rendered_at < ($1::date)::timestamp AT TIME ZONE 'UTC'`, [day]);
  return r.rowCount ?? 0;
}

/** What the store holds (for `bevan everything prebuild` and the bench): pages, their people, bytes stored and bytes of JSON. */
export async function presentedRecordCounts(db: Queryable): Promise<{ pages: number; people: number; storedBytes: number; jsonBytes: number }> {
  const r = await db.query<{ pages: number; people: number; stored: string | null; json: string | null }>(
    'SELECT count(*)::int AS pages, count(DISTINCT person_id)::int AS people, sum(length(body))::text AS stored, sum(json_bytes)::text AS json FROM presented_record',
  );
  const row = r.rows[0]!;
  return { pages: row.pages, people: row.people, storedBytes: Number(row.stored ?? 0), jsonBytes: Number(row.json ?? 0) };
}

let sharedPages: boolean | undefined;

/** Whether pages are shared through the database: BEVAN_SHARED_PAGES (default on; `off` keeps only each process's own cache, as before migration 0079). */
export function sharedPagesOn(env: NodeJS.ProcessEnv = process.env): boolean {
  if (sharedPages !== undefined && env === process.env) return sharedPages;
  const v = (env.BEVAN_SHARED_PAGES ?? 'on').trim().toLowerCase();
  if (v !== 'on' && v !== 'off') throw new Error(`BEVAN_SHARED_PAGES must be on or off, not ${JSON.stringify(v)}`);
  if (env === process.env) sharedPages = v === 'on';
  return v === 'on';
}
