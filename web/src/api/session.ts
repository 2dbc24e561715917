/**
 * The browser's session with Bevan's API, in one place. Today the API signs in with
 * `POST /auth/login` {username, password} → {access_token, expires_in}: the token is kept in
 * this module's memory only (never localStorage or a cookie the page can read, so a script
 * injected elsewhere cannot lift it, and a reload signs the user out) and sent as
 * `Authorization: Bearer`. When the API's browser session lands (an HttpOnly cookie set by
 * `POST /auth/login`, `GET /auth/session` with the idle and absolute expiry instants,
 * `POST /auth/logout`, a CSRF token for unsafe methods), this module is the one to change:
 * the pages ask it only for `requestHeaders()`, `current()` and the change events.
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
}

export type SessionEnd = 'signed-out' | 'expired';
type Listener = (s: Session | null, why?: SessionEnd) => void;

let token: string | null = null;
let session: Session | null = null;
let timer: ReturnType<typeof setTimeout> | undefined;
const listeners = new Set<Listener>();

/** Minutes before expiry at which the page warns. */
export const WARN_BEFORE_MS = 5 * 60_000;

export function current(): Session | null {
  if (session && Date.now() >= Math.min(session.expiresAt, session.idleExpiresAt ?? Infinity)) end('expired');
  return session;
}

export function onChange(l: Listener): () => void {
  listeners.add(l);
  return () => listeners.delete(l);
}

/** Headers every API request carries for the session. */
export function requestHeaders(): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** Signs in; throws an ApiError (401 wrong name or password, 429 too many attempts). */
export async function signIn(username: string, password: string): Promise<Session> {
  let res: Response;
  try {
    res = await fetch('/auth/login', { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: JSON.stringify({ username, password }), credentials: 'same-origin' });
  } catch {
    throw new ApiError(0, 'the service could not be reached');
  }
  const body = (await res.json().catch(() => null)) as ({ access_token?: string; expires_in?: number } & Partial<OperationOutcome>) | null;
  if (!res.ok || !body?.access_token) {
    const words = body?.resourceType === 'OperationOutcome' ? outcomeText(body as OperationOutcome) : res.statusText;
    throw new ApiError(res.status, words || 'sign-in failed', body?.resourceType === 'OperationOutcome' ? (body as OperationOutcome) : null);
  }
  token = body.access_token;
  const claims = decodeClaims(body.access_token);
  const expiresAt = Date.now() + (body.expires_in ?? 3600) * 1000;
  session = { user: claims.sub ?? username, role: claims.role ?? 'unknown', organisation: claims.org ?? null, expiresAt: claims.exp ? Math.min(claims.exp * 1000, expiresAt) : expiresAt, idleExpiresAt: null };
  schedule();
  emit();
  return session;
}

/** Signs out: forgets the token (the bearer API has no server-side session to end). */
export async function signOut(): Promise<void> {
  end('signed-out');
}

/** The API answered 401 to a signed-in request: the session is over. */
export function expired(): void {
  if (session) end('expired');
}

function end(why: SessionEnd): void {
  token = null;
  session = null;
  clearTimeout(timer);
  emit(why);
}

function emit(why?: SessionEnd): void {
  for (const l of listeners) l(session, why);
}

function schedule(): void {
  clearTimeout(timer);
  if (!session) return;
  const at = Math.min(session.expiresAt, session.idleExpiresAt ?? Infinity);
  // setTimeout holds at most ~24.8 days; sessions are hours.
  timer = setTimeout(() => end('expired'), Math.max(0, Math.min(at - Date.now(), 2 ** 31 - 1)));
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
