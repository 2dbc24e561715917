/**
 * One quarantined item (`/integration/quarantine/{id}`): why it was quarantined, where it came
 * from, the item as received (the server audits this view), and, while it is open: repair (edit
 * the text) and replay, or discard with a reason. An item about a restricted person is never
 * shown; it can still be replayed as it is (after a fix of the code) or discarded.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { Button, Details, Textarea } from 'nhsuk-react-components';
import { discardQuarantined, getQuarantined, replayQuarantined, type QuarantinedItem } from '../api/integration.ts';
import { isApiError, outcomeText } from '../api/errors.ts';
import { formatDateTime } from '../lib/dates.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { sourceLabel } from '../record/sources.ts';
import { FORMAT_LABEL } from './feeds.ts';
import { QUARANTINE_PATH } from './nav.ts';
import { isRefused, Problem, problemText } from './Problem.tsx';
import { describeReplay, discardReasonProblem, editableText, repairedText } from './quarantine.ts';

type Item = QuarantinedItem & { raw: string };
type State =
  | { kind: 'loading' }
  | { kind: 'withheld'; reason: string }
  | { kind: 'not-found' }
  | { kind: 'error'; message: string; retry: boolean }
  | { kind: 'ok'; item: Item };
type Done = { kind: 'replayed'; text: string } | { kind: 'discarded' } | null;

export default function QuarantineItemPage() {
  const { id: idText = '' } = useParams();
  const id = Number(idText);
  usePageTitle(`Quarantined item ${idText}`);
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [attempt, setAttempt] = useState(0);
  const [done, setDone] = useState<Done>(null);
  const doneRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!Number.isSafeInteger(id) || id < 1) {
      setState({ kind: 'not-found' });
      return;
    }
    const ac = new AbortController();
    getQuarantined(id, { signal: ac.signal })
      .then((item) => setState({ kind: 'ok', item }))
      .catch((e) => {
        if (ac.signal.aborted) return;
        if (isApiError(e) && e.status === 403 && /restricted/i.test(e.message)) setState({ kind: 'withheld', reason: e.message });
        else if (isApiError(e) && e.status === 404) setState({ kind: 'not-found' });
        else setState({ kind: 'error', message: problemText(e, 'see this item'), retry: !isRefused(e) });
      });
    return () => ac.abort();
  }, [id, attempt]);

  useEffect(() => {
    if (done) doneRef.current?.focus();
  }, [done]);

  const finished = (d: Done) => {
    setDone(d);
    setAttempt((n) => n + 1);
  };

  return (
    <div className="bevan-wide">
      <p className="nhsuk-body">
        <Link to={QUARANTINE_PATH} className="nhsuk-back-link__link">
          Back to the quarantine
        </Link>
      </p>
      <h1 className="nhsuk-heading-l">Quarantined item {idText}</h1>
      {done && (
        <div className="bevan-int-done" role="status" tabIndex={-1} ref={doneRef}>
          <h2 className="nhsuk-heading-s">{done.kind === 'replayed' ? 'Replayed' : 'Discarded'}</h2>
          <p className="nhsuk-body">{done.kind === 'replayed' ? done.text : 'The item is closed and kept for the record.'}</p>
          <p className="nhsuk-body">
            <Link to={QUARANTINE_PATH}>Back to the open items</Link>
          </p>
        </div>
      )}
      {state.kind === 'loading' && <Loading what="the item" />}
      {state.kind === 'not-found' && <p className="nhsuk-body-l">There is no quarantined item {idText}.</p>}
      {state.kind === 'error' && <Problem title="The item could not be shown" message={state.message} retry={state.retry ? () => setAttempt((n) => n + 1) : undefined} />}
      {state.kind === 'withheld' && (
        <>
          <div className="nhsuk-inset-text">
            <p>This item is about a restricted person (a sensitive or protected record), so it is not shown to anyone through this service.</p>
            <p className="bevan-muted">{state.reason}</p>
          </div>
          {!done && (
            <>
              <ReplayAsItIs id={id} onDone={finished} />
              <DiscardForm id={id} onDone={finished} />
            </>
          )}
        </>
      )}
      {state.kind === 'ok' && <ItemView item={state.item} onDone={finished} showForms={state.item.status === 'open'} />}
    </div>
  );
}

function ItemView({ item, onDone, showForms }: { item: Item; onDone: (d: Done) => void; showForms: boolean }) {
  const facts: [string, string][] = [
    ['Status', item.status === 'open' ? 'Open' : item.status === 'replayed' ? 'Replayed' : 'Discarded'],
    ['Reason', item.reason],
    ['Source', item.source_system ? `${sourceLabel(item.source_system)} (${item.source_system})` : 'Not known'],
    ['Format', FORMAT_LABEL[item.format] ?? item.format],
    ['Message id', item.message_id ?? 'Not known'],
    ['From', item.origin],
    ['Received', `${formatDateTime(item.received_at)}${item.times_seen > 1 ? ` (seen ${item.times_seen} times)` : ''}`],
    ['About', item.personIds.length ? `${item.personIds.length} known ${item.personIds.length === 1 ? 'person' : 'people'}` : 'Nobody known yet'],
    ...(item.resolved_at ? ([['Resolved', `${formatDateTime(item.resolved_at)}: ${item.resolution ?? ''}`]] as [string, string][]) : []),
  ];
  return (
    <>
      <dl className="nhsuk-summary-list">
        {facts.map(([k, v]) => (
          <div className="nhsuk-summary-list__row" key={k}>
            <dt className="nhsuk-summary-list__key">{k}</dt>
            <dd className="nhsuk-summary-list__value">{v}</dd>
          </div>
        ))}
      </dl>
      <section aria-labelledby="raw-title">
        <h2 className="nhsuk-heading-m" id="raw-title">
          The item as received
        </h2>
        <p className="nhsuk-body-s bevan-muted">Your view of this item is recorded in the audit log.</p>
        <pre className="bevan-int-raw" tabIndex={0} aria-labelledby="raw-title" data-testid="quarantine-raw">
          {editableText(item.raw)}
        </pre>
      </section>
      {showForms && (
        <>
          <RepairForm item={item} onDone={onDone} />
          <DiscardForm id={item.quarantine_id} onDone={onDone} />
        </>
      )}
    </>
  );
}

function RepairForm({ item, onDone }: { item: Item; onDone: (d: Done) => void }) {
  const [text, setText] = useState(editableText(item.raw));
  const [source, setSource] = useState('');
  const [errors, setErrors] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const summary = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (errors.length) summary.current?.focus();
  }, [errors]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setErrors([]);
    try {
      const repaired = repairedText(item.format, item.raw, text);
      const answer = await replayQuarantined(item.quarantine_id, { ...(repaired !== null ? { text: repaired } : {}), ...(source.trim() ? { source: source.trim() } : {}) });
      onDone({ kind: 'replayed', text: describeReplay(answer) });
    } catch (err) {
      setErrors(replayProblems(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate aria-labelledby="repair-title" className="bevan-int-section">
      <h2 className="nhsuk-heading-m" id="repair-title">
        Repair and replay
      </h2>
      {errors.length > 0 && (
        <div className="nhsuk-error-summary" role="alert" tabIndex={-1} ref={summary} aria-labelledby="repair-error-title">
          <h3 className="nhsuk-error-summary__title" id="repair-error-title">
            The item was not replayed
          </h3>
          <div className="nhsuk-error-summary__body">
            <ul className="nhsuk-list nhsuk-error-summary__list">
              {errors.map((x) => (
                <li key={x}>{x}</li>
              ))}
            </ul>
          </div>
        </div>
      )}
      <Textarea
        id="repaired-text"
        name="text"
        label="Repaired text"
        hint="Correct the item, then replay it. Replaying it unchanged tries it as it is (after a fix to a feed or to Bevan). Nothing is written unless every part of it is accepted."
        rows={Math.min(16, Math.max(4, text.split('\n').length + 1))}
        value={text}
        onChange={(e) => setText(e.currentTarget.value)}
        spellCheck={false}
        className="bevan-int-textarea"
      />
      {item.source_system === null && (
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="replay-source">
            Source system (optional)
          </label>
          <div className="nhsuk-hint" id="replay-source-hint">
            The source of this item could not be told. Name it if you know it, for example gp:P91001 or hl7:RM2.
          </div>
          <input className="nhsuk-input nhsuk-input--width-20" id="replay-source" value={source} onChange={(e) => setSource(e.currentTarget.value)} aria-describedby="replay-source-hint" spellCheck={false} />
        </div>
      )}
      <Button type="submit" disabled={busy}>
        Replay
      </Button>
    </form>
  );
}

function ReplayAsItIs({ id, onDone }: { id: number; onDone: (d: Done) => void }) {
  const [errors, setErrors] = useState<string[]>([]);
  return (
    <section aria-labelledby="as-is-title" className="bevan-int-section">
      <h2 className="nhsuk-heading-m" id="as-is-title">
        Replay as it is
      </h2>
      <p className="nhsuk-body">After a fix to a feed or to Bevan, replay the item unchanged. Its reasons stay withheld if it is still rejected.</p>
      {errors.length > 0 && <Problem title="The item was not replayed" message={errors.join('; ')} />}
      <Button type="button" secondary onClick={() => replayQuarantined(id, {}).then((a) => onDone({ kind: 'replayed', text: describeReplay(a) }), (e) => setErrors(replayProblems(e)))}>
        Replay as it is
      </Button>
    </section>
  );
}

function DiscardForm({ id, onDone }: { id: number; onDone: (d: Done) => void }) {
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | null>(null);
  const area = useRef<HTMLTextAreaElement>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    const problem = discardReasonProblem(reason);
    if (problem) {
      setError(problem);
      area.current?.focus();
      return;
    }
    try {
      await discardQuarantined(id, reason.trim());
      onDone({ kind: 'discarded' });
    } catch (err) {
      setError(isApiError(err) && err.status === 409 ? 'The item is not open any more: someone has replayed or discarded it.' : problemText(err, 'discard this item'));
    }
  }
  return (
    <Details className="bevan-int-section">
      <Details.Summary>Discard this item</Details.Summary>
      <Details.Text>
        <form onSubmit={submit} noValidate aria-label="Discard this item">
          <p>Discard an item that will never be replayed (a test message, a duplicate sent by mistake). It is kept for the record.</p>
          <Textarea id="discard-reason" name="reason" label="Reason for discarding" rows={2} maxLength={500} ref={area} value={reason} onChange={(e) => setReason(e.currentTarget.value)} error={error ?? undefined} />
          <Button type="submit" warning>
            Discard item
          </Button>
        </form>
      </Details.Text>
    </Details>
  );
}

/** A replay's refusal as a list a person can act on: every reason the server gave. */
function replayProblems(err: unknown): string[] {
  if (isApiError(err) && err.status === 400) {
    const issues = (err.outcome?.issue ?? []).map((i) => i.diagnostics ?? '').filter(Boolean);
    return issues.length ? issues : [outcomeText(err.outcome) || err.message];
  }
  if (isApiError(err) && err.status === 409) return ['The item is not open any more: someone has replayed or discarded it.'];
  return [problemText(err, 'replay this item')];
}
