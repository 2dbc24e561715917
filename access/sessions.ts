/**
 * Browser sessions (table `session`), after OWASP ASVS 4.0 level 2, V3: a new random session id
 * (256 bits) at every sign-in, kept by the browser in a cookie and here only as its sha256; an
 * idle timeout of 30 minutes (sliding) and an absolute one of 12 hours; sign-out ends it on the
 * server. A synchroniser token (OWASP CSRF cheat sheet) is kept with each session for unsafe
 * requests. Also the denylist of bearer tokens signed out before they expire (`revoked_token`).
 *
 * The session is in the database so that several stateless servers share it. Recording the last
 * activity costs a write, so it is moved at most once a minute: the idle timeout then counts from
 * the last recorded activity, up to a minute before the latest request.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Queryable } from '../db/database.ts';
import { isRole, type Principal } from './context.ts';

export interface SessionTimes {
  /** Ends after this long without a request (sliding). */
  idleSeconds: number;
  /** Ends this long after sign-in, however busy. */
  absoluteSeconds: number;
  /** Last activity is written at most this often. */
  touchSeconds: number;
}

/** ASVS 3.3.2 (level 2): re-authentication at least every 12 hours, or after 30 minutes idle. */
export const SESSION_TIMES: SessionTimes = { idleSeconds: 30 * 60, absoluteSeconds: 12 * 3600, touchSeconds: 60 };

export interface Session {
  /** hex sha256 of the session id (the id itself is never stored). */
  hash: string;
  principal: Principal;
  csrfToken: string;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
}

export type SessionLookup =
  | { kind: 'active'; session: Session; touchDue: boolean }
  | { kind: 'ended'; reason: 'unknown' | 'idle' | 'absolute' | 'signed-out' | 'user-disabled' };

/** The session id format: 32 random bytes, base64url (43 characters). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** A new session id: 256 bits from the operating system's CSPRNG (ASVS 3.2.2 asks for at least 64). */
export function newSessionId(): string {
  return randomBytes(32).toString('base64url');
}

/** What the table keeps of a session id. */
export function sessionHash(id: string): string {
  return createHash('sha256').update(id).digest('hex');
}

/** True when a submitted CSRF token equals the session's (in constant time). */
export function csrfTokenMatches(session: Pick<Session, 'csrfToken'>, submitted: string | undefined): boolean {
  if (typeof submitted !== 'string') return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(submitted);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Whether a session is still alive at `now`, and whether its last activity is due to be written (pure: the timing rules in one place). */
export function sessionTiming(
  s: { lastSeenAt: Date; absoluteExpiresAt: Date; endedAt: Date | null },
  now: Date,
  times: SessionTimes = SESSION_TIMES,
): { alive: true; touch: boolean } | { alive: false; reason: 'idle' | 'absolute' | 'signed-out' } {
  if (s.endedAt) return { alive: false, reason: 'signed-out' };
  if (now.getTime() >= s.absoluteExpiresAt.getTime()) return { alive: false, reason: 'absolute' };
  if (now.getTime() >= s.lastSeenAt.getTime() + times.idleSeconds * 1000) return { alive: false, reason: 'idle' };
  return { alive: true, touch: now.getTime() - s.lastSeenAt.getTime() >= times.touchSeconds * 1000 };
}

/**
 * Starts a session for a signed-in local user, inside the caller's transaction (so that it and
 * its audit entry commit together). Returns the session id for the cookie: it is not kept.
 */
export async function startSession(tx: Queryable, principal: Principal, o: { now: Date; from: string | null; times?: SessionTimes }): Promise<{ id: string; session: Session }> {
  const times = o.times ?? SESSION_TIMES;
  const id = newSessionId();
  const hash = sessionHash(id);
  const csrfToken = randomBytes(32).toString('base64url');
  const absoluteExpiresAt = new Date(o.now.getTime() + times.absoluteSeconds * 1000);
  await tx.query(
    `INSERT INTO session (session_hash, username, csrf_token, created_at, last_seen_at, absolute_expires_at, source_address)
     VALUES ($1, $2, $3, $4, $4, $5, $6)`,
    [hash, principal.user, csrfToken, o.now.toISOString(), absoluteExpiresAt.toISOString(), o.from],
  );
  return { id, session: { hash, principal, csrfToken, createdAt: o.now, lastSeenAt: o.now, idleExpiresAt: idleEnd(o.now, absoluteExpiresAt, times), absoluteExpiresAt } };
}

/**
 * The session a cookie names, if it is alive at `now`. `touchDue` says that its last activity is a
 * minute old or more: call touchSession once the request has passed its checks. The user's
 * current role, organisation and state come from `app_user`, so a disabled user's sessions stop.
 */
export async function findSession(db: Queryable, id: string, o: { now: Date; times?: SessionTimes }): Promise<SessionLookup> {
  if (!SESSION_ID.test(id)) return { kind: 'ended', reason: 'unknown' };
  const hash = sessionHash(id);
  const r = await db.query<{
    username: string;
    csrf_token: string;
    created_at: Date | string;
    last_seen_at: Date | string;
    absolute_expires_at: Date | string;
    ended_at: Date | string | null;
    role: string;
    organisation: string | null;
    nhs_number: string | null;
    disabled_at: unknown;
  }>(
    `SELECT s.username, s.csrf_token, s.created_at, s.last_seen_at, s.absolute_expires_at, s.ended_at, u.role, u.organisation, u.nhs_number, u.disabled_at
       FROM session s JOIN app_user u ON u.username = s.username
      WHERE s.session_hash = $1`,
    [hash],
  );
  const row = r.rows[0];
  if (!row) return { kind: 'ended', reason: 'unknown' };
  if (row.disabled_at !== null || !isRole(row.role)) return { kind: 'ended', reason: 'user-disabled' };
  const lastSeenAt = toDate(row.last_seen_at);
  const absoluteExpiresAt = toDate(row.absolute_expires_at);
  const t = sessionTiming({ lastSeenAt, absoluteExpiresAt, endedAt: row.ended_at === null ? null : toDate(row.ended_at) }, o.now, o.times);
  if (!t.alive) return { kind: 'ended', reason: t.reason };
  return {
    kind: 'active',
    touchDue: t.touch,
    session: {
      hash,
      principal: { user: row.username, role: row.role, organisation: row.organisation, nhsNumber: row.nhs_number },
      csrfToken: row.csrf_token,
      createdAt: toDate(row.created_at),
      lastSeenAt,
      idleExpiresAt: idleEnd(lastSeenAt, absoluteExpiresAt, o.times),
      absoluteExpiresAt,
    },
  };
}

/** Records activity at `now` (the idle timeout restarts); returns the session with its new idle end. */
export async function touchSession(db: Queryable, s: Session, now: Date, times: SessionTimes = SESSION_TIMES): Promise<Session> {
  // Forward only: two servers touching at once both leave the later instant.
  await db.query('UPDATE session SET last_seen_at = $2 WHERE session_hash = $1 AND ended_at IS NULL AND last_seen_at < $2', [s.hash, now.toISOString()]);
  return { ...s, lastSeenAt: now, idleExpiresAt: idleEnd(now, s.absoluteExpiresAt, times) };
}

/** When a session last active at `lastSeenAt` goes idle: never past its absolute end. */
function idleEnd(lastSeenAt: Date, absoluteExpiresAt: Date, times: SessionTimes = SESSION_TIMES): Date {
  return new Date(Math.min(lastSeenAt.getTime() + times.idleSeconds * 1000, absoluteExpiresAt.getTime()));
}

/** Ends a session on the server (sign-out, or replaced by a new sign-in); false if it had already ended. */
export async function endSession(db: Queryable, hash: string, reason: 'signed-out' | 'replaced', now: Date): Promise<boolean> {
  const r = await db.query('UPDATE session SET ended_at = $2, end_reason = $3 WHERE session_hash = $1 AND ended_at IS NULL', [hash, now.toISOString(), reason]);
  return r.rowCount > 0;
}

/** Removes sessions and revoked-token rows that can no longer matter (past their absolute end or expiry). */
export async function removeExpired(db: Queryable, now: Date): Promise<void> {
  await db.query('DELETE FROM session WHERE absolute_expires_at < $1', [now.toISOString()]);
  await db.query('DELETE FROM revoked_token WHERE expires_at < $1', [now.toISOString()]);
}

/** Puts a bearer token on the denylist until it expires. */
export async function revokeToken(db: Queryable, t: { issuer: string; jti: string; subject: string | null; expiresAt: Date }, now: Date): Promise<void> {
  await db.query(
    `INSERT INTO revoked_token (issuer, jti, subject, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (issuer, jti) DO NOTHING`,
    [t.issuer, t.jti, t.subject, t.expiresAt.toISOString(), now.toISOString()],
  );
}

/** The denylist lookup as a boolean column `signed_out` of another statement; issuer and jti are its parameter placeholders. */
export function signedOutColumn(issuer: string, jti: string): string {
  return `EXISTS (SELECT 1 FROM revoked_token WHERE issuer = ${issuer}::text AND jti = ${jti}::text) AS signed_out`;
}

/** True when the token has been signed out. */
export async function isTokenRevoked(db: Queryable, issuer: string, jti: string): Promise<boolean> {
  const r = await db.query('SELECT 1 FROM revoked_token WHERE issuer = $1 AND jti = $2', [issuer, jti]);
  return r.rows.length > 0;
}

function toDate(v: Date | string): Date {
  return v instanceof Date ? v : new Date(v);
}
