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
