/**
 * Medical documents (MDM^T01–T11; HL7 v2.3–2.8 chapter 9) → DocumentReference, after the HL7
 * v2-to-FHIR guide's TXA → DocumentReference map, in R4. Pure. NHS hospitals send discharge
 * letters, clinic letters and operation notes this way.
 *
 * - Key: `document-<TXA-12 unique document number>`: an edit, a status change or a cancel of the
 *   same document replaces it. Without TXA-12 an original (T01/T02) is keyed by TXA-16, else by
 *   `<MSH-10>-<TXA-1>`; any other event without it is quarantined.
 * - TXA-2 type, TXA-4 activity date/time (the clinical date), TXA-6 origination (when written),
 *   TXA-9 originator and TXA-5 primary activity provider (authors), TXA-22 authenticator,
 *   TXA-13 parent document (an addendum appends to it, a replacement replaces it), TXA-14/15
 *   placer/filler order numbers (the order it answers), TXA-17 completion status → docStatus,
 *   TXA-19 availability → status; T11 (cancel) → entered-in-error.
 * - Content: the OBX after the TXA. TX, FT, ST and CE-text values are one text/plain attachment
 *   (one OBX, or one repetition, per line, escapes decoded); each ED (source ^ type ^ subtype ^
 *   encoding ^ data) is an attachment of its own, data kept as base64 with its MIME type; RP
 *   (reference pointer) is an attachment URL.
 * A notification without content (T01, T05, T09) still records that the document exists; a
 * status change or edit notification without content (T03, T07) is not mapped (to-item.ts): the
 * writer replaces whole resources, and the text sent before would be lost.
 */
import type { Annotation, Attachment, CodeableConcept, DocumentReference, Identifier, Practitioner, Reference } from '@medplum/fhirtypes';
import { unescapeHl7, type Hl7Segment } from './hl7-text.ts';
import { annotatingTime, codeable, fail, sourceIdentifierSystem, type MapContext } from './mapping.ts';
import { mapEachOrder, practitioner } from './orders.ts';
import type { Mapped } from './adt.ts';

export const DOCUMENT_EVENTS = new Set(['T01', 'T02', 'T03', 'T04', 'T05', 'T06', 'T07', 'T08', 'T09', 'T10', 'T11'].map((t) => `MDM^${t}`));
/** Events whose message says a document changed without carrying it: not mapped when no OBX comes. */
export const CONTENTLESS_CHANGES = new Set(['MDM^T03', 'MDM^T07']);

/** HL7 table 0270 document type (the common values; others kept as sent). */
const DOCUMENT_TYPE: Record<string, string> = {
  AR: 'Autopsy report',
  CD: 'Cardiodiagnostics',
  CN: 'Consultation',
  DI: 'Diagnostic imaging',
  DS: 'Discharge summary',
  ED: 'Emergency department report',
  HP: 'History and physical examination',
  OP: 'Operative report',
  PC: 'Psychiatric consultation',
  PH: 'Psychiatric history and physical examination',
  PN: 'Procedure note',
  PR: 'Progress note',
  SP: 'Surgical pathology',
  TS: 'Transfer summary',
};

/** Table 0271 completion status (TXA-17) → DocumentReference.docStatus. */
const DOC_STATUS: Record<string, NonNullable<DocumentReference['docStatus']>> = {
  AU: 'final',
  LA: 'final',
  DO: 'final',
  DI: 'preliminary',
  IN: 'preliminary',
  IP: 'preliminary',
  PA: 'preliminary',
};

/** Table 0273 availability (TXA-19) → DocumentReference.status. */
const AVAILABILITY: Record<string, DocumentReference['status']> = { AV: 'current', UN: 'current', OB: 'superseded', CA: 'entered-in-error' };

/** Table 0191 / ED type of data and subtype → a MIME type. */
export function mimeType(type: string, subtype: string): string {
  const t = type.toUpperCase();
  const s = subtype.toLowerCase();
  if (s.includes('/')) return s; // some senders put the whole MIME type in the subtype
  if (t === 'AP' || t === 'APPLICATION') return `application/${s || 'octet-stream'}`;
  if (t === 'IM' || t === 'IMAGE') return `image/${s || 'octet-stream'}`;
  if (t === 'AU' || t === 'AUDIO') return `audio/${s || 'basic'}`;
  if (t === 'TX' || t === 'TEXT') return `text/${s === 'rtf' ? 'rtf' : s || 'plain'}`;
  if (t === 'MULTIPART') return `multipart/${s || 'mixed'}`;
  if (s === 'pdf' || s === 'rtf' || s === 'xml' || s === 'msword') return `application/${s}`;
  return 'application/octet-stream';
}

/**
 * The MIME type of a document whose OBX carry text, from TXA-3 document content presentation
 * (table 0191). FT, TX and TEXT ("machine readable text document") are plain text, as is a
 * code of the table that names no text format (AP, IM, SD …: the text is still text); a sender's
 * own code for a text format (RTF, HTML, XML) is text of that kind.
 */
function textContentType(presentation: string): string {
  if (presentation === 'RTF' || presentation === 'HTML' || presentation === 'XML') return `text/${presentation.toLowerCase()}`;
  return 'text/plain; charset=utf-8';
}

/** OBX-5 ED (v2.5: source application ^ type of data ^ data subtype ^ encoding ^ data) → Attachment. */
export function edAttachment(ctx: MapContext, obx: Hl7Segment): Attachment {
  const { v } = ctx;
  const type = v.get(obx, 5, { comp: 2 });
  const subtype = v.get(obx, 5, { comp: 3 });
  const encoding = v.get(obx, 5, { comp: 4 }).toUpperCase();
  // The data is the rest of the field: base64 holds no separators, but ASCII data may (escaped).
  const raw = v.repetitions(obx, 5).map((r) => r.split(v.delimiters.component).slice(4).join(v.delimiters.component)).join('');
  const contentType = mimeType(type, subtype);
  let data: string;
  if (encoding === 'BASE64') data = raw.replace(/\s+/g, '');
  else if (encoding === 'HEX') data = Buffer.from(raw.replace(/\s+/g, ''), 'hex').toString('base64');
  else data = Buffer.from(unescapeHl7(raw, v.delimiters), 'utf8').toString('base64');
  if (encoding === 'BASE64' && !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) fail(`OBX-5 ${obx.position} ED data is not valid base64 (OBX-5.4 says Base64)`);
  const title = v.get(obx, 3, { comp: 2 }) || v.get(obx, 3, { comp: 1 });
  return { contentType, data, ...(title ? { title } : {}) };
}

/** MDM^T01–T11 → one DocumentReference per TXA, under the patient of its group. */
export function mapDocuments(ctx: MapContext): Mapped {
  const mapped = mapEachOrder(ctx, 'TXA', (o, txa) => [mapDocument(ctx, txa!, o.segments.filter((s) => s.name === 'OBX'), o.mrn, o.orc)]);
  if (mapped.resources.length === 0) fail(`${ctx.event} has no TXA segment (the document header is required)`);
  return mapped;
}

function mapDocument(ctx: MapContext, txa: Hl7Segment, obxs: Hl7Segment[], mrn: string, orc: Hl7Segment | undefined): DocumentReference {
  const { v, system } = ctx;
  const notes: Annotation[] = [];
  const sent = v.get(txa, 12) || v.get(txa, 12, { comp: 3 });
  // An original document (T01, T02) without TXA-12 is still a letter worth keeping: it is keyed by
  // TXA-16 (its file name), else by the message (MSH-10 and TXA-1), so a resend is a duplicate;
  // an edit, status change or cancel must say which document it is about.
  const original = ctx.trigger === 'T01' || ctx.trigger === 'T02';
  const fallback = original ? v.get(txa, 16) || `${ctx.messageId}-${v.get(txa, 1) || txa.position}` : '';
  const number = sent || fallback;
  if (!number) fail('TXA-12 unique document number is empty (required: it names the document that later edits, status changes and cancels refer to)');
  const typeCode = v.get(txa, 2, { comp: 1 });
  const typeSystem = v.get(txa, 2, { comp: 3 });
  const type: CodeableConcept | undefined =
    typeCode && !typeSystem && DOCUMENT_TYPE[typeCode.toUpperCase()]
      ? { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0270', code: typeCode.toUpperCase(), display: DOCUMENT_TYPE[typeCode.toUpperCase()] }], text: v.get(txa, 2, { comp: 2 }) || DOCUMENT_TYPE[typeCode.toUpperCase()] }
      : codeable(v, txa, 2);
  const cancelled = ctx.trigger === 'T11';
  const availability = v.get(txa, 19).toUpperCase();
  const completion = v.get(txa, 17).toUpperCase();
  const identifier: Identifier[] = [];
  const placer = v.get(txa, 14) || v.get(orc, 2);
  const filler = v.get(txa, 15) || v.get(orc, 3);
  const doc: DocumentReference = {
    resourceType: 'DocumentReference',
    id: `document-${number}`,
    ...(sent ? { masterIdentifier: { system: sourceIdentifierSystem(system, 'document'), value: sent } } : {}),
    status: cancelled ? 'entered-in-error' : (AVAILABILITY[availability] ?? 'current'),
    ...(DOC_STATUS[completion] ? { docStatus: DOC_STATUS[completion] } : {}),
    ...(type ? { type } : {}),
    subject: { reference: `Patient/${mrn}` },
    content: [],
  };
  if (placer) identifier.push({ system: sourceIdentifierSystem(system, 'placer'), value: placer });
  if (filler) identifier.push({ system: sourceIdentifierSystem(system, 'filler'), value: filler });
  if (identifier.length) doc.identifier = identifier;
  const activity = annotatingTime(v, txa, 4, 'TXA-4', notes);
  const origination = annotatingTime(v, txa, 6, 'TXA-6', notes);
  const edited = annotatingTime(v, txa, 8, 'TXA-8', notes);
  // DocumentReference.date is when the reference was made: the last edit, else the origination, else the message.
  doc.date = edited?.instant ?? origination?.instant ?? activity?.instant ?? ctx.sourceTime;
  if (activity) doc.context = { period: { start: activity.dateTime } };
  const authors: Array<Reference<Practitioner>> = [...v.repetitions(txa, 9), ...v.repetitions(txa, 5)]
    .map((r) => practitioner(v, r))
    .filter((r) => r !== undefined)
    .filter((r, i, all) => all.findIndex((x) => x.display === r.display && x.identifier?.value === r.identifier?.value) === i);
  if (authors.length) doc.author = authors;
  const authenticator = v.repetitions(txa, 22)[0] ?? v.repetitions(txa, 10)[0];
  if (authenticator && completion !== 'DI' && completion !== 'IP' && completion !== 'IN') {
    const a = practitioner(v, authenticator);
    if (a) doc.authenticator = a;
  }
  const parent = v.get(txa, 13);
  if (parent) {
    // T05/T06 addendum appends to its parent; T09/T10 replacement replaces it.
    const code = ['T09', 'T10'].includes(ctx.trigger) ? 'replaces' : 'appends';
    doc.relatesTo = [{ code, target: { reference: `DocumentReference/document-${parent}` } }];
  }
  const title = type?.text ?? type?.coding?.[0]?.display;
  const presentation = v.get(txa, 3).toUpperCase();
  const lines: string[] = [];
  for (const obx of obxs) {
    const valueType = v.get(obx, 2).toUpperCase();
    if (valueType === 'ED') doc.content.push({ attachment: edAttachment(ctx, obx) });
    else if (valueType === 'RP') {
      const url = v.get(obx, 5);
      if (url) doc.content.push({ attachment: { url, contentType: mimeType(v.get(obx, 5, { comp: 3 }), v.get(obx, 5, { comp: 4 })) } });
    } else if (valueType === 'CE' || valueType === 'CWE') {
      const text = v.get(obx, 5, { comp: 2 }) || v.get(obx, 5);
      if (text) lines.push(text);
    } else for (const rep of v.repetitions(obx, 5)) lines.push(unescapeHl7(rep, v.delimiters));
  }
  if (lines.length) {
    const text = lines.join('\n').replace(/\s+$/, '');
    doc.content.unshift({ attachment: { contentType: textContentType(presentation), data: Buffer.from(text, 'utf8').toString('base64'), ...(title ? { title } : {}) } });
  }
  if (doc.content.length === 0) {
    // R4 requires content; a notification says the document exists without carrying it.
    doc.content.push({ attachment: { title: cancelled ? 'document cancelled (MDM^T11); content not sent' : `content not sent with this notification (${ctx.event})` } });
  }
  // R4 DocumentReference has no note: a time left out is said in the description, beside TXA-16 file name.
  const description = [v.get(txa, 16), ...notes.map((n) => n.text)].filter(Boolean).join('; ');
  if (description) doc.description = description;
  return doc;
}
