/**
 * The MPI review queue (`/integration/mpi-review?status=&offset=`): pairs of identities the
 * matcher (or a feed) was unsure were one person, strongest first, without their demographics;
 * each opens on its own page, side by side, to be linked or rejected. Decided pairs can be
 * listed too (to undo a decision).
 */
import { useEffect, useState } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router';
import { Button, Tag } from 'nhsuk-react-components';
import { listReviews, type ReviewQueuePage, type ReviewStatus } from '../api/integration.ts';
import { formatDateTime } from '../lib/dates.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { sourceLabel } from '../record/sources.ts';
import { probabilityText, REVIEW_STATUS_CHOICES, STATUS_WORDS } from './mpi-review.ts';
import { MPI_REVIEW_PATH } from './nav.ts';
import { isRefused, Problem, problemText } from './Problem.tsx';
import { pageRange } from './quarantine.ts';

const PAGE = 20;
type State = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; page: ReviewQueuePage };

export default function MpiReviewPage() {
  usePageTitle('MPI review');
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const status = (REVIEW_STATUS_CHOICES.find((s) => s.value === params.get('status'))?.value ?? 'open') as ReviewStatus;
  const offsetAsked = Number(params.get('offset'));
  const offset = Number.isInteger(offsetAsked) && offsetAsked > 0 ? offsetAsked : 0;
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    const ac = new AbortController();
    setState({ kind: 'loading' });
    listReviews({ status, offset, limit: PAGE }, { signal: ac.signal })
      .then((page) => setState({ kind: 'ok', page }))
      .catch((e) => !ac.signal.aborted && setState({ kind: 'error', message: problemText(e, 'see the MPI review queue'), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [status, offset, attempt]);

  const link = (s: ReviewStatus, o: number) => `${MPI_REVIEW_PATH}?${new URLSearchParams({ ...(s !== 'open' ? { status: s } : {}), ...(o ? { offset: String(o) } : {}) })}`;
  const firstOpen = state.kind === 'ok' && status === 'open' ? state.page.items.find((i) => !i.withheld) : undefined;

  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">MPI review</h1>
      <p className="nhsuk-body">Pairs of records that may be the same person. Work through them pair by pair: compare the two side by side, then link them (one person) or reject them (two people). Every decision can be undone.</p>
      <fieldset className="nhsuk-fieldset nhsuk-form-group">
        <legend className="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">Show</legend>
        <div className="nhsuk-radios nhsuk-radios--inline">
          {REVIEW_STATUS_CHOICES.map((s) => (
            <div className="nhsuk-radios__item" key={s.value}>
              <input className="nhsuk-radios__input" id={`rs-${s.value}`} name="review-status" type="radio" checked={status === s.value} onChange={() => setParams(s.value === 'open' ? {} : { status: s.value })} />
              <label className="nhsuk-label nhsuk-radios__label" htmlFor={`rs-${s.value}`}>
                {s.label}
              </label>
            </div>
          ))}
        </div>
      </fieldset>
      {state.kind === 'loading' && <Loading what="the queue" />}
      {state.kind === 'error' && <Problem title="The queue could not be shown" message={state.message} retry={state.retry ? () => setAttempt((n) => n + 1) : undefined} />}
      {state.kind === 'ok' && (
        <section aria-labelledby="queue-title">
          <h2 className="nhsuk-heading-m" id="queue-title">
            {state.page.total === 0 ? (status === 'open' ? 'No pairs waiting' : 'No pairs') : `${state.page.total} ${state.page.total === 1 ? 'pair' : 'pairs'} ${status === 'open' ? 'waiting' : status}`}
            <span className="nhsuk-caption-m"> {pageRange(state.page.total, state.page.offset, state.page.limit, state.page.items.length).text}</span>
          </h2>
          {firstOpen && (
            <Button type="button" onClick={() => navigate(`${MPI_REVIEW_PATH}/${firstOpen.reviewId}`)}>
              Start with the first pair
            </Button>
          )}
          <ul className="bevan-results" data-testid="review-queue">
            {state.page.items.map((i) => (
              <li className="bevan-result" key={i.reviewId}>
                <p className="bevan-result__name">
                  <Link to={`${MPI_REVIEW_PATH}/${i.reviewId}`}>Pair {i.reviewId}</Link>
                  <span className="bevan-muted">
                    {' '}
                    {sourceLabel(i.systems[0])} and {sourceLabel(i.systems[1])}
                  </span>
                  {i.withheld && (
                    <Tag modifier="red" className="bevan-tag">
                      Withheld: restricted person
                    </Tag>
                  )}
                  {i.conflict && (
                    <Tag modifier="orange" className="bevan-tag">
                      Different NHS numbers
                    </Tag>
                  )}
                  {i.moved && (
                    <Tag modifier="grey" className="bevan-tag">
                      Records moved since
                    </Tag>
                  )}
                </p>
                <dl className="bevan-result__facts">
                  <div>
                    <dt>Queued by</dt>
                    <dd>{i.origin === 'feed' ? 'a feed instruction' : 'the matcher'}</dd>
                  </div>
                  {i.probability !== null && (
                    <div>
                      <dt>Chance they are one person</dt>
                      <dd>{probabilityText(i.probability)}</dd>
                    </div>
                  )}
                  <div>
                    <dt>Queued</dt>
                    <dd>{formatDateTime(i.createdAt)}</dd>
                  </div>
                  {i.status !== 'open' && (
                    <div>
                      <dt>Decision</dt>
                      <dd>
                        {STATUS_WORDS[i.status]}
                        {i.decidedBy ? ` by ${i.decidedBy}` : ''}
                        {i.decidedAt ? `, ${formatDateTime(i.decidedAt)}` : ''}
                      </dd>
                    </div>
                  )}
                </dl>
              </li>
            ))}
          </ul>
          <Pages total={state.page.total} offset={state.page.offset} shown={state.page.items.length} to={(o) => link(status, o)} />
        </section>
      )}
    </div>
  );
}

function Pages({ total, offset, shown, to }: { total: number; offset: number; shown: number; to: (offset: number) => string }) {
  const r = pageRange(total, offset, PAGE, shown);
  if (r.previous === null && r.next === null) return null;
  return (
    <nav className="nhsuk-pagination" role="navigation" aria-label="Pages of the queue">
      <ul className="nhsuk-list nhsuk-pagination__list">
        {r.previous !== null && (
          <li className="nhsuk-pagination-item--previous">
            <Link className="nhsuk-pagination__link nhsuk-pagination__link--prev" to={to(r.previous)}>
              <span className="nhsuk-pagination__title">Previous</span>
              <span className="nhsuk-u-visually-hidden">:</span>
              <span className="nhsuk-pagination__page">Earlier in the queue</span>
            </Link>
          </li>
        )}
        {r.next !== null && (
          <li className="nhsuk-pagination-item--next">
            <Link className="nhsuk-pagination__link nhsuk-pagination__link--next" to={to(r.next)}>
              <span className="nhsuk-pagination__title">Next</span>
              <span className="nhsuk-u-visually-hidden">:</span>
              <span className="nhsuk-pagination__page">Later in the queue</span>
            </Link>
          </li>
        )}
      </ul>
    </nav>
  );
}
