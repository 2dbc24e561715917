import { test } from 'node:test';
import assert from 'node:assert/strict';
import { historyText, parseRiskQuery, percent, riskQueryString, sparkPoints, tierLabel } from './risk.ts';

test('risk list query: read from the URL, unknown tiers and odd codes dropped', () => {
  assert.deepEqual(parseRiskQuery(new URLSearchParams('practice=p91001&tier=1')), { practice: 'P91001', neighbourhood: null, tier: '1' });
  assert.deepEqual(parseRiskQuery(new URLSearchParams("tier=3&practice=P9'--")), { practice: null, neighbourhood: null, tier: '5' });
  assert.equal(riskQueryString({ neighbourhood: 'north', tier: '20' }), 'neighbourhood=north&tier=20');
});

test('tier history in words, with the direction of the last change', () => {
  const p = (indexDate: string, tier: '0.5' | '1' | '5' | '20' | null) => ({ indexDate, scoredAt: `${indexDate}T00:00:00Z`, modelVersion: 1, probability: 0.2, tier });
  assert.equal(historyText([]), 'No earlier scores');
  assert.equal(historyText([p('2025-07-01', '5'), p('2026-01-01', '1')]), 'Jul 2025 top 5%, Jan 2026 top 1% (risen)');
  assert.equal(historyText([p('2025-07-01', '1'), p('2026-01-01', null)]), 'Jul 2025 top 1%, Jan 2026 below top 20% (fallen)');
  assert.equal(tierLabel('0.5'), 'Top 0.5%');
  assert.equal(percent(0.053), '5.3%');
  assert.equal(percent(0.42), '42%');
  assert.equal(sparkPoints([p('2025-07-01', '5'), p('2026-01-01', '1')], 60, 20), '0,1.0 60,1.0');
});
