/** A loading state that screen readers announce, shown only after a short wait (no flicker). */
import { useEffect, useState } from 'react';

export function Loading({ what, delayMs = 150 }: { what: string; delayMs?: number }) {
  const [show, setShow] = useState(delayMs === 0);
  useEffect(() => {
    const t = setTimeout(() => setShow(true), delayMs);
    return () => clearTimeout(t);
  }, [delayMs]);
  return (
    <div className="bevan-loading" role="status" aria-live="polite">
      {show && <p className="nhsuk-body">Loading {what}…</p>}
    </div>
  );
}
