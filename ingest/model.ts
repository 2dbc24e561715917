/**
 * What every feed adapter produces, whatever the wire format: a stream of ingest items, each
 * either a message Bevan understood (with the source identity it is about and the FHIR R4
 * resources it carries) or a rejection with a reason a person can act on.
 * Adapters are pure parsers: no database, no clock (received time is added by the pipeline).
 */
import type { Resource } from '@medplum/fhirtypes';

export type FeedFormat = 'fhir' | 'hl7v2' | 'csv';

export type Sex = 'male' | 'female' | 'other' | 'unknown';

/** How one source system identifies one person, with the demographics it holds. */
export interface SourceIdentity {
  /** Source system key, e.g. `gp:P91001`, `hl7:RM2`, `csv:community`, `csv:socialcare` (see docs/feeds.md). */
  system: string;
  /** The person's identifier in that system (GP patient id, hospital MRN, client id). */
  id: string;
  /** As sent, spaces removed; may be invalid (the MPI checks Modulus 11). */
  nhsNumber?: string;
  family?: string;
  given?: string;
  /** ISO date YYYY-MM-DD; adapters reject impossible dates. */
  birthDate?: string;
  sex?: Sex;
  postcode?: string;
  /** ODS code of the registered GP practice, when the source says. */
  practice?: string;
}

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
}

/** An HL7 A40 (or FHIR Patient.link replaced-by) merge: `retiredId` is now `survivorId`. */
export interface MergeInstruction {
  system: string;
  survivorId: string;
  retiredId: string;
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
  /** The person the item is about (absent for messages about no person). */
  identity?: SourceIdentity;
  resources: ItemResource[];
  merge?: MergeInstruction;
  /** Where it came from, for people: `path/to/file.hl7#42` or `mllp:127.0.0.1:53122`. */
  origin: string;
  /** The message as received (HL7: so that a control-id conflict can be quarantined whole and replayed). */
  raw?: string;
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
}

export type IngestItem = AcceptedItem | IgnoredItem | RejectedItem;

/** A feed adapter turns a byte stream in one format into ingest items, streaming. */
export interface FeedAdapter {
  readonly format: FeedFormat;
  /** True when the first bytes of a file look like this format. */
  sniff(head: string): boolean;
  /** Parses a stream; must never throw for bad content, only yield RejectedItems. */
  read(input: AsyncIterable<Buffer>, origin: string): AsyncIterable<IngestItem>;
}
