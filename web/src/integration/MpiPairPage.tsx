/**
 * One MPI review pair (`/integration/mpi-review/{id}`), worked by a person: both identities side
 * by side (name, date of birth, sex, NHS number, postcode, address, practice, source and id), the
 * evidence for and against (the matcher's comparison of each field and its weight), and the
 * decision: Link (one person) or Reject (two people), with Undo. The server audits the view and
 * the decision, and refuses a decision the MPI cannot safely carry out (the records moved, two
 * different NHS numbers without the person's say-so).
 */
import { useEffect, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { Button, Tag, WarningCallout } from 'nhsuk-react-components';
import { decideReview, getReview, listReviews, undoReview, type ReviewChoice, type ReviewPair } from '../api/integration.ts';
import { isApiError } from '../api/errors.ts';
import { formatDateTime } from '../lib/dates.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { sourceLabel } from '../record/sources.ts';
import { evidenceRows, matcherWouldSay, needsNhsOverride, nextInQueue, probabilityText, sideBySide, STATUS_WORDS, weightText } from './mpi-review.ts';
import { MPI_REVIEW_PATH } from './nav.ts';
import { isRefused, Problem, problemText } from './Problem.tsx';

type State = { kind: 'loading' } | { kind: 'withheld'; reason: string } | { kind: 'not-found' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; pair: ReviewPair };
type Notice = { kind: 'decided'; choice: ReviewChoice } | { kind: 'undone' } | { kind: 'refused'; message: string } | null;

const DONE_WORDS: Record<ReviewChoice, string> = {
  link: 'Linked: the two records are now one person.',
  reject: 'Rejected: the two records stay two people.',
  dismiss: 'Dismissed: the pair is closed with no change.',
};

export default function MpiPairPage() {
  const { id: idText = '' } = useParams();
  const id = Number(idText);
  usePageTitle(`MPI review: pair ${idText}`);
  const navigate = useNavigate();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);
  const [override, setOverride] = useState(false);
  const [queue, setQueue] = useState<number[]>([]);
  const noticeRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    setNotice(null);
    setOverride(false);
  }, [id]);

  useEffect(() => {
    if (!Number.isSafeInteger(id) || id < 1) {
      setState({ kind: 'not-found' });
      return;
    }
    const ac = new AbortController();
    getReview(id, { signal: ac.signal })
      .then((pair) => setState({ kind: 'ok', pair }))
      .catch((e) => {
        if (ac.signal.aborted) return;
        if (isApiError(e) && e.status === 403 && /restricted/i.test(e.message)) setState({ kind: 'withheld', reason: e.message });
        else if (isApiError(e) && e.status === 404) setState({ kind: 'not-found' });
        else setState({ kind: 'error', message: problemText(e, 'see this pair'), retry: !isRefused(e) });
      });
    return () => ac.abort();
  }, [id, attempt]);

  // The open queue, for "Next pair".
  useEffect(() => {
    const ac = new AbortController();
    listReviews({ status: 'open', offset: 0, limit: 200 }, { signal: ac.signal })
      .then((p) => setQueue(p.items.filter((i) => !i.withheld).map((i) => i.reviewId)))
      .catch(() => undefined);
    return () => ac.abort();
  }, [attempt]);

  useEffect(() => {
    if (notice) noticeRef.current?.focus();
  }, [notice]);

  async function decide(choice: ReviewChoice) {
    setBusy(true);
    try {
      await decideReview(id, choice, override);
      setNotice({ kind: 'decided', choice });
    } catch (e) {
      setNotice({ kind: 'refused', message: isApiError(e) && e.status === 409 ? e.message : problemText(e, 'decide this pair') });
    } finally {
      setBusy(false);
      setAttempt((n) => n + 1);
    }
  }

  async function undo() {
    setBusy(true);
    try {
      await undoReview(id);
      setNotice({ kind: 'undone' });
    } catch (e) {
      setNotice({ kind: 'refused', message: isApiError(e) && e.status === 409 ? e.message : problemText(e, 'undo this decision') });
    } finally {
      setBusy(false);
      setAttempt((n) => n + 1);
    }
  }

  const next = nextInQueue(queue, id);
  return (
    <div className="bevan-wide">
      <p className="nhsuk-body">
        <Link to={MPI_REVIEW_PATH}>Back to the queue</Link>
      </p>
      <h1 className="nhsuk-heading-l">
        Pair {idText}
        {state.kind === 'ok' && <span className="nhsuk-caption-l"> {STATUS_WORDS[state.pair.status]}</span>}
      </h1>
      {notice && (
        <div className={notice.kind === 'refused' ? 'nhsuk-error-summary' : 'bevan-int-done'} role={notice.kind === 'refused' ? 'alert' : 'status'} tabIndex={-1} ref={noticeRef} data-testid="review-notice">
          <h2 className={notice.kind === 'refused' ? 'nhsuk-error-summary__title' : 'nhsuk-heading-s'}>{notice.kind === 'refused' ? 'Not done' : notice.kind === 'undone' ? 'Undone' : 'Done'}</h2>
          <p className="nhsuk-body">{notice.kind === 'decided' ? DONE_WORDS[notice.choice] : notice.kind === 'undone' ? 'The decision is undone: the records are as they were, and the pair is waiting again.' : notice.message}</p>
          {notice.kind === 'decided' && (
            <div className="bevan-buttons">
              <Button type="button" secondary onClick={() => void undo()} disabled={busy}>
                Undo
              </Button>
              {next !== null && (
                <Button type="button" onClick={() => navigate(`${MPI_REVIEW_PATH}/${next}`)}>
                  Next pair
                </Button>
              )}
            </div>
          )}
        </div>
      )}
      {state.kind === 'loading' && <Loading what="the pair" />}
      {state.kind === 'not-found' && <p className="nhsuk-body-l">There is no review pair {idText}.</p>}
      {state.kind === 'error' && <Problem title="The pair could not be shown" message={state.message} retry={state.retry ? () => setAttempt((n) => n + 1) : undefined} />}
      {state.kind === 'withheld' && (
        <div className="nhsuk-inset-text">
          <p>This pair concerns a restricted person (a sensitive or protected record), so it is not shown to anyone through this service. It is decided by whoever holds the database.</p>
          <p className="bevan-muted">{state.reason}</p>
        </div>
      )}
      {state.kind === 'ok' && (
        <PairView
          pair={state.pair}
          busy={busy}
          override={override}
          setOverride={setOverride}
          decide={(c) => void decide(c)}
          undo={() => void undo()}
          showUndo={!notice || notice.kind !== 'decided'}
          next={next}
        />
      )}
    </div>
  );
}

function PairView({ pair, busy, override, setOverride, decide, undo, showUndo, next }: { pair: ReviewPair; busy: boolean; override: boolean; setOverride: (b: boolean) => void; decide: (c: ReviewChoice) => void; undo: () => void; showUndo: boolean; next: number | null }) {
  const rows = sideBySide(pair.identity, pair.candidate);
  const e = pair.evidence;
  const ev = evidenceRows(e);
  const nhsConflict = needsNhsOverride(e);
  const left = `${sourceLabel(pair.identity.system)}, ${pair.identity.id}`;
  const right = `${sourceLabel(pair.candidate.system)}, ${pair.candidate.id}`;
  return (
    <>
      <p className="nhsuk-body">
        Queued {formatDateTime(pair.createdAt)} by {pair.origin === 'feed' ? 'a feed instruction' : 'the matcher'}
        {pair.status !== 'open' && pair.decidedBy ? `; decided by ${pair.decidedBy}${pair.decidedAt ? ` on ${formatDateTime(pair.decidedAt)}` : ''}` : ''}.
      </p>
      {e.feed && (
        <div className="nhsuk-inset-text">
          <p>
            A feed asked for this ({e.feed.event ?? e.feed.kind}): {e.feed.reason}
          </p>
        </div>
      )}
      {pair.moved && pair.status === 'open' && (
        <WarningCallout>
          <WarningCallout.Heading>The records have moved since this pair was queued</WarningCallout.Heading>
          <p>One of them is now part of another person, so linking or rejecting is refused. Dismiss the pair, then look at the persons as they are now.</p>
        </WarningCallout>
      )}
      <section aria-labelledby="pair-title">
        <h2 className="nhsuk-heading-m" id="pair-title">
          The two records side by side
        </h2>
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="The two records, as a table">
          <table className="nhsuk-table bevan-table bevan-int-pair">
            <thead>
              <tr>
                <th scope="col">
                  <span className="nhsuk-u-visually-hidden">Detail</span>
                </th>
                <th scope="col">Record 1: {left}</th>
                <th scope="col">Record 2: {right}</th>
                <th scope="col">Agree?</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.label} className={r.same === false ? 'bevan-int-differs' : undefined}>
                  <th scope="row">{r.label}</th>
                  <td>{r.left}</td>
                  <td>{r.right}</td>
                  <td>{r.same === null ? '—' : r.same ? 'Same' : <strong>Different</strong>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="evidence-title" className="bevan-int-section">
        <h2 className="nhsuk-heading-m" id="evidence-title">
          Evidence
        </h2>
        <p className="nhsuk-body" data-testid="review-probability">
          Chance they are one person: <strong>{probabilityText(e.probability)}</strong> (total weight {weightText(e.total)}; the matcher links from {weightText(e.thresholds.match)} and asks a person from {weightText(e.thresholds.possible)}: {matcherWouldSay(e)}).
        </p>
        {e.conflict && (
          <p className="nhsuk-body">
            <Tag modifier="orange" className="bevan-tag">
              Against
            </Tag>{' '}
            {e.conflict.charAt(0).toUpperCase() + e.conflict.slice(1)}: as far as the NHS knows, these are two people.
          </p>
        )}
        <div className="bevan-int-evidence">
          <div>
            <h3 className="nhsuk-heading-s">For one person</h3>
            {ev.forOne.length ? (
              <ul className="bevan-list" aria-label="Evidence for one person">
                {ev.forOne.map((r) => (
                  <li key={r.label}>
                    {r.label}: {r.words.toLowerCase()} <span className="bevan-muted">({r.weight})</span>
                  </li>
                ))}
              </ul>
            ) : (
              <p className="bevan-none">Nothing.</p>
            )}
          </div>
          <div>
            <h3 className="nhsuk-heading-s">Against</h3>
            {ev.against.length ? (
              <ul className="bevan-list" aria-label="Evidence against">
                {ev.against.map((r) => (
                  <li key={r.label}>
                    {r.label}: {r.words.toLowerCase()} <span className="bevan-muted">({r.weight})</span>
                  </li>
                ))}
              </ul>
            ) : (
              <p className="bevan-none">Nothing.</p>
            )}
          </div>
        </div>
        {e.household.applied && e.household.cap !== null && (
          <p className="nhsuk-body-s">
            They agree on everything one household shares (family name, date of birth, address), so those fields count at most {weightText(e.household.cap)} together (they add up to {weightText(e.household.sum)}): twins and family members look like this.
          </p>
        )}
        <details className="bevan-chart__table">
          <summary>How each field was weighed</summary>
          <table className="nhsuk-table bevan-table">
            <thead>
              <tr>
                <th scope="col">Field</th>
                <th scope="col">Comparison</th>
                <th scope="col">Weight</th>
              </tr>
            </thead>
            <tbody>
              {ev.rows.map((r) => (
                <tr key={r.label}>
                  <td>{r.label}</td>
                  <td>{r.words}</td>
                  <td>{r.weight}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="nhsuk-body-s">
            Weights are log2(m/u) from the matcher's {e.parameters === 'estimated' ? 'latest estimate on this population' : 'defaults (it has not run yet)'}; the weight when queued was {weightText(e.queuedWeight)}.
          </p>
        </details>
      </section>
      <section aria-labelledby="decide-title" className="bevan-int-section">
        <h2 className="nhsuk-heading-m" id="decide-title">
          Decision
        </h2>
        {pair.status === 'open' ? (
          <>
            {nhsConflict && (
              <div className="nhsuk-form-group">
                <div className="nhsuk-checkboxes">
                  <div className="nhsuk-checkboxes__item">
                    <input className="nhsuk-checkboxes__input" id="nhs-override" type="checkbox" checked={override} onChange={(ev2) => setOverride(ev2.currentTarget.checked)} />
                    <label className="nhsuk-label nhsuk-checkboxes__label" htmlFor="nhs-override">
                      I have checked: they are one person although they have different NHS numbers
                    </label>
                  </div>
                </div>
              </div>
            )}
            <div className="bevan-buttons">
              <Button type="button" onClick={() => decide('link')} disabled={busy}>
                Link
              </Button>
              <Button type="button" secondary onClick={() => decide('reject')} disabled={busy}>
                Reject
              </Button>
              <button type="button" className="bevan-link-button" onClick={() => decide('dismiss')} disabled={busy}>
                Dismiss without deciding
              </button>
            </div>
            <p className="nhsuk-body-s bevan-muted">Link: one person (all their records together). Reject: two people. Each decision is recorded in the audit log and can be undone.</p>
          </>
        ) : (
          <>
            <p className="nhsuk-body">{STATUS_WORDS[pair.status]}.</p>
            <div className="bevan-buttons">
              {showUndo && (
                <Button type="button" secondary onClick={undo} disabled={busy}>
                  Undo
                </Button>
              )}
              {next !== null && showUndo && (
                <Link className="nhsuk-button" to={`${MPI_REVIEW_PATH}/${next}`}>
                  Next pair
                </Link>
              )}
            </div>
          </>
        )}
      </section>
    </>
  );
}
