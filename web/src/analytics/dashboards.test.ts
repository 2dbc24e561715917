import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommissioningDashboard, MeasureView } from './api.ts';
import { analyticsNav, freshnessText, monthLabel, showCount, showMoney, spcRows, spcSummary, useChart } from './dashboards.ts';

test('navigation follows the shipped policy', () => {
  assert.deepEqual(analyticsNav('analyst').map((e) => e.label), ['Commissioning', 'Clinical panels']);
  assert.deepEqual(analyticsNav('gp').map((e) => e.label), ['Clinical panels']);
  assert.deepEqual(analyticsNav('consultant'), []);
});

test('controlled figures read in words', () => {
  assert.equal(showCount(null), 'fewer than 8');
  assert.equal(showCount(1250, 'people'), '1,250 people');
  assert.equal(showMoney(null), 'suppressed');
  assert.equal(showMoney(12340.4), '£12,340');
  assert.equal(monthLabel('2025-03'), 'Mar 2025');
});

const view = (values: (number | null)[]): MeasureView => ({
  measure: { id: 'm', title: 'M', panel: 'p', unit: 'people', polarity: 'lower-is-better' },
  place: { level: 'locality', key: '', name: 'The whole locality' },
  disclosureControl: true,
  points: values.map((value, i) => ({ month: `2025-0${i + 1}`, value, numerator: value, denominator: null })),
  chart: { mean: 10, upperProcessLimit: 15, lowerProcessLimit: 5, assurance: 'no-target', points: values.flatMap((value, i) => (value === null ? [] : [{ label: `2025-0${i + 1}`, value, rules: value > 15 ? ['astronomical'] : [], signal: value > 15 ? ('concern' as const) : ('neutral' as const), outsideTolerance: false }])) },
  aim: null,
  freshness: { refreshedAt: null, asOf: null, sources: [], oldestLastMessageAt: null },
});

test('SPC rows keep suppressed months, with each point read', () => {
  const rows = spcRows(view([10, null, 20]));
  assert.deepEqual(rows.map((r) => [r.value, r.signal]), [[10, 'neutral'], [null, null], [20, 'concern']]);
  assert.match(spcSummary(view([10, null, 20])), /Latest Mar 2025: 20 \(people\); mean 10, process limits 5 to 15\. 0 months show special-cause improvement, 1 concern\./);
  assert.match(spcSummary({ ...view([1]), chart: null }), /Not enough figures/);
});

test('use and cost: the largest keys stacked, the rest as Other', () => {
  const d: CommissioningDashboard = {
    by: 'practice', from: '2025-01', to: '2025-02', months: ['2025-01', '2025-02'], shift: [], freshness: { refreshedAt: null, asOf: null, sources: [] },
    rows: ['A', 'B', 'C'].flatMap((k, i) => ['2025-01', '2025-02'].map((month) => ({ month, key: k, name: `Practice ${k}`, people: 10, costGbp: (3 - i) * 100, activity: {}, drillDown: null, freshness: { refreshedAt: null, asOf: null, sources: [], oldestLastMessageAt: null } }))),
  };
  const c = useChart(d, 1);
  assert.deepEqual(c.keys, [{ key: 'A', name: 'Practice A' }, { key: '__other', name: 'Other' }]);
  assert.deepEqual(c.rows[0], { month: '2025-01', label: 'Jan 2025', A: 300, __other: 300 });
  assert.equal(useChart(d, 2).keys.length, 3, 'no "Other" of one key');
});

test('freshness in words', () => {
  const now = Date.parse('2025-10-01T12:00:00Z');
  assert.match(freshnessText({ refreshedAt: null, asOf: null, sources: [] }, now), /No summary/);
  assert.equal(
    freshnessText({ refreshedAt: '2025-10-01T11:56:00Z', asOf: '2025-10-01', sources: [{ source: 'a', setting: null, lastMessageAt: '2025-10-01T10:00:00Z', latestActivity: null }, { source: 'b', setting: null, lastMessageAt: '2025-09-28T12:00:00Z', latestActivity: null }] }, now),
    'Figures built 4 min ago, counting to 2025-10-01; sources last heard from 2 hours ago (newest) to 3 days ago (oldest).',
  );
});
