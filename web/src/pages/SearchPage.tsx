/**
 * Find a person: one field (NHS number, name, date of birth, postcode, or several of them),
 * submitted with Enter or Search; the query lives in the URL (`/search?q=…`) so Back and a
 * shared link repeat it. Results are only the people the access policy lets this user find.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Button, Tag } from 'nhsuk-react-components';
import type { Patient } from '@medplum/fhirtypes';
import { nextPatients, searchPatients } from '../api/fhir.ts';
import { describeFailure, isApiError } from '../api/errors.ts';
import { parseSearchInput } from '../lib/search-input.ts';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { describeAge, formatDate, todayLocal } from '../lib/dates.ts';
import { patientView } from '../record/model.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';

type State =
  | { kind: 'idle' }
  | { kind: 'invalid'; message: string }
  | { kind: 'loading' }
  | { kind: 'error'; message: string }
  | { kind: 'done'; total: number; patients: Patient[]; next: string | null; described: string[]; warnings: string[]; more: boolean };

export default function SearchPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  usePageTitle(q ? `Find a person: ${q}` : 'Find a person');
  const [text, setText] = useState(q);
  const [state, setState] = useState<State>({ kind: 'idle' });
  const input = useRef<HTMLInputElement>(null);
  const results = useRef<HTMLHeadingElement>(null);

  useEffect(() => setText(q), [q]);
  useEffect(() => {
    if (!q) {
      setState({ kind: 'idle' });
      input.current?.focus();
      return;
    }
    const parsed = parseSearchInput(q);
    if (parsed.kind === 'invalid') {
      setState({ kind: 'invalid', message: parsed.message });
      return;
    }
    const ac = new AbortController();
    setState({ kind: 'loading' });
    searchPatients(parsed.params, { signal: ac.signal })
      .then((page) => {
        setState({ kind: 'done', total: page.total, patients: page.patients, next: page.next, described: parsed.described, warnings: page.warnings, more: false });
      })
      .catch((e) => {
        if (ac.signal.aborted) return;
        setState({ kind: 'error', message: isApiError(e) && e.status === 403 ? `You cannot search for people: ${e.message.replace(/^access denied:\s*/i, '')}` : isApiError(e) && e.status === 413 ? e.message : describeFailure(e) });
      });
    return () => ac.abort();
  }, [q]);

  useEffect(() => {
    if (state.kind === 'done' && !state.more) results.current?.focus();
  }, [state]);

  function submit(e: FormEvent) {
    e.preventDefault();
    const parsed = parseSearchInput(text);
    if (parsed.kind === 'invalid') {
      setState({ kind: 'invalid', message: parsed.message });
      input.current?.focus();
      return;
    }
    setParams({ q: text.trim() });
  }

  async function more() {
    if (state.kind !== 'done' || !state.next) return;
    try {
      const page = await nextPatients(state.next);
      setState({ ...state, patients: [...state.patients, ...page.patients], next: page.next, more: true });
    } catch (e) {
      setState({ kind: 'error', message: describeFailure(e) });
    }
  }

  const invalid = state.kind === 'invalid' ? state.message : undefined;
  const today = todayLocal();
  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">Find a person</h1>
      <form role="search" onSubmit={submit} noValidate className="bevan-search">
        <div className={`nhsuk-form-group${invalid ? ' nhsuk-form-group--error' : ''}`}>
          <label className="nhsuk-label" htmlFor="find">
            Find a person
          </label>
          <div className="nhsuk-hint" id="find-hint">
            NHS number, name, date of birth (for example 12/03/1950) or postcode — or several, such as a surname and a date of birth
          </div>
          {invalid && (
            <span className="nhsuk-error-message" id="find-error">
              <span className="nhsuk-u-visually-hidden">Error:</span> {invalid}
            </span>
          )}
          <div className="bevan-search__row">
            <input ref={input} className={`nhsuk-input${invalid ? ' nhsuk-input--error' : ''}`} id="find" name="q" type="search" autoComplete="off" spellCheck={false} value={text} onChange={(e) => setText(e.currentTarget.value)} aria-describedby={`find-hint${invalid ? ' find-error' : ''}`} />
            <Button type="submit">Search</Button>
          </div>
        </div>
      </form>
      {state.kind === 'loading' && <Loading what="results" />}
      {state.kind === 'error' && (
        <div className="nhsuk-error-summary" role="alert" tabIndex={-1}>
          <h2 className="nhsuk-error-summary__title">The search did not work</h2>
          <div className="nhsuk-error-summary__body">
            <p>{state.message}</p>
          </div>
        </div>
      )}
      {state.kind === 'done' && (
        <section aria-labelledby="results-title">
          <h2 className="nhsuk-heading-m" id="results-title" ref={results} tabIndex={-1}>
            {state.total === 0 ? 'No one found' : `${state.total} ${state.total === 1 ? 'person' : 'people'} found`}
            <span className="nhsuk-caption-m"> for {state.described.join(', ')}</span>
          </h2>
          {state.total === 0 && <p className="nhsuk-body">Check the spelling or the number, or search another way. You can find only people whose records you are allowed to see.</p>}
          {state.warnings.map((w) => (
            <p className="nhsuk-body-s" key={w}>
              {w}
            </p>
          ))}
          <ul className="bevan-results">
            {state.patients.map((p) => (
              <ResultItem key={p.id} patient={p} today={today} />
            ))}
          </ul>
          {state.next && (
            <Button secondary type="button" onClick={() => void more()}>
              Show more people
            </Button>
          )}
        </section>
      )}
    </div>
  );
}

function ResultItem({ patient, today }: { patient: Patient; today: string }) {
  const v = patientView(patient, today);
  return (
    <li className="bevan-result">
      <p className="bevan-result__name">
        <Link to={`/person/${encodeURIComponent(v.id)}`}>{v.name}</Link>
        {v.restricted && (
          <Tag modifier="red" className="bevan-tag">
            Restricted record
          </Tag>
        )}
        {v.deceased && (
          <Tag modifier="grey" className="bevan-tag">
            Deceased
          </Tag>
        )}
      </p>
      <dl className="bevan-result__facts">
        <div>
          <dt>NHS number</dt>
          <dd>{v.nhsNumber ? formatNhsNumber(v.nhsNumber) : 'not known'}</dd>
        </div>
        <div>
          <dt>Born</dt>
          <dd>
            {v.birthDate ? formatDate(v.birthDate) : 'not known'}
            {v.age !== null && !v.deceased ? ` (${describeAge(v.age)})` : ''}
          </dd>
        </div>
        <div>
          <dt>GP practice</dt>
          <dd>{v.practice ? `${v.practice.name}${v.practice.ods ? ` (${v.practice.ods})` : ''}` : 'not known'}</dd>
        </div>
        {v.address && (
          <div>
            <dt>Postcode</dt>
            <dd>{v.address}</dd>
          </div>
        )}
      </dl>
    </li>
  );
}
