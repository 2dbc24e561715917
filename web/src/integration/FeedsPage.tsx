/**
 * Feeds (`/integration/feeds`): each source system with its last message ("4 min ago"), its
 * counts of accepted, ignored and quarantined messages, and a chart of messages per hour over
 * the last 24 hours or 7 days (the chart's code loads on demand). Counts only: no personal
 * data. Read again every minute; the chart's source and range are in the URL.
 */
import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Tag } from 'nhsuk-react-components';
import { getFeedHourly, getFeeds, type FeedHourly, type FeedsStatus, type HourlyRange } from '../api/integration.ts';
import { formatDateTime } from '../lib/dates.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { feedRows, RANGES, type FeedRow } from './feeds.ts';
import { QUARANTINE_PATH } from './nav.ts';
import { isRefused, Problem, problemText } from './Problem.tsx';
import { FRESHNESS_LABEL, type Freshness } from './time-ago.ts';

const FeedChart = lazy(() => import('./FeedChart.tsx'));
const REFRESH_MS = 60_000;
const TAG: Record<Freshness, 'green' | 'yellow' | 'red' | 'grey'> = { recent: 'green', quiet: 'yellow', silent: 'red', never: 'grey' };

type Load<T> = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; value: T };

export default function FeedsPage() {
  usePageTitle('Feeds');
  const [params, setParams] = useSearchParams();
  const source = params.get('source') || null;
  const range: HourlyRange = params.get('range') === '7d' ? '7d' : '24h';
  const [status, setStatus] = useState<Load<FeedsStatus>>({ kind: 'loading' });
  const [hourly, setHourly] = useState<Load<FeedHourly>>({ kind: 'loading' });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), REFRESH_MS);
    return () => clearInterval(t);
  }, []);

  useEffect(() => {
    const ac = new AbortController();
    getFeeds({ signal: ac.signal })
      .then((value) => setStatus({ kind: 'ok', value }))
      .catch((e) => !ac.signal.aborted && setStatus({ kind: 'error', message: problemText(e, "see the feeds' status"), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [tick]);

  useEffect(() => {
    const ac = new AbortController();
    getFeedHourly(source, range, { signal: ac.signal })
      .then((value) => setHourly({ kind: 'ok', value }))
      .catch((e) => !ac.signal.aborted && setHourly({ kind: 'error', message: problemText(e, 'see messages per hour'), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [source, range, tick]);

  const refresh = useCallback(() => setTick((n) => n + 1), []);
  const choose = (next: { source?: string | null; range?: HourlyRange }) => {
    const s = next.source !== undefined ? next.source : source;
    const r = next.range ?? range;
    setParams({ ...(s ? { source: s } : {}), ...(r !== '24h' ? { range: r } : {}) }, { replace: true });
  };

  const rows = status.kind === 'ok' ? feedRows(status.value) : [];
  // The chart's title names what it shows (the data that has arrived), not what was just asked for.
  const titleOf = (h: FeedHourly) => `Messages per hour: ${h.source ? rows.find((r) => r.source === h.source)?.label ?? h.source : 'all sources'}, ${RANGES.find((r) => r.value === h.range)!.label.toLowerCase()}`;
  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">Feeds</h1>
      {status.kind === 'loading' && <Loading what="the feeds" />}
      {status.kind === 'error' && <Problem title="The feeds could not be shown" message={status.message} retry={status.retry ? refresh : undefined} />}
      {status.kind === 'ok' && (
        <>
          <p className="nhsuk-body">
            Counts read at {formatDateTime(status.value.at)}; read again every minute.{' '}
            <button type="button" className="bevan-link-button" onClick={refresh}>
              Refresh now
            </button>
          </p>
          <ul className="bevan-int-totals" aria-label="All sources">
            <li>
              <span className="bevan-int-totals__n">{status.value.totals.accepted.toLocaleString('en-GB')}</span> accepted
            </li>
            <li>
              <span className="bevan-int-totals__n">{status.value.totals.ignored.toLocaleString('en-GB')}</span> ignored
            </li>
            <li>
              <span className="bevan-int-totals__n">{status.value.totals.quarantined.toLocaleString('en-GB')}</span> quarantined
              {status.value.totals.quarantinedOpen > 0 && (
                <>
                  {' '}
                  (<Link to={QUARANTINE_PATH}>{status.value.totals.quarantinedOpen} open</Link>)
                </>
              )}
            </li>
          </ul>
          <SourcesTable rows={rows} />
        </>
      )}
      {!(status.kind === 'error' && !status.retry) && (
        <section className="bevan-int-section" aria-labelledby="per-hour">
          <h2 className="nhsuk-heading-m" id="per-hour">
            Messages per hour
          </h2>
          <div className="bevan-int-controls">
            <div className="nhsuk-form-group">
              <label className="nhsuk-label" htmlFor="chart-source">
                Source system
              </label>
              <select className="nhsuk-select" id="chart-source" value={source ?? ''} onChange={(e) => choose({ source: e.currentTarget.value || null })}>
                <option value="">All sources</option>
                {rows
                  .filter((r) => r.source !== null)
                  .map((r) => (
                    <option key={r.source} value={r.source!}>
                      {r.label}
                    </option>
                  ))}
              </select>
            </div>
            <fieldset className="nhsuk-fieldset nhsuk-form-group">
              <legend className="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">Period</legend>
              <div className="nhsuk-radios nhsuk-radios--inline">
                {RANGES.map((r) => (
                  <div className="nhsuk-radios__item" key={r.value}>
                    <input className="nhsuk-radios__input" id={`range-${r.value}`} name="range" type="radio" value={r.value} checked={range === r.value} onChange={() => choose({ range: r.value })} />
                    <label className="nhsuk-label nhsuk-radios__label" htmlFor={`range-${r.value}`}>
                      {r.label}
                    </label>
                  </div>
                ))}
              </div>
            </fieldset>
          </div>
          {hourly.kind === 'loading' && <Loading what="messages per hour" />}
          {hourly.kind === 'error' && <Problem title="Messages per hour could not be shown" message={hourly.message} retry={hourly.retry ? refresh : undefined} />}
          {hourly.kind === 'ok' && (
            <Suspense fallback={<Loading what="the chart" />}>
              <FeedChart hourly={hourly.value} title={titleOf(hourly.value)} />
            </Suspense>
          )}
        </section>
      )}
    </div>
  );
}

function SourcesTable({ rows }: { rows: FeedRow[] }) {
  if (!rows.length) return <p className="nhsuk-body">Nothing has been received from any feed yet.</p>;
  return (
    <section aria-labelledby="sources-title">
      <h2 className="nhsuk-heading-m" id="sources-title">
        Source systems
      </h2>
      <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Source systems, as a table">
        <table className="nhsuk-table bevan-table bevan-int-feeds">
          <thead>
            <tr>
              <th scope="col">Source</th>
              <th scope="col">Last message</th>
              <th scope="col" className="bevan-int-num">
                Accepted
              </th>
              <th scope="col" className="bevan-int-num">
                Ignored
              </th>
              <th scope="col" className="bevan-int-num">
                Quarantined
              </th>
              <th scope="col">Last 24 hours</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.source ?? '(unknown)'} data-testid="feed-row">
                <th scope="row">
                  {r.label}
                  <span className="bevan-muted bevan-int-key">
                    {' '}
                    {r.source ?? 'quarantined items with no source'} · {r.setting} · {r.formats}
                  </span>
                </th>
                <td>
                  <span title={r.lastReceivedAt ? formatDateTime(r.lastReceivedAt) : undefined}>{r.lastText}</span>{' '}
                  <Tag modifier={TAG[r.freshness]} className="bevan-tag">
                    {FRESHNESS_LABEL[r.freshness]}
                  </Tag>
                </td>
                <td className="bevan-int-num">{r.accepted.toLocaleString('en-GB')}</td>
                <td className="bevan-int-num">{r.ignored.toLocaleString('en-GB')}</td>
                <td className="bevan-int-num">
                  {r.quarantined.toLocaleString('en-GB')}
                  {r.quarantinedOpen > 0 && (
                    <>
                      {' '}
                      <Link to={`${QUARANTINE_PATH}${r.source ? `?source=${encodeURIComponent(r.source)}` : ''}`} aria-label={`${r.quarantinedOpen} open in the quarantine from ${r.label}`}>
                        ({r.quarantinedOpen} open)
                      </Link>
                    </>
                  )}
                </td>
                <td>
                  {r.last24h.accepted} accepted, {r.last24h.ignored} ignored, {r.last24h.quarantined} quarantined
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
