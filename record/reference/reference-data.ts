/**
 * The locality reference data the record reads (the CSV files beside this one): organisation
 * names by ODS code, hospital points of care and services, local laboratory codes mapped to
 * national ones, observation codes → groups, and the coded values that record a death. Data, not
 * code: a locality changes the files, not Bevan. Read once and checked; every problem is listed.
 */
import { readFileSync } from 'node:fs';

export const ORGANISATION_KINDS = ['hospital-trust', 'hospital-site', 'community-provider', 'mental-health-trust', 'social-care', 'gp-practice', 'other'] as const;
export type OrganisationKind = (typeof ORGANISATION_KINDS)[number];

/** FHIR observation-category codes (https://hl7.org/fhir/R4/codesystem-observation-category.html), plus `other`. */
export const OBSERVATION_GROUPS = ['vital-signs', 'laboratory', 'social-history', 'survey', 'exam', 'imaging', 'procedure', 'therapy', 'activity', 'other'] as const;
export type ObservationGroupKey = (typeof OBSERVATION_GROUPS)[number];

export const DEATH_ELEMENTS = ['discharge-disposition', 'assessment-outcome'] as const;
export type DeathElement = (typeof DEATH_ELEMENTS)[number];

export interface ReferenceOrganisation {
  odsCode: string;
  name: string;
  kind: OrganisationKind;
  partOf: string | null;
  /** Source system keys the organisation runs. */
  sourceSystems: string[];
}

export interface NationalCode {
  system: string;
  code: string;
  display: string;
}

export interface ReferenceData {
  organisations: ReadonlyMap<string, ReferenceOrganisation>;
  /** Source system key → the organisation running it (from `source_systems`). */
  organisationOfSource: ReadonlyMap<string, ReferenceOrganisation>;
  /** `<source system>\u0000<local code>` → national code. */
  labCodes: ReadonlyMap<string, NationalCode>;
  /** `<system>|<code>` → group. */
  observationGroups: ReadonlyMap<string, ObservationGroupKey>;
  /** `<source system or *>\u0000<element>\u0000<system>\u0000<code>` → display. Codes of assessment outcomes are lower-cased text. */
  deathCodes: ReadonlyMap<string, string>;
  /** `<organisation>\u0000<code>` → point of care. */
  locations: ReadonlyMap<string, { name: string; kind: string }>;
  /** `<source system or *>\u0000<code>` → hospital service name. */
  services: ReadonlyMap<string, string>;
}

const DIR = new URL('./', import.meta.url);

/**
 * A reference CSV as rows of named values: RFC 4180 fields (quotes for commas and quotes), a
 * header line, and `#` comment lines before or between rows (the files explain themselves).
 */
export function parseReferenceCsv(text: string, file: string): { rows: Record<string, string>[]; problems: string[] } {
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let header: string[] | null = null;
  const rows: Record<string, string>[] = [];
  lines.forEach((line, i) => {
    if (!line.trim() || line.startsWith('#')) return;
    const fields = splitCsvLine(line);
    if (!fields) {
      problems.push(`${file} line ${i + 1}: an unclosed quote`);
      return;
    }
    if (!header) {
      header = fields.map((f) => f.trim());
      return;
    }
    if (fields.length !== header.length) {
      problems.push(`${file} line ${i + 1}: ${fields.length} fields, the header has ${header.length}`);
      return;
    }
    const row: Record<string, string> = {};
    header.forEach((h, n) => (row[h] = fields[n]!.trim()));
    rows.push(row);
  });
  if (!header) problems.push(`${file}: no header line`);
  return { rows, problems };
}

function splitCsvLine(line: string): string[] | null {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true;
      field = '';
    } else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  if (quoted) return null;
  out.push(field);
  return out;
}

function need(row: Record<string, string>, columns: string[], file: string, n: number, problems: string[]): boolean {
  const missing = columns.filter((c) => row[c] === undefined || row[c] === '');
  if (missing.length) problems.push(`${file} row ${n + 1}: ${missing.join(', ')} empty`);
  return missing.length === 0;
}

/** Reads and checks the reference files of a folder (default: the ones shipped beside this module). Throws listing every problem. */
export function loadReferenceData(dir: URL = DIR): ReferenceData {
  const problems: string[] = [];
  const read = (name: string, columns: string[]) => {
    let text: string;
    try {
      text = readFileSync(new URL(name, dir), 'utf8');
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
      return [];
    }
    const parsed = parseReferenceCsv(text, name);
    problems.push(...parsed.problems);
    const first = parsed.rows[0];
    if (first) for (const c of columns) if (!(c in first)) problems.push(`${name}: no column ${c}`);
    return parsed.rows;
  };

  const organisations = new Map<string, ReferenceOrganisation>();
  const organisationOfSource = new Map<string, ReferenceOrganisation>();
  read('organisations.csv', ['ods_code', 'name', 'kind', 'part_of', 'source_systems']).forEach((r, n) => {
    if (!need(r, ['ods_code', 'name', 'kind'], 'organisations.csv', n, problems)) return;
    const code = r.ods_code!.toUpperCase();
    if (!/^[A-Z0-9-]{3,12}$/.test(code)) problems.push(`organisations.csv row ${n + 1}: ods_code ${JSON.stringify(r.ods_code)} is not an ODS-style code`);
    if (!(ORGANISATION_KINDS as readonly string[]).includes(r.kind!)) problems.push(`organisations.csv row ${n + 1}: kind ${JSON.stringify(r.kind)} is not one of ${ORGANISATION_KINDS.join(', ')}`);
    if (organisations.has(code)) problems.push(`organisations.csv row ${n + 1}: ${code} is listed twice`);
    const org: ReferenceOrganisation = { odsCode: code, name: r.name!, kind: r.kind as OrganisationKind, partOf: r.part_of || null, sourceSystems: (r.source_systems ?? '').split(/\s+/).filter(Boolean) };
    organisations.set(code, org);
    for (const s of org.sourceSystems) {
      if (organisationOfSource.has(s)) problems.push(`organisations.csv row ${n + 1}: source system ${s} is run by two organisations`);
      organisationOfSource.set(s, org);
    }
  });
  for (const o of organisations.values()) if (o.partOf && !organisations.has(o.partOf.toUpperCase())) problems.push(`organisations.csv: ${o.odsCode} is part of ${o.partOf}, which is not listed`);

  const labCodes = new Map<string, NationalCode>();
  read('lab-code-map.csv', ['source_system', 'local_code', 'system', 'code', 'display']).forEach((r, n) => {
    if (!need(r, ['source_system', 'local_code', 'system', 'code', 'display'], 'lab-code-map.csv', n, problems)) return;
    if (!NATIONAL_SYSTEMS.has(r.system!)) problems.push(`lab-code-map.csv row ${n + 1}: system ${r.system} is not SNOMED CT (http://snomed.info/sct) or LOINC (http://loinc.org)`);
    const k = `${r.source_system}\u0000${r.local_code}`;
    if (labCodes.has(k)) problems.push(`lab-code-map.csv row ${n + 1}: ${r.source_system} ${r.local_code} is mapped twice`);
    labCodes.set(k, { system: r.system!, code: r.code!, display: r.display! });
  });

  const observationGroups = new Map<string, ObservationGroupKey>();
  read('observation-groups.csv', ['system', 'code', 'group', 'display']).forEach((r, n) => {
    if (!need(r, ['system', 'code', 'group'], 'observation-groups.csv', n, problems)) return;
    if (!(OBSERVATION_GROUPS as readonly string[]).includes(r.group!)) problems.push(`observation-groups.csv row ${n + 1}: group ${JSON.stringify(r.group)} is not one of ${OBSERVATION_GROUPS.join(', ')}`);
    observationGroups.set(`${r.system}|${r.code}`, r.group as ObservationGroupKey);
  });

  const deathCodes = new Map<string, string>();
  read('death-codes.csv', ['source_system', 'element', 'system', 'code', 'display']).forEach((r, n) => {
    if (!need(r, ['source_system', 'element', 'code'], 'death-codes.csv', n, problems)) return;
    if (!(DEATH_ELEMENTS as readonly string[]).includes(r.element!)) problems.push(`death-codes.csv row ${n + 1}: element ${JSON.stringify(r.element)} is not one of ${DEATH_ELEMENTS.join(', ')}`);
    const code = r.element === 'assessment-outcome' ? r.code!.toLowerCase() : r.code!;
    deathCodes.set(deathKey(r.source_system!, r.element as DeathElement, r.system ?? '', code), r.display || r.code!);
  });

  const locations = new Map<string, { name: string; kind: string }>();
  read('locations.csv', ['organisation', 'code', 'name', 'kind']).forEach((r, n) => {
    if (!need(r, ['organisation', 'code', 'name'], 'locations.csv', n, problems)) return;
    locations.set(`${r.organisation!.toUpperCase()}\u0000${r.code!.toUpperCase()}`, { name: r.name!, kind: r.kind ?? '' });
  });

  const services = new Map<string, string>();
  read('hospital-services.csv', ['source_system', 'code', 'name']).forEach((r, n) => {
    if (!need(r, ['source_system', 'code', 'name'], 'hospital-services.csv', n, problems)) return;
    services.set(`${r.source_system}\u0000${r.code!.toUpperCase()}`, r.name!);
  });

  if (problems.length) throw new Error(`reference data (${new URL('.', dir).pathname}): ${problems.join('; ')}`);
  return { organisations, organisationOfSource, labCodes, observationGroups, deathCodes, locations, services };
}

const NATIONAL_SYSTEMS = new Set(['http://snomed.info/sct', 'http://loinc.org']);

export function deathKey(sourceSystem: string, element: DeathElement, system: string, code: string): string {
  return `${sourceSystem}\u0000${element}\u0000${system}\u0000${code}`;
}

let cached: ReferenceData | null = null;

/** The shipped reference data, read on first use. */
export function defaultReferenceData(): ReferenceData {
  return (cached ??= loadReferenceData());
}

/** The national code a source system's local code maps to, if the table says so. */
export function nationalCodeFor(ref: ReferenceData, sourceSystem: string, localCode: string): NationalCode | undefined {
  return ref.labCodes.get(`${sourceSystem}\u0000${localCode}`);
}

/** What a coded value means as a death record, for this source (its own row first, then `*`), or undefined. */
export function deathMeaning(ref: ReferenceData, sourceSystem: string, element: DeathElement, system: string, code: string): string | undefined {
  const c = element === 'assessment-outcome' ? code.trim().toLowerCase() : code;
  return ref.deathCodes.get(deathKey(sourceSystem, element, system, c)) ?? ref.deathCodes.get(deathKey('*', element, system, c));
}

/** A hospital service's name (HL7 PV1-10) for this source, else for any source. */
export function serviceName(ref: ReferenceData, sourceSystem: string, code: string): string | undefined {
  const c = code.toUpperCase();
  return ref.services.get(`${sourceSystem}\u0000${c}`) ?? ref.services.get(`*\u0000${c}`);
}
