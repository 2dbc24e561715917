/**
 * HL7 v2 tables Bevan reads (v2.3–2.8 share their values) and how each value maps to FHIR R4.
 * Mappings follow the HL7 v2-to-FHIR implementation guide where it has one; where it does not,
 * the choice is commented. Pure data.
 */
import type { AllergyIntolerance, Coding, DiagnosticReport, Encounter, Observation } from '@medplum/fhirtypes';

export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export const NULL_FLAVOR = 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor';
export const INTERPRETATION = 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation';
export const V2_PATIENT_CLASS = 'http://terminology.hl7.org/CodeSystem/v2-0004';

export interface PatientClass {
  /** Encounter.class (v3 ActCode, or v3 NullFlavor when table 0004 says nothing about the setting). */
  class: Coding;
  /**
   * The class as sent, kept in Encounter.type when the v3 code does not say all of it (R, B, C,
   * N, U, and values a site added to the table).
   */
  original?: Coding;
}

const act = (code: string, display: string): Coding => ({ system: ACT_CODE, code, display });
const nullFlavor = (code: string, display: string): Coding => ({ system: NULL_FLAVOR, code, display });
const v2Class = (code: string, display: string): Coding => ({ system: V2_PATIENT_CLASS, code, display });

/** HL7 table 0004 (patient class) → Encounter.class. */
const TABLE_0004: Record<string, PatientClass> = {
  E: { class: act('EMER', 'emergency') },
  I: { class: act('IMP', 'inpatient encounter') },
  O: { class: act('AMB', 'ambulatory') },
  P: { class: act('PRENC', 'pre-admission') },
  // Recurring patients (dialysis, chemotherapy, therapy courses) attend and go home: ambulatory.
  R: { class: act('AMB', 'ambulatory'), original: v2Class('R', 'Recurring patient') },
  // Obstetrics patients are on a maternity or labour ward: an admission, as the v2-to-FHIR guide maps it.
  B: { class: act('IMP', 'inpatient encounter'), original: v2Class('B', 'Obstetrics') },
  // A commercial account is a billing arrangement for services without a stay: ambulatory.
  C: { class: act('AMB', 'ambulatory'), original: v2Class('C', 'Commercial Account') },
  // "Not applicable": the message is about the person, not a visit; nothing says what setting.
  N: { class: nullFlavor('NA', 'not applicable'), original: v2Class('N', 'Not Applicable') },
  U: { class: nullFlavor('UNK', 'unknown'), original: v2Class('U', 'Unknown') },
};

export const PATIENT_CLASS_VALUES = Object.keys(TABLE_0004);

// Table 0004 is user-defined: Cerner Millennium (UK trusts among them) sends its own class names.
// The plain-English ones say the setting; the value as sent is kept in Encounter.type.
const CLASS_WORDS: Record<string, Coding> = {
  INPATIENT: act('IMP', 'inpatient encounter'),
  OUTPATIENT: act('AMB', 'ambulatory'),
  EMERGENCY: act('EMER', 'emergency'),
  PREADMIT: act('PRENC', 'pre-admission'),
  'PRE-ADMIT': act('PRENC', 'pre-admission'),
  DAYCASE: act('IMP', 'inpatient encounter'),
  'DAY CASE': act('IMP', 'inpatient encounter'),
};

/**
 * PV1-2 → Encounter.class. Table 0004 is user-defined: a site may add values, so a value that is
 * not among the suggested ones is kept as sent (class `OTH`), never rejected. Empty → `UNK`.
 */
export function patientClass(raw: string): PatientClass {
  const code = raw.trim().toUpperCase();
  if (!code) return { class: nullFlavor('UNK', 'unknown') };
  const known = TABLE_0004[code];
  if (known) return known;
  const word = CLASS_WORDS[code];
  return { class: word ?? nullFlavor('OTH', 'other'), original: { code: raw.trim() } };
}

/** HL7 table 0078 (abnormal flags) codes that are the same code in v3 ObservationInterpretation, with its display. */
const TABLE_0078: Record<string, string> = {
  L: 'Low', H: 'High', LL: 'Critical low', HH: 'Critical high', LU: 'Significantly low', HU: 'Significantly high',
  '<': 'Off scale low', '>': 'Off scale high', N: 'Normal', A: 'Abnormal', AA: 'Critical abnormal',
  U: 'Significant change up', D: 'Significant change down', B: 'Better', W: 'Worse',
  S: 'Susceptible', R: 'Resistant', I: 'Intermediate', MS: 'moderately susceptible', VS: 'very susceptible',
  SDD: 'Susceptible-dose dependent', SYN_R: 'Synergy - resistant', SYN_S: 'Synergy - susceptible', NCL: 'No CLSI defined breakpoint', NS: 'Non-susceptible',
  POS: 'Positive', NEG: 'Negative', IND: 'Indeterminate', DET: 'Detected', ND: 'Not detected',
  AC: 'Anti-complementary substances present', TOX: 'Cytotoxic substance present', QCF: 'Quality control failure',
  RR: 'Reactive', NR: 'Non-reactive', WR: 'Weakly reactive', EX: 'outside threshold', HX: 'above high threshold', LX: 'below low threshold',
  E: 'Equivocal', IE: 'Insufficient evidence', CAR: 'Carrier', HM: 'Hold for Medical Review',
};

/**
 * One OBX-8 abnormal flag → a v3 ObservationInterpretation coding. A flag that is not in table
 * 0078 (a laboratory's own) is kept as sent without a code system.
 */
export function interpretation(raw: string): Coding | undefined {
  const flag = raw.trim().toUpperCase();
  if (!flag || flag === 'NULL') return undefined;
  const v3 = flag === 'SYN-R' ? 'SYN_R' : flag === 'SYN-S' ? 'SYN_S' : flag;
  const display = TABLE_0078[v3];
  if (!display) return { code: raw.trim() };
  return { system: INTERPRETATION, code: v3.replace('_', '-'), display };
}

/** HL7 table 0085 (observation result status, OBX-11) → Observation.status. */
export const RESULT_STATUS: Record<string, Observation['status']> = {
  C: 'corrected', // a correction of a final result: replaces it (same Observation id)
  D: 'entered-in-error', // delete the OBX record
  F: 'final',
  I: 'registered', // specimen in lab, results pending
  N: 'cancelled', // not asked
  O: 'registered', // order detail only, no result
  P: 'preliminary',
  R: 'preliminary', // entered, not verified
  S: 'preliminary', // partial
  U: 'final', // changed to final without retransmitting the results
  W: 'entered-in-error', // post original as wrong
  X: 'cancelled', // results cannot be obtained
  A: 'amended', // not in 0085, but sent by some laboratories for an amended result
};

/** HL7 table 0123 (result status, OBR-25) → DiagnosticReport.status. */
export const REPORT_STATUS: Record<string, DiagnosticReport['status']> = {
  O: 'registered', I: 'registered', S: 'registered', A: 'partial', P: 'preliminary', R: 'preliminary',
  C: 'corrected', F: 'final', X: 'cancelled', Y: 'unknown', Z: 'unknown', M: 'partial', N: 'registered',
};

/** HL7 table 0127 (allergen type, AL1-2) → AllergyIntolerance category and type. */
export const ALLERGEN_TYPE: Record<string, { category?: NonNullable<AllergyIntolerance['category']>[number]; type?: AllergyIntolerance['type'] }> = {
  DA: { category: 'medication', type: 'allergy' },
  FA: { category: 'food', type: 'allergy' },
  MA: { type: 'allergy' },
  // A contraindication is neither an allergy nor an intolerance: no type.
  MC: {},
  EA: { category: 'environment', type: 'allergy' },
  AA: { category: 'environment', type: 'allergy' },
  PA: { category: 'environment', type: 'allergy' },
  LA: { category: 'environment', type: 'allergy' },
};

/** HL7 table 0128 (allergy severity, AL1-4 / IAM-4) → criticality and reaction severity. */
export const ALLERGY_SEVERITY: Record<string, { criticality: AllergyIntolerance['criticality']; severity?: 'mild' | 'moderate' | 'severe' }> = {
  SV: { criticality: 'high', severity: 'severe' },
  MO: { criticality: 'low', severity: 'moderate' },
  MI: { criticality: 'low', severity: 'mild' },
  U: { criticality: 'unable-to-assess' },
};

/**
 * What an ADT trigger event (HL7 table 0003) means for Bevan:
 * - `visit`: the visit in PV1 with the status given (`derived`: finished when PV1-45 is set,
 *   planned for a pre-admit class, else in progress);
 * - `update`: demographics, and the visit only when PV1 identifies one;
 * - `person`: demographics only (no visit); `delete-person`: the Patient made inactive;
 * - `merge`: MRG-1 (else MRG-4) retired into PID-3; `account`: an account-level change that
 *   leaves identities and visits as they are;
 * - `visit-move`: the visit moves to the patient in PID (A45); `visit-renumber`: MRG-5 prior
 *   visit becomes PV1-19 (A42, A50);
 * - `link` / `unlink`: two PID groups are (no longer) the same person; `swap`: two patients
 *   swap locations (A17), each group its own visit.
 */
export type AdtMeaning =
  | { kind: 'visit'; status: Encounter['status'] | 'derived'; clearEnd?: boolean }
  | { kind: 'update' }
  | { kind: 'person' }
  | { kind: 'delete-person' }
  | { kind: 'merge' }
  | { kind: 'account' }
  | { kind: 'visit-move' }
  | { kind: 'visit-renumber' }
  | { kind: 'link' }
  | { kind: 'unlink' }
  | { kind: 'swap' };

const visit = (status: Encounter['status'] | 'derived', clearEnd = false): AdtMeaning => ({ kind: 'visit', status, ...(clearEnd ? { clearEnd } : {}) });

export const ADT_EVENTS: Record<string, AdtMeaning> = {
  A01: visit('in-progress'), // admit
  A02: visit('in-progress'), // transfer
  A03: visit('finished'), // discharge
  A04: visit('derived'), // register (outpatient, A&E)
  A05: visit('planned'), // pre-admit
  A06: visit('in-progress'), // outpatient to inpatient (class change)
  A07: visit('in-progress'), // inpatient to outpatient (class change)
  A08: { kind: 'update' }, // update patient information
  A09: { kind: 'update' }, // patient departing (tracking)
  A10: { kind: 'update' }, // patient arriving (tracking)
  A11: visit('cancelled'), // cancel admit / visit
  A12: visit('in-progress'), // cancel transfer: PV1-3 is the location before it
  A13: visit('in-progress', true), // cancel discharge
  A14: visit('planned'), // pending admit
  A15: { kind: 'update' }, // pending transfer
  A16: { kind: 'update' }, // pending discharge
  A17: { kind: 'swap' }, // swap patients
  A18: { kind: 'merge' }, // merge patient information (v2.3)
  A21: visit('onleave'), // leave of absence out
  A22: visit('in-progress'), // leave of absence return
  A23: visit('entered-in-error'), // delete a patient (visit) record
  A24: { kind: 'link' },
  A25: { kind: 'update' }, // cancel pending discharge
  A26: { kind: 'update' }, // cancel pending transfer
  A27: visit('cancelled'), // cancel pending admit
  A28: { kind: 'person' }, // add person information
  A29: { kind: 'delete-person' }, // delete person information
  A30: { kind: 'merge' }, // merge person information (v2.3)
  A31: { kind: 'person' }, // update person information
  A32: { kind: 'update' }, // cancel patient arriving
  A33: { kind: 'update' }, // cancel patient departing
  A34: { kind: 'merge' }, // merge patient information, patient id only
  A35: { kind: 'account' }, // merge patient information, account number only
  A36: { kind: 'merge' }, // merge patient information, patient id and account number
  A37: { kind: 'unlink' },
  A38: visit('cancelled'), // cancel pre-admit
  A39: { kind: 'merge' }, // merge person, patient id
  A40: { kind: 'merge' }, // merge patient, patient identifier list
  A41: { kind: 'account' }, // merge account
  A42: { kind: 'visit-renumber' }, // merge visit
  A43: { kind: 'account' }, // move patient information (accounts between two people: no merge)
  A44: { kind: 'account' }, // move account information
  A45: { kind: 'visit-move' }, // move visit information
  A46: { kind: 'merge' }, // change patient id
  A47: { kind: 'merge' }, // change patient identifier list
  A48: { kind: 'account' }, // change alternate patient id (PID-4; Bevan's id is from PID-3)
  A49: { kind: 'account' }, // change patient account number
  A50: { kind: 'visit-renumber' }, // change visit number
  A51: { kind: 'update' }, // change alternate visit id
  A52: visit('in-progress'), // cancel leave of absence
  A53: visit('onleave'), // cancel patient returns from leave of absence
  A54: { kind: 'update' }, // change attending doctor
  A55: { kind: 'update' }, // cancel change attending doctor
  A60: { kind: 'update' }, // update allergy information
  A61: { kind: 'update' }, // change consulting doctor
  A62: { kind: 'update' }, // cancel change consulting doctor
};
