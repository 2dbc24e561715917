// Duplicate tests for a user, through the access layer (the diabetes panel's fourth aim): the
// decision point says whether and how (action `analysis` "duplicate-tests", decided as a
// register: a GP's own practice identified for direct care, or disclosure-controlled counts and
// pseudonymised lists for secondary use); then the people with a repeat are decided by the policy
// (restricted people never appear; the national data opt-out removes a person from secondary
// use; a dissenter is left out of an identified list built from other organisations' data): for
// an identified list each on their own facts, for secondary use those with a consent directive or
// restriction each on theirs and the rest at once (access/many-people.ts decideListed). One
// audit entry for the run, and one per person shown identified, in the query's transaction.
import type { Queryable } from '../../db/database.ts';
import { appendAuditBatch, type AuditEntry } from '../../access/audit.ts';
import { forbidden, invalid, type RequestContext } from '../../access/context.ts';
import { decideListed } from '../../access/many-people.ts';
import { currentPolicy, decide, type Policy } from '../../access/policy.ts';
import { defaultReferenceData, type ReferenceData } from '../../record/reference/reference-data.ts';
import { pseudonymFor, pseudonymKey } from '../cohorts/pseudonym.ts';
import { disclosureControl, type ControlledCount } from '../cohorts/sdc.ts';
import type { SourceSetting } from '../commissioning/tariff.ts';
import { testCodes, type RetestInterval } from './intervals.ts';
import { duplicateTestsQuery, type RepeatRow } from './query.ts';

export const ANALYSIS = 'duplicate-tests';
export type DuplicateOutput = 'count' | 'list';

export interface DuplicateTestsOptions {
  intervals: readonly RetestInterval[];
  sources: readonly SourceSetting[];
  practice?: string | null;
  /** Only repeats on or after this date (YYYY-MM-DD). */
  since?: string | null;
  /** Only repeats on or before this date (YYYY-MM-DD); default today. */
  until?: string | null;
  output: DuplicateOutput;
  reference?: Pick<ReferenceData, 'labCodes'>;
  policy?: Policy | null;
  now?: Date;
}

export interface TestTaken {
  at: string;
  /** primary (GP) or secondary (hospital, mental health trust) care. */
  setting: 'primary' | 'secondary';
  /** The source systems that sent it (one specimen may come through two feeds). */
  sources: string[];
}

export interface RepeatBase {
  practice: string | null;
  test: string;
  title: string;
  intervalDays: number;
  first: TestTaken;
  repeat: TestTaken;
  daysApart: number;
}
export interface IdentifiedRepeat extends RepeatBase {
  personId: string;
  nhsNumber: string | null;
  name: string | null;
  record: string;
}
export interface PseudonymisedRepeat extends RepeatBase {
  pseudonym: string;
}

export interface PracticeCount {
  practice: string | null;
  repeats: ControlledCount;
  people: ControlledCount;
  byTest: Record<string, ControlledCount>;
}

export interface DuplicateTestsResult {
  since: string | null;
  until: string;
  practice: string | null;
  view: 'identified' | 'pseudonymised';
  disclosureControl: boolean;
  total: { repeats: ControlledCount; people: ControlledCount };
  byPractice: PracticeCount[];
  withheld: { restricted: ControlledCount; optedOut: ControlledCount; dissent: ControlledCount };
  repeats?: IdentifiedRepeat[] | PseudonymisedRepeat[];
  intervals: { test: string; title: string; days: number; source: string }[];
  seconds: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** Runs the duplicate-test analysis for the context's user; throws forbidden (after auditing the denial) when the policy says no. */
export async function duplicateTests(ctx: RequestContext, opts: DuplicateTestsOptions): Promise<DuplicateTestsResult> {
  const started = performance.now();
  const now = opts.now ?? new Date();
  const until = opts.until ?? now.toISOString().slice(0, 10);
  for (const [k, v] of [['since', opts.since], ['until', until]] as const) if (v && (!DATE.test(v) || Number.isNaN(Date.parse(v)))) throw invalid(`${k} must be a date YYYY-MM-DD, got "${v}"`);
  if (opts.since && opts.since > until) throw invalid(`since ${opts.since} is after until ${until}`);
  if (opts.practice && !/^[A-Z0-9]{3,10}$/.test(opts.practice)) throw invalid(`practice must be an ODS code (3 to 10 capital letters and digits), got "${opts.practice}"`);
  if (!opts.intervals.length) throw invalid('no retesting intervals: the table is empty');
  const policy = opts.policy === undefined ? currentPolicy() : opts.policy;
  const requested = opts.practice ?? null;
  const decision = decide(policy, { action: 'analysis', analysis: { name: ANALYSIS, practice: requested }, principal: ctx.principal, purpose: ctx.purpose, now });
  const action = `${ANALYSIS}.${opts.output}`;
  const base = (e: Partial<AuditEntry>): AuditEntry => ({ actor: ctx.principal.user, role: ctx.principal.role, organisation: ctx.principal.organisation, purpose: ctx.purpose, from: ctx.from, action, ...e });
  if (decision.kind === 'deny' || !decision.obligations.cohort) {
    await ctx.db.transaction((tx) => appendAuditBatch(tx, [base({ decision: 'deny', reason: decision.reason, detail: { practice: requested } })], now));
    throw forbidden(decision.reason);
  }
  const how = decision.obligations.cohort;
  const byTest = new Map(opts.intervals.map((i) => [i.test, i]));
  const q = duplicateTestsQuery({
    codes: testCodes(opts.intervals, opts.reference ?? defaultReferenceData()),
    intervals: opts.intervals,
    sources: opts.sources,
    since: opts.since ?? null,
    until,
    practice: how.practice,
  });
  return ctx.db.transaction(async (tx) => {
    const found = (await tx.query<RepeatRow>(q.sql, q.params)).rows;
    const ids = [...new Set(found.map((r) => r.person_id))];
    // Names only for an identified list; secondary use reads the facts of those with a consent
    // directive or restriction alone and decides everyone else at once (access/many-people.ts).
    const people = how.identified ? await personDetails(tx, ids) : new Map<string, { nhs_number: string | null; name: string | null }>();
    const { shown: shownIds, withheld } = await decideListed(tx, policy, { principal: ctx.principal, purpose: ctx.purpose, identified: how.identified }, now, ids, how.identified ? people : undefined);
    const shown = found.filter((r) => shownIds.has(r.person_id));
    const control = (n: number) => (how.disclosureControl ? disclosureControl(n) : n);
    const per = new Map<string | null, { repeats: number; people: Set<string>; byTest: Map<string, number> }>();
    for (const r of shown) {
      const p = per.get(r.practice) ?? { repeats: 0, people: new Set<string>(), byTest: new Map<string, number>() };
      per.set(r.practice, p);
      p.repeats++;
      p.people.add(r.person_id);
      p.byTest.set(r.test, (p.byTest.get(r.test) ?? 0) + 1);
    }
    const result: DuplicateTestsResult = {
      since: opts.since ?? null,
      until,
      practice: how.practice,
      view: how.identified ? 'identified' : 'pseudonymised',
      disclosureControl: how.disclosureControl,
      total: { repeats: control(shown.length), people: control(shownIds.size) },
      byPractice: [...per.entries()]
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])))
        .map(([practice, p]) => ({ practice, repeats: control(p.repeats), people: control(p.people.size), byTest: Object.fromEntries([...p.byTest.entries()].sort().map(([t, n]) => [t, control(n)])) })),
      withheld: { restricted: control(withheld.restricted), optedOut: control(withheld.optedOut), dissent: control(withheld.dissent) },
      intervals: opts.intervals.map((i) => ({ test: i.test, title: i.title, days: i.days, source: i.source })),
      seconds: 0,
    };
    const entries: AuditEntry[] = [];
    if (opts.output === 'list') {
      const common = (r: RepeatRow): RepeatBase => {
        const t = byTest.get(r.test)!;
        return {
          practice: r.practice,
          test: r.test,
          title: t.title,
          intervalDays: t.days,
          first: { at: r.first_at, setting: r.first_setting, sources: r.first_sources },
          repeat: { at: r.repeat_at, setting: r.repeat_setting, sources: r.repeat_sources },
          daysApart: Math.round((r.hours_apart / 24) * 10) / 10,
        };
      };
      if (how.identified) {
        result.repeats = shown.map((r) => {
          const p = people.get(r.person_id);
          return { personId: r.person_id, nhsNumber: p?.nhs_number ?? null, name: p?.name ?? null, record: `Patient/${r.person_id}`, ...common(r) };
        });
        for (const id of shownIds) entries.push(base({ action: `${action}.person`, personId: id, decision: 'permit', reason: decision.reason, detail: { repeats: shown.filter((r) => r.person_id === id).length } }));
      } else {
        const key = await pseudonymKey(tx);
        // Secondary use: the dates without the time of day (a sample's exact instant is a quasi-identifier).
        result.repeats = shown.map((r) => {
          const c = common(r);
          return { pseudonym: pseudonymFor(key, r.person_id), ...c, first: { ...c.first, at: c.first.at.slice(0, 10) }, repeat: { ...c.repeat, at: c.repeat.at.slice(0, 10) } };
        });
      }
    }
    result.seconds = Math.round(performance.now() - started) / 1000;
    entries.unshift(base({ decision: 'permit', reason: decision.reason, detail: { practice: how.practice, since: result.since, until, view: result.view, found: found.length, shown: shown.length, people: shownIds.size, withheld } }));
    await appendAuditBatch(tx, entries, now);
    return result;
  });
}

async function personDetails(tx: Queryable, ids: string[]): Promise<Map<string, { nhs_number: string | null; name: string | null }>> {
  const out = new Map<string, { nhs_number: string | null; name: string | null }>();
  if (!ids.length) return out;
  const r = await tx.query<{ person_id: string; nhs_number: string | null; family: string | null; given: string | null }>(
    `SELECT p.person_id::text AS person_id, p.nhs_number, s.family, s.given
       FROM person p
       LEFT JOIN LATERAL (SELECT family, given FROM source_identity si WHERE si.person_id = p.person_id
                           ORDER BY (si.source_system LIKE 'gp:%') DESC, si.updated_at DESC LIMIT 1) s ON true
      WHERE p.person_id = ANY($1::uuid[])`,
    [ids],
  );
  for (const x of r.rows) out.set(x.person_id, { nhs_number: x.nhs_number, name: [x.given, x.family].filter(Boolean).join(' ') || null });
  return out;
}

/** The repeats as CSV (identified or pseudonymised), or the counts per practice and test. */
export function duplicateTestsCsv(r: DuplicateTestsResult): string {
  const esc = (v: unknown) => {
    const s = v === null || v === undefined ? '' : String(v);
    const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const lines: string[] = [];
  const tail = (x: RepeatBase) => [x.practice, x.test, x.first.at, x.first.setting, x.first.sources.join(' '), x.repeat.at, x.repeat.setting, x.repeat.sources.join(' '), x.daysApart, x.intervalDays];
  const head = 'practice,test,first_at,first_setting,first_sources,repeat_at,repeat_setting,repeat_sources,days_apart,interval_days';
  if (r.repeats && r.view === 'identified') {
    lines.push(`person_id,nhs_number,name,${head}`);
    for (const x of r.repeats as IdentifiedRepeat[]) lines.push([x.personId, x.nhsNumber, x.name, ...tail(x)].map(esc).join(','));
  } else if (r.repeats) {
    lines.push(`pseudonym,${head}`);
    for (const x of r.repeats as PseudonymisedRepeat[]) lines.push([x.pseudonym, ...tail(x)].map(esc).join(','));
  } else {
    lines.push('practice,test,repeats');
    for (const p of r.byPractice) for (const [t, n] of Object.entries(p.byTest)) lines.push([p.practice, t, n === null ? '*' : n].map(esc).join(','));
  }
  return lines.join('\n') + '\n';
}
