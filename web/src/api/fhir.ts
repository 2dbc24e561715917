/**
 * A typed client for the parts of Bevan's FHIR R4 API the pages use (types from
 * @medplum/fhirtypes): Patient search and Patient/{id}/$everything, following the Bundle's
 * `next` links when the server pages. Every request carries the session's headers; a 401 ends
 * the session; any failure becomes an ApiError holding the server's OperationOutcome.
 */
import type { Bundle, BundleEntry, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { ApiError, outcomeText } from './errors.ts';
import * as session from './session.ts';

export const FHIR_JSON = 'application/fhir+json';
/** Header that declares an emergency (break-glass) for one request, with the user's reason (http/fhir-routes.ts). */
export const BREAK_GLASS_HEADER = 'X-Bevan-Break-Glass';

export interface RequestOptions {
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Sees a successful answer's headers (and when it arrived, by this clock), e.g. X-Bevan-Break-Glass-Expires. */
  onResponse?: (headers: Headers, receivedAt: number) => void;
}

/** GET a FHIR path (under /fhir) as JSON. */
export async function fhirGet<T>(path: string, o: RequestOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { Accept: FHIR_JSON, ...session.requestHeaders(), ...(o.headers ?? {}) }, signal: o.signal, credentials: 'same-origin' });
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
  o.onResponse?.(res.headers, Date.now());
  return body;
}

export interface PatientPage {
  total: number;
  patients: Patient[];
  /** Warnings the server returned beside the matches (e.g. an ignored parameter). */
  warnings: string[];
  next: string | null;
}

/** Patient search with the given parameters (repeats allowed: each one must match). */
export async function searchPatients(params: readonly [string, string][], o: RequestOptions & { count?: number } = {}): Promise<PatientPage> {
  const q = new URLSearchParams(params as [string, string][]);
  q.set('_count', String(o.count ?? 20));
  const b = await fhirGet<Bundle>(`/fhir/Patient?${q}`, o);
  return pageOf(b);
}

/** The next page of a search. */
export async function nextPatients(next: string, o: RequestOptions = {}): Promise<PatientPage> {
  return pageOf(await fhirGet<Bundle>(samePath(next), o));
}

function pageOf(b: Bundle): PatientPage {
  const entries = b.entry ?? [];
  return {
    total: b.total ?? entries.length,
    patients: entries.filter((e) => e.search?.mode !== 'outcome' && e.resource?.resourceType === 'Patient').map((e) => e.resource as Patient),
    warnings: entries.filter((e) => e.resource?.resourceType === 'OperationOutcome').map((e) => outcomeText(e.resource as OperationOutcome)),
    next: b.link?.find((l) => l.relation === 'next')?.url ?? null,
  };
}

/**
 * A person's whole record: `$everything`, asking for pages of `pageSize` and following `next`
 * links (a server that does not page returns everything at once). `onPage` sees the Bundle so
 * far after each page, so the page can show the first part while the rest arrives.
 */
export async function everything(id: string, o: RequestOptions & { breakGlassReason?: string; pageSize?: number; onPage?: (soFar: Bundle, done: boolean) => void } = {}): Promise<Bundle> {
  const headers = { ...(o.headers ?? {}), ...(o.breakGlassReason ? { [BREAK_GLASS_HEADER]: o.breakGlassReason } : {}) };
  let url: string | null = `/fhir/Patient/${encodeURIComponent(id)}/$everything?_count=${o.pageSize ?? 1000}`;
  let first: Bundle | null = null;
  const entries: BundleEntry[] = [];
  const seen = new Set<string>();
  for (let page = 0; url && page < 1000; page++) {
    // The break-glass header goes with the first request only: it opens a session the later pages use.
    const b: Bundle = await fhirGet<Bundle>(url, { signal: o.signal, headers: page === 0 ? headers : o.headers, onResponse: o.onResponse });
    first ??= b;
    for (const e of b.entry ?? []) {
      const r = e.resource;
      const key = r ? `${r.resourceType}/${r.id ?? ''}` : '';
      // Each page repeats the Patient; keep it once.
      if (r?.id && seen.has(key)) continue;
      if (r?.id) seen.add(key);
      entries.push(e);
    }
    const next = b.link?.find((l) => l.relation === 'next')?.url;
    url = next ? samePath(next) : null;
    o.onPage?.({ ...first, entry: entries }, !url);
  }
  return { ...first!, entry: entries };
}

/** A link the server returned, as a path on this origin (never follow a link to another host). */
function samePath(link: string): string {
  const u = new URL(link, window.location.origin);
  if (!u.pathname.startsWith('/fhir/')) throw new ApiError(0, `the server returned a link outside the FHIR API: ${link}`);
  return `${u.pathname}${u.search}`;
}
