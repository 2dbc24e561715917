/**
 * The timeline across every source, newest first: filters by source system, care setting and
 * type (kept in the URL, so a filtered view can be shared), and a virtualised list (only the
 * rows in view are in the page, so a long history stays fast). Each item names its source and
 * date and opens to its detail.
 */
import { useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { Resource } from '@medplum/fhirtypes';
import { formatDate, formatDateTime } from '../lib/dates.ts';
import { TIMELINE_TYPE_ONE, type TimelineItem } from '../record/model.ts';
import { SETTING_LABEL } from '../record/sources.ts';
import { filterFromParams, filterTimeline, filterToParams, timelineFacets, toggle, type Facet, type TimelineFilter } from '../record/timeline.ts';

export function Timeline({ items, resources }: { items: TimelineItem[]; resources: ReadonlyMap<string, Resource> }) {
  const [params, setParams] = useSearchParams();
  // The filter is state (a checkbox follows a click at once) mirrored into the URL (so it can be shared).
  const [filter, setFilterState] = useState<TimelineFilter>(() => filterFromParams(params));
  const shown = useMemo(() => filterTimeline(items, filter), [items, filter]);
  const facets = useMemo(() => timelineFacets(items, filter), [items, filter]);
  const [open, setOpen] = useState<string | null>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: shown.length, getScrollElement: () => scroller.current, estimateSize: () => 64, overscan: 8, getItemKey: (i) => shown[i]!.id });

  function setFilter(f: TimelineFilter) {
    setFilterState(f);
    const next = new URLSearchParams(params);
    for (const k of ['source', 'setting', 'type']) next.delete(k);
    for (const [k, v] of filterToParams(f)) next.append(k, v);
    setParams(next, { replace: true, preventScrollReset: true });
    scroller.current?.scrollTo({ top: 0 });
  }
  const filtered = filter.sources.length + filter.settings.length + filter.types.length > 0;

  return (
    <section className="bevan-timeline" aria-labelledby="timeline-title">
      <h2 className="nhsuk-heading-m" id="timeline-title">
        Timeline
      </h2>
      <div className="bevan-timeline__layout">
        <div className="bevan-filters">
          <FacetGroup legend="Setting" name="setting" facets={facets.settings} chosen={filter.settings} onToggle={(v) => setFilter(toggle(filter, 'settings', v))} />
          <FacetGroup legend="Type" name="type" facets={facets.types} chosen={filter.types} onToggle={(v) => setFilter(toggle(filter, 'types', v))} />
          <FacetGroup legend="Source system" name="source" facets={facets.sources} chosen={filter.sources} onToggle={(v) => setFilter(toggle(filter, 'sources', v))} />
          {filtered && (
            <button type="button" className="bevan-link-button" onClick={() => setFilter({ sources: [], settings: [], types: [] })}>
              Clear filters
            </button>
          )}
        </div>
        <div className="bevan-timeline__list">
          <p className="nhsuk-body-s" role="status" aria-live="polite" data-testid="timeline-count">
            Showing {shown.length} of {items.length} items{filtered ? ' (filtered)' : ''}
          </p>
          <div ref={scroller} className="bevan-timeline__scroll" tabIndex={0} role="region" aria-label="Timeline items">
            <ol className="bevan-timeline__items" style={{ height: virtualizer.getTotalSize() }}>
              {virtualizer.getVirtualItems().map((row) => {
                const item = shown[row.index]!;
                const isOpen = open === item.id;
                return (
                  <li key={row.key} data-index={row.index} ref={virtualizer.measureElement} className="bevan-timeline__item" style={{ transform: `translateY(${row.start}px)` }} aria-setsize={shown.length} aria-posinset={row.index + 1}>
                    <button type="button" className="bevan-timeline__button" aria-expanded={isOpen} onClick={() => setOpen(isOpen ? null : item.id)}>
                      <span className="bevan-timeline__date">{formatDate(item.date, { short: true })}</span>
                      <span className="bevan-timeline__what">
                        <span className="bevan-timeline__type">{TIMELINE_TYPE_ONE[item.type]}</span> <strong>{item.title}</strong>
                        {item.detail ? <span className="bevan-timeline__detail"> — {item.detail}</span> : null}
                      </span>
                      <span className="bevan-timeline__source">
                        {item.sourceLabel} <span className="bevan-muted">({SETTING_LABEL[item.setting]})</span>
                      </span>
                    </button>
                    {isOpen && <ItemDetail item={item} resource={resources.get(item.id)} />}
                  </li>
                );
              })}
            </ol>
            {shown.length === 0 && <p className="nhsuk-body bevan-none">Nothing matches these filters.</p>}
          </div>
        </div>
      </div>
    </section>
  );
}

function FacetGroup<T extends string>({ legend, name, facets, chosen, onToggle }: { legend: string; name: string; facets: Facet<T>[]; chosen: readonly T[]; onToggle: (v: T) => void }) {
  if (facets.length === 0) return null;
  return (
    <fieldset className="nhsuk-fieldset bevan-facet">
      <legend className="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">{legend}</legend>
      <div className="nhsuk-checkboxes nhsuk-checkboxes--small">
        {facets.map((f) => {
          const id = `f-${name}-${f.value.replace(/[^A-Za-z0-9-]/g, '_')}`;
          return (
            <div className="nhsuk-checkboxes__item" key={f.value}>
              <input className="nhsuk-checkboxes__input" id={id} type="checkbox" checked={chosen.includes(f.value)} onChange={() => onToggle(f.value)} />
              <label className="nhsuk-label nhsuk-checkboxes__label" htmlFor={id}>
                {f.label} <span className="bevan-count">({f.count})</span>
              </label>
            </div>
          );
        })}
      </div>
    </fieldset>
  );
}

function ItemDetail({ item, resource }: { item: TimelineItem; resource: Resource | undefined }) {
  return (
    <div className="bevan-timeline__open">
      <dl className="bevan-facts-inline">
        <div>
          <dt>Date</dt>
          <dd>{formatDateTime(item.date)}</dd>
        </div>
        <div>
          <dt>Source</dt>
          <dd>
            {item.sourceLabel} ({item.source})
          </dd>
        </div>
        <div>
          <dt>Received</dt>
          <dd>{resource?.meta?.lastUpdated ? formatDateTime(resource.meta.lastUpdated) : 'not known'}</dd>
        </div>
        <div>
          <dt>FHIR</dt>
          <dd>{item.id}</dd>
        </div>
      </dl>
      {resource && (
        <details>
          <summary>As the source sent it (FHIR)</summary>
          <pre className="bevan-json">{JSON.stringify(resource, null, 2)}</pre>
        </details>
      )}
    </div>
  );
}
