/**
 * The commissioner's dashboard (`/analytics/commissioning?by=setting|practice|neighbourhood|cohort|locality&from=&to=`):
 * use and cost of care by month (a stacked chart and a table), the shift of contacts from hospital
 * to the community, each source's freshness, and a drill-down from a cohort to its people
 * (pseudonymised for analysts). Figures are disclosure-controlled by the server.
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { getCommissioning, type CommissioningDashboard, type FigureFreshness, type Grouping } from './api.ts';
import { COHORT_PATH, freshnessText, monthLabel, SETTING_LABEL, showCount, showMoney } from './dashboards.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { formatDateTime } from '../lib/dates.ts';
import { timeAgo } from '../integration/time-ago.ts';
import { isRefused, Problem, problemText } from '../integration/Problem.tsx';

const UseCharts = lazy(() => import('./UseCharts.tsx'));

const GROUPINGS: { value: Grouping; label: string }[] = [
  { value: 'setting', label: 'Setting' },
  { value: 'neighbourhood', label: 'Neighbourhood' },
  { value: 'practice', label: 'Practice' },
  { value: 'cohort', label: 'Cohort' },
  { value: 'locality', label: 'Whole locality' },
];

type Load<T> = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; value: T };

export default function CommissionerPage() {
  usePageTitle('Use and cost of care');
  const [params, setParams] = useSearchParams();
  const by = (GROUPINGS.find((g) => g.value === params.get('by'))?.value ?? 'setting') as Grouping;
  const from = params.get('from') ?? undefined;
  const to = params.get('to') ?? undefined;
  const [data, setData] = useState<Load<CommissioningDashboard>>({ kind: 'loading' });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const ac = new AbortController();
    setData({ kind: 'loading' });
    getCommissioning({ by, from, to }, { signal: ac.signal })
      .then((value) => setData({ kind: 'ok', value }))
      .catch((e) => !ac.signal.aborted && setData({ kind: 'error', message: problemText(e, 'see use and cost of care'), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [by, from, to, tick]);

  const what = GROUPINGS.find((g) => g.value === by)!.label.toLowerCase();
  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">Use and cost of care</h1>
      <form
        className="bevan-filters"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const next: Record<string, string> = { by: String(f.get('by')) };
          for (const k of ['from', 'to']) if (f.get(k)) next[k] = String(f.get(k));
          setParams(next);
        }}
      >
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="by">
            Group by
          </label>
          <select className="nhsuk-select" id="by" name="by" defaultValue={by} key={by}>
            {GROUPINGS.map((g) => (
              <option key={g.value} value={g.value}>
                {g.label}
              </option>
            ))}
          </select>
        </div>
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="from">
            From month
          </label>
          <input className="nhsuk-input nhsuk-input--width-10" id="from" name="from" type="month" defaultValue={from} />
        </div>
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="to">
            To month
          </label>
          <input className="nhsuk-input nhsuk-input--width-10" id="to" name="to" type="month" defaultValue={to} />
        </div>
        <button className="nhsuk-button nhsuk-button--secondary" type="submit">
          Show
        </button>
      </form>
      {data.kind === 'loading' && <Loading what="use and cost of care" />}
      {data.kind === 'error' && <Problem title="Use and cost of care could not be shown" message={data.message} retry={data.retry ? () => setTick((n) => n + 1) : undefined} />}
      {data.kind === 'ok' && <Dashboard d={data.value} what={what} />}
    </div>
  );
}

/** The sources behind a row, briefly: which (or how many), and the least recent last message among them. */
function rowFreshness(f: FigureFreshness, now: number): string {
  if (!f.sources.length) return '–';
  const names = f.sources.length <= 2 ? f.sources.join(', ') : `${f.sources.length} sources`;
  return `${names}: oldest last heard ${timeAgo(f.oldestLastMessageAt, now)}`;
}

function Dashboard({ d, what }: { d: CommissioningDashboard; what: string }) {
  const now = Date.now();
  const months = [...d.months].reverse();
  const keyName = (name: string) => (d.by === 'setting' ? (SETTING_LABEL[name] ?? name) : name);
  return (
    <>
      <p className="nhsuk-body">
        {monthLabel(d.from)} to {monthLabel(d.to)}, tariff-costed. People and activity counts from 1 to 7 are suppressed and others rounded to the nearest 5; a cost behind fewer than 8 people is suppressed.
      </p>
      <div className="nhsuk-inset-text" data-testid="freshness">
        <span className="nhsuk-u-visually-hidden">Information: </span>
        <p>{freshnessText(d.freshness, now)}</p>
      </div>
      <Suspense fallback={<Loading what="the charts" />}>
        <UseCharts data={d} what={what} />
      </Suspense>

      <section aria-labelledby="use-table-title">
        <h2 className="nhsuk-heading-m" id="use-table-title">
          Use and cost by month and {what}
        </h2>
        <details className="bevan-chart__table" open={d.by === 'cohort'}>
        <summary>Show use and cost as a table{d.by === 'cohort' ? ', with each cohort’s people' : ''}</summary>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label={`Use and cost by month and ${what}, as a table`}>
          <table className="nhsuk-table bevan-table" data-testid="use-table">
            <thead>
              <tr>
                <th scope="col">Month</th>
                <th scope="col">{what.charAt(0).toUpperCase() + what.slice(1)}</th>
                <th scope="col">People</th>
                <th scope="col">Cost</th>
                <th scope="col">Activity</th>
                <th scope="col">Data as of</th>
              </tr>
            </thead>
            <tbody>
              {months.flatMap((m) =>
                d.rows
                  .filter((r) => r.month === m)
                  .map((r) => (
                    <tr key={`${m}|${r.key}`}>
                      <td>{monthLabel(m)}</td>
                      <td>{r.drillDown ? <Link to={`${COHORT_PATH}/${r.key}`}>{r.name}</Link> : keyName(r.name)}</td>
                      <td>{showCount(r.people)}</td>
                      <td>{showMoney(r.costGbp)}</td>
                      <td className="nhsuk-body-s">
                        {Object.entries(r.activity)
                          .map(([a, n]) => `${a.replace(/-/g, ' ')}: ${showCount(n)}`)
                          .join('; ')}
                      </td>
                      <td className="nhsuk-body-s">{rowFreshness(r.freshness, now)}</td>
                    </tr>
                  )),
              )}
            </tbody>
          </table>
        </div>
        </details>
      </section>

      <section aria-labelledby="sources-title">
        <h2 className="nhsuk-heading-m" id="sources-title">Data freshness by source</h2>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Data freshness by source, as a table">
          <table className="nhsuk-table bevan-table" data-testid="sources-table">
            <thead>
              <tr>
                <th scope="col">Source</th>
                <th scope="col">Setting</th>
                <th scope="col">Last message</th>
                <th scope="col">Latest activity</th>
              </tr>
            </thead>
            <tbody>
              {d.freshness.sources.map((s) => (
                <tr key={s.source}>
                  <td>{s.source}</td>
                  <td>{s.setting ? (SETTING_LABEL[s.setting] ?? s.setting) : 'not known'}</td>
                  <td>{s.lastMessageAt ? `${formatDateTime(s.lastMessageAt)} (${timeAgo(s.lastMessageAt, now)})` : 'never'}</td>
                  <td>{s.latestActivity ?? '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}
