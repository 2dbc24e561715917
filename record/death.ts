/**
 * Whether, and when, the person died, from everything the sources say: a Patient's
 * deceased[x] (FHIR from the GP system, HL7 PID-29/PID-30 from a hospital), a discharge whose
 * disposition is death (HL7 A03 PV1-36), and a social care case closed because the person died
 * (reference/death-codes.csv says which coded values mean death, per source). One source saying
 * so is enough for the record to say so first; where sources disagree, it says that too. Pure.
 */
import type { Encounter, Patient, Procedure } from '@medplum/fhirtypes';
import { ageOn, dateValue, formatDate } from './dates.ts';
import type { ItemRef, RecordSource } from './integrated-record.ts';
import { deathMeaning, type ReferenceData } from './reference/reference-data.ts';
import type { ResourceRow } from './rows.ts';

export type DeathEvidence = 'patient-record' | 'discharge' | 'case-closure';

export interface DeathReport {
  source: RecordSource;
  /** False only when a source says explicitly that the person is alive (FHIR deceasedBoolean false, HL7 PID-30 N). */
  deceased: boolean;
  /** As the source gave it (date or dateTime), or null when it says only that the person died. */
  date: string | null;
  evidence: DeathEvidence;
  /** What the source recorded, in words: "date of death", "discharged: Patient died", "case closed: Died". */
  detail: string;
  ref: ItemRef;
}

export interface DeathStatus {
  /** The date of death the record shows: from the GP record first, then a hospital's, then a discharge, then social care. */
  date: string | null;
  ageAtDeath: number | null;
  /** Every source reporting the death, in the order of trust above. */
  reportedBy: RecordSource[];
  /** Every report, including a source saying the person is alive. */
  reports: DeathReport[];
  /** Sources holding the person's demographics in a format that carries a death (GP, hospital) that record none. */
  notRecordedBy: RecordSource[];
  /** Where the sources disagree (different dates, a source saying alive), in words; empty when they agree. */
  disagreements: string[];
}

const RANK: Record<DeathEvidence, number> = { 'patient-record': 0, discharge: 1, 'case-closure': 2 };

/** The person's death as the sources record it, or null when no source reports one. */
export function deathStatus(
  rows: readonly ResourceRow[],
  birthDate: string | null,
  reference: ReferenceData,
  source: (system: string) => RecordSource,
): DeathStatus | null {
  const reports: DeathReport[] = [];
  const silentPatients: RecordSource[] = [];
  for (const row of rows) {
    const ref: ItemRef = { system: row.source_system, resourceType: row.resource_type, sourceId: row.source_id };
    const src = source(row.source_system);
    const r = row.content;
    if (r.resourceType === 'Patient') {
      const p = r as Patient;
      if (p.deceasedDateTime) reports.push({ source: src, deceased: true, date: p.deceasedDateTime, evidence: 'patient-record', detail: 'date of death', ref });
      else if (p.deceasedBoolean === true) reports.push({ source: src, deceased: true, date: null, evidence: 'patient-record', detail: 'recorded as deceased, no date', ref });
      else if (p.deceasedBoolean === false) reports.push({ source: src, deceased: false, date: null, evidence: 'patient-record', detail: 'recorded as not deceased', ref });
      else if (row.source_system.startsWith('gp:') || row.source_system.startsWith('hl7:')) silentPatients.push(src);
    } else if (r.resourceType === 'Encounter') {
      const e = r as Encounter;
      for (const c of e.hospitalization?.dischargeDisposition?.coding ?? []) {
        const meaning = c.code ? deathMeaning(reference, row.source_system, 'discharge-disposition', c.system ?? '', c.code) : undefined;
        if (!meaning) continue;
        reports.push({ source: src, deceased: true, date: e.period?.end ?? null, evidence: 'discharge', detail: `discharged: ${meaning}`, ref });
        break;
      }
    } else if (r.resourceType === 'Procedure') {
      const p = r as Procedure;
      const outcome = p.outcome?.text ?? p.outcome?.coding?.find((c) => c.display)?.display;
      const meaning = outcome ? deathMeaning(reference, row.source_system, 'assessment-outcome', '', outcome) : undefined;
      if (meaning) reports.push({ source: src, deceased: true, date: p.performedDateTime ?? p.performedPeriod?.start ?? null, evidence: 'case-closure', detail: meaning, ref });
    }
  }
  const died = reports.filter((x) => x.deceased);
  if (!died.length) return null;
  died.sort((a, b) => RANK[a.evidence] - RANK[b.evidence] || Number(!a.source.system.startsWith('gp:')) - Number(!b.source.system.startsWith('gp:')) || Number(!a.date) - Number(!b.date) || dateValue(a.date) - dateValue(b.date));
  const date = died.find((x) => x.date)?.date ?? null;
  const reportedBy: RecordSource[] = [];
  for (const x of died) if (!reportedBy.some((s) => s.system === x.source.system)) reportedBy.push(x.source);

  const disagreements: string[] = [];
  const byDay = new Map<string, RecordSource[]>();
  for (const x of died) {
    if (!x.date) continue;
    const day = formatDate(x.date);
    const list = byDay.get(day) ?? [];
    if (!list.some((s) => s.system === x.source.system)) list.push(x.source);
    byDay.set(day, list);
  }
  if (byDay.size > 1) disagreements.push(`date of death: ${[...byDay].map(([day, s]) => `${day} (${s.map((y) => y.name).join(', ')})`).join('; ')}`);
  for (const x of reports.filter((y) => !y.deceased)) disagreements.push(`${x.source.name} records the person as not deceased`);

  const notRecordedBy = silentPatients.filter((s, i, all) => !reportedBy.some((r) => r.system === s.system) && all.findIndex((y) => y.system === s.system) === i);
  return { date, ageAtDeath: date ? ageOn(birthDate, date) : null, reportedBy, reports: [...died, ...reports.filter((x) => !x.deceased)], notRecordedBy, disagreements };
}
