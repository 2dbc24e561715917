/**
 * Whom a quarantined item is about, read leniently from its raw text: an item was quarantined
 * because it could not be read whole, but its patient identifiers usually still can be. The
 * quarantine service (quarantine-service.ts) uses them to withhold a restricted person's items and
 * to name the person in the audit. Pure; never throws (text it cannot read names nobody).
 *
 * HL7 v2: each PID's hospital number (PID-3, typed MR or PI, else the first that is not the NHS
 * number) and NHS number, and PD1-12 protection indicator Y. FHIR: each Patient's id, NHS number
 * and restricted meta.security label, and `Patient/<id>` subjects. CSV: the identity columns of
 * the row's contract (named by the message id `<contract>:<row id>`).
 */
import { parseFields } from './csv/adapter.ts';
import { CSV_CONTRACTS } from './csv/contracts.ts';
import { restrictedLabelOf } from './model.ts';

export interface QuarantineSubject {
  /** Source identities the item names: its source system and the person's id there. */
  identities: { system: string; id: string }[];
  /** NHS numbers the item names (digits only, not checked). */
  nhsNumbers: string[];
  /** The item itself flags its person restricted (PD1-12 Y, meta.security R or V). */
  flaggedRestricted: boolean;
}

export interface QuarantinedText {
  format: string;
  source_system: string | null;
  message_id: string | null;
  raw: string;
}

const NOBODY: QuarantineSubject = { identities: [], nhsNumbers: [], flaggedRestricted: false };
const NHS_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
const NHS_OID = '2.16.840.1.113883.2.1.4.1';
/** Most subjects read from one item (a batch file of thousands of messages is one item). */
const MAX_SUBJECTS = 50;

export function quarantineSubject(item: QuarantinedText): QuarantineSubject {
  try {
    const out = item.format === 'hl7v2' ? fromHl7(item) : item.format === 'fhir' ? fromFhir(item) : item.format === 'csv' ? fromCsv(item) : NOBODY;
    return { identities: dedupe(out.identities, (i) => `${i.system}|${i.id}`).slice(0, MAX_SUBJECTS), nhsNumbers: [...new Set(out.nhsNumbers)].slice(0, MAX_SUBJECTS), flaggedRestricted: out.flaggedRestricted };
  } catch {
    return NOBODY;
  }
}

function dedupe<T>(xs: T[], key: (x: T) => string): T[] {
  const seen = new Set<string>();
  return xs.filter((x) => (seen.has(key(x)) ? false : (seen.add(key(x)), true)));
}

function fromHl7(item: QuarantinedText): QuarantineSubject {
  const out: QuarantineSubject = { identities: [], nhsNumbers: [], flaggedRestricted: false };
  let fs = '|';
  let cs = '^';
  let rs = '~';
  let system = item.source_system;
  for (const line of item.raw.split(/\r\n|\r|\n/)) {
    if (line.startsWith('MSH') && line.length > 7) {
      [fs, cs, rs] = [line[3]!, line[4]!, line[5]!];
      const f = line.split(fs);
      // MSH-1 is the separator itself, so MSH-n is f[n - 1].
      const sender = (f[3] ?? '').split(cs)[0] || (f[2] ?? '').split(cs)[0];
      if (!item.source_system && sender) system = `hl7:${sender.trim()}`;
      continue;
    }
    const f = line.split(fs);
    if (f[0] === 'PID') {
      let hospital: string | undefined;
      let first: string | undefined;
      for (const rep of (f[3] ?? '').split(rs)) {
        const c = rep.split(cs);
        const id = (c[0] ?? '').trim();
        if (!id) continue;
        const type = (c[4] ?? '').toUpperCase();
        const authority = (c[3] ?? '').toUpperCase();
        if (['NH', 'NHS', 'NNGBR'].includes(type) || authority.split('&').some((a) => a === 'NHS' || a === NHS_OID)) {
          out.nhsNumbers.push(id.replace(/\s+/g, ''));
          continue;
        }
        if (!hospital && (type === 'MR' || type === 'PI')) hospital = id;
        first ??= id;
      }
      const id = hospital ?? first;
      if (id && system) out.identities.push({ system, id });
    } else if (f[0] === 'PD1' && (f[12] ?? '').trim().toUpperCase() === 'Y') {
      out.flaggedRestricted = true;
    }
  }
  return out;
}

function fromFhir(item: QuarantinedText): QuarantineSubject {
  const out: QuarantineSubject = { identities: [], nhsNumbers: [], flaggedRestricted: false };
  // One JSON document (a Bundle, a resource), else NDJSON (Bulk Data: one resource a line).
  let values: unknown[];
  try {
    values = [JSON.parse(item.raw)];
  } catch {
    values = item.raw.split(/\r?\n/).flatMap((line) => {
      try {
        return line.trim() ? [JSON.parse(line) as unknown] : [];
      } catch {
        return [];
      }
    });
  }
  for (const value of values) {
    const root = value as { resourceType?: unknown; entry?: unknown; meta?: { source?: unknown } } | null;
    if (!root || typeof root !== 'object') continue;
    const source = typeof root.meta?.source === 'string' ? root.meta.source : null;
    const system = item.source_system ?? source;
    const resources = root.resourceType === 'Bundle' && Array.isArray(root.entry) ? root.entry.map((e) => (e as { resource?: unknown } | null)?.resource) : [root];
    for (const r of resources) {
      const res = r as { resourceType?: unknown; id?: unknown; identifier?: unknown; subject?: unknown; patient?: unknown } | null;
      if (!res || typeof res !== 'object') continue;
      if (res.resourceType === 'Patient') {
        if (restrictedLabelOf(res)) out.flaggedRestricted = true;
        if (system && (typeof res.id === 'string' || typeof res.id === 'number')) out.identities.push({ system, id: String(res.id) });
        for (const i of Array.isArray(res.identifier) ? res.identifier : []) {
          const { system: s, value: v } = (i ?? {}) as { system?: unknown; value?: unknown };
          if (s === NHS_SYSTEM && typeof v === 'string') out.nhsNumbers.push(v.replace(/\s+/g, ''));
        }
        continue;
      }
      for (const ref of [res.subject, res.patient]) {
        const m = /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(String((ref as { reference?: unknown } | null)?.reference ?? ''));
        if (m && system) out.identities.push({ system, id: m[1]! });
      }
    }
  }
  return out;
}

function fromCsv(item: QuarantinedText): QuarantineSubject {
  const contract = item.message_id ? CSV_CONTRACTS.find((c) => item.message_id!.startsWith(`${c.name}:`)) : undefined;
  if (!contract) return NOBODY;
  const lines = item.raw.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => l.trim());
  if (!lines.length) return NOBODY;
  let names = contract.columns.map((c) => c.name);
  let rows = lines;
  const head = parseFields(lines[0]!).map((h) => h.trim());
  if (head.includes(contract.identityColumns.id)) {
    names = head;
    rows = lines.slice(1);
  }
  const out: QuarantineSubject = { identities: [], nhsNumbers: [], flaggedRestricted: false };
  const idAt = names.indexOf(contract.identityColumns.id);
  const nhsAt = contract.identityColumns.nhsNumber ? names.indexOf(contract.identityColumns.nhsNumber) : -1;
  const system = item.source_system ?? contract.system;
  for (const row of rows) {
    const cells = parseFields(row);
    const id = idAt >= 0 ? cells[idAt]?.trim() : undefined;
    if (id) out.identities.push({ system, id });
    const nhs = nhsAt >= 0 ? cells[nhsAt]?.replace(/\s+/g, '') : undefined;
    if (nhs) out.nhsNumbers.push(nhs);
  }
  return out;
}
