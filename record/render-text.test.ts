import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { formatDate } from './dates.ts';
import { buildIntegratedRecord } from './integrated-record.ts';
import { renderRecordText, table } from './render-text.ts';
import type { ResourceRow } from './rows.ts';
import { GP, identities, NOW, person, practices, rows } from './test-fixtures.ts';

const timelineLines = (text: string) => {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('TIMELINE'));
  return { heading: lines[start]!, items: lines.slice(start + 1).filter((l) => l.trim()) };
};

test('dates read DD Mon YYYY, instants in London time, partial dates as sent', () => {
  assert.equal(formatDate('2025-03-01'), '01 Mar 2025');
  assert.equal(formatDate('2025-07-01T23:30:00Z'), '02 Jul 2025'); // 00:30 BST
  assert.equal(formatDate('2025-01-01T23:30:00Z'), '01 Jan 2025'); // GMT
  assert.equal(formatDate('2025-03'), 'Mar 2025');
  assert.equal(formatDate('2025'), '2025');
  assert.equal(formatDate(null), '');
});

test('table aligns columns, drops empty ones and truncates long cells', () => {
  assert.deepEqual(table([['a', '', 'long text here', 'x'], ['bbb', '', 'y', 'zz']], [0, 0, 6]), ['  a    long…  x', '  bbb  y      zz']);
});

test('the text view has the sections and a newest-first timeline naming the source on every line', () => {
  const text = renderRecordText(buildIntegratedRecord(person, identities, rows, practices, { now: NOW }));
  for (const h of ['NHS number     943 476 5919', 'Registered GP  P91001 Sale Moor Medical Centre — Sale neighbourhood', 'ALLERGIES (1)', 'PROBLEMS (2)', 'MEDICATIONS (2)', 'ADMISSIONS AND A&E (3)', 'COMMUNITY CONTACTS (1)', 'SOCIAL CARE ASSESSMENTS (1)', 'SOCIAL CARE PACKAGES (2) — open packages cost £245.50 a week', 'The sources disagree on:']) {
    assert.ok(text.includes(h), `missing ${h}`);
  }
  const { heading, items } = timelineLines(text);
  assert.equal(heading, 'TIMELINE, NEWEST FIRST (20)');
  assert.equal(items.length, 20);
  assert.match(items[0]!, /^  01 Oct 2025  admission   Elective admission, in progress, 3 days so far +Hospital \(hl7:RM2\)$/);
  for (const line of items) assert.match(line, /(GP \(P91001 Sale Moor Medical Centre\)|Hospital \(hl7:RM2\)|Community services|Social care)$/);
  assert.ok(!/ +$/m.test(text), 'no trailing spaces');
});

test('the timeline shows the latest 50 unless --all', () => {
  const many: ResourceRow[] = Array.from({ length: 70 }, (_, i) => ({
    source_system: GP,
    resource_type: 'Observation',
    source_id: `w${i}`,
    person_id: person.person_id,
    subject_id: 'gp-pat-1',
    version: 1,
    source_time: null,
    received_at: '2025-10-01T08:00:00.000Z',
    content: { resourceType: 'Observation', id: `w${i}`, status: 'final', code: { text: 'Body weight' }, valueQuantity: { value: 80 + i, unit: 'kg' }, effectiveDateTime: new Date(Date.UTC(2020, 0, 1 + i * 7)).toISOString().slice(0, 10) } satisfies Observation,
  }));
  const record = buildIntegratedRecord(person, identities, many, practices, { now: NOW });
  const limited = timelineLines(renderRecordText(record));
  assert.equal(limited.heading, 'TIMELINE, NEWEST FIRST (70) — the latest 50 shown; --all shows all');
  assert.equal(limited.items.length, 50);
  assert.match(limited.items[0]!, /Body weight 149 kg/);
  const all = timelineLines(renderRecordText(record, { all: true }));
  assert.equal(all.heading, 'TIMELINE, NEWEST FIRST (70)');
  assert.equal(all.items.length, 70);
  assert.match(all.items.at(-1)!, /^  01 Jan 2020 .*Body weight 80 kg/);
});
