/**
 * What FHIR R4 `Consent` and `CareTeam` resources sent by the feeds (GP FHIR bundles) say about
 * access, in the terms of Bevan's own tables: consent directives (access/consent.ts) and care team
 * members (access/care-team.ts). Pure: the ingest writer reads the resources of a batch, this
 * module maps each to statements or to a reason it has no effect, and those services apply them
 * inside the writer's transaction (they own the SQL). A shape not understood is stored as sent
 * (it is part of the record) but changes nothing, and says why.
 *
 * Consent (https://hl7.org/fhir/R4/consent.html): only `scope` patient-privacy speaks of sharing
 * (treatment, research and advance-directive consents do not); the kind comes from a code in
 * `category` or `provision.code` (CONSENT_CODES below: NHS data opt-out and record-sharing codes as
 * GP systems record them); `provision.type` deny or permit says which way; `status` active is in
 * force, inactive / rejected / entered-in-error take it back; `provision.period` bounds it.
 *
 * CareTeam (https://hl7.org/fhir/R4/careteam.html): each `participant` whose `member` is an
 * Organization with an ODS code is `org:<ODS>`; a Practitioner or PractitionerRole (GMC, NMC, HCPC
 * numbers) counts through the organisation they act for (`participant.onBehalfOf`, else the team's
 * `managingOrganization`), because Bevan's users carry an organisation, not a professional number.
 * `status` active (and the participant's and team's `period`) puts them on the team; inactive,
 * suspended and entered-in-error take them off.
 */
import type { ConsentKind } from './consent.ts';

export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
const SNOMED = 'http://snomed.info/sct';

/**
 * Codes that say what a Consent is about, as UK GP systems record them (SNOMED CT UK), and which
 * way the code itself points: `deny` codes are dissent or an opt-out, `permit` codes consent given.
 */
export const CONSENT_CODES: Readonly<Record<string, { kind: ConsentKind; says: 'deny' | 'permit'; display: string }>> = {
  // Type 1 objection (Read 9Nu0): no identifiable GP data for purposes beyond direct care.
  [`${SNOMED}|827241000000103`]: { kind: 'national-data-opt-out', says: 'deny', display: 'Dissent from secondary use of general practitioner patient identifiable data' },
  // Type 2 objection (Read 9Nu4), which the national data opt-out replaced.
  [`${SNOMED}|881561000000100`]: { kind: 'national-data-opt-out', says: 'deny', display: 'Dissent from disclosure of personal confidential data by Health and Social Care Information Centre' },
  // Sharing the record with other organisations (local shared care records).
  [`${SNOMED}|416409005`]: { kind: 'dissent-sharing', says: 'deny', display: 'Refused consent for upload to local shared electronic record' },
  [`${SNOMED}|417528008`]: { kind: 'dissent-sharing', says: 'permit', display: 'Consent given for upload to local shared electronic record' },
  [`${SNOMED}|425691002`]: { kind: 'dissent-sharing', says: 'permit', display: 'Consent given for electronic record sharing' },
};

/** One feed's statement about a person's consent directive. */
export interface ConsentStatement {
  /** The Patient's id in the source system (the resource's subject). */
  subject: string;
  kind: ConsentKind;
  /** record: the directive is in force; withdraw: the source takes back what it said. */
  effect: 'record' | 'withdraw';
  /** When the source says so (Consent.dateTime), or null. */
  at: string | null;
  /** For people to read: the resource and the codes that said so. */
  reason: string;
}

/** One feed's statement about a care team member. */
export interface CareTeamStatement {
  subject: string;
  /** `org:<ODS code>`. */
  member: string;
  role: string | null;
  effect: 'add' | 'end';
  /** When membership starts (period.start, else now) or ended (period.end). */
  at: string | null;
  reason: string;
}

/** A resource, or a part of one, that changes nothing, and why. */
export interface NoEffect {
  resourceType: 'Consent' | 'CareTeam';
  id: string;
  subject: string | null;
  reason: string;
}

export interface FeedDirectives {
  consent: ConsentStatement[];
  careTeam: CareTeamStatement[];
  none: NoEffect[];
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => !!v && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const codings = (concepts: unknown): { system: string; code: string }[] =>
  list(concepts).flatMap((c) => list(isObject(c) ? c.coding : undefined)).filter((x): x is { system: string; code: string } => isObject(x) && typeof x.system === 'string' && typeof x.code === 'string');
const dateOf = (v: unknown): string | null => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(Date.parse(v)).toISOString() : null);

/**
 * The directives in a batch's Consent and CareTeam resources. `subjectOf` gives a resource's
 * Patient (the writer's subject); `organisations` the ODS code of each `Organization/<id>` sent
 * in the same message, for references that carry no identifier of their own.
 */
export function feedDirectives(resources: readonly { resource: Json; subject: string | null }[], organisations: ReadonlyMap<string, string>, now: Date): FeedDirectives {
  const out: FeedDirectives = { consent: [], careTeam: [], none: [] };
  for (const { resource, subject } of resources) {
    const id = typeof resource.id === 'string' ? resource.id : '(no id)';
    if (resource.resourceType === 'Consent') consentOf(resource, id, subject, now, out);
    else if (resource.resourceType === 'CareTeam') careTeamOf(resource, id, subject, organisations, now, out);
  }
  return out;
}

function consentOf(r: Json, id: string, subject: string | null, now: Date, out: FeedDirectives): void {
  const none = (reason: string) => out.none.push({ resourceType: 'Consent', id, subject, reason: `Consent/${id}: ${reason}; stored, no effect on access` });
  if (!subject) return void none('names no Patient of its message');
  const scopes = codings(r.scope);
  if (!scopes.some((c) => c.system === CONSENT_SCOPE_SYSTEM && c.code === 'patient-privacy')) {
    return void none(`scope ${scopes.map((c) => c.code).join(', ') || '(none)'} is not patient-privacy (only privacy consents bear on sharing)`);
  }
  const provision = isObject(r.provision) ? r.provision : {};
  const known = [...codings(r.category), ...codings(provision.code)].map((c) => ({ c, def: CONSENT_CODES[`${c.system}|${c.code}`] })).filter((x) => x.def);
  const kinds = [...new Set(known.map((x) => x.def!.kind))];
  if (!kinds.length) return void none(`no category or provision code Bevan knows (${Object.keys(CONSENT_CODES).map((k) => k.split('|')[1]).join(', ')})`);
  if (kinds.length > 1) return void none(`codes for more than one directive (${kinds.join(', ')}): send one Consent each`);
  const kind = kinds[0]!;
  const codeText = known.map((x) => `${x.c.code} ${x.def!.display}`).join('; ');
  const status = typeof r.status === 'string' ? r.status : '';
  const at = dateOf(r.dateTime);
  const withdraw = (why: string) => out.consent.push({ subject, kind, effect: 'withdraw', at: at ?? now.toISOString(), reason: `Consent/${id} ${why} (${codeText})` });
  if (['inactive', 'rejected', 'entered-in-error'].includes(status)) return void withdraw(`is ${status}`);
  if (status !== 'active') return void none(`status ${status || '(none)'} is not in force (draft and proposed consents change nothing)`);
  // Which way: the provision's type where it gives one; a code's own direction otherwise. Where
  // they disagree (a "consent given" code under deny), the restrictive reading is taken.
  const type = provision.type === 'deny' || provision.type === 'permit' ? provision.type : null;
  const says = new Set(known.map((x) => x.def!.says));
  const deny = type === 'deny' || (type === null ? says.has('deny') : type === 'permit' && says.has('deny') && !says.has('permit'));
  const period = isObject(provision.period) ? provision.period : {};
  const start = dateOf(period.start);
  const end = dateOf(period.end);
  if (end && end <= now.toISOString()) return void withdraw(`ended ${end}`);
  if (start && start > now.toISOString()) return void none(`not in force until ${start}`);
  if (deny) out.consent.push({ subject, kind, effect: 'record', at, reason: `Consent/${id} active: ${kind} in force (${type ? `provision.type ${type}` : 'the code says dissent'}; ${codeText})` });
  else withdraw(`active, provision permit`);
}

function careTeamOf(r: Json, id: string, subject: string | null, organisations: ReadonlyMap<string, string>, now: Date, out: FeedDirectives): void {
  const none = (reason: string) => out.none.push({ resourceType: 'CareTeam', id, subject, reason: `CareTeam/${id}: ${reason}; stored, no effect on access` });
  if (!subject) return void none('names no Patient of its message');
  const status = typeof r.status === 'string' ? r.status : '';
  if (!['active', 'inactive', 'suspended', 'entered-in-error'].includes(status)) return void none(`status ${status || '(none)'} is not in force (a proposed team changes nothing)`);
  const teamEnd = dateOf(isObject(r.period) ? r.period.end : undefined);
  const teamEnded = status !== 'active' || (teamEnd !== null && teamEnd <= now.toISOString());
  const managing = list(r.managingOrganization).map((o) => odsOf(o, organisations)).find((x) => x) ?? null;
  const seen = new Set<string>();
  list(r.participant).forEach((p, n) => {
    if (!isObject(p)) return;
    const member = isObject(p.member) ? p.member : null;
    const type = member ? typeOf(member) : null;
    let ods: string | null = null;
    let who = '';
    if (type === 'Organization') {
      ods = odsOf(member, organisations);
      who = ods ? `Organization ${ods}` : 'an Organization without an ODS code';
    } else if (type === 'Practitioner' || type === 'PractitionerRole') {
      const number = list(member!.identifier).map((i) => (isObject(i) && typeof i.value === 'string' ? i.value : null)).find((x) => x);
      ods = odsOf(p.onBehalfOf, organisations) ?? managing;
      who = `${type}${number ? ` ${number}` : ''}${ods ? ` for ${ods}` : ''}`;
      if (!ods) return void none(`participant ${n + 1} (${who}): a practitioner counts through the organisation they act for (onBehalfOf or managingOrganization), and none with an ODS code is given`);
    } else {
      // The patient themselves, a relative or carer: not a professional relationship.
      return void none(`participant ${n + 1}: a ${type ?? 'member of unknown type'} is not a care professional or organisation`);
    }
    if (!ods) return void none(`participant ${n + 1} (${who}): no ODS code to name the organisation by`);
    const key = `org:${ods}`;
    const role = roleOf(p.role);
    const period = isObject(p.period) ? p.period : {};
    const start = dateOf(period.start);
    const end = dateOf(period.end);
    const ended = teamEnded || (end !== null && end <= now.toISOString());
    if (!ended && start && start > now.toISOString()) return void none(`participant ${n + 1} (${who}): not on the team until ${start}`);
    // One row per organisation: a second participant of the same organisation adds nothing.
    if (seen.has(key)) return;
    seen.add(key);
    out.careTeam.push({
      subject, member: key, role, effect: ended ? 'end' : 'add', at: ended ? (end ?? teamEnd ?? now.toISOString()) : start,
      reason: `CareTeam/${id} ${status}${ended && status === 'active' ? ', period ended' : ''}: participant ${who}${role ? ` as ${role}` : ''}`,
    });
  });
  if (!seen.size && !out.none.some((x) => x.id === id && x.resourceType === 'CareTeam')) none('no participants');
}

function typeOf(ref: Json): string | null {
  if (typeof ref.type === 'string') return ref.type;
  const m = typeof ref.reference === 'string' ? /^(?:.*\/)?([A-Z][A-Za-z]+)\/[^/]+$/.exec(ref.reference) : null;
  return m ? m[1]! : null;
}

/** The ODS code a Reference names: its own identifier, or the Organization it points at in the same message. */
function odsOf(ref: unknown, organisations: ReadonlyMap<string, string>): string | null {
  if (!isObject(ref)) return null;
  const own = list(ref.identifier).find((i) => isObject(i) && i.system === ODS_SYSTEM && typeof i.value === 'string') as { value: string } | undefined;
  const code = own?.value ?? (typeof ref.reference === 'string' ? organisations.get(ref.reference.replace(/^.*?(Organization\/[^/]+)$/, '$1')) : undefined);
  return code && /^[A-Z0-9-]{3,12}$/.test(code.toUpperCase()) ? code.toUpperCase() : null;
}

function roleOf(roles: unknown): string | null {
  for (const c of list(roles)) {
    if (!isObject(c)) continue;
    const coding = list(c.coding).find((x) => isObject(x) && (typeof x.display === 'string' || typeof x.code === 'string')) as { display?: string; code?: string } | undefined;
    const text = (typeof c.text === 'string' ? c.text : null) ?? coding?.display ?? coding?.code ?? null;
    if (text && text.trim()) return text.trim().replace(/[\u0000-\u001f]/g, ' ').slice(0, 64);
  }
  return null;
}

/** `Organization/<id>` → ODS code, for the Organizations a message carries. */
export function organisationCodes(resources: readonly Json[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of resources) {
    if (r.resourceType !== 'Organization' || typeof r.id !== 'string') continue;
    const ods = odsOf({ identifier: r.identifier }, new Map());
    if (ods) out.set(`Organization/${r.id}`, ods);
  }
  return out;
}
