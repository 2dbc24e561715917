// The risk model's code lists are data (analytics/risk/codes/*.csv), read and checked here:
// long-term conditions (kind, SNOMED CT code), the 36 deficits of the electronic frailty index
// (Clegg et al., Age and Ageing 2016; each deficit a list of SNOMED CT codes, or a rule derived
// from other features), and the codes of the features read from results (HbA1c, eGFR) and of a
// coded frailty diagnosis. A commissioner replaces a list by editing its file.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CODES_DIR = join(dirname(fileURLToPath(import.meta.url)), 'codes');

export interface LongTermConditionCode {
  kind: string;
  code: string;
  display: string;
}

/** A deficit of the eFI: coded (any of its SNOMED CT codes before the index date) or derived from another feature. */
export interface EfiDeficit {
  number: number;
  name: string;
  codes: string[];
  derived: 'polypharmacy' | 'care-package' | null;
}

export const FEATURE_CODE_KINDS = ['hba1c', 'egfr', 'frailty'] as const;
export type FeatureCodeKind = (typeof FEATURE_CODE_KINDS)[number];

export interface RiskCodeLists {
  longTermConditions: LongTermConditionCode[];
  /** The distinct long-term condition kinds, in file order (each a model term). */
  conditionKinds: string[];
  efiDeficits: EfiDeficit[];
  featureCodes: Record<FeatureCodeKind, string[]>;
}

export class CodeListError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'CodeListError';
  }
}

/** The eFI counts 36 deficits; its score is deficits present / 36. */
export const EFI_DEFICIT_COUNT = 36;
const CODE = /^\d{6,18}$/;
const KIND = /^[a-z][a-z0-9-]{0,39}$/;

function table(text: string, header: string[], file: string, problems: string[]): { line: number; v: Record<string, string> }[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  // Plain CSV: no field of these files holds a comma except the last (display), which is rejoined.
  const head = (lines[0] ?? '').split(',');
  if (head.join(',') !== header.join(',')) {
    problems.push(`${file}: the header must be ${header.join(',')}, found ${lines[0] ?? '(empty file)'}`);
    return [];
  }
  return lines.slice(1).map((l, i) => {
    const f = l.split(',');
    const v: Record<string, string> = {};
    header.forEach((h, j) => (v[h] = (j === header.length - 1 ? f.slice(j).join(',') : f[j] ?? '').trim()));
    return { line: i + 2, v };
  });
}

/** Parses the three code list files' texts into checked lists, or throws CodeListError naming each problem. */
export function parseCodeLists(texts: { longTermConditions: string; efiDeficits: string; featureCodes: string }): RiskCodeLists {
  const problems: string[] = [];
  const longTermConditions: LongTermConditionCode[] = [];
  for (const { line, v } of table(texts.longTermConditions, ['kind', 'code', 'display', 'confidence'], 'long-term-conditions.csv', problems)) {
    if (!KIND.test(v.kind!)) problems.push(`long-term-conditions.csv line ${line}: kind "${v.kind}" must be lower-case letters, digits and -`);
    if (!CODE.test(v.code!)) problems.push(`long-term-conditions.csv line ${line}: "${v.code}" is not a SNOMED CT code`);
    longTermConditions.push({ kind: v.kind!, code: v.code!, display: v.display! });
  }
  const conditionKinds = [...new Set(longTermConditions.map((c) => c.kind))];

  const byNumber = new Map<number, EfiDeficit>();
  for (const { line, v } of table(texts.efiDeficits, ['number', 'deficit', 'code', 'display', 'confidence'], 'efi-deficits.csv', problems)) {
    const n = Number(v.number);
    if (!Number.isInteger(n) || n < 1 || n > EFI_DEFICIT_COUNT) {
      problems.push(`efi-deficits.csv line ${line}: number "${v.number}" is not 1–${EFI_DEFICIT_COUNT}`);
      continue;
    }
    const d = byNumber.get(n) ?? { number: n, name: v.deficit!, codes: [], derived: null };
    if (d.name !== v.deficit) problems.push(`efi-deficits.csv line ${line}: deficit ${n} is named "${d.name}" elsewhere, "${v.deficit}" here`);
    const code = v.code!;
    if (code === 'derived:polypharmacy' || code === 'derived:care-package') d.derived = code.slice(8) as EfiDeficit['derived'];
    else if (code !== '' && !CODE.test(code)) problems.push(`efi-deficits.csv line ${line}: "${code}" is not a SNOMED CT code (or derived:polypharmacy, derived:care-package)`);
    else if (code !== '') d.codes.push(code);
    byNumber.set(n, d);
  }
  for (let n = 1; n <= EFI_DEFICIT_COUNT; n++) if (!byNumber.has(n)) problems.push(`efi-deficits.csv: deficit ${n} is missing (the eFI has ${EFI_DEFICIT_COUNT})`);

  const featureCodes = Object.fromEntries(FEATURE_CODE_KINDS.map((k) => [k, [] as string[]])) as Record<FeatureCodeKind, string[]>;
  for (const { line, v } of table(texts.featureCodes, ['feature', 'code', 'display', 'confidence'], 'feature-codes.csv', problems)) {
    if (!(FEATURE_CODE_KINDS as readonly string[]).includes(v.feature!)) problems.push(`feature-codes.csv line ${line}: feature "${v.feature}" is not one of ${FEATURE_CODE_KINDS.join(', ')}`);
    else if (!CODE.test(v.code!)) problems.push(`feature-codes.csv line ${line}: "${v.code}" is not a SNOMED CT code`);
    else featureCodes[v.feature as FeatureCodeKind].push(v.code!);
  }
  for (const k of FEATURE_CODE_KINDS) if (!featureCodes[k].length) problems.push(`feature-codes.csv: no code for ${k}`);
  if (problems.length) throw new CodeListError(problems);
  return { longTermConditions, conditionKinds, efiDeficits: [...byNumber.values()].sort((a, b) => a.number - b.number), featureCodes };
}

let cached: RiskCodeLists | undefined;
/** The shipped code lists (read once). */
export function loadCodeLists(dir = CODES_DIR): RiskCodeLists {
  if (dir === CODES_DIR && cached) return cached;
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const lists = parseCodeLists({ longTermConditions: read('long-term-conditions.csv'), efiDeficits: read('efi-deficits.csv'), featureCodes: read('feature-codes.csv') });
  if (dir === CODES_DIR) cached = lists;
  return lists;
}

/** eFI bands (Clegg et al. 2016): fit ≤ 0.12, mild ≤ 0.24, moderate ≤ 0.36, severe above. */
export function efiBand(score: number): 'fit' | 'mild' | 'moderate' | 'severe' {
  if (score <= 0.12) return 'fit';
  if (score <= 0.24) return 'mild';
  if (score <= 0.36) return 'moderate';
  return 'severe';
}
