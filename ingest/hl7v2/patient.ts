/**
 * PID and PD1 → the source identity the MPI links, and a FHIR R4 Patient.
 * HL7 v2.3–2.8 chapter 3 (3.4.2 PID, 3.4.10 PD1). Pure.
 */
import type { HumanName, Identifier, Patient } from '@medplum/fhirtypes';
import { CONFIDENTIALITY_SYSTEM, type Sex, type SourceIdentity } from '../model.ts';
import { hl7Date, hl7Time, isoAsDtm, type Hl7Segment, type Hl7View } from './hl7-text.ts';
import { fail, HL7_NULL, sourceIdentifierSystem, xcnDisplay } from './mapping.ts';
import { sharedValue } from '../prepare.ts';

export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** The NHS number's assigning authority OID (NHS Digital HL7 v2 ITK), sometimes sent in CX-4.2. */
const NHS_OID = '2.16.840.1.113883.2.1.4.1';

// CX-5 identifier types that say "NHS number": NH (HL7 UK, table 0203 since v2.5), NNGBR (national
// number, Great Britain) and the codes Cerner Millennium UK sends (NHSNMBR, with authority NHSNBR).
const NHS_TYPES = new Set(['NH', 'NHS', 'NNGBR', 'NHSNMBR', 'NHSNBR']);
const NHS_AUTHORITIES = new Set(['NHS', 'NHSNBR', 'NHSNMBR', 'NHS NUMBER', NHS_OID]);

/** True for a CX repetition that is an NHS number: authority NHS (any CX-4 part) or type NH (and their UK variants). */
export function isNhsRep(v: Hl7View, rep: string): boolean {
  if (NHS_TYPES.has(v.fromRepetition(rep, 5).toUpperCase())) return true;
  for (let sub = 1; sub <= 3; sub++) {
    if (NHS_AUTHORITIES.has(v.fromRepetition(rep, 4, sub).toUpperCase())) return true;
  }
  return false;
}

/** An NHS number's 10 digits (spaces and hyphens allowed between them) when its Modulus 11 check digit is right. */
export function validNhsDigits(value: string): string | undefined {
  const digits = value.replace(/[\s-]/g, '');
  if (!/^\d{10}$/.test(digits)) return undefined;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(digits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  const expected = check === 11 ? 0 : check;
  return expected !== 10 && expected === Number(digits[9]) ? digits : undefined;
}

/**
 * An NHS number in PID-2 (patient id, external) or PID-19 (the "SSN" field), where pre-2.4 UK
 * messages (HL7 UK v2.2/2.3 PAS interfaces) put it: typed as NHS, or untyped with an authority
 * that is not another one and a valid Modulus 11 check digit (a US SSN has 9 digits, so cannot pass).
 */
function legacyNhsNumber(v: Hl7View, pid: Hl7Segment, field: number): string | undefined {
  for (const rep of v.repetitions(pid, field)) {
    const value = v.fromRepetition(rep, 1);
    if (!value) continue;
    if (isNhsRep(v, rep)) return value.replace(/\s+/g, '');
    if (!v.fromRepetition(rep, 4) && !v.fromRepetition(rep, 5)) {
      const digits = validNhsDigits(value);
      if (digits) return digits;
    }
  }
  return undefined;
}

/**
 * The hospital number from a CX list: the repetition typed MR (medical record number), else PI
 * (patient internal identifier), else the first that is not the NHS number.
 */
export function pickHospitalNumber(v: Hl7View, seg: Hl7Segment, field: number): string | undefined {
  const reps = v.repetitions(seg, field).filter((r) => v.fromRepetition(r, 1));
  // MRN: Cerner Millennium's spelling of MR.
  for (const type of ['MR', 'MRN', 'PI']) {
    const typed = reps.find((r) => v.fromRepetition(r, 5).toUpperCase() === type && !isNhsRep(v, r));
    if (typed) return v.fromRepetition(typed, 1);
  }
  const other = reps.find((r) => !isNhsRep(v, r));
  return other ? v.fromRepetition(other, 1) : undefined;
}

// HL7 table 0001 (administrative sex) is user-defined: a value a site added is not an error,
// it only tells Bevan nothing.
// 1 and 2 are the NHS Data Dictionary's (and Australia's METeOR) person gender codes, which UK PAS
// (Cerner Millennium UK, iPM) and Australian state feeds send in PID-8; 0 is the NHS "not known".
const SEX: Record<string, Sex> = { M: 'male', F: 'female', U: 'unknown', O: 'other', A: 'other', N: 'unknown', X: 'other', MALE: 'male', FEMALE: 'female', '1': 'male', '2': 'female', '0': 'unknown', UNKNOWN: 'unknown' };

// XPN-7 name type (table 0200) → HumanName.use.
// Cerner Millennium (UK trusts among them) sends its own words: Current, Preferred, Previous, Alternate, Maiden.
const NAME_USE: Record<string, HumanName['use']> = {
  L: 'official', D: 'usual', A: 'usual', M: 'maiden', N: 'nickname', B: 'old', BAD: 'old', S: 'anonymous', T: 'temp', TEMP: 'temp',
  CURRENT: 'official', PREFERRED: 'usual', PREVIOUS: 'old', ALTERNATE: 'usual', MAIDEN: 'maiden', NICKNAME: 'nickname',
};

export interface PatientParts {
  identity: SourceIdentity;
  patient: Patient;
  /**
   * PD1-12 protection indicator (HL7 table 0136): `Y` restricted, `N` (or `""`, the HL7 null that
   * deletes a value) not restricted; undefined when the field is empty (the message does not say).
   */
  restricted?: boolean;
  /** The PD1-12 value as sent, when it said something. */
  protection?: string;
  /**
   * Impossible dates left out (PID-7 birth, PID-29 death), each a reason a person can act on.
   * ADT, the demographic authority, quarantines on them (adt.ts); a message that only names its
   * patient (a result, an order, a document) goes in without the date rather than lose the result.
   */
  faults?: string[];
}

/** The repetition to use from a repeating field: the first whose `typeComp` is one of `types`, else the first. */
function preferred(v: Hl7View, reps: string[], typeComp: number, types: string[], usable: (r: string) => boolean): string | undefined {
  const ok = reps.filter(usable);
  for (const t of types) {
    const r = ok.find((x) => v.fromRepetition(x, typeComp).toUpperCase() === t);
    if (r) return r;
  }
  return ok[0];
}

/**
 * The identity of the patient group a PID at `segments[i]` opens (a PD1 straight after it is its
 * own), for message types that carry groups of patients (ORU, OUL, orders): one mapper for them all.
 */
export function groupIdentity(v: Hl7View, system: string, segments: readonly Hl7Segment[], i: number, version: number): SourceIdentity {
  const pd1 = segments[i + 1]?.name === 'PD1' ? segments[i + 1] : undefined;
  return mapPatient(v, system, segments[i]!, pd1, version).identity;
}

/** Each identity once (by id), in the order first met: a message may restate a patient. */
export function distinctIdentities(parts: ReadonlyArray<{ identity: SourceIdentity }>): SourceIdentity[] {
  const out: SourceIdentity[] = [];
  for (const p of parts) if (!out.some((i) => i.id === p.identity.id)) out.push(p.identity);
  return out;
}

/**
 * PID (with the PD1 of its group) → identity and Patient. Only what a person could correct with
 * the sender quarantines the message: no patient identifier at all, an impossible birth or death
 * date. A value outside a user-defined table (sex) is left out.
 */
export function mapPatient(v: Hl7View, system: string, pid: Hl7Segment, pd1: Hl7Segment | undefined, version: number): PatientParts {
  // Every event restates the patient's PID (and PD1), most of them as sent before: the same text
  // maps to the same parts, so they are mapped once and shared (frozen: no caller may change them,
  // and the writer's serialisation of the shared Patient is kept with it, ingest/prepare.ts).
  if (pid.text === undefined || (pd1 && pd1.text === undefined)) return mapPatientFresh(v, system, pid, pd1, version);
  const d = v.delimiters;
  const key = `${system}\u0000${version}\u0000${d.field}${d.component}${d.repetition}${d.escape}${d.subcomponent}\u0000${pid.text}\u0000${pd1?.text ?? ''}`;
  const known = patientCache.get(key);
  if (known) return known;
  const parts = sharedValue(mapPatientFresh(v, system, pid, pd1, version)); // throws (not kept) for a content error
  if (patientCache.size >= PATIENT_CACHE_SIZE) patientCache.clear();
  patientCache.set(key, parts);
  return parts;
}

const PATIENT_CACHE_SIZE = 10_000;
const patientCache = new Map<string, PatientParts>();

function mapPatientFresh(v: Hl7View, system: string, pid: Hl7Segment, pd1: Hl7Segment | undefined, version: number): PatientParts {
  // PID-2 (external id) and PID-4 (alternate id) were where some v2.3 senders put the hospital number.
  const nhsRep = v.repetitions(pid, 3).find((r) => isNhsRep(v, r) && v.fromRepetition(r, 1));
  // Typed NHS numbers anywhere in the identifier lists (PID-4, the alternate ids, where some PAS
  // test feeds put the whole list), then untyped ones where pre-2.4 UK messages put them.
  const typedElsewhere = [4, 2].map((f) => v.repetitions(pid, f).find((r) => isNhsRep(v, r) && v.fromRepetition(r, 1))).find(Boolean);
  const nhsNumber =
    (nhsRep ?? typedElsewhere ? v.fromRepetition((nhsRep ?? typedElsewhere)!, 1).replace(/\s+/g, '') || undefined : undefined) ?? legacyNhsNumber(v, pid, 2) ?? legacyNhsNumber(v, pid, 19);
  const pid2 = pickHospitalNumber(v, pid, 2);
  const mrn =
    pickHospitalNumber(v, pid, 3) ??
    (pid2 !== undefined && pid2.replace(/\s+/g, '') !== nhsNumber ? pid2 : undefined) ??
    pickHospitalNumber(v, pid, 4) ??
    // Only the NHS number (PID-3 typed NH, or PID-2): it is the only key the sender gives (a GP
    // system's or a national service's message, `PID|||9434765919^^^NHS^NH`), so it keys the record.
    (nhsRep ? undefined : pid2) ??
    nhsNumber ??
    fail('PID-3 patient identifier list has no identifier (CX-1 is empty in every repetition): expected the hospital number, e.g. 123456^^^RM2^MR');

  const nameReps = v.repetitions(pid, 5);
  const hasName = (r: string) => !!(v.fromRepetition(r, 1) || v.fromRepetition(r, 2));
  const legal = preferred(v, nameReps, 7, ['L', 'CURRENT'], hasName);
  const family = legal ? v.fromRepetition(legal, 1) || undefined : undefined;
  // XPN-2 given name and XPN-3 further given names (middle names): the matcher knows a person by any of them.
  const given = legal ? [v.fromRepetition(legal, 2), v.fromRepetition(legal, 3)].filter(Boolean).join(' ') || undefined : undefined;

  const faults: string[] = [];
  const dobRaw = isoAsDtm(v.get(pid, 7));
  let birthDate: string | undefined;
  let partialBirthDate: string | undefined;
  if (dobRaw && dobRaw !== HL7_NULL) {
    const partial = /^(\d{4})(\d{2})?$/.exec(dobRaw);
    if (partial && (!partial[2] || (Number(partial[2]) >= 1 && Number(partial[2]) <= 12))) partialBirthDate = partial[2] ? `${partial[1]}-${partial[2]}` : partial[1];
    else {
      birthDate = hl7Date(dobRaw);
      if (!birthDate) faults.push(`PID-7 ${JSON.stringify(dobRaw)} is not a valid date`);
    }
  }
  const sex = SEX[v.get(pid, 8).toUpperCase()];

  const addressReps = v.repetitions(pid, 11);
  const address = preferred(v, addressReps, 7, ['H', 'HOME', 'C', 'P'], (r) => [1, 2, 3, 5].some((c) => v.fromRepetition(r, c)));
  const lines = address ? [v.fromRepetition(address, 1), v.fromRepetition(address, 2)].filter(Boolean) : [];
  const city = address ? v.fromRepetition(address, 3) : '';
  const state = address ? v.fromRepetition(address, 4) : '';
  const postcode = address ? v.fromRepetition(address, 5).toUpperCase().replace(/\s+/g, ' ') || undefined : undefined;

  // PD1-3 is XON: the organisation id is component 3 up to v2.4 and component 10 from v2.5.
  const practiceRep = v.repetitions(pd1, 3).find((r) => v.fromRepetition(r, 3) || v.fromRepetition(r, 10));
  const practiceId = practiceRep
    ? version >= 2.5
      ? v.fromRepetition(practiceRep, 10) || v.fromRepetition(practiceRep, 3)
      : v.fromRepetition(practiceRep, 3) || v.fromRepetition(practiceRep, 10)
    : '';
  const practice = practiceId.toUpperCase() || undefined;

  const identity: SourceIdentity = { system, id: mrn };
  if (nhsNumber) identity.nhsNumber = nhsNumber;
  if (family) identity.family = family;
  if (given) identity.given = given;
  // A year or year and month (DTM allows both) goes to the MPI too: it compares them as far as they go (mpi/link.ts birthDateOf).
  if (birthDate ?? partialBirthDate) identity.birthDate = birthDate ?? partialBirthDate;
  if (sex) identity.sex = sex;
  if (postcode) identity.postcode = postcode;
  if (practice) identity.practice = practice;
  if (lines.length) identity.address = lines.join(', ');
  if (city) identity.town = city;
  const { emails, phones } = telecomOf(v, pid);
  if (emails.length) identity.emails = emails;
  if (phones.length) identity.phones = phones;
  const others = otherIdentifiersOf(v, pid, mrn);
  if (others.length) identity.identifiers = others;

  const identifier: Identifier[] = [
    {
      use: 'usual',
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      system: sourceIdentifierSystem(system, 'mrn'),
      value: mrn,
    },
  ];
  if (nhsNumber) identifier.push({ system: NHS_NUMBER_SYSTEM, value: nhsNumber });
  const patient: Patient = { resourceType: 'Patient', id: mrn, identifier };
  const names: HumanName[] = [];
  const toName = (rep: string, use: HumanName['use'] | undefined): HumanName => {
    const f = v.fromRepetition(rep, 1);
    const givens = [v.fromRepetition(rep, 2), v.fromRepetition(rep, 3)].filter(Boolean);
    // XPN-5 prefix ("Mrs", "Dr") and XPN-4 suffix ("JR", "III"), as the v2-to-FHIR XPN map has them.
    const prefix = v.fromRepetition(rep, 5);
    const suffix = v.fromRepetition(rep, 4);
    return { ...(use ? { use } : {}), ...(f ? { family: f } : {}), ...(givens.length ? { given: givens } : {}), ...(prefix ? { prefix: [prefix] } : {}), ...(suffix ? { suffix: [suffix] } : {}) };
  };
  if (legal) names.push(toName(legal, 'official'));
  for (const rep of nameReps) if (rep !== legal && hasName(rep)) names.push(toName(rep, NAME_USE[v.fromRepetition(rep, 7).toUpperCase()]));
  if (names.length) patient.name = names;
  if (sex) patient.gender = sex;
  if (birthDate ?? partialBirthDate) patient.birthDate = birthDate ?? partialBirthDate;
  if (lines.length || city || postcode) {
    patient.address = [{ ...(lines.length ? { line: lines } : {}), ...(city ? { city } : {}), ...(state ? { state } : {}), ...(postcode ? { postalCode: postcode } : {}) }];
  }
  const deathRaw = v.get(pid, 29);
  if (deathRaw && deathRaw !== HL7_NULL) {
    const death = hl7Time(deathRaw);
    if (death) patient.deceasedDateTime = death.dateTime;
    else faults.push(`PID-29 ${JSON.stringify(deathRaw)} is not a valid date/time`);
  } else if (v.get(pid, 30).toUpperCase() === 'Y') {
    patient.deceasedBoolean = true;
  } else if (v.get(pid, 30).toUpperCase() === 'N') {
    // PID-30 N: the sender says the patient is not deceased (a death recorded in error is undone).
    patient.deceasedBoolean = false;
  }
  const gps: NonNullable<Patient['generalPractitioner']> = [];
  if (practice) gps.push({ identifier: { system: ODS_SYSTEM, value: practice } });
  // PD1-4: the patient's primary care provider (the GP), kept as a display reference.
  const gpRep = v.repetitions(pd1, 4).find((r) => v.fromRepetition(r, 1) || v.fromRepetition(r, 2));
  if (gpRep) {
    const gpId = v.fromRepetition(gpRep, 1);
    const display = xcnDisplay(v, gpRep);
    gps.push({ ...(gpId ? { identifier: { value: gpId } } : {}), ...(display ? { display } : {}) });
  }
  if (gps.length) patient.generalPractitioner = gps;
  // PD1-12 protection indicator (v2.3+): whether access to the patient's information is restricted.
  const protection = v.get(pd1, 12).toUpperCase();
  const restricted = protection === 'Y' ? true : protection === 'N' || protection === '""' ? false : undefined;
  if (restricted) patient.meta = { security: [{ system: CONFIDENTIALITY_SYSTEM, code: 'R', display: 'restricted' }] };
  return { identity, patient, ...(restricted !== undefined ? { restricted, protection } : {}), ...(faults.length ? { faults } : {}) };
}

/**
 * PID-13 (home) and PID-14 (business) telecom, XTN: an email in XTN-4 (use NET or type Internet),
 * a phone in XTN-12 (unformatted), else XTN-5/6/7 (country, area, local number, v2.3+), else XTN-1.
 */
function telecomOf(v: Hl7View, pid: Hl7Segment): { emails: string[]; phones: string[] } {
  const emails: string[] = [];
  const phones: string[] = [];
  for (const field of [13, 14]) {
    for (const rep of v.repetitions(pid, field)) {
      const use = v.fromRepetition(rep, 2).toUpperCase();
      const equipment = v.fromRepetition(rep, 3).toUpperCase();
      const email = v.fromRepetition(rep, 4) || (use === 'NET' || equipment === 'INTERNET' || equipment === 'X.400' ? v.fromRepetition(rep, 1) : '');
      if (email) {
        emails.push(email);
        continue;
      }
      const parts = [v.fromRepetition(rep, 5), v.fromRepetition(rep, 6), v.fromRepetition(rep, 7)];
      const split = parts[2] ? `${parts[0] ? `+${parts[0]} ` : ''}${parts[1]} ${parts[2]}`.trim() : '';
      const phone = v.fromRepetition(rep, 12) || split || v.fromRepetition(rep, 1);
      if (phone) phones.push(phone);
    }
  }
  return { emails, phones };
}

// CX-5 identifier types (table 0203) that name a person across systems.
const PERSON_IDENTIFIER_TYPES = new Set(['SS', 'SB', 'NI', 'NIIP', 'PPN', 'DL', 'CZ', 'PRC', 'PEN']);

/**
 * Identifiers other than the NHS number and the hospital number: PID-3 repetitions of a person
 * identifier type (SS, PPN, DL, NI…), PID-19 (SSN, deprecated from v2.7 but still sent) and
 * PID-20 (driver's licence, DLN-1 with its issuer DLN-2).
 */
function otherIdentifiersOf(v: Hl7View, pid: Hl7Segment, mrn: string): { system: string; value: string }[] {
  const out: { system: string; value: string }[] = [];
  for (const rep of v.repetitions(pid, 3)) {
    const value = v.fromRepetition(rep, 1);
    const type = v.fromRepetition(rep, 5).toUpperCase();
    if (value && value !== mrn && !isNhsRep(v, rep) && PERSON_IDENTIFIER_TYPES.has(type)) out.push({ system: type, value });
  }
  const ssn = v.get(pid, 19);
  // A UK sender's NHS number in PID-19 is the NHS number (patient.ts legacyNhsNumber), not an SSN.
  if (ssn && !validNhsDigits(ssn)) out.push({ system: 'SS', value: ssn });
  const licence = v.repetitions(pid, 20)[0];
  if (licence && v.fromRepetition(licence, 1)) out.push({ system: 'DL', value: v.fromRepetition(licence, 1) });
  return out;
}
