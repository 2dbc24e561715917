/** Reading FHIR R4 datatypes for display (https://hl7.org/fhir/R4/datatypes.html). Pure. */
import type { CodeableConcept, Observation, Quantity } from '@medplum/fhirtypes';

/** The text a person reads for a concept: its text, else the first coding's display, else its code. */
export function codeText(cc: CodeableConcept | undefined | null): string | null {
  if (!cc) return null;
  return cc.text ?? cc.coding?.find((c) => c.display)?.display ?? cc.coding?.find((c) => c.code)?.code ?? null;
}

/** The first code of a concept (e.g. a status or an interpretation), else null. */
export function firstCode(cc: CodeableConcept | undefined | null): string | null {
  return cc?.coding?.find((c) => c.code)?.code ?? null;
}

/** `system|code` of every coding, for matching the same concept from several sources. */
export function codings(cc: CodeableConcept | undefined | null): string[] {
  return (cc?.coding ?? []).filter((c) => c.code).map((c) => `${c.system ?? ''}|${c.code}`);
}

/** One key for a concept: its first system|code, else its text in lower case. */
export function conceptKey(cc: CodeableConcept | undefined | null, fallback: string): string {
  return codings(cc)[0] ?? `text|${(codeText(cc) ?? fallback).trim().toLowerCase()}`;
}

export function quantityText(q: Quantity | undefined): string | null {
  if (q?.value === undefined) return null;
  const unit = q.unit ?? q.code;
  return `${q.comparator ?? ''}${q.value}${unit ? ` ${unit}` : ''}`;
}

type ValueCarrier = Pick<Observation, 'valueQuantity' | 'valueString' | 'valueCodeableConcept' | 'valueBoolean' | 'valueInteger'>;

export function valueText(o: ValueCarrier): string | null {
  const q = quantityText(o.valueQuantity);
  if (q) return q;
  if (o.valueString !== undefined) return o.valueString;
  if (o.valueCodeableConcept) return codeText(o.valueCodeableConcept);
  if (o.valueBoolean !== undefined) return o.valueBoolean ? 'yes' : 'no';
  if (o.valueInteger !== undefined) return String(o.valueInteger);
  return null;
}

/** An observation's value; for one made of components with one unit (blood pressure) `160/94 mmHg`. */
export function observationValue(o: Observation): string | null {
  const own = valueText(o);
  if (own) return own;
  const parts = (o.component ?? []).map((c) => ({ v: c.valueQuantity?.value, unit: c.valueQuantity?.unit ?? c.valueQuantity?.code, text: valueText(c) }));
  if (!parts.length || parts.some((p) => !p.text)) return null;
  if (parts.every((p) => p.v !== undefined && p.unit && p.unit === parts[0]!.unit)) return `${parts.map((p) => p.v).join('/')} ${parts[0]!.unit}`;
  return parts.map((p) => p.text).join(', ');
}

/** The unit an observation is measured in (its own, else its first component's). */
export function observationUnit(o: Observation): string | null {
  return o.valueQuantity?.unit ?? o.valueQuantity?.code ?? o.component?.[0]?.valueQuantity?.unit ?? null;
}

export interface Range {
  low: number | null;
  high: number | null;
  text: string;
}

/** The first reference range as numbers and words (`3.5 to 5.3 mmol/L`, `above 90`). */
export function referenceRange(o: Observation): Range | null {
  const r = o.referenceRange?.[0];
  if (!r) return null;
  const low = r.low?.value ?? null;
  const high = r.high?.value ?? null;
  const unit = r.low?.unit ?? r.high?.unit ?? '';
  let text = r.text ?? '';
  if (!text) {
    if (low !== null && high !== null) text = `${low} to ${high}`;
    else if (low !== null) text = `${low} or more`;
    else if (high !== null) text = `up to ${high}`;
  }
  if (!text) return null;
  if (unit && !text.includes(unit)) text = `${text} ${unit}`;
  return { low, high, text };
}

/** HL7 v3 ObservationInterpretation codes (https://terminology.hl7.org/CodeSystem-v3-ObservationInterpretation.html). */
const INTERPRETATION: Record<string, { label: string; abnormal: boolean }> = {
  N: { label: 'Normal', abnormal: false },
  H: { label: 'High', abnormal: true },
  L: { label: 'Low', abnormal: true },
  HH: { label: 'Critically high', abnormal: true },
  LL: { label: 'Critically low', abnormal: true },
  HU: { label: 'Very high', abnormal: true },
  LU: { label: 'Very low', abnormal: true },
  A: { label: 'Abnormal', abnormal: true },
  AA: { label: 'Critically abnormal', abnormal: true },
  POS: { label: 'Positive', abnormal: true },
  NEG: { label: 'Negative', abnormal: false },
  DET: { label: 'Detected', abnormal: true },
  ND: { label: 'Not detected', abnormal: false },
};

export interface Flag {
  code: string;
  label: string;
  abnormal: boolean;
  /** True when the source sent no flag and Bevan compared the value with the range. */
  derived: boolean;
}

/** The abnormal flag the source sent, else one from comparing a number with its range; null when normal or unknown. */
export function resultFlag(o: Observation): Flag | null {
  const code = firstCode(o.interpretation?.[0]);
  if (code) {
    const known = INTERPRETATION[code.toUpperCase()];
    return { code, label: known?.label ?? codeText(o.interpretation?.[0]) ?? code, abnormal: known?.abnormal ?? true, derived: false };
  }
  const v = o.valueQuantity?.value;
  const range = referenceRange(o);
  if (v === undefined || !range) return null;
  if (range.high !== null && v > range.high) return { code: 'H', label: 'Above range', abnormal: true, derived: true };
  if (range.low !== null && v < range.low) return { code: 'L', label: 'Below range', abnormal: true, derived: true };
  return null;
}
