/** The region "Sources": one item per source system of the record, with its items and latest date. */
import { formatDate } from '../lib/dates.ts';
import { SETTING_LABEL } from '../record/sources.ts';
import type { SourceView } from '../record/model.ts';

export function SourcesList({ sources }: { sources: SourceView[] }) {
  return (
    <section className="bevan-card bevan-sources" aria-labelledby="sources-title">
      <h2 className="nhsuk-heading-s bevan-card__title" id="sources-title">
        Sources
      </h2>
      {sources.length === 0 ? (
        <p className="nhsuk-body-s">No source has sent items you can see.</p>
      ) : (
        <ul className="bevan-list">
          {sources.map((s) => (
            <li key={s.system}>
              <strong>{s.label}</strong> <span className="bevan-muted">({SETTING_LABEL[s.setting]})</span>
              <br />
              <span className="bevan-muted">
                {s.items} item{s.items === 1 ? '' : 's'}
                {s.latest ? `, latest ${formatDate(s.latest)}` : ''}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
