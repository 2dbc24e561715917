import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Observation } from '@medplum/fhirtypes';
import { formatDate } from './dates.ts';
import { buildIntegratedRecord } from './integrated-record.ts';
import { renderRecordText, table } from './render-text.ts';
import type { ResourceRow } from './rows.ts';
import { GP, identities, NOW, person, practices, rows } from './test-fixtures.ts';
import { deathEvents, deathPatients, encounterRows, resultRows } from './trust-fixtures.ts';

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
  assert.match(items[0]!, /^  01 Oct 2025  admission     Elective admission, in progress, 3 days so far +Trafford Synthetic Acute Hospital, south site \(hl7:RM2\)$/);
  for (const line of items) assert.match(line, /\((gp:P91001|hl7:RM2|csv:community|csv:socialcare)\)$/);
  assert.ok(!text.includes('DECEASED'));
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

test('a death is the first thing said after the name, with who records it and where the sources disagree', () => {
  const noPatients = rows.filter((r) => r.resource_type !== 'Patient');
  const text = renderRecordText(buildIntegratedRecord(person, identities, [...noPatients, ...deathPatients, ...deathEvents], practices, { now: NOW }));
  const lines = text.split('\n');
  assert.equal(lines[0], 'Integrated care record: SMITH, Jon');
  assert.equal(lines[1], 'DECEASED: died 20 Sep 2025, aged 75 — recorded by Sale Moor Medical Centre (gp:P91001); Trafford Synthetic Acute Hospital, south site (hl7:RM2); Trafford Synthetic Adult Social Care (csv:socialcare)');
  assert.match(lines[2]!, /^=+$/);
  assert.match(lines[3]!, /^  The sources disagree on the death: date of death: 20 Sep 2025 \(.*\); 22 Sep 2025 \(Trafford Synthetic Adult Social Care \(csv:socialcare\)\)$/);
  assert.ok(lines.includes('Born           12 Mar 1950 (aged 75 at death)'));
  assert.ok(lines.includes('Died           20 Sep 2025'));
  assert.match(text, /\n  15 Sep 2025  admission  emergency  finished +to 20 Sep 2025  5 d  DIED  Geriatric medicine — Ward 7 \(BAY2 BED3\)  Trafford Synthetic Acute Hospital, south site \(hl7:RM2\)\n/);

  const silent = renderRecordText(buildIntegratedRecord(person, identities, [...rows, deathPatients[1]!], practices, { now: NOW })).split('\n');
  assert.match(silent[1]!, /^DECEASED: died 20 Sep 2025, aged 75 — recorded by Trafford Synthetic Acute Hospital, south site \(hl7:RM2\)$/);
  assert.equal(silent[3], '  Not recorded as deceased by: Sale Moor Medical Centre (gp:P91001)');
});

test('results by group with each comment under its result; smoking status under social history; GP consultations', () => {
  const text = renderRecordText(buildIntegratedRecord(person, identities, [...rows, ...resultRows, ...encounterRows], practices, { now: NOW }));
  const block = (heading: string) => {
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.startsWith(heading));
    assert.ok(i >= 0, `no ${heading}`);
    const end = lines.findIndex((l, n) => n > i && l === '');
    return lines.slice(i, end);
  };
  assert.deepEqual(block('LABORATORY RESULTS'), [
    'LABORATORY RESULTS, LATEST OF EACH (4)',
    '  10 Aug 2025  Haemoglobin   [HB]  98 g/L       L  (130-170)  Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
    '      comment: Result confirmed on repeat analysis.',
    '      comment: Film reviewed: hypochromic microcytic.',
    '  10 Aug 2025  Platelets           250 10*9/L                 Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
    '  02 Jul 2025  Serum sodium        131 mmol/L   L  (133-146)  Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
    '  01 Mar 2025  HbA1c level         52 mmol/mol  H             Sale Moor Medical Centre (gp:P91001)',
  ]);
  assert.deepEqual(block('SOCIAL HISTORY'), [
    'SOCIAL HISTORY (SMOKING, ALCOHOL), LATEST OF EACH (2)',
    '  01 Aug 2025  Tobacco smoking status  Ex-smoker  Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
    '  01 May 2019  Smoker                             Sale Moor Medical Centre (gp:P91001)',
  ]);
  assert.deepEqual(block('REPORTS'), [
    'REPORTS (2)',
    '  10 Aug 2025  Full blood count       [FBC]  2 results  Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
    '      comment: Sample received 6 hours after collection.',
    '  02 Jul 2025  Urea and electrolytes         1 result   Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
  ]);
  assert.deepEqual(block('GP CONSULTATIONS'), [
    'GP CONSULTATIONS (3)',
    '  03 Jun 2025  GP home visit, Sale Moor Medical Centre                        Dr A Patel  Sale Moor Medical Centre (gp:P91001)',
    '  02 May 2025  GP telephone consultation, Sale Moor Medical Centre                        Sale Moor Medical Centre (gp:P91001)',
    '  01 Mar 2025  GP consultation at Sale Moor Medical Centre — Diabetes review              Sale Moor Medical Centre (gp:P91001)',
  ]);
  assert.deepEqual(block('OTHER ENCOUNTERS'), [
    'OTHER ENCOUNTERS (1)',
    '  04 Apr 2025  Outpatient or clinic contact  Diabetic medicine  Outpatient department (Diabetic medicine)  finished  Trafford Synthetic Acute Hospital, south site (hl7:RM2)',
  ]);
  assert.ok(!/ +$/m.test(text), 'no trailing spaces');
});
