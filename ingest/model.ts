/**
 * What every feed adapter produces, whatever the wire format: a stream of ingest items, each
 * either a message Bevan understood (with the source identity it is about and the FHIR R4
 * resources it carries) or a rejection with a reason a person can act on.
 * Adapters are pure parsers: no database, no clock (received time is added by the pipeline).
 */
import type { Resource } from '@medplum/fhirtypes';
import type { MergeInstruction, SourceIdentity } from '../mpi/identity.ts';

export type { MergeInstruction, Sex, SourceIdentity } from '../mpi/identity.ts';

export type FeedFormat = 'fhir' | 'hl7v2' | 'csv';

export interface ItemResource {
  /** A FHIR R4 resource whose `id` is the source system's id for it (stable across replays). */
  resource: Resource;
  /** When the source says the fact happened or last changed (ISO instant); newer wins. */
  sourceTime?: string;
  /**
   * The resource already serialised, and the sha256 of that text, when the item was prepared
   * off the writing thread (ingest/parse-worker.ts); `resource` then holds only its type and id.
   */
  json?: string;
  hash?: string;
  /**
   * The source id (in the item's source system) of the person this resource belongs to, i.e. the
   * Patient of its patient compartment. Absent: the item's only identity, if it has exactly one.
   * It may name a Patient not in this item (Bulk Data NDJSON: Patients in another file): the
   * writer links it to that identity's person, or keeps it pending until the Patient arrives.
   */
  subject?: string;
}

export interface AcceptedItem {
  kind: 'accepted';
  format: FeedFormat;
  sourceSystem: string;
  /** MSH-10, Bundle.id, or `file-row` for CSV. */
  messageId: string;
  /** sha256 of the raw message, hex. */
  contentHash: string;
  /** Trigger event or bundle type, e.g. `ADT^A01`, `ORU^R01`, `transaction`, `community-contact`. */
  event: string;
  /**
   * HL7: the same control id with different content is a conflict, not a new version.
   * FHIR and CSV: a changed item with the same id is an update.
   */
  idIsUnique: boolean;
  /** Every person the item is about (none for a message about no person), in the order sent. */
  identities: SourceIdentity[];
  resources: ItemResource[];
  /** Identity instructions (merges, links, unlinks), applied in order after the identities. */
  merges?: MergeInstruction[];
  /** Where it came from, for people: `path/to/file.hl7#42` or `mllp:127.0.0.1:53122`. */
  origin: string;
  /** The message as received (HL7: so that a control-id conflict can be quarantined whole and replayed). */
  raw?: string;
  /** Set by ingest/prepare.ts once the item is checked and its resources serialised and hashed: not done again. */
  prepared?: true;
  /** Notes about the whole file, on its first item: see RejectedItem.fileNotes. */
  fileNotes?: string[];
  /**
   * What a demographics message says about whether a person is restricted (HL7 PD1-12, FHIR
   * Patient.meta.security), per identity of this item's source. Absent for an identity the
   * message says nothing about (an HL7 PD1-12 left empty, a result message): nothing changes.
   */
  restrictions?: IdentityRestriction[];
}

/** A source's statement that one of its identities is, or is no longer, restricted (access/restrictions.ts keeps them). */
export interface IdentityRestriction {
  /** The identity's id in the item's source system. */
  id: string;
  restricted: boolean;
  /** What said so, e.g. `HL7 PD1-12 protection indicator Y`. */
  reason: string;
  /** When the source says it was so (ISO instant). */
  at?: string;
}

/** HL7 v3 Confidentiality (https://terminology.hl7.org/CodeSystem-v3-Confidentiality.html). */
export const CONFIDENTIALITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality';
/** Restricted (R) and very restricted (V): NHS PDS labels its restricted ("S-flagged") Patients R. */
export const RESTRICTED_CONFIDENTIALITY: readonly string[] = ['R', 'V'];

/** The restricted confidentiality code a resource's meta.security carries (v3-Confidentiality, or no system), or null. */
export function restrictedLabelOf(resource: unknown): string | null {
  const meta = (resource as { meta?: { security?: unknown } } | null)?.meta;
  const security = Array.isArray(meta?.security) ? (meta.security as unknown[]) : [];
  for (const s of security) {
    if (!s || typeof s !== 'object') continue;
    const { system, code } = s as { system?: unknown; code?: unknown };
    if ((system === undefined || system === CONFIDENTIALITY_SYSTEM) && typeof code === 'string' && RESTRICTED_CONFIDENTIALITY.includes(code)) return code;
  }
  return null;
}

/** A well-formed message of a type Bevan does not use: acknowledged and counted, not an error. */
export interface IgnoredItem {
  kind: 'ignored';
  format: FeedFormat;
  sourceSystem: string;
  messageId: string;
  contentHash: string;
  event: string;
  origin: string;
  /** The message as received (HL7), so that a control-id conflict can be quarantined whole and replayed. */
  raw?: string;
  /** See AcceptedItem.prepared. */
  prepared?: true;
}

export interface RejectedItem {
  kind: 'rejected';
  format: FeedFormat;
  sourceSystem?: string;
  messageId?: string;
  /** A sentence a person can act on: what is wrong and where, e.g. `PID-7 "19821340" is not a valid date`. */
  reason: string;
  /** The raw item as received (decoded text), kept for repair and replay. */
  raw: string;
  origin: string;
  /**
   * Things about the whole file the integration team should see that stop nothing (a CSV file's
   * columns that are no column of its contract, so not read), carried on the file's first item
   * (accepted or rejected); the pipeline keeps them on the file's run (`ingest_run.notes`), shown
   * in the ingest log and the ingest summary.
   */
  fileNotes?: string[];
}

export type IngestItem = AcceptedItem | IgnoredItem | RejectedItem;

/** What the pipeline knows about where a stream comes from: the feed's configuration or `--source`. */
export interface ReadContext {
  /**
   * The source system key of the feed (docs/feeds.md "Feed configuration"). FHIR and CSV: every
   * item of the stream is from this source, whatever the content says. HL7 v2: used only when a
   * message names no sender (MSH-4 and MSH-3 empty), since one connection may carry several.
   */
  source?: string;
}

/** A feed adapter turns a byte stream in one format into ingest items, streaming. */
export interface FeedAdapter {
  readonly format: FeedFormat;
  /** True when the first bytes of a file look like this format. */
  sniff(head: string): boolean;
  /** Parses a stream; must never throw for bad content, only yield RejectedItems. */
  read(input: AsyncIterable<Buffer>, origin: string, context?: ReadContext): AsyncIterable<IngestItem>;
}
