/** The summary: problems, medications (current first), allergies, latest results, admissions and attendances, social care, mental health. */
import type { ReactNode } from 'react';
import { formatDate, formatDateTime } from '../lib/dates.ts';
import type { RecordView } from '../record/model.ts';
import { sourceLabel } from '../record/sources.ts';

const SHOW = 8;

function Card({ id, title, count, children }: { id: string; title: string; count: number; children: ReactNode }) {
  return (
    <section className="bevan-card" aria-labelledby={`${id}-title`}>
      <h2 className="nhsuk-heading-s bevan-card__title" id={`${id}-title`}>
        {title} <span className="bevan-count">({count})</span>
      </h2>
      {children}
    </section>
  );
}

function Sources({ systems, labels }: { systems: string[]; labels?: ReadonlyMap<string, string> }) {
  return <span className="bevan-source">{systems.map((s) => labels?.get(s) ?? sourceLabel(s)).join(', ')}</span>;
}

function None({ text }: { text: string }) {
  return <p className="nhsuk-body-s bevan-none">{text}</p>;
}

export function RecordSummary({ v }: { v: RecordView }) {
  const currentMeds = v.medications.filter((m) => m.current);
  const pastMeds = v.medications.filter((m) => !m.current);
  return (
    <div className="bevan-summary">
      <Card id="problems" title="Problems" count={v.problems.length}>
        {v.problems.length === 0 ? (
          <None text="No problems recorded" />
        ) : (
          <ul className="bevan-list">
            {v.problems.slice(0, SHOW).map((p) => (
              <li key={p.key}>
                <strong>{p.name}</strong> {p.active ? '' : <span className="bevan-muted">(resolved)</span>}
                <br />
                <span className="bevan-muted">
                  {p.onset ? `since ${formatDate(p.onset)} · ` : ''}
                  <Sources labels={v.sourceLabels} systems={p.sources} />
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card id="medications" title="Medications" count={v.medications.length}>
        {v.medications.length === 0 ? (
          <None text="No medications recorded" />
        ) : (
          <>
            <h3 className="nhsuk-heading-xs bevan-subhead">Current ({currentMeds.length})</h3>
            {currentMeds.length === 0 ? (
              <None text="None current" />
            ) : (
              <ul className="bevan-list">
                {currentMeds.slice(0, SHOW).map((m) => (
                  <li key={m.key}>
                    <strong>{m.name}</strong>
                    {m.dosage ? ` — ${m.dosage}` : ''}
                    <br />
                    <span className="bevan-muted">
                      {m.date ? `${formatDate(m.date)} · ` : ''}
                      <Sources labels={v.sourceLabels} systems={m.sources} />
                    </span>
                  </li>
                ))}
              </ul>
            )}
            {pastMeds.length > 0 && (
              <>
                <h3 className="nhsuk-heading-xs bevan-subhead">Past ({pastMeds.length})</h3>
                <ul className="bevan-list bevan-list--compact">
                  {pastMeds.slice(0, 4).map((m) => (
                    <li key={m.key}>
                      {m.name} <span className="bevan-muted">{m.date ? `(last ${formatDate(m.date)})` : ''}</span>
                    </li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </Card>
      <Card id="allergies" title="Allergies" count={v.allergies.length}>
        {v.allergies.length === 0 ? (
          <None text="No allergies recorded by any source" />
        ) : (
          <ul className="bevan-list">
            {v.allergies.map((a) => (
              <li key={a.key}>
                <strong>{a.substance}</strong>
                {a.reactions.length ? ` — ${a.reactions.join(', ')}` : ''}
                {a.criticality === 'high' ? <strong className="bevan-flag"> (high risk)</strong> : ''}
                <br />
                <span className="bevan-muted">
                  <Sources labels={v.sourceLabels} systems={a.sources} />
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <section className="bevan-card bevan-card--wide" aria-labelledby="results-title">
        <h2 className="nhsuk-heading-s bevan-card__title" id="results-title">
          Latest results <span className="bevan-count">({v.latestResults.length})</span>
        </h2>
        {v.latestResults.length === 0 ? (
          <None text="No results recorded" />
        ) : (
          <div className="bevan-table-scroll" tabIndex={0} role="group" aria-labelledby="results-title">
            <table className="nhsuk-table bevan-table">
              <thead>
                <tr>
                  <th scope="col">Test</th>
                  <th scope="col">Result</th>
                  <th scope="col">Reference range</th>
                  <th scope="col">Flag</th>
                  <th scope="col">Date</th>
                  <th scope="col">Source</th>
                </tr>
              </thead>
              <tbody>
                {v.latestResults.slice(0, 12).map((r) => (
                  <tr key={r.key} className={r.flag?.abnormal ? 'bevan-abnormal' : undefined}>
                    <td>{r.name}</td>
                    <td>
                      <strong>{r.value ?? '—'}</strong>
                    </td>
                    <td>{r.range?.text ?? '—'}</td>
                    <td>{r.flag ? <span className={r.flag.abnormal ? 'bevan-flag' : undefined}>{r.flag.label}</span> : 'Normal'}</td>
                    <td>{formatDate(r.date)}</td>
                    <td>{v.sourceLabels.get(r.source) ?? sourceLabel(r.source)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <Card id="hospital" title="Admissions and attendances" count={v.hospitalEncounters.length}>
        {v.hospitalEncounters.length === 0 ? (
          <None text="No hospital admissions, A&E attendances or outpatient appointments" />
        ) : (
          <ul className="bevan-list">
            {v.hospitalEncounters.slice(0, 6).map((e) => (
              <li key={e.id}>
                <strong>{e.label}</strong> {formatDateTime(e.start)}
                {e.kind === 'admission' && e.end ? ` to ${formatDate(e.end)}` : ''}
                <br />
                <span className="bevan-muted">
                  {e.place ? `${e.place} · ` : ''}
                  {v.sourceLabels.get(e.source) ?? sourceLabel(e.source)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card id="social" title="Social care packages" count={v.carePackages.length}>
        {v.carePackages.length === 0 ? (
          <None text="No social care packages" />
        ) : (
          <ul className="bevan-list">
            {v.carePackages.slice(0, 4).map((c) => (
              <li key={c.id}>
                <strong>{c.service}</strong> {c.open ? '(open)' : <span className="bevan-muted">(ended {formatDate(c.end)})</span>}
                <br />
                <span className="bevan-muted">
                  {c.provider ? `${c.provider} · ` : ''}from {formatDate(c.start)}
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card id="mental-health" title="Mental health involvement" count={v.mentalHealthContacts.length}>
        {v.mentalHealthContacts.length === 0 ? (
          <None text="No mental health contacts shared with you" />
        ) : (
          <p className="nhsuk-body-s">
            {v.mentalHealthContacts.length} contact{v.mentalHealthContacts.length === 1 ? '' : 's'}, latest {formatDate(v.mentalHealthContacts[0]!.start)}: {v.mentalHealthContacts[0]!.label}
          </p>
        )}
      </Card>
    </div>
  );
}
