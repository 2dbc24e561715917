/**
 * A register's people (`/analytics/cohorts/{name}`), the drill-down from the dashboards: for a GP
 * or practice nurse their own practice's people, identified, each a link to the record (which the
 * policy decides again when opened); for an analyst pseudonyms only. The server decides and
 * audits (GET /analytics/cohorts/{name}?output=list).
 */
import { useEffect, useState } from 'react';
import { Link, useParams } from 'react-router';
import { getCohortMembers, type CohortMembers } from './api.ts';
import { showCount } from './dashboards.ts';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { formatDate } from '../lib/dates.ts';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { isRefused, Problem, problemText } from '../integration/Problem.tsx';

type Load<T> = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; value: T };

export default function CohortPage() {
  const { name = '' } = useParams();
  const [data, setData] = useState<Load<CohortMembers>>({ kind: 'loading' });
  const [tick, setTick] = useState(0);
  usePageTitle(data.kind === 'ok' ? data.value.title : 'Register');
  useEffect(() => {
    const ac = new AbortController();
    getCohortMembers(name, { signal: ac.signal })
      .then((value) => setData({ kind: 'ok', value }))
      .catch((e) => !ac.signal.aborted && setData({ kind: 'error', message: problemText(e, "see this register's people"), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [name, tick]);
  if (data.kind === 'loading') return <Loading what="the register" />;
  if (data.kind === 'error') return <Problem title="The register could not be shown" message={data.message} retry={data.retry ? () => setTick((n) => n + 1) : undefined} />;
  const c = data.value;
  const members = c.members ?? [];
  return (
    <div className="bevan-wide">
      <h1 className="nhsuk-heading-l">{c.title}</h1>
      <p className="nhsuk-body" data-testid="cohort-count">
        {showCount(c.count, 'people')}
        {c.practice ? ` registered at ${c.practice}` : ' in the locality'}
        {c.view === 'pseudonymised' ? '; pseudonymised (secondary use): records cannot be opened from here.' : '.'}
      </p>
      <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="People on the register">
        <table className="nhsuk-table bevan-table" data-testid="cohort-members">
          <thead>
            {c.view === 'identified' ? (
              <tr>
                <th scope="col">Name</th>
                <th scope="col">NHS number</th>
                <th scope="col">Date of birth</th>
              </tr>
            ) : (
              <tr>
                <th scope="col">Pseudonym</th>
                <th scope="col">Practice</th>
              </tr>
            )}
          </thead>
          <tbody>
            {members.map((m, i) =>
              c.view === 'identified' ? (
                <tr key={m.personId ?? i}>
                  <td>
                    <Link to={`/person/${m.personId}`}>{m.name ?? 'Name not known'}</Link>
                  </td>
                  <td>{m.nhsNumber ? formatNhsNumber(m.nhsNumber) : '–'}</td>
                  <td>{m.birthDate ? formatDate(m.birthDate) : '–'}</td>
                </tr>
              ) : (
                <tr key={m.pseudonym ?? i}>
                  <td>
                    <code>{m.pseudonym?.slice(0, 16)}</code>
                  </td>
                  <td>{m.practice ?? '–'}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
