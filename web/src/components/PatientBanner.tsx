/** The patient banner: who this is, unmistakably (name, NHS number, date of birth and age or date of death, sex, address, practice). */
import { Tag } from 'nhsuk-react-components';
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { describeAge, formatDate } from '../lib/dates.ts';
import type { PatientView } from '../record/model.ts';

const SEX: Record<string, string> = { male: 'Male', female: 'Female', other: 'Other', unknown: 'Not known' };

export function PatientBanner({ p }: { p: PatientView }) {
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
          <dd>{p.address ?? 'Not known'}</dd>
        </div>
        <div>
          <dt>GP practice</dt>
          <dd>{p.practice ? `${p.practice.name}${p.practice.ods ? ` (${p.practice.ods})` : ''}` : 'Not known'}</dd>
        </div>
      </dl>
    </section>
  );
}
