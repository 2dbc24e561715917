import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PURPOSES, ROLES, type PurposeOfUse, type Role } from './context.ts';
import { checkPolicy, decide, heldRelationships, readNeeds, visibleUnder, loadPolicy, organisationOfSource, sensitiveCategoriesOf, type AccessAction, type AccessFacts, type ExportScope, type Policy } from './policy.ts';

const loaded = loadPolicy();
if (loaded.kind !== 'ok') throw new Error(loaded.problems.join('\n'));
const policy: Policy = loaded.policy;
const NOW = new Date('2025-10-01T12:00:00Z');
const NHS = '9434765919';
const ALL_SENSITIVE = ['gender-identity', 'ivf', 'mental-health-sensitive', 'safeguarding', 'sexual-health'];

// Organisations: practice P91001 (the person's), P91002 (another practice), hospital RM2,
// community trust RM3, social care TRAFFORD-SC.
type Rel = 'none' | 'registered' | 'care-team-user' | 'care-team-org' | 'episode' | 'encounter' | 'old-encounter';
function facts(rel: Rel, over: Partial<AccessFacts> = {}): AccessFacts {
  const f: AccessFacts = {
    personId: '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51',
    nhsNumber: NHS,
    registeredPractices: ['P91001'],
    careTeam: [],
    openEpisodeOrganisations: [],
    recentEncounters: [],
    dissentSharing: false,
    nationalDataOptOut: false,
    restricted: false,
    breakGlass: null,
  };
  if (rel === 'care-team-user') f.careTeam = ['user'];
  if (rel === 'care-team-org') f.careTeam = ['org:ORG'];
  if (rel === 'episode') f.openEpisodeOrganisations = ['ORG'];
  if (rel === 'encounter') f.recentEncounters = [{ organisation: 'ORG', at: '2025-09-01T10:00:00Z' }];
  if (rel === 'old-encounter') f.recentEncounters = [{ organisation: 'ORG', at: '2025-01-01T10:00:00Z' }];
  if (rel === 'registered') f.registeredPractices = ['ORG'];
  return { ...f, ...over };
}

interface Case {
  role: Role;
  rel: Rel;
  purpose?: PurposeOfUse;
  action?: AccessAction;
  over?: Partial<AccessFacts>;
  breakGlass?: string;
  nhs?: string;
  org?: string | null;
  /** 'deny' or the basis of the permit. */
  want: string;
  /** Withheld categories on a permit (default: none checked). */
  withhold?: string[];
  only?: string | null;
  reason?: RegExp;
  /** A bulk export's scope; with kickoff, the decision before any person is known. */
  scope?: ExportScope;
  kickoff?: boolean;
  /** Decide with no facts (a quarantined item whose person cannot be told; secondary use before any person is known). */
  noFacts?: boolean;
  /** Action analysis: its name. */
  analysis?: string;
  /** Action cohort: the practice asked for. */
  cohortPractice?: string | null;
  /** Action cohort: the obligations expected on a permit. */
  cohort?: { identified: boolean; practice: string | null; disclosureControl: boolean };
  /** Secondary use: whether what leaves must be pseudonymised. */
  pseudo?: boolean;
  /** Action risk: what is asked for (a practice's or a neighbourhood's list, or the model), and the obligations expected on a permit. */
  riskAsk?: { practice?: string | null; neighbourhood?: string | null; model?: boolean };
  risk?: { identified: boolean; practice: string | null; neighbourhood: string | null };
}

const BG = 'Unconscious in ED, no history available';
const cases: Case[] = [
  // role × relationship, direct care
  { role: 'gp', rel: 'registered', want: 'registered-practice', withhold: [] },
  { role: 'gp', rel: 'none', want: 'deny', reason: /no legitimate relationship.*break-glass .* is available/ },
  { role: 'gp', rel: 'care-team-user', want: 'care-team', withhold: ALL_SENSITIVE },
  { role: 'gp', rel: 'care-team-org', want: 'care-team' },
  { role: 'gp', rel: 'episode', want: 'open-episode' },
  { role: 'gp', rel: 'encounter', want: 'recent-encounter' },
  { role: 'gp', rel: 'old-encounter', want: 'deny', reason: /no legitimate relationship/ },
  { role: 'practice-nurse', rel: 'registered', want: 'registered-practice', withhold: ALL_SENSITIVE },
  { role: 'practice-nurse', rel: 'care-team-user', want: 'care-team' },
  { role: 'practice-nurse', rel: 'episode', want: 'deny' },
  { role: 'practice-nurse', rel: 'encounter', want: 'deny' },
  { role: 'practice-nurse', rel: 'none', want: 'deny' },
  { role: 'consultant', rel: 'registered', want: 'deny' },
  { role: 'consultant', rel: 'episode', want: 'open-episode', withhold: ['gender-identity', 'mental-health-sensitive', 'safeguarding', 'sexual-health'] },
  { role: 'consultant', rel: 'encounter', want: 'recent-encounter', withhold: ALL_SENSITIVE },
  { role: 'consultant', rel: 'care-team-org', want: 'care-team' },
  { role: 'consultant', rel: 'none', want: 'deny' },
  { role: 'community-nurse', rel: 'episode', want: 'open-episode' },
  { role: 'community-nurse', rel: 'encounter', want: 'recent-encounter' },
  { role: 'community-nurse', rel: 'registered', want: 'deny' },
  { role: 'community-nurse', rel: 'none', want: 'deny' },
  { role: 'mental-health', rel: 'care-team-user', want: 'care-team', withhold: ['gender-identity', 'ivf', 'safeguarding', 'sexual-health'] },
  { role: 'mental-health', rel: 'episode', want: 'open-episode', withhold: ['gender-identity', 'ivf', 'safeguarding', 'sexual-health'] },
  { role: 'mental-health', rel: 'encounter', want: 'recent-encounter', withhold: ALL_SENSITIVE },
  { role: 'mental-health', rel: 'none', want: 'deny' },
  { role: 'social-worker', rel: 'episode', want: 'open-episode', withhold: ['gender-identity', 'ivf', 'mental-health-sensitive', 'sexual-health'] },
  { role: 'social-worker', rel: 'care-team-user', want: 'care-team' },
  { role: 'social-worker', rel: 'encounter', want: 'deny' },
  { role: 'social-worker', rel: 'registered', want: 'deny' },
  { role: 'care-coordinator', rel: 'care-team-user', want: 'care-team', withhold: ALL_SENSITIVE },
  { role: 'care-coordinator', rel: 'episode', want: 'open-episode' },
  { role: 'care-coordinator', rel: 'encounter', want: 'deny' },
  { role: 'care-coordinator', rel: 'none', want: 'deny' },
  { role: 'analyst', rel: 'registered', want: 'deny', reason: /no direct care access/ },
  { role: 'integration', rel: 'care-team-user', want: 'deny' },
  { role: 'admin', rel: 'registered', want: 'deny' },
  { role: 'patient', rel: 'none', want: 'deny' },
  // a user without an organisation holds no organisational relationship
  { role: 'gp', rel: 'registered', org: null, want: 'deny' },
  { role: 'gp', rel: 'care-team-user', org: null, want: 'care-team' },

  // purpose of use
  { role: 'gp', rel: 'registered', purpose: 'secondary-use', action: 'export', want: 'deny' },
  { role: 'gp', rel: 'registered', purpose: 'administration', want: 'deny' },
  { role: 'gp', rel: 'registered', action: 'export', want: 'deny', reason: /export is for secondary use/ },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', want: 'secondary-use', withhold: ALL_SENSITIVE },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'read', want: 'deny', reason: /export only/ },
  { role: 'admin', rel: 'none', purpose: 'administration', want: 'deny' },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: NHS, want: 'self', withhold: ['safeguarding'] },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: '4010232137', want: 'deny', reason: /only their own record/ },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: undefined, want: 'deny' },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: NHS, action: 'export', want: 'deny' },
  { role: 'gp', rel: 'registered', purpose: 'patient-access', nhs: NHS, want: 'deny', reason: /no patient access/ },
  { role: 'patient', rel: 'none', purpose: 'direct-care', nhs: NHS, want: 'deny' },

  // consent and objections
  { role: 'gp', rel: 'registered', over: { dissentSharing: true }, want: 'registered-practice', only: 'ORG' },
  { role: 'consultant', rel: 'episode', over: { dissentSharing: true }, want: 'open-episode', only: 'ORG' },
  { role: 'gp', rel: 'registered', over: { nationalDataOptOut: true }, want: 'registered-practice', only: null },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', over: { nationalDataOptOut: true }, want: 'deny', reason: /national data opt-out/ },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', over: { dissentSharing: true }, want: 'secondary-use' },
  { role: 'gp', rel: 'none', over: { dissentSharing: true }, breakGlass: BG, want: 'break-glass', only: null },

  // restricted people: withheld on every path
  { role: 'gp', rel: 'registered', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'gp', rel: 'none', over: { restricted: true }, breakGlass: BG, want: 'deny', reason: /restricted/ },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: NHS, over: { restricted: true }, want: 'deny' },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', over: { restricted: true }, want: 'deny' },

  // break-glass
  { role: 'gp', rel: 'none', breakGlass: BG, want: 'break-glass', withhold: ALL_SENSITIVE },
  { role: 'gp', rel: 'none', breakGlass: 'because', want: 'deny', reason: /at least 10 characters/ },
  { role: 'gp', rel: 'none', purpose: 'emergency', want: 'deny', reason: /needs a reason/ },
  { role: 'gp', rel: 'none', purpose: 'emergency', breakGlass: BG, want: 'break-glass' },
  { role: 'consultant', rel: 'none', breakGlass: BG, want: 'break-glass' },
  { role: 'community-nurse', rel: 'none', breakGlass: BG, want: 'break-glass' },
  { role: 'mental-health', rel: 'none', breakGlass: BG, want: 'break-glass' },
  { role: 'practice-nurse', rel: 'none', breakGlass: BG, want: 'break-glass' },
  { role: 'social-worker', rel: 'none', breakGlass: BG, want: 'deny', reason: /may not break glass/ },
  { role: 'care-coordinator', rel: 'none', breakGlass: BG, want: 'deny' },
  { role: 'analyst', rel: 'none', breakGlass: BG, want: 'deny' },
  { role: 'admin', rel: 'none', breakGlass: BG, want: 'deny' },
  { role: 'gp', rel: 'none', over: { breakGlass: { reason: BG, expiresAt: '2025-10-01T12:30:00Z' } }, want: 'break-glass' },
  { role: 'gp', rel: 'none', over: { breakGlass: { reason: BG, expiresAt: '2025-10-01T11:59:00Z' } }, want: 'deny', reason: /break-glass .* is available/ },
  // a relationship wins over a declared emergency (no session is started)
  { role: 'gp', rel: 'registered', breakGlass: BG, want: 'registered-practice' },

  // search (before any person is known)
  { role: 'gp', rel: 'none', action: 'search', want: 'search' },
  { role: 'social-worker', rel: 'none', action: 'search', want: 'search' },
  { role: 'analyst', rel: 'none', action: 'search', want: 'deny' },
  { role: 'patient', rel: 'none', action: 'search', want: 'deny' },
  { role: 'integration', rel: 'none', action: 'search', want: 'deny' },
  { role: 'gp', rel: 'none', action: 'search', purpose: 'secondary-use', want: 'deny' },

  // quarantine: the integration team's role, for administration; a restricted person's items withheld
  { role: 'integration', rel: 'none', action: 'quarantine', purpose: 'administration', noFacts: true, want: 'quarantine', reason: /names no known person/ },
  { role: 'integration', rel: 'none', action: 'quarantine', purpose: 'administration', want: 'quarantine' },
  { role: 'integration', rel: 'none', action: 'quarantine', purpose: 'administration', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'integration', rel: 'none', action: 'quarantine', purpose: 'direct-care', noFacts: true, want: 'deny', reason: /administration/ },
  { role: 'integration', rel: 'none', action: 'quarantine', purpose: 'emergency', breakGlass: BG, noFacts: true, want: 'deny' },
  { role: 'gp', rel: 'registered', action: 'quarantine', purpose: 'administration', want: 'deny', reason: /integration team/ },
  { role: 'gp', rel: 'registered', action: 'quarantine', noFacts: true, want: 'deny', reason: /integration team/ },
  { role: 'admin', rel: 'none', action: 'quarantine', purpose: 'administration', noFacts: true, want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'quarantine', purpose: 'secondary-use', noFacts: true, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'quarantine', purpose: 'patient-access', nhs: NHS, want: 'deny' },

  // the feeds' status: counts only, for the integration team and administrators, for administration
  { role: 'integration', rel: 'none', action: 'feeds', purpose: 'administration', noFacts: true, want: 'feeds' },
  { role: 'admin', rel: 'none', action: 'feeds', purpose: 'administration', noFacts: true, want: 'feeds' },
  { role: 'integration', rel: 'none', action: 'feeds', purpose: 'direct-care', noFacts: true, want: 'deny', reason: /for administration/ },
  { role: 'gp', rel: 'registered', action: 'feeds', purpose: 'administration', noFacts: true, want: 'deny', reason: /integration team and administrators/ },
  { role: 'gp', rel: 'registered', action: 'feeds', noFacts: true, want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'feeds', purpose: 'secondary-use', noFacts: true, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'feeds', purpose: 'patient-access', nhs: NHS, noFacts: true, want: 'deny' },

  // the MPI review queue: the integration team, for administration; a restricted person's pairs withheld
  { role: 'integration', rel: 'none', action: 'mpi-review', purpose: 'administration', noFacts: true, want: 'mpi-review', reason: /no person asked about/ },
  { role: 'integration', rel: 'none', action: 'mpi-review', purpose: 'administration', want: 'mpi-review' },
  { role: 'integration', rel: 'none', action: 'mpi-review', purpose: 'administration', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'integration', rel: 'none', action: 'mpi-review', purpose: 'direct-care', noFacts: true, want: 'deny', reason: /for administration/ },
  { role: 'integration', rel: 'none', action: 'mpi-review', purpose: 'emergency', breakGlass: BG, noFacts: true, want: 'deny' },
  { role: 'gp', rel: 'registered', action: 'mpi-review', purpose: 'administration', want: 'deny', reason: /integration team's role only/ },
  { role: 'gp', rel: 'registered', action: 'mpi-review', noFacts: true, want: 'deny', reason: /integration team's role only/ },
  { role: 'admin', rel: 'none', action: 'mpi-review', purpose: 'administration', noFacts: true, want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'mpi-review', purpose: 'secondary-use', noFacts: true, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'mpi-review', purpose: 'patient-access', nhs: NHS, want: 'deny' },
  { role: 'care-coordinator', rel: 'care-team-user', action: 'mpi-review', purpose: 'administration', want: 'deny' },

  // care team changes: GP and care coordinator with a relationship, an administrator for anyone
  { role: 'gp', rel: 'registered', action: 'care-team', want: 'registered-practice' },
  { role: 'gp', rel: 'none', action: 'care-team', want: 'deny', reason: /no legitimate relationship/ },
  { role: 'gp', rel: 'none', action: 'care-team', breakGlass: BG, want: 'deny', reason: /break-glass does not extend/ },
  { role: 'care-coordinator', rel: 'episode', action: 'care-team', want: 'open-episode' },
  { role: 'care-coordinator', rel: 'care-team-user', action: 'care-team', want: 'care-team' },
  { role: 'care-coordinator', rel: 'none', action: 'care-team', want: 'deny' },
  { role: 'community-nurse', rel: 'episode', action: 'care-team', want: 'deny', reason: /may not change a person's care team/ },
  { role: 'admin', rel: 'none', action: 'care-team', purpose: 'administration', want: 'administration' },
  { role: 'admin', rel: 'none', action: 'care-team', want: 'deny', reason: /for administration/ },
  { role: 'gp', rel: 'registered', action: 'care-team', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'patient', rel: 'none', action: 'care-team', purpose: 'patient-access', nhs: NHS, want: 'deny' },
  { role: 'integration', rel: 'none', action: 'care-team', purpose: 'administration', want: 'deny' },

  // consent directives: the patient themselves, a GP with a relationship, an administrator
  { role: 'patient', rel: 'none', action: 'consent', purpose: 'patient-access', nhs: NHS, want: 'self' },
  { role: 'patient', rel: 'none', action: 'consent', purpose: 'patient-access', nhs: '4010232137', want: 'deny', reason: /only for their own record/ },
  { role: 'gp', rel: 'registered', action: 'consent', want: 'registered-practice' },
  { role: 'gp', rel: 'episode', action: 'consent', over: { dissentSharing: true }, want: 'open-episode' },
  { role: 'admin', rel: 'none', action: 'consent', purpose: 'administration', want: 'administration' },
  { role: 'care-coordinator', rel: 'care-team-user', action: 'consent', want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'consent', purpose: 'secondary-use', want: 'deny' },
  { role: 'patient', rel: 'none', action: 'consent', purpose: 'patient-access', nhs: NHS, over: { restricted: true }, want: 'deny' },

  // who looked at a record: the patient, users with a direct-care relationship, governance (admin)
  { role: 'patient', rel: 'none', action: 'audit', purpose: 'patient-access', nhs: NHS, want: 'self' },
  { role: 'patient', rel: 'none', action: 'audit', purpose: 'patient-access', nhs: '4010232137', want: 'deny' },
  { role: 'community-nurse', rel: 'episode', action: 'audit', want: 'open-episode' },
  { role: 'social-worker', rel: 'none', action: 'audit', want: 'deny' },
  { role: 'gp', rel: 'registered', action: 'audit', purpose: 'administration', want: 'deny', reason: /for direct care/ },
  { role: 'admin', rel: 'none', action: 'audit', purpose: 'administration', want: 'administration' },
  { role: 'integration', rel: 'none', action: 'audit', purpose: 'administration', want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'audit', purpose: 'secondary-use', want: 'deny' },
  { role: 'gp', rel: 'registered', action: 'audit', over: { restricted: true }, want: 'deny', reason: /restricted/ },

  // secondary use across people (a ViewDefinition or cohort over the store): the gate before any
  // person is known, then each person; analysts get pseudonymised data, the governance lead may see more
  { role: 'analyst', rel: 'none', action: 'export', purpose: 'secondary-use', noFacts: true, want: 'secondary-use', withhold: ALL_SENSITIVE, pseudo: true, reason: /pseudonymised/ },
  { role: 'admin', rel: 'none', action: 'export', purpose: 'secondary-use', noFacts: true, want: 'secondary-use', withhold: ALL_SENSITIVE, pseudo: false, reason: /identifiable/ },
  { role: 'gp', rel: 'none', action: 'export', purpose: 'secondary-use', noFacts: true, want: 'deny', reason: /may not use records for secondary purposes/ },
  { role: 'consultant', rel: 'none', action: 'export', purpose: 'secondary-use', noFacts: true, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'export', purpose: 'secondary-use', nhs: NHS, noFacts: true, want: 'deny' },
  { role: 'integration', rel: 'none', action: 'export', purpose: 'secondary-use', noFacts: true, want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'export', purpose: 'direct-care', noFacts: true, want: 'deny', reason: /for secondary use, not direct-care/ },
  { role: 'admin', rel: 'none', action: 'export', purpose: 'administration', noFacts: true, want: 'deny', reason: /for secondary use/ },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', want: 'secondary-use', pseudo: true },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', want: 'secondary-use', pseudo: false, withhold: ALL_SENSITIVE },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', over: { nationalDataOptOut: true }, want: 'deny', reason: /national data opt-out/ },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'read', want: 'deny', reason: /export only/ },
  // cohorts and registers: a GP or practice nurse their own practice, identified (direct care);
  // an analyst counts under disclosure control and pseudonymised lists (secondary use); nobody else
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, want: 'registered-practice', cohort: { identified: true, practice: 'ORG', disclosureControl: false } },
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, cohortPractice: 'ORG', want: 'registered-practice', cohort: { identified: true, practice: 'ORG', disclosureControl: false } },
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, cohortPractice: 'P91002', want: 'deny', reason: /only their own practice's registers, not P91002's/ },
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, org: null, want: 'deny', reason: /no organisation/ },
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, purpose: 'secondary-use', want: 'deny', reason: /for direct care, not secondary-use/ },
  { role: 'gp', rel: 'none', action: 'cohort', noFacts: true, purpose: 'emergency', breakGlass: BG, want: 'deny' },
  { role: 'practice-nurse', rel: 'none', action: 'cohort', noFacts: true, want: 'registered-practice', cohort: { identified: true, practice: 'ORG', disclosureControl: false } },
  { role: 'analyst', rel: 'none', action: 'cohort', noFacts: true, purpose: 'secondary-use', want: 'secondary-use', cohort: { identified: false, practice: null, disclosureControl: true } },
  { role: 'analyst', rel: 'none', action: 'cohort', noFacts: true, purpose: 'secondary-use', cohortPractice: 'P91002', want: 'secondary-use', cohort: { identified: false, practice: 'P91002', disclosureControl: true } },
  { role: 'analyst', rel: 'none', action: 'cohort', noFacts: true, purpose: 'direct-care', want: 'deny', reason: /for secondary use, not direct-care/ },
  { role: 'consultant', rel: 'none', action: 'cohort', noFacts: true, want: 'deny', reason: /may not run cohorts/ },
  { role: 'community-nurse', rel: 'none', action: 'cohort', noFacts: true, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'cohort', noFacts: true, purpose: 'patient-access', nhs: NHS, want: 'deny' },
  { role: 'admin', rel: 'none', action: 'cohort', noFacts: true, purpose: 'administration', want: 'deny' },
  { role: 'integration', rel: 'none', action: 'cohort', noFacts: true, purpose: 'administration', want: 'deny' },
  // risk lists: a GP or practice nurse their own practice's people, identified (direct care); an
  // analyst any practice or neighbourhood, pseudonymised (secondary use); the model to any role with a risk rule
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, want: 'registered-practice', risk: { identified: true, practice: 'ORG', neighbourhood: null } },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, riskAsk: { practice: 'ORG' }, want: 'registered-practice', risk: { identified: true, practice: 'ORG', neighbourhood: null } },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, riskAsk: { practice: 'P91002' }, want: 'deny', reason: /only their own practice's risk list, not P91002's/ },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, riskAsk: { neighbourhood: 'north' }, want: 'deny', reason: /not a neighbourhood's/ },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, org: null, want: 'deny', reason: /no organisation/ },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, purpose: 'secondary-use', want: 'deny', reason: /for direct care, not secondary-use/ },
  { role: 'gp', rel: 'none', action: 'risk', noFacts: true, riskAsk: { model: true }, want: 'registered-practice' },
  { role: 'practice-nurse', rel: 'none', action: 'risk', noFacts: true, want: 'registered-practice', risk: { identified: true, practice: 'ORG', neighbourhood: null } },
  { role: 'analyst', rel: 'none', action: 'risk', noFacts: true, purpose: 'secondary-use', riskAsk: { practice: 'P91002' }, want: 'secondary-use', pseudo: true, risk: { identified: false, practice: 'P91002', neighbourhood: null } },
  { role: 'analyst', rel: 'none', action: 'risk', noFacts: true, purpose: 'secondary-use', riskAsk: { neighbourhood: 'north' }, want: 'secondary-use', pseudo: true, risk: { identified: false, practice: null, neighbourhood: 'north' } },
  { role: 'analyst', rel: 'none', action: 'risk', noFacts: true, purpose: 'secondary-use', riskAsk: { model: true }, want: 'secondary-use' },
  { role: 'analyst', rel: 'none', action: 'risk', noFacts: true, purpose: 'direct-care', want: 'deny', reason: /for secondary use, not direct-care/ },
  { role: 'consultant', rel: 'none', action: 'risk', noFacts: true, want: 'deny', reason: /may not see risk/ },
  { role: 'care-coordinator', rel: 'none', action: 'risk', noFacts: true, riskAsk: { model: true }, want: 'deny' },
  { role: 'patient', rel: 'none', action: 'risk', noFacts: true, purpose: 'patient-access', nhs: NHS, want: 'deny' },
  { role: 'admin', rel: 'none', action: 'risk', noFacts: true, purpose: 'administration', want: 'deny' },
  // each person of a risk list is then decided as a read (direct care) or an export (secondary use):
  // dissent keeps the person to the practice's own data (so off a list built from others'); the opt-out does not bind direct care
  { role: 'gp', rel: 'registered', action: 'read', over: { dissentSharing: true }, want: 'registered-practice', only: 'ORG' },
  { role: 'gp', rel: 'registered', action: 'read', over: { nationalDataOptOut: true }, want: 'registered-practice', only: null },
  // analyses the policy lists (duplicate tests), decided as a register: GP own practice identified; analyst controlled, pseudonymised; unlisted denied
  { role: 'gp', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, want: 'registered-practice', cohort: { identified: true, practice: 'ORG', disclosureControl: false }, reason: /^duplicate-tests, as a register/ },
  { role: 'gp', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, cohortPractice: 'P91002', want: 'deny', reason: /only their own practice's registers, not P91002's/ },
  { role: 'gp', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'secondary-use', want: 'deny' },
  { role: 'practice-nurse', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, want: 'registered-practice', cohort: { identified: true, practice: 'ORG', disclosureControl: false } },
  { role: 'analyst', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'secondary-use', want: 'secondary-use', cohort: { identified: false, practice: null, disclosureControl: true } },
  { role: 'analyst', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'secondary-use', cohortPractice: 'P91002', want: 'secondary-use', cohort: { identified: false, practice: 'P91002', disclosureControl: true } },
  { role: 'analyst', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'direct-care', want: 'deny' },
  { role: 'analyst', rel: 'none', action: 'analysis', analysis: 'no-such-analysis', noFacts: true, purpose: 'secondary-use', want: 'deny', reason: /not an analysis the policy lists/ },
  { role: 'consultant', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, want: 'deny', reason: /may not run cohorts/ },
  { role: 'patient', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'patient-access', nhs: NHS, want: 'deny' },
  { role: 'admin', rel: 'none', action: 'analysis', analysis: 'duplicate-tests', noFacts: true, purpose: 'secondary-use', want: 'deny' },
  // then each person found is decided on their own: the opt-out and restrictions apply
  { role: 'analyst', rel: 'none', action: 'export', purpose: 'secondary-use', over: { nationalDataOptOut: true }, want: 'deny', reason: /national data opt-out/ },
  { role: 'analyst', rel: 'none', action: 'export', purpose: 'secondary-use', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'gp', rel: 'registered', action: 'read', over: { restricted: true }, want: 'deny', reason: /restricted/ },
  // bulk export: the kick-off (no person yet), then each person of it
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', kickoff: true, scope: { level: 'system' }, want: 'bulk-export' },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', kickoff: true, scope: { level: 'group', group: 'P91002' }, want: 'bulk-export' },
  { role: 'analyst', rel: 'none', purpose: 'direct-care', action: 'export', kickoff: true, scope: { level: 'system' }, want: 'deny', reason: /for secondary-use, not direct-care/ },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', kickoff: true, scope: { level: 'patient' }, want: 'bulk-export' },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', kickoff: true, scope: { level: 'group', group: 'ORG' }, want: 'deny', reason: /not group/ },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'ORG' }, want: 'bulk-export' },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'P91002' }, want: 'deny', reason: /only the group of their own organisation \(ORG\)/ },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'system' }, want: 'deny', reason: /at group level, not system/ },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, org: null, scope: { level: 'group', group: 'ORG' }, want: 'deny' },
  { role: 'practice-nurse', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'ORG' }, want: 'deny', reason: /may not use bulk export/ },
  { role: 'patient', rel: 'none', purpose: 'patient-access', nhs: NHS, action: 'export', kickoff: true, scope: { level: 'patient' }, want: 'deny' },
  { role: 'integration', rel: 'none', action: 'export', kickoff: true, scope: { level: 'system' }, want: 'deny' },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', scope: { level: 'system' }, want: 'secondary-use', withhold: ALL_SENSITIVE },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', scope: { level: 'system' }, over: { nationalDataOptOut: true }, want: 'deny', reason: /national data opt-out/ },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', scope: { level: 'system' }, over: { restricted: true }, want: 'deny', reason: /restricted/ },
  { role: 'admin', rel: 'none', purpose: 'secondary-use', action: 'export', scope: { level: 'system' }, want: 'secondary-use', withhold: ALL_SENSITIVE },
  { role: 'gp', rel: 'registered', action: 'export', scope: { level: 'group', group: 'ORG' }, want: 'registered-practice', withhold: [], only: null },
  { role: 'gp', rel: 'registered', action: 'export', scope: { level: 'group', group: 'ORG' }, over: { dissentSharing: true }, want: 'registered-practice', only: 'ORG' },
  { role: 'gp', rel: 'registered', action: 'export', scope: { level: 'group', group: 'ORG' }, over: { nationalDataOptOut: true }, want: 'registered-practice' },
  { role: 'gp', rel: 'care-team-user', action: 'export', scope: { level: 'group', group: 'ORG' }, want: 'deny', reason: /needs registered-practice/ },
  { role: 'gp', rel: 'registered', action: 'export', scope: { level: 'group', group: 'ORG' }, over: { restricted: true }, want: 'deny' },
  { role: 'gp', rel: 'none', action: 'export', scope: { level: 'group', group: 'ORG' }, breakGlass: BG, want: 'deny', reason: /needs registered-practice/ },
  { role: 'gp', rel: 'registered', action: 'export', purpose: 'emergency', scope: { level: 'group', group: 'ORG' }, want: 'deny' },
  // Group ids: practice-<ODS> (and the bare ODS code) a practice; cohort-<register> a register, limited by the cohort rule (decided at kick-off and per batch)
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'practice-ORG' }, want: 'bulk-export' },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'practice-P91002' }, want: 'deny', reason: /only the group of their own organisation/ },
  { role: 'gp', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'cohort-diabetes' }, want: 'bulk-export' },
  { role: 'gp', rel: 'registered', action: 'export', scope: { level: 'group', group: 'cohort-diabetes' }, want: 'registered-practice' },
  { role: 'gp', rel: 'care-team-user', action: 'export', scope: { level: 'group', group: 'cohort-diabetes' }, want: 'deny', reason: /needs registered-practice/ },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', kickoff: true, scope: { level: 'group', group: 'cohort-diabetes' }, want: 'bulk-export' },
  { role: 'analyst', rel: 'none', purpose: 'secondary-use', action: 'export', scope: { level: 'group', group: 'cohort-diabetes' }, over: { nationalDataOptOut: true }, want: 'deny', reason: /national data opt-out/ },
  { role: 'consultant', rel: 'none', action: 'export', kickoff: true, scope: { level: 'group', group: 'cohort-diabetes' }, want: 'deny', reason: /may not use bulk export/ },
];

test(`policy decision table (${cases.length} cases): role × relationship × purpose × consent × sensitivity × break-glass`, () => {
  assert.ok(cases.length >= 60);
  for (const [i, c] of cases.entries()) {
    const label = `case ${i}: ${JSON.stringify(c)}`;
    const search = c.action === 'search';
    const d = decide(policy, {
      action: c.action ?? 'read',
      principal: { user: 'user', role: c.role, organisation: c.org === undefined ? 'ORG' : c.org, nhsNumber: c.nhs },
      purpose: c.purpose ?? (c.role === 'patient' && c.nhs ? 'patient-access' : 'direct-care'),
      facts: search || c.kickoff || c.noFacts ? null : facts(c.rel, c.over),
      breakGlassReason: c.breakGlass,
      ...(c.action === 'cohort' ? { cohort: { practice: c.cohortPractice ?? null } } : {}),
      ...(c.action === 'risk' ? { risk: { practice: c.riskAsk?.practice ?? null, neighbourhood: c.riskAsk?.neighbourhood ?? null, model: c.riskAsk?.model } } : {}),
      ...(c.action === 'analysis' ? { analysis: { name: c.analysis ?? '', practice: c.cohortPractice ?? null } } : {}),
      export: c.scope,
      now: NOW,
    });
    assert.ok(d.reason.length > 0, label);
    if (c.want === 'deny') {
      assert.equal(d.kind, 'deny', `${label} → ${JSON.stringify(d)}`);
    } else {
      assert.equal(d.kind, 'permit', `${label} → ${JSON.stringify(d)}`);
      if (d.kind !== 'permit') continue;
      assert.equal(d.basis, c.want, label);
      if (c.withhold) assert.deepEqual(d.obligations.withholdCategories, c.withhold, label);
      if (c.cohort) assert.deepEqual(d.obligations.cohort, c.cohort, label);
      if (c.risk) assert.deepEqual(d.obligations.risk, c.risk, label);
      if (c.only !== undefined) assert.equal(d.obligations.onlyOrganisation, c.only, label);
      if (c.breakGlass && d.basis === 'break-glass') assert.deepEqual(d.obligations.startBreakGlass, { reason: c.breakGlass, minutes: 60 }, label);
      if (d.basis !== 'break-glass') assert.equal(d.obligations.startBreakGlass, null, label);
      if (c.pseudo !== undefined) assert.equal(d.obligations.pseudonymise === true, c.pseudo, label);
    }
    if (c.reason) assert.match(d.reason, c.reason, label);
  }
});

test('fails closed: no policy, an unknown role, missing facts, an error inside', () => {
  const req = { action: 'read' as const, principal: { user: 'u', role: 'gp' as Role, organisation: 'ORG' }, purpose: 'direct-care' as const, facts: facts('registered'), now: NOW };
  assert.equal(decide(null, req).kind, 'deny');
  assert.equal(decide(policy, { ...req, principal: { ...req.principal, role: 'superuser' as Role } }).kind, 'deny');
  assert.equal(decide(policy, { ...req, facts: null }).kind, 'deny');
  assert.equal(decide(policy, { ...req, purpose: 'curiosity' as PurposeOfUse }).kind, 'deny');
  const broken = { ...policy, roles: { gp: { label: 'GP', directCare: null as unknown as [] } } } as Policy;
  assert.equal(decide(broken, req).kind, 'deny');
  const throwing = { ...facts('registered'), get registeredPractices(): string[] { throw new Error('store timed out'); } };
  const d = decide(policy, { ...req, facts: throwing });
  assert.equal(d.kind, 'deny');
  assert.match(d.reason, /fails closed.*store timed out/);
  const noRole = { ...policy, roles: {} };
  assert.match(decide(noRole, req).reason, /no rule for role gp/);
  // A manage rule the code does not know is a deny, as is a manage action with no facts.
  const oddRule = { ...policy, roles: { ...policy.roles, gp: { ...policy.roles.gp!, careTeam: 'everyone' as 'any' } } } as Policy;
  assert.match(decide(oddRule, { ...req, action: 'care-team' }).reason, /fails closed/);
  assert.equal(decide(policy, { ...req, action: 'consent', facts: null }).kind, 'deny');
  assert.equal(decide(policy, { ...req, action: 'audit', facts: null }).kind, 'deny');
  assert.equal(decide(null, { ...req, action: 'quarantine', principal: { user: 'i', role: 'integration', organisation: null }, purpose: 'administration', facts: null }).kind, 'deny');
  assert.equal(decide(null, { ...req, action: 'mpi-review', principal: { user: 'i', role: 'integration', organisation: null }, purpose: 'administration', facts: null }).kind, 'deny');
  assert.equal(decide(null, { ...req, action: 'feeds', principal: { user: 'i', role: 'integration', organisation: null }, purpose: 'administration', facts: null }).kind, 'deny');
  // A flag that is not exactly true is no permission (a policy edited by hand: "yes", 1).
  const loose = { ...policy, roles: { ...policy.roles, integration: { ...policy.roles.integration!, mpiReview: 'yes' as unknown as boolean, feeds: 1 as unknown as boolean } } } as Policy;
  assert.equal(decide(loose, { ...req, action: 'mpi-review', principal: { user: 'i', role: 'integration', organisation: null }, purpose: 'administration', facts: null }).kind, 'deny');
  assert.equal(decide(loose, { ...req, action: 'feeds', principal: { user: 'i', role: 'integration', organisation: null }, purpose: 'administration', facts: null }).kind, 'deny');
});

test('the policy file is checked into a list of problems', () => {
  const r = checkPolicy({ version: 'x', recentEncounterDays: -1, roles: { wizard: {}, gp: { directCare: ['friendship'] } }, breakGlass: { minutes: 0 }, sensitiveCategories: { hiv: { visibleTo: [{ role: 'gp', relationship: 'self' }] } } }, { categories: {} });
  assert.equal(r.kind, 'invalid');
  if (r.kind !== 'invalid') return;
  assert.ok(r.problems.some((p) => /recentEncounterDays/.test(p)));
  assert.ok(r.problems.some((p) => /roles.wizard: not a role/.test(p)));
  assert.ok(r.problems.some((p) => /"friendship" is not a relationship/.test(p)));
  assert.ok(r.problems.some((p) => /breakGlass.minutes/.test(p)));
  assert.ok(r.problems.some((p) => /hiv: no code list/.test(p)));
  const rules = checkPolicy({ version: 'x', recentEncounterDays: 1, roles: { gp: { careTeam: 'anyone', quarantine: 'yes', mpiReview: 1, feeds: 'no' } }, breakGlass: { minutes: 1, minimumReasonLength: 1 } }, { categories: {} });
  assert.equal(rules.kind, 'invalid');
  if (rules.kind === 'invalid') {
    assert.ok(rules.problems.some((p) => /roles.gp.careTeam: "anyone" is not one of self, relationship, any/.test(p)));
    assert.ok(rules.problems.some((p) => /roles.gp.quarantine: true or false/.test(p)));
    assert.ok(rules.problems.some((p) => /roles.gp.mpiReview: true or false/.test(p)));
    assert.ok(rules.problems.some((p) => /roles.gp.feeds: true or false/.test(p)));
  }
  assert.equal(checkPolicy(null, null).kind, 'invalid');
  const exp = checkPolicy({ version: 'x', recentEncounterDays: 1, roles: { gp: { bulkExport: { levels: ['galaxy'], purposes: ['curiosity', 'direct-care'] } }, analyst: { bulkExport: {} } }, breakGlass: { minutes: 1, minimumReasonLength: 1 } }, { categories: {} });
  assert.equal(exp.kind, 'invalid');
  if (exp.kind !== 'invalid') return;
  assert.ok(exp.problems.some((p) => /"galaxy" is not an export level/.test(p)));
  assert.ok(exp.problems.some((p) => /"curiosity" is not a purpose/.test(p)));
  assert.ok(exp.problems.some((p) => /direct-care export needs directCare/.test(p)));
  assert.ok(exp.problems.some((p) => /analyst.bulkExport: levels and purposes/.test(p)));
});

test('visibleUnder: dissent keeps one organisation; withheld categories are dropped', () => {
  const sexualHealth = { resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '105629000' }] } };
  const plain = { resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] } };
  const none = { withholdCategories: [], onlyOrganisation: null, startBreakGlass: null };
  assert.equal(visibleUnder(policy, none, { source_system: 'hl7:RM2', content: sexualHealth }), true);
  assert.equal(visibleUnder(policy, { ...none, withholdCategories: ['sexual-health'] }, { source_system: 'gp:P91001', content: sexualHealth }), false);
  assert.equal(visibleUnder(policy, { ...none, withholdCategories: ['sexual-health'] }, { source_system: 'gp:P91001', content: plain }), true);
  assert.equal(visibleUnder(policy, { ...none, onlyOrganisation: 'P91001' }, { source_system: 'gp:P91001', content: plain }), true);
  assert.equal(visibleUnder(policy, { ...none, onlyOrganisation: 'P91001' }, { source_system: 'hl7:RM2', content: plain }), false);
});

test('sensitive categories are found in any coding of a resource; ICD-10 matches by prefix', () => {
  const chlamydia = { resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '105629000' }] } };
  assert.deepEqual(sensitiveCategoriesOf(policy, chlamydia), ['sexual-health']);
  const encounter = { resourceType: 'Encounter', reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'X78.0' }] }] };
  assert.deepEqual(sensitiveCategoriesOf(policy, encounter), ['mental-health-sensitive']);
  const flagged = { resourceType: 'Observation', meta: { security: [{ system: 'urn:bevan:sensitive', code: 'safeguarding' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '93461009' }] } };
  assert.deepEqual(sensitiveCategoriesOf(policy, flagged), ['gender-identity', 'safeguarding']);
  assert.deepEqual(sensitiveCategoriesOf(policy, { resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '44054006' }] } }), []);
  assert.deepEqual(sensitiveCategoriesOf(policy, { resourceType: 'Condition', code: { coding: [{ system: 'http://snomed.info/sct', code: '1056290001' }] } }), [], 'SNOMED codes match exactly');
});

test('organisation of a source system', () => {
  assert.equal(organisationOfSource(policy, 'gp:P91001'), 'P91001');
  assert.equal(organisationOfSource(policy, 'hl7:RM2'), 'RM2');
  assert.equal(organisationOfSource(policy, 'csv:community'), 'RM3');
  assert.equal(organisationOfSource(policy, 'fhir:unknown'), null);
});

test('readNeeds: a direct-care read without a declared reason is permitted only with one of its relationships or an open break-glass session', () => {
  const rels: Rel[] = ['none', 'registered', 'care-team-user', 'care-team-org', 'episode', 'encounter', 'old-encounter'];
  const extras: Partial<AccessFacts>[] = [
    {},
    { breakGlass: { reason: 'unconscious in ED', expiresAt: '2025-10-01T12:30:00Z' } },
    { breakGlass: { reason: 'unconscious in ED', expiresAt: '2025-10-01T11:00:00Z' } },
    { restricted: true },
    { dissentSharing: true },
    { nhsNumber: '9999999999' },
  ];
  let permits = 0;
  for (const role of ROLES) {
    for (const purpose of PURPOSES) {
      for (const org of ['ORG', null]) {
        const principal = { user: 'user', role, organisation: org, ...(role === 'patient' ? { nhsNumber: NHS } : {}) };
        const needs = readNeeds(policy, principal, purpose);
        if (purpose !== 'direct-care' && purpose !== 'emergency') assert.equal(needs, null, `${role} ${purpose}`);
        else assert.deepEqual(needs, { relationships: policy.roles[role]!.directCare ?? [], breakGlassSession: policy.roles[role]!.breakGlass === true });
        if (!needs) continue;
        for (const rel of rels) {
          for (const over of extras) {
            const f = facts(rel, over);
            const d = decide(policy, { action: 'read', principal, purpose, facts: f, now: NOW });
            if (d.kind !== 'permit') continue;
            permits++;
            const held = heldRelationships(policy, principal, f, NOW);
            const open = !!f.breakGlass && Date.parse(f.breakGlass.expiresAt) > NOW.getTime();
            assert.ok(needs.relationships.some((r) => held.has(r)) || (needs.breakGlassSession && open), `${role} ${purpose} ${org} ${rel} ${JSON.stringify(over)} → ${d.reason}`);
          }
        }
      }
    }
  }
  assert.ok(permits > 50);
  // An emergency under a policy that asks for no reason declares break-glass for anyone: no bound.
  assert.equal(readNeeds({ ...policy, breakGlass: { ...policy.breakGlass, minimumReasonLength: 0 } }, { user: 'u', role: 'gp', organisation: 'ORG' }, 'emergency'), null);
  assert.notEqual(readNeeds({ ...policy, breakGlass: { ...policy.breakGlass, minimumReasonLength: 0 } }, { user: 'u', role: 'gp', organisation: 'ORG' }, 'direct-care'), null);
  assert.equal(readNeeds(null, { user: 'u', role: 'gp', organisation: 'ORG' }, 'direct-care'), null);
  assert.equal(readNeeds(policy, { user: 'u', role: 'nobody' as Role, organisation: 'ORG' }, 'direct-care'), null);
});
