/**
 * The access decision point: one pure function, `decide(policy, request)`, that every request
 * for personal data goes through. It returns permit or deny, the reason (naming the rule), and
 * for a permit the obligations the caller must honour (categories to withhold, only one
 * organisation's data when the person dissents from sharing, a break-glass session to start).
 * The policy is data (`access/policy/policy.json`, code lists in `sensitive-codes.json`), read
 * and checked by `loadPolicy`. It fails closed: no policy, an unknown role or purpose, missing
 * facts or any error inside is a deny.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPurpose, isRole, ROLES, type Principal, type PurposeOfUse, type Role } from './context.ts';

export const RELATIONSHIPS = ['self', 'registered-practice', 'care-team', 'open-episode', 'recent-encounter'] as const;
export type Relationship = (typeof RELATIONSHIPS)[number];

/** Bulk Data $export levels (https://hl7.org/fhir/uv/bulkdata/STU2/export.html): [base]/$export, Patient/$export, Group/{id}/$export. */
export const EXPORT_LEVELS = ['system', 'patient', 'group'] as const;
export type ExportLevel = (typeof EXPORT_LEVELS)[number];

/** Who may start a bulk export, at which levels and for which purposes; each exported person is still decided on their own. */
export interface BulkExportRule {
  levels: ExportLevel[];
  purposes: PurposeOfUse[];
  /** Group exports only of the user's own organisation (a GP practice's Group id is its ODS code). */
  ownGroupOnly?: boolean;
  /** For a direct-care export: the relationships each exported person must hold with the user. */
  directCare?: Relationship[];
}

/**
 * A Group's id says what it is: `practice-<ODS>` (or the bare ODS code, as first served) the people
 * registered at a GP practice; `cohort-<register>` the people on a register (analytics/cohorts),
 * decided as a register run is. Pure.
 */
export type GroupRef = { kind: 'practice'; odsCode: string } | { kind: 'cohort'; register: string };
export function parseGroupId(id: string): GroupRef {
  if (id.startsWith('cohort-')) return { kind: 'cohort', register: id.slice('cohort-'.length) };
  return { kind: 'practice', odsCode: id.startsWith('practice-') ? id.slice('practice-'.length) : id };
}

/** What a bulk export asks for: its level and, for a Group, the group id (a practice's ODS code). */
export interface ExportScope {
  level: ExportLevel;
  group?: string | null;
}

export interface RolePolicy {
  label: string;
  /** Bulk Data $export, when the role may start one. */
  bulkExport?: BulkExportRule;
  /** Relationships that give this role access for direct care, in the order they are named as the basis. */
  directCare?: Relationship[];
  secondaryUse?: boolean;
  /** For secondary use, may see people identified (otherwise what leaves is pseudonymised: keyed pseudonyms, no direct identifiers). */
  secondaryUseIdentifiable?: boolean;
  patientAccess?: boolean;
  search?: boolean;
  breakGlass?: boolean;
  /** May see and handle quarantined feed items (the integration team), for administration. */
  quarantine?: boolean;
  /** May see the feeds' health (counts per source system, no personal data), for administration. */
  feeds?: boolean;
  /** May work the MPI review queue (both identities of a pair side by side; link, reject, undo), for administration. */
  mpiReview?: boolean;
  /** Who among this role may add or end a person's care team members: with a direct-care relationship, or any person (administration). */
  careTeam?: ManageRule;
  /** Who among this role may record or withdraw a person's consent directives. */
  consent?: ManageRule;
  /** Who among this role may see who looked at a person's record (the audit entries about them). */
  auditView?: ManageRule;
  /** Registers and cohorts (action `cohort`): identified lists of the user's own practice for direct care, or counts and pseudonymised lists for secondary use. */
  cohorts?: CohortRule;
  /** Risk of emergency admission (action `risk`): the same two rules as cohorts, for risk lists and the model. */
  risk?: CohortRule;
}

/** `own-practice`: identified, the people registered at the user's practice (direct care). `secondary-use`: disclosure-controlled counts and pseudonymised lists. */
export type CohortRule = 'own-practice' | 'secondary-use';
export const COHORT_RULES: readonly CohortRule[] = ['own-practice', 'secondary-use'];

/**
 * For actions that manage a person's record rather than read it: `self` (a patient, their own,
 * purpose patient-access), `relationship` (one of the role's direct-care relationships, purpose
 * direct-care; no break-glass) or `any` (any person, purpose administration).
 */
export type ManageRule = 'self' | 'relationship' | 'any';
export const MANAGE_RULES: readonly ManageRule[] = ['self', 'relationship', 'any'];

export interface Policy {
  version: string;
  recentEncounterDays: number;
  roles: Partial<Record<Role, RolePolicy>>;
  breakGlass: { minutes: number; minimumReasonLength: number; overridesDissent: boolean; revealsSensitive: boolean };
  sensitiveCategories: Record<string, { label: string; visibleTo: { role: Role; relationship: Relationship }[] }>;
  patientAccessWithholds: string[];
  /** Organisation (ODS code) of source systems whose key does not name one. */
  sourceOrganisations: Record<string, string>;
  /** category → code system → codes (ICD-10 codes match as prefixes). */
  codeLists: Record<string, Record<string, string[]>>;
  /**
   * Analyses across people other than a register (action `analysis`), by name: each is decided as a
   * register is (the role's `cohorts` rule). One not listed is denied.
   */
  analyses?: Record<string, string>;
}

/** What the store knows about the person that bears on access (gathered before deciding). */
export interface AccessFacts {
  personId: string;
  nhsNumber: string | null;
  /** ODS codes of the practices the person is registered with. */
  registeredPractices: string[];
  /** Care team members: user names and `org:<ODS>`. */
  careTeam: string[];
  /** Organisations with an open referral or episode of care for the person. */
  openEpisodeOrganisations: string[];
  /** Organisations where the person had an encounter, with the latest date (ISO). */
  recentEncounters: { organisation: string; at: string }[];
  dissentSharing: boolean;
  nationalDataOptOut: boolean;
  restricted: boolean;
  /** The user's break-glass session for this person, if one is open. */
  breakGlass: { reason: string; expiresAt: string } | null;
}

/**
 * read, search, export: the person's record. quarantine: a quarantined feed item (facts when its
 * person can be told). care-team, consent: change the person's care team or consent directives.
 * audit: see who looked at the person's record. feeds: the feeds' counts (no person; facts are
 * never asked for). mpi-review: a pair of identities the MPI was unsure about (facts of each
 * person the pair is in, when asked about them).
 */
export type AccessAction = 'read' | 'search' | 'export' | 'quarantine' | 'care-team' | 'consent' | 'audit' | 'feeds' | 'mpi-review' | 'cohort' | 'risk' | 'analysis';

export interface AccessRequest {
  action: AccessAction;
  principal: Principal;
  purpose: PurposeOfUse;
  /** Absent for a search before any person is known (may the user search at all?). */
  facts?: AccessFacts | null;
  /** The user declares an emergency for this request, with their reason. */
  breakGlassReason?: string;
  /** For action `cohort`: the practice asked for (null: every practice the user may see). */
  cohort?: { practice: string | null };
  /** For action `risk`: a practice's or a neighbourhood's risk list, or (model) the fitted model, which holds no personal data. */
  risk?: { practice: string | null; neighbourhood: string | null; model?: boolean };
  /** For action `analysis`: which analysis (a key of the policy's `analyses`) and the practice asked for. */
  analysis?: { name: string; practice: string | null };
  /** For action export: the bulk export asked for. Without facts this decides the kick-off; with them, one person of it. */
  export?: ExportScope;
  now: Date;
}

export type Basis = Relationship | 'break-glass' | 'secondary-use' | 'search' | 'quarantine' | 'administration' | 'bulk-export' | 'feeds' | 'mpi-review';

export interface Obligations {
  /** Sensitive categories whose items must not be shown. */
  withholdCategories: string[];
  /** The person dissents from sharing: show only items from this organisation's sources. */
  onlyOrganisation: string | null;
  /** Start a break-glass session (and raise an alert) before showing anything. */
  startBreakGlass: { reason: string; minutes: number } | null;
  /** Secondary use: replace who the person is by a keyed pseudonym and leave out direct identifiers (access/pseudonymise.ts). */
  pseudonymise?: boolean;
  /** Action `cohort`: whether people may be shown identified, the practice the run is limited to, and whether figures leave under disclosure control. */
  cohort?: { identified: boolean; practice: string | null; disclosureControl: boolean };
  /** Action `risk`: identified (the user's own practice) or pseudonymised, and the practice or neighbourhood the list is limited to. */
  risk?: { identified: boolean; practice: string | null; neighbourhood: string | null };
}

export type Decision =
  | { kind: 'permit'; reason: string; basis: Basis; obligations: Obligations }
  | { kind: 'deny'; reason: string };

const NO_OBLIGATIONS: Obligations = { withholdCategories: [], onlyOrganisation: null, startBreakGlass: null };

const deny = (reason: string): Decision => ({ kind: 'deny', reason });

/** The one decision point. Pure; never throws (an error inside is a deny). */
export function decide(policy: Policy | null | undefined, req: AccessRequest): Decision {
  try {
    return decideUnsafe(policy, req);
  } catch (err) {
    return deny(`policy evaluation failed, so access is denied (fails closed): ${(err as Error).message}`);
  }
}

/** The relationships (one of them) or break-glass session a permit needs (readNeeds). */
export interface ReadNeeds {
  relationships: Relationship[];
  breakGlassSession: boolean;
}

/**
 * What every permit of a direct-care `read` of a person needs, for this user and purpose, when no
 * break-glass reason is declared (a Patient search's decision on each person it finds): one of
 * `relationships` held with the person, or (`breakGlassSession`) an open break-glass session of the
 * user's for them. `decide` denies anyone who has neither, so a store may leave such people's facts
 * unread (fhir/pg-store.ts). null when no such bound holds (no policy or role, another purpose, or a
 * break-glass reason of no length that an emergency would declare): every person's facts are needed.
 * Pure; `access/policy.test.ts` checks it against `decide`.
 */
export function readNeeds(policy: Policy | null | undefined, principal: Principal, purpose: PurposeOfUse): ReadNeeds | null {
  if (!policy || !isRole(principal.role)) return null;
  const role = policy.roles[principal.role];
  if (!role || (purpose !== 'direct-care' && purpose !== 'emergency')) return null;
  // An emergency declares break-glass with an empty reason: a permit only if the policy asks for no reason at all.
  if (purpose === 'emergency' && role.breakGlass && !(policy.breakGlass.minimumReasonLength > 0)) return null;
  return { relationships: [...(role.directCare ?? [])], breakGlassSession: role.breakGlass === true };
}

function decideUnsafe(policy: Policy | null | undefined, req: AccessRequest): Decision {
  if (!policy) return deny('no access policy is loaded (fails closed)');
  const { principal, purpose } = req;
  if (!isRole(principal.role)) return deny(`"${String(principal.role)}" is not a role`);
  const role = policy.roles[principal.role];
  if (!role) return deny(`the policy has no rule for role ${principal.role}`);

  if (req.action === 'quarantine') return decideQuarantine(principal.role, role, purpose, req.facts);
  if (req.action === 'cohort') return decideCohort(principal, role, purpose, req.cohort?.practice ?? null);
  if (req.action === 'risk') return decideRisk(principal, role, purpose, req.risk ?? { practice: null, neighbourhood: null });
  if (req.action === 'analysis') return decideAnalysis(policy, principal, role, purpose, req.analysis);
  if (req.action === 'feeds') return decideFeeds(principal.role, role, purpose);
  if (req.action === 'mpi-review') return decideMpiReview(principal.role, role, purpose, req.facts);
  // Secondary use across people (a view over the store) before any person is known; a bulk export has its own gate (req.export).
  if (req.action === 'export' && !req.export && !req.facts) return decideSecondaryUse(policy, principal.role, role, purpose);
  if (req.action === 'search' && !req.facts) {
    if (purpose !== 'direct-care' && purpose !== 'emergency') return deny(`searching for people is for direct care, not ${purpose}`);
    if (!role.search) return deny(`role ${principal.role} may not search for people`);
    return { kind: 'permit', reason: `role ${principal.role} may search; each person found is decided on its own`, basis: 'search', obligations: NO_OBLIGATIONS };
  }
  if (req.action === 'export' && req.export) {
    // The kick-off (no person yet) is the gate alone; each person of the export passes it again.
    const gate = exportGate(role, req, req.export);
    if (gate.kind === 'deny' || !req.facts) return gate;
  }
  const facts = req.facts;
  if (!facts || !facts.personId) return deny('nothing is known about the person, so access is denied (fails closed)');
  if (facts.restricted) return deny('the person is restricted (sensitive or protected record): withheld on every path');
  if (req.action === 'care-team' || req.action === 'consent' || req.action === 'audit') return decideManage(policy, role, req as AccessRequest & { action: 'care-team' | 'consent' | 'audit' }, facts);

  switch (purpose) {
    case 'patient-access': {
      if (!role.patientAccess) return deny(`role ${principal.role} has no patient access`);
      if (req.action === 'export') return deny('patient access is to read, not export');
      if (!principal.nhsNumber || !facts.nhsNumber || principal.nhsNumber !== facts.nhsNumber) return deny('a patient may see only their own record');
      return permit(`own record (role patient, NHS number matches)`, 'self', { ...NO_OBLIGATIONS, withholdCategories: [...policy.patientAccessWithholds] });
    }
    case 'secondary-use': {
      if (!role.secondaryUse) return deny(`role ${principal.role} may not use records for secondary purposes`);
      if (req.action !== 'export') return deny('secondary use is through export only, never by reading one person');
      if (facts.nationalDataOptOut) return deny('the person has registered a national data opt-out');
      // Bulk export, views and cohort lists alike: pseudonymised unless the role's policy allows identifiable data.
      return permit(`secondary use (export, ${role.secondaryUseIdentifiable ? 'identifiable' : 'pseudonymised'}); no national data opt-out`, 'secondary-use', secondaryUseObligations(policy, role));
    }
    case 'direct-care':
    case 'emergency':
      return directCare(policy, role, req, facts);
    default:
      return deny(`purpose "${String(purpose)}" gives no access to personal data`);
  }
}

/**
 * Secondary use across people (a view or cohort over the store), before any person is known:
 * may this role use records for secondary purposes at all? Each person is then decided on their
 * own (national data opt-out, restriction) with the same obligations: every sensitive category
 * withheld, and pseudonymised unless the role's policy allows identifiable data.
 */
function decideSecondaryUse(policy: Policy, roleName: Role, role: RolePolicy, purpose: PurposeOfUse): Decision {
  if (purpose !== 'secondary-use') return deny(`export across people is for secondary use, not ${purpose}`);
  if (!role.secondaryUse) return deny(`role ${roleName} may not use records for secondary purposes`);
  const how = role.secondaryUseIdentifiable ? 'identifiable' : 'pseudonymised';
  return permit(`role ${roleName} may use records for secondary purposes (${how}); each person is decided on their own`, 'secondary-use', secondaryUseObligations(policy, role));
}

function secondaryUseObligations(policy: Policy, role: RolePolicy): Obligations {
  return { ...NO_OBLIGATIONS, withholdCategories: Object.keys(policy.sensitiveCategories).sort(), pseudonymise: role.secondaryUseIdentifiable !== true };
}

/**
 * Quarantined items hold personal data (a message that could not be read is still about
 * someone): only a role with `quarantine: true`, for administration (running the feeds). An item
 * whose person can be told and is restricted is withheld like everything else about them.
 */
function decideQuarantine(roleName: Role, role: RolePolicy, purpose: PurposeOfUse, facts: AccessFacts | null | undefined): Decision {
  if (!role.quarantine) return deny(`role ${roleName} may not see quarantined items (they hold personal data: the integration team's role only)`);
  if (purpose !== 'administration') return deny(`quarantined items are handled for administration (running the feeds), not ${purpose}`);
  if (facts?.restricted) return deny('the person is restricted (sensitive or protected record): withheld on every path');
  return permit(`role ${roleName} handles quarantined items (feeds administration)${facts ? '' : '; the item names no known person'}`, 'quarantine', NO_OBLIGATIONS);
}

/**
 * A cohort run (a register's count or list) before anyone in it is known: each person found is
 * then decided on their own (read for direct care, export for secondary use), so restricted
 * people, dissent and the national data opt-out apply person by person.
 */
function decideCohort(principal: Principal, role: RolePolicy, purpose: PurposeOfUse, practice: string | null): Decision {
  const rule = role.cohorts;
  if (!rule) return deny(`role ${principal.role} may not run cohorts or registers`);
  if (rule === 'own-practice') {
    if (purpose !== 'direct-care') return deny(`role ${principal.role} runs registers for direct care, not ${purpose}`);
    const org = principal.organisation;
    if (!org) return deny(`role ${principal.role} has no organisation, so no practice's register to see`);
    if (practice && practice !== org) return deny(`direct care: role ${principal.role} at ${org} may see only their own practice's registers, not ${practice}'s`);
    return permit(`direct care: the register of the people registered at ${org}, identified`, 'registered-practice', { ...NO_OBLIGATIONS, cohort: { identified: true, practice: org, disclosureControl: false } });
  }
  if (rule === 'secondary-use') {
    if (!role.secondaryUse) return deny(`role ${principal.role} may not use records for secondary purposes`);
    if (purpose !== 'secondary-use') return deny(`role ${principal.role} runs cohorts for secondary use, not ${purpose}`);
    return permit('secondary use: counts under disclosure control and pseudonymised lists; national data opt-outs excluded', 'secondary-use', { ...NO_OBLIGATIONS, cohort: { identified: false, practice, disclosureControl: true } });
  }
  return deny(`"${String(rule)}" is not a cohort rule (fails closed)`);
}

/**
 * Risk lists (each person's risk of emergency admission, tier and factors): `own-practice` — a GP
 * or practice nurse, the people registered at their own practice, identified, for direct care;
 * `secondary-use` — an analyst, any practice or neighbourhood, pseudonymised. Each person listed
 * is then decided on their own as for a cohort (restricted never; dissent from sharing keeps a
 * person off an identified list built from other organisations' data; the national data opt-out
 * keeps them out of secondary use). The model (coefficients, metrics) holds no personal data:
 * any role with a risk rule may see it, for its own purpose.
 */
function decideRisk(principal: Principal, role: RolePolicy, purpose: PurposeOfUse, asked: { practice: string | null; neighbourhood: string | null; model?: boolean }): Decision {
  const rule = role.risk;
  if (!rule) return deny(`role ${principal.role} may not see risk of emergency admission lists or the risk model`);
  if (rule === 'own-practice') {
    if (purpose !== 'direct-care') return deny(`role ${principal.role} sees risk lists for direct care, not ${purpose}`);
    if (asked.model) return permit('the risk model (coefficients and validation, no personal data)', 'registered-practice', NO_OBLIGATIONS);
    const org = principal.organisation;
    if (!org) return deny(`role ${principal.role} has no organisation, so no practice's risk list to see`);
    if (asked.neighbourhood) return deny(`direct care: role ${principal.role} sees their own practice's risk list, not a neighbourhood's`);
    if (asked.practice && asked.practice !== org) return deny(`direct care: role ${principal.role} at ${org} may see only their own practice's risk list, not ${asked.practice}'s`);
    return permit(`direct care: the risk list of the people registered at ${org}, identified`, 'registered-practice', { ...NO_OBLIGATIONS, risk: { identified: true, practice: org, neighbourhood: null } });
  }
  if (rule === 'secondary-use') {
    if (!role.secondaryUse) return deny(`role ${principal.role} may not use records for secondary purposes`);
    if (purpose !== 'secondary-use') return deny(`role ${principal.role} sees risk lists for secondary use, not ${purpose}`);
    if (asked.model) return permit('the risk model (coefficients and validation, no personal data)', 'secondary-use', NO_OBLIGATIONS);
    return permit('secondary use: pseudonymised risk lists; national data opt-outs excluded', 'secondary-use', { ...NO_OBLIGATIONS, pseudonymise: true, risk: { identified: false, practice: asked.practice, neighbourhood: asked.neighbourhood } });
  }
  return deny(`"${String(rule)}" is not a risk rule (fails closed)`);
}

/**
 * An analysis across people that the policy lists by name (e.g. `duplicate-tests`): decided as a
 * register, by the role's cohorts rule (own practice identified for direct care, or
 * disclosure-controlled counts and pseudonymised lists for secondary use); each person found is
 * then decided on their own. An analysis the policy does not list is denied (fails closed).
 */
function decideAnalysis(policy: Policy, principal: Principal, role: RolePolicy, purpose: PurposeOfUse, analysis: AccessRequest['analysis']): Decision {
  const name = analysis?.name ?? '';
  if (!policy.analyses || !Object.prototype.hasOwnProperty.call(policy.analyses, name)) return deny(`"${name}" is not an analysis the policy lists (fails closed)`);
  const d = decideCohort(principal, role, purpose, analysis?.practice ?? null);
  return d.kind === 'permit' ? { ...d, reason: `${name}, as a register: ${d.reason}` } : { kind: 'deny', reason: `${name}, as a register: ${d.reason}` };
}

/** The feeds' counts carry no personal data, but they are the integration team's and administrators' view: `feeds: true`, for administration. */
function decideFeeds(roleName: Role, role: RolePolicy, purpose: PurposeOfUse): Decision {
  if (role.feeds !== true) return deny(`role ${roleName} may not see the feeds' status (the integration team and administrators)`);
  if (purpose !== 'administration') return deny(`the feeds' status is for administration (running the feeds), not ${purpose}`);
  return permit(`role ${roleName} sees the feeds' status (feeds administration; counts, no personal data)`, 'feeds', NO_OBLIGATIONS);
}

/**
 * The MPI review queue shows two identities side by side (names, dates of birth, NHS numbers,
 * addresses): only a role with `mpiReview: true`, for administration. A pair whose person is
 * restricted is withheld like everything else about them (facts given per person of the pair).
 */
function decideMpiReview(roleName: Role, role: RolePolicy, purpose: PurposeOfUse, facts: AccessFacts | null | undefined): Decision {
  if (role.mpiReview !== true) return deny(`role ${roleName} may not review identity matches (the pairs hold personal data: the integration team's role only)`);
  if (purpose !== 'administration') return deny(`identity matches are reviewed for administration (running the master patient index), not ${purpose}`);
  if (facts?.restricted) return deny('the person is restricted (sensitive or protected record): withheld on every path');
  return permit(`role ${roleName} reviews identity matches (master patient index administration)${facts ? '' : '; no person asked about yet'}`, 'mpi-review', NO_OBLIGATIONS);
}

const MANAGE_WHAT: Record<'care-team' | 'consent' | 'audit', { field: 'careTeam' | 'consent' | 'auditView'; what: string }> = {
  'care-team': { field: 'careTeam', what: "change a person's care team" },
  consent: { field: 'consent', what: "record a person's consent directives" },
  audit: { field: 'auditView', what: "see who looked at a person's record" },
};

/** Care team and consent changes, and the audit of a person's record, by the role's manage rule. */
function decideManage(policy: Policy, role: RolePolicy, req: AccessRequest & { action: 'care-team' | 'consent' | 'audit' }, facts: AccessFacts): Decision {
  const { principal, purpose } = req;
  const { field, what } = MANAGE_WHAT[req.action];
  const rule = role[field];
  if (!rule) return deny(`role ${principal.role} may not ${what}`);
  switch (rule) {
    case 'any':
      if (purpose !== 'administration') return deny(`role ${principal.role} may ${what} for administration, not ${purpose}`);
      return permit(`administration: role ${principal.role} may ${what}`, 'administration', NO_OBLIGATIONS);
    case 'self':
      if (purpose !== 'patient-access') return deny(`role ${principal.role} may ${what} only as patient access to their own record, not ${purpose}`);
      if (!principal.nhsNumber || !facts.nhsNumber || principal.nhsNumber !== facts.nhsNumber) return deny(`a patient may ${what} only for their own record`);
      return permit(`own record (role patient, NHS number matches): may ${what}`, 'self', NO_OBLIGATIONS);
    case 'relationship': {
      if (purpose !== 'direct-care') return deny(`role ${principal.role} may ${what} for direct care, not ${purpose}`);
      const held = heldRelationships(policy, principal, facts, req.now);
      const basis = (role.directCare ?? []).find((r) => held.has(r));
      if (!basis) return deny(`no legitimate relationship: role ${principal.role}${principal.organisation ? ` at ${principal.organisation}` : ''} needs one of ${(role.directCare ?? []).join(', ') || '(none)'} to ${what} (break-glass does not extend to it)`);
      return permit(`direct care: ${describe(basis, principal)}; may ${what}`, basis, NO_OBLIGATIONS);
    }
    default:
      return deny(`"${String(rule)}" is not a rule for who may ${what} (fails closed)`);
  }
}

function directCare(policy: Policy, role: RolePolicy, req: AccessRequest, facts: AccessFacts): Decision {
  const { principal } = req;
  if (req.action === 'export') return directCareExport(policy, role, req, facts);
  const held = heldRelationships(policy, principal, facts, req.now);
  const allowed = (role.directCare ?? []).filter((r) => held.has(r));
  if (allowed.length) {
    const basis = allowed[0]!;
    return permit(`direct care: ${describe(basis, principal)}`, basis, {
      withholdCategories: withheldCategories(policy, principal.role, allowed, false),
      onlyOrganisation: facts.dissentSharing ? principal.organisation ?? '' : null,
      startBreakGlass: null,
    });
  }
  const noRelationship = `no legitimate relationship: role ${principal.role}${principal.organisation ? ` at ${principal.organisation}` : ''} has none of ${(role.directCare ?? []).join(', ') || '(no direct care relationships)'}`;
  if (!role.directCare?.length) return deny(`role ${principal.role} has no direct care access`);
  // Break-glass: an open session for this person, or one declared now with a reason.
  const open = facts.breakGlass && Date.parse(facts.breakGlass.expiresAt) > req.now.getTime() ? facts.breakGlass : null;
  const declared = req.breakGlassReason?.trim() || (req.purpose === 'emergency' ? '' : undefined);
  if (!open && declared === undefined) return deny(role.breakGlass ? `${noRelationship}; break-glass (emergency access, with a reason) is available` : noRelationship);
  if (!role.breakGlass) return deny(`${noRelationship}; role ${principal.role} may not break glass`);
  const bgObligations = (startBreakGlass: Obligations['startBreakGlass']): Obligations => ({
    withholdCategories: withheldCategories(policy, principal.role, [], policy.breakGlass.revealsSensitive),
    onlyOrganisation: facts.dissentSharing && !policy.breakGlass.overridesDissent ? principal.organisation ?? '' : null,
    startBreakGlass,
  });
  if (open) return permit(`break-glass session open until ${open.expiresAt}: ${open.reason}`, 'break-glass', bgObligations(null));
  if ((declared ?? '').length < policy.breakGlass.minimumReasonLength) return deny(`break-glass needs a reason of at least ${policy.breakGlass.minimumReasonLength} characters`);
  return permit(`break-glass declared: ${declared}`, 'break-glass', bgObligations({ reason: declared!, minutes: policy.breakGlass.minutes }));
}

/** May this user start this bulk export at all (role, level, purpose, group)? */
function exportGate(role: RolePolicy, req: AccessRequest, scope: ExportScope): Decision {
  const who = req.principal.role;
  const rule = role.bulkExport;
  if (!rule) return deny(`role ${who} may not use bulk export`);
  if (!(EXPORT_LEVELS as readonly string[]).includes(scope.level)) return deny(`"${String(scope.level)}" is not an export level`);
  if (!rule.levels.includes(scope.level)) return deny(`role ${who} may export at ${rule.levels.join(', ') || 'no'} level, not ${scope.level}`);
  if (!rule.purposes.includes(req.purpose)) return deny(`bulk export for role ${who} is for ${rule.purposes.join(', ') || 'no purpose'}, not ${req.purpose}`);
  if (scope.level === 'group') {
    if (!scope.group) return deny('a group export must name its group');
    const ref = parseGroupId(scope.group);
    // A cohort's Group is limited by the cohort rule (a GP's register is their own practice's people), decided at kick-off and for each batch.
    if (rule.ownGroupOnly && ref.kind === 'practice' && ref.odsCode !== req.principal.organisation) return deny(`role ${who} may export only the group of their own organisation (${req.principal.organisation ?? 'none'}), not ${scope.group}`);
  }
  const what = scope.level === 'group' ? `group ${scope.group}` : `${scope.level} level`;
  return permit(`bulk export (${what}) for ${req.purpose}; each person is decided on their own`, 'bulk-export', NO_OBLIGATIONS);
}

/** One person of a direct-care bulk export: only with the export rule's relationships, never break-glass. */
function directCareExport(policy: Policy, role: RolePolicy, req: AccessRequest, facts: AccessFacts): Decision {
  const { principal } = req;
  const rule = role.bulkExport;
  if (!req.export || !rule?.directCare?.length || !rule.purposes.includes(req.purpose)) return deny('export is for secondary use, or for direct care of a group the role may export');
  const held = heldRelationships(policy, principal, facts, req.now);
  const allowed = rule.directCare.filter((r) => held.has(r));
  if (!allowed.length) return deny(`no relationship for a direct-care export: role ${principal.role}${principal.organisation ? ` at ${principal.organisation}` : ''} needs ${rule.directCare.join(' or ')}`);
  const basis = allowed[0]!;
  return permit(`direct-care export: ${describe(basis, principal)}`, basis, {
    withholdCategories: withheldCategories(policy, principal.role, allowed, false),
    onlyOrganisation: facts.dissentSharing ? principal.organisation ?? '' : null,
    startBreakGlass: null,
  });
}

/**
 * True when a stored item may be shown under a permit's obligations: from the user's own
 * organisation when the person dissents from sharing, and in no withheld sensitive category. Pure.
 */
export function visibleUnder(policy: Policy, obligations: Obligations, item: { source_system: string; content: unknown }): boolean {
  if (obligations.onlyOrganisation !== null && organisationOfSource(policy, item.source_system) !== obligations.onlyOrganisation) return false;
  if (obligations.withholdCategories.length) {
    const cats = sensitiveCategoriesOf(policy, item.content);
    if (cats.some((c) => obligations.withholdCategories.includes(c))) return false;
  }
  return true;
}

function permit(reason: string, basis: Basis, obligations: Obligations): Decision {
  return { kind: 'permit', reason, basis, obligations };
}

/** The relationships the user holds with the person, from the facts. */
export function heldRelationships(policy: Policy, principal: Principal, facts: AccessFacts, now: Date): Set<Relationship> {
  const out = new Set<Relationship>();
  const org = principal.organisation;
  if (principal.nhsNumber && facts.nhsNumber === principal.nhsNumber) out.add('self');
  if (org && facts.registeredPractices.includes(org)) out.add('registered-practice');
  if (facts.careTeam.includes(principal.user) || (org && facts.careTeam.includes(`org:${org}`))) out.add('care-team');
  if (org && facts.openEpisodeOrganisations.includes(org)) out.add('open-episode');
  const since = now.getTime() - policy.recentEncounterDays * 86_400_000;
  if (org && facts.recentEncounters.some((e) => e.organisation === org && Date.parse(e.at) >= since && Date.parse(e.at) <= now.getTime() + 86_400_000)) out.add('recent-encounter');
  return out;
}

function withheldCategories(policy: Policy, role: Role, held: Relationship[], revealAll: boolean): string[] {
  if (revealAll) return [];
  return Object.entries(policy.sensitiveCategories)
    .filter(([, c]) => !c.visibleTo.some((v) => v.role === role && held.includes(v.relationship)))
    .map(([name]) => name)
    .sort();
}

function describe(basis: Relationship, p: Principal): string {
  switch (basis) {
    case 'registered-practice':
      return `the person is registered at ${p.organisation}`;
    case 'care-team':
      return `${p.user} is on the person's care team`;
    case 'open-episode':
      return `${p.organisation} has an open referral or episode of care`;
    case 'recent-encounter':
      return `the person had a recent encounter at ${p.organisation}`;
    case 'self':
      return 'own record';
  }
}

/** The organisation (ODS code) a source system belongs to: `gp:P91001` → P91001, `hl7:RM2` → RM2, else the policy's map. */
export function organisationOfSource(policy: Policy, system: string): string | null {
  if (policy.sourceOrganisations[system]) return policy.sourceOrganisations[system]!;
  const m = /^[a-z0-9]+:([A-Z0-9]{3,10})$/.exec(system);
  return m ? m[1]! : null;
}

/**
 * The sensitive categories a resource falls in: any coding anywhere in it (code, category,
 * reasonCode, type…) on a category's code list. ICD-10 codes match as prefixes (A50 covers A50.1).
 */
export function sensitiveCategoriesOf(policy: Policy, resource: unknown): string[] {
  const index = codeIndexOf(policy);
  let found: Set<string> | null = null;
  const visit = (node: unknown, depth: number): void => {
    if (depth > 12 || !node || typeof node !== 'object') return;
    if (Array.isArray(node)) {
      for (const x of node) visit(x, depth + 1);
      return;
    }
    const o = node as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') {
      const listed = index.get(o.system);
      if (listed) {
        const code = o.code;
        // ICD-10 codes match as prefixes (A50 covers A50.1): every prefix of the code is looked up.
        for (let n = listed.prefix ? 1 : code.length; n <= code.length; n++) {
          const cats = listed.codes.get(n === code.length ? code : code.slice(0, n));
          if (cats) for (const c of cats) (found ??= new Set()).add(c);
        }
      }
    }
    for (const k in o) {
      const v = o[k];
      if (v && typeof v === 'object') visit(v, depth + 1);
    }
  };
  visit(resource, 0);
  return found ? [...found].sort() : [];
}

/** The policy's code lists by system, then code → categories (built once per policy: the lists are data, read on every item shown). */
const codeIndexes = new WeakMap<Policy, Map<string, { prefix: boolean; codes: Map<string, string[]> }>>();
function codeIndexOf(policy: Policy): Map<string, { prefix: boolean; codes: Map<string, string[]> }> {
  let index = codeIndexes.get(policy);
  if (index) return index;
  index = new Map();
  for (const [category, systems] of Object.entries(policy.codeLists)) {
    for (const [system, codes] of Object.entries(systems)) {
      let entry = index.get(system);
      if (!entry) index.set(system, (entry = { prefix: system.includes('icd-10'), codes: new Map() }));
      for (const code of codes) {
        const cats = entry.codes.get(code) ?? [];
        if (!cats.includes(category)) cats.push(category);
        entry.codes.set(code, cats);
      }
    }
  }
  codeIndexes.set(policy, index);
  return index;
}

/**
 * The SQL/JSON path (PostgreSQL jsonpath) that finds, in a stored resource's content, a coding
 * on the code lists of these categories, as sensitiveCategoriesOf does: any object, at most 12
 * levels down, with a string system and code on a list (ICD-10 codes as prefixes). Null when
 * there is nothing to withhold. For `jsonb_path_exists(content, path)`; strings are JSON-quoted.
 */
export function sensitiveCodesJsonPath(policy: Policy, categories: readonly string[]): string | null {
  const bySystem = new Map<string, Set<string>>();
  for (const c of categories) for (const [system, codes] of Object.entries(policy.codeLists[c] ?? {})) for (const code of codes) (bySystem.get(system) ?? bySystem.set(system, new Set()).get(system)!).add(code);
  if (!bySystem.size) return null;
  const q = (s: string) => JSON.stringify(s);
  const terms = [...bySystem].map(([system, codes]) => {
    const prefix = system.includes('icd-10');
    const any = [...codes].map((c) => (prefix ? `@.code starts with ${q(c)}` : `@.code == ${q(c)}`)).join(' || ');
    return `(@.system == ${q(system)} && (${any}))`;
  });
  return `strict $.**{0 to 12} ? (@.type() == "object" && @.system.type() == "string" && @.code.type() == "string" && (${terms.join(' || ')}))`;
}

/**
 * A cheap first test for sensitiveCodesJsonPath, true wherever it could be: of the `code` values
 * anywhere in a resource (one SQL/JSON path walk, `strict $.**.code`), one equal to a listed code,
 * or one whose first characters are those of a listed ICD-10 code (which match as prefixes). The
 * exact path, which tests every node against every list, then runs only on the few resources it
 * passes. `heads` are the ICD-10 codes cut to `headLength` characters. Null when nothing is withheld.
 */
export function sensitiveCodesFirstTest(policy: Policy, categories: readonly string[]): { codes: string[]; heads: string[]; headLength: number } | null {
  const exact = new Set<string>();
  const prefixes = new Set<string>();
  for (const c of categories)
    for (const [system, codes] of Object.entries(policy.codeLists[c] ?? {}))
      for (const code of codes) (system.includes('icd-10') ? prefixes : exact).add(code);
  if (!exact.size && !prefixes.size) return null;
  const headLength = Math.min(3, ...[...prefixes].map((p) => p.length));
  return { codes: [...exact].sort(), heads: [...new Set([...prefixes].map((p) => p.slice(0, headLength)))].sort(), headLength };
}

const HERE = dirname(fileURLToPath(import.meta.url));
export const DEFAULT_POLICY_FILE = join(HERE, 'policy', 'policy.json');
export const DEFAULT_CODES_FILE = join(HERE, 'policy', 'sensitive-codes.json');

export type PolicyLoad = { kind: 'ok'; policy: Policy } | { kind: 'invalid'; problems: string[] };

/** Reads and checks the policy and its code lists; returns every problem found, not just the first. */
export function loadPolicy(policyFile = process.env.BEVAN_POLICY_FILE || DEFAULT_POLICY_FILE, codesFile = process.env.BEVAN_SENSITIVE_CODES_FILE || DEFAULT_CODES_FILE): PolicyLoad {
  let raw: unknown;
  let codes: unknown;
  try {
    raw = JSON.parse(readFileSync(policyFile, 'utf8'));
    codes = JSON.parse(readFileSync(codesFile, 'utf8'));
  } catch (err) {
    return { kind: 'invalid', problems: [`cannot read the access policy: ${(err as Error).message}`] };
  }
  return checkPolicy(raw, codes);
}

/** Checks a parsed policy and code lists into a Policy or a list of human-readable problems. */
export function checkPolicy(raw: unknown, codes: unknown): PolicyLoad {
  const problems: string[] = [];
  const p = raw as Partial<Policy> | null;
  if (!p || typeof p !== 'object') return { kind: 'invalid', problems: ['the policy is not a JSON object'] };
  if (typeof p.version !== 'string') problems.push('version: missing');
  if (typeof p.recentEncounterDays !== 'number' || p.recentEncounterDays < 0) problems.push('recentEncounterDays: a number of days is needed');
  const roles = (p.roles ?? {}) as Record<string, RolePolicy>;
  for (const [name, r] of Object.entries(roles)) {
    if (!isRole(name)) problems.push(`roles.${name}: not a role (roles are ${ROLES.join(', ')})`);
    for (const rel of r.directCare ?? []) if (!(RELATIONSHIPS as readonly string[]).includes(rel)) problems.push(`roles.${name}.directCare: "${rel}" is not a relationship`);
    if (r.bulkExport !== undefined) {
      const b = r.bulkExport as Partial<BulkExportRule> | null;
      if (!b || !Array.isArray(b.levels) || !Array.isArray(b.purposes)) problems.push(`roles.${name}.bulkExport: levels and purposes (lists) are needed`);
      else {
        for (const l of b.levels) if (!(EXPORT_LEVELS as readonly string[]).includes(l)) problems.push(`roles.${name}.bulkExport.levels: "${l}" is not an export level (${EXPORT_LEVELS.join(', ')})`);
        for (const pu of b.purposes) if (!isPurpose(pu)) problems.push(`roles.${name}.bulkExport.purposes: "${pu}" is not a purpose of use`);
        for (const rel of b.directCare ?? []) if (!(RELATIONSHIPS as readonly string[]).includes(rel)) problems.push(`roles.${name}.bulkExport.directCare: "${rel}" is not a relationship`);
        if (b.purposes.includes('direct-care') && !b.directCare?.length) problems.push(`roles.${name}.bulkExport: a direct-care export needs directCare relationships`);
      }
    }
    for (const f of ['careTeam', 'consent', 'auditView'] as const) {
      const v = r[f];
      if (v !== undefined && !MANAGE_RULES.includes(v)) problems.push(`roles.${name}.${f}: "${String(v)}" is not one of ${MANAGE_RULES.join(', ')}`);
    }
    if (r.cohorts !== undefined && !COHORT_RULES.includes(r.cohorts)) problems.push(`roles.${name}.cohorts: "${String(r.cohorts)}" is not one of ${COHORT_RULES.join(', ')}`);
    if (r.risk !== undefined && !COHORT_RULES.includes(r.risk)) problems.push(`roles.${name}.risk: "${String(r.risk)}" is not one of ${COHORT_RULES.join(', ')}`);
    for (const f of ['quarantine', 'feeds', 'mpiReview', 'secondaryUseIdentifiable'] as const) if (r[f] !== undefined && typeof r[f] !== 'boolean') problems.push(`roles.${name}.${f}: true or false`);
  }
  const bg = p.breakGlass;
  if (!bg || typeof bg.minutes !== 'number' || bg.minutes <= 0 || bg.minutes > 24 * 60) problems.push('breakGlass.minutes: between 1 and 1440');
  if (!bg || typeof bg.minimumReasonLength !== 'number') problems.push('breakGlass.minimumReasonLength: missing');
  const cats = (p.sensitiveCategories ?? {}) as Policy['sensitiveCategories'];
  const lists = ((codes as { categories?: unknown } | null)?.categories ?? {}) as Policy['codeLists'];
  for (const [name, c] of Object.entries(cats)) {
    if (!lists[name]) problems.push(`sensitiveCategories.${name}: no code list in the sensitive codes file`);
    for (const v of c.visibleTo ?? []) {
      if (!isRole(v.role)) problems.push(`sensitiveCategories.${name}.visibleTo: "${v.role}" is not a role`);
      if (!(RELATIONSHIPS as readonly string[]).includes(v.relationship)) problems.push(`sensitiveCategories.${name}.visibleTo: "${v.relationship}" is not a relationship`);
    }
  }
  for (const w of p.patientAccessWithholds ?? []) if (!cats[w]) problems.push(`patientAccessWithholds: "${w}" is not a sensitive category`);
  if (p.analyses !== undefined && (!p.analyses || typeof p.analyses !== 'object' || Array.isArray(p.analyses) || Object.values(p.analyses).some((v) => typeof v !== 'string'))) problems.push('analyses: an object of analysis name → what it is (text)');
  if (problems.length) return { kind: 'invalid', problems };
  return {
    kind: 'ok',
    policy: Object.freeze({
      version: p.version!,
      recentEncounterDays: p.recentEncounterDays!,
      roles,
      breakGlass: bg!,
      sensitiveCategories: cats,
      patientAccessWithholds: p.patientAccessWithholds ?? [],
      sourceOrganisations: p.sourceOrganisations ?? {},
      codeLists: lists,
      ...(p.analyses ? { analyses: p.analyses } : {}),
    }) as Policy,
  };
}

let cached: Policy | null | undefined;
/** The policy from the configured files, loaded once; null (deny everything) when it is invalid. */
export function currentPolicy(): Policy | null {
  if (cached === undefined) {
    const r = loadPolicy();
    cached = r.kind === 'ok' ? r.policy : null;
    if (r.kind !== 'ok') process.emitWarning(`access policy invalid, every request for personal data is denied: ${r.problems.join('; ')}`);
  }
  return cached;
}
