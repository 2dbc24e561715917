// Registers as FHIR R4 Groups (https://hl7.org/fhir/R4/group.html): `Group/cohort-<register>` is an
// actual Group of the people on the register, as the access policy lets the user see them (a
// GP: their own practice's people, each a reference to their Patient; an analyst: keyed
// pseudonyms, with `quantity` under disclosure control). Also the adapter that gives a bulk
// export the people of a cohort's Group (fhir/bulk-export/cohort-members.ts).
import { forbidden, type RequestContext } from '../../access/context.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import type { Queryable } from '../../db/database.ts';
import type { CohortMembers } from '../../fhir/bulk-export/cohort-members.ts';
import { ODS_SYSTEM } from '../../record/fhir-bundle.ts';
import { compileCohort } from './compile.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import type { CohortDefinition } from './definition.ts';
import { runCohort, type IdentifiedMember, type PseudonymisedMember } from './service.ts';

export const COHORT_GROUP_PREFIX = 'cohort-';
/** Identifier system of a register's name. */
export const REGISTER_SYSTEM = 'urn:bevan:register';
/** Identifier system of a secondary-use pseudonym (analytics/cohorts/pseudonym.ts). */
export const PSEUDONYM_SYSTEM = 'urn:bevan:pseudonym:secondary-use';
/** Extension on a Group whose quantity is withheld under disclosure control. */
export const DISCLOSURE_CONTROL_URL = 'https://bevan.example/fhir/StructureDefinition/disclosure-control';

export type FhirGroup = Record<string, unknown> & { resourceType: 'Group'; id: string };

/** A register's Group without its people: what a Group search returns (the people need a run, decided per user). */
export function cohortGroupDefinition(def: CohortDefinition): FhirGroup {
  return {
    resourceType: 'Group',
    id: `${COHORT_GROUP_PREFIX}${def.name}`,
    meta: { tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted: read the Group for its quantity and members' }] },
    identifier: [{ system: REGISTER_SYSTEM, value: def.name }],
    active: true,
    type: 'person',
    actual: true,
    code: { text: `${def.panel} panel register` },
    name: def.title,
    characteristic: [{ code: { text: 'on the register' }, valueCodeableConcept: { text: def.description ?? def.title }, exclude: false }],
  };
}

/**
 * A register's Group for the context's user: the register run through the access policy (and
 * audited) by runCohort, its people as members. Throws forbidden when the policy refuses.
 */
export async function readCohortGroup(ctx: RequestContext, def: CohortDefinition, opts: { resolve: (name: string) => CohortDefinition | undefined; asOf?: string; policy?: Policy | null; now?: Date }): Promise<FhirGroup> {
  const r = await runCohort(ctx, def, { output: 'list', resolve: opts.resolve, asOf: opts.asOf, policy: opts.policy, now: opts.now });
  const group = cohortGroupDefinition(def);
  delete group.meta;
  if (r.count !== null) group.quantity = r.count;
  if (r.disclosureControl) {
    const said = r.count === null ? 'quantity left out: fewer than 8 people' : 'quantity rounded to the nearest 5';
    group.extension = [{ url: DISCLOSURE_CONTROL_URL, valueString: `${said} (statistical disclosure control for secondary use: under 8 suppressed, others rounded to 5)` }];
  }
  if (r.practice) group.managingEntity = { type: 'Organization', identifier: { system: ODS_SYSTEM, value: r.practice } };
  group.characteristic = [
    ...(group.characteristic as unknown[]),
    ...(r.practice ? [{ code: { text: 'registered GP practice' }, valueReference: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: r.practice } }, exclude: false }] : []),
  ];
  const members = r.members ?? [];
  group.member =
    r.view === 'identified'
      ? (members as IdentifiedMember[]).map((m) => ({ entity: { reference: m.record, type: 'Patient', ...(m.name ? { display: m.name } : {}) } }))
      : (members as PseudonymisedMember[]).map((m) => ({ entity: { type: 'Patient', identifier: { system: PSEUDONYM_SYSTEM, value: m.pseudonym }, display: 'pseudonymised' } }));
  return group;
}

/** The adapter a bulk export uses for `Group/cohort-<register>`: the register compiled for the user as the cohort rule allows, run as of the export's time. */
export function cohortMembersAdapter(registers: ReadonlyMap<string, CohortDefinition>, policyOf: () => Policy | null = currentPolicy): CohortMembers {
  return {
    has: (name) => registers.has(name),
    async members(db: Queryable, who, name, now) {
      const def = registers.get(name);
      if (!def) throw forbidden(`no register "${name}"`);
      const d = decide(policyOf(), { action: 'cohort', principal: who.principal, purpose: who.purpose, cohort: { practice: null }, now });
      if (d.kind === 'deny' || !d.obligations.cohort) throw forbidden(d.reason);
      const compiled = compileCohort(def, { asOf: now.toISOString().slice(0, 10), practice: d.obligations.cohort.practice, resolve: (n) => registers.get(n) });
      await ensureFlatTablesCurrent(db);
      const r = await db.query<{ person_id: string }>(compiled.sql, compiled.params);
      return r.rows.map((x) => x.person_id);
    },
  };
}
