/**
 * Laboratory and other results (ORU^R01/R30/R31/R32, OUL^R21–R24; HL7 v2.3–2.8 chapter 7) →
 * DiagnosticReport and Observations, each under the patient of its PATIENT_RESULT group. Pure.
 *
 * The message is read in order: a PID starts a patient, an OBR an order (its report) under the
 * current patient, an OBX a result under the current order, an NTE after an OBX is a note on it
 * (Observation.note) and an NTE after the OBR, before its first OBX, a note on the report (R4 has
 * no DiagnosticReport.note: the R5 element is carried by its cross-version extension,
 * `REPORT_NOTE_EXTENSION`).
 * Keys (replays and corrections reproduce them):
 * - report: OBR-3 filler order number, else ORC-3, else OBR-2 / ORC-2 placer (`placer-<n>`),
 *   else `<MSH-10>-<OBR-1 or position>`; when several OBRs of one message share the number
 *   (newborn-screening panels do), each is `<number>-<OBR-4 code>`;
 * - result: `<report>-<OBX-1>`; when any OBX-1 under the order is empty or repeated, every
 *   result of that order is keyed by its position instead (`<report>-<n>`, 1-based).
 * A correction (OBX-11 C, OBR-25 C) carries the same keys with a later MSH-7, so it replaces
 * the earlier result.
 */
import type { Annotation, Attachment, CodeableConcept, DiagnosticReport, Observation, ObservationReferenceRange, Quantity } from '@medplum/fhirtypes';
import type { ItemResource, SourceIdentity } from '../model.ts';
import { hl7Date, hl7Time, unescapeHl7, type Hl7Segment, type Hl7View } from './hl7-text.ts';
import { CLINICAL_SEGMENTS, mapClinicalSegments } from './clinical.ts';
import { ContentError, HL7_NULL, annotatingTime, codeable, codeableFromRep, fail, itemResource, sourceIdentifierSystem, type MapContext } from './mapping.ts';
import { edAttachment, mimeType } from './documents.ts';
import { distinctIdentities, groupIdentity } from './patient.ts';
import { interpretation, REPORT_STATUS, RESULT_STATUS } from './tables.ts';
import type { Mapped } from './adt.ts';

const UCUM = 'http://unitsofmeasure.org';
/** R5 DiagnosticReport.note in R4 (https://hl7.org/fhir/uv/xver-r5.r4/): comments on the whole report. */
export const REPORT_NOTE_EXTENSION = 'http://hl7.org/fhir/5.0/StructureDefinition/extension-DiagnosticReport.note';

interface Order {
  obr: Hl7Segment;
  /** ORC before the OBR (ORU), or straight after it (OUL). */
  orc?: Hl7Segment;
  obxs: Array<{ obx: Hl7Segment; notes: string[] }>;
  /** NTE segments after the OBR and before its first OBX: comments on the report. */
  notes: string[];
  mrn: string;
}

interface PatientResults {
  identity: SourceIdentity;
  orders: Order[];
  loose: Array<{ obx: Hl7Segment; notes: string[] }>;
  clinical: Hl7Segment[];
}

export function mapResults(ctx: MapContext): Mapped {
  const { v, event, sourceTime, system } = ctx;
  const patients: PatientResults[] = [];
  let current: PatientResults | undefined;
  let order: Order | undefined;
  let lastObx: { notes: string[] } | undefined;
  let pendingOrc: Hl7Segment | undefined;
  let anyObr = false;
  const segs = v.message.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    switch (s.name) {
      case 'PID': {
        current = { identity: groupIdentity(v, system, segs, i, ctx.version), orders: [], loose: [], clinical: [] };
        patients.push(current);
        order = undefined;
        lastObx = undefined;
        break;
      }
      case 'ORC':
        // In OUL the ORC follows its OBR; in ORU it comes before.
        if (order && !order.orc && order.obxs.length === 0) order.orc = s;
        else pendingOrc = s;
        break;
      case 'OBR':
        anyObr = true;
        if (!current) fail(`${event} has no PID segment before OBR ${v.get(s, 1) || s.position}: the patient the result is about`);
        order = { obr: s, obxs: [], notes: [], mrn: current.identity.id, ...(pendingOrc ? { orc: pendingOrc } : {}) };
        pendingOrc = undefined;
        current.orders.push(order);
        lastObx = undefined;
        break;
      case 'OBX': {
        const entry = { obx: s, notes: [] as string[] };
        if (order) order.obxs.push(entry);
        else if (current) current.loose.push(entry);
        lastObx = entry;
        break;
      }
      case 'NTE':
        if (lastObx) lastObx.notes.push(v.text(s, 3));
        else if (order) order.notes.push(v.text(s, 3));
        break;
      default:
        if (current && CLINICAL_SEGMENTS.has(s.name)) current.clinical.push(s);
    }
  }
  if (patients.length === 0) fail(`${event} has no PID segment`);
  // OBR is required in ORU_R01, yet some senders (bedside devices, home monitoring) send OBX
  // straight after PID: those results are kept, keyed by the message, with no report.
  if (!anyObr && !patients.some((p) => p.loose.length)) fail(`${event} has no OBR segment (and no OBX: no result to record)`);

  const identities = distinctIdentities(patients);
  const many = identities.length > 1;
  const resources: ItemResource[] = [];

  const allOrders = patients.flatMap((p) => p.orders);
  const ids = reportIds(ctx, allOrders);
  allOrders.forEach((o, n) => {
    const { report, observations } = mapOrder(ctx, o, ids[n]!);
    resources.push(itemResource(report, sourceTime, many ? o.mrn : undefined));
    for (const obs of observations) resources.push(itemResource(obs, sourceTime, many ? o.mrn : undefined));
  });
  for (const p of patients) {
    // Results outside any order (specimen observations in OUL): keyed by the message, as nothing else names them.
    p.loose.forEach(({ obx, notes }) => {
      resources.push(itemResource(mapObservation(v, obx, `${ctx.messageId}-OBX${obx.position}`, { reference: `Patient/${p.identity.id}` }, undefined, notes, []), sourceTime, many ? p.identity.id : undefined));
    });
    if (p.clinical.length) resources.push(...mapClinicalSegments(p.clinical, { ctx, mrn: p.identity.id, ...(many ? { subject: p.identity.id } : {}) }));
  }
  return { identities, resources };
}

/** The report key of each order (see the file comment). */
function reportIds(ctx: MapContext, orders: Order[]): Array<{ id: string; kind: 'filler' | 'placer' | 'none' }> {
  const { v } = ctx;
  const base = orders.map((o, n) => {
    const filler = v.get(o.obr, 3) || v.get(o.orc, 3);
    if (filler) return { id: filler, kind: 'filler' as const };
    const placer = v.get(o.obr, 2) || v.get(o.orc, 2);
    if (placer) return { id: `placer-${placer}`, kind: 'placer' as const };
    return { id: `${ctx.messageId}-${v.get(o.obr, 1) || n + 1}`, kind: 'none' as const };
  });
  const count = new Map<string, number>();
  for (const b of base) count.set(b.id, (count.get(b.id) ?? 0) + 1);
  const used = new Set<string>();
  return base.map((b, n) => {
    let id = b.id;
    if ((count.get(b.id) ?? 0) > 1) {
      const service = v.get(orders[n]!.obr, 4, { comp: 1 }) || v.get(orders[n]!.obr, 4, { comp: 2 });
      id = service ? `${b.id}-${service}` : b.id;
    }
    for (let k = 2; used.has(id); k++) id = `${b.id}-${k}`;
    used.add(id);
    return { id, kind: b.kind };
  });
}

function mapOrder(ctx: MapContext, o: Order, key: { id: string; kind: 'filler' | 'placer' | 'none' }): { report: DiagnosticReport; observations: Observation[] } {
  const { v, system } = ctx;
  const { obr } = o;
  const subject = { reference: `Patient/${o.mrn}` };
  const orderNotes: Annotation[] = [];
  const code: CodeableConcept = codeable(v, obr, 4) ?? { text: 'unnamed report (OBR-4 empty)' };
  const observed = annotatingTime(v, obr, 7, 'OBR-7', orderNotes);
  const issued = annotatingTime(v, obr, 22, 'OBR-22', orderNotes);
  const setIds = o.obxs.map(({ obx }) => v.get(obx, 1));
  const bySetId = setIds.every(Boolean) && new Set(setIds).size === setIds.length;
  const observations = o.obxs.map(({ obx, notes }, n) =>
    mapObservation(v, obx, `${key.id}-${bySetId ? setIds[n] : n + 1}`, subject, observed?.dateTime, notes, orderNotes),
  );
  const section = v.get(obr, 24).toUpperCase();
  const filler = v.get(obr, 3) || v.get(o.orc, 3);
  const placer = v.get(obr, 2) || v.get(o.orc, 2);
  const identifier = [
    ...(filler ? [{ system: sourceIdentifierSystem(system, 'filler'), value: filler }] : []),
    ...(placer && key.kind !== 'filler' ? [{ system: sourceIdentifierSystem(system, 'placer'), value: placer }] : []),
  ];
  const report: DiagnosticReport = {
    resourceType: 'DiagnosticReport',
    id: key.id,
    ...(identifier.length ? { identifier } : {}),
    status: REPORT_STATUS[v.get(obr, 25).toUpperCase()] ?? 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: section || 'LAB', ...(section && section !== 'LAB' ? {} : { display: 'Laboratory' }) }] }],
    code,
    subject,
    ...(observed ? { effectiveDateTime: observed.dateTime } : {}),
    ...(issued ? { issued: issued.instant } : {}),
    ...(observations.length ? { result: observations.map((x) => ({ reference: `Observation/${x.id}` })) } : {}),
  };
  // OBX of type ED under the report: the documents themselves (a PDF of the report, an image).
  const forms: Attachment[] = [];
  const formNotes: string[] = [];
  for (const { obx } of o.obxs) {
    if (v.get(obx, 2).toUpperCase() !== 'ED' || v.rawField(obx, 5) === '') continue;
    try {
      const form = edAttachment(ctx, obx);
      if (form.data) forms.push(form); // an ED with its data left out ("^TEXT^html^Base64") holds nothing
    } catch (err) {
      if (!(err instanceof ContentError)) throw err;
      formNotes.push(`${err.message}; left out`);
    }
  }
  if (forms.length) report.presentedForm = forms;
  const reportNotes = [...o.notes.filter(Boolean), ...formNotes];
  if (reportNotes.length) report.extension = reportNotes.map((text) => ({ url: REPORT_NOTE_EXTENSION, valueAnnotation: { text } }));
  return { report, observations };
}

const NUMBER = /^([<>]=?|=)?\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))$/;

/** A number with no comparator in front (an SN component). */
function isPlainNumber(s: string): boolean {
  return NUMBER.test(s) && !/^[<>=]/.test(s);
}

function quantity(value: string, unit: string, ucum: boolean): Quantity | undefined {
  const m = NUMBER.exec(value.trim());
  if (!m) return undefined;
  const q: Quantity = { value: Number(m[2]) };
  if (m[1] && m[1] !== '=') q.comparator = m[1] as Quantity['comparator'];
  if (unit) {
    q.unit = unit;
    if (ucum) {
      q.system = UCUM;
      q.code = unit;
    }
  }
  return q;
}

function referenceRange(text: string, unit: string, ucum: boolean): ObservationReferenceRange {
  const q = (n: string): Quantity => ({ value: Number(n), ...(unit ? { unit } : {}), ...(unit && ucum ? { system: UCUM, code: unit } : {}) });
  const num = '(-?\\d+(?:\\.\\d+)?)';
  const t = text.trim().replace(/^\[|\]$/g, '');
  let m = new RegExp(`^${num}\\s*(?:-|–|to)\\s*${num}$`).exec(t);
  if (m) return { low: q(m[1]!), high: q(m[2]!), text };
  m = new RegExp(`^<=?\\s*${num}$`).exec(t);
  if (m) return { high: q(m[1]!), text };
  m = new RegExp(`^>=?\\s*${num}$`).exec(t);
  if (m) return { low: q(m[1]!), text };
  return { text };
}

/** The whole OBX-5 as text: every repetition a line (TX, FT), separators inside a value kept as sent. */
function valueText(v: Hl7View, obx: Hl7Segment): string {
  return v.repetitions(obx, 5).map((r) => unescapeHl7(r, v.delimiters).trim()).join('\n');
}

/**
 * OBX → Observation. Value by OBX-2: NM and SN as quantities (SN ratios and ranges as such),
 * CE/CWE/CNE as codes, DT/TS/DTM as dates, ST/TX/FT and every other type (ED, RP, NA …) as text.
 * A value that does not fit its type (NM "see comment") is kept as text with a note: a person
 * cannot correct a laboratory's result, so it must not hold back the rest of the report.
 */
/** One OBX → Observation (OBX-2 value types, units, range, flags, status, OBX-14 time, NTE notes). */
export function mapObservation(v: Hl7View, obx: Hl7Segment, id: string, subject: { reference: string }, fallbackTime: string | undefined, ntes: string[], orderNotes: Annotation[]): Observation {
  const notes: Annotation[] = [...orderNotes];
  const code: CodeableConcept = codeable(v, obx, 3) ?? { text: 'unnamed result (OBX-3 empty)' };
  const valueType = v.get(obx, 2).toUpperCase();
  const unit = v.get(obx, 6, { comp: 1 }) || v.get(obx, 6, { comp: 2 });
  const ucum = /^UCUM$/i.test(v.get(obx, 6, { comp: 3 }));
  const obs: Observation = {
    resourceType: 'Observation',
    id,
    status: RESULT_STATUS[v.get(obx, 11).toUpperCase()] ?? 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
    code,
    subject,
  };
  // `""` is HL7's explicit null (the value deleted, as with OBX-11 D): no value, not the two quote marks.
  if (v.rawField(obx, 5) !== '' && v.rawField(obx, 5) !== HL7_NULL) {
    switch (valueType) {
      case 'NM': {
        const q = quantity(v.get(obx, 5), unit, ucum);
        if (q) obs.valueQuantity = q;
        else {
          obs.valueString = valueText(v, obx);
          notes.push({ text: `OBX-5 ${JSON.stringify(v.get(obx, 5))} is not a number although OBX-2 says NM; kept as text` });
        }
        break;
      }
      case 'SN': {
        // SN: comparator ^ number ^ separator/suffix ^ number (e.g. <^5, ^1^:^128, ^10^-^20, ^2^+).
        const [cmp, n1, sep, n2] = [1, 2, 3, 4].map((c) => v.get(obx, 5, { comp: c }));
        if ((sep === ':' || sep === '/') && isPlainNumber(n1!) && isPlainNumber(n2!)) obs.valueRatio = { numerator: { value: Number(n1) }, denominator: { value: Number(n2) } };
        else if (sep === '-' && isPlainNumber(n1!) && isPlainNumber(n2!)) obs.valueRange = { low: { value: Number(n1), ...(unit ? { unit } : {}) }, high: { value: Number(n2), ...(unit ? { unit } : {}) } };
        else if (!sep && !n2 && isPlainNumber(n1!) && (!cmp || ['<', '>', '<=', '>=', '='].includes(cmp))) obs.valueQuantity = quantity(`${cmp}${n1}`, unit, ucum)!;
        else obs.valueString = [cmp, n1, sep, n2].join('').trim();
        break;
      }
      case 'CE':
      case 'CWE':
      case 'CNE':
      case 'CF': {
        const concept = codeableFromRep(v, v.repetitions(obx, 5)[0]);
        if (concept) obs.valueCodeableConcept = concept;
        else obs.valueString = valueText(v, obx);
        break;
      }
      case 'DT':
      case 'TS':
      case 'DTM': {
        const raw = v.get(obx, 5);
        const t = valueType === 'DT' ? hl7Date(raw) : hl7Time(raw)?.dateTime;
        if (t) obs.valueDateTime = t;
        else {
          obs.valueString = valueText(v, obx);
          notes.push({ text: `OBX-5 ${JSON.stringify(raw)} is not a valid ${valueType === 'DT' ? 'date' : 'date/time'}; kept as text` });
        }
        break;
      }
      case 'ED': {
        // Encapsulated data (a PDF report, an image): R4 Observation has no Attachment value, so the
        // document is the report's presentedForm (mapOrder); the result says what it holds.
        const mime = mimeType(v.get(obx, 5, { comp: 2 }), v.get(obx, 5, { comp: 3 }));
        notes.push({ text: `OBX-5 holds encapsulated data (${mime})` });
        break;
      }
      case 'RP': {
        // Reference pointer: RP-1 the pointer (a URL or a key in RP-2's application), RP-3/4 its type.
        const pointer = v.get(obx, 5, { comp: 1 });
        if (pointer) obs.valueString = pointer;
        else obs.valueString = valueText(v, obx);
        break;
      }
      default:
        // ST, TX, FT (repetitions are lines of one text), and types Bevan does not interpret.
        obs.valueString = valueText(v, obx);
    }
  }
  const range = v.get(obx, 7);
  if (range) obs.referenceRange = [referenceRange(range, unit, ucum)];
  const flags = v.repetitions(obx, 8).map((r) => interpretation(v.fromRepetition(r, 1))).filter((c) => c !== undefined);
  if (flags.length) obs.interpretation = flags.map((coding) => ({ coding: [coding] }));
  const when = annotatingTime(v, obx, 14, `OBX-14`, notes);
  const effective = when?.dateTime ?? fallbackTime;
  if (effective) obs.effectiveDateTime = effective;
  for (const text of ntes) if (text) notes.push({ text });
  if (notes.length) obs.note = notes;
  return obs;
}
