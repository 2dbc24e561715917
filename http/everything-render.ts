/**
 * `Patient/{id}/$everything` as text and bytes on the wire: the query read once
 * (`parseEverythingQuery`), the page rendered with a placeholder for the base URL so that one
 * stored page serves every server and host name (`everythingPresenter`; fhir/presented-records.ts),
 * the base put back per request, and the bytes sent gzip-compressed as they are kept when the
 * client accepts gzip (`sendEverything`). The route (http/fhir-routes.ts) and
 * `bevan everything prebuild` (cli/commands/everything.ts) use the same functions, so a prebuilt
 * page is found under the key a request computes.
 */
import { promisify } from 'node:util';
import { gzip as gzipCb, constants } from 'node:zlib';
import type { Bundle } from '@medplum/fhirtypes';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../access/context.ts';
import { parsePaging, type Paging } from '../fhir/paging.ts';
import { BASE_PLACEHOLDER, BASE_PLACEHOLDER_JSON } from '../fhir/presented-records.ts';
import type { CareDates, EverythingJson, EverythingPresenter, EverythingRequest } from '../fhir/repository.ts';
import { dateRange } from '../fhir/search/date-range.ts';
import { operationOutcome } from './outcome.ts';
import { EVERYTHING_PAGE, pageLinks, withLinks } from './versioning.ts';

const gzip = promisify(gzipCb);

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';
const KNOWN = new Set(['_type', '_since', '_count', '_offset', '_format', 'start', 'end']);

/** A `$everything` query, read and checked. */
export interface EverythingQuery {
  request: EverythingRequest;
  paging: Paging;
  /** The parameters the page's links carry on. */
  keep: Record<string, string>;
  /** Parameters not understood (reported in the Bundle under lenient handling). */
  unknown: string[];
}

/** $everything's `start` and `end` (care dates: a date or dateTime each, either may be left out), or a 400. */
export function careDates(start: unknown, end: unknown): CareDates | undefined {
  const one = (name: string, v: unknown) => {
    if (v === undefined) return undefined;
    const text = String(Array.isArray(v) ? v.at(-1) : v).trim();
    const range = dateRange(text);
    if (!range) throw invalid(`${name}: "${text.slice(0, 60)}" is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)`);
    return { text, range };
  };
  const s = one('start', start);
  const e = one('end', end);
  if (!s && !e) return undefined;
  if (s && e && s.range.lo >= e.range.hi) throw invalid(`start (${s.text}) is after end (${e.text})`);
  return { ...(s ? { start: s.text } : {}), ...(e ? { end: e.text } : {}), lo: s ? s.range.lo : -Infinity, hi: e ? e.range.hi : Infinity };
}

/** Reads a `$everything` query (throws a 400 BevanError); `strict`: unknown parameters are an error (Prefer: handling=strict). */
export function parseEverythingQuery(query: Record<string, unknown>, strict: boolean): EverythingQuery {
  const unknown = Object.keys(query).filter((k) => !KNOWN.has(k));
  if (unknown.length && strict) throw invalid(`unknown $everything parameters: ${unknown.join(', ')} (supported: start, end, _type, _since, _count)`);
  const care = careDates(query.start, query.end);
  const paged = parsePaging(query as Record<string, string>, EVERYTHING_PAGE);
  if (paged.kind === 'invalid') throw invalid(paged.problems[0]!, paged.problems);
  const { since } = paged.paging;
  const types = query._type ? [...new Set([query._type].flat().flatMap((v) => String(v).split(',')).map((t) => t.trim()).filter(Boolean))] : undefined;
  if (types?.some((t) => !/^[A-Z][A-Za-z]{1,63}$/.test(t))) throw invalid('_type: resource type names only');
  const keep: Record<string, string> = { ...(care?.start ? { start: care.start } : {}), ...(care?.end ? { end: care.end } : {}), ...(types ? { _type: types.join(',') } : {}), ...(since ? { _since: since } : {}) };
  return { request: { types, since, count: paged.paging.count, offset: paged.paging.offset, ...(care ? { care } : {}) }, paging: paged.paging, keep, unknown };
}

// Links are built by URL (which would encode the placeholder), on this base, then given the placeholder.
const LINK_BASE = 'http://bevan-base.invalid/fhir';

/** How the page of person `id` is rendered for `base` (a request's `${protocol}://${host}/fhir`): placeholder text, and the base put back. */
export function everythingPresenter(id: string, q: EverythingQuery, base: string): EverythingPresenter {
  const baseJson = Buffer.from(JSON.stringify(base).slice(1, -1), 'utf8');
  return {
    key: JSON.stringify([id, q.keep, q.unknown, q.paging]),
    base,
    render(bundle: Bundle): string {
      for (const e of bundle.entry ?? []) if (e.search?.mode !== 'outcome') e.fullUrl = `${BASE_PLACEHOLDER}/${e.resource!.resourceType}/${e.resource!.id}`;
      // Lenient handling: parameters not used are reported in the Bundle, not ignored silently.
      if (q.unknown.length) (bundle.entry ??= []).push({ resource: operationOutcome('not-supported', `ignored unknown or unsupported $everything parameters: ${q.unknown.join(', ')}`, [], 'warning'), search: { mode: 'outcome' } });
      const links = pageLinks(`${LINK_BASE}/Patient/${id}/$everything`, q.keep, q.paging, bundle.total ?? 0).map((l) => (l.url.startsWith(LINK_BASE) ? { ...l, url: BASE_PLACEHOLDER + l.url.slice(LINK_BASE.length) } : l));
      return JSON.stringify(withLinks(bundle, links));
    },
    materialise: (json) => replaceAll(json, BASE_PLACEHOLDER_JSON, baseJson),
  };
}

/** `from` with every `what` replaced by `by`, as bytes (one pass, no decoding). */
export function replaceAll(from: Buffer, what: Buffer, by: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (let i = from.indexOf(what, 0); i !== -1; i = from.indexOf(what, at)) {
    parts.push(from.subarray(at, i), by);
    at = i + what.length;
  }
  if (!parts.length) return from;
  parts.push(from.subarray(at));
  return Buffer.concat(parts);
}

/** Whether a request accepts a gzip-coded response (Accept-Encoding names gzip or *, not with q=0). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const text = Array.isArray(header) ? header.join(',') : header;
  if (!text) return false;
  for (const part of text.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (!q || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/**
 * Sends a page: gzip-coded when the client accepts it and the page is kept in this process (its
 * compressed form is made once, off the event loop, and kept beside it), otherwise as it is.
 */
export async function sendEverything(req: FastifyRequest, reply: FastifyReply, out: EverythingJson): Promise<FastifyReply> {
  reply.type(FHIR_JSON).header('vary', 'Accept-Encoding');
  const { page } = out;
  if (out.kept && acceptsGzip(req.headers['accept-encoding'])) {
    page.gzip ??= await gzip(page.body, { level: constants.Z_DEFAULT_COMPRESSION });
    return reply.header('content-encoding', 'gzip').send(page.gzip);
  }
  return reply.send(page.body);
}
