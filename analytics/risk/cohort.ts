// High-risk cohorts (the "vanguard practice" lists) and the model, through the access policy
// (action `risk`): a GP or practice nurse sees their own practice's people identified, for direct
// care; an analyst any practice's or neighbourhood's, pseudonymised, for secondary use. The people
// found are then decided by the policy (restricted people never; dissent from sharing keeps a
// person off an identified list built from other organisations' data; the national data opt-out
// keeps them out of secondary use): for an identified list each on their own facts, for secondary
// use those with a consent directive or restriction each on theirs and the rest at once
// (access/many-people.ts decideListed). One audit entry per run, one per person shown identified.
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { forbidden, invalid, type RequestContext } from '../../access/context.ts';
import { decideListed } from '../../access/many-people.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import type { Queryable } from '../../db/database.ts';
import { pseudonymFor, pseudonymKey } from '../cohorts/pseudonym.ts';
import { round, topFactors, type Factor } from './explain.ts';
import { loadRiskModel, requireRiskModel, TIERS, type RiskModel, type Tier } from './model.ts';
import { modelTerms, termExpressions } from './terms.ts';
import { loadCodeLists } from './code-lists.ts';

export interface TierHistoryPoint {
  indexDate: string;
  scoredAt: string;
  modelVersion: number;
  probability: number;
  tier: Tier | null;
}

interface RiskPersonBase {
  practice: string | null;
  neighbourhood: string | null;
  probability: number;
  tier: Tier | null;
  populationRank: number;
  efi: number;
  efiBand: string;
  factors: Factor[];
  history: TierHistoryPoint[];
}

export interface IdentifiedRiskPerson extends RiskPersonBase {
  personId: string;
  nhsNumber: string | null;
  name: string | null;
  birthDate: string | null;
  age: number;
  sex: string | null;
  /** The person's record in the API (the merged Patient's id is the person id). */
  record: string;
}

export interface PseudonymisedRiskPerson extends RiskPersonBase {
  pseudonym: string;
  ageBand: string;
}

export interface RiskCohortResult {
  view: 'identified' | 'pseudonymised';
  practice: string | null;
  neighbourhood: string | null;
  /** The tier asked for: everyone in it and in the tiers above it (top 0.5 % is inside top 1 %…). */
  tier: Tier;
  run: { runId: number; indexDate: string; scoredAt: string; modelVersion: number; people: number } | null;
  withheld: { restricted: number; optedOut: number; dissent: number };
  people: IdentifiedRiskPerson[] | PseudonymisedRiskPerson[];
}

export interface RiskCohortOptions {
  practice?: string | null;
  neighbourhood?: string | null;
  tier?: string | null;
  policy?: Policy | null;
  now?: Date;
}

const ageBand = (age: number) => (age >= 90 ? '90+' : `${Math.floor(age / 5) * 5}-${Math.floor(age / 5) * 5 + 4}`);

/** The high-risk people of a practice or neighbourhood in the latest scoring, for the context's user. */
export async function riskCohort(ctx: RequestContext, opts: RiskCohortOptions): Promise<RiskCohortResult> {
  const now = opts.now ?? new Date();
  const policy = opts.policy === undefined ? currentPolicy() : opts.policy;
  const tier = (opts.tier ?? '5') as Tier;
  if (!TIERS.includes(tier)) throw invalid(`tier must be one of ${TIERS.join(', ')} (the top per cent of the population), got "${opts.tier}"`);
  if (opts.practice && opts.neighbourhood) throw invalid('ask for a practice or a neighbourhood, not both');
  const asked = { practice: opts.practice ?? null, neighbourhood: opts.neighbourhood ?? null };
  const decision = decide(policy, { action: 'risk', principal: ctx.principal, purpose: ctx.purpose, risk: asked, now });
  const base = (e: Partial<AuditEntry>): AuditEntry => ({ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action: 'risk.cohort', ...e });
  if (decision.kind === 'deny' || !decision.obligations.risk) {
    await ctx.db.transaction((tx) => appendAuditBatch(tx, [base({ decision: 'deny', reason: decision.kind === 'deny' ? decision.reason : 'no risk list obligations', detail: { ...asked, tier } })], now));
    throw forbidden(decision.reason);
  }
  const how = decision.obligations.risk;
  return ctx.db.transaction(async (tx) => {
    const runRow = await tx.query<{ run_id: string; index_date: string; scored_at: Date | string; model_version: number; people: number }>(
      "SELECT run_id, to_char(index_date, 'YYYY-MM-DD') AS index_date, scored_at, model_version, people FROM risk_score_run ORDER BY run_id DESC LIMIT 1",
    );
    const result: RiskCohortResult = { view: how.identified ? 'identified' : 'pseudonymised', practice: how.practice, neighbourhood: how.neighbourhood, tier, run: null, withheld: { restricted: 0, optedOut: 0, dissent: 0 }, people: [] };
    const r = runRow.rows[0];
    if (!r) {
      await appendAuditBatch(tx, [base({ decision: 'permit', reason: decision.reason, detail: { ...asked, tier, found: 0, note: 'no scoring run yet' } })], now);
      return result;
    }
    const model = (await loadRiskModel(tx, Number(r.model_version))) ?? (await requireRiskModel(tx));
    result.run = { runId: Number(r.run_id), indexDate: r.index_date, scoredAt: new Date(r.scored_at).toISOString(), modelVersion: Number(r.model_version), people: Number(r.people) };
    const found = await listed(tx, model, result.run.runId, TIERS.slice(0, TIERS.indexOf(tier) + 1), how.practice, how.neighbourhood);
    const ids = found.map((f) => f.person_id);
    // Names only for an identified list; secondary use reads the facts of those with a consent
    // directive or restriction alone and decides everyone else at once (access/many-people.ts).
    const people = how.identified ? await personDetails(tx, ids) : new Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>();
    const decided = await decideListed(tx, policy, { principal: ctx.principal, purpose: ctx.purpose, identified: how.identified }, now, ids, how.identified ? people : undefined);
    result.withheld = decided.withheld;
    const shown = found.filter((row) => decided.shown.has(row.person_id));
    const history = await tierHistory(tx, shown.map((s) => s.person_id));
    const key = how.identified ? null : await pseudonymKey(tx);
    result.people = shown.map((s) => {
      const common: RiskPersonBase = {
        practice: s.practice,
        neighbourhood: s.neighbourhood,
        probability: round(s.probability, 5),
        tier: s.tier,
        populationRank: s.population_rank,
        efi: round(s.efi, 4),
        efiBand: s.efi_band,
        factors: topFactors(model.terms, s.values),
        history: history.get(s.person_id) ?? [],
      };
      if (key) return { pseudonym: pseudonymFor(key, s.person_id), ageBand: ageBand(s.age), ...common };
      const p = people.get(s.person_id);
      return { personId: s.person_id, nhsNumber: p?.nhs_number ?? null, name: p?.name ?? null, birthDate: p?.birth_date ?? null, age: s.age, sex: s.sex, record: `Patient/${s.person_id}`, ...common };
    }) as RiskCohortResult['people'];
    const entries: AuditEntry[] = [
      base({ decision: 'permit', reason: decision.reason, detail: { ...asked, tier, view: result.view, runId: result.run.runId, found: found.length, shown: shown.length, withheld: result.withheld } }),
    ];
    if (how.identified) for (const s of shown) entries.push(base({ action: 'risk.cohort.person', personId: s.person_id, decision: 'permit', reason: decision.reason, detail: { tier: s.tier, runId: result.run.runId } }));
    await appendAuditBatch(tx, entries, now);
    return result;
  });
}

interface ListedRow {
  person_id: string;
  practice: string | null;
  neighbourhood: string | null;
  probability: number;
  tier: Tier | null;
  population_rank: number;
  age: number;
  sex: string | null;
  efi: number;
  efi_band: string;
  values: number[];
}

async function listed(tx: Queryable, model: RiskModel, runId: number, tiers: readonly string[], practice: string | null, neighbourhood: string | null): Promise<ListedRow[]> {
  const known = new Map(modelTerms(loadCodeLists()).map((t) => [t.name, t]));
  const terms = model.terms.map((t) => known.get(t.name)).filter((t) => t !== undefined);
  const params: unknown[] = [runId, tiers, practice, neighbourhood];
  const exprs = termExpressions(terms, params);
  const r = await tx.query<Record<string, unknown>>(
    `SELECT s.person_id::text AS person_id, f.practice, f.neighbourhood, s.probability, s.tier, s.population_rank, f.age, f.sex, f.efi, f.efi_band,
            ${exprs.map((e, j) => `${e} AS t${j}`).join(', ')}
       FROM risk_score s
       JOIN risk_score_run run ON run.run_id = s.run_id
       JOIN risk_feature f ON f.person_id = s.person_id AND f.index_date = run.index_date
      WHERE s.run_id = $1 AND s.tier = ANY($2::text[])
        AND ($3::text IS NULL OR f.practice = $3::text) AND ($4::text IS NULL OR f.neighbourhood = $4::text)
      ORDER BY s.probability DESC, s.person_id`,
    params,
  );
  return r.rows.map((row) => ({
    person_id: String(row.person_id),
    practice: (row.practice as string | null) ?? null,
    neighbourhood: (row.neighbourhood as string | null) ?? null,
    probability: Number(row.probability),
    tier: (row.tier as Tier | null) ?? null,
    population_rank: Number(row.population_rank),
    age: Number(row.age),
    sex: (row.sex as string | null) ?? null,
    efi: Number(row.efi),
    efi_band: String(row.efi_band),
    // A stored term this version no longer computes counts as its mean (no contribution).
    values: model.terms.map((t) => (known.has(t.name) ? Number(row[`t${terms.indexOf(known.get(t.name)!)}`]) : t.mean)),
  }));
}

async function tierHistory(tx: Queryable, ids: string[]): Promise<Map<string, TierHistoryPoint[]>> {
  const out = new Map<string, TierHistoryPoint[]>();
  if (!ids.length) return out;
  const r = await tx.query<{ person_id: string; index_date: string; scored_at: Date | string; model_version: number; probability: number; tier: Tier | null }>(
    `SELECT s.person_id::text AS person_id, to_char(run.index_date, 'YYYY-MM-DD') AS index_date, run.scored_at, run.model_version, s.probability, s.tier
       FROM risk_score s JOIN risk_score_run run ON run.run_id = s.run_id
      WHERE s.person_id = ANY($1::uuid[])
      ORDER BY s.person_id, run.index_date, run.run_id`,
    [ids],
  );
  for (const x of r.rows) {
    const list = out.get(x.person_id) ?? [];
    list.push({ indexDate: x.index_date, scoredAt: new Date(x.scored_at).toISOString(), modelVersion: Number(x.model_version), probability: round(Number(x.probability), 5), tier: x.tier ?? null });
    out.set(x.person_id, list);
  }
  return out;
}

async function personDetails(tx: Queryable, ids: string[]): Promise<Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>> {
  const out = new Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>();
  if (!ids.length) return out;
  const r = await tx.query<{ person_id: string; nhs_number: string | null; family: string | null; given: string | null; birth_date: string | null }>(
    `SELECT p.person_id::text AS person_id, p.nhs_number, s.family, s.given, to_char(s.birth_date, 'YYYY-MM-DD') AS birth_date
       FROM person p
       LEFT JOIN LATERAL (SELECT family, given, birth_date FROM source_identity si WHERE si.person_id = p.person_id
                           ORDER BY (si.source_system LIKE 'gp:%') DESC, si.updated_at DESC LIMIT 1) s ON true
      WHERE p.person_id = ANY($1::uuid[])`,
    [ids],
  );
  for (const x of r.rows) out.set(x.person_id, { nhs_number: x.nhs_number, name: [x.given, x.family].filter(Boolean).join(' ') || null, birth_date: x.birth_date });
  return out;
}

/** The stored model for a user (no personal data, but still decided by the policy and audited). */
export async function riskModelFor(ctx: RequestContext, opts: { policy?: Policy | null; now?: Date } = {}): Promise<RiskModel> {
  const now = opts.now ?? new Date();
  const policy = opts.policy === undefined ? currentPolicy() : opts.policy;
  const decision = decide(policy, { action: 'risk', principal: ctx.principal, purpose: ctx.purpose, risk: { practice: null, neighbourhood: null, model: true }, now });
  const entry: AuditEntry = { actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action: 'risk.model', decision: decision.kind, reason: decision.reason };
  await ctx.db.transaction((tx) => appendAuditBatch(tx, [entry], now));
  if (decision.kind === 'deny') throw forbidden(decision.reason);
  return requireRiskModel(ctx.db);
}
