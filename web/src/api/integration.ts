/**
 * A typed client for the integration team's API (docs/api/integration.md, docs/governance.md):
 * the feeds' counts (`/ingest/feeds`), the quarantine (`/quarantine`) and the MPI review queue
 * (`/mpi/review`). Plain JSON; every request carries the session's headers (the CSRF token on
 * POST); a 401 ends the session; any failure becomes an ApiError with the server's
 * OperationOutcome. The server decides and audits every call; this module only asks.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import { ApiError, outcomeText } from './errors.ts';
import * as session from './session.ts';

export interface RequestOptions {
  signal?: AbortSignal;
}

/** GET or POST a JSON API path. */
export async function apiJson<T>(method: 'GET' | 'POST', path: string, body?: unknown, o: RequestOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: { Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...session.requestHeaders(method) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: 'same-origin',
      signal: o.signal,
    });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'the service could not be reached');
  }
  const json = (await res.json().catch(() => null)) as (T & { resourceType?: string }) | null;
  if (!res.ok) {
    const outcome = json?.resourceType === 'OperationOutcome' ? (json as unknown as OperationOutcome) : null;
    if (res.status === 401) session.expired();
    throw new ApiError(res.status, outcomeText(outcome) || `${res.status} ${res.statusText}`, outcome);
  }
  if (json === null) throw new ApiError(res.status, 'the server sent an answer that is not JSON');
  return json;
}

// ---------------------------------------------------------------------------------------------
// Feeds

export interface OutcomeCounts {
  accepted: number;
  ignored: number;
  quarantined: number;
}

export interface FeedSummary {
  source: string | null;
  formats: string[];
  lastReceivedAt: string | null;
  lastAcceptedAt: string | null;
  accepted: number;
  ignored: number;
  quarantined: number;
  quarantinedOpen: number;
  last24h: OutcomeCounts;
}

export interface FeedsStatus {
  at: string;
  sources: FeedSummary[];
  totals: OutcomeCounts & { quarantinedOpen: number };
}

export type HourlyRange = '24h' | '7d';
export interface HourCount extends OutcomeCounts {
  hour: string;
}
export interface FeedHourly {
  source: string | null;
  range: HourlyRange;
  hours: HourCount[];
}

export const getFeeds = (o?: RequestOptions) => apiJson<FeedsStatus>('GET', '/ingest/feeds', undefined, o);

/** Messages per hour from one source system, or from all of them (source null). */
export const getFeedHourly = (source: string | null, range: HourlyRange, o?: RequestOptions) =>
  apiJson<FeedHourly>('GET', `/ingest/feeds/${source === null ? '' : `${encodeURIComponent(source)}/`}hourly?range=${range}`, undefined, o);

// ---------------------------------------------------------------------------------------------
// Quarantine

export type QuarantineStatus = 'open' | 'replayed' | 'discarded' | 'all';
export type FeedFormat = 'fhir' | 'hl7v2' | 'csv';

export interface QuarantinedItem {
  quarantine_id: number;
  source_system: string | null;
  message_id: string | null;
  format: FeedFormat;
  origin: string;
  reason: string;
  status: 'open' | 'replayed' | 'discarded';
  times_seen: number;
  received_at: string;
  resolved_at: string | null;
  resolution: string | null;
  personIds: string[];
}

export interface QuarantineListItem extends QuarantinedItem {
  withheld: boolean;
}

export interface QuarantinePage {
  total: number;
  offset: number;
  limit: number;
  items: QuarantineListItem[];
}

export interface QuarantineFilter {
  status: QuarantineStatus;
  source?: string;
  format?: FeedFormat;
  offset: number;
  limit: number;
}

export function listQuarantine(f: QuarantineFilter, o?: RequestOptions): Promise<QuarantinePage> {
  const q = new URLSearchParams({ status: f.status, offset: String(f.offset), limit: String(f.limit) });
  if (f.source) q.set('source', f.source);
  if (f.format) q.set('format', f.format);
  return apiJson<QuarantinePage>('GET', `/quarantine?${q}`, undefined, o);
}

/** The raw item (the server audits the view). */
export const getQuarantined = (id: number, o?: RequestOptions) => apiJson<QuarantinedItem & { raw: string }>('GET', `/quarantine/${id}`, undefined, o);

export interface ReplayAnswer {
  id: number;
  status: 'replayed';
  result: { accepted: number; ignored: number; quarantined: number; duplicates: number; resources: number };
}

export const replayQuarantined = (id: number, body: { text?: string; source?: string }) => apiJson<ReplayAnswer>('POST', `/quarantine/${id}/replay`, body);
export const discardQuarantined = (id: number, reason: string) => apiJson<{ id: number; status: 'discarded' }>('POST', `/quarantine/${id}/discard`, { reason });

// ---------------------------------------------------------------------------------------------
// MPI review

export type ReviewStatus = 'open' | 'linked' | 'rejected' | 'dismissed';
export type ReviewChoice = 'link' | 'reject' | 'dismiss';

export interface ReviewQueueItem {
  reviewId: number;
  status: ReviewStatus;
  origin: 'matcher' | 'feed';
  weight: number;
  probability: number | null;
  conflict: string | null;
  systems: [string, string];
  moved: boolean;
  withheld: boolean;
  createdAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
}

export interface ReviewQueuePage {
  status: ReviewStatus;
  total: number;
  offset: number;
  limit: number;
  items: ReviewQueueItem[];
}

export interface ReviewIdentity {
  key: string;
  system: string;
  id: string;
  personId: string | null;
  nhsNumber: string | null;
  nhsNumberValid: boolean;
  family: string | null;
  given: string | null;
  birthDate: string | null;
  sex: string | null;
  postcode: string | null;
  address: string | null;
  town: string | null;
  practice: string | null;
  linkMethod: string;
  matchStatus: string;
  matchWeight: number | null;
}

export type MatchField = 'nhs_number' | 'family' | 'given' | 'birth_date' | 'sex' | 'postcode' | 'address' | 'town';

export interface FieldEvidence {
  field: MatchField;
  level: string;
  weight: number;
  verdict: 'for' | 'against' | 'none';
  household: boolean;
}

export interface ReviewEvidence {
  fields: FieldEvidence[];
  total: number;
  probability: number;
  thresholds: { match: number; possible: number };
  household: { applied: boolean; sum: number; cap: number | null };
  queuedWeight: number;
  conflict: string | null;
  feed: { kind: string; event: string | null; reason: string; survivor: string; retired: string } | null;
  parameters: 'estimated' | 'defaults';
}

export interface ReviewPair {
  reviewId: number;
  status: ReviewStatus;
  origin: 'matcher' | 'feed';
  createdAt: string;
  decidedBy: string | null;
  decidedAt: string | null;
  moved: boolean;
  identity: ReviewIdentity;
  candidate: ReviewIdentity;
  evidence: ReviewEvidence;
  decisionEventId: number | null;
}

export function listReviews(f: { status: ReviewStatus; offset: number; limit: number }, o?: RequestOptions): Promise<ReviewQueuePage> {
  return apiJson<ReviewQueuePage>('GET', `/mpi/review?${new URLSearchParams({ status: f.status, offset: String(f.offset), limit: String(f.limit) })}`, undefined, o);
}

/** One pair with both identities (the server audits the view). */
export const getReview = (id: number, o?: RequestOptions) => apiJson<ReviewPair>('GET', `/mpi/review/${id}`, undefined, o);

export const decideReview = (id: number, decision: ReviewChoice, despiteDifferentNhsNumbers = false) =>
  apiJson<{ reviewId: number; status: ReviewStatus; eventId: number | null }>('POST', `/mpi/review/${id}/decide`, { decision, ...(despiteDifferentNhsNumbers ? { despiteDifferentNhsNumbers: true } : {}) });

export const undoReview = (id: number) => apiJson<{ reviewId: number; status: 'open'; undoneEventId: number | null; eventId: number | null }>('POST', `/mpi/review/${id}/undo`, {});
