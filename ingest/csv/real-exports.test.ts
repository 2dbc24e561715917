/**
 * CSV extracts as other systems really write them (synthetic rows, written for these tests):
 * spreadsheet and database exports with a BOM and CRLF, semicolons or tabs, every field quoted,
 * newlines inside quotes, header names of every style, dates with month names or as Excel serials,
 * money with a pound sign and thousands separators. One bad row is quarantined with its reason and
 * the others go in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EpisodeOfCare, Encounter, Procedure } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { csvAdapter } from './adapter.ts';
import { parseCsvDate, parseCsvNumber } from './rows.ts';
import { WEEKLY_COST_URL } from './rows.ts';

async function* chunks(buf: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function readAll(data: string | Buffer, size = 7): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for await (const item of csvAdapter.read(chunks(buf, size), 'extract.csv')) out.push(item);
  return out;
}
const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

test('dates with a month by name, as Oracle, SQL Server and Excel exports write them', () => {
  const cases: [string, string | null][] = [
    ['3-Apr-2024', '2024-04-03'],
    ['03-APR-2024', '2024-04-03'],
    ['3 April 2024', '2024-04-03'],
    ['17-March-1938', '1938-03-17'],
    ['1/Sep/2023', '2023-09-01'],
    ['1-Sept-2023', '2023-09-01'],
    ['12 Mar 1960 10:30', '1960-03-12'],
    ['29-Feb-2023', null], // no such day
    ['3-Foo-2024', null],
    ['3-Apr-24', null], // a two-digit year: the century of a date of birth cannot be told
    ['3-Apr 2024', null], // mixed separators
  ];
  for (const [text, iso] of cases) assert.equal(parseCsvDate(text), iso, text);
});

test('ISO date-times with a space (SQL exports), and Excel serials; a bare year is not a serial', () => {
  assert.equal(parseCsvDate('2024-04-06 09:30:00'), '2024-04-06');
  assert.equal(parseCsvDate('2024-04-06 09:30'), '2024-04-06');
  assert.equal(parseCsvDate('2024-04-06 09:30:00.123'), '2024-04-06');
  assert.equal(parseCsvDate('45385'), '2024-04-03');
  assert.equal(parseCsvDate('45385.75'), '2024-04-03'); // 18:00 that day
  assert.equal(parseCsvDate('14959'), '1940-12-14');
  assert.equal(parseCsvDate('9497'), '1925-12-31');
  assert.equal(parseCsvDate('2024'), null);
  assert.equal(parseCsvDate('1950'), null);
  assert.equal(parseCsvDate('123'), null);
  assert.equal(parseCsvDate('453850'), null);
});

test('numbers: thousands separators and a pound sign are read; a decimal comma is not guessed at', () => {
  assert.equal(parseCsvNumber('£250.00', false), 250);
  assert.equal(parseCsvNumber('£ 1,200.50', false), 1200.5);
  assert.equal(parseCsvNumber('1,200', true), 1200);
  assert.equal(parseCsvNumber('-£12.5', false), -12.5);
  assert.equal(parseCsvNumber('250,50', false), null);
  assert.equal(parseCsvNumber('1,20,000', false), null);
  assert.equal(parseCsvNumber('12.5', true), null);
  assert.equal(parseCsvNumber('£', false), null);
});

test('a spreadsheet export: BOM, semicolons, CRLF, a newline inside quotes, headers as people write them; the bad row alone is quarantined', async () => {
  const lines = [
    '\uFEFFContact ID;Client ID;NHS Number;Surname;Forename(s);Date of Birth;Gender;Post Code;GP Practice Code;Contact Date;Service;Team;Contact Type;Duration (mins)',
    'C1;CL1;943 476 5919;Testwood;Ann;03/04/1950;F;M33 1AA;P91001;3-Apr-2024;District nursing;North;Home visit;30',
    'C2;CL2;943-476-5870;Testjones;"Bob\r\nJunior";1-Jan-1941;M;M33 2BB;P91001;45385;District nursing;North;"Home; visit";20',
    'C3;CL3;;Testbrown;Cat;1950-13-01;F;M33 3CC;P91001;2024-04-05;District nursing;North;Clinic;15',
    'C4;CL4;9434765919;Testwhite;Dan;12 Mar 1960;M;M33 4DD;P91001;2024-04-06 09:30:00;District nursing;North;Clinic;10',
  ];
  const items = await readAll(lines.join('\r\n') + '\r\n');
  const ok = accepted(items);
  assert.deepEqual(ok.map((i) => i.messageId), ['community-contact:C1', 'community-contact:C2', 'community-contact:C4']);
  assert.equal(ok[0]!.fileNotes, undefined); // every column was read
  const [ann, bob, dan] = ok.map((i) => i.identities[0]!);
  assert.deepEqual(
    { nhs: ann!.nhsNumber, family: ann!.family, given: ann!.given, dob: ann!.birthDate, sex: ann!.sex, postcode: ann!.postcode, practice: ann!.practice },
    { nhs: '9434765919', family: 'Testwood', given: 'Ann', dob: '1950-04-03', sex: 'female', postcode: 'M33 1AA', practice: 'P91001' },
  );
  assert.equal(bob!.nhsNumber, '9434765870');
  assert.equal(bob!.given, 'Bob\nJunior');
  assert.equal(bob!.birthDate, '1941-01-01');
  assert.equal(dan!.birthDate, '1960-03-12');
  const enc = (i: AcceptedItem) => i.resources[1]!.resource as Encounter;
  assert.deepEqual(enc(ok[0]!).period, { start: '2024-04-03' });
  assert.deepEqual(enc(ok[1]!).period, { start: '2024-04-03' }); // Excel serial 45385
  assert.deepEqual(enc(ok[1]!).type, [{ text: 'Home; visit' }]);
  assert.equal(enc(ok[1]!).length?.value, 20);
  assert.deepEqual(enc(ok[2]!).period, { start: '2024-04-06' });
  // The row with a thirteenth month: one rejection, naming the line it starts on (after a row of two lines), the column and the value.
  assert.deepEqual(rejected(items).map((r) => r.reason), [
    'line 5: column date_of_birth value "1950-13-01" is not a valid date (YYYY-MM-DD, YYYYMMDD, day first: DD/MM/YYYY, DD-MM-YYYY, D-Mon-YYYY, or an Excel serial)',
  ]);
  assert.equal(rejected(items)[0]!.sourceSystem, 'csv:community');
});

test('a tab-separated social care extract with data-dictionary and short header names', async () => {
  const rows = [
    ['assessment_id', 'person_id', 'nhs_no', 'Person_Family_Name', 'Person_Given_Name', 'Person Birth Date', 'sex', 'Postcode of Usual Address', 'assessment_date', 'assessment_type', 'outcome'],
    ['A1', 'P1', '9434765919', 'Testwood', 'Ann', '19500403', '2', 'M33 1AA', '05-APR-2024', 'Care Act assessment', 'Eligible'],
    ['A2', 'P2', '', 'Testjones', 'Bob', '01/01/1941', '1', 'M33 2BB', '20/13/2024', 'Care Act assessment', 'Eligible'],
    ['A3', 'P3', '', 'Testgreen', 'Eve', '17-March-1938', '2', 'M33 5EE', '6 April 2024', 'Review', 'No change'],
  ];
  const items = await readAll(rows.map((r) => r.join('\t')).join('\n'));
  const ok = accepted(items);
  assert.deepEqual(ok.map((i) => i.event), ['socialcare-assessment', 'socialcare-assessment']);
  assert.equal(ok[0]!.fileNotes, undefined);
  assert.deepEqual(
    [ok[0]!.identities[0]!.nhsNumber, ok[0]!.identities[0]!.family, ok[0]!.identities[0]!.given, ok[0]!.identities[0]!.birthDate, ok[0]!.identities[0]!.postcode],
    ['9434765919', 'Testwood', 'Ann', '1950-04-03', 'M33 1AA'],
  );
  assert.equal((ok[0]!.resources[1]!.resource as Procedure).performedDateTime, '2024-04-05');
  assert.equal(ok[1]!.identities[0]!.birthDate, '1938-03-17');
  assert.equal((ok[1]!.resources[1]!.resource as Procedure).performedDateTime, '2024-04-06');
  assert.deepEqual(rejected(items).map((r) => r.reason), [
    'line 3: column assessment_date value "20/13/2024" is not a valid date (YYYY-MM-DD, YYYYMMDD, day first: DD/MM/YYYY, DD-MM-YYYY, D-Mon-YYYY, or an Excel serial)',
  ]);
});

test('every field quoted, money with £ and thousands, a provider name across two lines', async () => {
  const text = [
    '"Package ID","Person ID","NHS Number","Family Name","Given Name","Date Of Birth","Sex","Postcode","Service Type","Start Date","End Date","Hours Per Week","Weekly Cost","Provider"',
    '"PK1","P1","943 476 5919","Testwood","Ann","03/04/1950","F","M33 1AA","Home care","01/04/2024","","10","£250.00","Acme Care, Ltd"',
    '"PK2","P2","","O\'Testneil","Bob","1941-01-01","M","M33 2BB","Day care","2024-04-01","2024-06-30","6","1,200.50","Sunrise\nDay Centre"',
    '"PK3","P3","","Testgrey","Cy","1941-01-01","M","M33 2BB","Day care","2024-04-01","","6","250,50","Sunrise"',
  ].join('\n');
  const items = await readAll(text);
  const ok = accepted(items);
  const ep = (i: AcceptedItem) => i.resources[1]!.resource as EpisodeOfCare;
  const cost = (i: AcceptedItem) => ep(i).extension?.find((x) => x.url === WEEKLY_COST_URL)?.valueMoney;
  assert.equal(ok.length, 2);
  assert.deepEqual(cost(ok[0]!), { value: 250, currency: 'GBP' });
  assert.equal(ep(ok[0]!).status, 'active');
  assert.deepEqual(ep(ok[0]!).managingOrganization, { display: 'Acme Care, Ltd' });
  assert.deepEqual(cost(ok[1]!), { value: 1200.5, currency: 'GBP' });
  assert.deepEqual(ep(ok[1]!).period, { start: '2024-04-01', end: '2024-06-30' });
  assert.deepEqual(ep(ok[1]!).managingOrganization, { display: 'Sunrise\nDay Centre' });
  assert.equal(ok[1]!.identities[0]!.family, "O'Testneil");
  assert.deepEqual(rejected(items).map((r) => r.reason), ['line 5: column weekly_cost value "250,50" is not a number (a point for decimals; commas only between thousands)']);
});

test('spreadsheet artefacts: ="…" text fields are read; an NHS number in scientific notation is rejected, naming why', async () => {
  const text = [
    'contact_id,client_id,nhs_number,contact_date,gp_practice',
    'S1,CL1,="9434765919",2024-04-03,="P91001"',
    'S2,CL2,9.43477E+09,2024-04-03,P91001',
  ].join('\r\n');
  const items = await readAll(text);
  const ok = accepted(items);
  assert.deepEqual(ok.map((i) => [i.messageId, i.identities[0]!.nhsNumber, i.identities[0]!.practice]), [
    ['community-contact:S1', '9434765919', 'P91001'],
  ]);
  assert.deepEqual(rejected(items).map((r) => r.reason), [
    'line 3: column nhs_number value "9.43477E+09" is not an NHS number: a spreadsheet has written it as a number in scientific notation and its digits are lost; export the column as text',
  ]);
});

test('a spreadsheet export with unused columns (empty header cells at the end) and empty rows of delimiters only', async () => {
  const header = 'Contact ID,Client ID,NHS Number,Surname,Forename,DOB,Contact Date,Service,,';
  const text = [header, 'C1,CL1,943 476 5919,Smith,Jane,29/02/1968,03/04/2024,District nursing,,', ',,,,,,,,,', ' , ,,,,,,,,', 'C2,CL2,,Jones,Ann,1950-04-03,2024-04-03,Podiatry,,', ''].join('\r\n');
  for (const delimited of [text, text.replaceAll(',', '|'), text.replaceAll(',', '\t')]) {
    const items = await readAll(delimited);
    assert.deepEqual(rejected(items).map((r) => r.reason), [], 'nothing quarantined');
    const rows = accepted(items);
    assert.deepEqual(rows.map((r) => r.identities[0]!.id), ['CL1', 'CL2']);
    assert.equal(rows[0]!.identities[0]!.nhsNumber, '9434765919');
    assert.equal(rows[0]!.fileNotes, undefined, 'unnamed columns are not worth a note');
  }
  // A row with a value but no contact id is still quarantined, naming the column.
  const bad = await readAll([header, ',CL3,,,,,03/04/2024,Physio,,'].join('\n'));
  assert.match(rejected(bad)[0]!.reason, /^line 2: column contact_id is required but empty/);
});
