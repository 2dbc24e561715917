/** Renders its children once they scroll near the viewport (or at once where IntersectionObserver is missing). */
import { useEffect, useRef, useState, type ReactNode } from 'react';

export function WhenVisible({ children, fallback, margin = '200px' }: { children: ReactNode; fallback: ReactNode; margin?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [seen, setSeen] = useState(typeof IntersectionObserver === 'undefined');
  useEffect(() => {
    if (seen || !ref.current) return;
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && setSeen(true), { rootMargin: margin });
    io.observe(ref.current);
    return () => io.disconnect();
  }, [seen, margin]);
  return <div ref={ref}>{seen ? children : fallback}</div>;
}
