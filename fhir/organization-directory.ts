/**
 * The locality's organisations as FHIR Organization resources, so that a Patient's
 * generalPractitioner (and any ODS-coded reference Bevan serves) can be followed: GP practices
 * from the locality's practice list, hospitals, community, mental health and social care providers
 * from its reference data (record/reference/organisations.csv), and names a feed sent in its own
 * Organization resources. The logical id is the ODS code (stored Organizations keep their 32-hex
 * ids, so the two never collide). Reference data, no person. Pure.
 */
import type { Organization } from '@medplum/fhirtypes';
import type { PracticeRow } from '../record/rows.ts';
import type { OrganisationKind, ReferenceData } from '../record/reference/reference-data.ts';

export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
const ORG_TYPE = 'http://terminology.hl7.org/CodeSystem/organization-type';
/** An ODS code as Bevan keeps them (locality codes such as TRAFFORD-SC included). */
export const ODS_CODE = /^[A-Za-z0-9-]{3,12}$/;

const KIND: Record<OrganisationKind, { code: string; text: string }> = {
  'gp-practice': { code: 'prov', text: 'GP practice' },
  'hospital-trust': { code: 'prov', text: 'Hospital trust' },
  'hospital-site': { code: 'prov', text: 'Hospital site' },
  'community-provider': { code: 'prov', text: 'Community services provider' },
  'mental-health-trust': { code: 'prov', text: 'Mental health trust' },
  'social-care': { code: 'govt', text: 'Social care (local authority)' },
  other: { code: 'other', text: 'Organisation' },
};

export interface DirectoryQuery {
  /** ODS codes (identifier or _id), OR within the list; undefined: any. */
  codes?: string[];
  /** Name starts with (case-insensitive), any word of it. */
  name?: string;
}

/** One Organization from what the locality knows of an ODS code; undefined when it knows nothing. */
export function directoryOrganization(code: string, ref: ReferenceData, practices: readonly PracticeRow[]): Organization | undefined {
  const ods = code.toUpperCase();
  const practice = practices.find((p) => p.ods_code.toUpperCase() === ods && p.origin !== 'feed');
  const listed = ref.organisations.get(ods);
  const fed = practices.find((p) => p.ods_code.toUpperCase() === ods && p.origin === 'feed');
  const name = practice?.name ?? listed?.name ?? fed?.name;
  if (!name) return undefined;
  const kind: OrganisationKind = practice ? 'gp-practice' : (listed?.kind ?? 'other');
  const org: Organization = {
    resourceType: 'Organization',
    id: ods,
    identifier: [{ system: ODS_SYSTEM, value: ods }],
    active: true,
    type: [{ coding: [{ system: ORG_TYPE, code: KIND[kind].code }], text: KIND[kind].text }],
    name,
  };
  if (listed?.partOf) org.partOf = { reference: `Organization/${listed.partOf.toUpperCase()}`, display: ref.organisations.get(listed.partOf.toUpperCase())?.name };
  if (practice?.neighbourhood) org.extension = [{ url: 'urn:bevan:neighbourhood', valueCoding: { system: 'urn:bevan:neighbourhood', code: practice.neighbourhood, display: practice.neighbourhood_name ?? undefined } }];
  return org;
}

/** The directory entries matching a query, by ODS code: the practices found in the store and the reference data's organisations. */
export function searchDirectory(q: DirectoryQuery, ref: ReferenceData, practices: readonly PracticeRow[]): Organization[] {
  const codes = new Set([...practices.map((p) => p.ods_code.toUpperCase()), ...ref.organisations.keys()]);
  const wanted = q.codes?.map((c) => c.toUpperCase());
  const prefix = q.name?.toLowerCase();
  const out: Organization[] = [];
  for (const code of [...codes].sort()) {
    if (wanted && !wanted.includes(code)) continue;
    const org = directoryOrganization(code, ref, practices);
    if (!org) continue;
    if (prefix && !org.name!.toLowerCase().split(/[\s,()-]+/).concat(org.name!.toLowerCase()).some((w) => w.startsWith(prefix))) continue;
    out.push(org);
  }
  return out;
}
