/**
 * CSV feed contracts, kept as data in ./contracts/*.json (docs/feeds.md "CSV"): which columns a
 * file must have, their types, which identify the person. Adding a feed of the same shape is
 * a new JSON file plus a resource mapping in rows.ts.
 */
import { readFileSync } from 'node:fs';

export type ColumnType = 'text' | 'date' | 'integer' | 'decimal' | 'nhs-number' | 'sex' | 'code';

export interface ContractColumn {
  name: string;
  type: ColumnType;
  required: boolean;
}

/** Which column holds each part of the source identity (docs/feeds.md "Source system keys"). */
export interface IdentityColumns {
  id: string;
  nhsNumber?: string;
  family?: string;
  given?: string;
  birthDate?: string;
  sex?: string;
  postcode?: string;
  practice?: string;
  /** An email address column (mpi/README.md: compared and blocked on by the matcher). */
  email?: string;
  /** A phone number column. */
  phone?: string;
  /** Identifiers other than the NHS number: the kind each column holds (`SS`, `passport`, a system URI) → its column. */
  identifiers?: Record<string, string>;
}

export interface CsvContract {
  name: string;
  description?: string;
  /** Source system key, e.g. `csv:community`. */
  system: string;
  /** The column whose value is the row's own id (and the id of the resource it becomes). */
  idColumn: string;
  identityColumns: IdentityColumns;
  columns: ContractColumn[];
}

const TYPES = new Set<ColumnType>(['text', 'date', 'integer', 'decimal', 'nhs-number', 'sex', 'code']);

/** Checks a parsed contract file; returns a list of problems (empty when sound). */
export function contractProblems(c: CsvContract): string[] {
  const problems: string[] = [];
  const names = new Set(c.columns?.map((col) => col.name) ?? []);
  if (!c.name) problems.push('contract has no name');
  if (!c.system) problems.push(`${c.name}: no system`);
  if (!names.has(c.idColumn)) problems.push(`${c.name}: idColumn ${c.idColumn} is not a column`);
  for (const [part, col] of Object.entries(c.identityColumns ?? {})) {
    if (part === 'identifiers') continue;
    if (col && !names.has(col as string)) problems.push(`${c.name}: identity ${part} column ${String(col)} is not a column`);
  }
  for (const [kind, col] of Object.entries(c.identityColumns?.identifiers ?? {})) {
    if (!names.has(col)) problems.push(`${c.name}: identity identifier ${kind} column ${col} is not a column`);
  }
  for (const col of c.columns ?? []) if (!TYPES.has(col.type)) problems.push(`${c.name}: column ${col.name} has unknown type ${col.type}`);
  if (names.size !== (c.columns?.length ?? 0)) problems.push(`${c.name}: a column is listed twice`);
  return problems;
}

function load(file: string): CsvContract {
  const c = JSON.parse(readFileSync(new URL(`./contracts/${file}`, import.meta.url), 'utf8')) as CsvContract;
  const problems = contractProblems(c);
  if (problems.length) throw new Error(`CSV contract ${file} is not valid: ${problems.join('; ')}`);
  return c;
}

/** The CSV contracts Bevan reads. */
export const CSV_CONTRACTS: readonly CsvContract[] = ['community-contact.json', 'socialcare-assessment.json', 'socialcare-package.json', 'mentalhealth-contact.json'].map(load);

export type HeaderMatch = { contract: CsvContract } | { closest: CsvContract; missing: string[]; extra: string[]; duplicated: string[] };

/** Normalises a header cell for comparison: trimmed, lower case, BOM removed. */
export function headerName(cell: string): string {
  return cell.replace(/^\uFEFF/, '').trim().toLowerCase();
}

/** The contract whose columns are exactly these (any order), else the closest one and the difference. */
export function matchHeader(header: readonly string[], contracts: readonly CsvContract[] = CSV_CONTRACTS): HeaderMatch {
  const got = header.map(headerName);
  const gotSet = new Set(got);
  const duplicated = [...new Set(got.filter((n, i) => got.indexOf(n) !== i))];
  let best: { closest: CsvContract; missing: string[]; extra: string[]; duplicated: string[] } | null = null;
  for (const c of contracts) {
    const want = new Set(c.columns.map((col) => col.name));
    const missing = [...want].filter((n) => !gotSet.has(n));
    const extra = got.filter((n) => !want.has(n));
    if (!missing.length && !extra.length && !duplicated.length) return { contract: c };
    if (!best || missing.length + extra.length < best.missing.length + best.extra.length) best = { closest: c, missing, extra, duplicated };
  }
  return best as { closest: CsvContract; missing: string[]; extra: string[]; duplicated: string[] };
}

/** True when a first line looks like a CSV header: comma-separated, identifier-like names. */
export function looksLikeCsvHeader(firstLine: string): boolean {
  if (!firstLine.includes(',')) return false;
  const cells = firstLine.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1').trim());
  if (cells.length < 2) return false;
  // Single words only: prose with a comma in it must not pass for a header.
  return cells.every((c) => /^[A-Za-z][A-Za-z0-9_.\-]{0,63}$/.test(c));
}
