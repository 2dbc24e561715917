import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FeedHourly, FeedsStatus, FeedSummary } from '../api/integration.ts';
import { chartPoints, feedRows, hourLabel, summariseHourly } from './feeds.ts';

function feed(source: string | null, over: Partial<FeedSummary> = {}): FeedSummary {
  return { source, formats: ['hl7v2'], lastReceivedAt: null, lastAcceptedAt: null, accepted: 0, ignored: 0, quarantined: 0, quarantinedOpen: 0, last24h: { accepted: 0, ignored: 0, quarantined: 0 }, ...over };
}

test('feedRows: sources as people know them, in reading order, with how long ago they last sent', () => {
  const status: FeedsStatus = {
    at: '2025-03-10T12:00:00.000Z',
    sources: [
      feed('csv:socialcare', { formats: ['csv'], lastReceivedAt: '2025-03-08T12:00:00.000Z', accepted: 14 }),
      feed(null, { formats: ['fhir'], lastReceivedAt: '2025-03-10T11:00:00.000Z', quarantined: 1, quarantinedOpen: 1 }),
      feed('hl7:RM2', { lastReceivedAt: '2025-03-10T11:56:00.000Z', accepted: 3450, ignored: 2, quarantined: 3, quarantinedOpen: 1 }),
      feed('gp:P91001', { formats: ['fhir'], lastReceivedAt: '2025-03-10T09:00:00.000Z', accepted: 4 }),
    ],
    totals: { accepted: 0, ignored: 0, quarantined: 0, quarantinedOpen: 0 },
  };
  const rows = feedRows(status);
  assert.deepEqual(rows.map((r) => r.label), ['GP practice P91001', 'Hospital RM2', 'Social care', 'Source not known']);
  const hospital = rows[1]!;
  assert.equal(hospital.lastText, '4 min ago');
  assert.equal(hospital.freshness, 'recent');
  assert.equal(hospital.setting, 'Hospital');
  assert.equal(hospital.formats, 'HL7 v2');
  assert.deepEqual([hospital.accepted, hospital.ignored, hospital.quarantined, hospital.quarantinedOpen], [3450, 2, 3, 1]);
  assert.equal(rows[0]!.freshness, 'quiet');
  assert.equal(rows[2]!.lastText, '2 days ago');
  assert.equal(rows[2]!.freshness, 'silent');
  assert.equal(rows[3]!.setting, 'Unknown');
});

test('the chart: one point an hour, local labels, and the chart in words', () => {
  const hourly: FeedHourly = {
    source: 'hl7:RM2',
    range: '24h',
    hours: [
      { hour: '2025-03-10T10:00:00.000Z', accepted: 3, ignored: 1, quarantined: 0 },
      { hour: '2025-03-10T11:00:00.000Z', accepted: 10, ignored: 0, quarantined: 2 },
      { hour: '2025-03-10T12:00:00.000Z', accepted: 0, ignored: 0, quarantined: 0 },
    ],
  };
  const points = chartPoints(hourly);
  assert.equal(points.length, 3);
  assert.equal(points[1]!.t, Date.parse('2025-03-10T11:00:00.000Z'));
  const local = new Date('2025-03-10T11:00:00.000Z');
  assert.equal(points[1]!.label, `${String(local.getHours()).padStart(2, '0')}:00`);
  assert.match(hourLabel('2025-03-10T11:00:00.000Z', '7d'), /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat) \d{2}:00$/);
  assert.equal(summariseHourly(hourly), `16 messages in the last 24 hours: 13 accepted, 1 ignored, 2 quarantined. Busiest hour: ${points[1]!.label} (12).`);
  assert.equal(summariseHourly({ ...hourly, range: '7d', hours: hourly.hours.map((h) => ({ ...h, accepted: 0, ignored: 0, quarantined: 0 })) }), 'No messages in the last 7 days.');
});
