// The minimum retesting intervals (retest-intervals.csv) are data: read, checked problem by
// problem, and turned into the code table the duplicate-test query binds. A local laboratory code
// counts as a test when record/reference/lab-code-map.csv maps it to one of the table's national
// codes, so the same table serves every sender. Pure apart from reading the shipped file.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseReferenceCsv, type ReferenceData } from '../../record/reference/reference-data.ts';

export const INTERVALS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'retest-intervals.csv');
const NATIONAL = new Set(['http://snomed.info/sct', 'http://loinc.org']);
const COLUMNS = ['test', 'title', 'interval_days', 'system', 'code', 'display', 'source'];

export interface RetestInterval {
  /** Short key (hba1c, lipids, ue…). */
  test: string;
  title: string;
  /** A repeat sooner than this many days (by another care setting) is a duplicate test. */
  days: number;
  /** Where the interval comes from. */
  source: string;
  codes: { system: string; code: string; display: string }[];
}

/** One row of the table the query binds: a code (with the source system it is local to, or '' for a national code) and its test. */
export interface TestCode {
  sourceSystem: string;
  system: string;
  code: string;
  test: string;
}

export class RetestIntervalError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'RetestIntervalError';
  }
}

/** Parses and checks the intervals: whole days from 1 to 730, SNOMED CT or LOINC codes, each code once, one title/interval/source per test. */
export function parseIntervals(text: string, file = 'retest-intervals.csv'): RetestInterval[] {
  const { rows, problems } = parseReferenceCsv(text, file);
  const byTest = new Map<string, RetestInterval>();
  const seen = new Map<string, string>();
  if (rows.length && Object.keys(rows[0]!).join(',') !== COLUMNS.join(',')) problems.push(`${file}: header must be ${COLUMNS.join(',')}`);
  rows.forEach((r, i) => {
    const where = `${file} row ${i + 1}`;
    const missing = COLUMNS.filter((c) => c !== 'display' && !r[c]);
    if (missing.length) return void problems.push(`${where}: ${missing.join(', ')} empty`);
    if (!/^[a-z0-9][a-z0-9-]{0,39}$/.test(r.test!)) problems.push(`${where}: test "${r.test}" is not a short key (a-z, 0-9, -)`);
    const days = Number(r.interval_days);
    if (!/^\d{1,3}$/.test(r.interval_days!) || days < 1 || days > 730) problems.push(`${where}: interval_days "${r.interval_days}" is not a whole number of days from 1 to 730`);
    if (!NATIONAL.has(r.system!)) problems.push(`${where}: system ${r.system} is not SNOMED CT (http://snomed.info/sct) or LOINC (http://loinc.org); local codes map through record/reference/lab-code-map.csv`);
    const key = `${r.system}|${r.code}`;
    const other = seen.get(key);
    if (other) problems.push(`${where}: ${key} is already a code of ${other}`);
    seen.set(key, r.test!);
    const t = byTest.get(r.test!);
    if (!t) byTest.set(r.test!, { test: r.test!, title: r.title!, days, source: r.source!, codes: [{ system: r.system!, code: r.code!, display: r.display ?? '' }] });
    else {
      if (t.days !== days || t.title !== r.title || t.source !== r.source) problems.push(`${where}: test ${r.test} has another title, interval or source on an earlier row`);
      t.codes.push({ system: r.system!, code: r.code!, display: r.display ?? '' });
    }
  });
  if (!rows.length && !problems.length) problems.push(`${file}: no intervals`);
  if (problems.length) throw new RetestIntervalError(problems);
  return [...byTest.values()];
}

export const loadIntervals = (file = INTERVALS_FILE): RetestInterval[] => parseIntervals(readFileSync(file, 'utf8'), file);

/** The codes the query matches: every national code, and each sender's local code that the reference data maps to one of them. */
export function testCodes(intervals: readonly RetestInterval[], ref: Pick<ReferenceData, 'labCodes'>): TestCode[] {
  const national = new Map<string, string>();
  const out: TestCode[] = [];
  for (const t of intervals) {
    for (const c of t.codes) {
      national.set(`${c.system}|${c.code}`, t.test);
      out.push({ sourceSystem: '', system: c.system, code: c.code, test: t.test });
    }
  }
  for (const [key, to] of ref.labCodes) {
    const test = national.get(`${to.system}|${to.code}`);
    if (!test) continue;
    const [sourceSystem, local] = key.split('\u0000') as [string, string];
    out.push({ sourceSystem, system: '', code: local, test });
  }
  return out;
}
