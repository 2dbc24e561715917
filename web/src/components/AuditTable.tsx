/**
 * "Who has looked at this record": the audit entries about the person, grouped into visits
 * (record/audit.ts), as a table — who, role, organisation, when, what, purpose. Used on the record
 * page (`GET /audit/person/{id}`, for the person's care team and others the policy lets see it)
 * and on "Who has looked at my record" (`GET /audit/me`, for the person themselves).
 */
import { useEffect, useMemo, useState } from 'react';
import type { AccessPage, Answer } from '../api/record.ts';
import { describeFailure, isApiError, outcomeText, deniedInPlainWords } from '../api/errors.ts';
import { formatDateTime } from '../lib/dates.ts';
import { describeVisit, groupVisits, PURPOSE_LABEL, ROLE_LABEL } from '../record/audit.ts';
import './record-extras.css';

type State = { kind: 'loading' } | { kind: 'ok'; page: AccessPage; limit: number } | { kind: 'denied'; text: string } | { kind: 'error'; text: string };

export const AUDIT_LIMIT = 200;

/** Loads the entries with `load` and shows them; `refresh` changes make it load again. */
export function AuditTable({ load, orgNames, caption, refresh = 0, whose = 'this record' }: { load: (o: { signal: AbortSignal; limit: number }) => Promise<Answer<AccessPage>>; orgNames?: ReadonlyMap<string, string>; caption: string; refresh?: number; whose?: string }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  useEffect(() => {
    const ac = new AbortController();
    setState({ kind: 'loading' });
    load({ signal: ac.signal, limit: AUDIT_LIMIT }).then(
      (a) => !ac.signal.aborted && setState({ kind: 'ok', page: a.body, limit: AUDIT_LIMIT }),
      (e) => {
        if (ac.signal.aborted || (isApiError(e) && e.status === 401)) return;
        if (isApiError(e) && e.status === 403) setState({ kind: 'denied', text: deniedInPlainWords(outcomeText(e.outcome) || e.message).text });
        else setState({ kind: 'error', text: describeFailure(e) });
      },
    );
    return () => ac.abort();
  }, [load, refresh]);
  const visits = useMemo(() => (state.kind === 'ok' ? groupVisits(state.page.entries) : []), [state]);

  if (state.kind === 'loading')
    return (
      <p className="nhsuk-body bevan-muted" role="status">
        Loading who has looked…
      </p>
    );
  if (state.kind === 'denied')
    return (
      <p className="nhsuk-body" data-testid="audit-denied">
        You cannot see who has looked at {whose}. {state.text}
      </p>
    );
  if (state.kind === 'error') return <p className="nhsuk-body">{state.text}</p>;
  if (visits.length === 0) return <p className="nhsuk-body">Nobody has looked at {whose} yet.</p>;
  const org = (code: string | null) => (code ? (orgNames?.get(code) ? `${orgNames.get(code)} (${code})` : code) : '—');
  return (
    <>
      <div className="bevan-table-scroll bevan-audit__scroll" tabIndex={0} role="region" aria-label={`${caption} (table)`}>
        <table className="nhsuk-table bevan-table bevan-audit__table" data-testid="audit-table">
          <caption className="nhsuk-table__caption nhsuk-u-visually-hidden">{caption}</caption>
          <thead className="nhsuk-table__head">
            <tr>
              <th scope="col">Who</th>
              <th scope="col">Role</th>
              <th scope="col">Organisation</th>
              <th scope="col">When</th>
              <th scope="col">What</th>
              <th scope="col">Purpose</th>
            </tr>
          </thead>
          <tbody className="nhsuk-table__body">
            {visits.map((v) => (
              <tr key={v.key}>
                <td>{v.who}</td>
                <td>{v.role ? (ROLE_LABEL[v.role] ?? v.role) : '—'}</td>
                <td>{org(v.organisation)}</td>
                <td>{formatDateTime(v.last)}</td>
                <td className={v.decision === 'deny' ? 'bevan-audit__refused' : undefined}>
                  {describeVisit(v)}
                  {v.breakGlass ? <strong> — emergency access</strong> : null}
                </td>
                <td>{v.purpose ? (PURPOSE_LABEL[v.purpose] ?? v.purpose) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="nhsuk-body-s bevan-muted">
        {state.page.entries.length >= state.limit ? `The latest ${state.limit} entries, ` : `${state.page.entries.length} entr${state.page.entries.length === 1 ? 'y' : 'ies'}, `}
        grouped into {visits.length} visit{visits.length === 1 ? '' : 's'}. Looking at this list is recorded too.
      </p>
    </>
  );
}
