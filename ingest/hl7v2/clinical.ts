/**
 * Allergy and problem segments, wherever a message carries them: AL1 and IAM →
 * AllergyIntolerance; DG1 → Condition (encounter-diagnosis); PRB → Condition (problem-list-item).
 * HL7 v2.5 chapters 3.4.6 (AL1), 3.4.7 (IAM), 6.5.2 (DG1), 12.4.2 (PRB). Pure.
 *
 * Ids: the segment's own instance id when it has one (IAM-7, DG1-20, PRB-4), else the patient's
 * id and a hash of the code, so the same allergy or diagnosis sent again (A08 after A01, a replay)
 * updates one resource instead of adding another.
 */
import type { AllergyIntolerance, Annotation, CodeableConcept, Condition } from '@medplum/fhirtypes';
import type { ItemResource } from '../model.ts';
import type { Hl7Segment, Hl7View } from './hl7-text.ts';
import { ALLERGEN_TYPE, ALLERGY_SEVERITY } from './tables.ts';
import { annotatingTime, codeable, shortHash, type MapContext } from './mapping.ts';

const CLINICAL_STATUS_ALLERGY = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical';
const VERIFICATION_ALLERGY = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification';
const CLINICAL_STATUS_CONDITION = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
const VERIFICATION_CONDITION = 'http://terminology.hl7.org/CodeSystem/condition-ver-status';
const CONDITION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/condition-category';

export const CLINICAL_SEGMENTS = new Set(['AL1', 'IAM', 'DG1', 'PRB']);

export interface ClinicalContext {
  ctx: MapContext;
  /** The Patient's source id (PID-3). */
  mrn: string;
  /** The visit this group's segments belong to, when the message carries one. */
  encounterId?: string;
  /** Set for several patients in one message: every resource names its patient. */
  subject?: string;
  /** PPR^PC3 (problem delete): every PRB is deleted whatever PRB-1 says. */
  deleteProblems?: boolean;
}

const cc = (system: string, code: string): CodeableConcept => ({ coding: [{ system, code }] });

function codeKey(c: CodeableConcept | undefined): string {
  const first = c?.coding?.[0];
  return first ? `${first.system ?? ''}|${first.code ?? ''}` : `text|${(c?.text ?? '').toLowerCase()}`;
}

/** Maps every AL1, IAM, DG1 and PRB of a patient group. */
export function mapClinicalSegments(segments: Hl7Segment[], c: ClinicalContext): ItemResource[] {
  const out: ItemResource[] = [];
  const seen = new Set<string>();
  for (const seg of segments) {
    let r: AllergyIntolerance | Condition | undefined;
    if (seg.name === 'AL1' || seg.name === 'IAM') r = mapAllergy(seg, c);
    else if (seg.name === 'DG1') r = mapDiagnosis(seg, c);
    else if (seg.name === 'PRB') r = mapProblem(seg, c);
    if (!r) continue;
    // The same allergy twice in one message (coded once, then as text): the first wins.
    const key = `${r.resourceType}/${r.id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ resource: r, sourceTime: c.ctx.sourceTime, ...(c.subject ? { subject: c.subject } : {}) });
  }
  return out;
}

function patientRef(c: ClinicalContext): { reference: string } {
  return { reference: `Patient/${c.mrn}` };
}

/** AL1 (allergy information) or IAM (patient adverse reaction information) → AllergyIntolerance. */
function mapAllergy(seg: Hl7Segment, c: ClinicalContext): AllergyIntolerance | undefined {
  const { v } = c.ctx;
  const iam = seg.name === 'IAM';
  const code = codeable(v, seg, 3);
  if (!code) return undefined; // no allergen: nothing to record
  const notes: Annotation[] = [];
  const typeRaw = (iam ? v.get(seg, 2) : v.get(seg, 2)).toUpperCase();
  const type = ALLERGEN_TYPE[typeRaw];
  const severityRaw = v.get(seg, 4).toUpperCase();
  const severity = ALLERGY_SEVERITY[severityRaw];
  const reactions = v.repetitions(seg, 5).map((r) => v.fromRepetition(r, 1) || v.fromRepetition(r, 2)).filter(Boolean);
  const ownId = iam ? v.get(seg, 7) : '';
  const id = ownId || `${c.mrn}-allergy-${shortHash(codeKey(code))}`;
  const when = iam ? annotatingTime(v, seg, 11, 'IAM-11', notes) : annotatingTime(v, seg, 6, 'AL1-6', notes);
  const reported = iam ? annotatingTime(v, seg, 13, 'IAM-13', notes) : undefined;
  // IAM-6 action code D deletes the allergy from the list; IAM-17 E (erroneous) says it was never true.
  const action = iam ? v.get(seg, 6).toUpperCase() : '';
  const clinicalStatus = iam ? v.get(seg, 17).toUpperCase() : '';
  const allergy: AllergyIntolerance = {
    resourceType: 'AllergyIntolerance',
    id,
    patient: patientRef(c),
    code,
  };
  if (clinicalStatus === 'E') allergy.verificationStatus = cc(VERIFICATION_ALLERGY, 'entered-in-error');
  else {
    allergy.clinicalStatus = cc(CLINICAL_STATUS_ALLERGY, action === 'D' ? 'inactive' : 'active');
    const verification = clinicalStatus === 'C' ? 'confirmed' : clinicalStatus === 'U' || clinicalStatus === 'S' || clinicalStatus === 'P' || clinicalStatus === 'D' ? 'unconfirmed' : undefined;
    if (verification) allergy.verificationStatus = cc(VERIFICATION_ALLERGY, verification);
  }
  if (type?.type) allergy.type = type.type;
  if (type?.category) allergy.category = [type.category];
  if (severity?.criticality) allergy.criticality = severity.criticality;
  if (reactions.length || severity?.severity) {
    allergy.reaction = [
      {
        manifestation: reactions.length ? reactions.map((text) => ({ text })) : [{ text: 'reaction not stated' }],
        ...(severity?.severity ? { severity: severity.severity } : {}),
      },
    ];
  }
  if (when) allergy.onsetDateTime = when.dateTime;
  if (reported) allergy.recordedDate = reported.dateTime;
  if (notes.length) allergy.note = notes;
  return allergy;
}

/** DG1 (diagnosis) → Condition, category encounter-diagnosis. */
function mapDiagnosis(seg: Hl7Segment, c: ClinicalContext): Condition | undefined {
  const { v } = c.ctx;
  // DG1-4 (free-text description) was how v2.3 senders gave an uncoded diagnosis.
  const code = codeable(v, seg, 3) ?? (v.get(seg, 4) ? { text: v.get(seg, 4) } : undefined);
  if (!code) return undefined;
  const notes: Annotation[] = [];
  const ownId = v.get(seg, 20);
  const id = ownId || `${c.encounterId ?? c.mrn}-diagnosis-${shortHash(codeKey(code))}`;
  const when = annotatingTime(v, seg, 5, 'DG1-5', notes);
  // DG1-6 diagnosis type (table 0052): A admitting and W working are provisional, F final is confirmed.
  const type = v.get(seg, 6).toUpperCase();
  const verification = type === 'F' ? 'confirmed' : type === 'A' || type === 'W' ? 'provisional' : undefined;
  const deleted = v.get(seg, 21).toUpperCase() === 'D';
  const condition: Condition = {
    resourceType: 'Condition',
    id,
    category: [{ coding: [{ system: CONDITION_CATEGORY, code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
    code,
    subject: patientRef(c),
  };
  if (deleted) condition.verificationStatus = cc(VERIFICATION_CONDITION, 'entered-in-error');
  else if (verification) condition.verificationStatus = cc(VERIFICATION_CONDITION, verification);
  if (c.encounterId) condition.encounter = { reference: `Encounter/${c.encounterId}` };
  if (when) condition.recordedDate = when.dateTime;
  if (notes.length) condition.note = notes;
  return condition;
}

/** PRB (problem details) → Condition, category problem-list-item. */
function mapProblem(seg: Hl7Segment, c: ClinicalContext): Condition | undefined {
  const { v } = c.ctx;
  const code = codeable(v, seg, 3);
  if (!code) return undefined;
  const notes: Annotation[] = [];
  const ownId = v.get(seg, 4);
  const id = ownId || `${c.mrn}-problem-${shortHash(codeKey(code))}`;
  const action = v.get(seg, 1).toUpperCase();
  const onset = annotatingTime(v, seg, 16, 'PRB-16', notes);
  const established = annotatingTime(v, seg, 7, 'PRB-7', notes);
  const resolved = annotatingTime(v, seg, 9, 'PRB-9', notes);
  // PRB-14 life cycle status is a local code in most systems; read the common words and letters.
  const life = (v.get(seg, 14, { comp: 1 }) || v.get(seg, 14, { comp: 2 })).toUpperCase();
  const confirmation = v.get(seg, 13, { comp: 1 }).toUpperCase();
  const condition: Condition = {
    resourceType: 'Condition',
    id,
    category: [{ coding: [{ system: CONDITION_CATEGORY, code: 'problem-list-item', display: 'Problem List Item' }] }],
    code,
    subject: patientRef(c),
  };
  if (action === 'DE' || c.deleteProblems) {
    condition.verificationStatus = cc(VERIFICATION_CONDITION, 'entered-in-error');
  } else {
    const status = resolved || /^(R|RESOLVED)$/.test(life) ? 'resolved' : /^(I|INACTIVE)$/.test(life) ? 'inactive' : 'active';
    condition.clinicalStatus = cc(CLINICAL_STATUS_CONDITION, status);
    const verification = /^(C|CONFIRMED)$/.test(confirmation) ? 'confirmed' : /^(P|PROVISIONAL|PROBABLE)$/.test(confirmation) ? 'provisional' : /^(R|RULED OUT|REFUTED)$/.test(confirmation) ? 'refuted' : undefined;
    if (verification) condition.verificationStatus = cc(VERIFICATION_CONDITION, verification);
  }
  if (onset) condition.onsetDateTime = onset.dateTime;
  if (established) condition.recordedDate = established.dateTime;
  if (resolved) condition.abatementDateTime = resolved.dateTime;
  if (notes.length) condition.note = notes;
  return condition;
}
