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
  /** Other names real extracts give the column (`DOB`, `BirthDate`); matched like the name. */
  aliases?: string[];
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
  const keys = new Map<string, string>();
  for (const col of c.columns ?? []) {
    for (const n of [col.name, ...(col.aliases ?? [])]) {
      const k = headerKey(n);
      const other = keys.get(k);
      if (other !== undefined && other !== col.name) problems.push(`${c.name}: ${n} names both ${other} and ${col.name}`);
      keys.set(k, col.name);
    }
  }
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

/** A header matched to a contract: for each header cell, the contract column it is (null: ignored). */
export interface HeaderFit {
  contract: CsvContract;
  columns: (string | null)[];
  /** The header cells (as sent) that are no column of the contract: their values are not read. */
  ignored: string[];
}
export interface HeaderMisfit {
  closest: CsvContract;
  /** Required columns of the closest contract the header lacks. */
  missing: string[];
  /** Contract columns named by more than one header cell (which to read cannot be told). */
  duplicated: string[];
}
export type HeaderMatch = HeaderFit | HeaderMisfit;

/** A header cell as sent, for messages: BOM and surrounding spaces removed. */
export function headerName(cell: string): string {
  return cell.replace(/^\uFEFF/, '').trim();
}

/**
 * The key header cells and contract names are compared by: case, surrounding spaces, a BOM, and
 * spaces, underscores, hyphens, dots, brackets, slashes, `#`, `:` and quotes inside do not count
 * (`NHS Number`, `nhs_number`, `NHSNumber`, `NHS No.`, `Forename(s)`, `Duration (mins)`).
 */
export function headerKey(cell: string): string {
  return headerName(cell).toLowerCase().replace(/[\s_.\-()[\]#:/'"]+/g, '');
}

const keyCache = new WeakMap<CsvContract, Map<string, string>>();

/** A contract's header keys (names and aliases) → column name. */
function keysOf(c: CsvContract): Map<string, string> {
  let m = keyCache.get(c);
  if (!m) {
    m = new Map();
    for (const col of c.columns) for (const n of [col.name, ...(col.aliases ?? [])]) m.set(headerKey(n), col.name);
    keyCache.set(c, m);
  }
  return m;
}

/**
 * The contract a header is: of those whose required columns are all there, the one that names
 * most of the header's cells (extra cells are ignored and listed); else the closest contract,
 * with the required columns missing (a whole-file rejection a person can act on).
 */
export function matchHeader(header: readonly string[], contracts: readonly CsvContract[] = CSV_CONTRACTS): HeaderMatch {
  let best: { fit: HeaderFit; matched: number } | null = null;
  let closest: { misfit: HeaderMisfit; score: number } | null = null;
  for (const c of contracts) {
    const keys = keysOf(c);
    const columns = header.map((h) => keys.get(headerKey(h)) ?? null);
    const seen = new Set<string>();
    const duplicated = new Set<string>();
    for (const col of columns) if (col !== null) (seen.has(col) ? duplicated : seen).add(col);
    const missing = c.columns.filter((col) => col.required && !seen.has(col.name)).map((col) => col.name);
    const matched = seen.size;
    if (!missing.length && !duplicated.size) {
      // A cell with no name (an unused spreadsheet column) is not worth a note.
      if (!best || matched > best.matched) best = { fit: { contract: c, columns, ignored: header.filter((h, i) => columns[i] === null && headerName(h) !== '').map(headerName) }, matched };
      continue;
    }
    const score = matched - missing.length * 100;
    if (!closest || score > closest.score) closest = { misfit: { closest: c, missing, duplicated: [...duplicated] }, score };
  }
  return best ? best.fit : closest!.misfit;
}

/**
 * The delimiter of a header line: comma, semicolon, tab or pipe, whichever occurs most outside
 * quotes (a European extract uses `;`, a database dump `|` or tab); comma when none does.
 */
export function sniffDelimiter(headerLine: string): string {
  const counts = new Map<string, number>([[',', 0], [';', 0], ['\t', 0], ['|', 0]]);
  let quoted = false;
  for (const ch of headerLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && counts.has(ch)) counts.set(ch, counts.get(ch)! + 1);
  }
  let best = ',';
  for (const [d, n] of counts) if (n > counts.get(best)!) best = d;
  return best;
}

/**
 * True when a first line looks like a CSV header: two or more cells split by a sniffed delimiter,
 * each a short name (letters, digits, spaces, `_ - . ( ) / #`), starting with a letter.
 */
export function looksLikeCsvHeader(firstLine: string): boolean {
  const d = sniffDelimiter(firstLine);
  if (!firstLine.includes(d)) return false;
  const cells = firstLine.split(d).map((c) => headerName(c).replace(/^"(.*)"$/, '$1').trim());
  // Empty cells at the end (a spreadsheet's unused columns, a trailing delimiter) name nothing.
  while (cells.length && cells[cells.length - 1] === '') cells.pop();
  if (cells.length < 2) return false;
  return cells.every((c) => /^[A-Za-z][A-Za-z0-9_ .\-()/#]{0,63}$/.test(c) && c.split(' ').length <= 6);
}
