/**
 * The ingest writer: takes a batch of ingest items from any adapter and commits them in ONE
 * transaction — message log, identities (through the MPI), merges, resources and quarantine —
 * so a batch is either wholly in or wholly out. That is what makes a killed ingest safe to run
 * again (nothing half-written) and lets the MLLP listener answer AA only after COMMIT.
 *
 * Writes are multi-row (`unnest` of arrays), one statement per table per batch: per-row INSERTs
 * reach only a few thousand rows per second. Resources not stored yet go in with COPY
 * (Queryable.copyFrom), which costs the server about a third less per row than the upsert; on a
 * first load (CopyFirstGuess) they are COPYed without reading the store first.
 *
 * One bad item never fails its batch: an item the database cannot store is caught before it is
 * sent (prepare.ts), and if the database still refuses a batch for its content, the batch is
 * split until the item it refused is alone, and that item is quarantined with the database's reason.
 */
import { describeItem, prepareItem, sha256Hex } from './prepare.ts';
import type { Database, Queryable } from '../db/database.ts';
import { isUnavailable } from '../db/database.ts';
import type { AcceptedItem, IngestItem, RejectedItem, SourceIdentity } from './model.ts';
import { applyMerge, resolveIdentities } from '../mpi/link.ts';
import { identityKey } from '../mpi/identity.ts';
import { NON_PERSONAL_TYPES } from './fhir/r4.ts';
import { recordRestrictions } from '../access/restrictions.ts';
import { addFeedCounts, countDeltas } from './feed-counts.ts';
import { DIRECTIVE_TYPES, recordFeedDirectives, type DirectiveMessage } from '../access/feed-directive-service.ts';
import { layoutOf } from '../db/layout.ts';
import { parseHl7Message, reusedIdKey } from './hl7v2/to-item.ts';
import { CopyChunks } from '../db/copy.ts';
import { KeyFilter } from './key-filter.ts';
import { shardKeyOf } from '../db/shard-key.ts';
import { fhirLogicalId } from '../record/fhir-bundle.ts';
import type { StatisticsTarget } from '../db/statistics.ts';

/**
 * The writer's tables and the columns its per-batch look-ups compare, for db/statistics.ts: the
 * message log (read by key every batch) and the resources (the hash read by key, the pending
 * links by subject). Only the key columns of `resource`: its content's statistics would cost the
 * most to gather and no look-up of the writer's uses them.
 */
export const WRITER_TABLES: readonly StatisticsTarget[] = [
  { table: 'ingest_message' },
  { table: 'resource', columns: ['source_system', 'resource_type', 'source_id', 'person_id', 'subject_id'] },
];

/** What happened to one item of a batch. */
export type ItemOutcome = 'committed' | 'duplicate' | 'quarantined' | 'conflict' | 'ignored';

export interface BatchResult {
  accepted: number;
  ignored: number;
  quarantined: number;
  duplicates: number;
  /** Resource rows inserted or changed. */
  resources: number;
  outcomes: ItemOutcome[];
}

export const emptyResult = (): Omit<BatchResult, 'outcomes'> => ({ accepted: 0, ignored: 0, quarantined: 0, duplicates: 0, resources: 0 });

/** Resource types that describe no person (FHIR R4 directory, definitional and infrastructure types): stored without a person key. */
const NON_PERSONAL = NON_PERSONAL_TYPES;


interface QuarantineRow {
  sourceSystem: string | null;
  messageId: string | null;
  format: string;
  origin: string;
  reason: string;
  raw: string;
}

/** Largest raw text kept in quarantine; bigger items keep their head and say so. */
const MAX_RAW = 1 << 20;

/** Longest reason kept: a reason is for a person to read (adapters summarise long lists themselves). */
const MAX_REASON = 2000;

/** Most JSON text sent in one resource statement (jsonb values are limited to 256 MiB). */
const MAX_STATEMENT_JSON = 64 << 20;

/** A resource row's key, as the copy-first guess remembers it. */
const rowKey = (x: ResourceRow): string => `${x.system}\u0000${x.type}\u0000${x.id}`;

interface ResourceRow {
  system: string;
  type: string;
  id: string;
  person: string | null;
  subject: string | null;
  time: string | null;
  hash: string;
  json: string;
}

/**
 * Commits one batch. Retries on deadlock or serialisation failure; a database that is down
 * surfaces as DatabaseUnavailableError so the caller can wait and retry (nothing was written).
 * Items the database cannot store are quarantined, never fail the others (see above); outcomes
 * stay in item order. A batch the database refuses is committed as its two halves, in order,
 * each in its own transaction (each half whole or not at all, so a killed run is still safe to repeat).
 */
export async function writeBatch(db: Database, items: readonly IngestItem[], opts: WriteOptions = {}): Promise<BatchResult> {
  const layout: WriteLayout = { partitioned: (await layoutOf(db)) === 'partitioned', guess: opts.copyFirst ?? null };
  return writeIsolating(db, items.map(prepareItem), layout);
}

export interface WriteOptions {
  /**
   * Kept across the batches of one run (ingest/pipeline.ts): which sources' resources are expected
   * to be new, so that they are COPYed without reading the store first. Absent (a single MLLP
   * message, a quarantine replay): every batch reads the stored hashes first.
   */
  copyFirst?: CopyFirstGuess;
}

/** What the writer must know of the database layout (db/layout.ts), and of the run. */
interface WriteLayout {
  /** resource is partitioned by shard_key: a stored resource's key is read, so it stays in its partition. */
  partitioned: boolean;
  guess: CopyFirstGuess | null;
}

/**
 * Which source systems' resources a run expects to be new (a first load of a practice, a trust):
 * their batches are written "copy-first", by COPY alone, without the read of the stored content
 * hashes (an index probe a resource, some 4–5 µs of server CPU, and the key arrays built and
 * sent), under a savepoint. A batch whose COPY meets a stored key (23505) rolls back to the
 * savepoint and is written the normal way (read, then COPY what is new and upsert what changed),
 * and its sources are read first from then on. So a guess only ever costs time, never rows.
 * Keys the run has written itself (a Bloom filter of them: ingest/key-filter.ts) are read first
 * even in a copy-first batch, the rest COPYed: HL7 v2 restates the Patient and the Encounter in
 * later events, and without this every such feed's second batch fell back (one wasted COPY) and
 * the rest of its run read every key first.
 *
 * A source is expected new when the store holds no resource of it at the first batch that names
 * it (a loaded store starts in the normal mode: an MLLP feed's next message, a GP's next extract),
 * or when the last batch read first found none of its resources stored (the rest of a file after
 * a killed load, say). The unique key, not this guess, is what keeps a resource from being doubled.
 */
export class CopyFirstGuess {
  /** Source system → true: expected new (copy-first); false: read first. */
  private readonly sources = new Map<string, boolean>();
  /**
   * The keys of the personal resources this run has written (or tried to: a batch rolled back
   * leaves its keys here, which only costs a read). A copy-first batch reads the stored hashes of
   * these only (HL7 v2 restates a Patient and an Encounter in later events) and COPYs the rest,
   * which this run cannot have written.
   */
  private readonly written = new KeyFilter();
  /** Batches written copy-first, and those of them that fell back; rows of copy-first batches read first because this run may have written them (for tests and benches). */
  copied = 0;
  fellBack = 0;
  reread = 0;

  /** Notes rows as written by this run. */
  wrote(rows: readonly ResourceRow[]): void {
    for (const x of rows) this.written.add(rowKey(x));
  }

  /** False only for a row whose key this run has not written. */
  mayHaveWritten(x: ResourceRow): boolean {
    return this.written.mightHave(rowKey(x));
  }

  /** True when every source of these rows is expected new; reads the store for sources not seen yet. */
  async expectNew(tx: Queryable, systems: readonly string[]): Promise<boolean> {
    const unseen = systems.filter((s) => !this.sources.has(s));
    if (unseen.length) {
      const r = await tx.query<{ s: string }>(`SELECT u.s FROM unnest($1::text[]) AS u(s) WHERE EXISTS (SELECT 1 FROM resource r WHERE r.source_system = u.s)`, [unseen]);
      const stored = new Set(r.rows.map((x) => x.s));
      for (const s of unseen) if (!this.sources.has(s)) this.sources.set(s, !stored.has(s));
    }
    return systems.length > 0 && systems.every((s) => this.sources.get(s) === true);
  }

  /** A batch read first: its sources are expected new next time when none of their resources was stored. */
  observed(system: string, anyStored: boolean): void {
    this.sources.set(system, !anyStored);
  }

  /** A copy-first batch met stored keys: its sources are read first from now on. */
  collided(systems: readonly string[]): void {
    for (const s of systems) this.sources.set(s, false);
  }
}

async function writeIsolating(db: Database, items: readonly IngestItem[], layout: WriteLayout): Promise<BatchResult> {
  try {
    return await writeWithRetries(db, items, layout);
  } catch (err) {
    if (!refusedForContent(err)) throw err;
    if (items.length > 1) {
      const half = items.length >> 1;
      const a = await writeIsolating(db, items.slice(0, half), layout);
      const b = await writeIsolating(db, items.slice(half), layout);
      return { ...sumCounts(a, b), outcomes: [...a.outcomes, ...b.outcomes] };
    }
    const item = items[0]!;
    const detail = `${(err as Error).message}${(err as { code?: string }).code ? ` (SQLSTATE ${(err as { code?: string }).code})` : ''}`;
    if (item.kind === 'rejected') {
      // Even its quarantine row was refused: keep the reason and what the database said, without the text.
      return writeWithRetries(db, [{ ...item, reason: `${item.reason} [the database refused the item's text: ${detail}]`, raw: '(not kept: the database refused it)' }], layout);
    }
    return writeWithRetries(db, [
      {
        kind: 'rejected',
        format: item.format,
        sourceSystem: item.sourceSystem,
        messageId: item.messageId,
        reason: `the database refused this message: ${detail}`,
        raw: rawOf(item),
        origin: item.origin,
      },
    ], layout);
  }
}

/**
 * True when the database refused the statement for what the batch holds (SQLSTATE classes 22 data
 * exception, 23 integrity, 54 program limit, e.g. an index row too big or jsonb nested too deep),
 * so some item in it is at fault; not for an unavailable database or a lost race still
 * unresolved after the retries, which are the caller's to retry.
 */
function refusedForContent(err: unknown): boolean {
  if (isUnavailable(err)) return false;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)/.test(code);
}

function sumCounts(a: BatchResult, b: BatchResult): Omit<BatchResult, 'outcomes'> {
  return { accepted: a.accepted + b.accepted, ignored: a.ignored + b.ignored, quarantined: a.quarantined + b.quarantined, duplicates: a.duplicates + b.duplicates, resources: a.resources + b.resources };
}

async function writeWithRetries(db: Database, items: readonly IngestItem[], layout: WriteLayout): Promise<BatchResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await db.transaction((tx) => writeInTransaction(tx, items, layout));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if ((code === '40P01' || code === '40001' || code === '23505') && attempt < 8 && !isUnavailable(err)) {
        await new Promise((r) => setTimeout(r, 10 + Math.random() * 50 * (attempt + 1)));
        continue;
      }
      throw err;
    }
  }
}

/**
 * What a batch touches, for running batches side by side: two batches that share no key (message,
 * identity, NHS number or resource) commute, so committing them in either order leaves the same
 * rows as committing them in turn. A batch with a merge (A40) is marked: it must run alone.
 */
export interface BatchFootprint {
  keys: Set<string>;
  /**
   * Resources that describe no person (Practitioner, Location, Organization: the directory every
   * message names) by key → content hash ('*' when unknown or two contents): two batches that
   * carry the same one with the same content commute (whichever commits first stores it, the other
   * finds it stored), so they clash only when its content differs.
   */
  shared: Map<string, string>;
  merges: boolean;
}

export function batchFootprint(items: readonly IngestItem[]): BatchFootprint {
  const keys = new Set<string>();
  const shared = new Map<string, string>();
  let merges = false;
  for (const item of items) {
    if (itemKeys(item, keys, shared)) merges = true;
  }
  return { keys, shared, merges };
}

/**
 * Adds the keys one item touches (its message, identities, NHS numbers, personal resources and the
 * identities its resources name) to `into`, and its non-personal resources with their content
 * hash to `shared`, as batchFootprint counts them; true when it merges.
 */
export function itemKeys(item: IngestItem, into: Set<string>, shared: Map<string, string>): boolean {
  if (item.kind === 'rejected') return false;
  into.add(`m\u0000${item.sourceSystem}\u0000${item.messageId}`);
  if (item.kind !== 'accepted') return false;
  for (const identity of item.identities) {
    into.add(`i\u0000${identity.system}\u0000${identity.id}`);
    if (identity.nhsNumber) into.add(`n\u0000${identity.nhsNumber.replace(/\s+/g, '')}`);
  }
  for (const { resource, subject, hash } of item.resources) {
    const key = `r\u0000${item.sourceSystem}\u0000${resource.resourceType}\u0000${resource.id}`;
    if (NON_PERSONAL.has(resource.resourceType)) {
      const had = shared.get(key);
      shared.set(key, hash === undefined || (had !== undefined && had !== hash) ? '*' : hash);
    } else into.add(key);
    // A resource about a Patient outside the item reads (or waits for) that identity.
    if (subject !== undefined) into.add(`i\u0000${item.sourceSystem}\u0000${subject}`);
  }
  return (item.merges?.length ?? 0) > 0;
}

/** True when two batches may not be written side by side (see BatchFootprint). */
export function clashes(a: BatchFootprint, b: BatchFootprint): boolean {
  if (a.merges || b.merges) return true;
  const [small, large] = a.keys.size < b.keys.size ? [a.keys, b.keys] : [b.keys, a.keys];
  for (const k of small) if (large.has(k)) return true;
  const [fewer, more] = a.shared.size < b.shared.size ? [a.shared, b.shared] : [b.shared, a.shared];
  for (const [k, h] of fewer) {
    const other = more.get(k);
    if (other !== undefined && (other !== h || h === '*')) return true;
  }
  return false;
}

/**
 * An HL7 message whose control id its sender already used for other content, read again under
 * reusedIdKey (its resources keyed apart from the first message's). Rejected only when its text
 * was not kept or no longer reads the same, which would be a fault of Bevan's, not the sender's.
 */
function rekeyReused(item: Exclude<IngestItem, RejectedItem>): Exclude<IngestItem, RejectedItem> | RejectedItem {
  const key = reusedIdKey(item.messageId, item.contentHash);
  const reason = `conflict: message control id ${item.messageId} from ${item.sourceSystem} was already received with different content, and this message could not be read again under its own key`;
  if (item.raw === undefined) return { kind: 'rejected', format: item.format, sourceSystem: item.sourceSystem, messageId: item.messageId, reason, raw: rawOf(item), origin: item.origin };
  const again = prepareItem(parseHl7Message(item.raw, item.origin, { source: item.sourceSystem }, key));
  if (again.kind === 'rejected' || again.messageId !== key || again.contentHash !== item.contentHash) {
    return { kind: 'rejected', format: item.format, sourceSystem: item.sourceSystem, messageId: item.messageId, reason: again.kind === 'rejected' ? again.reason : reason, raw: item.raw, origin: item.origin };
  }
  return again;
}

/**
 * Whether the item's id names one message only (HL7 control ids, unique per sender whatever the
 * message type, so an ignored SIU that reuses an accepted message's id is keyed apart too and does
 * not overwrite that message's log row; an ignored item has no idIsUnique of its own), rather than
 * a thing that is updated under the same id (a FHIR Bundle, a CSV row).
 */
function idIsUnique(item: Exclude<IngestItem, RejectedItem>): boolean {
  return item.kind === 'accepted' ? item.idIsUnique : item.format === 'hl7v2';
}

async function writeInTransaction(tx: Queryable, items: readonly IngestItem[], layout: WriteLayout): Promise<BatchResult> {
  const outcomes: ItemOutcome[] = new Array(items.length);
  const result = emptyResult();
  const quarantine: QuarantineRow[] = [];

  // 1. Message log: what have we seen before, and was it the same?
  const logged = new Map<string, string>();
  // Each logged message's outcome before this batch, for the running counts (feed-counts.ts).
  const loggedAs = new Map<string, { outcome: string; format: string }>();
  const keyed = items.filter((i): i is Exclude<IngestItem, RejectedItem> => i.kind !== 'rejected');
  const readLog = async (systems: string[], ids: string[]) => {
    if (!ids.length) return;
    const r = await tx.query<{ source_system: string; message_id: string; content_hash: string; outcome: string; format: string }>(
      `SELECT m.source_system, m.message_id, m.content_hash, m.outcome, m.format FROM ingest_message m
         JOIN unnest($1::text[], $2::text[]) AS k(s, id) ON m.source_system = k.s AND m.message_id = k.id`,
      [systems, ids],
    );
    for (const row of r.rows) {
      logged.set(identityKey(row.source_system, row.message_id), row.content_hash);
      loggedAs.set(identityKey(row.source_system, row.message_id), { outcome: row.outcome, format: row.format });
    }
  };
  await readLog(keyed.map((i) => i.sourceSystem), keyed.map((i) => i.messageId));

  // A sender that reused a control id for other content (a counter reset, a test feed) sent a
  // new message, not a correction (HL7 corrections come with their own ids): it is applied under
  // reusedIdKey, so its results do not overwrite the first message's. Read those keys' log rows too,
  // so that a resend of the second message is a duplicate.
  const reusing = keyed.filter((i) => {
    const seen = logged.get(identityKey(i.sourceSystem, i.messageId));
    return idIsUnique(i) && seen !== undefined && seen !== i.contentHash;
  });
  await readLog(reusing.map((i) => i.sourceSystem), reusing.map((i) => reusedIdKey(i.messageId, i.contentHash)));

  const fresh: AcceptedItem[] = [];
  const logRows: { system: string; id: string; hash: string; format: string; event: string; outcome: string; origin: string; item?: AcceptedItem }[] = [];
  items.forEach((given, n) => {
    let item = given;
    if (item.kind === 'rejected') {
      outcomes[n] = 'quarantined';
      quarantine.push({ sourceSystem: item.sourceSystem ?? null, messageId: item.messageId ?? null, format: item.format, origin: item.origin, reason: item.reason, raw: item.raw });
      return;
    }
    let key = identityKey(item.sourceSystem, item.messageId);
    let seen = logged.get(key);
    if (seen !== undefined && seen !== item.contentHash && idIsUnique(item)) {
      const rekeyed = rekeyReused(item);
      if (rekeyed.kind === 'rejected') {
        outcomes[n] = 'conflict';
        quarantine.push({ sourceSystem: item.sourceSystem, messageId: item.messageId, format: item.format, origin: item.origin, reason: rekeyed.reason, raw: rawOf(item) });
        return;
      }
      item = rekeyed;
      key = identityKey(item.sourceSystem, item.messageId);
      seen = logged.get(key);
    }
    if (seen === item.contentHash) {
      outcomes[n] = 'duplicate';
      return;
    }
    // Later items in the same batch compare against this one.
    logged.set(key, item.contentHash);
    if (item.kind === 'ignored') {
      outcomes[n] = 'ignored';
      logRows.push({ system: item.sourceSystem, id: item.messageId, hash: item.contentHash, format: item.format, event: item.event, outcome: 'ignored', origin: item.origin });
      return;
    }
    outcomes[n] = 'committed';
    fresh.push(item);
    logRows.push({ system: item.sourceSystem, id: item.messageId, hash: item.contentHash, format: item.format, event: item.event, outcome: 'accepted', origin: item.origin, item });
  });

  // 2. Identities → persons, through the MPI.
  const identities: SourceIdentity[] = [];
  for (const item of fresh) identities.push(...item.identities);
  const persons = identities.length ? await resolveIdentities(tx, identities) : new Map<string, string>();

  // 2b. Restricted flags the demographics feeds sent (access/ owns the table), in message order.
  const restrictions = fresh.flatMap((item) => (item.restrictions ?? []).map((r) => ({ ...r, system: item.sourceSystem, reason: `${r.reason} (message ${item.messageId})` })));
  if (restrictions.length) await recordRestrictions(tx, restrictions);

  // 3. Identity instructions (HL7 A40 and kin, FHIR replaced-by), in message order.
  let merged = false;
  for (const item of fresh) {
    for (const m of item.merges ?? []) {
      await applyMerge(tx, m, `feed:${item.sourceSystem}`);
      merged = true;
    }
  }
  // Resources about identities outside their item (Bulk Data NDJSON: the Patient in another file).
  const outside = new Map<string, { system: string; id: string }>();
  for (const item of fresh) {
    for (const r of item.resources) {
      if (r.subject === undefined) continue;
      const k = identityKey(item.sourceSystem, r.subject);
      if (!persons.has(k)) outside.set(k, { system: item.sourceSystem, id: r.subject });
    }
  }
  // A merge moves identities between persons: re-read the links so this batch's resources follow.
  const reread = merged ? [...identities, ...outside.values()] : [...outside.values()];
  if (reread.length) {
    const r = await tx.query<{ source_system: string; source_id: string; person_id: string }>(
      `SELECT s.source_system, s.source_id, s.person_id FROM source_identity s
         JOIN unnest($1::text[], $2::text[]) AS k(sys, id) ON s.source_system = k.sys AND s.source_id = k.id`,
      [reread.map((i) => i.system), reread.map((i) => i.id)],
    );
    for (const row of r.rows) persons.set(identityKey(row.source_system, row.source_id), row.person_id);
  }

  // 4. Resources: newest per key within the batch, sorted so concurrent batches lock rows in one order.
  // A personal resource whose Patient has not arrived is kept with no person (pending) and
  // linked when that Patient comes (step 4b).
  const byKey = new Map<string, ResourceRow>();
  for (const item of fresh) {
    const only = item.identities.length === 1 ? item.identities[0]!.id : null;
    for (const { resource, sourceTime, json: prepared, hash: preparedHash, subject: named } of item.resources) {
      const id = resource.id;
      if (!id) continue; // adapters guarantee ids; a resource without one cannot be kept idempotently
      const subject = named ?? only;
      const person = subject !== null ? (persons.get(identityKey(item.sourceSystem, subject)) ?? null) : null;
      const personal = !NON_PERSONAL.has(resource.resourceType);
      const json = prepared ?? JSON.stringify(resource);
      const key = `${item.sourceSystem}\u0000${resource.resourceType}\u0000${id}`;
      const prev = byKey.get(key);
      const time = sourceTime ?? null;
      if (prev && prev.time && time && time < prev.time) continue;
      byKey.set(key, { system: item.sourceSystem, type: resource.resourceType, id, person: personal ? person : null, subject: personal ? subject : null, time, hash: preparedHash ?? sha256Hex(json), json });
    }
  }
  if (byKey.size) {
    // Sorted by key, so concurrent batches lock rows in one order.
    const sorted = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map((e) => e[1]);
    result.resources += await writeResources(tx, sorted, layout);
  }

  // 4b. Resources that arrived before their Patient (pending) now follow it to its person.
  if (identities.length) await linkPendingResources(tx, identities);

  // 5. The message log: every accepted or ignored message with its outcome.
  if (logRows.length) {
    const uniq = new Map(logRows.map((l) => [identityKey(l.system, l.id), l]));
    const ls = [...uniq.values()].sort((a, b) => (identityKey(a.system, a.id) < identityKey(b.system, b.id) ? -1 : 1));
    const personOf = (l: (typeof ls)[number]): string | null => (l.item?.identities.length ? (persons.get(identityKey(l.item.identities[0]!.system, l.item.identities[0]!.id)) ?? null) : null);
    // A message not logged before this batch (nearly all of a first load) is COPYed: the upsert
    // costs the server about twice as much per row and pg's array parameters the writing thread
    // more than COPY text. A key another writer logs meanwhile fails the COPY with 23505 and the
    // batch is retried whole (writeWithRetries), then finds it logged and upserts it.
    const copied = tx.copyFrom ? ls.filter((l) => !loggedAs.has(identityKey(l.system, l.id))) : [];
    const upserted = copied.length ? ls.filter((l) => loggedAs.has(identityKey(l.system, l.id))) : ls;
    if (copied.length) {
      const rows = new CopyChunks();
      for (const l of copied) rows.row([l.system, l.id, l.hash, l.format, l.event, l.outcome, personOf(l), l.origin]);
      await tx.copyFrom!('ingest_message', MESSAGE_COLUMNS, rows);
    }
    if (upserted.length) {
      await tx.query(
        `INSERT INTO ingest_message (source_system, message_id, content_hash, format, event, outcome, person_id, origin)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[])
         ON CONFLICT (source_system, message_id) DO UPDATE SET content_hash = EXCLUDED.content_hash,
           outcome = EXCLUDED.outcome, event = EXCLUDED.event, person_id = EXCLUDED.person_id, origin = EXCLUDED.origin, received_at = now()`,
        [
          upserted.map((l) => l.system),
          upserted.map((l) => l.id),
          upserted.map((l) => l.hash),
          upserted.map((l) => l.format),
          upserted.map((l) => l.event),
          upserted.map((l) => l.outcome),
          upserted.map(personOf),
          upserted.map((l) => l.origin),
        ],
      );
    }
    await addFeedCounts(tx, countDeltas(ls.map((l) => ({ ...l, previous: loggedAs.get(identityKey(l.system, l.id)) }))));
  }

  // 6. Quarantine: kept whole for repair; the same item rejected again for the same reason is counted, not copied.
  if (quarantine.length) await quarantineItems(tx, quarantine);

  // 7. Consent and care teams the feeds sent (access/ owns the tables): applied for the next decision.
  // Last, because it appends audit rows: an audit chain's head stays locked until this transaction
  // commits, and another writer's batch with directives waits for it; taken before the resources'
  // COPY it was held through the whole batch (15 % of a two-writer borough load's samples waited on it).
  const directives = directiveMessages(fresh, persons);
  if (directives.length) await recordFeedDirectives(tx, directives);

  for (const o of outcomes) {
    if (o === 'committed') result.accepted++;
    else if (o === 'duplicate') result.duplicates++;
    else if (o === 'ignored') result.ignored++;
    else result.quarantined++;
  }
  return { ...result, outcomes };
}

/** The message log's columns a write sets (received_at is its default, now()). */
const MESSAGE_COLUMNS = ['source_system', 'message_id', 'content_hash', 'format', 'event', 'outcome', 'person_id', 'origin'] as const;

/**
 * The resource columns a write sets. fhir_id is the FHIR logical id (fhirLogicalId, the value of the
 * SQL function fhir_logical_id of the key), sent so that the server need not compute a sha256 for
 * its index (migration 0054); a resource's key never changes, so neither does its id.
 */
const RESOURCE_COLUMNS = ['source_system', 'resource_type', 'source_id', 'person_id', 'subject_id', 'source_time', 'content_hash', 'content', 'shard_key', 'fhir_id'] as const;

/** The savepoint a copy-first COPY runs under (one at a time per transaction). */
const COPY_FIRST = 'bevan_copy_first';

/**
 * Writes a batch's resource rows (sorted by key); returns the rows inserted or changed. Copy-first
 * when the run expects them new (CopyFirstGuess), else (or when that COPY meets a stored key) the
 * normal way: readThenWrite.
 */
async function writeResources(tx: Queryable, rows: readonly ResourceRow[], layout: WriteLayout): Promise<number> {
  const guess = layout.guess;
  if (!guess || !tx.copyFrom) return readThenWrite(tx, rows, layout);
  const personal = rows.filter((x) => !NON_PERSONAL.has(x.type));
  const systems = [...new Set(personal.map((x) => x.system))];
  if (!personal.length || !(await guess.expectNew(tx, systems))) {
    guess.wrote(personal);
    return readThenWrite(tx, rows, layout);
  }
  // Rows this run may have written already (a restated Patient, an Encounter an earlier event
  // opened) are read first with the directory resources (see readThenWrite: few, and shared);
  // the rest, which this run cannot have written in a source the store held nothing of, are COPYed.
  const fresh: ResourceRow[] = [];
  const rest: ResourceRow[] = []; // in key order, as rows are
  let again = 0;
  for (const x of rows) {
    if (NON_PERSONAL.has(x.type)) rest.push(x);
    else if (guess.mayHaveWritten(x)) {
      rest.push(x);
      again++;
    } else fresh.push(x);
  }
  guess.wrote(fresh);
  let copied = 0;
  if (fresh.length) {
    try {
      copied = await copyResources(tx, fresh, COPY_FIRST);
    } catch (err) {
      if ((err as { code?: string }).code !== '23505' || isUnavailable(err)) throw err;
      // A key stored already (or by a writer that committed meanwhile): nothing of this COPY stays.
      await tx.exec(`ROLLBACK TO SAVEPOINT ${COPY_FIRST}; RELEASE SAVEPOINT ${COPY_FIRST}`);
      guess.collided(systems);
      guess.fellBack++;
      return readThenWrite(tx, rows, layout);
    }
  }
  if (fresh.length) guess.copied++;
  guess.reread += again;
  // Rows read because this run wrote their keys are stored: they say nothing of the source's state.
  return copied + (rest.length ? await readThenWrite(tx, rest, layout, false) : 0);
}

/**
 * The normal way: read the stored content hash of every row first. Rows stored as sent are not
 * sent at all: HL7 v2 restates (every event carries the Patient, and A02, A03, A08 the Encounter
 * again), and a GP's next extract repeats most of the record. Equal content hash → the upsert
 * would change nothing (its WHERE): no JSON shipped, parsed or locked. What is not stored yet is
 * loaded with COPY (a third cheaper for the server than the upsert, docs/ingest-performance.md);
 * what is stored with other content goes through the upsert.
 */
async function readThenWrite(tx: Queryable, rows: readonly ResourceRow[], layout: WriteLayout, observe = true): Promise<number> {
  const r = await tx.query<{ source_system: string; resource_type: string; source_id: string; content_hash: string }>(
    `SELECT r.source_system, r.resource_type, r.source_id, r.content_hash FROM resource r
       JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(sys, typ, id) ON r.source_system = k.sys AND r.resource_type = k.typ AND r.source_id = k.id`,
    [rows.map((x) => x.system), rows.map((x) => x.type), rows.map((x) => x.id)],
  );
  const storedHash = new Map<string, string>();
  for (const row of r.rows) storedHash.set(`${row.source_system}\u0000${row.resource_type}\u0000${row.source_id}`, row.content_hash);
  const copy: ResourceRow[] = [];
  const upsert: ResourceRow[] = [];
  // Per source: was any of its personal resources stored? (for the run's guess)
  const seen = layout.guess && observe ? new Map<string, boolean>() : null;
  for (const x of rows) {
    const stored = storedHash.get(`${x.system}\u0000${x.type}\u0000${x.id}`);
    const personal = !NON_PERSONAL.has(x.type);
    if (seen && personal) seen.set(x.system, (seen.get(x.system) ?? false) || stored !== undefined);
    if (stored === x.hash) continue;
    // Directory resources (Practitioner, Location, Organization: named by many patients' messages)
    // go through the upsert even when new: batches written side by side may both carry a new one
    // (BatchFootprint.shared), and the upsert waits for the other's row where a COPY would fail
    // the whole batch with 23505. They are few.
    if (stored === undefined && personal && tx.copyFrom) copy.push(x);
    else upsert.push(x);
  }
  if (seen) for (const [system, anyStored] of seen) layout.guess!.observed(system, anyStored);
  let written = 0;
  // A new key that another writer stores meanwhile fails the COPY (23505): the batch is retried
  // whole (writeWithRetries) and then finds it stored.
  if (copy.length) written += await copyResources(tx, copy);
  // A jsonb value is at most 256 MiB: very large resources go in several statements (in key order).
  for (let start = 0; start < upsert.length; ) {
    let end = start;
    for (let chars = 0; end < upsert.length && (end === start || chars + upsert[end]!.json.length < MAX_STATEMENT_JSON); end++) chars += upsert[end]!.json.length;
    written += await insertResources(tx, upsert.slice(start, end), layout);
    start = end;
  }
  return written;
}

/**
 * Loads resource rows that are not stored yet (sorted by key) with COPY (under `savepoint`, when
 * given: Queryable.copyFrom); returns the rows loaded.
 * Each row as the upsert would insert it: version 1, received now, and its shard key (migration
 * 0029) computed here as shard_key_of computes it, since COPY cannot call a function.
 */
async function copyResources(tx: Queryable, rows: readonly ResourceRow[], savepoint?: string): Promise<number> {
  // A person's resources share their subject's key: one md5 per subject, not per row.
  const keys = new Map<string, string>();
  const shardKey = (system: string, of: string): string => {
    const k = `${system}\u0000${of}`;
    let v = keys.get(k);
    if (v === undefined) keys.set(k, (v = shardKeyOf(system, of)));
    return v;
  };
  const data = new CopyChunks();
  for (const x of rows) data.row([x.system, x.type, x.id, x.person, x.subject, x.time, x.hash, x.json, x.subject !== null ? shardKey(x.system, x.subject) : shardKeyOf(x.system, `${x.type}/${x.id}`), fhirLogicalId(x.system, x.type, x.id)]);
  return tx.copyFrom!('resource', RESOURCE_COLUMNS, data, savepoint !== undefined ? { savepoint } : undefined);
}

/** Upserts resource rows (already sorted by key); returns the rows inserted or changed. */
async function insertResources(tx: Queryable, rows: readonly ResourceRow[], layout: WriteLayout): Promise<number> {
  // shard_key (migration 0029, docs/distribution.md): the identity the resource is about, or the
  // resource itself. A stored resource keeps its key whatever its subject says now: in the plain
  // layout the update leaves the column alone; partitioned, the key is read first so the upsert
  // meets the stored row in its own partition (a prefix probe of each partition's primary key).
  const computed = `shard_key_of(k.sys, COALESCE(k.subject, k.typ || '/' || k.id))`;
  const shardKey = layout.partitioned
    ? `COALESCE((SELECT s.shard_key FROM resource s WHERE s.source_system = k.sys AND s.resource_type = k.typ AND s.source_id = k.id), ${computed})`
    : computed;
  const r = await tx.query(
    // The contents travel as ONE JSON array text rather than a jsonb[] parameter: each
    // resource is already JSON, so joining costs nothing, where an array literal escapes every
    // quote on the client and unescapes it on the server (this halves the statement's cost).
    `INSERT INTO resource (source_system, resource_type, source_id, person_id, subject_id, source_time, content_hash, content, shard_key, fhir_id)
     SELECT k.sys, k.typ, k.id, k.person, k.subject, k.time, k.hash, c.content, ${shardKey}, k.fhir_id
       FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::timestamptz[], $7::text[], $9::text[]) WITH ORDINALITY AS k(sys, typ, id, person, subject, time, hash, fhir_id, n)
       JOIN jsonb_array_elements($8::jsonb) WITH ORDINALITY AS c(content, n) ON c.n = k.n
      ORDER BY k.n
     ON CONFLICT ON CONSTRAINT resource_pkey DO UPDATE SET
       content = EXCLUDED.content, content_hash = EXCLUDED.content_hash, source_time = EXCLUDED.source_time,
       person_id = COALESCE(EXCLUDED.person_id, resource.person_id), subject_id = COALESCE(EXCLUDED.subject_id, resource.subject_id),
       version = resource.version + 1, received_at = now()
     WHERE resource.content_hash <> EXCLUDED.content_hash
       AND (resource.source_time IS NULL OR EXCLUDED.source_time IS NULL OR EXCLUDED.source_time >= resource.source_time)`,
    [
      rows.map((x) => x.system),
      rows.map((x) => x.type),
      rows.map((x) => x.id),
      rows.map((x) => x.person),
      rows.map((x) => x.subject),
      rows.map((x) => x.time),
      rows.map((x) => x.hash),
      `[${rows.map((x) => x.json).join(',')}]`,
      rows.map((x) => fhirLogicalId(x.system, x.type, x.id)),
    ],
  );
  return r.rowCount;
}

/**
 * Links pending resources (no person yet; `subject_id` names their Patient in the same source) to
 * the persons of these identities. The partial index on pending rows keeps this an index probe
 * per identity, whatever the size of the store.
 */
async function linkPendingResources(tx: Queryable, identities: readonly SourceIdentity[]): Promise<number> {
  const keys = [...new Map(identities.map((i) => [identityKey(i.system, i.id), i])).values()].sort((a, b) => cmp(identityKey(a.system, a.id), identityKey(b.system, b.id)));
  const r = await tx.query(
    `UPDATE resource SET person_id = s.person_id
       FROM unnest($1::text[], $2::text[]) AS k(sys, id)
       JOIN source_identity s ON s.source_system = k.sys AND s.source_id = k.id
      WHERE resource.person_id IS NULL AND resource.subject_id IS NOT NULL
        AND resource.source_system = k.sys AND resource.subject_id = k.id`,
    [keys.map((i) => i.system), keys.map((i) => i.id)],
  );
  return r.rowCount;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// NUL cannot be stored in PostgreSQL text: binary junk is kept with its NULs made visible.
const visibleNul = (s: string): string => (s.includes('\u0000') ? s.replace(/\u0000/g, '\\0') : s);
const nullableText = (s: string | null): string | null => (s === null ? null : visibleNul(s));

async function quarantineItems(tx: Queryable, rows: QuarantineRow[]): Promise<void> {
  const uniq = new Map<string, QuarantineRow & { hash: string; text: string }>();
  for (const q of rows) {
    const text = q.raw.length > MAX_RAW ? `${q.raw.slice(0, MAX_RAW)}\n[… truncated: ${q.raw.length} characters in all]` : q.raw;
    const reason = visibleNul(q.reason.length > MAX_REASON ? `${q.reason.slice(0, MAX_REASON)}… [${q.reason.length} characters in all]` : q.reason);
    const hash = sha256Hex(q.raw);
    uniq.set(`${hash}\u0000${reason}`, {
      ...q,
      sourceSystem: nullableText(q.sourceSystem),
      messageId: nullableText(q.messageId),
      origin: visibleNul(q.origin),
      reason,
      hash,
      text: visibleNul(text),
    });
  }
  const qs = [...uniq.values()];
  await tx.query(
    // The index compares md5(reason), not the reason, so a reason of any length fits (migration 0007).
    `INSERT INTO quarantine (source_system, message_id, format, origin, reason, raw, raw_hash)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
     ON CONFLICT (raw_hash, md5(reason)) WHERE status = 'open'
     DO UPDATE SET times_seen = quarantine.times_seen + 1, received_at = now()`,
    [
      qs.map((q) => q.sourceSystem),
      qs.map((q) => q.messageId),
      qs.map((q) => q.format),
      qs.map((q) => q.origin),
      qs.map((q) => q.reason),
      qs.map((q) => q.text),
      qs.map((q) => q.hash),
    ],
  );
}

/** The message as received, for quarantine; an item that has no raw text keeps what it said, as JSON. */
function rawOf(item: Exclude<IngestItem, RejectedItem>): string {
  return item.raw !== undefined ? item.raw : describeItem(item);
}

/** The messages that carry Consent or CareTeam resources, those resources (and the message's Organizations) read back from their prepared text. */
function directiveMessages(fresh: readonly AcceptedItem[], persons: ReadonlyMap<string, string>): DirectiveMessage[] {
  const out: DirectiveMessage[] = [];
  for (const item of fresh) {
    if (!item.resources.some((r) => DIRECTIVE_TYPES.has(r.resource.resourceType))) continue;
    const only = item.identities.length === 1 ? item.identities[0]!.id : null;
    const resources: DirectiveMessage['resources'] = [];
    for (const r of item.resources) {
      if (!DIRECTIVE_TYPES.has(r.resource.resourceType) && r.resource.resourceType !== 'Organization') continue;
      const subject = r.subject ?? only;
      const resource = (r.json ? JSON.parse(r.json) : r.resource) as Record<string, unknown>;
      resources.push({ resource, subject, personId: subject !== null ? (persons.get(identityKey(item.sourceSystem, subject)) ?? null) : null });
    }
    out.push({ system: item.sourceSystem, messageId: item.messageId, resources });
  }
  return out;
}
