/**
 * The denied page: level-1 heading "Access denied", the reason in plain words (and the access
 * policy's own words for the curious), and — when the policy allows it for this user — Break
 * glass: a reason (at least 10 characters), a plain warning that it is audited and alerted, and a
 * retry of the same request declaring the emergency (`X-Bevan-Break-Glass`).
 */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { Button, Details, Textarea, WarningCallout } from 'nhsuk-react-components';
import { deniedInPlainWords } from '../api/errors.ts';
import { usePageTitle } from './usePageTitle.ts';

export const MIN_REASON = 10;

export function DeniedPage({ reason, onBreakGlass, retryError, notice }: { reason: string; onBreakGlass: (reason: string) => void; retryError?: string | null; notice?: string | null }) {
  usePageTitle('Access denied');
  const plain = deniedInPlainWords(reason);
  const [asking, setAsking] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const area = useRef<HTMLTextAreaElement>(null);

  useEffect(() => heading.current?.focus(), []);
  useEffect(() => {
    if (asking) area.current?.focus();
  }, [asking]);
  useEffect(() => {
    if (retryError) {
      setAsking(true);
      setError(retryError);
    }
  }, [retryError]);

  function submit(e: FormEvent) {
    e.preventDefault();
    const r = text.trim();
    if (r.length < MIN_REASON) {
      setError(`Enter a reason of at least ${MIN_REASON} characters`);
      area.current?.focus();
      return;
    }
    setError(null);
    onBreakGlass(r);
  }

  return (
    <div className="bevan-narrow">
      <h1 className="nhsuk-heading-l" ref={heading} tabIndex={-1}>
        Access denied
      </h1>
      {notice && (
        <p className="nhsuk-body-l" data-testid="denied-notice">
          <strong>{notice}</strong>
        </p>
      )}
      <p className="nhsuk-body-l" data-testid="denied-reason">
        {plain.text}
      </p>
      <Details>
        <Details.Summary>The access policy's reason</Details.Summary>
        <Details.Text>
          <p>{reason}</p>
          <p>This attempt has been recorded in the audit log.</p>
        </Details.Text>
      </Details>
      {plain.breakGlassPossible && !asking && (
        <>
          <p className="nhsuk-body">In an emergency, when this person needs care now and you cannot reach someone who has access, you can break glass to see their record.</p>
          <Button type="button" warning onClick={() => setAsking(true)}>
            Break glass
          </Button>
        </>
      )}
      {asking && (
        <form onSubmit={submit} noValidate aria-labelledby="bg-title">
          <WarningCallout>
            <WarningCallout.Heading id="bg-title">Break glass: emergency access</WarningCallout.Heading>
            <p>Your access will be audited, and the privacy officer will be alerted straight away. You will need to justify it. Access lasts for a limited time, then closes by itself.</p>
          </WarningCallout>
          <Textarea id="break-glass-reason" name="reason" label="Reason for emergency access" hint={`Say why you need this record now (at least ${MIN_REASON} characters)`} rows={3} ref={area} value={text} onChange={(e) => setText(e.currentTarget.value)} error={error ?? undefined} maxLength={500} />
          <div className="bevan-buttons">
            <Button type="submit" warning>
              Break glass and open the record
            </Button>
            <Button type="button" secondary onClick={() => (setAsking(false), setError(null))}>
              Cancel
            </Button>
          </div>
        </form>
      )}
      <p className="nhsuk-body">
        <Link to="/search">Find another person</Link>
      </p>
    </div>
  );
}
