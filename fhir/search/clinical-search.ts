/**
 * Clinical search inside the repository's transaction: the named people are found first and
 * each is decided by the policy (the same decision readRecord takes: facts, break-glass,
 * obligations); only then are their resources of the types needed read (narrowed by person
 * and type in SQL), withheld items dropped, the rest presented as read presents them, matched,
 * sorted, paged, and their _include/_revinclude resources gathered from what is visible. The
 * audit entries (one per person named, permitted or denied, and one for names not found) are
 * written in the same transaction. Called by FhirRepository only: it gives the access kit.
 */
import type { Patient, Resource } from '@medplum/fhirtypes';
import type { AuditEntry } from '../../access/audit.ts';
import type { Decision } from '../../access/policy.ts';
import { buildIntegratedRecord } from '../../record/integrated-record.ts';
import { fhirLogicalId, personPatientKeys, presentResource, toMergedPatient } from '../../record/fhir-bundle.ts';
import { withNationalCodes } from '../../record/coding.ts';
import { isPersonId } from '../../record/record-store.ts';
import { defaultReferenceData } from '../../record/reference/reference-data.ts';
import type { PersonRow, ResourceRow } from '../../record/rows.ts';
import type { FhirStoreTx, PersonRecordData } from '../store.ts';
import { LOCAL_TIME_ZONE } from './date-range.ts';
import { includeReferences, matchesSearch, needsPresentation, revincluded, sortResources } from './match.ts';
import { DEFAULT_SORT, MAX_PATIENTS, paramOf, type ClinicalSearch, type IncludeSpec } from './params.ts';

type Permit = Extract<Decision, { kind: 'permit' }>;

/** What the repository lends a search: its decision path, its obligations check, its audit entry shape. */
export interface SearchAccessKit {
  /** Facts, decision, and the break-glass session (with its alert entry) the decision asks for. */
  decide(person: PersonRow): Promise<{ decision: Decision; entries: AuditEntry[] }>;
  /** True when the decision's obligations let this stored item be shown. */
  visible(row: ResourceRow, decision: Permit): boolean;
  /** The stored items the request's token scopes reach (all of them for a person's request): applied before the obligations. */
  inScope<R extends ResourceRow>(rows: R[]): R[];
  /** True when the request's token scopes name the type (always, for a person's request). */
  typeInScope(type: string): boolean;
  entry(e: Partial<AuditEntry> & { action: string }): AuditEntry;
  now: Date;
  /** Types that never hold personal data (reference data): includable without a person. */
  nonPersonal: ReadonlySet<string>;
  zone?: string;
}

export interface ClinicalSearchResult {
  total: number;
  /** The page of matches, in order. */
  matches: Resource[];
  /** _include and _revinclude resources (search mode include). */
  included: Resource[];
  /** Some of the person's items were withheld by the access policy. */
  redacted: boolean;
  /** More resources would have been included than MAX_INCLUDED. */
  truncated: boolean;
}

export type SearchOutcome<T> = { kind: 'ok'; value: T } | { kind: 'forbidden' | 'not-found' | 'too-costly'; message: string };

/** The most resources _include and _revinclude add to one page. */
export const MAX_INCLUDED = 1000;
export const SEARCH_ACTION = 'resource.search';
export const NAME_THE_PATIENT = 'a clinical search names the patient: add patient=Patient/{id} (or subject=Patient/{id}); searches across people are for analytics, through export';

/** A visible item: matched and sorted on a cheap view, presented (references rewritten) only when needed. */
interface Shown {
  row: ResourceRow;
  personId: string;
  /** `Type/{stable id}` as served. */
  ref: string;
  /** The content with its served id and lastUpdated (references as stored): enough for tokens, dates and sort. */
  view: Resource;
  /** The resource as served, made once on first use. */
  resource(): Resource;
}

interface PersonData {
  person: PersonRow;
  decision: Permit;
  data: PersonRecordData;
  shown: Shown[];
  withheld: number;
}

/** Runs a clinical search for the kit's principal; the caller turns a non-ok outcome into an error after the commit. */
export async function runClinicalSearch(tx: FhirStoreTx, kit: SearchAccessKit, search: ClinicalSearch, detail: Record<string, unknown>): Promise<SearchOutcome<ClinicalSearchResult>> {
  const now = kit.now;
  const zone = kit.zone ?? LOCAL_TIME_ZONE;
  const base = { ...detail, resourceType: search.resourceType };
  const audit = (over: Partial<AuditEntry>) => kit.entry({ action: SEARCH_ACTION, detail: base, ...over });
  if (!search.patients.length && !search.patientChains?.length) {
    await tx.appendAudit([audit({ decision: 'deny', reason: 'no patient named (a clinical search is about one person or a few named people)' })], now);
    return { kind: 'forbidden', message: NAME_THE_PATIENT };
  }

  // Chained patient parameters (patient.identifier=…): the people a Patient search finds, as a list each.
  const chained: string[][] = [];
  for (const chain of search.patientChains ?? []) {
    const found = await tx.searchPatients(chain.criteria, MAX_PATIENTS);
    if (found.matched > MAX_PATIENTS) {
      await tx.appendAudit([audit({ decision: 'deny', reason: `${chain.raw} finds more than ${MAX_PATIENTS} people` })], now);
      return { kind: 'too-costly', message: `${chain.raw} finds more than ${MAX_PATIENTS} people: a clinical search names at most ${MAX_PATIENTS} (narrow it, e.g. with an identifier or birthdate)` };
    }
    chained.push(found.ids);
  }
  const chainedOnly = new Set(chained.flat());

  // Who is named: person ids (following merges) or source Patients' stable ids.
  const ids = [...new Set(search.patients.flat())];
  const resolved = new Map<string, PersonRow | null>();
  for (const id of ids) resolved.set(id, await resolvePatient(tx, id));
  for (const p of resolved.values()) if (p) chainedOnly.delete(p.person_id);
  for (const p of await tx.personsById([...chainedOnly])) resolved.set(p.person_id, p);
  const people = new Map<string, PersonRow>();
  for (const p of resolved.values()) if (p) people.set(p.person_id, p);
  const notFound = ids.filter((id) => !resolved.get(id));

  // Each named person is decided before anything of theirs is read.
  const entries: AuditEntry[] = [];
  const decisions = new Map<string, Decision>();
  for (const p of people.values()) {
    const d = await kit.decide(p);
    entries.push(...d.entries);
    decisions.set(p.person_id, d.decision);
  }
  const denied = [...people.values()].filter((p) => decisions.get(p.person_id)!.kind === 'deny');
  for (const p of denied) entries.push(audit({ personId: p.person_id, decision: 'deny', reason: (decisions.get(p.person_id) as { reason: string }).reason }));
  // A person named by id whom the policy refuses is a 403; one found only through a chain is left
  // out, as Patient search leaves out people the user may not see (so a chain reveals nobody).
  const refused = denied.filter((p) => !chainedOnly.has(p.person_id));
  if (refused.length) {
    await tx.appendAudit(entries, now);
    return { kind: 'forbidden', message: `access denied: ${(decisions.get(refused[0]!.person_id) as { reason: string }).reason}` };
  }
  for (const p of denied) people.delete(p.person_id);

  // patient=a,b&subject=c: OR within a parameter, AND across them; each chain is one more list.
  const sets = [
    ...search.patients.map((list) => new Set(list.map((id) => resolved.get(id)?.person_id).filter((x): x is string => !!x))),
    ...chained.map((list) => new Set(list.filter((id) => people.has(id)))),
  ];
  const effective = sets.reduce((a, b) => new Set([...a].filter((x) => b.has(x))));

  const nowMs = now.getTime();
  const types = typesToLoad(search, kit.nonPersonal);
  const loaded: PersonData[] = [];
  for (const personId of effective) {
    const person = people.get(personId)!;
    loaded.push(await loadShown(tx, kit, person, decisions.get(personId) as Permit, types));
  }

  const candidates = loaded.flatMap((l) => l.shown.filter((s) => s.row.resource_type === search.resourceType));
  // Reference filters compare served references, so only they need the resource presented.
  const cheap = { filters: search.filters.filter((f) => !needsPresentation(f)) };
  const dear = { filters: search.filters.filter(needsPresentation) };
  const matched = candidates.filter((s) => matchesSearch(s.view, cheap, nowMs, zone) && (!dear.filters.length || matchesSearch(s.resource(), dear, nowMs, zone)));
  const keys = search.sort.length ? search.sort : [{ param: paramOf(search.resourceType, DEFAULT_SORT[search.resourceType])!, descending: true }];
  const byView = new Map(matched.map((s) => [s.view, s]));
  const sorted = sortResources(matched.map((s) => s.view), keys, zone).map((v) => byView.get(v)!);
  const count = search.summaryCount ? 0 : search.count;
  const pageShown = sorted.slice(search.offset, search.offset + count);
  const page = pageShown.map((s) => s.resource());

  const owner = new Map<Resource, string>(pageShown.map((s) => [s.resource(), s.personId]));
  const gathered = gather(pageShown, search, loaded, now, kit.typeInScope('Patient'));
  const included = gathered.resources;
  let truncated = gathered.truncated;
  if (gathered.pending.length) {
    // Reference data (Medication, Practitioner…) by stable id, shown under the referring person's obligations.
    const rows = await tx.findResources(gathered.pending.map((p) => ({ resourceType: p.type, id: p.id })));
    for (const want of gathered.pending) {
      const row = rows.find((r) => r.resource_type === want.type && fhirLogicalId(r.source_system, r.resource_type, r.source_id) === want.id);
      if (!row || row.person_id !== null || !kit.nonPersonal.has(row.resource_type) || !kit.inScope([row]).length) continue;
      const by = loaded.find((l) => l.person.person_id === want.personId);
      if (!by || !kit.visible(row, by.decision)) continue;
      if (included.length >= MAX_INCLUDED) {
        truncated = true;
        break;
      }
      included.push(presentResource(row, null, new Set()));
    }
  }

  const perPerson = (personId: string) => ({
    matched: matched.filter((s) => s.personId === personId).length,
    returned: page.filter((r) => owner.get(r) === personId).length,
    withheld: loaded.find((l) => l.person.person_id === personId)?.withheld ?? 0,
  });
  for (const p of people.values()) {
    const d = decisions.get(p.person_id) as Permit;
    entries.push(audit({ personId: p.person_id, decision: 'permit', reason: d.reason, detail: { ...base, ...perPerson(p.person_id), total: matched.length, included: included.length } }));
  }
  if (notFound.length) entries.push(audit({ reason: 'not found', detail: { ...base, notFound } }));
  await tx.appendAudit(entries, now);
  return { kind: 'ok', value: { total: matched.length, matches: page, included, redacted: loaded.some((l) => l.withheld > 0), truncated } };
}

/**
 * _revinclude on a Patient search: for each person on the page (already decided by the Patient
 * search), their visible resources that point at their merged Patient through the parameter.
 */
export async function revincludeForPeople(tx: FhirStoreTx, kit: SearchAccessKit, people: { person: PersonRow; decision: Decision }[], specs: IncludeSpec[]): Promise<{ resources: Resource[]; truncated: boolean; redacted: boolean }> {
  const out: Resource[] = [];
  let truncated = false;
  let redacted = false;
  const types = [...new Set(specs.map((s) => s.source))];
  for (const { person, decision } of people) {
    if (decision.kind !== 'permit') continue;
    const l = await loadShown(tx, kit, person, decision, types);
    redacted ||= l.withheld > 0;
    const targets = new Set([`Patient/${person.person_id}`]);
    const seen = new Set<Resource>();
    for (const spec of specs) {
      for (const r of revincluded(l.shown.map((s) => s.resource()), spec, targets)) {
        if (seen.has(r)) continue;
        if (out.length >= MAX_INCLUDED) {
          truncated = true;
          break;
        }
        seen.add(r);
        out.push(r);
      }
    }
  }
  return { resources: out, truncated, redacted };
}

/**
 * `_has` on a Patient search (fhir/patient-search.ts): does the person, already permitted, have
 * for every reverse chain a resource of its type that the decision lets them be shown and that
 * matches its parameter? Withheld items never count, so a match reveals nothing withheld.
 */
export async function matchesReverseChains(tx: FhirStoreTx, kit: SearchAccessKit, person: PersonRow, decision: Permit, chains: readonly { resourceType: string; filters: ClinicalSearch['filters'] }[]): Promise<boolean> {
  const l = await loadShown(tx, kit, person, decision, [...new Set(chains.map((c) => c.resourceType))]);
  const nowMs = kit.now.getTime();
  const zone = kit.zone ?? LOCAL_TIME_ZONE;
  return chains.every((c) => {
    const cheap = { filters: c.filters.filter((f) => !needsPresentation(f)) };
    const dear = { filters: c.filters.filter(needsPresentation) };
    return l.shown.some((s) => s.row.resource_type === c.resourceType && matchesSearch(s.view, cheap, nowMs, zone) && (!dear.filters.length || matchesSearch(s.resource(), dear, nowMs, zone)));
  });
}

/** A person id (merges followed) or a source Patient's stable id → the person, or null. */
async function resolvePatient(tx: FhirStoreTx, id: string): Promise<PersonRow | null> {
  if (isPersonId(id)) {
    const p = await tx.findPerson({ personId: id.toLowerCase() });
    return p && p.status === 'active' ? p : null;
  }
  if (/^[0-9a-f]{32}$/.test(id)) {
    const row = await tx.findResource('Patient', id);
    if (!row?.person_id) return null;
    const p = await tx.findPerson({ personId: row.person_id });
    return p && p.status === 'active' ? p : null;
  }
  return null;
}

/** The types a search reads for each person: its own, the personal types it includes, the types it revincludes. */
function typesToLoad(search: ClinicalSearch, nonPersonal: ReadonlySet<string>): string[] {
  const types = new Set<string>([search.resourceType]);
  if (!search.summaryCount && search.count > 0) {
    for (const inc of search.include) for (const t of inc.target ? [inc.target] : (inc.param.targets ?? [])) if (t !== 'Patient' && !nonPersonal.has(t)) types.add(t);
    for (const rev of search.revinclude) types.add(rev.source);
  }
  return [...types];
}

async function loadShown(tx: FhirStoreTx, kit: SearchAccessKit, person: PersonRow, decision: Permit, types: string[]): Promise<PersonData> {
  const memberIds = await tx.memberIds(person.person_id);
  const data = await tx.loadRecordOfTypes(person, memberIds, types);
  const keys = personPatientKeys(data.identities, data.rows);
  const scoped = kit.inScope(data.rows);
  const visible = scoped.filter((r) => kit.visible(r, decision));
  const reference = defaultReferenceData();
  const shown = visible.map((row): Shown => {
    const id = fhirLogicalId(row.source_system, row.resource_type, row.source_id);
    let served: Resource | undefined;
    return {
      row,
      personId: person.person_id,
      ref: `${row.resource_type}/${id}`,
      view: searchView(row, id, reference),
      resource: () => (served ??= presentResource(row, person.person_id, keys)),
    };
  });
  return { person, decision, data, shown, withheld: scoped.length - visible.length };
}

/**
 * A stored item as presentResource (record/fhir-bundle.ts) serves it, but for its references (left
 * as stored) and meta.source/versionId: a local lab code's national coding, the served id and
 * lastUpdated. Cheap (no deep copy), and enough for every filter but references, and for sort.
 */
export function searchView(row: ResourceRow, id: string, reference = defaultReferenceData()): Resource {
  const content = withNationalCodes(row.content, row.source_system, reference);
  return { ...content, id, meta: { ...(content.meta ?? {}), lastUpdated: row.received_at } } as Resource;
}

/** The page's _include and _revinclude resources from what each person shows; reference data to look up. */
function gather(pageShown: Shown[], search: ClinicalSearch, loaded: PersonData[], now: Date, patientInScope: boolean) {
  const resources: Resource[] = [];
  const pending: { type: string; id: string; ref: string; personId: string }[] = [];
  let truncated = false;
  const inPage = new Set(pageShown.map((s) => s.ref));
  const taken = new Set(inPage);
  const byRef = new Map<string, Shown>();
  for (const l of loaded) for (const s of l.shown) byRef.set(s.ref, s);
  const add = (r: Resource) => {
    if (resources.length >= MAX_INCLUDED) {
      truncated = true;
      return;
    }
    resources.push(r);
  };
  for (const spec of search.include) {
    for (const match of pageShown) {
      for (const ref of includeReferences([match.resource()], spec)) {
        if (taken.has(ref)) continue;
        taken.add(ref);
        const [type, id] = ref.split('/') as [string, string];
        const owner = match.personId;
        if (type === 'Patient') {
          // The merged Patient of a person searched (a source Patient is never shown on its own here).
          const l = loaded.find((x) => x.person.person_id === id);
          if (l && patientInScope) add(toMergedPatient(buildIntegratedRecord(l.person, l.data.identities, [], l.data.practices, { now })) as Patient);
          continue;
        }
        const s = byRef.get(ref);
        if (s) add(s.resource());
        else if (/^[0-9a-f]{32}$/.test(id)) pending.push({ type, id, ref, personId: owner });
      }
    }
  }
  for (const spec of search.revinclude) {
    const candidates = loaded.flatMap((l) => l.shown.filter((s) => s.row.resource_type === spec.source).map((s) => s.resource()));
    for (const r of revincluded(candidates, spec, inPage)) {
      const ref = `${r.resourceType}/${r.id}`;
      if (taken.has(ref)) continue;
      taken.add(ref);
      add(r);
    }
  }
  return { resources, pending, truncated };
}
