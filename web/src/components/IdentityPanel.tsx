/**
 * Identity: which source records make up this person — each source system's own record of them
 * (local id, name, date of birth, sex, NHS number, postcode and address, practice, death, how it
 * was linked and the match status) — and where the sources disagree, with the differing values
 * highlighted (in words too, not by colour alone). From `GET /record/{id}/sources`.
 */
import { formatNhsNumber } from '../lib/nhs-number.ts';
import { formatDate, formatDateTime } from '../lib/dates.ts';
import type { DisagreementField, RecordSources, SourceIdentity } from '../api/record.ts';
import { deathText, describeDisagreement, differingFields, identityName, LINK_METHOD_LABEL, MATCH_STATUS_LABEL, showValue } from '../record/identity.ts';
import { SETTING_LABEL } from '../record/sources.ts';
import './record-extras.css';

export type IdentityState = { kind: 'loading' } | { kind: 'ok'; info: RecordSources } | { kind: 'unavailable'; message: string };

export function IdentityPanel({ state, labelOf }: { state: IdentityState; labelOf: (system: string) => string }) {
  return (
    <section className="bevan-identity" aria-labelledby="identity-title">
      <h2 className="nhsuk-heading-m" id="identity-title">
        Identity
      </h2>
      {state.kind === 'loading' ? (
        <p className="nhsuk-body bevan-muted" role="status">
          Loading the source records…
        </p>
      ) : state.kind === 'unavailable' ? (
        <p className="nhsuk-body">{state.message}</p>
      ) : (
        <IdentityBody info={state.info} labelOf={labelOf} />
      )}
    </section>
  );
}

function IdentityBody({ info, labelOf }: { info: RecordSources; labelOf: (system: string) => string }) {
  const n = info.identities.length;
  return (
    <>
      <p className="nhsuk-body">
        This record brings together {n} source record{n === 1 ? '' : 's'}: how each system that sent information identifies this person. The record shows the values of the source marked “preferred” (a valid NHS number, most recently updated).
      </p>
      {info.disagreements.length > 0 ? (
        <div className="bevan-disagreements" role="note" aria-labelledby="disagree-title">
          <h3 className="nhsuk-heading-s" id="disagree-title">
            Where the sources disagree ({info.disagreements.length})
          </h3>
          <ul className="nhsuk-list nhsuk-list--bullet" data-testid="disagreements">
            {info.disagreements.map((d) => (
              <li key={d.field}>{describeDisagreement(d, labelOf)}</li>
            ))}
          </ul>
          <p className="nhsuk-body-s">Check with the person before relying on these details. Differing values are highlighted below.</p>
        </div>
      ) : (
        <p className="nhsuk-body" data-testid="disagreements">
          The sources agree on the person’s details.
        </p>
      )}
      {info.notShown > 0 && (
        <p className="nhsuk-body-s bevan-muted">
          {info.notShown} source record{info.notShown === 1 ? ' is' : 's are'} not shown: the person has asked that their record is not shared beyond your organisation.
        </p>
      )}
      <ul className="bevan-identity__list" aria-label="Source records">
        {info.identities.map((i) => (
          <IdentityCard key={`${i.system}|${i.localId}`} i={i} differs={differingFields(info.disagreements, i.system)} label={labelOf(i.system)} />
        ))}
      </ul>
    </>
  );
}

function Value({ field, differs, children }: { field: DisagreementField; differs: Set<DisagreementField>; children: React.ReactNode }) {
  if (!differs.has(field)) return <>{children}</>;
  return (
    <>
      <span className="bevan-differs">{children}</span>
      <span className="nhsuk-u-visually-hidden"> (differs from other sources)</span>
    </>
  );
}

function IdentityCard({ i, differs, label }: { i: SourceIdentity; differs: Set<DisagreementField>; label: string }) {
  const none = <span className="bevan-muted">Not recorded</span>;
  return (
    <li className={`bevan-identity__card${i.preferred ? ' bevan-identity__card--preferred' : ''}`}>
      <h3 className="nhsuk-heading-xs">
        {label} <span className="bevan-count">({SETTING_LABEL[i.setting]})</span>
        {i.preferred ? <span className="bevan-muted"> · preferred</span> : null}
      </h3>
      <dl>
        <dt>Source system</dt>
        <dd>{i.sourceName}</dd>
        <dt>Local id</dt>
        <dd>{i.localId}</dd>
        <dt>Name</dt>
        <dd>
          <Value field="given" differs={differs}>
            {i.given ?? ''}
          </Value>{' '}
          <Value field="family" differs={differs}>
            {i.family ? i.family.toUpperCase() : ''}
          </Value>
          {!i.given && !i.family ? identityName(i) : null}
        </dd>
        <dt>Date of birth</dt>
        <dd>{i.birthDate ? <Value field="birthDate" differs={differs}>{formatDate(i.birthDate)}</Value> : none}</dd>
        <dt>Sex</dt>
        <dd>{i.sex ? <Value field="sex" differs={differs}>{showValue('sex', i.sex)}</Value> : none}</dd>
        <dt>NHS number</dt>
        <dd>
          {i.nhsNumber ? (
            <Value field="nhsNumber" differs={differs}>
              <span className="bevan-nhs-number">{/^\d{10}$/.test(i.nhsNumber) ? formatNhsNumber(i.nhsNumber) : i.nhsNumber}</span>
              {i.nhsNumberValid ? '' : ' (not a valid NHS number)'}
            </Value>
          ) : (
            none
          )}
        </dd>
        <dt>Postcode</dt>
        <dd>{i.postcode ? <Value field="postcode" differs={differs}>{i.postcode}</Value> : none}</dd>
        <dt>Address</dt>
        <dd>{i.address ? <Value field="address" differs={differs}>{i.address}</Value> : none}</dd>
        <dt>Practice</dt>
        <dd>
          {i.practice ? (
            <Value field="practice" differs={differs}>
              {i.practice.name ? `${i.practice.name} (${i.practice.odsCode})` : i.practice.odsCode}
            </Value>
          ) : (
            none
          )}
        </dd>
        <dt>Death</dt>
        <dd>
          <Value field="death" differs={differs}>
            {deathText(i.death)}
          </Value>
        </dd>
        <dt>Linked by</dt>
        <dd>{LINK_METHOD_LABEL[i.linkMethod] ?? i.linkMethod}</dd>
        <dt>Match status</dt>
        <dd>{MATCH_STATUS_LABEL[i.matchStatus] ?? i.matchStatus}</dd>
        <dt>Updated</dt>
        <dd>{formatDateTime(i.updatedAt)}</dd>
      </dl>
    </li>
  );
}

