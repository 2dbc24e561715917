/**
 * The break-glass notice's countdown: how long the emergency access lasts (the deadline from
 * X-Bevan-Break-Glass-Expires, lib/break-glass.ts), ticking each second, told to screen readers
 * only at 10, 5 and 1 minute and at the end (a live region is not a ticking clock). At the
 * deadline it calls `onEnd` once.
 */
import { useEffect, useRef, useState } from 'react';
import { formatTime } from '../lib/dates.ts';
import { breakGlassAnnouncement, countdown } from '../lib/break-glass.ts';

export function BreakGlassCountdown({ deadline, onEnd }: { deadline: number; onEnd: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  const [said, setSaid] = useState('');
  const last = useRef(deadline - Date.now());
  const ended = useRef(false);
  const end = useRef(onEnd);
  end.current = onEnd;
  useEffect(() => {
    ended.current = false;
    last.current = deadline - Date.now();
    const tick = () => {
      const t = Date.now();
      const left = deadline - t;
      const a = breakGlassAnnouncement(last.current, left);
      if (a) setSaid(a);
      last.current = left;
      setNow(t);
      if (left <= 0 && !ended.current) {
        ended.current = true;
        end.current();
      }
    };
    tick();
    const timer = setInterval(tick, 1000);
    return () => clearInterval(timer);
  }, [deadline]);
  const left = deadline - now;
  return (
    <p className="nhsuk-body bevan-breakglass__time">
      <span role="timer" aria-live="off" aria-atomic="true" data-testid="break-glass-countdown">
        Emergency access ends in <span className="bevan-countdown">{countdown(left)}</span>
      </span>{' '}
      (at {formatTime(deadline)}). After that this record closes and you return to the access page.
      <span className="nhsuk-u-visually-hidden" role="status" aria-live="polite">
        {said}
      </span>
    </p>
  );
}
