/**
 * A person's record at `/person/{Patient id}`: the whole record from `$everything`, shown as the
 * banner, the summary, the sources, results charts (loaded on demand) and the timeline. A 403
 * shows the denied page (with break-glass when the policy allows it); a 404 says no record was
 * found. The time from opening the page to banner and summary on screen is marked with the
 * Performance API (`bevan:record-start` → `bevan:record-usable`, measure `bevan:record`).
 * Beside the record (web/README.md "Record page: identity, freshness, care team, audit"): alerts,
 * the care team, address and neighbourhood in the banner; feed freshness in Sources; the
 * identity view; who has looked at the record; and, under break-glass, a countdown to the end of
 * the emergency access (X-Bevan-Break-Glass-Expires), after which the page asks the server again
 * (and shows the denied page).
 */
import { lazy, Suspense, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useParams } from 'react-router';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { everything } from '../api/fhir.ts';
import { describeFailure, isApiError, outcomeText, deniedInPlainWords } from '../api/errors.ts';
import { todayLocal } from '../lib/dates.ts';
import { buildRecordView, type RecordView } from '../record/model.ts';
import { DeniedPage } from '../components/DeniedPage.tsx';
import { Loading } from '../components/Loading.tsx';
import { PatientBanner } from '../components/PatientBanner.tsx';
import { RecordSummary } from '../components/RecordSummary.tsx';
import { SourcesList } from '../components/SourcesList.tsx';
import { Timeline } from '../components/Timeline.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { WhenVisible } from '../components/WhenVisible.tsx';
import { auditOfPerson, BREAK_GLASS_EXPIRES_HEADER, type Answer } from '../api/record.ts';
import { breakGlassDeadline } from '../lib/break-glass.ts';
import { recordAlerts } from '../record/alerts.ts';
import { organisationNames } from '../record/care-team.ts';
import { sourceLabel } from '../record/sources.ts';
import { AuditTable } from '../components/AuditTable.tsx';
import { BreakGlassCountdown } from '../components/BreakGlassCountdown.tsx';
import { IdentityPanel } from '../components/IdentityPanel.tsx';
import { useRecordExtras } from '../components/useRecordExtras.ts';

/** After the countdown ends, wait this long before asking again (the server's Date header has whole seconds). */
const AFTER_BREAK_GLASS_MS = 1500;

const ResultsCharts = lazy(() => import('../components/ResultsCharts.tsx'));

type State =
  | { kind: 'loading' }
  | { kind: 'denied'; reason: string; retryError: string | null }
  | { kind: 'not-found' }
  | { kind: 'error'; message: string }
  | { kind: 'ok'; bundle: Bundle; complete: boolean; breakGlass: boolean };

export default function PersonPage() {
  const { id = '' } = useParams();
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [attempt, setAttempt] = useState<{ reason?: string; n: number; ended?: boolean }>({ n: 0 });
  // When the break-glass session the record rests on ends, by this browser's clock (from the server's answer).
  const [bgUntil, setBgUntil] = useState<number | null>(null);
  const noteBreakGlass = (expires: string | null, date: string | null, receivedAt: number) => setBgUntil(breakGlassDeadline(expires, date, receivedAt));

  useEffect(() => {
    performance.clearMarks('bevan:record-usable');
    performance.mark('bevan:record-start');
  }, [id]);

  useEffect(() => {
    const ac = new AbortController();
    if (!attempt.reason) setState({ kind: 'loading' });
    setBgUntil(null);
    everything(id, {
      signal: ac.signal,
      breakGlassReason: attempt.reason,
      onResponse: (h, at) => !ac.signal.aborted && noteBreakGlass(h.get(BREAK_GLASS_EXPIRES_HEADER), h.get('Date'), at),
      onPage: (soFar, done) => {
        if (!ac.signal.aborted) setState({ kind: 'ok', bundle: soFar, complete: done, breakGlass: !!attempt.reason });
      },
    }).catch((e) => {
      if (ac.signal.aborted) return;
      if (isApiError(e) && e.status === 403) {
        const reason = outcomeText(e.outcome) || e.message;
        setState((prev) => ({ kind: 'denied', reason: prev.kind === 'denied' && attempt.reason ? prev.reason : reason, retryError: attempt.reason ? deniedInPlainWords(reason).text : null }));
      } else if (isApiError(e) && e.status === 404) setState({ kind: 'not-found' });
      else if (!(isApiError(e) && e.status === 401)) setState({ kind: 'error', message: describeFailure(e) });
    });
    return () => ac.abort();
  }, [id, attempt]);

  if (state.kind === 'loading') return <Loading what="the record" delayMs={0} />;
  if (state.kind === 'denied') return <DeniedPage reason={state.reason} retryError={state.retryError} notice={attempt.ended ? 'Your emergency access to this record has ended.' : null} onBreakGlass={(reason) => setAttempt((a) => ({ reason, n: a.n + 1 }))} />;
  if (state.kind === 'not-found') return <NoRecord />;
  if (state.kind === 'error') return <Failed message={state.message} retry={() => setAttempt((a) => ({ n: a.n + 1 }))} />;
  return (
    <Record
      bundle={state.bundle}
      complete={state.complete}
      breakGlass={state.breakGlass}
      personId={id}
      breakGlassUntil={bgUntil}
      onAnswer={(a) => a.breakGlassExpires && noteBreakGlass(a.breakGlassExpires, a.serverDate, a.receivedAt)}
      onBreakGlassEnd={() => {
        // The record leaves the screen at once; the server is asked again when its session has surely ended.
        setState({ kind: 'loading' });
        setBgUntil(null);
        setTimeout(() => setAttempt((a) => ({ n: a.n + 1, ended: true })), AFTER_BREAK_GLASS_MS);
      }}
    />
  );
}

interface RecordProps {
  bundle: Bundle;
  complete: boolean;
  breakGlass: boolean;
  personId?: string;
  breakGlassUntil?: number | null;
  onAnswer?: (a: Answer<unknown>) => void;
  onBreakGlassEnd?: () => void;
}

function Record({ bundle, complete, breakGlass, personId = '', breakGlassUntil = null, onAnswer = () => {}, onBreakGlassEnd = () => {} }: RecordProps) {
  const today = todayLocal();
  const view: RecordView | Error = useMemo(() => {
    try {
      return buildRecordView(bundle, today);
    } catch (e) {
      return e as Error;
    }
  }, [bundle, today]);
  const resources = useMemo(() => {
    const m = new Map<string, Resource>();
    for (const e of bundle.entry ?? []) if (e.resource?.id) m.set(`${e.resource.resourceType}/${e.resource.id}`, e.resource);
    return m;
  }, [bundle]);
  usePageTitle(view instanceof Error ? 'Record' : view.patient.name);
  const extras = useRecordExtras(personId, onAnswer);
  const alerts = useMemo(() => (view instanceof Error ? [] : recordAlerts(view, bundle, today)), [view, bundle, today]);
  const info = extras.sources.kind === 'ok' ? extras.sources.info : null;
  const orgNames = useMemo(() => organisationNames(info), [info]);
  const loadAudit = useMemo(() => (o: { signal: AbortSignal; limit: number }) => auditOfPerson(personId, o), [personId]);
  const marked = useRef(false);
  useEffect(() => {
    if (marked.current || view instanceof Error) return;
    marked.current = true;
    // After the browser has painted the banner and summary.
    requestAnimationFrame(() =>
      setTimeout(() => {
        performance.mark('bevan:record-usable');
        try {
          performance.measure('bevan:record', 'bevan:record-start', 'bevan:record-usable');
        } catch {
          /* no start mark (the page was opened another way) */
        }
      }, 0),
    );
  }, [view]);

  if (view instanceof Error) return <Failed message={`The record could not be shown: ${view.message}`} />;
  return (
    <div className="bevan-record">
      {(breakGlass || breakGlassUntil !== null) && (
        <div className="bevan-breakglass" role="status">
          <strong>Emergency access (break glass).</strong> You are seeing this record because you declared an emergency. This is audited and the privacy officer has been alerted; it closes by itself after a short time.
          {breakGlassUntil !== null && <BreakGlassCountdown deadline={breakGlassUntil} onEnd={onBreakGlassEnd} />}
        </div>
      )}
      <PatientBanner p={view.patient} alerts={alerts} about={info ? { address: info.address, practice: info.registeredPractice } : null} careTeam={extras.careTeam} orgNames={orgNames} />
      <nav aria-label="On this page">
        <ul className="bevan-on-page">
          <li>
            <a href="#charts-title">Results over time</a>
          </li>
          <li>
            <a href="#timeline-title">Timeline</a>
          </li>
          <li>
            <a href="#identity-title">Identity</a>
          </li>
          <li>
            <a href="#audit-title">Who has looked at this record</a>
          </li>
        </ul>
      </nav>
      <div className="bevan-record__top">
        <RecordSummary v={view} />
        <aside className="bevan-record__side" aria-label="About this record">
          <SourcesList sources={view.sources} feeds={extras.feeds} />
          {view.withheld && (
            <div className="bevan-card bevan-withheld" role="note">
              <h2 className="nhsuk-heading-s bevan-card__title">Withheld</h2>
              <p className="nhsuk-body-s" data-testid="withheld">
                {view.withheld.message}
              </p>
              <p className="nhsuk-body-s bevan-muted">The access policy does not let you see these items. They are not shown or counted anywhere else on this page.</p>
            </div>
          )}
          {!complete && <Loading what="the rest of the record" delayMs={0} />}
        </aside>
      </div>
      <section className="bevan-results-charts" aria-labelledby="charts-title">
        <h2 className="nhsuk-heading-m" id="charts-title">
          Results over time
        </h2>
        <WhenVisible fallback={<Loading what="charts" />}>
          <Suspense fallback={<Loading what="charts" />}>
            <ResultsCharts observations={view.observations} />
          </Suspense>
        </WhenVisible>
      </section>
      <Timeline items={view.timeline} resources={resources} />
      <IdentityPanel state={extras.sources} labelOf={(s) => view.sourceLabels.get(s) ?? sourceLabel(s, new Map(), info?.identities.find((i) => i.system === s)?.setting)} />
      <section className="bevan-audit" aria-labelledby="audit-title">
        <h2 className="nhsuk-heading-m" id="audit-title">
          Who has looked at this record
        </h2>
        <p className="nhsuk-body">Everyone who opened, searched for or changed this record, newest first. The person can see this list too.</p>
        <WhenVisible fallback={<Loading what="who has looked" />}>
          <AuditTable load={loadAudit} orgNames={orgNames} caption="Who has looked at this record" />
        </WhenVisible>
      </section>
    </div>
  );
}

function NoRecord() {
  usePageTitle('No record found');
  return (
    <div className="bevan-narrow">
      <h1 className="nhsuk-heading-l">No record found</h1>
      <p className="nhsuk-body">There is no record at this address. The person may have been merged into another record, or the link may be incomplete.</p>
      <p className="nhsuk-body">
        <Link to="/search">Find a person</Link>
      </p>
    </div>
  );
}

function Failed({ message, retry }: { message: string; retry?: () => void }) {
  usePageTitle('The record could not be loaded');
  return (
    <div className="bevan-narrow">
      <h1 className="nhsuk-heading-l">The record could not be loaded</h1>
      <p className="nhsuk-body">{message}</p>
      {retry && (
        <button type="button" className="nhsuk-button" onClick={retry}>
          Try again
        </button>
      )}
    </div>
  );
}
