import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRecordView } from './model.ts';
import { filterFromParams, filterTimeline, filterToParams, NO_FILTER, timelineFacets, toggle } from './timeline.ts';
import { TODAY, testBundle } from './test-bundle.ts';

const items = buildRecordView(testBundle(), TODAY).timeline;

test('timeline filter: by source, setting and type; empty means all', () => {
  assert.equal(filterTimeline(items, NO_FILTER).length, items.length);
  const hospital = filterTimeline(items, { ...NO_FILTER, settings: ['hospital'] });
  assert.ok(hospital.length > 0 && hospital.every((i) => i.setting === 'hospital'));
  const results = filterTimeline(items, { ...NO_FILTER, types: ['result'] });
  assert.ok(results.every((i) => i.type === 'result'));
  const both = filterTimeline(items, { sources: ['gp:P91010'], settings: [], types: ['result'] });
  assert.deepEqual(both.map((i) => i.id).sort(), ['Observation/o1', 'Observation/o3', 'Observation/o4', 'Observation/o5']);
  const two = filterTimeline(items, { ...NO_FILTER, settings: ['community', 'social-care'] });
  assert.deepEqual(two.map((i) => i.id).sort(), ['Encounter/e3', 'EpisodeOfCare/ep1']);
  assert.equal(filterTimeline(items, { ...NO_FILTER, sources: ['gp:P99999'] }).length, 0);
  // Order is kept (newest first).
  for (let i = 1; i < hospital.length; i++) assert.ok(hospital[i - 1]!.date >= hospital[i]!.date);
});

test('timeline facets: counts under the other filters; toggling; URL round trip', () => {
  const f = toggle(NO_FILTER, 'types', 'result');
  const facets = timelineFacets(items, f);
  // Settings counted among results only; types counted ignoring the type filter itself.
  assert.deepEqual(facets.settings.map((s) => [s.value, s.count]), [['gp', 4], ['hospital', 2], ['community', 0], ['mental-health', 0], ['social-care', 0]]);
  assert.equal(facets.types.find((t) => t.value === 'problem')!.count, 3);
  assert.equal(facets.sources[0]!.value, 'gp:P91010');
  assert.deepEqual(toggle(f, 'types', 'result'), NO_FILTER);
  const g = { sources: ['hl7:RM2'], settings: ['hospital' as const], types: ['admission' as const, 'emergency' as const] };
  assert.deepEqual(filterFromParams(new URLSearchParams(filterToParams(g))), g);
  assert.deepEqual(filterFromParams(new URLSearchParams('setting=nonsense&type=bogus')), NO_FILTER);
});
