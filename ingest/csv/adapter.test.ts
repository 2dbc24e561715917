import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { EpisodeOfCare, Encounter, Patient, Procedure } from '@medplum/fhirtypes';
import type { AcceptedItem, IngestItem, RejectedItem } from '../model.ts';
import { csvAdapter, parseFields } from './adapter.ts';
import { CSV_CONTRACTS, contractProblems, headerKey, matchHeader, sniffDelimiter } from './contracts.ts';
import { parseCsvDate } from './rows.ts';

async function* chunks(buf: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function readAll(data: string | Buffer, size = 11): Promise<IngestItem[]> {
  const out: IngestItem[] = [];
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  for await (const item of csvAdapter.read(chunks(buf, size), 'community/contacts.csv')) out.push(item);
  return out;
}

const accepted = (items: IngestItem[]) => items.filter((i): i is AcceptedItem => i.kind === 'accepted');
const rejected = (items: IngestItem[]) => items.filter((i): i is RejectedItem => i.kind === 'rejected');

const CONTACT_HEADER =
  'contact_id,client_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,gp_practice,contact_date,service,team,contact_type,snomed_code,snomed_display,duration_minutes,staff_role';
const contactRow = (id: string, over: Partial<Record<string, string>> = {}) => {
  const v: Record<string, string> = {
    contact_id: id,
    client_id: 'CL1001',
    nhs_number: '943 476 5919',
    family_name: 'Testperson',
    given_name: 'Alex',
    date_of_birth: '1950-03-14',
    sex: 'F',
    postcode: 'ZZ9 9ZZ',
    gp_practice: 'P91001',
    contact_date: '2024-02-01',
    service: 'District nursing',
    team: 'North team',
    contact_type: 'Home visit',
    snomed_code: '225358003',
    snomed_display: 'Wound care',
    duration_minutes: '30',
    staff_role: 'Community nurse',
    ...over,
  };
  return CONTACT_HEADER.split(',')
    .map((c) => v[c])
    .join(',');
};

test('sniff: a contract header or any identifier-like header; not FHIR or HL7', () => {
  assert.equal(csvAdapter.sniff(`${CONTACT_HEADER}\r\nC1,...`), true);
  assert.equal(csvAdapter.sniff(`\uFEFF"contact_id","client_id"\n`), true);
  assert.equal(csvAdapter.sniff('contact_id,client_id,nhs_numbr'), true);
  assert.equal(csvAdapter.sniff('{"resourceType":"Bundle"}'), false);
  assert.equal(csvAdapter.sniff('MSH|^~\\&|PAS|RM2'), false);
  assert.equal(csvAdapter.sniff('Dear Sam, thank you for your letter of the third of March.'), false);
  assert.equal(csvAdapter.sniff('Contact ID;Client ID;NHS Number;Date of Birth'), true);
  assert.equal(csvAdapter.sniff('contact_id\tclient_id\tcontact_date'), true);
});

test('community contacts: good rows become Patient + Encounter items', async () => {
  const text = `${CONTACT_HEADER}\n${contactRow('CC1')}\n${contactRow('CC2', { sex: 'male', contact_date: '05/03/2024', duration_minutes: '', snomed_code: '' })}\n`;
  const items = await readAll(text);
  assert.equal(rejected(items).length, 0);
  const [a, b] = accepted(items);
  assert.equal(a.sourceSystem, 'csv:community');
  assert.equal(a.messageId, 'community-contact:CC1');
  assert.equal(a.event, 'community-contact');
  assert.equal(a.idIsUnique, false);
  assert.equal(a.origin, 'community/contacts.csv#2');
  assert.equal(a.contentHash, createHash('sha256').update(contactRow('CC1')).digest('hex'));
  assert.deepEqual(a.identities[0], {
    system: 'csv:community',
    id: 'CL1001',
    nhsNumber: '9434765919',
    family: 'Testperson',
    given: 'Alex',
    birthDate: '1950-03-14',
    sex: 'female',
    postcode: 'ZZ9 9ZZ',
    practice: 'P91001',
  });
  const patient = a.resources[0].resource as Patient;
  assert.equal(patient.id, 'CL1001');
  assert.deepEqual(patient.identifier, [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9434765919' }]);
  const enc = a.resources[1].resource as Encounter;
  assert.equal(enc.id, 'CC1');
  assert.equal(enc.status, 'finished');
  assert.deepEqual(enc.class, { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'HH', display: 'home health' });
  assert.deepEqual(enc.type?.[0].coding, [{ system: 'http://snomed.info/sct', code: '225358003', display: 'Wound care' }]);
  assert.deepEqual(enc.period, { start: '2024-02-01' });
  assert.equal(enc.length?.value, 30);
  assert.deepEqual(enc.serviceType, { text: 'District nursing' });
  assert.deepEqual(enc.subject, { reference: 'Patient/CL1001' });

  assert.equal(b.identities[0]?.sex, 'male');
  const enc2 = b.resources[1].resource as Encounter;
  assert.deepEqual(enc2.period, { start: '2024-03-05' });
  assert.equal(enc2.length, undefined);
  assert.equal(b.origin, 'community/contacts.csv#3');
});

test('social care assessments and packages', async () => {
  const ah = 'assessment_id,person_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,assessment_date,assessment_type,outcome,snomed_code,snomed_display,worker_team';
  const [a] = await readAll(`${ah}\nSA1,SC77,,Testperson,Sam,01/12/1940,U,ZZ1 1ZZ,2024-01-10,Care Act assessment,Eligible,710909003,Social care assessment,Older adults\n`);
  const item = a as AcceptedItem;
  assert.equal(item.sourceSystem, 'csv:socialcare');
  assert.equal(item.identities[0]?.birthDate, '1940-12-01');
  assert.equal(item.identities[0]?.nhsNumber, undefined);
  const proc = item.resources[1].resource as Procedure;
  assert.equal(proc.resourceType, 'Procedure');
  assert.equal(proc.id, 'SA1');
  assert.deepEqual(proc.category, { text: 'Social care assessment' });
  assert.equal(proc.performedDateTime, '2024-01-10');
  assert.deepEqual(proc.outcome, { text: 'Eligible' });
  assert.equal(proc.code?.coding?.[0].code, '710909003');

  const ph = 'package_id,person_id,nhs_number,family_name,given_name,date_of_birth,sex,postcode,service_type,start_date,end_date,hours_per_week,weekly_cost,provider';
  const items = await readAll(`${ph}\nPK1,SC77,,T,S,1940-12-01,F,,Home care,2023-04-01,,10.5,315.00,Acme Care\nPK2,SC77,,T,S,1940-12-01,F,,Day centre,2022-01-01,2022-06-30,6,120,Town Hall\n`);
  const [open, closed] = accepted(items).map((i) => i.resources[1].resource as EpisodeOfCare);
  assert.equal(open.status, 'active');
  assert.deepEqual(open.period, { start: '2023-04-01' });
  assert.deepEqual(open.extension, [
    { url: 'https://bevan.example/fhir/StructureDefinition/weekly-cost', valueMoney: { value: 315, currency: 'GBP' } },
    { url: 'https://bevan.example/fhir/StructureDefinition/hours-per-week', valueDecimal: 10.5 },
  ]);
  assert.deepEqual(open.managingOrganization, { display: 'Acme Care' });
  assert.deepEqual(open.type, [{ text: 'Home care' }]);
  assert.equal(closed.status, 'finished');
  assert.equal(closed.period?.end, '2022-06-30');
});

test('a header without a required column rejects the whole file, naming the column; an optional one may be absent', async () => {
  const header = CONTACT_HEADER.replace(',contact_date', '');
  const row = contactRow('CC1').replace(',2024-02-01', '');
  const items = await readAll(`${header}\n${row}\n${row}\n`);
  assert.equal(items.length, 1);
  const [r] = rejected(items);
  assert.match(r.reason, /closest is community-contact: it has no contact_date column, which the contract requires/);
  assert.match(r.reason, /none of its 2 rows was read/);
  assert.equal(r.raw, `${header}\n(2 rows not read)`);

  const noRole = await readAll(`${CONTACT_HEADER.replace(',staff_role', '')}\n${contactRow('CC1').replace(/,Community nurse$/, '')}\n`);
  assert.equal(accepted(noRole).length, 1);
  assert.equal(accepted(noRole)[0]!.fileNotes, undefined);
});

test('an extra column is ignored and named on the file\'s first item; column order does not matter', async () => {
  const items = await readAll(`${CONTACT_HEADER},Shoe Size,ward\n${contactRow('CC1')},9,W1\n${contactRow('CC2')},8,W2\n`);
  assert.deepEqual(rejected(items), []);
  const [first, second] = accepted(items);
  assert.deepEqual(first!.fileNotes, ['2 columns not in the community-contact contract, so not read: Shoe Size, ward']);
  assert.equal(second!.fileNotes, undefined);
  assert.equal(first!.contentHash, createHash('sha256').update(`${contactRow('CC1')},9,W1`).digest('hex'));

  const cols = CONTACT_HEADER.split(',');
  const reversedHeader = [...cols].reverse().join(',');
  const reversedRow = contactRow('CC9').split(',').reverse().join(',');
  const [ok] = await readAll(`${reversedHeader}\n${reversedRow}\n`);
  assert.equal(ok.kind, 'accepted');
  assert.equal(((ok as AcceptedItem).resources[1].resource as Encounter).id, 'CC9');
});

test('bad rows are rejected on their own with column, value and line; the rest go in', async () => {
  const text = [
    CONTACT_HEADER,
    contactRow('CC1'),
    contactRow('CC2', { contact_date: '31/02/2024' }),
    contactRow('CC3', { duration_minutes: 'half an hour' }),
    `${contactRow('CC4')},surplus`,
    contactRow('', {}),
    contactRow('CC6', { sex: 'Y' }),
    contactRow('CC7'),
  ].join('\r\n');
  const items = await readAll(text);
  assert.deepEqual(
    accepted(items).map((i) => i.messageId),
    ['community-contact:CC1', 'community-contact:CC7'],
  );
  const reasons = rejected(items).map((r) => r.reason);
  assert.deepEqual(reasons, [
    'line 3: column contact_date value "31/02/2024" is not a valid date (YYYY-MM-DD, YYYYMMDD, day first: DD/MM/YYYY, DD-MM-YYYY, D-Mon-YYYY, or an Excel serial)',
    'line 4: column duration_minutes value "half an hour" is not a whole number',
    'line 5: the row has 18 fields but the header has 17',
    'line 6: column contact_id is required but empty',
    'line 7: column sex value "Y" is not a sex (M, F, U, male, female, unknown, or the NHS codes 1, 2, 9, X)',
  ]);
  const bad = rejected(items)[1];
  assert.equal(bad.raw, contactRow('CC3', { duration_minutes: 'half an hour' }));
  assert.equal(bad.messageId, 'community-contact:CC3');
  assert.equal(bad.origin, 'community/contacts.csv#4');
});

test('quoted fields with commas, quotes and newlines; line numbers count the embedded newlines', async () => {
  const row1 = contactRow('CC1', { service: '"Nursing, district"', staff_role: '"Nurse ""senior""\nband 6"' });
  const text = `${CONTACT_HEADER}\n${row1}\n\n${contactRow('CC2', { contact_date: 'never' })}\n`;
  const items = await readAll(text, 5);
  const [a] = accepted(items);
  const enc = a.resources[1].resource as Encounter;
  assert.deepEqual(enc.serviceType, { text: 'Nursing, district' });
  assert.deepEqual(enc.participant?.[0].type, [{ text: 'Nurse "senior"\nband 6' }]);
  assert.match(rejected(items)[0].reason, /^line 5: column contact_date/);
});

test('BOM and Latin-1 text', async () => {
  const withBom = `\uFEFF${CONTACT_HEADER}\n${contactRow('CC1', { family_name: 'Lefèvre' })}\n`;
  const [a] = await readAll(withBom);
  assert.equal((a as AcceptedItem).identities[0]?.family, 'Lefèvre');
  const latin = Buffer.from(`${CONTACT_HEADER}\n${contactRow('CC1', { family_name: 'Lefèvre', given_name: 'Zoë' })}\n`, 'latin1');
  const [b] = await readAll(latin, 3);
  assert.equal((b as AcceptedItem).identities[0]?.family, 'Lefèvre');
  assert.equal((b as AcceptedItem).identities[0]?.given, 'Zoë');
});

test('a quoting error loses only its row', async () => {
  const text = `${CONTACT_HEADER}\n${contactRow('CC1')}\n${contactRow('CC2', { service: '"oops"x' })}\n${contactRow('CC3')}\n`;
  const items = await readAll(text);
  assert.deepEqual(
    accepted(items).map((i) => i.messageId),
    ['community-contact:CC1', 'community-contact:CC3'],
  );
  assert.match(rejected(items)[0].reason, /^line 3: CSV quoting error/);
});

test('contracts: loaded from data and matched by column names and aliases', () => {
  assert.deepEqual(
    CSV_CONTRACTS.map((c) => c.name),
    ['community-contact', 'socialcare-assessment', 'socialcare-package', 'mentalhealth-contact'],
  );
  const m = matchHeader(CONTACT_HEADER.split(','));
  assert.ok('contract' in m && m.contract.name === 'community-contact');
  assert.equal(parseCsvDate('29/02/2023'), null);
  assert.equal(parseCsvDate('29/02/2024'), '2024-02-29');
  assert.equal(parseCsvDate('2024-2-1'), null);
});

test('a quote never closed costs its line, not the rest of the file', async () => {
  const text = `${CONTACT_HEADER}\n${contactRow('CC1', { service: '"never closed' })}\n${contactRow('CC2')}\n${contactRow('CC3')}`;
  for (const size of [4, 1000]) {
    const items = await readAll(text, size);
    assert.deepEqual(
      accepted(items).map((i) => i.messageId),
      ['community-contact:CC2', 'community-contact:CC3'],
      `chunk ${size}`,
    );
    assert.match(rejected(items)[0].reason, /^line 2: a quote opened on this line is never closed/);
  }
});

test('parseFields: RFC 4180 fields, strict about stray quotes', () => {
  assert.deepEqual(parseFields('a,b,,c'), ['a', 'b', '', 'c']);
  assert.deepEqual(parseFields('"a,1","say ""hi""",,"line\nbreak",'), ['a,1', 'say "hi"', '', 'line\nbreak', '']);
  assert.deepEqual(parseFields('""'), ['']);
  assert.throws(() => parseFields('"open,b'), /never closed/);
  assert.throws(() => parseFields('"a"b,c'), /unexpected "b" after the closing quote/);
  assert.throws(() => parseFields('a"b,c'), /quote inside the unquoted field/);
});

test('an empty file and a header-only file', async () => {
  const empty = await readAll('');
  assert.equal(empty.length, 1);
  assert.match((empty[0] as RejectedItem).reason, /no header line/);
  assert.deepEqual(await readAll(`${CONTACT_HEADER}\r\n`), []);
});

test('a feed with a configured source: every row, and every rejection, is of that source system', async () => {
  const text = `${CONTACT_HEADER}\n${contactRow('CS1')}\n${contactRow('CS2', { date_of_birth: '31/02/1950' })}\n`;
  const items: IngestItem[] = [];
  for await (const item of csvAdapter.read(chunks(Buffer.from(text), 64), 'drop/contacts.csv', { source: 'csv:trafford-community' })) items.push(item);
  const [ok] = accepted(items);
  assert.equal(ok!.sourceSystem, 'csv:trafford-community');
  assert.deepEqual(ok!.identities.map((i) => `${i.system}|${i.id}`), ['csv:trafford-community|CL1001']);
  assert.equal(rejected(items)[0]!.sourceSystem, 'csv:trafford-community');
  // Without one, the contract's own key.
  assert.equal(accepted(await readAll(text))[0]!.sourceSystem, 'csv:community');
});

test('a header of 10,000 extra columns is read; its note names 50 of them, not a copy of the header', async () => {
  const cols = [...CONTACT_HEADER.split(','), ...Array.from({ length: 10_000 }, (_, n) => `extra_column_${n}`)];
  const items = await readAll(`${cols.join(',')}\n${contactRow('CC1')},${cols.slice(17).map(() => 'x').join(',')}\n`, 65536);
  assert.equal(items.length, 1);
  const [note] = (items[0] as AcceptedItem).fileNotes!;
  assert.ok(note!.length < 1200, `${note!.length} characters`);
  assert.match(note!, /^10000 columns not in the community-contact contract, so not read: extra_column_0, extra_column_1, .*extra_column_49 and 9,950 more columns$/);
});

test('a bad value of a megabyte is named by its start, not copied into the reason', async () => {
  const items = await readAll(`${CONTACT_HEADER}\n${contactRow('CB1', { date_of_birth: '9'.repeat(1 << 20) })}\n`, 65536);
  const reason = rejected(items)[0]!.reason;
  assert.ok(reason.length < 300, `${reason.length} characters`);
  assert.match(reason, /^line 2: column date_of_birth value "9{80}"… \(1048576 characters\) is not a valid date/);
});

test('header names: case, spaces, BOM, underscores and hyphens do not count; aliases per contract column', () => {
  assert.equal(headerKey('\uFEFF NHS Number '), 'nhsnumber');
  assert.equal(headerKey('nhs_number'), headerKey('NHSNumber'));
  assert.equal(headerKey('Date-Of-Birth'), headerKey('date_of_birth'));
  const drifted = ['Contact ID', 'CLIENT_ID', 'NHS Number', 'Surname', 'Forename', 'DOB', 'Gender', 'Post Code', 'Practice Code', 'Contact Date', 'Notes'];
  const m = matchHeader(drifted);
  assert.ok('contract' in m, JSON.stringify(m));
  assert.equal(m.contract.name, 'community-contact');
  assert.deepEqual(m.columns, ['contact_id', 'client_id', 'nhs_number', 'family_name', 'given_name', 'date_of_birth', 'sex', 'postcode', 'gp_practice', 'contact_date', null]);
  assert.deepEqual(m.ignored, ['Notes']);
  // Two cells naming one column: which to read cannot be told.
  const twice = matchHeader(['contact_id', 'client_id', 'contact_date', 'DOB', 'BirthDate']);
  assert.ok('closest' in twice && twice.duplicated[0] === 'date_of_birth');
  // The mental health contract wins where its own columns are there.
  const mh = matchHeader(['contact_id', 'client_id', 'contact_date', 'cpa_status', 'care_coordinator']);
  assert.ok('contract' in mh && mh.contract.name === 'mentalhealth-contact');
  for (const c of CSV_CONTRACTS) assert.deepEqual(contractProblems(c), []);
  assert.match(contractProblems({ ...CSV_CONTRACTS[0]!, columns: [...CSV_CONTRACTS[0]!.columns, { name: 'x', type: 'text', required: false, aliases: ['DOB'] }] }).join(), /DOB names both date_of_birth and x/);
});

test('dates: ISO 8601 and the UK forms, day first; never US month first', () => {
  const cases: [string, string | null][] = [
    ['2024-04-03', '2024-04-03'],
    ['2024-04-03T09:30:00Z', '2024-04-03'],
    ['2024-04-03T09:30:00+01:00', '2024-04-03'],
    ['20240403', '2024-04-03'],
    ['03/04/2024', '2024-04-03'], // 3 April, as a UK extract means it
    ['03-04-2024', '2024-04-03'],
    ['3/4/2024', '2024-04-03'],
    ['03/04/2024 14:05', '2024-04-03'],
    ['12/31/2024', null], // US month first: no month 31
    ['03/04-2024', null],
    ['20241301', null],
    ['29/02/2023', null],
  ];
  for (const [text, iso] of cases) assert.equal(parseCsvDate(text), iso, text);
});

test('a drifted extract: semicolons, BOM, CRLF, quoted names, aliases, NHS number with dashes, NHS sex codes', async () => {
  const header = '\uFEFF"Contact ID";"Client Id";"NHS Number";"Surname";"Forename";"DOB";"Sex";"Contact Date";"Duration (mins)";"Extra Field"';
  const rows = [
    'K1;CL9;943-476-5919;Testperson;Alex;14/03/1950;2;20240201;30;x',
    'K2;CL9;943 476 5919;Testperson;Alex;14/03/1950;1;03/04/2024;;"a;b"',
    'K3;CL9;;Testperson;Alex;14/03/1950;9;2024-04-05;;',
    'K4;CL9;;Testperson;Alex;14/03/1950;Q;2024-04-05;;',
  ];
  const items = await readAll(`${header}\r\n${rows.join('\r\n')}\r\n`, 5);
  const ok = accepted(items);
  assert.equal(ok.length, 3);
  // `Duration (mins)` is duration_minutes: brackets in a header do not count.
  assert.deepEqual(ok[0]!.fileNotes, ['a column not in the community-contact contract, so not read: Extra Field']);
  assert.deepEqual((ok[0]!.resources[1]!.resource as Encounter).length, { value: 30, unit: 'min', system: 'http://unitsofmeasure.org', code: 'min' });
  assert.equal(ok[0]!.identities[0]!.nhsNumber, '9434765919');
  assert.equal(ok[0]!.identities[0]!.sex, 'female');
  assert.equal(ok[0]!.identities[0]!.birthDate, '1950-03-14');
  assert.deepEqual((ok[0]!.resources[1]!.resource as Encounter).period, { start: '2024-02-01' });
  assert.equal(ok[1]!.identities[0]!.sex, 'male');
  assert.equal(ok[1]!.identities[0]!.nhsNumber, '9434765919');
  assert.deepEqual((ok[1]!.resources[1]!.resource as Encounter).period, { start: '2024-04-03' });
  assert.equal(ok[2]!.identities[0]!.sex, 'other');
  assert.deepEqual(rejected(items).map((r) => r.reason), ['line 5: column sex value "Q" is not a sex (M, F, U, male, female, unknown, or the NHS codes 1, 2, 9, X)']);
  // Kept comma-separated (so a repaired row replays with any header).
  assert.equal(rejected(items)[0]!.raw, 'K4,CL9,,Testperson,Alex,14/03/1950,Q,2024-04-05,,');
});

test('tab- and pipe-delimited extracts; the delimiter sniffed outside quotes', async () => {
  assert.equal(sniffDelimiter('"a,b"|c|d'), '|');
  assert.equal(sniffDelimiter('a\tb\tc'), '\t');
  assert.equal(sniffDelimiter('a;b,c;d'), ';');
  assert.equal(sniffDelimiter('a,b'), ',');
  for (const d of ['\t', '|']) {
    const text = [['contact_id', 'client_id', 'contact_date', 'team'].join(d), ['T1', 'CL1', '01/02/2024', 'North'].join(d)].join('\n');
    const [item] = accepted(await readAll(text));
    assert.equal(item!.messageId, 'community-contact:T1');
    assert.deepEqual((item!.resources[1]!.resource as Encounter).serviceProvider, { display: 'North' });
  }
  assert.deepEqual(parseFields('"a|b"|c', '|'), ['a|b', 'c']);
});

test('a contract may name email, phone and identifier columns; each must be a column', async () => {
  const { contractProblems } = await import('./contracts.ts');
  const base = { name: 'x', system: 'csv:x', idColumn: 'id', columns: [{ name: 'id', type: 'text' as const, required: true }, { name: 'mail', type: 'text' as const, required: false }, { name: 'ssn', type: 'text' as const, required: false }] };
  assert.deepEqual(contractProblems({ ...base, identityColumns: { id: 'id', email: 'mail', identifiers: { SS: 'ssn' } } }), []);
  assert.deepEqual(contractProblems({ ...base, identityColumns: { id: 'id', phone: 'tel', identifiers: { passport: 'ppn' } } }), [
    'x: identity phone column tel is not a column',
    'x: identity identifier passport column ppn is not a column',
  ]);
});
