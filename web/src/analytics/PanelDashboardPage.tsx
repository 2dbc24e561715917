/**
 * A clinical panel's dashboard (`/analytics/panels/{panel}`; `?practice=` or `?neighbourhood=` for
 * an analyst): the panel's aims with their progress, its registers with counts (each a link to its
 * people, as the policy allows), and an SPC chart of each of its measures with special causes
 * marked and its tolerance. A GP or practice nurse sees their own practice; an analyst any place,
 * under disclosure control. The freshness of the figures is said at the top.
 */
import { lazy, Suspense, useEffect, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { Tag } from 'nhsuk-react-components';
import { getPanel, getPanels, type MeasureView, type PanelDashboard } from './api.ts';
import { AIM_STATUS_COLOUR, AIM_STATUS_LABEL, COHORT_PATH, freshnessText, monthLabel, PANELS_PATH, showCount } from './dashboards.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { formatDate } from '../lib/dates.ts';
import { isRefused, Problem, problemText } from '../integration/Problem.tsx';

const SpcChart = lazy(() => import('./SpcChart.tsx'));

type Load<T> = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; value: T };

export default function PanelDashboardPage() {
  const { panel = 'diabetes' } = useParams();
  const [params] = useSearchParams();
  const practice = params.get('practice') ?? undefined;
  const neighbourhood = params.get('neighbourhood') ?? undefined;
  const [panels, setPanels] = useState<{ panel: string; title: string }[]>([]);
  const [data, setData] = useState<Load<PanelDashboard>>({ kind: 'loading' });
  const [tick, setTick] = useState(0);
  const title = data.kind === 'ok' ? `${capitalise(data.value.title)} panel` : 'Clinical panel';
  usePageTitle(title);

  useEffect(() => {
    const ac = new AbortController();
    getPanels({ signal: ac.signal }).then((r) => setPanels(r.panels)).catch(() => undefined);
    return () => ac.abort();
  }, []);
  useEffect(() => {
    const ac = new AbortController();
    setData({ kind: 'loading' });
    getPanel(panel, { practice, neighbourhood }, { signal: ac.signal })
      .then((value) => setData({ kind: 'ok', value }))
      .catch((e) => !ac.signal.aborted && setData({ kind: 'error', message: problemText(e, "see this panel's figures"), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [panel, practice, neighbourhood, tick]);

  const keep = params.toString() ? `?${params.toString()}` : '';
  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">{title}</h1>
      {panels.length > 0 && (
        <nav aria-label="Clinical panels" className="bevan-panel-nav">
          <ul>
            {panels.map((p) => (
              <li key={p.panel}>
                <Link to={`${PANELS_PATH}/${p.panel}${keep}`} aria-current={p.panel === panel ? 'page' : undefined}>
                  {capitalise(p.title)}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
      )}
      {data.kind === 'loading' && <Loading what="the panel's figures" />}
      {data.kind === 'error' && <Problem title="The panel's figures could not be shown" message={data.message} retry={data.retry ? () => setTick((n) => n + 1) : undefined} />}
      {data.kind === 'ok' && <Dashboard d={data.value} />}
    </div>
  );
}

function Dashboard({ d }: { d: PanelDashboard }) {
  const aims = d.measures.filter((m) => m.aim);
  return (
    <>
      <p className="nhsuk-body" data-testid="panel-place">
        Figures for <strong>{d.place.name}</strong>
        {d.disclosureControl ? '. Counts from 1 to 7 are suppressed and others rounded to the nearest 5 (secondary use).' : ', exact (direct care).'}
      </p>
      <div className="nhsuk-inset-text" data-testid="freshness">
        <span className="nhsuk-u-visually-hidden">Information: </span>
        <p>{freshnessText(d.freshness, Date.now())}</p>
      </div>

      <section aria-labelledby="aims-title">
        <h2 className="nhsuk-heading-m" id="aims-title">Aims</h2>
        {aims.length === 0 && <p className="nhsuk-body">This panel has set no aims yet.</p>}
        <ul className="bevan-aims" aria-label="Aims">
          {aims.map((m) => (
            <AimCard key={m.measure.id} m={m} />
          ))}
        </ul>
      </section>

      <section aria-labelledby="registers-title">
        <h2 className="nhsuk-heading-m" id="registers-title">Registers</h2>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Registers, as a table">
          <table className="nhsuk-table bevan-table">
            <thead>
              <tr>
                <th scope="col">Register</th>
                <th scope="col">People</th>
                <th scope="col">A year ago</th>
                <th scope="col">People on it</th>
              </tr>
            </thead>
            <tbody>
              {d.registers.map((r) => (
                <tr key={r.name}>
                  <td>
                    {r.title}
                    {r.description && <div className="bevan-muted nhsuk-body-s">{r.description}</div>}
                  </td>
                  <td data-testid={`register-count-${r.name}`}>{r.count === null && !r.trend.length ? 'not built yet' : showCount(r.count)}</td>
                  <td>{r.trend.length ? showCount(r.trend[0]!.count) : '–'}</td>
                  <td>
                    <Link to={`${COHORT_PATH}/${r.name}`}>
                      See the people<span className="nhsuk-u-visually-hidden"> on {r.title}</span>
                    </Link>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>

      <section aria-labelledby="measures-title">
        <h2 className="nhsuk-heading-m" id="measures-title">Measures over time</h2>
        <p className="nhsuk-body-s">
          Statistical process control (XmR) charts: the mean and process limits (mean ± 2.66 × the mean moving range); a point is special cause when it lies beyond a limit, 7 in a row sit on one side of the mean or rise or fall, or 2 of 3 lie near a limit.
        </p>
        <Suspense fallback={<Loading what="the charts" />}>
          {d.measures.map((m) => (
            <SpcChart key={m.measure.id} view={m} />
          ))}
        </Suspense>
      </section>
    </>
  );
}

function AimCard({ m }: { m: MeasureView }) {
  const a = m.aim!;
  const latest = a.latest?.value ?? null;
  const pct = a.progress === null ? 0 : Math.round(a.progress * 100);
  return (
    <li className="bevan-aim" data-testid={`aim-${m.measure.id}`}>
      <h3 className="nhsuk-heading-s">{a.statement}</h3>
      <p className="nhsuk-body-s">
        <Tag color={AIM_STATUS_COLOUR[a.status]}>{AIM_STATUS_LABEL[a.status]}</Tag>{' '}
        Target {a.target} {m.measure.unit} by {formatDate(a.by)}; {latest === null ? 'no figure yet' : `${latest} in ${monthLabel(a.latest!.month)}`}
        {a.baseline && a.baseline.value !== null ? ` (from ${a.baseline.value} in ${monthLabel(a.baseline.month)})` : ''}.
      </p>
      <div className="bevan-aim__bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct} aria-label={`Progress towards the aim: ${pct}%`}>
        <span style={{ width: `${pct}%` }} />
      </div>
    </li>
  );
}

function capitalise(s: string): string {
  return s.length <= 3 ? s.toUpperCase() : s.charAt(0).toUpperCase() + s.slice(1);
}
