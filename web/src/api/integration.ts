/**
 * A typed client for the integration team's API (docs/api/integration.md, docs/governance.md):
 * the feeds' counts (`/ingest/feeds`), the quarantine (`/quarantine`) and the MPI review queue
 * (`/mpi/review`). Plain JSON; every request carries the session's headers (the CSRF token on
 * POST); a 401 ends the session; any failure becomes an ApiError with the server's
 * OperationOutcome. The server decides and audits every call; this module only asks.
 */
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { ReviewIdentity, ReviewPairView, ReviewQueueItem, ReviewQueuePage } from '../../../mpi/review-service.ts';
import type { FieldEvidence, ReviewEvidence } from '../../../mpi/review-evidence.ts';
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

// The answers' shapes are the server's own (mpi/review-service.ts, mpi/review-evidence.ts), imported
// as types only: nothing of the server is bundled, and a change there is a type error here.
export type { FieldEvidence, ReviewEvidence, ReviewIdentity, ReviewQueueItem, ReviewQueuePage };
export type ReviewPair = ReviewPairView;
export type MatchField = FieldEvidence['field'];

export function listReviews(f: { status: ReviewStatus; offset: number; limit: number }, o?: RequestOptions): Promise<ReviewQueuePage> {
  return apiJson<ReviewQueuePage>('GET', `/mpi/review?${new URLSearchParams({ status: f.status, offset: String(f.offset), limit: String(f.limit) })}`, undefined, o);
}

/** One pair with both identities (the server audits the view). */
export const getReview = (id: number, o?: RequestOptions) => apiJson<ReviewPair>('GET', `/mpi/review/${id}`, undefined, o);

export const decideReview = (id: number, decision: ReviewChoice, despiteDifferentNhsNumbers = false) =>
  apiJson<{ reviewId: number; status: ReviewStatus; eventId: number | null }>('POST', `/mpi/review/${id}/decide`, { decision, ...(despiteDifferentNhsNumbers ? { despiteDifferentNhsNumbers: true } : {}) });

export const undoReview = (id: number) => apiJson<{ reviewId: number; status: 'open'; undoneEventId: number | null; eventId: number | null }>('POST', `/mpi/review/${id}/undo`, {});
