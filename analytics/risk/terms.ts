// The model's terms: each one a number made from a person's features (risk_feature, alias f),
// written ONCE as an SQL expression, so that fitting (the design matrix is read through these
// expressions), scoring (the linear predictor is these expressions times the stored
// coefficients) and explaining (each term's contribution) can never disagree. Values that come
// from data (a long-term condition's kind) are bound parameters, never SQL text.
import type { RiskCodeLists } from './code-lists.ts';

export interface Term {
  /** Stable name, stored with the model's coefficient. */
  name: string;
  /** What a clinician reads as a contributing factor. */
  label: string;
  /** The SQL expression over risk_feature f; `bind` adds a parameter and returns its placeholder. */
  sql: (bind: (v: unknown) => string) => string;
}

const AGE_BANDS: [string, number, number][] = [
  ['0-4', 0, 4],
  ['5-15', 5, 15],
  // 16–44 is the reference band (no term).
  ['45-64', 45, 64],
  ['65-74', 65, 74],
  ['75-84', 75, 84],
  ['85+', 85, 200],
];

/** Every term, in the order the coefficients are stored. Condition kinds come from the code list. */
export function modelTerms(lists: Pick<RiskCodeLists, 'conditionKinds'>): Term[] {
  const terms: Term[] = [
    ...AGE_BANDS.map(([band, lo, hi]): Term => ({ name: `age:${band}`, label: `aged ${band}`, sql: () => `(CASE WHEN f.age BETWEEN ${lo} AND ${hi} THEN 1 ELSE 0 END)` })),
    { name: 'age-over-70', label: 'age (each decade over 70)', sql: () => '(greatest(f.age - 70, 0) / 10.0)' },
    { name: 'male', label: 'male', sql: () => "(CASE WHEN f.sex = 'male' THEN 1 ELSE 0 END)" },
    { name: 'emergency-admissions-12m', label: 'emergency admissions in the last 12 months', sql: () => 'least(f.emergency_admissions_12m, 4)' },
    { name: 'emergency-admissions-13-24m', label: 'emergency admissions 13–24 months ago', sql: () => 'least(f.emergency_admissions_24m - f.emergency_admissions_12m, 4)' },
    { name: 'ae-attendances-12m', label: 'A&E attendances in the last 12 months', sql: () => 'least(f.ae_attendances_12m, 6)' },
    { name: 'ae-attendances-13-24m', label: 'A&E attendances 13–24 months ago', sql: () => 'least(f.ae_attendances_24m - f.ae_attendances_12m, 6)' },
    { name: 'outpatient-attendances-12m', label: 'outpatient attendances in the last 12 months', sql: () => 'ln(1 + f.outpatient_attendances_12m)' },
    { name: 'gp-consultations-12m', label: 'GP consultations in the last 12 months', sql: () => 'ln(1 + f.gp_consultations_12m)' },
    { name: 'home-visits-12m', label: 'GP home visits in the last 12 months', sql: () => 'ln(1 + f.home_visits_12m)' },
    { name: 'community-contacts-12m', label: 'community health contacts in the last 12 months', sql: () => 'ln(1 + f.community_contacts_12m)' },
    { name: 'long-term-conditions', label: 'number of long-term conditions', sql: () => 'least(f.long_term_conditions, 8)' },
    ...lists.conditionKinds.map((kind): Term => ({ name: `condition:${kind}`, label: kind === 'copd' ? 'COPD' : kind.replace(/-/g, ' '), sql: (bind) => `(CASE WHEN ${bind(kind)}::text = ANY(f.long_term_condition_kinds) THEN 1 ELSE 0 END)` })),
    { name: 'medications-12m', label: 'distinct medicines in the last 12 months', sql: () => 'least(f.medications_12m, 15)' },
    { name: 'efi', label: 'electronic frailty index', sql: () => 'f.efi' },
    { name: 'frailty-coded', label: 'frailty diagnosis recorded', sql: () => '(CASE WHEN f.frailty_coded THEN 1 ELSE 0 END)' },
    { name: 'hba1c-75-plus', label: 'latest HbA1c 75 mmol/mol or more', sql: () => '(CASE WHEN f.hba1c >= 75 THEN 1 ELSE 0 END)' },
    { name: 'egfr-under-60', label: 'latest eGFR under 60', sql: () => '(CASE WHEN f.egfr < 60 THEN 1 ELSE 0 END)' },
    { name: 'egfr-under-30', label: 'latest eGFR under 30', sql: () => '(CASE WHEN f.egfr < 30 THEN 1 ELSE 0 END)' },
    { name: 'social-care-package', label: 'social care package in place', sql: () => '(CASE WHEN f.social_care_package THEN 1 ELSE 0 END)' },
  ];
  return terms;
}

/** The terms' SQL expressions, in order, each cast to double precision, with their parameters bound from `start`. */
export function termExpressions(terms: readonly Term[], params: unknown[]): string[] {
  const bind = (v: unknown) => {
    params.push(v);
    return `$${params.length}`;
  };
  return terms.map((t) => `(${t.sql(bind)})::double precision`);
}
