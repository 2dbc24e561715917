// The tariff (analytics/commissioning/tariff.csv) and the setting of each source system
// (sources.csv) are data: read, checked and named problem by problem. Prices are illustrative,
// of the order of the national figures each row names; a commissioner replaces them with local ones.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ACTIVITIES = ['emergency-admission', 'elective-admission', 'ae-attendance', 'outpatient-first', 'outpatient-follow-up', 'community-contact', 'mental-health-contact', 'mental-health-admission', 'gp-consultation', 'social-care-assessment', 'social-care-hour'] as const;
export type Activity = (typeof ACTIVITIES)[number];
export const SETTINGS = ['hospital', 'community', 'primary care', 'social care', 'mental health'] as const;
export type Setting = (typeof SETTINGS)[number];

export interface TariffRow {
  activity: Activity;
  setting: Setting;
  unit: string;
  priceGbp: number;
  source: string;
}

export interface SourceSetting {
  pattern: string;
  setting: Setting;
  about: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const TARIFF_FILE = join(HERE, 'tariff.csv');
export const SOURCES_FILE = join(HERE, 'sources.csv');

export class TariffError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'TariffError';
  }
}

/** RFC 4180 fields of one line (quoted fields may hold commas and doubled quotes). */
function fields(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') out.push(cur), (cur = '');
    else cur += ch;
  }
  out.push(cur);
  return out;
}

function rows(text: string, header: string[], file: string, problems: string[]): { line: number; v: Record<string, string> }[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  const head = fields(lines[0] ?? '');
  if (head.join(',') !== header.join(',')) {
    problems.push(`${file}: header must be ${header.join(',')}, got ${head.join(',')}`);
    return [];
  }
  return lines.slice(1).map((l, i) => {
    const f = fields(l);
    if (f.length !== header.length) problems.push(`${file} line ${i + 2}: ${f.length} fields, expected ${header.length}`);
    return { line: i + 2, v: Object.fromEntries(header.map((h, j) => [h, (f[j] ?? '').trim()])) };
  });
}

/** Parses and checks a tariff: every activity priced once, prices positive, a source named. */
export function parseTariff(text: string, file = 'tariff.csv'): TariffRow[] {
  const problems: string[] = [];
  const out: TariffRow[] = [];
  const seen = new Set<string>();
  for (const { line, v } of rows(text, ['activity', 'setting', 'unit', 'price_gbp', 'source'], file, problems)) {
    const at = `${file} line ${line}`;
    if (!(ACTIVITIES as readonly string[]).includes(v.activity!)) problems.push(`${at}: "${v.activity}" is not an activity (${ACTIVITIES.join(', ')})`);
    if (!(SETTINGS as readonly string[]).includes(v.setting!)) problems.push(`${at}: "${v.setting}" is not a setting (${SETTINGS.join(', ')})`);
    const price = Number(v.price_gbp);
    if (v.price_gbp === '' || !Number.isFinite(price) || price < 0) problems.push(`${at}: price_gbp "${v.price_gbp}" is not a price in pounds`);
    if (!v.source) problems.push(`${at}: no source named for the price`);
    if (seen.has(v.activity!)) problems.push(`${at}: "${v.activity}" is priced twice`);
    seen.add(v.activity!);
    out.push({ activity: v.activity as Activity, setting: v.setting as Setting, unit: v.unit!, priceGbp: price, source: v.source! });
  }
  const missing = ACTIVITIES.filter((a) => !seen.has(a));
  if (missing.length) problems.push(`${file}: no price for ${missing.join(', ')}`);
  if (problems.length) throw new TariffError(problems);
  return out;
}

/** Parses the source → setting table (first matching pattern wins; % matches any text, as in SQL LIKE). */
export function parseSources(text: string, file = 'sources.csv'): SourceSetting[] {
  const problems: string[] = [];
  const out: SourceSetting[] = [];
  for (const { line, v } of rows(text, ['source_pattern', 'setting', 'about'], file, problems)) {
    if (!/^[a-z0-9]+:[A-Za-z0-9%_.-]*$/.test(v.source_pattern!)) problems.push(`${file} line ${line}: "${v.source_pattern}" is not a source system pattern (system:key, % for any)`);
    if (!(SETTINGS as readonly string[]).includes(v.setting!)) problems.push(`${file} line ${line}: "${v.setting}" is not a setting`);
    out.push({ pattern: v.source_pattern!, setting: v.setting as Setting, about: v.about! });
  }
  if (problems.length) throw new TariffError(problems);
  return out;
}

export const loadTariff = (file = TARIFF_FILE) => parseTariff(readFileSync(file, 'utf8'), file);
export const loadSources = (file = SOURCES_FILE) => parseSources(readFileSync(file, 'utf8'), file);
