// Running a cohort (a register) for a user, through the access layer: the decision point says
// whether the user may run it and how (identified for their own practice's direct care, or
// disclosure-controlled counts and pseudonymised lists for secondary use); then each person the
// query finds is decided on their own (restricted people never appear; the national data opt-out
// removes a person from secondary use; a person who dissents from sharing is left out of an
// identified list built from other organisations' data). One audit entry for the run, with its
// counts, and one per person shown identified, in the same transaction as the query.
import { oneOffStatements } from '../../db/database.ts';
import type { Queryable } from '../../db/database.ts';
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { forbidden, invalid, type RequestContext } from '../../access/context.ts';
import { gatherAccessFacts } from '../../access/facts-store.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import { CohortCompileError, compileCohort } from './compile.ts';
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
  let compiled;
  try {
    compiled = compileCohort(def, { asOf, practice: how.practice, resolve: opts.resolve });
  } catch (err) {
    if (err instanceof CohortCompileError) throw invalid(`cohort ${def.name}: ${err.message}`);
    throw err;
  }
  return ctx.db.transaction(async (tx) => {
    // No JIT: compiling a register's JSON expressions cost more than it saved (ENT referrals at
    // 20,000 people: 10.5 s with, 5.8 s without, PostgreSQL 15; docs/analytics/risk.md). PGlite has none.
    await oneOffStatements(tx);
    await ensureFlatTablesCurrent(tx);
    const found = await tx.query<{ person_id: string; practice: string | null; neighbourhood: string | null }>(compiled.sql, compiled.params);
    const ids = found.rows.map((r) => r.person_id);
    // Names and birth dates only for an identified list; the access facts need only each NHS number.
    const people = await personDetails(tx, ids, how.identified);
    // Secondary use is decided on restrictions and consent alone (access/policy.ts): the relationship
    // facts of every member (the registers' cost per person at 215,000: ENT referrals 7.3 s) are not read.
    const secondary = ctx.purpose === 'secondary-use';
    const facts = policy ? await gatherAccessFacts(tx, policy, ctx.principal, ids.map((id) => ({ personId: id, nhsNumber: people.get(id)?.nhs_number ?? null, memberIds: [id] })), now, { relationships: !secondary }) : new Map();
    const shown: typeof found.rows = [];
    const withheld = { restricted: 0, optedOut: 0, dissent: 0 };
    for (const row of found.rows) {
      const f = facts.get(row.person_id) ?? null;
      const d = decide(policy, { action: how.identified ? 'read' : 'export', principal: ctx.principal, purpose: ctx.purpose, facts: f, now });
      if (d.kind === 'permit' && !(how.identified && d.obligations.onlyOrganisation !== null)) shown.push(row);
      else if (f?.restricted) withheld.restricted++;
      else if (f?.nationalDataOptOut && !how.identified) withheld.optedOut++;
      else withheld.dissent++;
    }
    const control = (n: number) => (how.disclosureControl ? disclosureControl(n) : n);
    const result: CohortResult = {
      name: def.name,
      title: def.title,
      asOf,
      practice: how.practice,
      view: how.identified ? 'identified' : 'pseudonymised',
      count: control(shown.length),
      disclosureControl: how.disclosureControl,
      withheld: { restricted: control(withheld.restricted), optedOut: control(withheld.optedOut), dissent: control(withheld.dissent) },
      seconds: 0,
    };
    if (!how.identified) {
      const per = new Map<string | null, number>();
      for (const r of shown) per.set(r.practice, (per.get(r.practice) ?? 0) + 1);
      result.byPractice = [...per.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([practice, n]) => ({ practice, count: control(n) }));
    }
    const entries: AuditEntry[] = [];
    if (opts.output !== 'count') {
      if (how.identified) {
        result.members = shown.map((r) => {
          const p = people.get(r.person_id);
          return { personId: r.person_id, nhsNumber: p?.nhs_number ?? null, name: p?.name ?? null, birthDate: p?.birth_date ?? null, practice: r.practice, neighbourhood: r.neighbourhood, record: `Patient/${r.person_id}` };
        });
        for (const r of shown) entries.push(base({ action: `${action}.person`, personId: r.person_id, decision: 'permit', reason: decision.reason, detail: { register: def.name } }));
      } else {
        const key = await pseudonymKey(tx);
        result.members = shown.map((r) => ({ pseudonym: pseudonymFor(key, r.person_id), practice: r.practice, neighbourhood: r.neighbourhood }));
      }
    }
    result.seconds = Math.round((performance.now() - started)) / 1000;
    entries.unshift(base({ decision: 'permit', reason: decision.reason, detail: { register: def.name, asOf, practice: how.practice, view: result.view, found: found.rows.length, shown: shown.length, withheld, uses: compiled.uses } }));
    await appendAuditBatch(tx, entries, now);
    return result;
  });
}

async function personDetails(tx: Queryable, ids: string[], names: boolean): Promise<Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>> {
  const out = new Map<string, { nhs_number: string | null; name: string | null; birth_date: string | null }>();
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
