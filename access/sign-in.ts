/**
 * Sign-in and sign-out, as services the HTTP edge calls (it only translates input and results):
 * a local user's password checked (argon2id, access/users.ts) behind a gate that bounds how many
 * hashes run at once; then a bearer token, or a new server-side browser session; sign-out ends
 * the session or revokes the token. Each is audited (`auth.login` permit or deny,
 * `session.start`, `session.end`, `token.revoke`: entries about nobody, chained by their user).
 */
import { availableParallelism } from 'node:os';
import { appendAudit, appendAuditBatch, type AuditEntry } from './audit.ts';
import type { Database } from '../db/database.ts';
import type { Principal } from './context.ts';
import type { VerifiedToken } from './oidc.ts';
import { endSession, removeExpired, revokeToken, sessionHash, SESSION_TIMES, startSession, type Session, type SessionTimes } from './sessions.ts';
import { issueToken, TOKEN_SECONDS } from './tokens.ts';
import { checkPassword, principalOf } from './users.ts';

/** How a request proved who it is. */
export type Credential = { kind: 'session'; session: Session } | { kind: 'bearer'; token: VerifiedToken };

/**
 * Bounds the argon2id work at once (each hash holds 19 MiB, a libuv thread and a core for tens of
 * milliseconds): up to `maxInFlight` running and `maxWaiting` queued; anyone past that is told to
 * come back, without a hash. By default one core is left to the event loop (at most 4 hashes,
 * libuv's thread pool), so a flood of sign-ins from many addresses slows sign-in, not the API.
 */
export class PasswordGate {
  /** Password checks started (a test can see that refused sign-ins cost no hash). */
  started = 0;
  /** Sign-ins turned away because the gate was full. */
  refused = 0;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    readonly maxInFlight = Math.max(1, Math.min(4, availableParallelism() - 1)),
    readonly maxWaiting = 16,
  ) {}

  /** Runs fn when a place is free; null (without running it) when the queue is full too. */
  async run<T>(fn: () => Promise<T>): Promise<T | null> {
    if (this.inFlight >= this.maxInFlight) {
      if (this.waiting.length >= this.maxWaiting) {
        this.refused++;
        return null;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.inFlight++;
    }
    this.started++;
    try {
      return await fn();
    } finally {
      // Hand the place straight to the next in the queue, or free it.
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
  }
}

export interface SignInRequest {
  username: string;
  password: string;
  /** A browser session (cookie) instead of a bearer token. */
  session: boolean;
  /** The address the request came from. */
  from: string;
  /** The session id the browser already held, if any: it ends (a new one is always made). */
  previousSessionId?: string;
  now: Date;
  gate: PasswordGate;
  times?: SessionTimes;
}

export type SignInResult =
  | { kind: 'token'; principal: Principal; accessToken: string; expiresIn: number }
  | { kind: 'session'; principal: Principal; sessionId: string; session: Session }
  | { kind: 'refused'; reason: string }
  | { kind: 'busy' };

const CLEANUP_EVERY_MS = 10 * 60_000;
let lastCleanup = 0;

const AUDIT_ACTOR = /^[a-z0-9][a-z0-9._@-]{0,63}$/i;

/** Signs a local user in with their password. */
export async function signIn(db: Database, r: SignInRequest): Promise<SignInResult> {
  const checked = await r.gate.run(async () => ({ user: await checkPassword(db, r.username, r.password) }));
  if (!checked) return { kind: 'busy' };
  const base = { from: r.from, purpose: null, personId: null };
  if (!checked.user) {
    const reason = 'user name or password is wrong, or the user is disabled';
    await appendAudit(db, { ...base, actor: AUDIT_ACTOR.test(r.username) ? r.username : '(not a user name)', action: 'auth.login', decision: 'deny', reason, detail: { credential: r.session ? 'session' : 'bearer' } });
    return { kind: 'refused', reason };
  }
  const principal = principalOf(checked.user);
  const who: Pick<AuditEntry, 'actor' | 'role' | 'organisation'> = { actor: principal.user, role: principal.role, organisation: principal.organisation };
  if (!r.session) {
    const accessToken = await issueToken(db, principal, TOKEN_SECONDS, r.now);
    await appendAudit(db, { ...base, ...who, action: 'auth.login', decision: 'permit', reason: 'password verified', detail: { credential: 'bearer', expiresIn: TOKEN_SECONDS } });
    return { kind: 'token', principal, accessToken, expiresIn: TOKEN_SECONDS };
  }
  // Sessions past their absolute end, and revoked tokens past their expiry, are of no further
  // use: removed at most every ten minutes by each server (indexed deletes).
  if (r.now.getTime() - lastCleanup >= CLEANUP_EVERY_MS) {
    lastCleanup = r.now.getTime();
    await removeExpired(db, new Date(r.now.getTime() - 3600_000));
  }
  const started = await db.transaction(async (tx) => {
    const entries: AuditEntry[] = [{ ...base, ...who, action: 'auth.login', decision: 'permit', reason: 'password verified', detail: { credential: 'session' } }];
    // ASVS 3.2.1: a new session at every sign-in; one the browser brought along ends.
    if (r.previousSessionId) {
      const old = sessionHash(r.previousSessionId);
      if (await endSession(tx, old, 'replaced', r.now)) entries.push({ ...base, ...who, action: 'session.end', reason: 'replaced by a new sign-in', detail: { session: old.slice(0, 16) } });
    }
    const s = await startSession(tx, principal, { now: r.now, from: r.from, times: r.times ?? SESSION_TIMES });
    entries.push({
      ...base,
      ...who,
      action: 'session.start',
      decision: 'permit',
      reason: 'password verified',
      detail: { session: s.session.hash.slice(0, 16), idleExpiresAt: s.session.idleExpiresAt.toISOString(), absoluteExpiresAt: s.session.absoluteExpiresAt.toISOString() },
    });
    await appendAuditBatch(tx, entries, r.now);
    return s;
  });
  return { kind: 'session', principal, sessionId: started.id, session: started.session };
}

/** What sign-out did. */
export interface SignOutResult {
  sessionEnded: boolean;
  tokenRevoked: boolean;
  /** Why a token could not be revoked, when it could not. */
  note?: string;
}

/** Signs out: ends the session on the server, or puts the bearer token on the denylist until it expires. */
export async function signOut(db: Database, c: Credential, o: { from: string; now: Date }): Promise<SignOutResult> {
  const base = { from: o.from, purpose: null, personId: null };
  if (c.kind === 'session') {
    const p = c.session.principal;
    const ended = await db.transaction(async (tx) => {
      const done = await endSession(tx, c.session.hash, 'signed-out', o.now);
      if (done) await appendAuditBatch(tx, [{ ...base, actor: p.user, role: p.role, organisation: p.organisation, action: 'session.end', reason: 'signed out', detail: { session: c.session.hash.slice(0, 16) } }], o.now);
      return done;
    });
    return { sessionEnded: ended, tokenRevoked: false };
  }
  const t = c.token;
  const p = t.principal;
  if (!t.jti) return { sessionEnded: false, tokenRevoked: false, note: 'the token has no jti, so it cannot be revoked: it stays valid until it expires' };
  await db.transaction(async (tx) => {
    await revokeToken(tx, { issuer: t.issuer, jti: t.jti!, subject: p.user, expiresAt: t.expiresAt }, o.now);
    await appendAuditBatch(tx, [{ ...base, actor: p.user, role: p.role, organisation: p.organisation, action: 'token.revoke', reason: 'signed out', detail: { issuer: t.issuer, jti: t.jti, expiresAt: t.expiresAt.toISOString() } }], o.now);
  });
  return { sessionEnded: false, tokenRevoked: true };
}
