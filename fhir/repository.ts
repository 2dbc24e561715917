/**
 * The login-bound FHIR repository (after Medplum's `getRepoForLogin`): made for one request's
 * principal and purpose, it is the only way to personal data. Every operation finds the person
 * first, gathers the access facts, asks the decision point (access/policy.ts), honours the
 * obligations (withheld categories, one organisation's data on dissent, break-glass) and writes
 * the audit rows in the same transaction as the read — permitted, denied or not found. A route
 * cannot reach a record around it.
 */
import type { Bundle, Patient, Resource } from '@medplum/fhirtypes';
import type { AuditEntry } from '../access/audit.ts';
import { forbidden, notFound, tooCostly, type Principal, type PurposeOfUse } from '../access/context.ts';
import type { PersonKey } from '../access/facts-store.ts';
import { decide, organisationOfSource, sensitiveCategoriesOf, type AccessAction, type AccessFacts, type Decision, type Policy } from '../access/policy.ts';
import { buildIntegratedRecord, type IntegratedRecord } from '../record/integrated-record.ts';
import { fhirLogicalId, personPatientKeys, presentResource, toFhirBundle, toMergedPatient } from '../record/fhir-bundle.ts';
import type { PersonQuery } from '../record/record-store.ts';
import type { PersonRow, ResourceRow } from '../record/rows.ts';
import type { FhirStore, FhirStoreTx, PatientCriteria, PersonRecordData } from './store.ts';
import { revincludeForPeople, runClinicalSearch, type ClinicalSearchResult, type SearchAccessKit } from './search/clinical-search.ts';
import type { ClinicalSearch, IncludeSpec } from './search/params.ts';

export interface RepositoryContext {
  principal: Principal;
  purpose: PurposeOfUse;
  from: string;
  breakGlassReason?: string;
}

/** The most people a search weighs for access before it asks the user to narrow it. */
export const SEARCH_CAP = 1000;

/** Resource types that never hold personal data (reference data): readable without a person. */
export const NON_PERSONAL: ReadonlySet<string> = new Set(['Organization', 'Location', 'Practitioner', 'PractitionerRole', 'Medication', 'HealthcareService']);

export interface RecordRead {
  record: IntegratedRecord;
  rows: ResourceRow[];
  decision: Extract<Decision, { kind: 'permit' }>;
  withheld: number;
}

export class FhirRepository {
  constructor(
    readonly ctx: RepositoryContext,
    private readonly store: FhirStore,
    private readonly policy: Policy | null,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** One person's integrated record (the CLI's `bevan record`, and the basis of $everything). */
  async readRecord(query: PersonQuery, what: { action: string; detail?: Record<string, unknown> }): Promise<RecordRead> {
    return this.finish(
      await this.store.transaction(async (tx) => {
        const person = await tx.findPerson(query);
        return this.readPersonIn(tx, person, 'read', what.action, what.detail ?? {});
      }),
    );
  }

  /** GET Patient/{id}: the merged Patient of a person (id = person id), or a source's own Patient by its stable id. */
  async readPatient(id: string): Promise<Patient> {
    if (/^[0-9a-f]{32}$/.test(id)) return (await this.readResource('Patient', id)) as Patient;
    const r = await this.readRecord({ personId: id }, { action: 'patient.read', detail: { id } });
    return toMergedPatient(r.record);
  }

  /** Patient/{id}/$everything: the integrated record as one searchset Bundle with one Patient. */
  async everything(id: string, opts: { types?: string[]; since?: string } = {}): Promise<Bundle> {
    const r = await this.readRecord({ personId: id }, { action: 'record.everything', detail: { id, ...(opts.types ? { types: opts.types } : {}), ...(opts.since ? { since: opts.since } : {}) } });
    let rows = r.rows;
    if (opts.types?.length) rows = rows.filter((x) => opts.types!.includes(x.resource_type));
    if (opts.since) rows = rows.filter((x) => x.received_at >= new Date(opts.since!).toISOString());
    const bundle = toFhirBundle(r.record, rows, { type: 'searchset', sourcePatients: false, redacted: r.withheld > 0 });
    bundle.total = bundle.entry?.length ?? 0;
    return bundle;
  }

  /** GET {type}/{id} for any stored type, by its stable logical id. */
  async readResource(resourceType: string, id: string): Promise<Resource> {
    const out = await this.store.transaction(async (tx) => {
      const row = await tx.findResource(resourceType, id);
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'resource.read', detail: { resourceType, id }, ...over });
      if (!row) {
        await tx.appendAudit([audit({ reason: 'not found' })], this.clock());
        return { kind: 'not-found' as const, message: `${resourceType}/${id} is not known` };
      }
      if (!row.person_id) {
        if (NON_PERSONAL.has(row.resource_type)) {
          await tx.appendAudit([audit({ decision: 'permit', reason: 'reference data (no person)' })], this.clock());
          return { kind: 'ok' as const, value: presentResource(row, null, new Set()) };
        }
        // A resource whose Patient has not arrived: nobody can yet say who may see it.
        await tx.appendAudit([audit({ decision: 'deny', reason: 'the resource is not yet linked to a person (fails closed)' })], this.clock());
        return { kind: 'forbidden' as const, message: 'access denied: the resource is not yet linked to a person' };
      }
      const [person] = await tx.personsById([row.person_id]);
      const merged = person ?? (await tx.findPerson({ personId: row.person_id }));
      if (!merged) {
        await tx.appendAudit([audit({ decision: 'deny', reason: 'person not found (fails closed)' })], this.clock());
        return { kind: 'forbidden' as const, message: 'access denied' };
      }
      const { decision, entries } = await this.decideFor(tx, merged, 'read');
      const base = { personId: merged.person_id };
      if (decision.kind === 'deny') {
        await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: decision.reason })], this.clock());
        return { kind: 'forbidden' as const, message: `access denied: ${decision.reason}` };
      }
      if (!this.visible(row, decision)) {
        await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: `withheld by obligation (${decision.reason})` })], this.clock());
        return { kind: 'forbidden' as const, message: 'access denied: this item is withheld by the access policy' };
      }
      const ids = await tx.memberIds(merged.person_id);
      const data = await tx.loadRecord(merged, ids);
      await tx.appendAudit([...entries, audit({ ...base, decision: 'permit', reason: decision.reason })], this.clock());
      return { kind: 'ok' as const, value: presentResource(row, merged.person_id, personPatientKeys(data.identities, data.rows)) };
    });
    return this.finish(out);
  }

  /** Patient search: people matching the criteria whom this user may see, one page of merged Patients. */
  async searchPatients(criteria: PatientCriteria, page: { count: number; offset: number; revinclude?: IncludeSpec[] }, detail: Record<string, unknown> = {}): Promise<{ total: number; patients: Patient[]; included?: Resource[] }> {
    const out = await this.store.transaction(async (tx) => {
      const now = this.clock();
      const gate = decide(this.policy, { action: 'search', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: null, now });
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'patient.search', detail, ...over });
      if (gate.kind === 'deny') {
        await tx.appendAudit([audit({ decision: 'deny', reason: gate.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
      }
      const ids = await tx.searchPatients(criteria, SEARCH_CAP);
      if (ids.length > SEARCH_CAP) {
        await tx.appendAudit([audit({ decision: 'deny', reason: `more than ${SEARCH_CAP} people match` })], now);
        return { kind: 'too-costly' as const, message: `more than ${SEARCH_CAP} people match: narrow the search (add birthdate, family or identifier)` };
      }
      const persons = await tx.personsById(ids);
      const facts = await tx.accessFacts(this.ctx.principal, persons.map(personKey), now);
      const permitted = persons.filter((p) => decide(this.policy, { action: 'read', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: facts.get(p.person_id) ?? null, now }).kind === 'permit');
      const pagePersons = permitted.slice(page.offset, page.offset + page.count);
      const summaries = await tx.loadSummaries(pagePersons);
      // _revinclude: each person's resources pointing at them, under the same decision as the search's.
      const rev = page.revinclude?.length ? await revincludeForPeople(tx, this.searchKit(tx), pagePersons.map((p) => ({ person: p, decision: decide(this.policy, { action: 'read', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: facts.get(p.person_id) ?? null, now }) })), page.revinclude) : null;
      const detailOut = { ...detail, matched: ids.length, permitted: permitted.length, returned: pagePersons.length, ...(rev ? { included: rev.resources.length } : {}) };
      // One entry per person shown (so each person can see who found them), or one for an empty page.
      const entries = pagePersons.length
        ? pagePersons.map((p) => audit({ personId: p.person_id, decision: 'permit', reason: 'search result', detail: detailOut }))
        : [audit({ decision: 'permit', reason: gate.reason, detail: detailOut })];
      await tx.appendAudit(entries, now);
      const patients = summaries.map((s) => toMergedPatient(buildIntegratedRecord(s.person, s.identities, [], s.practices, { now })));
      return { kind: 'ok' as const, value: { total: permitted.length, patients, ...(rev ? { included: rev.resources } : {}) } };
    });
    return this.finish(out);
  }

  /** Clinical search (Observation, Condition…): the named people decided first, withheld items never shown, audited (fhir/search/). */
  async searchResources(search: ClinicalSearch, detail: Record<string, unknown> = {}): Promise<ClinicalSearchResult> {
    return this.finish(await this.store.transaction((tx) => runClinicalSearch(tx, this.searchKit(tx), search, detail)));
  }

  /** What a search borrows from the repository: the decision path, the obligations check, the audit entry shape. */
  private searchKit(tx: FhirStoreTx): SearchAccessKit {
    return { decide: (p) => this.decideFor(tx, p, 'read'), visible: (r, d) => this.visible(r, d), entry: (e) => this.entry(e), now: this.clock(), nonPersonal: NON_PERSONAL };
  }

  /** Reads a person's record inside tx, deciding and auditing; returns a result the caller turns into an error after commit. */
  private async readPersonIn(tx: FhirStoreTx, person: PersonRow | null, action: AccessAction, auditAction: string, detail: Record<string, unknown>) {
    const now = this.clock();
    const audit = (over: Partial<AuditEntry>) => this.entry({ action: auditAction, detail, ...over });
    if (!person) {
      // Looking someone up is itself an access to personal data: audited when nobody is found too.
      await tx.appendAudit([audit({ reason: 'not found', detail: { ...detail, found: false } })], now);
      return { kind: 'not-found' as const, message: 'no record found' };
    }
    const { decision, entries } = await this.decideFor(tx, person, action);
    if (decision.kind === 'deny') {
      await tx.appendAudit([...entries, audit({ personId: person.person_id, decision: 'deny', reason: decision.reason })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${decision.reason}` };
    }
    const ids = await tx.memberIds(person.person_id);
    const data: PersonRecordData = await tx.loadRecord(person, ids);
    const rows = data.rows.filter((r) => this.visible(r, decision));
    const withheld = data.rows.length - rows.length;
    await tx.appendAudit([...entries, audit({ personId: person.person_id, decision: 'permit', reason: decision.reason, detail: { ...detail, found: true, items: rows.length, withheld } })], now);
    const record = buildIntegratedRecord(data.person, data.identities, rows, data.practices, { now });
    return { kind: 'ok' as const, value: { record, rows, decision, withheld } };
  }

  /** Facts, decision, and the break-glass session (with its alert entry) the decision asks for. */
  private async decideFor(tx: FhirStoreTx, person: PersonRow, action: AccessAction): Promise<{ decision: Decision; entries: AuditEntry[] }> {
    const now = this.clock();
    let facts: AccessFacts | null = null;
    try {
      const ids = await tx.memberIds(person.person_id);
      facts = (await tx.accessFacts(this.ctx.principal, [{ personId: person.person_id, nhsNumber: person.nhs_number, memberIds: ids }], now)).get(person.person_id) ?? null;
    } catch (err) {
      return { decision: { kind: 'deny', reason: `access facts could not be read (fails closed): ${(err as Error).message}` }, entries: [] };
    }
    const decision = decide(this.policy, { action, principal: this.ctx.principal, purpose: this.ctx.purpose, facts, breakGlassReason: this.ctx.breakGlassReason, now });
    const entries: AuditEntry[] = [];
    if (decision.kind === 'permit' && decision.obligations.startBreakGlass) {
      const bg = decision.obligations.startBreakGlass;
      const { expiresAt } = await tx.startBreakGlass(this.ctx.principal.user, person.person_id, bg.reason, bg.minutes, now);
      entries.push(this.entry({ action: 'break-glass.start', personId: person.person_id, decision: 'permit', reason: bg.reason, detail: { alert: true, expiresAt } }));
      // An alert for the privacy officer: stderr for now (the audit entry carries alert: true).
      process.emitWarning(`break-glass: ${this.ctx.principal.user} (${this.ctx.principal.role}) opened person ${person.person_id} until ${expiresAt}: ${bg.reason}`, { code: 'BEVAN_BREAK_GLASS' });
    }
    return { decision, entries };
  }

  /** True when the decision's obligations let this stored item be shown. */
  private visible(row: ResourceRow, decision: Extract<Decision, { kind: 'permit' }>): boolean {
    const o = decision.obligations;
    if (o.onlyOrganisation !== null && (!this.policy || organisationOfSource(this.policy, row.source_system) !== o.onlyOrganisation)) return false;
    if (o.withholdCategories.length && this.policy) {
      const cats = sensitiveCategoriesOf(this.policy, row.content);
      if (cats.some((c) => o.withholdCategories.includes(c))) return false;
    }
    return true;
  }

  private entry(e: Partial<AuditEntry> & { action: string }): AuditEntry {
    const p = this.ctx.principal;
    return { actor: p.user, role: p.role, organisation: p.organisation, purpose: this.ctx.purpose, from: this.ctx.from, ...e };
  }

  /** Turns a transaction's outcome into a value or an error, after the audit rows have committed. */
  private finish<T>(out: { kind: 'ok'; value: T } | { kind: 'not-found' | 'forbidden' | 'too-costly'; message: string }): T {
    switch (out.kind) {
      case 'ok':
        return out.value;
      case 'not-found':
        throw notFound(out.message);
      case 'forbidden':
        throw forbidden(out.message);
      case 'too-costly':
        throw tooCostly(out.message);
    }
  }
}

function personKey(p: PersonRow): PersonKey {
  return { personId: p.person_id, nhsNumber: p.nhs_number, memberIds: [p.person_id] };
}

export { fhirLogicalId };
