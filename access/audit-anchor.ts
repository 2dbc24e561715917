/**
 * External anchors for the audit chains. The chains are anchored inside the database (each
 * chain's head in `audit_chain`), but someone with superuser access can delete the newest entries
 * and rewind the head with them, or delete a head row. An anchor is a signed, timestamped record
 * of every chain's head (chain, seq, hash), written OUTSIDE the database — appended to a file, sent
 * to a log service — by `bevan audit anchor`; `bevan audit verify --anchor FILE` then checks that
 * every chain still extends every head ever anchored: the entry at the anchored seq is still there
 * with the anchored hash, and the head has not gone back. Together with the chain check (every
 * entry from 1 to the head links and matches its hash), a truncated chain, a rewound or deleted
 * head, or a replaced entry is found.
 *
 * An anchor line is JSON: the heads and their digest (the one `bevan audit verify` prints), when,
 * and a compact JWS (ES256, the server key of access/tokens.ts) over the canonical JSON of the
 * rest, so a line edited or made up outside the server is told from a real one. The signature is
 * checked against the keys in the database; an anchor whose key is gone is reported too.
 */
import { createHash } from 'node:crypto';
import { CompactSign, compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import type { Queryable } from '../db/database.ts';
import { canonicalJson } from './audit.ts';
import { publicKeyById, signingKey } from './tokens.ts';

export const ANCHOR_TYPE = 'bevan-audit-anchor';

export interface AuditAnchor {
  type: typeof ANCHOR_TYPE;
  /** ISO instant the heads were read. */
  at: string;
  /** [chain, seq, hash] of every chain's head, by chain. */
  heads: [number, number, string][];
  /** sha256 over `chain:seq:hash` lines: the digest `bevan audit verify` prints. */
  headsDigest: string;
  /** The rows from before the chains were partitioned (migration 0012): their count and the last one. */
  legacy: { rows: number; lastId: number; hash: string } | null;
  kid: string;
  /** Compact JWS over canonicalJson(the anchor without `jws`). */
  jws: string;
}

export interface AnchorCheck {
  ok: boolean;
  /** Anchors read. */
  anchors: number;
  /** Chain heads checked. */
  heads: number;
  problems: { anchorAt: string | null; line: number; chain: number | null; reason: string }[];
}

/** Reads every chain's head and signs them with the server key: one anchor to keep outside the database. */
export async function makeAnchor(db: Queryable, now: Date = new Date()): Promise<AuditAnchor> {
  const heads = await db.query<{ chain: number; seq: string; hash: string }>('SELECT chain, seq::text AS seq, hash FROM audit_chain ORDER BY chain');
  const legacy = await db.query<{ rows: number; last_id: string | null; hash: string | null }>(
    `SELECT count(*)::int AS rows, max(audit_id)::text AS last_id, (SELECT hash FROM audit_log WHERE chain IS NULL ORDER BY audit_id DESC LIMIT 1) AS hash
       FROM audit_log WHERE chain IS NULL`,
  );
  const l = legacy.rows[0];
  const key = await signingKey(db);
  const body: Omit<AuditAnchor, 'jws'> = {
    type: ANCHOR_TYPE,
    at: now.toISOString(),
    heads: heads.rows.map((h) => [h.chain, Number(h.seq), h.hash]),
    headsDigest: headsDigest(heads.rows.map((h) => ({ chain: h.chain, seq: Number(h.seq), hash: h.hash }))),
    legacy: l && l.rows > 0 && l.last_id && l.hash ? { rows: l.rows, lastId: Number(l.last_id), hash: l.hash } : null,
    kid: key.kid,
  };
  const jws = await new CompactSign(new TextEncoder().encode(canonicalJson(body))).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'bevan-audit-anchor' }).sign(key.privateKey);
  return { ...body, jws };
}

/** The digest of chain heads, as `bevan audit verify` prints it (sha256 of `chain:seq:hash` lines). */
export function headsDigest(heads: readonly { chain: number; seq: number; hash: string }[]): string {
  return createHash('sha256')
    .update(heads.map((h) => `${h.chain}:${h.seq}:${h.hash}`).join('\n'))
    .digest('hex');
}

/**
 * Checks every anchor in a text of anchor lines (a file `bevan audit anchor --out` appended to):
 * each line's signature, and that the database still extends each anchored head.
 */
export async function verifyAnchors(db: Queryable, text: string): Promise<AnchorCheck> {
  const problems: AnchorCheck['problems'] = [];
  let anchors = 0;
  let checked = 0;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    if (!raw.trim()) continue;
    const line = i + 1;
    const bad = (reason: string, at: string | null = null, chain: number | null = null) => problems.push({ anchorAt: at, line, chain, reason });
    let anchor: AuditAnchor;
    try {
      anchor = JSON.parse(raw) as AuditAnchor;
    } catch {
      bad('not JSON: not an anchor line');
      continue;
    }
    anchors++;
    const signed = await checkSignature(db, anchor);
    if (signed) {
      bad(signed, typeof anchor?.at === 'string' ? anchor.at : null);
      continue;
    }
    const heads = anchor.heads;
    checked += heads.length;
    const r = await db.query<{ chain: number; head_seq: string | null; row_hash: string | null }>(
      `SELECT k.chain, h.seq::text AS head_seq, a.hash AS row_hash
         FROM unnest($1::int[], $2::bigint[]) AS k(chain, seq)
         LEFT JOIN audit_chain h ON h.chain = k.chain
         LEFT JOIN audit_log a ON a.chain = k.chain AND a.seq = k.seq
        ORDER BY k.chain`,
      [heads.map((h) => h[0]), heads.map((h) => h[1])],
    );
    const now = new Map(r.rows.map((x) => [x.chain, x]));
    for (const [chain, seq, hash] of heads) {
      const x = now.get(chain);
      if (!x || x.head_seq === null) bad(`chain ${chain} has no head row any more (anchored at entry ${seq}): it was deleted`, anchor.at, chain);
      else if (Number(x.head_seq) < seq) bad(`chain ${chain}'s head is at entry ${x.head_seq}, behind entry ${seq} anchored at ${anchor.at}: the head was rewound and the newest entries removed`, anchor.at, chain);
      else if (seq > 0 && x.row_hash === null) bad(`entry ${seq} of chain ${chain}, anchored at ${anchor.at}, is gone: the chain was truncated or the entry removed`, anchor.at, chain);
      else if (seq > 0 && x.row_hash !== hash) bad(`entry ${seq} of chain ${chain} no longer has the hash anchored at ${anchor.at}: the entry was replaced`, anchor.at, chain);
    }
    if (anchor.legacy) {
      const l = await db.query<{ hash: string }>('SELECT hash FROM audit_log WHERE audit_id = $1 AND chain IS NULL', [anchor.legacy.lastId]);
      if (l.rows[0]?.hash !== anchor.legacy.hash) bad(`the last entry from before the chains were partitioned (#${anchor.legacy.lastId}), anchored at ${anchor.at}, is gone or changed`, anchor.at, null);
    }
  }
  if (!anchors) problems.push({ anchorAt: null, line: 0, chain: null, reason: 'no anchors in the file' });
  return { ok: problems.length === 0, anchors, heads: checked, problems };
}

/** Why an anchor's signature does not hold, or null when it does. */
async function checkSignature(db: Queryable, anchor: AuditAnchor): Promise<string | null> {
  if (!anchor || typeof anchor !== 'object' || anchor.type !== ANCHOR_TYPE || typeof anchor.jws !== 'string' || !Array.isArray(anchor.heads)) return 'not an audit anchor';
  let kid: string | undefined;
  try {
    kid = decodeProtectedHeader(anchor.jws).kid;
  } catch {
    return 'its signature is not a JWS';
  }
  const jwk = kid ? await publicKeyById(db, kid) : null;
  if (!jwk) return `signed by key ${kid ?? '(none)'}, which this database does not hold: the key was removed, or the anchor is from another database or forged`;
  try {
    const { payload } = await compactVerify(anchor.jws, await importJWK(jwk, 'ES256'), { algorithms: ['ES256'] });
    const { jws: _j, ...body } = anchor;
    if (new TextDecoder().decode(payload) !== canonicalJson(body)) return 'the anchor line was changed after it was signed';
  } catch (err) {
    return `its signature does not verify: ${(err as Error).message}`;
  }
  const malformed = anchor.heads.some((h) => !Array.isArray(h) || !Number.isInteger(h[0]) || !Number.isInteger(h[1]) || typeof h[2] !== 'string');
  return malformed ? 'its heads are not [chain, seq, hash]' : null;
}
