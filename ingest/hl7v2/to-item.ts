/**
 * One HL7 v2 message (decoded text, v2.3–2.8) → one ingest item, per docs/feeds.md "HL7 v2
 * (hospital)". Pure: no I/O, no clock. Used by both the file adapter and the MLLP listener.
 *
 * A message is quarantined only for what a person can act on (the reason names the field and
 * what was expected): no sender, no control id, no message time, no patient identifier, an
 * impossible birth, death, admit or discharge date. Message types and ADT events Bevan does not
 * use are acknowledged and counted as ignored; values a table does not list are kept as sent.
 */
import type { AcceptedItem, IngestItem, ReadContext } from '../model.ts';
import { sha256Hex } from '../prepare.ts';
import { Hl7View, hl7Time, normaliseSegments, readHl7Lines, segmentLines, type Hl7Segment } from './hl7-text.ts';
import { mapAdt, type Mapped } from './adt.ts';
import { mapClinicalSegments } from './clinical.ts';
import { ContentError, fail, patientGroups, type MapContext } from './mapping.ts';
import { mapPatient } from './patient.ts';
import { mapResults } from './results.ts';
import { mapOrders, ORDER_EVENTS } from './orders.ts';
import { IMMUNIZATION_EVENTS, mapImmunizations, mapPharmacy, PHARMACY_EVENTS } from './pharmacy.ts';
import { CONTENTLESS_CHANGES, DOCUMENT_EVENTS, mapDocuments } from './documents.ts';
import { mapScheduling, SCHEDULING_EVENTS } from './scheduling.ts';
import { distinctIdentities } from './patient.ts';
import { ADT_EVENTS } from './tables.ts';

export { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from './patient.ts';
export { sourceIdentifierSystem } from './mapping.ts';

/** Result messages read as ORU^R01 is: the same PID / OBR / OBX structure. */
const RESULT_EVENTS = new Set(['ORU^R01', 'ORU^R30', 'ORU^R31', 'ORU^R32', 'OUL^R21', 'OUL^R22', 'OUL^R23', 'OUL^R24']);
/** Patient problem messages (chapter 12): add, update, delete. */
const PROBLEM_EVENTS = new Set(['PPR^PC1', 'PPR^PC2', 'PPR^PC3']);

/**
 * Message types about a patient's care or stay that Bevan maps no further (billing BAR and DFT,
 * referrals REF/RRI and RQA, patient goals and pathways PGL/PPP/PPG/PPR, clinical trials CRM/CSU,
 * product experience PEX, diet and supply orders OMD/OMS/OMN, pharmacy give and refusal RGV/RRE/RRD/
 * RRA/RRG, care coordination CCM/CCU/CCF/CCI/CCR of v2.8): with a PID they still name a person
 * (identity for the MPI) and may carry allergies (AL1, IAM), diagnoses (DG1) and problems (PRB),
 * which are kept. Acknowledgements, queries, query responses and master files are not about care.
 */
const PATIENT_CARE_TYPES = new Set(['BAR', 'DFT', 'REF', 'RRI', 'RQA', 'PGL', 'PPP', 'PPG', 'PPR', 'CRM', 'CSU', 'PEX', 'OMD', 'OMS', 'OMN', 'RGV', 'RRE', 'RRD', 'RRA', 'RRG', 'CCM', 'CCU', 'CCF', 'CCI', 'CCR']);

/** The source system an ignored message that names no sender is logged under. */
export const UNKNOWN_SENDER = 'hl7:unknown';

/** sha256 (hex) of the message with segments joined by CR, so CR, LF and CRLF copies hash equal. */
export function hl7ContentHash(text: string): string {
  return sha256Hex(normaliseSegments(text));
}

/** An HD (namespace id ^ universal id ^ type) as a stable key: the namespace id, else the universal id. */
function hdKey(v: Hl7View, seg: Hl7Segment, field: number): string {
  return v.get(seg, field, { comp: 1 }) || v.get(seg, field, { comp: 2 });
}

/**
 * The source system of a message: `hl7:<MSH-4>` (sending facility), else `hl7:<MSH-3>` (sending
 * application), else the feed's configured source (`--source KEY`, feeds file).
 */
export function hl7SourceSystem(v: Hl7View, context?: ReadContext): string | undefined {
  const msh = v.segment('MSH');
  if (!msh) return context?.source;
  const key = hdKey(v, msh, 4) || hdKey(v, msh, 3);
  return key ? `hl7:${key}` : context?.source;
}

/** MSH-12 as major.minor (2.5.1 → 2.5); 2.4 when absent or unreadable. */
function versionOf(v: Hl7View, msh: Hl7Segment): number {
  const m = /^(\d+)\.(\d+)/.exec(v.get(msh, 12));
  return m ? Number(`${m[1]}.${m[2]}`) : 2.4;
}

/**
 * The key a message is logged and its resources keyed under when its sender reused a control id
 * (MSH-10) for different content: the id and the first 12 hex digits of the content hash, so the
 * second message's results do not overwrite the first's, and a resend of either is a duplicate.
 */
export function reusedIdKey(messageId: string, contentHash: string): string {
  return `${messageId}#${contentHash.slice(0, 12)}`;
}

/** A time field's text, `""` (HL7's explicit null) read as empty. */
function timeOf(raw: string): string {
  return raw === '""' ? '' : raw;
}

// The functions this file runs per message define no closures: under tsx (bin/bevan.mjs) each
// named closure costs an Object.defineProperty per call (esbuild's keepNames), a few per cent of the parse.

/**
 * Parses one HL7 v2 message into an accepted, ignored or rejected item; never throws.
 * `messageKey` (see reusedIdKey) replaces MSH-10 as the key of the item and of the resources
 * derived from it; the acknowledgement still echoes MSH-10 as sent.
 */
export function parseHl7Message(text: string, origin: string, context?: ReadContext, messageKey?: string): IngestItem {
  const raw = text;
  // Split once: the lines are read, and hashed joined by CR (hl7ContentHash).
  const lines = segmentLines(text);
  const read = readHl7Lines(lines);
  if (!read.ok) return { kind: 'rejected', format: 'hl7v2', reason: read.reason, raw, origin };
  const v = new Hl7View(read.message);
  const msh = v.segment('MSH')!;
  let sourceSystem = hl7SourceSystem(v, context);
  let messageId = (v.get(msh, 10) && messageKey) || v.get(msh, 10) || undefined;
  try {
    const type = v.get(msh, 9, { comp: 1 }).toUpperCase();
    // v2.3 ADT may leave MSH-9.2 empty and give the trigger only in EVN-1.
    const sentTrigger = (v.get(msh, 9, { comp: 2 }) || (type === 'ADT' ? v.get(v.segment('EVN'), 1) : '')).toUpperCase();
    // Order triggers are the letter O and two digits; some senders type a zero ("ORM^001"). Read as
    // the order event it can only be (ORM has one trigger, O01).
    const lettered = /^0\d\d$/.test(sentTrigger) ? `O${sentTrigger.slice(1)}` : undefined;
    const trigger = lettered && (ORDER_EVENTS.has(`${type}^${lettered}`) || PHARMACY_EVENTS.has(`${type}^${lettered}`)) ? lettered : sentTrigger;
    const event = trigger ? `${type}^${trigger}` : type;
    const adtMeaning = type === 'ADT' ? ADT_EVENTS[trigger] : undefined;
    // An order about no patient (PID is optional in ORM) or with no OBR (a pharmacy or diet order)
    // holds nothing for a person's record: acknowledged and counted as ignored.
    const hasPid = v.segment('PID') !== undefined;
    const isOrder = ORDER_EVENTS.has(event) && hasPid && v.segment('OBR') !== undefined;
    // The same holds for the other clinical messages: no PID (a blocked slot, an empty history
    // response, a pharmacy message about stock), nothing for a record.
    const hasRxa = v.segment('RXA') !== undefined;
    const isPharmacy = hasPid && (PHARMACY_EVENTS.has(event) || (event === 'ORM^O01' && !isOrder && v.segment('RXO') !== undefined));
    const isImmunization = hasPid && hasRxa && IMMUNIZATION_EVENTS.has(event);
    // A document status change or edit notification without the document is not mapped (documents.ts).
    const isDocument = hasPid && DOCUMENT_EVENTS.has(event) && !(CONTENTLESS_CHANGES.has(event) && v.segment('OBX') === undefined);
    const isAppointment = hasPid && SCHEDULING_EVENTS.has(event);
    const mappedType = adtMeaning !== undefined || RESULT_EVENTS.has(event) || PROBLEM_EVENTS.has(event) || isOrder || isPharmacy || isImmunization || isDocument || isAppointment;
    const used = mappedType || (hasPid && PATIENT_CARE_TYPES.has(type));
    if (!type) fail('MSH-9 message type is empty (expected e.g. ADT^A01 or ORU^R01)');
    const contentHash = sha256Hex(lines.join('\r')); // hl7ContentHash(text), from the lines already split
    // MSH-10 is required, yet some senders leave it empty (an eClinicalWorks export, a hand-made
    // test): the message is keyed by its content instead, so a resend is still a duplicate. The
    // acknowledgement echoes MSH-10 as sent (empty).
    messageId ??= `no-control-id-${contentHash.slice(0, 16)}`;
    // MSH-3 and MSH-4 are optional (v2.5 chapter 2): a message that names no sender, on a feed
    // configured with no source, is read as from `hl7:unknown` rather than refused.
    // A file whose carriage returns were lost (or turned into spaces) on the way holds one long
    // MSH line: say so, rather than only that PID is missing — and before a type that is used only
    // with a PID (billing DFT, referrals) would be ignored for lacking one, losing it silently.
    // "PID|" inside another segment is that sign, unless it is a value: ERR-1/ERR-2 name the
    // segment an error was found in ("ERR||PID|101^…", an acknowledgement), and a field that holds
    // just "PID" is followed by the next field, not by PID-1 (a set id) and its separator.
    if (!hasPid) {
      const fs = `\\${v.delimiters.field}`;
      const glued = new RegExp(`[^\\r\\n${fs}]PID${fs}|${fs}PID${fs}\\d{0,4}${fs}`);
      const runIn = read.message.segments.find((s) => s.text !== undefined && s.name !== 'ERR' && glued.test(s.text.slice(3)));
      if (runIn) fail(`${event} has no PID segment: "PID${v.delimiters.field}" appears inside segment ${runIn.position} (${runIn.name}), so the segments were run together; each segment must end with a carriage return (CR, or LF)`);
    }
    if (!used) return { kind: 'ignored', format: 'hl7v2', sourceSystem: sourceSystem ?? UNKNOWN_SENDER, messageId, contentHash, event, origin, raw };
    sourceSystem ??= UNKNOWN_SENDER;

    // MSH-7 is required; EVN-2 (when the event was recorded), else EVN-6 (when it occurred), stands
    // in for a sender that leaves it empty. A message with no time at all (test feeds, some
    // interface engines) is still read: its resources carry no source time.
    const evn = v.segment('EVN');
    const timeRaw = timeOf(v.get(msh, 7)) || timeOf(v.get(evn, 2)) || timeOf(v.get(evn, 6));
    const sent = timeRaw ? (hl7Time(timeRaw) ?? fail(`MSH-7 ${JSON.stringify(timeRaw)} is not a valid date/time`)) : undefined;

    const ctx: MapContext = { v, system: sourceSystem, event, trigger, messageId, ...(sent ? { sourceTime: sent.instant } : {}), version: versionOf(v, msh) };
    const mapped = adtMeaning
      ? mapAdt(ctx, adtMeaning)
      : RESULT_EVENTS.has(event)
        ? mapResultMessage(ctx, hasRxa)
        : isOrder
          ? mapOrders(ctx)
          : isPharmacy
            ? mapPharmacy(ctx)
            : isImmunization
              ? mapImmunizations(ctx)
              : isDocument
                ? mapDocuments(ctx)
                : isAppointment
                  ? mapScheduling(ctx)
                  : mapProblems(ctx); // PPR, and the other patient-care types (PATIENT_CARE_TYPES)
    const item: AcceptedItem = {
      kind: 'accepted',
      format: 'hl7v2',
      sourceSystem,
      messageId,
      contentHash,
      event,
      idIsUnique: true,
      identities: mapped.identities,
      resources: mapped.resources,
      ...(mapped.merges?.length ? { merges: mapped.merges } : {}),
      ...(mapped.restrictions?.length ? { restrictions: mapped.restrictions } : {}),
      origin,
      // Kept so that a control-id conflict can be quarantined whole and replayed.
      raw,
    };
    return item;
  } catch (err) {
    const reason = err instanceof ContentError ? err.message : `could not be read: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'rejected', format: 'hl7v2', ...(sourceSystem ? { sourceSystem } : {}), ...(messageId ? { messageId } : {}), reason, raw, origin };
  }
}

/**
 * ORU/OUL → results; an RXA among them (an immunisation history sent as ORU) → Immunization too.
 * An ORU with RXA and no OBR is an immunisation message only.
 */
function mapResultMessage(ctx: MapContext, hasRxa: boolean): Mapped {
  if (!hasRxa) return mapResults(ctx);
  const immunizations = mapImmunizations(ctx);
  if (ctx.v.segment('OBR') === undefined) return immunizations;
  const results = mapResults(ctx);
  const identities = distinctIdentities([...results.identities, ...immunizations.identities].map((identity) => ({ identity })));
  const many = identities.length > 1;
  // Each part set `subject` only when it had several patients itself; with several overall, every resource names its own.
  const single = (m: Mapped) => m.identities.length === 1 ? m.identities[0]!.id : undefined;
  const withSubject = (m: Mapped) => m.resources.map((r) => (many && !r.subject && single(m) ? { ...r, subject: single(m)! } : r));
  return { identities, resources: [...withSubject(results), ...withSubject(immunizations)] };
}

/**
 * PPR^PC1/PC2/PC3 (patient problem, chapter 12) → a Condition per PRB, under the patient of its
 * group. No Patient resource: a problem list is not the authority for demographics (as ORU).
 */
function mapProblems(ctx: MapContext): Mapped {
  const groups = patientGroups(ctx.v);
  if (groups.length === 0) fail(`${ctx.event} has no PID segment`);
  const parts = groups.map((g) => ({ g, ...mapPatient(ctx.v, ctx.system, g.pid, g.segments.find((s) => s.name === 'PD1'), ctx.version) }));
  const identities = parts.map((p) => p.identity).filter((x, i, all) => all.findIndex((y) => y.id === x.id) === i);
  const many = identities.length > 1;
  const resources = parts.flatMap(({ g, identity }) =>
    mapClinicalSegments(g.segments, { ctx, mrn: identity.id, ...(many ? { subject: identity.id } : {}), ...(ctx.trigger === 'PC3' ? { deleteProblems: true } : {}) }),
  );
  return { identities, resources };
}
