/**
 * Filtering the timeline by source system, care setting and type: each filter is a set of
 * chosen values, empty meaning "all"; the facets count what each choice would show given the
 * other two filters (so a count never promises items another filter hides). Pure.
 */
import { SETTING_LABEL, SETTINGS, compareSources, type Setting } from './sources.ts';
import { TIMELINE_TYPE_LABEL, TIMELINE_TYPES, type TimelineItem, type TimelineType } from './model.ts';

export interface TimelineFilter {
  sources: readonly string[];
  settings: readonly Setting[];
  types: readonly TimelineType[];
}

export const NO_FILTER: TimelineFilter = { sources: [], settings: [], types: [] };

export interface Facet<T extends string> {
  value: T;
  label: string;
  /** Items this choice would show with the other filters as they are. */
  count: number;
}

export interface Facets {
  sources: Facet<string>[];
  settings: Facet<Setting>[];
  types: Facet<TimelineType>[];
}

type Dimension = keyof TimelineFilter;

function passes(item: TimelineItem, f: TimelineFilter, except?: Dimension): boolean {
  if (except !== 'sources' && f.sources.length && !f.sources.includes(item.source)) return false;
  if (except !== 'settings' && f.settings.length && !f.settings.includes(item.setting)) return false;
  if (except !== 'types' && f.types.length && !f.types.includes(item.type)) return false;
  return true;
}

/** The items every filter lets through, in the order given. */
export function filterTimeline(items: readonly TimelineItem[], f: TimelineFilter): TimelineItem[] {
  if (!f.sources.length && !f.settings.length && !f.types.length) return [...items];
  return items.filter((i) => passes(i, f));
}

/** Every value present in the items, with its count under the other two filters. */
export function timelineFacets(items: readonly TimelineItem[], f: TimelineFilter): Facets {
  const sources = new Map<string, { label: string; setting: Setting; count: number }>();
  const settings = new Map<Setting, number>();
  const types = new Map<TimelineType, number>();
  for (const i of items) {
    if (!sources.has(i.source)) sources.set(i.source, { label: i.sourceLabel, setting: i.setting, count: 0 });
    if (!settings.has(i.setting)) settings.set(i.setting, 0);
    if (!types.has(i.type)) types.set(i.type, 0);
    if (passes(i, f, 'sources')) sources.get(i.source)!.count++;
    if (passes(i, f, 'settings')) settings.set(i.setting, settings.get(i.setting)! + 1);
    if (passes(i, f, 'types')) types.set(i.type, types.get(i.type)! + 1);
  }
  return {
    sources: [...sources.entries()].sort(([a], [b]) => compareSources(a, b, (x) => sources.get(x)!.setting)).map(([value, s]) => ({ value, label: s.label, count: s.count })),
    settings: SETTINGS.filter((s) => settings.has(s)).map((value) => ({ value, label: SETTING_LABEL[value], count: settings.get(value)! })),
    types: TIMELINE_TYPES.filter((t) => types.has(t)).map((value) => ({ value, label: TIMELINE_TYPE_LABEL[value], count: types.get(value)! })),
  };
}

/** Adds or removes one value of one filter. */
export function toggle<K extends Dimension>(f: TimelineFilter, dim: K, value: TimelineFilter[K][number]): TimelineFilter {
  const current = f[dim] as readonly string[];
  const next = current.includes(value) ? current.filter((v) => v !== value) : [...current, value];
  return { ...f, [dim]: next };
}

/** The filter as URL search parameters (so a filtered timeline can be shared), and back. */
export function filterToParams(f: TimelineFilter): [string, string][] {
  return [...f.sources.map((v) => ['source', v] as [string, string]), ...f.settings.map((v) => ['setting', v] as [string, string]), ...f.types.map((v) => ['type', v] as [string, string])];
}

export function filterFromParams(p: URLSearchParams): TimelineFilter {
  return {
    sources: p.getAll('source'),
    settings: p.getAll('setting').filter((s): s is Setting => (SETTINGS as readonly string[]).includes(s)),
    types: p.getAll('type').filter((t): t is TimelineType => (TIMELINE_TYPES as readonly string[]).includes(t)),
  };
}
