/**
 * The patient banner: who this is, unmistakably (name, NHS number, date of birth and age or date
 * of death, sex, address, registered practice and neighbourhood), the alerts (record/alerts.ts)
 * and the care team when known. The address, neighbourhood and care team arrive after the record
 * (`GET /record/{id}/sources`, `GET /care-team/{id}`); until then the banner shows what the
 * merged Patient says.
 */
import { Tag } from 'nhsuk-react-components';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { describeAge, formatDate } from '../lib/dates.ts';
import type { PatientView } from '../record/model.ts';
import type { Alert } from '../record/alerts.ts';
import type { CareTeamMember } from '../api/record.ts';
import { describeMember } from '../record/care-team.ts';
import './record-extras.css';

/** What the record's sources add to the banner. */
export interface BannerAbout {
  address: string | null;
  practice: { odsCode: string; name: string | null; neighbourhood: string | null; neighbourhoodName: string | null } | null;
}

export type CareTeamState = { kind: 'loading' } | { kind: 'ok'; members: CareTeamMember[] } | { kind: 'unavailable'; message: string };

const SEX: Record<string, string> = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Not known' };

export function PatientBanner({ p, alerts, about, careTeam, orgNames }: { p: PatientView; alerts?: Alert[]; about?: BannerAbout | null; careTeam?: CareTeamState; orgNames?: ReadonlyMap<string, string> }) {
  const practice = about?.practice;
  return (
    <section className={`bevan-banner${p.deceased ? ' bevan-banner--deceased' : ''}`} aria-label="Patient details">
      <h1 className="bevan-banner__name">
        {p.name}
        {p.deceased && <span className="nhsuk-u-visually-hidden"> (deceased)</span>}
      </h1>
      {p.deceased && (
        <p className="bevan-banner__deceased">
          <Tag modifier="grey">Deceased</Tag> Died {p.deceased === true ? '(date not known)' : formatDate(p.deceased)}
          {p.age !== null ? `, aged ${p.age}` : ''}
        </p>
      )}
      {p.restricted && <Tag modifier="red">Restricted record</Tag>}
      {alerts && alerts.length > 0 && (
        <ul className="bevan-alerts" aria-label="Alerts">
          {alerts.map((a) => (
            <li key={a.key} className={`bevan-alert${a.severity === 'info' ? ' bevan-alert--info' : ''}`}>
              <span className="bevan-alert__what">
                <span className="nhsuk-u-visually-hidden">{a.severity === 'high' ? 'Alert: ' : 'Note: '}</span>
                {a.text}
              </span>
              {a.detail ? <span> — {a.detail}</span> : null}
            </li>
          ))}
        </ul>
      )}
      <dl className="bevan-banner__facts">
        <div>
          <dt>NHS number</dt>
          <dd className="bevan-nhs-number">{p.nhsNumber ? formatNhsNumber(p.nhsNumber) : 'Not known'}</dd>
        </div>
        <div>
          <dt>Born</dt>
          <dd>
            {p.birthDate ? formatDate(p.birthDate) : 'Not known'}
            {p.age !== null && !p.deceased ? ` (${describeAge(p.age)})` : ''}
          </dd>
        </div>
        <div>
          <dt>Sex</dt>
          <dd>{p.sex ? (SEX[p.sex] ?? p.sex) : 'Not known'}</dd>
        </div>
        <div>
          <dt>Address</dt>
          <dd>{about?.address ?? p.address ?? 'Not known'}</dd>
        </div>
        <div>
          <dt>GP practice</dt>
          <dd>{p.practice ? `${p.practice.name}${p.practice.ods ? ` (${p.practice.ods})` : ''}` : 'Not known'}</dd>
        </div>
        {practice?.neighbourhood && (
          <div>
            <dt>Neighbourhood</dt>
            <dd>{practice.neighbourhoodName ?? practice.neighbourhood}</dd>
          </div>
        )}
        {careTeam && (
          <div className="bevan-banner__team">
            <dt>Care team</dt>
            <dd data-testid="care-team">
              {careTeam.kind === 'loading' ? (
                <span className="bevan-muted">Loading…</span>
              ) : careTeam.kind === 'unavailable' ? (
                <span className="bevan-muted">{careTeam.message}</span>
              ) : careTeam.members.length === 0 ? (
                <span className="bevan-muted">No one recorded</span>
              ) : (
                <ul>
                  {careTeam.members.map((m) => {
                    const d = describeMember(m, orgNames);
                    return (
                      <li key={m.member}>
                        {d.who}
                        {d.role ? <span className="bevan-muted"> ({d.role})</span> : null}
                      </li>
                    );
                  })}
                </ul>
              )}
            </dd>
          </div>
        )}
      </dl>
    </section>
  );
}
