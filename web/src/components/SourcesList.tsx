/**
 * The region "Sources": one item per source system of the record, with its care setting, items
 * and latest date and — once `GET /record/{id}/sources` has answered — its feed's freshness
 * ("last message 4 min ago", from the ingest log; marked when nothing has come for a day).
 */
import { useEffect, useState } from 'react';
import { formatDate, formatDateTime } from '../lib/dates.ts';
import { SETTING_LABEL } from '../record/sources.ts';
import type { SourceView } from '../record/model.ts';
import type { RecordSources } from '../api/record.ts';
import { freshnessOf, serverNow } from '../record/freshness.ts';
import './record-extras.css';

export function SourcesList({ sources, feeds }: { sources: SourceView[]; feeds?: { info: RecordSources; receivedAt: number } | null }) {
  // "4 min ago" moves on by itself.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!feeds) return;
    const t = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(t);
  }, [feeds]);
  const byId = new Map((feeds?.info.sources ?? []).map((s) => [s.system, s]));
  const at = feeds ? serverNow(feeds.info.at, feeds.receivedAt, now) : 0;
  return (
    <section className="bevan-card bevan-sources" aria-labelledby="sources-title">
      <h2 className="nhsuk-heading-s bevan-card__title" id="sources-title">
        Sources
      </h2>
      {sources.length === 0 ? (
        <p className="nhsuk-body-s">No source has sent items you can see.</p>
      ) : (
        <ul className="bevan-list">
          {sources.map((s) => {
            const info = byId.get(s.system);
            const f = info ? freshnessOf(info.feed, at) : null;
            return (
              <li key={s.system}>
                <strong>{s.label}</strong> <span className="bevan-muted">({SETTING_LABEL[info?.setting ?? s.setting]})</span>
                <br />
                <span className="bevan-muted">
                  {s.items} item{s.items === 1 ? '' : 's'}
                  {s.latest ? `, latest ${formatDate(s.latest)}` : ''}
                </span>
                {f && (
                  <span className={`bevan-fresh${f.stale ? ' bevan-fresh--stale' : ''}`} data-testid="freshness" title={info?.feed.lastMessageAt ? formatDateTime(info.feed.lastMessageAt) : undefined}>
                    {SETTING_LABEL[info!.setting]} feed: {f.text}
                    {f.stale ? ' (nothing for over a day)' : ''}
                    {f.lastQuarantined ? ' (quarantined)' : ''}
                  </span>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {feeds === undefined ? null : feeds === null ? <p className="nhsuk-body-s bevan-muted">Feed times could not be loaded.</p> : null}
    </section>
  );
}
