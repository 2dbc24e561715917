/**
 * Tells the user before their session ends (lib/expiry.ts decides what and when): from five
 * minutes before the idle or absolute timeout, the time it ends and how long is left, announced
 * politely (the text changes once a minute at most).
 */
import { useEffect, useState } from 'react';
import { WARN_BEFORE_MS, type Session } from '../api/session.ts';
import { expiryNotice } from '../lib/expiry.ts';

export function ExpiryNotice({ session }: { session: Session }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);
  const notice = expiryNotice(session, now, WARN_BEFORE_MS);
  if (!notice) return null;
  return (
    <div className="bevan-expiry" role="status" aria-live="polite" aria-atomic="true">
      <p>
        <strong>{notice.headline}</strong> {notice.detail}
      </p>
    </div>
  );
}
