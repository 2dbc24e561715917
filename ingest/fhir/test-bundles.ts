/** Synthetic FHIR bundles for the adapter tests and benchmarks (no real people). */

export interface BundleOptions {
  id?: string;
  type?: string;
  source?: string | null;
  patientId?: string;
  ods?: string;
  /** Extra clinical entries, each an Observation unless given. */
  observations?: number;
  extra?: Record<string, unknown>[];
  useUrnUuids?: boolean;
}

/** A GP record bundle for one synthetic person. */
export function gpBundle(o: BundleOptions = {}): Record<string, unknown> {
  const pid = o.patientId ?? 'pat-1';
  const ods = o.ods ?? 'P91001';
  const urn = o.useUrnUuids ?? false;
  const patientRef = urn ? `urn:uuid:${pid}` : `Patient/${pid}`;
  const entry: Record<string, unknown>[] = [
    {
      fullUrl: urn ? `urn:uuid:${pid}` : `https://gp.example/fhir/Patient/${pid}`,
      resource: {
        resourceType: 'Patient',
        ...(urn ? {} : { id: pid }),
        meta: { lastUpdated: '2024-03-01T10:00:00Z' },
        identifier: [
          { system: 'https://fhir.nhs.uk/Id/nhs-number', value: '943 476 5919' },
          { system: 'https://gp.example/local', value: 'L1' },
        ],
        name: [
          { use: 'usual', family: 'Usual', given: ['Nick'] },
          { use: 'official', family: 'Testperson', given: ['Alexandra', 'Jane'] },
        ],
        gender: 'female',
        birthDate: '1948-02-29',
        address: [
          { use: 'work', postalCode: 'ZZ1 1ZZ' },
          { use: 'home', postalCode: 'ZZ9 9ZZ' },
        ],
        generalPractitioner: [{ identifier: { system: 'https://fhir.nhs.uk/Id/ods-organization-code', value: ods } }],
      },
    },
    {
      fullUrl: 'urn:uuid:cond-1',
      resource: {
        resourceType: 'Condition',
        subject: { reference: patientRef },
        code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006', display: 'Diabetes mellitus type 2' }] },
        onsetDateTime: '2010-05-04',
      },
    },
  ];
  for (let i = 0; i < (o.observations ?? 1); i++) {
    entry.push({
      fullUrl: `urn:uuid:obs-${i}`,
      resource: {
        resourceType: 'Observation',
        id: `obs-${i}`,
        status: 'final',
        subject: { reference: patientRef },
        performer: [{ reference: 'Practitioner/gp-7' }],
        code: { coding: [{ system: 'http://snomed.info/sct', code: '271649006', display: 'Systolic blood pressure' }] },
        valueQuantity: { value: 120 + (i % 40), unit: 'mmHg' },
        effectiveDateTime: '2023-11-02T09:30:00+00:00',
        meta: { lastUpdated: '2023-11-02T09:31:00Z' },
      },
    });
  }
  for (const r of o.extra ?? []) entry.push({ resource: r });
  return {
    resourceType: 'Bundle',
    id: o.id ?? `bundle-${pid}`,
    type: o.type ?? 'collection',
    ...(o.source === null ? {} : { meta: { source: o.source ?? `gp:${ods}` } }),
    entry,
  };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

/**
 * FHIR JSON → FHIR XML by the R4 rules, the inverse of ingest/fhir/xml.ts, for round trips in tests and benchmarks:
 * primitives as `value` attributes (with `_name` id/extensions), arrays as repeated elements,
 * resources wrapped in their element, `div` as XHTML, `url`/`id` attributes on complex elements.
 */
function toXml(name: string, value: unknown, under?: unknown): string {
  if (Array.isArray(value) || Array.isArray(under)) {
    const vs = (value ?? []) as unknown[];
    const us = (under ?? []) as unknown[];
    return Array.from({ length: Math.max(vs.length, us.length) }, (_, i) => toXml(name, vs[i] ?? undefined, us[i] ?? undefined)).join('');
  }
  if (name === 'div' && typeof value === 'string') return value;
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    const u = (under ?? {}) as Record<string, unknown>;
    const id = u.id === undefined ? '' : ` id="${esc(String(u.id))}"`;
    const ext = u.extension ? toXml('extension', u.extension) : '';
    return `<${name}${id} value="${esc(String(value))}"${ext ? `>${ext}</${name}>` : '/>'}`;
  }
  if (value === undefined) {
    const u = under as Record<string, unknown>;
    return `<${name}${u.id === undefined ? '' : ` id="${esc(String(u.id))}"`}>${toXml('extension', u.extension)}</${name}>`;
  }
  const obj = value as Record<string, unknown>;
  if (typeof obj.resourceType === 'string') return `<${name}>${fhirJsonToXml(obj, false)}</${name}>`;
  return `<${name}${attrs(obj)}>${body(obj)}</${name}>`;
}
function attrs(obj: Record<string, unknown>): string {
  return (obj.id !== undefined ? ` id="${esc(String(obj.id))}"` : '') + (obj.url !== undefined ? ` url="${esc(String(obj.url))}"` : '');
}
function body(obj: Record<string, unknown>, resource = false): string {
  return Object.keys(obj)
    .filter((k) => !k.startsWith('_') && k !== 'resourceType' && (resource || (k !== 'id' && k !== 'url')))
    .concat(Object.keys(obj).filter((k) => k.startsWith('_') && !(k.slice(1) in obj)).map((k) => k.slice(1)))
    .map((k) => toXml(k, obj[k], obj[`_${k}`]))
    .join('');
}
/** A FHIR JSON resource as FHIR XML (see toXml), with the FHIR namespace on its root unless nested. */
export function fhirJsonToXml(r: Record<string, unknown>, root = true): string {
  return `<${r.resourceType}${root ? ' xmlns="http://hl7.org/fhir"' : ''}>${body(r, true)}</${r.resourceType}>`;
}
