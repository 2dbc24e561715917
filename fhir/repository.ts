/**
 * The login-bound FHIR repository (after Medplum's `getRepoForLogin`): made for one request's
 * principal and purpose, it is the only way to personal data. Every operation finds the person
 * first, gathers the access facts, asks the decision point (access/policy.ts), honours the
 * obligations (withheld categories, one organisation's data on dissent, break-glass) and writes
 * the audit rows — permitted, denied or not found — which commit before the result is handed back
 * (in the read's transaction, or for a read on a server through the audit group committer). A route
 * cannot reach a record around it.
 */
import type { Bundle, Organization, Patient, Resource } from '@medplum/fhirtypes';
import { directoryOrganization, ODS_CODE, searchDirectory, type DirectoryQuery } from './organization-directory.ts';
import type { AuditEntry } from '../access/audit.ts';
import { forbidden, notFound, tooCostly, type Principal, type PurposeOfUse } from '../access/context.ts';
import type { PersonKey } from '../access/facts-store.ts';
import { decide, organisationOfSource, readNeeds, sensitiveCategoriesOf, type AccessAction, type AccessFacts, type Decision, type Policy } from '../access/policy.ts';
import { buildIntegratedRecord, type IntegratedRecord } from '../record/integrated-record.ts';
import { fhirLogicalId, personPatientKeys, presentResource, toMergedPatient } from '../record/fhir-bundle.ts';
import type { PersonQuery } from '../record/record-store.ts';
import type { PersonRow, PracticeRow, ResourceRow } from '../record/rows.ts';
import type { FhirStore, FhirStoreTx, PatientCriteria, PersonRecordData } from './store.ts';
import { matchesReverseChains, revincludeForPeople, runClinicalSearch, searchView, type ClinicalSearchResult, type SearchAccessKit } from './search/clinical-search.ts';
import { ScopeNarrowing } from './scope-narrowing.ts';
import type { HasFilter } from './patient-search.ts';
import type { ClinicalSearch, IncludeSpec } from './search/params.ts';
import { NON_PERSONAL_TYPES } from '../ingest/fhir/r4.ts';
import { isPersonId } from '../record/record-store.ts';
import { everythingPage } from './everything-page.ts';
import type { CachedResponse } from './response-cache.ts';
import { policyHash, presentedViewKey } from './presented-records.ts';
import { scanForSecondaryUse, type SecondaryUseCounts, type SecondaryUseKit, type SecondaryUseRequest, type Sink } from './secondary-use.ts';
import { scanForSecondaryUseSql, type SqlViewPlan } from './secondary-use-sql.ts';
import { historyBundle, historyEntry, withMergedPatientMeta } from './history.ts';
import { versionWindow, type Paging } from './paging.ts';
import { tagCareSettings, type CareSetting } from '../record/care-setting.ts';
import { OrganisationDirectory } from '../record/organisations.ts';
import { defaultReferenceData } from '../record/reference/reference-data.ts';
import { buildRecordSources, type RecordSources } from '../record/record-sources.ts';

export interface RepositoryContext {
  principal: Principal;
  purpose: PurposeOfUse;
  from: string;
  breakGlassReason?: string;
}

/** The most people a search weighs for access before it asks the user to narrow it. */
export const SEARCH_CAP = 1000;

/** Resource types that never hold personal data (reference data): readable without a person. The ingest stores them with none. */
export const NON_PERSONAL: ReadonlySet<string> = NON_PERSONAL_TYPES;

export interface RecordRead {
  record: IntegratedRecord;
  rows: ResourceRow[];
  decision: Extract<Decision, { kind: 'permit' }>;
  withheld: number;
  /** The practices (and feed-named organisations) the record names. */
  practices: PracticeRow[];
  /** The rows' content is this read's own: presenting it may change it (no copy). */
  fresh: boolean;
}

export class FhirRepository {
  /** Set when a decision this repository made rested on break-glass: when that emergency access ends (ISO instant). */
  breakGlassExpiresAt: string | null = null;
  /** A backend client's token scopes, type by type (null: a person, or a token for every type): applied on every path, like the obligations. */
  private readonly scope: ScopeNarrowing | null;

  constructor(
    readonly ctx: RepositoryContext,
    private readonly store: FhirStore,
    private readonly policy: Policy | null,
    private readonly clock: () => Date = () => new Date(),
  ) {
    this.scope = ScopeNarrowing.of(ctx.principal.scopes);
  }

  /** One person's integrated record (the CLI's `bevan record`, and the basis of $everything). */
  async readRecord(query: PersonQuery, what: { action: string; detail?: Record<string, unknown> }): Promise<RecordRead> {
    return this.finish(
      await this.store.transaction(async (tx) => {
        const now = this.clock();
        const person = await tx.findPerson(query, { factsFor: { principal: this.ctx.principal, now } });
        return this.readPersonIn(tx, person, 'read', what.action, what.detail ?? {}, now);
      }),
    );
  }

  /** GET Patient/{id}: the merged Patient of a person (id = person id), or a source's own Patient by its stable id. */
  async readPatient(id: string): Promise<Patient> {
    if (/^[0-9a-f]{32}$/.test(id)) return (await this.readResource('Patient', id)) as Patient;
    const r = await this.readRecord({ personId: id }, { action: 'patient.read', detail: { id } });
    return withMergedPatientMeta(toMergedPatient(r.record), r.record, r.rows);
  }

  /**
   * Patient/{id}/$everything: one page of the integrated record as a searchset Bundle, the merged
   * Patient first (see everything-page.ts); all of it when no count is given. Each page is one audited access.
   */
  async everything(id: string, opts: EverythingRequest = {}): Promise<Bundle> {
    const since = opts.since ? new Date(opts.since).toISOString() : undefined;
    const page = { ...(opts.count !== undefined ? { count: opts.count } : {}), ...(opts.offset ? { offset: opts.offset } : {}) };
    const r = await this.readRecord({ personId: id }, { action: 'record.everything', detail: { id, ...(opts.types ? { types: opts.types } : {}), ...(since ? { since } : {}), ...careDetail(opts.care), ...page } });
    return this.everythingBundle(r, since, opts.types, page, opts.care);
  }

  /**
   * $everything as the UTF-8 JSON the HTTP layer sends. `present.render` turns the page's Bundle
   * into that text with BASE_PLACEHOLDER for the base URL (fhir/presented-records.ts),
   * `present.materialise` puts this request's base in, `present.key` names what the text depends on
   * besides the base (requested id, parameters) and `present.base` the base.
   *
   * A page is looked for, in order: in this process's response cache (fhir/response-cache.ts, the
   * materialised bytes), in the pages shared by every server (presented_record: the placeholder
   * text, gzip), and only then rendered (and kept in both). Both are keyed by the record's version
   * stamp (read in the statement that finds the person), the day, the policy, the decision's
   * obligations, the scopes and the request, so a page is handed out only while none of them has
   * changed. Every request is still decided on facts read for it and audited as `everything` is;
   * only the record read, its presentation and serialisation are saved.
   *
   * `o.action`: the audit action (`bevan everything prebuild` renders as `record.prebuild`);
   * `o.fillShared`: look in the shared pages, not in this process's cache (a prebuild fills them).
   */
  async everythingJson(id: string, opts: EverythingRequest, present: EverythingPresenter, o: { action?: string; fillShared?: boolean } = {}): Promise<EverythingJson> {
    const since = opts.since ? new Date(opts.since).toISOString() : undefined;
    const page = { ...(opts.count !== undefined ? { count: opts.count } : {}), ...(opts.offset ? { offset: opts.offset } : {}) };
    const detail: Record<string, unknown> = { id, ...(opts.types ? { types: opts.types } : {}), ...(since ? { since } : {}), ...careDetail(opts.care), ...page };
    const cache = this.store.responses;
    const out = await this.store.transaction(async (tx) => {
      const now = this.clock();
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: o.action ?? 'record.everything', detail, ...over });
      // Shared pages for the views clients repeat (the whole record, a type, a page of it); not for a `_since` or care-date window,
      // whose values are open-ended (a row each): those stay in this process's cache alone.
      const shared = tx.presentedPage && tx.keepPresentedPage && !since && !opts.care ? { read: tx.presentedPage, keep: tx.keepPresentedPage } : null;
      // The access facts come with the person where the store can (one statement on a server).
      const person = await tx.findPerson({ personId: id }, { stamp: cache !== undefined || shared !== null, factsFor: { principal: this.ctx.principal, now } });
      if (!person) {
        await tx.appendAudit([audit({ reason: 'not found', detail: { ...detail, found: false } })], now);
        return { kind: 'not-found' as const, message: 'no record found' };
      }
      const { decision, entries, memberIds } = await this.decideFor(tx, person, 'read', now);
      if (decision.kind === 'deny') {
        await tx.appendAudit([...entries, audit({ personId: person.person_id, decision: 'deny', reason: decision.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${decision.reason}` };
      }
      const permit = (items: number, withheld: number) => audit({ personId: person.person_id, decision: 'permit', reason: decision.reason, detail: { ...detail, found: true, items, withheld } });
      const recordStamp = tx.recordStamp?.(person.person_id);
      // Ages and "ended" medications are relative to today: the day is part of the stamp.
      const stamp = recordStamp ? `${recordStamp}:${now.toISOString().slice(0, 10)}` : undefined;
      const { startBreakGlass: _bg, ...view } = decision.obligations;
      const viewKey = stamp ? presentedViewKey([policyHash(this.policy), view, this.scope?.key ?? null, id, since ?? null, opts.types ?? null, opts.care ?? null, page, present.key]) : null;
      const key = cache && viewKey ? JSON.stringify([person.person_id, stamp, viewKey, present.base]) : null;
      // Filling the shared pages (prebuild): this process's cache is not asked, the shared store is.
      const hit = key && !o.fillShared ? cache!.get(key) : undefined;
      if (hit) {
        await tx.appendAudit([...entries, permit(hit.items, hit.withheld)], now);
        return { kind: 'ok' as const, value: { page: hit, from: 'process', kept: true } as EverythingJson };
      }
      const keepHere = (json: Buffer, items: number, withheld: number): CachedResponse => {
        const made: CachedResponse = { body: present.materialise(json), items, withheld };
        if (key) cache!.set(key, made);
        return made;
      };
      const kept = shared && viewKey && stamp ? await shared.read(person.person_id, viewKey, stamp) : null;
      if (kept) {
        await tx.appendAudit([...entries, permit(kept.items, kept.withheld)], now);
        return { kind: 'ok' as const, value: { page: keepHere(kept.json, kept.items, kept.withheld), from: 'shared', kept: key !== null } as EverythingJson };
      }
      const data: PersonRecordData = await tx.loadRecord(person, memberIds ?? (await tx.memberIds(person.person_id)));
      const scoped = this.inScope(data.rows, now);
      const rows = scoped.filter((r) => this.visible(r, decision));
      const withheld = scoped.length - rows.length;
      await tx.appendAudit([...entries, permit(rows.length, withheld)], now);
      // The page shows the merged Patient and the rows themselves: the record's lists are not built.
      const record = buildIntegratedRecord(data.person, data.identities, rows, data.practices, { now, patientOnly: true });
      const bundle = this.everythingBundle({ record, rows, decision, withheld, practices: data.practices, fresh: data.fresh === true }, since, opts.types, page, opts.care);
      const json = Buffer.from(present.render(bundle), 'utf8');
      if (shared && viewKey && stamp) await shared.keep(person.person_id, viewKey, stamp, { json, items: rows.length, withheld });
      return { kind: 'ok' as const, value: { page: keepHere(json, rows.length, withheld), from: 'rendered', kept: key !== null } as EverythingJson };
    });
    return this.finish(out);
  }

  private everythingBundle(r: RecordRead, since: string | undefined, types: string[] | undefined, page: { count?: number; offset?: number }, care?: CareDates): Bundle {
    const bundle = everythingPage(r.record, r.rows, { types, since, ...page, redacted: r.withheld > 0, inPlace: r.fresh, ...(care ? { care } : {}) });
    // Each item's care setting as a meta.tag (record/care-setting.ts), so that no client guesses it from the source key.
    tagCareSettings(bundle.entry ?? [], new OrganisationDirectory(defaultReferenceData(), r.practices));
    // Withheld items are counted, never shown: an outcome entry (FHIR issue type "suppressed") on the first page, not in the total.
    if (r.withheld > 0 && !page.offset) (bundle.entry ??= []).push({ resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'suppressed', diagnostics: `${r.withheld} item${r.withheld === 1 ? '' : 's'} withheld by the access policy (${withheldWhy(r.decision)})` }] }, search: { mode: 'outcome' } });
    return bundle;
  }

  /** GET Organization/{ODS code}: the locality's directory entry (fhir/organization-directory.ts); reference data, audited as any read. */
  async readOrganization(code: string): Promise<Organization> {
    const out = await this.store.transaction(async (tx) => {
      const org = ODS_CODE.test(code) ? directoryOrganization(code, defaultReferenceData(), await tx.practices({ codes: [code], limit: 5 })) : undefined;
      await tx.appendAudit([this.entry({ action: 'resource.read', detail: { resourceType: 'Organization', id: code }, ...(org ? { decision: 'permit' as const, reason: 'reference data (no person)' } : { reason: 'not found' }) })], this.clock());
      return org ? { kind: 'ok' as const, value: org } : { kind: 'not-found' as const, message: `Organization/${code} is not known` };
    });
    return this.finish(out);
  }

  /** Organization search over the locality's directory: by ODS code and name (reference data, no person). */
  async searchOrganizations(q: DirectoryQuery): Promise<Organization[]> {
    return this.store.transaction(async (tx) => {
      const rows = await tx.practices({ ...(q.codes ? { codes: q.codes } : {}), ...(q.name !== undefined && !q.codes ? { nameHas: q.name } : {}), limit: 5000 });
      return searchDirectory(q, defaultReferenceData(), rows);
    });
  }

  /** The directory Organizations a page of merged Patients names as general practitioner (`_include=Patient:general-practitioner`). */
  async includePractices(patients: readonly Patient[]): Promise<Organization[]> {
    const codes = [...new Set(patients.flatMap((p) => (p.generalPractitioner ?? []).map((g) => g.identifier?.value).filter((c): c is string => !!c && ODS_CODE.test(c))))];
    if (!codes.length || (this.scope && !this.scope.allows('Organization'))) return [];
    return this.store.transaction(async (tx) => {
      const rows = await tx.practices({ codes, limit: codes.length * 2 });
      return codes.map((c) => directoryOrganization(c, defaultReferenceData(), rows)).filter((o): o is Organization => !!o);
    });
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
          if (!this.inScope([row]).length) {
            await tx.appendAudit([audit({ decision: 'deny', reason: OUTSIDE_SCOPES })], this.clock());
            return { kind: 'forbidden' as const, message: `access denied: ${OUTSIDE_SCOPES}` };
          }
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
      const { decision, entries, memberIds } = await this.decideFor(tx, merged, 'read');
      const base = { personId: merged.person_id };
      if (decision.kind === 'deny') {
        await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: decision.reason })], this.clock());
        return { kind: 'forbidden' as const, message: `access denied: ${decision.reason}` };
      }
      if (!this.visible(row, decision)) {
        await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: `withheld by obligation (${decision.reason})` })], this.clock());
        return { kind: 'forbidden' as const, message: 'access denied: this item is withheld by the access policy' };
      }
      if (!this.inScope([row]).length) {
        await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: OUTSIDE_SCOPES })], this.clock());
        return { kind: 'forbidden' as const, message: `access denied: ${OUTSIDE_SCOPES}` };
      }
      const ids = memberIds ?? (await tx.memberIds(merged.person_id));
      const data = await tx.loadRecord(merged, ids);
      await tx.appendAudit([...entries, audit({ ...base, decision: 'permit', reason: decision.reason })], this.clock());
      return { kind: 'ok' as const, value: presentResource(row, merged.person_id, personPatientKeys(data.identities, data.rows)) };
    });
    return this.finish(out);
  }

  /** Patient search: people matching the criteria whom this user may see, one page of merged Patients. */
  async searchPatients(criteria: PatientCriteria, page: { count: number; offset: number; revinclude?: IncludeSpec[]; has?: HasFilter[] }, detail: Record<string, unknown> = {}): Promise<{ total: number; patients: Patient[]; included?: Resource[] }> {
    const out = await this.store.transaction(async (tx) => {
      const now = this.clock();
      const gate = decide(this.policy, { action: 'search', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: null, now });
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'patient.search', detail, ...over });
      if (gate.kind === 'deny') {
        await tx.appendAudit([audit({ decision: 'deny', reason: gate.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
      }
      // The access facts of the people found come with them where the store can (one statement on a server).
      // Each is decided for a direct-care read without a declared reason, so the store may leave out (and read no
      // facts for) those who hold none of the relationships such a permit needs (readNeeds): decide would deny them.
      const needs = readNeeds(this.policy, this.ctx.principal, this.ctx.purpose);
      const hits = await tx.searchPatients(page.has?.length ? { ...criteria, hasCodes: hasCodes(page.has) } : criteria, SEARCH_CAP, { factsFor: { principal: this.ctx.principal, now, ...(needs ? { needs } : {}) }, pageEnd: page.offset + page.count });
      if (hits.matched > SEARCH_CAP) {
        await tx.appendAudit([audit({ decision: 'deny', reason: `more than ${SEARCH_CAP} people match` })], now);
        return { kind: 'too-costly' as const, message: `more than ${SEARCH_CAP} people match: narrow the search (add birthdate, family or identifier)` };
      }
      const persons = await tx.personsById(hits.ids);
      const facts = await tx.accessFacts(this.ctx.principal, persons.map(personKey), now);
      let permitted = persons.filter((p) => decide(this.policy, { action: 'read', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: facts.get(p.person_id) ?? null, now }).kind === 'permit');
      // _has: decided on each permitted person's items as this user may see them.
      if (page.has?.length) {
        const kit = this.searchKit(tx);
        const kept: PersonRow[] = [];
        for (const p of permitted) {
          const d = decide(this.policy, { action: 'read', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: facts.get(p.person_id) ?? null, now });
          if (d.kind === 'permit' && (await matchesReverseChains(tx, kit, p, d, page.has))) kept.push(p);
        }
        permitted = kept;
      }
      const pagePersons = permitted.slice(page.offset, page.offset + page.count);
      const summaries = await tx.loadSummaries(pagePersons);
      // _revinclude: each person's resources pointing at them, under the same decision as the search's.
      const rev = page.revinclude?.length ? await revincludeForPeople(tx, this.searchKit(tx), pagePersons.map((p) => ({ person: p, decision: decide(this.policy, { action: 'read', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: facts.get(p.person_id) ?? null, now }) })), page.revinclude) : null;
      const detailOut = { ...detail, matched: hits.matched, permitted: permitted.length, returned: pagePersons.length, ...(rev ? { included: rev.resources.length } : {}) };
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

  /**
   * Secondary use across people (a ViewDefinition run over the store): every resource of one
   * type this user may use, handed to the sink as it is read (fhir/secondary-use.ts), under the
   * policy's decision for secondary use and then each person's (opt-outs and restricted people
   * left out, sensitive items withheld, pseudonymised where the policy says). One audit entry
   * for the run, with what was handed on and what was left out (`detail()` adds the caller's
   * own, read when the run ends); refused runs and runs that stop on an error are audited too.
   */
  async secondaryUse(req: SecondaryUseRequest, sink: Sink, detail: () => Record<string, unknown> = () => ({}), sqlPlan?: SqlViewPlan): Promise<SecondaryUseCounts> {
    const counts: SecondaryUseCounts = { resourceType: req.resourceType, resources: 0, people: 0, excluded: { nationalDataOptOut: 0, restricted: 0, other: 0 }, withheld: 0, unlinked: 0, pseudonymised: false };
    const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'view.run', ...over, detail: { ...(req.since ? { since: req.since } : {}), ...counts, ...detail() } });
    let failure: { error: unknown; audited: boolean } | null = null;
    const out = await this.store.transaction(async (tx) => {
      const now = this.clock();
      const gate = decide(this.policy, { action: 'export', principal: this.ctx.principal, purpose: this.ctx.purpose, facts: null, now });
      if (gate.kind === 'deny') {
        await tx.appendAudit([audit({ decision: 'deny', reason: gate.reason })], now);
        return { kind: 'forbidden' as const, message: `access denied: ${gate.reason}` };
      }
      counts.pseudonymised = gate.obligations.pseudonymise === true;
      const kit: SecondaryUseKit = { principal: this.ctx.principal, policy: this.policy, visible: (r, d) => this.visible(r, d) && this.inScope([r], now).length > 0, entry: (e) => this.entry(e), now, nonPersonal: NON_PERSONAL };
      try {
        // A view compiled to SQL runs in the database where the store has SQL and the obligations allow (secondary-use-sql.ts);
        // a token's narrowed scopes are applied item by item, so such a run takes the JS scan.
        const inSql = sqlPlan && tx.sql && !this.scope ? await scanForSecondaryUseSql(tx, tx.sql, kit, gate, req, sqlPlan, counts) : false;
        if (!inSql) {
          counts.engine = 'js';
          await scanForSecondaryUse(tx, kit, gate, req, sink, counts);
        }
      } catch (error) {
        failure = { error, audited: false };
        try {
          await tx.appendAudit([audit({ decision: 'permit', reason: `${gate.reason}; stopped: ${(error as Error)?.message ?? String(error)}` })], this.clock());
          failure.audited = true;
        } catch {
          // The transaction is aborted (a database error): audited below, in a transaction of its own.
        }
        return { kind: 'ok' as const, value: counts };
      }
      await tx.appendAudit([audit({ decision: 'permit', reason: gate.reason })], this.clock());
      return { kind: 'ok' as const, value: counts };
    });
    const failed = failure as { error: unknown; audited: boolean } | null;
    if (failed) {
      if (!failed.audited) await this.store.transaction((tx) => tx.appendAudit([audit({ decision: 'permit', reason: `stopped: ${(failed.error as Error)?.message ?? String(failed.error)}` })], this.clock()));
      throw failed.error;
    }
    return this.finish(out);
  }

  /** What a search borrows from the repository: the decision path, the obligations check, the audit entry shape. */
  private searchKit(tx: FhirStoreTx): SearchAccessKit {
    const now = this.clock();
    return {
      decide: (p) => this.decideFor(tx, p, 'read'),
      visible: (r, d) => this.visible(r, d),
      inScope: (rows) => this.inScope(rows, now),
      typeInScope: (type) => !this.scope || this.scope.allows(type),
      entry: (e) => this.entry(e),
      now,
      nonPersonal: NON_PERSONAL,
    };
  }

  /**
   * GET /record/{personId}/sources: the record's source systems (name, care setting, feed
   * freshness), the source records that make up the person and where they disagree
   * (record/record-sources.ts). Decided and audited like a read of the record (`record.sources`);
   * when the person dissents from sharing, only the user's organisation's sources are shown.
   */
  async recordSources(personId: string, o: { feedKinds?: ReadonlyMap<string, CareSetting> } = {}): Promise<RecordSources> {
    const out = await this.store.transaction(async (tx) => {
      const r = await this.readPersonIn(tx, await tx.findPerson({ personId }), 'read', 'record.sources', { id: personId });
      if (r.kind !== 'ok') return r;
      const { record, rows, decision, practices } = r.value;
      const only = decision.obligations.onlyOrganisation;
      const shown = only === null ? () => true : (system: string) => !!this.policy && organisationOfSource(this.policy, system) === only;
      const feeds = await tx.feedFreshness(record.sources.map((s) => s.system).filter(shown));
      return { kind: 'ok' as const, value: buildRecordSources(record, rows, feeds, { practices, feedKinds: o.feedKinds, shown, now: this.clock() }) };
    });
    return this.finish(out);
  }

  // Versions (vread, history-instance): migration 0015 keeps replaced versions; history.ts shapes them.

  /**
   * GET {type}/{id}/_history/{vid}: one version of a stored resource, decided on and audited like
   * a read (the resource's current person decides for every version). The merged Patient (id =
   * person id) is computed, so only its current version can be read.
   */
  async vread(resourceType: string, id: string, versionId: string): Promise<Resource> {
    if (resourceType === 'Patient' && isPersonId(id)) {
      const r = await this.readRecord({ personId: id }, { action: 'patient.vread', detail: { id, versionId } });
      const patient = withMergedPatientMeta(toMergedPatient(r.record), r.record, r.rows);
      if (patient.meta?.versionId !== versionId) {
        throw notFound(`Patient/${id} has no version ${versionId.slice(0, 64)}: the merged Patient is computed from its sources and only its current version (${patient.meta?.versionId}) can be read; each source Patient keeps its own history`);
      }
      return patient;
    }
    const out = await this.store.transaction(async (tx) => {
      const detail = { resourceType, id, versionId };
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'resource.vread', detail, ...over });
      const gate = await this.resourceGate(tx, await tx.findResource(resourceType, id), audit, `${resourceType}/${id}`);
      if (gate.kind !== 'ok') return gate;
      const { row } = gate;
      const n = /^[1-9]\d{0,8}$/.test(versionId) ? Number(versionId) : null;
      const version = n === null ? null : n === row.version ? row : await tx.resourceVersion(row, n);
      if (!version) {
        await tx.appendAudit([...gate.entries, audit({ ...gate.base, decision: 'permit', reason: `${gate.reason}; version not found` })], this.clock());
        return { kind: 'not-found' as const, message: `${resourceType}/${id} has no version ${versionId.slice(0, 64)} (the current version is ${row.version}; versions replaced before history was kept are not known)` };
      }
      if (gate.decision && !this.visible(version, gate.decision)) {
        await tx.appendAudit([...gate.entries, audit({ ...gate.base, decision: 'deny', reason: `withheld by obligation (${gate.decision.reason})` })], this.clock());
        return { kind: 'forbidden' as const, message: 'access denied: this version is withheld by the access policy' };
      }
      if (!this.inScope([version]).length) {
        await tx.appendAudit([...gate.entries, audit({ ...gate.base, decision: 'deny', reason: `this version: ${OUTSIDE_SCOPES}` })], this.clock());
        return { kind: 'forbidden' as const, message: `access denied: this version is ${OUTSIDE_SCOPES}` };
      }
      const keys = await this.patientKeysOf(tx, gate.person, row);
      await tx.appendAudit([...gate.entries, audit({ ...gate.base, decision: 'permit', reason: gate.reason })], this.clock());
      return { kind: 'ok' as const, value: presentResource(version, gate.person?.person_id ?? null, keys) };
    });
    return this.finish(out);
  }

  /**
   * GET {type}/{id}/_history: the versions of a stored resource, newest first, one page (FHIR R4
   * instance history), as one audited access. Versions whose content the obligations withhold
   * are left out and the Bundle is marked REDACTED. The merged Patient's history is its current version.
   */
  async history(resourceType: string, id: string, paging: Paging): Promise<Bundle> {
    const now = this.clock();
    const detail = { resourceType, id, count: paging.count, offset: paging.offset, ...(paging.since ? { since: paging.since } : {}) };
    if (resourceType === 'Patient' && isPersonId(id)) {
      const r = await this.readRecord({ personId: id }, { action: 'patient.history-instance', detail });
      const patient = withMergedPatientMeta(toMergedPatient(r.record), r.record, r.rows);
      const listed = !paging.since || !patient.meta?.lastUpdated || patient.meta.lastUpdated >= paging.since;
      const entries = listed && paging.offset === 0 && paging.count > 0 ? [historyEntry(patient, { created: false })] : [];
      return historyBundle(entries, listed ? 1 : 0, { now });
    }
    const out = await this.store.transaction(async (tx) => {
      const audit = (over: Partial<AuditEntry>) => this.entry({ action: 'resource.history-instance', detail, ...over });
      const gate = await this.resourceGate(tx, await tx.findResource(resourceType, id), audit, `${resourceType}/${id}`);
      if (gate.kind !== 'ok') return gate;
      const { row } = gate;
      const currentListed = !paging.since || row.received_at >= paging.since;
      const w = versionWindow(currentListed, paging.offset, paging.count);
      const older = await tx.resourceVersions(row, { ...(paging.since ? { since: paging.since } : {}), limit: w.limit, offset: w.offset });
      // Versions outside the token's scopes (a narrowing the resource once failed) are not listed, nor counted.
      const listed = [...(w.withCurrent ? [row] : []), ...older.rows];
      const versions = this.inScope(listed);
      const shown = gate.decision ? versions.filter((v) => this.visible(v, gate.decision!)) : versions;
      const keys = shown.length ? await this.patientKeysOf(tx, gate.person, row) : new Set<string>();
      await tx.appendAudit(
        [...gate.entries, audit({ ...gate.base, decision: 'permit', reason: gate.reason, detail: { ...detail, versions: shown.map((v) => v.version), withheld: versions.length - shown.length } })],
        this.clock(),
      );
      const entries = shown.map((v) => historyEntry(presentResource(v, gate.person?.person_id ?? null, keys), { created: v.version === 1 }));
      return { kind: 'ok' as const, value: historyBundle(entries, (currentListed ? 1 : 0) + older.total - (listed.length - versions.length), { redacted: shown.length < versions.length, now }) };
    });
    return this.finish(out);
  }

  /**
   * The access check shared by vread and history (the same rules as readResource): an unknown
   * resource is audited and not found; reference data is open to any signed-in user; a personal
   * resource needs a permit for its person and must not itself be withheld. On refusal the audit
   * entry is already written; on success the caller writes it, with what it showed.
   */
  private async resourceGate(tx: FhirStoreTx, row: ResourceRow | null, audit: (over: Partial<AuditEntry>) => AuditEntry, what: string): Promise<ResourceGate | { kind: 'not-found' | 'forbidden'; message: string }> {
    const now = this.clock();
    if (!row) {
      await tx.appendAudit([audit({ reason: 'not found' })], now);
      return { kind: 'not-found', message: `${what} is not known` };
    }
    if (!this.inScope([row]).length) {
      await tx.appendAudit([audit({ ...(row.person_id ? { personId: row.person_id } : {}), decision: 'deny', reason: OUTSIDE_SCOPES })], now);
      return { kind: 'forbidden', message: `access denied: ${OUTSIDE_SCOPES}` };
    }
    if (!row.person_id) {
      if (NON_PERSONAL.has(row.resource_type)) return { kind: 'ok', row, person: null, decision: null, entries: [], base: {}, reason: 'reference data (no person)' };
      await tx.appendAudit([audit({ decision: 'deny', reason: 'the resource is not yet linked to a person (fails closed)' })], now);
      return { kind: 'forbidden', message: 'access denied: the resource is not yet linked to a person' };
    }
    const [active] = await tx.personsById([row.person_id]);
    const person = active ?? (await tx.findPerson({ personId: row.person_id }));
    if (!person) {
      await tx.appendAudit([audit({ decision: 'deny', reason: 'person not found (fails closed)' })], now);
      return { kind: 'forbidden', message: 'access denied' };
    }
    const { decision, entries } = await this.decideFor(tx, person, 'read');
    const base = { personId: person.person_id };
    if (decision.kind === 'deny') {
      await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: decision.reason })], now);
      return { kind: 'forbidden', message: `access denied: ${decision.reason}` };
    }
    if (!this.visible(row, decision)) {
      await tx.appendAudit([...entries, audit({ ...base, decision: 'deny', reason: `withheld by obligation (${decision.reason})` })], now);
      return { kind: 'forbidden', message: 'access denied: this item is withheld by the access policy' };
    }
    return { kind: 'ok', row, person, decision, entries, base, reason: decision.reason };
  }

  /** The source patient records that stand for the person, for rewriting a resource's references (its own subject included). */
  private async patientKeysOf(tx: FhirStoreTx, person: PersonRow | null, row: ResourceRow): Promise<Set<string>> {
    if (!person) return new Set();
    const [summary] = await tx.loadSummaries([person]);
    return personPatientKeys(summary?.identities ?? [], [row]);
  }

  /** Reads a person's record inside tx, deciding and auditing; returns a result the caller turns into an error after commit. */
  private async readPersonIn(tx: FhirStoreTx, person: PersonRow | null, action: AccessAction, auditAction: string, detail: Record<string, unknown>, now: Date = this.clock()) {
    const audit = (over: Partial<AuditEntry>) => this.entry({ action: auditAction, detail, ...over });
    if (!person) {
      // Looking someone up is itself an access to personal data: audited when nobody is found too.
      await tx.appendAudit([audit({ reason: 'not found', detail: { ...detail, found: false } })], now);
      return { kind: 'not-found' as const, message: 'no record found' };
    }
    const { decision, entries, memberIds } = await this.decideFor(tx, person, action, now);
    if (decision.kind === 'deny') {
      await tx.appendAudit([...entries, audit({ personId: person.person_id, decision: 'deny', reason: decision.reason })], now);
      return { kind: 'forbidden' as const, message: `access denied: ${decision.reason}` };
    }
    const data: PersonRecordData = await tx.loadRecord(person, memberIds ?? (await tx.memberIds(person.person_id)));
    const scoped = this.inScope(data.rows, now);
    const rows = scoped.filter((r) => this.visible(r, decision));
    const withheld = scoped.length - rows.length;
    await tx.appendAudit([...entries, audit({ personId: person.person_id, decision: 'permit', reason: decision.reason, detail: { ...detail, found: true, items: rows.length, withheld } })], now);
    const record = buildIntegratedRecord(data.person, data.identities, rows, data.practices, { now });
    return { kind: 'ok' as const, value: { record, rows, decision, withheld, practices: data.practices, fresh: data.fresh === true } };
  }

  /** Facts, decision, and the break-glass session (with its alert entry) the decision asks for. */
  private async decideFor(tx: FhirStoreTx, person: PersonRow, action: AccessAction, now: Date = this.clock()): Promise<{ decision: Decision; entries: AuditEntry[]; memberIds?: string[] }> {
    let facts: AccessFacts | null = null;
    let ids: string[] | undefined;
    try {
      ids = await tx.memberIds(person.person_id);
      facts = (await tx.accessFacts(this.ctx.principal, [{ personId: person.person_id, nhsNumber: person.nhs_number, memberIds: ids }], now)).get(person.person_id) ?? null;
    } catch (err) {
      return { decision: { kind: 'deny', reason: `access facts could not be read (fails closed): ${(err as Error).message}` }, entries: [] };
    }
    const decision = decide(this.policy, { action, principal: this.ctx.principal, purpose: this.ctx.purpose, facts, breakGlassReason: this.ctx.breakGlassReason, now });
    const entries: AuditEntry[] = [];
    // When the permit rests on break-glass, when it ends (the HTTP layer tells the client: X-Bevan-Break-Glass-Expires).
    if (decision.kind === 'permit' && decision.basis === 'break-glass' && facts?.breakGlass) this.breakGlassExpiresAt = facts.breakGlass.expiresAt;
    if (decision.kind === 'permit' && decision.obligations.startBreakGlass) {
      const bg = decision.obligations.startBreakGlass;
      const { expiresAt } = await tx.startBreakGlass(this.ctx.principal.user, person.person_id, bg.reason, bg.minutes, now);
      this.breakGlassExpiresAt = expiresAt;
      entries.push(this.entry({ action: 'break-glass.start', personId: person.person_id, decision: 'permit', reason: bg.reason, detail: { alert: true, expiresAt } }));
      // An alert for the privacy officer: stderr for now (the audit entry carries alert: true).
      process.emitWarning(`break-glass: ${this.ctx.principal.user} (${this.ctx.principal.role}) opened person ${person.person_id} until ${expiresAt}: ${bg.reason}`, { code: 'BEVAN_BREAK_GLASS' });
    }
    return { decision, entries, memberIds: ids };
  }

  /**
   * The stored items a backend client's token scopes let it see (all of them for a person): types
   * its scopes name, and of a type named only by scopes narrowed by a query, the items that match
   * one of the queries as a search matches them (on the item as search sees it: served id,
   * lastUpdated and national codes). Applied before the obligations, so what the client did not
   * ask for is never counted as withheld.
   */
  private inScope<R extends ResourceRow>(rows: R[], now: Date = this.clock()): R[] {
    const scope = this.scope;
    if (!scope) return rows;
    const at = now.getTime();
    return rows.filter((r) => (scope.narrows(r.resource_type) ? scope.keeps(searchView(r, fhirLogicalId(r.source_system, r.resource_type, r.source_id)), at) : scope.allows(r.resource_type)));
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

/** Why an item is not shown to a backend client: its token's scopes do not reach it. */
const OUTSIDE_SCOPES = "outside this token's scopes";

/** A resource the user may see, with what its audit entry needs. */
interface ResourceGate {
  kind: 'ok';
  row: ResourceRow;
  /** Null for reference data. */
  person: PersonRow | null;
  decision: Extract<Decision, { kind: 'permit' }> | null;
  entries: AuditEntry[];
  base: Partial<AuditEntry>;
  reason: string;
}

function personKey(p: PersonRow): PersonKey {
  return { personId: p.person_id, nhsNumber: p.nhs_number, memberIds: [p.person_id] };
}

export { fhirLogicalId };

/** Why items were withheld, in words for the withheld-count notice: sensitive categories, dissent, or both. */
function withheldWhy(decision: Extract<Decision, { kind: 'permit' }>): string {
  const why: string[] = [];
  if (decision.obligations.withholdCategories.length) why.push('sensitive');
  if (decision.obligations.onlyOrganisation !== null) why.push('the person dissents from sharing between organisations');
  return why.join('; ') || 'sensitive';
}

/** `start`/`end` of $everything: the care dates as asked (for the audit) and as a range. */
export interface CareDates {
  start?: string;
  end?: string;
  lo: number;
  hi: number;
}

/** How the HTTP layer (http/everything-render.ts) turns a `$everything` page into the bytes it sends. */
export interface EverythingPresenter {
  /** What the text depends on besides the record, the view and the base URL: the id asked for, the parameters. */
  key: string;
  /** The base URL this request's page is sent with (part of the process cache's key only). */
  base: string;
  /** The page as JSON text, BASE_PLACEHOLDER (fhir/presented-records.ts) where the base URL goes. */
  render: (bundle: Bundle) => string;
  /** The placeholder text with this request's base URL put in. */
  materialise: (json: Buffer) => Buffer;
}

/** A `$everything` page as sent: where it came from, and whether it is kept in this process's cache (so a compressed form may be kept beside it). */
export interface EverythingJson {
  page: CachedResponse;
  from: 'process' | 'shared' | 'rendered';
  kept: boolean;
}

export interface EverythingRequest {
  types?: string[];
  since?: string;
  count?: number;
  offset?: number;
  care?: CareDates;
}

function careDetail(care: CareDates | undefined): Record<string, string> {
  return { ...(care?.start ? { start: care.start } : {}), ...(care?.end ? { end: care.end } : {}) };
}

/**
 * What the store may narrow `_has` by: for each reverse chain on a coded type with a plain `code`
 * token, its codes and the local laboratory codes the mapping table maps to them (a local code is
 * matched as its national one). A superset: the repository decides each match.
 */
function hasCodes(has: readonly HasFilter[]): NonNullable<PatientCriteria['hasCodes']> {
  const out: NonNullable<PatientCriteria['hasCodes']> = [];
  const labCodes = defaultReferenceData().labCodes;
  for (const h of has) {
    if (h.resourceType !== 'Observation' && h.resourceType !== 'Condition' && h.resourceType !== 'Procedure') continue;
    const f = h.filters.find((x) => x.kind === 'token' && x.param.name === 'code' && x.modifier === 'none' && x.values.every((v) => v.code));
    if (!f || f.kind !== 'token') continue;
    const codes = new Set(f.values.map((v) => v.code!));
    for (const [key, national] of labCodes) if (codes.has(national.code) && f.values.some((v) => v.code === national.code && (v.system === undefined || v.system === national.system))) codes.add(key.slice(key.indexOf('\u0000') + 1));
    out.push({ resourceType: h.resourceType, codes: [...codes] });
  }
  return out;
}
