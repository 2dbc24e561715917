/**
 * Tells the user before their session ends: from five minutes before the idle or absolute
 * timeout, a notice with the time it ends and how long is left (announced politely, once a
 * minute at most, not every tick).
 */
import { useEffect, useState } from 'react';
import { WARN_BEFORE_MS, type Session } from '../api/session.ts';
import { describeDuration, formatTime } from '../lib/dates.ts';

export function ExpiryNotice({ session }: { session: Session }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  const idle = session.idleExpiresAt !== null && session.idleExpiresAt < session.expiresAt;
  const at = idle ? session.idleExpiresAt! : session.expiresAt;
  const left = at - now;
  if (left > WARN_BEFORE_MS) return null;
  const minutes = Math.max(0, Math.ceil(left / 60_000));
  return (
    <div className="bevan-expiry" role="status" aria-live="polite" aria-atomic="true">
      <p>
        <strong>
          {idle ? 'You will be signed out' : 'Your session ends'} at {formatTime(at)}
        </strong>{' '}
        ({minutes > 0 ? `in ${describeDuration(minutes * 60_000)}` : 'now'}).{' '}
        {idle ? 'Carry on working to stay signed in.' : 'You will need to sign in again; the page you are on will open again after you do.'}
      </p>
    </div>
  );
}
