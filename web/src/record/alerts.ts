/**
 * The banner's alerts: what a clinician must see before anything else, beyond the deceased and
 * restricted markers the banner already shows. Active FHIR Flags (the standard resource for
 * alerts, https://hl7.org/fhir/R4/flag.html); active allergies the source marks high
 * criticality; items the user may see that carry Bevan's sensitivity codes (system
 * `urn:bevan:sensitive`, access/policy/sensitive-codes.json) — safeguarding as an alert, the
 * others as a marker that the record holds sensitive information. Items the policy withheld
 * never reach the page, so they raise nothing here. Pure.
 */
import type { Bundle, Flag, Resource } from '@medplum/fhirtypes';
import { codeText } from './fhir-values.ts';
import type { RecordView } from './model.ts';

export const SENSITIVE_SYSTEM = 'urn:bevan:sensitive';

const SENSITIVE_LABEL: Record<string, string> = {
  safeguarding: 'Safeguarding',
  'sexual-health': 'Sexual health',
  ivf: 'Assisted conception (IVF)',
  'gender-identity': 'Gender identity',
  'mental-health-sensitive': 'Mental health (sensitive)',
};

export interface Alert {
  key: string;
  kind: 'flag' | 'allergy' | 'safeguarding' | 'sensitive';
  /** high: act on it (a red alert); info: be aware. */
  severity: 'high' | 'info';
  text: string;
  detail: string | null;
}

/** The sensitivity codes anywhere in a resource (its code, category, meta.security…). */
export function sensitivityCodes(r: unknown): Set<string> {
  const out = new Set<string>();
  const visit = (node: unknown, depth: number) => {
    if (depth > 10 || !node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const x of node) visit(x, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    if (o.system === SENSITIVE_SYSTEM && typeof o.code === 'string') out.add(o.code);
    for (const v of Object.values(o)) if (v && typeof v === 'object') visit(v, depth + 1);
  };
  visit(r, 0);
  return out;
}

export function recordAlerts(view: Pick<RecordView, 'allergies'>, bundle: Bundle, today: string): Alert[] {
  const resources = (bundle.entry ?? []).map((e) => e.resource).filter((r): r is Resource => !!r && r.resourceType !== 'Patient' && r.resourceType !== 'OperationOutcome');
  const flags: Alert[] = [];
  const sensitive = new Map<string, number>();
  for (const r of resources) {
    if (r.resourceType === 'Flag') {
      const f = r as Flag;
      const ended = !!f.period?.end && f.period.end.slice(0, 10) < today;
      if (f.status === 'active' && !ended) flags.push({ key: `Flag/${f.id}`, kind: 'flag', severity: 'high', text: codeText(f.code) ?? 'Alert', detail: codeText(f.category?.[0]) });
    }
    for (const code of sensitivityCodes(r)) sensitive.set(code, (sensitive.get(code) ?? 0) + 1);
  }
  const allergies: Alert[] = view.allergies
    .filter((a) => a.active && a.criticality === 'high')
    .map((a) => ({ key: `allergy:${a.key}`, kind: 'allergy', severity: 'high', text: `Allergy: ${a.substance}`, detail: ['high criticality', ...a.reactions].join(', ') }));
  const safeguarding: Alert[] = sensitive.has('safeguarding')
    ? [{ key: 'sensitive:safeguarding', kind: 'safeguarding', severity: 'high', text: 'Safeguarding concern recorded', detail: `${sensitive.get('safeguarding')} item${sensitive.get('safeguarding') === 1 ? '' : 's'} in the record` }]
    : [];
  const markers: Alert[] = [...sensitive.keys()]
    .filter((c) => c !== 'safeguarding')
    .sort()
    .map((c) => ({ key: `sensitive:${c}`, kind: 'sensitive', severity: 'info', text: `Sensitive information: ${SENSITIVE_LABEL[c] ?? c}`, detail: 'handle with care; shown to you because of your relationship with this person' }));
  return [...safeguarding, ...flags, ...allergies, ...markers];
}
