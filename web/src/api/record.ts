/**
 * A typed client for the record page's non-FHIR routes (docs/api/record-extras.md,
 * docs/governance.md): the sources of a record (`GET /record/{personId}/sources`: identities,
 * disagreements, care settings, feed freshness), the care team (`GET /care-team/{personId}`) and
 * who looked at a record (`GET /audit/person/{personId}`, `GET /audit/me`). Every request carries
 * the session's headers; a 401 ends the session; a failure is an ApiError with the server's
 * OperationOutcome. Each answer comes with the headers the page needs: when a break-glass session
 * the access rested on ends, and the server's clock.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import { ApiError, outcomeText } from './errors.ts';
import * as session from './session.ts';
import type { Disagreement, DisagreementField, FeedFreshness, RecordSources, RecordSourceView, SourceIdentityView } from '../../../record/record-sources.ts';

/** Response header: when the break-glass session the access rested on ends (ISO instant; http/fhir-routes.ts). */
export const BREAK_GLASS_EXPIRES_HEADER = 'X-Bevan-Break-Glass-Expires';

export interface Answer<T> {
  body: T;
  /** X-Bevan-Break-Glass-Expires, when the access rested on break-glass. */
  breakGlassExpires: string | null;
  /** The server's Date header. */
  serverDate: string | null;
  /** When the answer arrived, by this browser's clock (ms). */
  receivedAt: number;
}

// The answer's shapes are the server's own (record/record-sources.ts), imported as types only:
// nothing of the server is bundled, and a change there is a type error here.
export type FeedTimes = Omit<FeedFreshness, 'source'>;
export type RecordSourceInfo = RecordSourceView;
export type SourceIdentity = SourceIdentityView;
export type { Disagreement, DisagreementField, RecordSources };

export interface CareTeamMember {
  member: string;
  role: string | null;
  startsAt: string;
  endsAt: string | null;
  recordedBy: string | null;
  endedBy: string | null;
}

export interface RecordAccess {
  at: string;
  who: string;
  role: string | null;
  organisation: string | null;
  action: string;
  purpose: string | null;
  decision: string | null;
  reason: string | null;
}

export interface AccessPage {
  personId: string;
  entries: RecordAccess[];
}

/** GET a JSON route of the API, with the headers the record page reads. */
export async function apiGet<T>(path: string, o: { signal?: AbortSignal } = {}): Promise<Answer<T>> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { Accept: 'application/json', ...session.requestHeaders() }, signal: o.signal, credentials: 'same-origin' });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the service could not be reached');
  }
  const body = (await res.json().catch(() => null)) as (T & { resourceType?: string }) | null;
  if (!res.ok) {
    const outcome = body?.resourceType === 'OperationOutcome' ? (body as unknown as OperationOutcome) : null;
    if (res.status === 401) session.expired();
    throw new ApiError(res.status, outcomeText(outcome) || `${res.status} ${res.statusText}`, outcome);
  }
  if (body === null) throw new ApiError(res.status, 'the server sent an answer that is not JSON');
  return { body, breakGlassExpires: res.headers.get(BREAK_GLASS_EXPIRES_HEADER), serverDate: res.headers.get('Date'), receivedAt: Date.now() };
}

const id = (personId: string) => encodeURIComponent(personId);

export const recordSources = (personId: string, o: { signal?: AbortSignal } = {}) => apiGet<RecordSources>(`/record/${id(personId)}/sources`, o);
export const careTeam = (personId: string, o: { signal?: AbortSignal } = {}) => apiGet<{ personId: string; members: CareTeamMember[] }>(`/care-team/${id(personId)}`, o);
export const auditOfPerson = (personId: string, o: { signal?: AbortSignal; limit?: number } = {}) => apiGet<AccessPage>(`/audit/person/${id(personId)}?limit=${o.limit ?? 200}`, o);
export const auditOfMe = (o: { signal?: AbortSignal; limit?: number } = {}) => apiGet<AccessPage>(`/audit/me?limit=${o.limit ?? 200}`, o);
