/**
 * Versions over HTTP (https://hl7.org/fhir/R4/http.html#versioning): a read or vread answers with
 * `ETag: W/"<versionId>"` and `Last-Modified` from the resource's meta, and honours the
 * conditional read headers `If-None-Match` and `If-Modified-Since` with 304 Not Modified. The
 * repository has already decided and audited the read by the time these headers are weighed.
 * Also the paging links of history and `$everything` Bundles, and what the CapabilityStatement
 * says about versions.
 */
import type { Bundle, Resource } from '@medplum/fhirtypes';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { etag } from '../fhir/history.ts';
import type { Paging } from '../fhir/paging.ts';

/** The instance interactions Bevan implements for every type it stores. */
export const INSTANCE_INTERACTIONS = [{ code: 'read' as const }, { code: 'vread' as const }, { code: 'history-instance' as const }];

/** CapabilityStatement.rest.resource version support: versionIds kept, past versions readable, conditional reads. */
export const VERSIONING = { versioning: 'versioned' as const, readHistory: true, conditionalRead: 'full-support' as const };

/** Page sizes: `$everything` and instance history. */
export const EVERYTHING_PAGE = { defaultCount: 1000, maxCount: 1000 };
export const HISTORY_PAGE = { defaultCount: 100, maxCount: 1000 };

/** Sends a resource read by id (read or vread) with its validators (through `send`), or 304 when the client's copy is current. */
export function sendVersioned(req: FastifyRequest, reply: FastifyReply, resource: Resource, send: (reply: FastifyReply, body: Resource) => FastifyReply): FastifyReply {
  const versionId = resource.meta?.versionId;
  const lastUpdated = resource.meta?.lastUpdated;
  if (versionId) reply.header('etag', etag(versionId));
  if (lastUpdated && !Number.isNaN(Date.parse(lastUpdated))) reply.header('last-modified', new Date(lastUpdated).toUTCString());
  if (notModified(req.headers['if-none-match'], req.headers['if-modified-since'], versionId, lastUpdated)) return reply.code(304).send();
  return send(reply, resource);
}

/**
 * True when the conditional read headers say the client already holds this version (RFC 9110
 * §13.1.1–13.1.3): If-None-Match by weak comparison (or `*`); otherwise If-Modified-Since, to the
 * second an HTTP date can carry.
 */
export function notModified(ifNoneMatch: string | undefined, ifModifiedSince: string | undefined, versionId: string | undefined, lastUpdated: string | undefined): boolean {
  if (ifNoneMatch !== undefined) {
    if (!versionId) return false;
    const tags = ifNoneMatch.split(',').map((t) => t.trim()).filter(Boolean);
    return tags.some((t) => t === '*' || opaque(t) === versionId);
  }
  if (ifModifiedSince !== undefined && lastUpdated) {
    const since = Date.parse(ifModifiedSince);
    const modified = Date.parse(lastUpdated);
    if (Number.isNaN(since) || Number.isNaN(modified)) return false;
    return Math.floor(modified / 1000) * 1000 <= since;
  }
  return false;
}

/** An entity tag's opaque part: `W/"3"` and `"3"` are both 3 (weak comparison). */
function opaque(tag: string): string {
  const t = tag.startsWith('W/') ? tag.slice(2) : tag;
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/**
 * A page's links (https://hl7.org/fhir/R4/http.html#paging): self, first, previous, next and last,
 * each carrying `keep` (the parameters that chose the set), `_count` and `_offset`. Past the end
 * there is no next, and previous points at the last page.
 */
export function pageLinks(url: string, keep: Record<string, string>, paging: Paging, total: number): NonNullable<Bundle['link']> {
  const { count, offset } = paging;
  const at = (o: number) => {
    const u = new URL(url);
    for (const [k, v] of Object.entries(keep)) u.searchParams.set(k, v);
    u.searchParams.set('_count', String(count));
    u.searchParams.set('_offset', String(o));
    return u.toString();
  };
  const links: NonNullable<Bundle['link']> = [{ relation: 'self', url: at(offset) }];
  if (count <= 0) return links;
  const lastOffset = total > 0 ? Math.floor((total - 1) / count) * count : 0;
  links.push({ relation: 'first', url: at(0) });
  if (offset > 0) links.push({ relation: 'previous', url: at(Math.max(0, Math.min(offset - count, lastOffset))) });
  if (offset + count < total) links.push({ relation: 'next', url: at(offset + count) });
  links.push({ relation: 'last', url: at(lastOffset) });
  return links;
}

/** The Bundle with its links placed before its entries (easier to read), nothing else changed. */
export function withLinks(bundle: Bundle, link: NonNullable<Bundle['link']>): Bundle {
  const { entry, ...head } = bundle;
  return { ...head, link, ...(entry ? { entry } : {}) };
}
