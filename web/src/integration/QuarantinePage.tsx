/**
 * The quarantine (`/integration/quarantine?status=&source=&format=&offset=`): items the feeds
 * could not take in, newest first, with the reason for each (never the raw text here), filtered
 * by status, source system and format, a page at a time. Each item opens on its own page (the
 * raw item, repair and replay, discard). The server audits every look.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Button, Tag } from 'nhsuk-react-components';
import { getFeeds, listQuarantine, type QuarantinePage as Page } from '../api/integration.ts';
import { formatDateTime } from '../lib/dates.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { sourceLabel } from '../record/sources.ts';
import { FORMAT_LABEL } from './feeds.ts';
import { QUARANTINE_PATH } from './nav.ts';
import { isRefused, Problem, problemText } from './Problem.tsx';
import { filterParams, FORMATS, pageRange, parseQuarantineFilter, QUARANTINE_STATUSES } from './quarantine.ts';
import { timeAgo } from './time-ago.ts';

type State = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; page: Page };

export default function QuarantinePage() {
  usePageTitle('Quarantine');
  const [params, setParams] = useSearchParams();
  const filter = parseQuarantineFilter(params);
  const key = JSON.stringify(filter);
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [sources, setSources] = useState<string[]>([]);
  const [form, setForm] = useState({ status: filter.status, source: filter.source ?? '', format: filter.format ?? '' });
  const [attempt, setAttempt] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => setForm({ status: filter.status, source: filter.source ?? '', format: filter.format ?? '' }), [key]);

  useEffect(() => {
    const ac = new AbortController();
    setState({ kind: 'loading' });
    listQuarantine(filter, { signal: ac.signal })
      .then((page) => setState({ kind: 'ok', page }))
      .catch((e) => !ac.signal.aborted && setState({ kind: 'error', message: problemText(e, 'see the quarantine'), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [key, attempt]);

  // The sources that ever had an item quarantined, for the filter (the list works without them).
  useEffect(() => {
    const ac = new AbortController();
    getFeeds({ signal: ac.signal })
      .then((s) => setSources(s.sources.filter((x) => x.quarantined > 0 && x.source !== null).map((x) => x.source!)))
      .catch(() => undefined);
    return () => ac.abort();
  }, []);

  function apply(e: FormEvent) {
    e.preventDefault();
    setParams(filterParams({ status: form.status, source: form.source || undefined, format: (form.format || undefined) as typeof filter.format, offset: 0 }));
  }
  const go = (offset: number) => `${QUARANTINE_PATH}?${new URLSearchParams(filterParams({ ...filter, offset }))}`;
  const choices = [...new Set([...sources, ...(filter.source ? [filter.source] : [])])].sort();

  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">Quarantine</h1>
      <p className="nhsuk-body">Messages and rows the feeds could not take in, with the reason. Open one to see it as received, repair it and replay it, or discard it. Every look is audited.</p>
      <form className="bevan-int-controls" onSubmit={apply} aria-label="Filter the quarantine">
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="q-status">
            Status
          </label>
          <select className="nhsuk-select" id="q-status" value={form.status} onChange={(e) => setForm({ ...form, status: e.currentTarget.value as typeof form.status })}>
            {QUARANTINE_STATUSES.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="q-source">
            Source system
          </label>
          <select className="nhsuk-select" id="q-source" value={form.source} onChange={(e) => setForm({ ...form, source: e.currentTarget.value })}>
            <option value="">All sources</option>
            {choices.map((s) => (
              <option key={s} value={s}>
                {sourceLabel(s)}
              </option>
            ))}
          </select>
        </div>
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="q-format">
            Format
          </label>
          <select className="nhsuk-select" id="q-format" value={form.format} onChange={(e) => setForm({ ...form, format: e.currentTarget.value })}>
            <option value="">All formats</option>
            {FORMATS.map((f) => (
              <option key={f.value} value={f.value}>
                {f.label}
              </option>
            ))}
          </select>
        </div>
        <div className="nhsuk-form-group">
          <Button type="submit" secondary>
            Apply filters
          </Button>
        </div>
      </form>
      {state.kind === 'loading' && <Loading what="the quarantine" />}
      {state.kind === 'error' && <Problem title="The quarantine could not be shown" message={state.message} retry={state.retry ? () => setAttempt((n) => n + 1) : undefined} />}
      {state.kind === 'ok' && <Items page={state.page} go={go} heading={heading} />}
    </div>
  );
}

function Items({ page, go, heading }: { page: Page; go: (offset: number) => string; heading: React.RefObject<HTMLHeadingElement | null> }) {
  const range = pageRange(page.total, page.offset, page.limit, page.items.length);
  const now = Date.now();
  return (
    <section aria-labelledby="q-results">
      <h2 className="nhsuk-heading-m" id="q-results" ref={heading} tabIndex={-1}>
        {page.total === 0 ? 'No items' : `${page.total} ${page.total === 1 ? 'item' : 'items'}`}
        <span className="nhsuk-caption-m"> {range.text}</span>
      </h2>
      {page.total === 0 && <p className="nhsuk-body">Nothing is in the quarantine with these filters.</p>}
      <ul className="bevan-results" data-testid="quarantine-items">
        {page.items.map((i) => (
          <li className="bevan-result" key={i.quarantine_id}>
            <p className="bevan-result__name">
              <Link to={`${QUARANTINE_PATH}/${i.quarantine_id}`}>Item {i.quarantine_id}</Link>
              <Tag modifier={i.status === 'open' ? 'orange' : i.status === 'replayed' ? 'green' : 'grey'} className="bevan-tag">
                {i.status === 'open' ? 'Open' : i.status === 'replayed' ? 'Replayed' : 'Discarded'}
              </Tag>
              {i.withheld && (
                <Tag modifier="red" className="bevan-tag">
                  Withheld: restricted person
                </Tag>
              )}
            </p>
            <p className="nhsuk-body bevan-int-reason">{i.reason}</p>
            <dl className="bevan-result__facts">
              <div>
                <dt>Source</dt>
                <dd>{i.source_system ? sourceLabel(i.source_system) : 'Not known'}</dd>
              </div>
              <div>
                <dt>Format</dt>
                <dd>{FORMAT_LABEL[i.format] ?? i.format}</dd>
              </div>
              <div>
                <dt>Received</dt>
                <dd title={formatDateTime(i.received_at)}>{timeAgo(i.received_at, now)}</dd>
              </div>
              <div>
                <dt>Seen</dt>
                <dd>{i.times_seen === 1 ? 'once' : `${i.times_seen} times`}</dd>
              </div>
              <div>
                <dt>From</dt>
                <dd>{i.origin}</dd>
              </div>
            </dl>
          </li>
        ))}
      </ul>
      {(range.previous !== null || range.next !== null) && (
        <nav className="nhsuk-pagination" role="navigation" aria-label="Pages of the quarantine">
          <ul className="nhsuk-list nhsuk-pagination__list">
            {range.previous !== null && (
              <li className="nhsuk-pagination-item--previous">
                <Link className="nhsuk-pagination__link nhsuk-pagination__link--prev" to={go(range.previous)}>
                  <span className="nhsuk-pagination__title">Previous</span>
                  <span className="nhsuk-u-visually-hidden">:</span>
                  <span className="nhsuk-pagination__page">Newer items</span>
                </Link>
              </li>
            )}
            {range.next !== null && (
              <li className="nhsuk-pagination-item--next">
                <Link className="nhsuk-pagination__link nhsuk-pagination__link--next" to={go(range.next)}>
                  <span className="nhsuk-pagination__title">Next</span>
                  <span className="nhsuk-u-visually-hidden">:</span>
                  <span className="nhsuk-pagination__page">Older items</span>
                </Link>
              </li>
            )}
          </ul>
        </nav>
      )}
    </section>
  );
}
