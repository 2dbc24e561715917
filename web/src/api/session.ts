/**
 * The browser's session with Bevan's API, in one place (docs/api/sign-in.md).
 *
 * Sign-in asks for a browser session: `POST /auth/login` {username, password, session: true}.
 * - A server with browser sessions answers with the session (`token_type: "session"`, user,
 *   role, organisation, `idle_expires_at`, `absolute_expires_at`, `csrf_token`) and sets the
 *   HttpOnly cookie `__Host-bevan_session`, which the browser then sends with every same-origin
 *   request; unsafe methods also carry `X-CSRF-Token`. `GET /auth/session` (which does not count
 *   as activity) restores it after a reload and is polled to keep the idle expiry shown true.
 * - A server without them ignores the field and answers `{access_token, expires_in}`: the token
 *   is then kept in this module's memory only (never localStorage or a readable cookie, so an
 *   injected script cannot lift it later, and a reload signs the user out) and sent as
 *   `Authorization: Bearer`.
 * Sign-out is `POST /auth/logout` (ends the session, or revokes the token where the server can),
 * then forgetting everything here. The pages ask only for `requestHeaders()`, `current()` and
 * the change events.
 */
import { ApiError, outcomeText } from './errors.ts';
import type { OperationOutcome } from '@medplum/fhirtypes';

export interface Session {
  user: string;
  role: string;
  organisation: string | null;
  /** When the session ends whatever the user does (ms since 1970). */
  expiresAt: number;
  /** When it ends if the user does nothing, when the API has an idle timeout (ms since 1970). */
  idleExpiresAt: number | null;
  /** How the browser proves it: a server-side session (cookie and CSRF token) or a bearer token. */
  kind: 'cookie' | 'bearer';
}

export type SessionEnd = 'signed-out' | 'expired';
type Listener = (s: Session | null, why?: SessionEnd) => void;

interface SessionBody {
  user?: string;
  role?: string;
  organisation?: string | null;
  token_type?: string;
  access_token?: string;
  expires_in?: number;
  idle_expires_at?: string | null;
  absolute_expires_at?: string;
  csrf_token?: string;
  authenticated_by?: string;
}

let token: string | null = null;
let csrf: string | null = null;
let session: Session | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
let poll: ReturnType<typeof setInterval> | undefined;
const listeners = new Set<Listener>();

/** How long before expiry the page warns. */
export const WARN_BEFORE_MS = 5 * 60_000;
/** How often a cookie session's expiry is read again (its idle expiry slides with activity). */
const POLL_MS = 60_000;

export function current(): Session | null {
  if (session && Date.now() >= endsAt(session)) end('expired');
  return session;
}

export function onChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Headers an API request carries for the session (the CSRF token on unsafe methods only). */
export function requestHeaders(method = 'GET'): Record<string, string> {
  if (token) return { Authorization: `Bearer ${token}` };
  if (csrf && !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase())) return { 'X-CSRF-Token': csrf };
  return {};
}

/** Signs in; throws an ApiError (401 wrong name or password, 429 too many attempts). */
export async function signIn(username: string, password: string): Promise<Session> {
  const { res, body } = await call('POST', '/auth/login', { username, password, session: true });
  if (!res.ok) throw failure(res, body);
  const b = body as SessionBody;
  if (b.token_type === 'session') return start(fromSessionBody(b, username), null, b.csrf_token ?? null);
  if (!b.access_token) throw new ApiError(res.status, 'the sign-in answer had neither a session nor a token');
  const claims = decodeClaims(b.access_token);
  const expiresAt = Date.now() + (b.expires_in ?? 3600) * 1000;
  return start({ user: claims.sub ?? username, role: claims.role ?? 'unknown', organisation: claims.org ?? null, expiresAt: claims.exp ? Math.min(claims.exp * 1000, expiresAt) : expiresAt, idleExpiresAt: null, kind: 'bearer' }, b.access_token, null);
}

/** On page load: a browser session the cookie still holds, if the server has one for it. */
export async function restore(): Promise<Session | null> {
  try {
    const { res, body } = await call('GET', '/auth/session');
    const b = body as SessionBody | null;
    if (!res.ok || b?.authenticated_by !== 'session') return null;
    return start(fromSessionBody(b, b.user ?? ''), null, b.csrf_token ?? null);
  } catch {
    return null;
  }
}

/** Signs out on the server (ending the session or revoking the token), then here; never fails. */
export async function signOut(): Promise<void> {
  if (session) {
    try {
      await call('POST', '/auth/logout', {});
    } catch {
      /* unreachable server: forget the credential here anyway */
    }
  }
  end('signed-out');
}

/** The API answered 401 to a signed-in request: the session is over. */
export function expired(): void {
  if (session) end('expired');
}

function start(s: Session, bearer: string | null, csrfToken: string | null): Session {
  token = bearer;
  csrf = csrfToken;
  session = s;
  schedule();
  clearInterval(poll);
  if (s.kind === 'cookie') poll = setInterval(() => void refresh(), POLL_MS);
  emit();
  return s;
}

/** Reads a cookie session's expiry again (activity moves its idle end). */
async function refresh(): Promise<void> {
  if (!session || session.kind !== 'cookie') return;
  try {
    const { res, body } = await call('GET', '/auth/session');
    if (res.status === 401) return end('expired');
    const b = body as SessionBody | null;
    if (!res.ok || !b || !session) return;
    session = { ...session, ...fromSessionBody(b, session.user) };
    if (b.csrf_token) csrf = b.csrf_token;
    schedule();
    emit();
  } catch {
    /* offline for a moment: keep the last known expiry */
  }
}

function fromSessionBody(b: SessionBody, fallbackUser: string): Session {
  const absolute = b.absolute_expires_at ? Date.parse(b.absolute_expires_at) : Date.now() + 3_600_000;
  return { user: b.user ?? fallbackUser, role: b.role ?? 'unknown', organisation: b.organisation ?? null, expiresAt: absolute, idleExpiresAt: b.idle_expires_at ? Date.parse(b.idle_expires_at) : null, kind: 'cookie' };
}

function end(why: SessionEnd): void {
  token = null;
  csrf = null;
  session = null;
  clearTimeout(timer);
  clearInterval(poll);
  emit(why);
}

function emit(why?: SessionEnd): void {
  for (const l of listeners) l(session, why);
}

function endsAt(s: Session): number {
  return Math.min(s.expiresAt, s.idleExpiresAt ?? Infinity);
}

function schedule(): void {
  clearTimeout(timer);
  if (!session) return;
  // A cookie session's idle end may have moved (another tab's activity): look before ending it.
  const check = () => (session?.kind === 'cookie' && Date.now() < session.expiresAt ? void refresh().then(() => session && Date.now() >= endsAt(session) && end('expired')) : end('expired'));
  timer = setTimeout(check, Math.max(0, Math.min(endsAt(session) - Date.now(), 2 ** 31 - 1)));
}

async function call(method: 'GET' | 'POST', path: string, json?: unknown): Promise<{ res: Response; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...(json !== undefined ? { 'Content-Type': 'application/json' } : {}), ...(path === '/auth/login' ? {} : requestHeaders(method)) },
      body: json !== undefined ? JSON.stringify(json) : undefined,
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'the service could not be reached');
  }
  return { res, body: await res.json().catch(() => null) };
}

function failure(res: Response, body: unknown): ApiError {
  const o = (body as { resourceType?: string } | null)?.resourceType === 'OperationOutcome' ? (body as OperationOutcome) : null;
  return new ApiError(res.status, outcomeText(o) || res.statusText || 'sign-in failed', o);
}

/** The token's claims, for showing who is signed in (never trusted for access: the server decides). */
function decodeClaims(jwt: string): { sub?: string; role?: string; org?: string; exp?: number } {
  try {
    const part = jwt.split('.')[1] ?? '';
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '='));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}
