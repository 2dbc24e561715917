/**
 * Third-party record-linkage benchmark files (bench/mpi-linkage.ts --external): reads a CSV file
 * written by others and maps each row to the source identity a real feed would send, with the
 * truth (which rows are one person) taken from the file's own cluster column. Two layouts, told
 * apart by the header:
 *
 * - `splink`: Splink's demo data (`unique_id, first_name, surname, dob, city, email, cluster`
 *   or `group`): given and family name, birth date, town, email. No postcode, no NHS number.
 * - `febrl`: FEBRL data sets (`rec_id, given_name, surname, street_number, address_1, address_2,
 *   suburb, postcode, state, date_of_birth, soc_sec_id`), the person being the number in
 *   `rec-N-org` / `rec-N-dup-K`: names, address (number and street, lines joined), suburb as town,
 *   the 4-digit postcode as sent, birth date YYYYMMDD, and soc_sec_id as another identifier.
 *
 * Nothing here knows the matcher. A birth date is passed on as the file says it, in ISO order
 * (YYYYMMDD and DD/MM/YYYY rewritten as YYYY-MM-DD, a year or year and month kept), even when the
 * day cannot be (FEBRL's 19450493, Splink's 31 February): the MPI keeps what a source said and
 * compares it at the precision it has (mpi/link.ts birthDateOf). Pure: text in, identities out.
 */
import type { SourceIdentity } from './identity.ts';

export type ExternalFormat = 'splink' | 'febrl';

export interface ExternalDataset {
  format: ExternalFormat;
  identities: SourceIdentity[];
  /** `${system}|${id}` → true person. */
  truth: Map<string, string>;
}

/** Splits CSV text into rows of fields (RFC 4180 quotes, also after the space FEBRL puts after a comma; CRLF or LF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field.trim() === '') {
      quoted = true; // FEBRL writes a space after each comma
      field = '';
    }
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      field = '';
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
    } else field += c;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The layout a header names, or null. */
export function detectFormat(header: string[]): ExternalFormat | null {
  const h = new Set(header.map((x) => x.trim().toLowerCase()));
  if (h.has('rec_id') && h.has('given_name') && h.has('surname')) return 'febrl';
  if (h.has('unique_id') && h.has('first_name') && h.has('surname') && (h.has('cluster') || h.has('group'))) return 'splink';
  return null;
}

/**
 * A date in ISO order as the file writes it: YYYY-MM-DD and YYYYMMDD as YYYY-MM-DD, DD/MM/YYYY
 * likewise, YYYY and YYYY-MM kept; digits that cannot be a day are kept too (1980-02-31). Else undefined.
 */
export function dateAsSent(s: string | undefined): string | undefined {
  const v = (s ?? '').trim();
  const iso = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(v);
  if (iso) return `${iso[1]}-${iso[2]}-${iso[3]}`;
  const uk = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(v);
  if (uk) return `${uk[3]}-${uk[2]}-${uk[1]}`;
  return /^\d{4}(-\d{2})?$/.test(v) ? v : undefined;
}

/** A date as ISO YYYY-MM-DD when it is a real one (dateAsSent, then checked), else undefined. */
export function isoDate(s: string | undefined): string | undefined {
  const v = dateAsSent(s);
  if (!v || v.length !== 10) return undefined;
  const [y, mo, d] = [Number(v.slice(0, 4)), Number(v.slice(5, 7)), Number(v.slice(8, 10))];
  const t = new Date(Date.UTC(y, mo - 1, d));
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d ? v : undefined;
}

/** Reads a benchmark file's text; `format` overrides the header's. Throws a clear error for a file it cannot read. */
export function readExternal(text: string, opts: { format?: ExternalFormat; system?: string } = {}): ExternalDataset {
  const rows = parseCsv(text);
  if (rows.length < 2) throw new Error('the file has no records (a header and at least one row expected)');
  const header = rows[0]!.map((x) => x.trim().toLowerCase());
  const format = opts.format ?? detectFormat(header);
  if (!format) throw new Error(`unknown layout (header: ${header.join(', ')}); expected Splink (unique_id, first_name, surname, dob, city, email, cluster) or FEBRL (rec_id, given_name, surname, …)`);
  const col = (name: string) => header.indexOf(name);
  const need = (names: string[]) => {
    const missing = names.filter((n) => col(n) < 0);
    if (missing.length) throw new Error(`${format} layout: missing column(s) ${missing.join(', ')}`);
  };
  const system = opts.system ?? `csv:${format}`;
  const identities: SourceIdentity[] = [];
  const truth = new Map<string, string>();
  const ids = new Set<string>();
  const v = (r: string[], name: string): string | undefined => {
    const i = col(name);
    const s = i >= 0 ? (r[i] ?? '').trim() : '';
    return s || undefined;
  };
  for (let n = 1; n < rows.length; n++) {
    const r = rows[n]!;
    let id: string;
    let person: string;
    let identity: SourceIdentity;
    if (format === 'splink') {
      need(['unique_id', 'first_name', 'surname', 'dob']);
      id = v(r, 'unique_id') ?? '';
      person = v(r, 'cluster') ?? v(r, 'group') ?? '';
      const email = v(r, 'email');
      identity = { system, id, given: v(r, 'first_name'), family: v(r, 'surname'), birthDate: dateAsSent(v(r, 'dob')), town: v(r, 'city'), ...(email ? { emails: [email] } : {}) };
    } else {
      need(['rec_id', 'given_name', 'surname', 'date_of_birth']);
      id = v(r, 'rec_id') ?? '';
      const m = /^rec-(\d+)-(?:org|dup-\d+)$/.exec(id);
      if (!m) throw new Error(`line ${n + 1}: rec_id ${JSON.stringify(id)} is not rec-N-org or rec-N-dup-K`);
      person = m[1]!;
      const street = [v(r, 'street_number'), v(r, 'address_1')].filter(Boolean).join(' ');
      const address = [street, v(r, 'address_2')].filter(Boolean).join(', ');
      const ssn = v(r, 'soc_sec_id');
      identity = {
        system,
        id,
        given: v(r, 'given_name'),
        family: v(r, 'surname'),
        birthDate: dateAsSent(v(r, 'date_of_birth')),
        postcode: v(r, 'postcode'),
        address: address || undefined,
        town: v(r, 'suburb'),
        ...(ssn ? { identifiers: [{ system: 'soc_sec_id', value: ssn }] } : {}),
      };
    }
    if (!id) throw new Error(`line ${n + 1}: no record id`);
    if (!person) throw new Error(`line ${n + 1}: no cluster (truth) value`);
    if (ids.has(id)) throw new Error(`line ${n + 1}: record id ${id} appears twice`);
    ids.add(id);
    for (const k of Object.keys(identity) as (keyof SourceIdentity)[]) if (identity[k] === undefined) delete identity[k];
    identities.push(identity);
    truth.set(`${system}|${id}`, person);
  }
  return { format, identities, truth };
}

/** Cluster-level figures: true persons whose records form exactly one Bevan person, and Bevan persons that hold records of one true person only. */
export function clusterScores(predicted: Iterable<readonly [string, string]>, truth: Map<string, string>): { truePersons: number; exact: number; split: number; bevanPersons: number; pure: number; mixed: number } {
  const bevanOf = new Map<string, string>();
  for (const [k, p] of predicted) if (truth.has(k)) bevanOf.set(k, p);
  const byTrue = new Map<string, Set<string>>();
  const byBevan = new Map<string, Set<string>>();
  const trueSize = new Map<string, number>();
  const bevanSize = new Map<string, number>();
  for (const [k, t] of truth) {
    const b = bevanOf.get(k);
    if (b === undefined) continue;
    (byTrue.get(t) ?? byTrue.set(t, new Set()).get(t)!).add(b);
    (byBevan.get(b) ?? byBevan.set(b, new Set()).get(b)!).add(t);
    trueSize.set(t, (trueSize.get(t) ?? 0) + 1);
    bevanSize.set(b, (bevanSize.get(b) ?? 0) + 1);
  }
  let exact = 0;
  for (const [t, bs] of byTrue) if (bs.size === 1 && bevanSize.get([...bs][0]!) === trueSize.get(t)) exact++;
  let pure = 0;
  for (const ts of byBevan.values()) if (ts.size === 1) pure++;
  return { truePersons: byTrue.size, exact, split: [...byTrue.values()].filter((s) => s.size > 1).length, bevanPersons: byBevan.size, pure, mixed: byBevan.size - pure };
}

/**
 * Files that describe one population, loaded together as one linkage (FEBRL dataset4a + dataset4b:
 * the originals in one, their duplicates in the other). Each keeps its own source system (`system`
 * of the file, e.g. `csv:febrl:dataset4a`), so a record is told apart by file as a feed's would be;
 * the truth is shared (person N is the same person in both files). The MPI dedupes everything it
 * holds, so a within-file join is scored like any other: a false one counts against precision.
 */
export function combineExternal(datasets: readonly ExternalDataset[]): ExternalDataset {
  if (!datasets.length) throw new Error('no files to link');
  const format = datasets[0]!.format;
  if (datasets.some((d) => d.format !== format)) throw new Error(`files to link must share one layout (${datasets.map((d) => d.format).join(', ')})`);
  const identities: SourceIdentity[] = [];
  const truth = new Map<string, string>();
  for (const d of datasets) {
    for (const i of d.identities) identities.push(i);
    for (const [k, p] of d.truth) {
      if (truth.has(k)) throw new Error(`record ${k} is in two files (give each file its own system)`);
      truth.set(k, p);
    }
  }
  return { format, identities, truth };
}
