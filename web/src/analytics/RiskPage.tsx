/**
 * The risk list (`/analytics/risk?practice=&neighbourhood=&tier=`): the latest scoring's people at
 * highest risk of an emergency admission in the next 12 months, highest first, each with their
 * risk, tier, frailty (eFI band), the factors that raise their risk most and their tier history;
 * for a GP or practice nurse their own practice's people with a link to each record, for an
 * analyst pseudonymised. The server decides (access policy, action risk) and audits every look.
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Button, Tag } from 'nhsuk-react-components';
import { useSession } from '../App.tsx';
import { Loading } from '../components/Loading.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { isRefused, Problem, problemText } from '../integration/Problem.tsx';
import { EFI_BAND_LABEL, getRiskCohort, getRiskModel, historyText, monthYear, parseRiskQuery, percent, riskQueryString, sparkPoints, tierLabel, TIERS, type RiskCohort, type RiskModelSummary, type RiskPerson, type Tier } from './risk.ts';

type State = { kind: 'loading' } | { kind: 'error'; message: string; retry: boolean } | { kind: 'ok'; cohort: RiskCohort };

const TIER_TAG: Record<Tier, 'red' | 'orange' | 'yellow' | 'grey'> = { '0.5': 'red', '1': 'orange', '5': 'yellow', '20': 'grey' };

export default function RiskPage() {
  usePageTitle('Risk of emergency admission');
  const s = useSession();
  const analyst = s?.role === 'analyst';
  const [params, setParams] = useSearchParams();
  const query = parseRiskQuery(params);
  const key = riskQueryString(query);
  const [state, setState] = useState<State>({ kind: 'loading' });
  const [model, setModel] = useState<RiskModelSummary | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [form, setForm] = useState({ area: query.neighbourhood ? 'neighbourhood' : 'practice', code: query.practice ?? query.neighbourhood ?? '', tier: query.tier });
  const heading = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    const ac = new AbortController();
    setState({ kind: 'loading' });
    getRiskCohort(query, { signal: ac.signal })
      .then((cohort) => setState({ kind: 'ok', cohort }))
      .catch((e) => !ac.signal.aborted && setState({ kind: 'error', message: problemText(e, 'see this risk list'), retry: !isRefused(e) }));
    return () => ac.abort();
  }, [key, attempt]);

  useEffect(() => {
    const ac = new AbortController();
    getRiskModel({ signal: ac.signal })
      .then(setModel)
      .catch(() => undefined);
    return () => ac.abort();
  }, []);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (form.code.trim()) next.set(form.area === 'neighbourhood' ? 'neighbourhood' : 'practice', form.code.trim());
    next.set('tier', form.tier);
    setParams(next);
    heading.current?.focus();
  };

  return (
    <div className="bevan-risk-page">
      <h1 className="nhsuk-heading-l" ref={heading} tabIndex={-1}>
        Risk of emergency admission
      </h1>
      <p className="nhsuk-body">
        People most likely to have an emergency hospital admission in the next 12 months, highest risk first. Each score is explained by the factors in the record that raise it most, measured against the average person; the tier history shows how the person's place has moved between scorings.
        {analyst ? ' People are shown by pseudonym (secondary use); national data opt-outs are left out.' : ' Open a person to see their whole record.'}
      </p>
      {model && (
        <p className="nhsuk-body-s bevan-muted" data-testid="risk-model">
          Model version {model.version}, fitted {monthYear(model.fittedAt.slice(0, 10))}: c-statistic {model.metrics.cStatistic.toFixed(2)} on {model.validationPeople.toLocaleString('en-GB')} people and a year it was not fitted on; of the top 1%, {percent(model.metrics.ppv['1'] ?? 0)} were admitted.
        </p>
      )}
      <form className="bevan-risk-filter" onSubmit={submit} aria-label="Choose the list">
        {analyst && (
          <div className="nhsuk-form-group">
            <label className="nhsuk-label" htmlFor="risk-area">
              Area
            </label>
            <select className="nhsuk-select" id="risk-area" value={form.area} onChange={(e) => setForm({ ...form, area: e.target.value })}>
              <option value="practice">GP practice (ODS code)</option>
              <option value="neighbourhood">Neighbourhood</option>
            </select>
          </div>
        )}
        {analyst && (
          <div className="nhsuk-form-group">
            <label className="nhsuk-label" htmlFor="risk-code">
              {form.area === 'neighbourhood' ? 'Neighbourhood code' : 'Practice ODS code'}
            </label>
            <input className="nhsuk-input nhsuk-input--width-10" id="risk-code" value={form.code} onChange={(e) => setForm({ ...form, code: e.target.value })} />
          </div>
        )}
        <div className="nhsuk-form-group">
          <label className="nhsuk-label" htmlFor="risk-tier">
            Risk tier
          </label>
          <select className="nhsuk-select" id="risk-tier" value={form.tier} onChange={(e) => setForm({ ...form, tier: e.target.value as Tier })}>
            {TIERS.map((t) => (
              <option key={t} value={t}>
                {tierLabel(t)} of the population
              </option>
            ))}
          </select>
        </div>
        <Button type="submit">Show list</Button>
      </form>
      {state.kind === 'loading' && <Loading what="the risk list" />}
      {state.kind === 'error' && <Problem title="The risk list could not be shown" message={state.message} retry={state.retry ? () => setAttempt((a) => a + 1) : undefined} />}
      {state.kind === 'ok' && <RiskList cohort={state.cohort} />}
    </div>
  );
}

function RiskList({ cohort }: { cohort: RiskCohort }) {
  const where = cohort.practice ? `practice ${cohort.practice}` : cohort.neighbourhood ? `neighbourhood ${cohort.neighbourhood}` : 'the whole population';
  if (!cohort.run) return <p className="nhsuk-body">Nobody has been scored yet: the population is scored by <code>bevan risk score</code>.</p>;
  const w = cohort.withheld;
  const withheld = w.restricted + w.optedOut + w.dissent;
  return (
    <section aria-labelledby="risk-list-title">
      <h2 className="nhsuk-heading-m" id="risk-list-title">
        {tierLabel(cohort.tier)}: {cohort.people.length.toLocaleString('en-GB')} {cohort.people.length === 1 ? 'person' : 'people'} in {where}
      </h2>
      <p className="nhsuk-body-s bevan-muted">
        Scored on {cohort.run.indexDate} (model version {cohort.run.modelVersion}, {cohort.run.people.toLocaleString('en-GB')} people scored).
        {withheld > 0 && ` ${withheld} not shown: restricted records, dissent from sharing or national data opt-out.`}
      </p>
      {cohort.people.length === 0 ? (
        <p className="nhsuk-body">No one in this tier.</p>
      ) : (
        <div className="bevan-table-scroll" tabIndex={0} role="region" aria-label="Risk list, as a table">
          <table className="nhsuk-table bevan-table bevan-risk-table">
            <thead>
              <tr>
                <th scope="col">Person</th>
                <th scope="col">Risk in 12 months</th>
                <th scope="col">Frailty (eFI)</th>
                <th scope="col">What raises the risk most</th>
                <th scope="col">Tier history</th>
              </tr>
            </thead>
            <tbody>
              {cohort.people.map((p) => (
                <RiskRow key={p.personId ?? p.pseudonym} p={p} identified={cohort.view === 'identified'} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function RiskRow({ p, identified }: { p: RiskPerson; identified: boolean }) {
  const history = historyText(p.history);
  return (
    <tr data-testid="risk-row">
      <th scope="row">
        {identified && p.personId ? (
          <>
            <Link to={`/person/${encodeURIComponent(p.personId)}`}>{p.name ?? 'Unnamed person'}</Link>
            <span className="bevan-muted bevan-risk-sub">
              {p.nhsNumber ? formatNhsNumber(p.nhsNumber) : 'no NHS number'} · {p.age} years{p.sex ? ` · ${p.sex}` : ''}
            </span>
          </>
        ) : (
          <>
            <span className="bevan-risk-pseudonym">{p.pseudonym?.slice(0, 12)}</span>
            <span className="bevan-muted bevan-risk-sub">
              aged {p.ageBand} · {p.practice ?? 'no practice'}
            </span>
          </>
        )}
      </th>
      <td>
        <strong data-testid="risk-probability">{percent(p.probability)}</strong>{' '}
        <Tag modifier={p.tier ? TIER_TAG[p.tier] : 'grey'} className="bevan-tag">
          {tierLabel(p.tier)}
        </Tag>
      </td>
      <td>
        {p.efi.toFixed(2)} <span className="bevan-muted">{EFI_BAND_LABEL[p.efiBand]}</span>
      </td>
      <td>
        {p.factors.length ? (
          <ul className="nhsuk-list bevan-risk-factors">
            {p.factors.map((f) => (
              <li key={f.name}>
                {f.label} <span className="bevan-muted">(odds ×{f.oddsRatio.toFixed(1)})</span>
              </li>
            ))}
          </ul>
        ) : (
          <span className="bevan-muted">nothing above the average person</span>
        )}
      </td>
      <td>
        <svg className="bevan-risk-spark" width="64" height="22" viewBox="0 0 64 22" role="img" aria-label={`Risk over time: ${p.history.map((h) => `${monthYear(h.indexDate)} ${percent(h.probability)}`).join(', ')}`}>
          <polyline points={sparkPoints(p.history, 60, 20)} transform="translate(2,1)" fill="none" stroke="currentColor" strokeWidth="2" />
        </svg>
        <span className="bevan-risk-history">{history}</span>
      </td>
    </tr>
  );
}
