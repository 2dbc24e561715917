// Running a cohort (a register) for a user, through the access layer: the decision point says
// whether the user may run it and how (identified for their own practice's direct care, or
// disclosure-controlled counts and pseudonymised lists for secondary use); then each person the
// query finds is decided by the policy (restricted people never appear; the national data opt-out
// removes a person from secondary use; a person who dissents from sharing is left out of an
// identified list built from other organisations' data): for an identified list each on their own
// facts, for secondary use those with a consent directive or restriction each on theirs and the
// rest, whose facts are all the same, with one decision (decideSecondaryUse). One audit entry for
// the run, with its counts, and one per person shown identified (IHE BALP's PatientQuery: one
// AuditEvent per patient identified in the results), in the same transaction as the query.
import { oneOffStatements } from '../../db/database.ts';
import type { Queryable } from '../../db/database.ts';
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { forbidden, invalid, type RequestContext } from '../../access/context.ts';
import { SECONDARY_USE_CANDIDATES_SQL } from '../../access/facts-store.ts';
import { decidedAsSecondaryUse, decideListed, decideSecondaryUse, noneWithheld, tallyWithheld } from '../../access/many-people.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import { CohortCompileError, compileCohort, type CompiledCohort } from './compile.ts';
import { ensureFlatTablesCurrent } from '../flat/refresh.ts';
import type { CohortDefinition } from './definition.ts';
import { pseudonymFor, pseudonymKey } from './pseudonym.ts';
import { disclosureControl, type ControlledCount } from './sdc.ts';

export type CohortOutput = 'count' | 'list' | 'export';

export interface CohortRunOptions {
  practice?: string | null;
  output: CohortOutput;
  /** The date the register is run for (YYYY-MM-DD); today when absent. */
  asOf?: string;
  resolve?: (name: string) => CohortDefinition | undefined;
  policy?: Policy | null;
  now?: Date;
}

export interface IdentifiedMember {
  personId: string;
  nhsNumber: string | null;
  name: string | null;
  birthDate: string | null;
  practice: string | null;
  neighbourhood: string | null;
  /** The person's record in the API (the merged Patient's id is the person id). */
  record: string;
}

export interface PseudonymisedMember {
  pseudonym: string;
  practice: string | null;
  neighbourhood: string | null;
}

export interface CohortResult {
  name: string;
  title: string;
  asOf: string;
  practice: string | null;
  /** identified (direct care, the user's own practice) or pseudonymised (secondary use, disclosure controlled). */
  view: 'identified' | 'pseudonymised';
  /** The count shown: exact for direct care; after disclosure control (null = suppressed) for secondary use. */
  count: ControlledCount;
  disclosureControl: boolean;
  /** People the query found who are not shown, by reason (exact only for direct care: a secondary-use figure is controlled too). */
  withheld: { restricted: ControlledCount; optedOut: ControlledCount; dissent: ControlledCount };
  /** For secondary use, counts per practice after disclosure control. */
  byPractice?: { practice: string | null; count: ControlledCount }[];
  members?: IdentifiedMember[] | PseudonymisedMember[];
  seconds: number;
}

/** Runs a register for the context's user; throws forbidden (after auditing the denial) when the policy says no. */
export async function runCohort(ctx: RequestContext, def: CohortDefinition, opts: CohortRunOptions): Promise<CohortResult> {
  const started = performance.now();
  const now = opts.now ?? new Date();
  const asOf = opts.asOf ?? now.toISOString().slice(0, 10);
  const policy = opts.policy === undefined ? currentPolicy() : opts.policy;
  const requested = opts.practice ?? null;
  const decision = decide(policy, { action: 'cohort', principal: ctx.principal, purpose: ctx.purpose, cohort: { practice: requested }, now });
  const action = `cohort.${opts.output}`;
  const base = (e: Partial<AuditEntry>): AuditEntry => ({ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action, ...e });
  if (decision.kind === 'deny' || !decision.obligations.cohort) {
    await ctx.db.transaction((tx) => appendAuditBatch(tx, [base({ decision: 'deny', reason: decision.reason, detail: { register: def.name, practice: requested } })], now));
    throw forbidden(decision.reason);
  }
  const how = decision.obligations.cohort;
  // Secondary use with a policy is decided for the members with something recorded one by one and
  // for the rest at once (access/many-people.ts decideSecondaryUse; the list is ordered here); every other run reads each member.
  const bySecondaryUse = decidedAsSecondaryUse(policy, { principal: ctx.principal, purpose: ctx.purpose, identified: how.identified });
  let compiled;
  try {
    compiled = compileCohort(def, { asOf, practice: how.practice, resolve: opts.resolve, ordered: !bySecondaryUse });
  } catch (err) {
    if (err instanceof CohortCompileError) throw invalid(`cohort ${def.name}: ${err.message}`);
    throw err;
  }
  return ctx.db.transaction(async (tx) => {
    // No JIT: compiling a register's JSON expressions cost more than it saved (ENT referrals at
    // 20,000 people: 10.5 s with, 5.8 s without, PostgreSQL 15; docs/analytics/risk.md). PGlite has none.
    await oneOffStatements(tx);
    await ensureFlatTablesCurrent(tx);
    const people = bySecondaryUse ? await decideBySecondaryUse(tx, policy, ctx, compiled, now, opts.output === 'count') : await decideEach(tx, policy, ctx, compiled, now, how.identified);
    const { shown, withheld } = people;
    const control = (n: number) => (how.disclosureControl ? disclosureControl(n) : n);
    const result: CohortResult = {
      name: def.name,
      title: def.title,
      asOf,
      practice: how.practice,
      view: how.identified ? 'identified' : 'pseudonymised',
      count: control(people.shownCount),
      disclosureControl: how.disclosureControl,
      withheld: { restricted: control(withheld.restricted), optedOut: control(withheld.optedOut), dissent: control(withheld.dissent) },
      seconds: 0,
    };
    if (!how.identified) {
      result.byPractice = [...people.shownByPractice.entries()].filter(([, n]) => n > 0).sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([practice, n]) => ({ practice, count: control(n) }));
    }
    const entries: AuditEntry[] = [];
    if (opts.output !== 'count') {
      if (how.identified) {
        result.members = shown.map((r) => {
          const p = people.details.get(r.person_id);
          return { personId: r.person_id, nhsNumber: p?.nhs_number ?? null, name: p?.name ?? null, birthDate: p?.birth_date ?? null, practice: r.practice, neighbourhood: r.neighbourhood, record: `Patient/${r.person_id}` };
        });
        // IHE BALP (PatientQuery): one AuditEvent for every patient identified in a query's results.
        for (const r of shown) entries.push(base({ action: `${action}.person`, personId: r.person_id, decision: 'permit', reason: decision.reason, detail: { register: def.name } }));
      } else {
        const key = await pseudonymKey(tx);
        result.members = shown.map((r) => ({ pseudonym: pseudonymFor(key, r.person_id), practice: r.practice, neighbourhood: r.neighbourhood }));
      }
    }
    result.seconds = Math.round((performance.now() - started)) / 1000;
    entries.unshift(base({ decision: 'permit', reason: decision.reason, detail: { register: def.name, asOf, practice: how.practice, view: result.view, found: people.found, shown: people.shownCount, withheld, uses: compiled.uses } }));
    await appendAuditBatch(tx, entries, now);
    return result;
  });
}

type Member = { person_id: string; practice: string | null; neighbourhood: string | null };
type Details = Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>;

/** Who the register found, who of them is shown (the policy's decision on each) and why the others are not. */
interface Decided {
  found: number;
  shownCount: number;
  shownByPractice: Map<string | null, number>;
  /** The people shown, in person id order (empty for a secondary-use count, which reads no one's row). */
  shown: Member[];
  withheld: { restricted: number; optedOut: number; dissent: number };
  details: Details;
}

/**
 * Every member read and decided on their own facts (relationships included for direct care,
 * access/many-people.ts decideListed): the identified lists of a practice, and any run without a
 * policy (each then denied).
 */
async function decideEach(tx: Queryable, policy: Policy | null, ctx: RequestContext, compiled: CompiledCohort, now: Date, identified: boolean): Promise<Decided> {
  const found = await tx.query<Member>(compiled.sql, compiled.params);
  const ids = found.rows.map((r) => r.person_id);
  // Names and birth dates only for an identified list; the access facts need only each NHS number.
  const details = await personDetails(tx, ids, identified);
  const { shown, withheld } = await decideListed(tx, policy, { principal: ctx.principal, purpose: ctx.purpose, identified }, now, ids, details);
  const out: Decided = { found: found.rows.length, shownCount: 0, shownByPractice: new Map(), shown: [], withheld, details };
  for (const row of found.rows) {
    if (!shown.has(row.person_id)) continue;
    out.shown.push(row);
    out.shownByPractice.set(row.practice, (out.shownByPractice.get(row.practice) ?? 0) + 1);
  }
  out.shownCount = out.shown.length;
  return out;
}

/**
 * Secondary use (a pseudonymised list or a disclosure-controlled count), decided as the policy
 * decides it: on each person's consent directives and restrictions alone (access/many-people.ts
 * decideSecondaryUse). The members with any such record (access/facts-store.ts
 * SECONDARY_USE_CANDIDATES_SQL, flagged in the register's own statement) are each decided on their
 * own facts; everyone else with one decision. So a register of 36,000 people reads the facts of its
 * few hundred with a record, not of all 36,000. A count reads no member's row: the statement
 * returns, per practice, how many members have nothing recorded and the ids of those who do.
 */
async function decideBySecondaryUse(tx: Queryable, policy: Policy, ctx: RequestContext, compiled: CompiledCohort, now: Date, countOnly: boolean): Promise<Decided> {
  const recordedSql = `c.person_id::uuid IN (${SECONDARY_USE_CANDIDATES_SQL})`;
  const out: Decided = { found: 0, shownCount: 0, shownByPractice: new Map(), shown: [], withheld: noneWithheld(), details: new Map() };
  // Per practice: the members with nothing recorded (counted) and those with a record (listed).
  const plain = new Map<string | null, number>();
  const recorded: Member[] = [];
  let rows: (Member & { recorded: boolean })[] = [];
  if (countOnly) {
    const r = await tx.query<{ practice: string | null; neighbourhood: string | null; plain: number; recorded: string[] | null }>(
      `SELECT c.practice, min(c.neighbourhood) AS neighbourhood, (count(*) FILTER (WHERE NOT c.recorded))::int AS plain, array_agg(c.person_id) FILTER (WHERE c.recorded) AS recorded
         FROM (SELECT c.practice, c.neighbourhood, c.person_id, ${recordedSql} AS recorded FROM (${compiled.sql}) c) c
        GROUP BY c.practice`,
      compiled.params,
    );
    for (const p of r.rows) {
      plain.set(p.practice, p.plain);
      for (const id of p.recorded ?? []) recorded.push({ person_id: id, practice: p.practice, neighbourhood: p.neighbourhood });
    }
  } else {
    rows = (await tx.query<Member & { recorded: boolean }>(`SELECT c.person_id, c.practice, c.neighbourhood, ${recordedSql} AS recorded FROM (${compiled.sql}) c ORDER BY c.person_id`, compiled.params)).rows;
    for (const r of rows) {
      if (r.recorded) recorded.push(r);
      else plain.set(r.practice, (plain.get(r.practice) ?? 0) + 1);
    }
  }
  const decided = await decideSecondaryUse(tx, policy, ctx, now, recorded.map((r) => r.person_id));
  const { nothingRecorded } = decided;
  for (const [practice, n] of plain) {
    out.found += n;
    if (nothingRecorded.shown) out.shownByPractice.set(practice, (out.shownByPractice.get(practice) ?? 0) + n), (out.shownCount += n);
    else tallyWithheld(out.withheld, nothingRecorded.facts, false, n);
  }
  for (const r of recorded) {
    out.found++;
    const a = decided.of(r.person_id);
    if (a.shown) {
      out.shownByPractice.set(r.practice, (out.shownByPractice.get(r.practice) ?? 0) + 1);
      out.shownCount++;
    } else tallyWithheld(out.withheld, a.facts, false);
  }
  if (!countOnly) out.shown = rows.filter((r) => decided.of(r.person_id).shown).map(({ person_id, practice, neighbourhood }) => ({ person_id, practice, neighbourhood }));
  return out;
}

async function personDetails(tx: Queryable, ids: string[], names: boolean): Promise<Details> {
  const out: Details = new Map();
  if (!ids.length) return out;
  if (!names) {
    const r = await tx.query<{ person_id: string; nhs_number: string | null }>('SELECT p.person_id::text AS person_id, p.nhs_number FROM person p WHERE p.person_id = ANY($1::uuid[])', [ids]);
    for (const x of r.rows) out.set(x.person_id, { nhs_number: x.nhs_number, name: null, birth_date: null });
    return out;
  }
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

/** A cohort result as CSV: the members (identified or pseudonymised), or the counts per practice. */
export function cohortCsv(r: CohortResult): string {
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    // Quote when needed; a leading = + - @ is neutralised so that a spreadsheet never runs it as a formula.
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines: string[] = [];
  if (r.members && r.view === 'identified') {
    lines.push('person_id,nhs_number,name,birth_date,practice,neighbourhood,record');
    for (const m of r.members as IdentifiedMember[]) lines.push([m.personId, m.nhsNumber, m.name, m.birthDate, m.practice, m.neighbourhood, m.record].map(esc).join(','));
  } else if (r.members) {
    lines.push('pseudonym,practice,neighbourhood');
    for (const m of r.members as PseudonymisedMember[]) lines.push([m.pseudonym, m.practice, m.neighbourhood].map(esc).join(','));
  } else {
    lines.push('register,practice,count');
    const rows = r.byPractice ?? [{ practice: r.practice, count: r.count }];
    for (const x of rows) lines.push([r.name, x.practice, x.count === null ? '*' : x.count].map(esc).join(','));
  }
  return lines.join('\n') + '\n';
}
