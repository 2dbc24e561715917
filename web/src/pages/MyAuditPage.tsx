/** "Who has looked at my record", for someone signed in as a patient (`GET /audit/me`). */
import { useCallback } from 'react';
import { auditOfMe } from '../api/record.ts';
import { AuditTable } from '../components/AuditTable.tsx';
import { usePageTitle } from '../components/usePageTitle.ts';

export default function MyAuditPage() {
  usePageTitle('Who has looked at my record');
  const load = useCallback((o: { signal: AbortSignal; limit: number }) => auditOfMe(o), []);
  return (
    <div className="bevan-audit-page">
      <h1 className="nhsuk-heading-l">Who has looked at my record</h1>
      <p className="nhsuk-body">
        Everyone who opened, searched for or changed your integrated care record, newest first: who they are, their role and organisation, when, what they did and why. Emergency access (“break glass”) is shown as such. If something here looks wrong, contact your GP practice or the privacy officer.
      </p>
      <AuditTable load={load} caption="Who has looked at my record" whose="your record" />
    </div>
  );
}
