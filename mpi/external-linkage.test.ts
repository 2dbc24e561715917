import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterScores, combineExternal, dateAsSent, detectFormat, isoDate, parseCsv, readExternal } from './external-linkage.ts';

// Rows written for this test in the two public layouts (no third-party data).
const SPLINK = `unique_id,first_name,surname,dob,city,email,cluster
0,Anna ,Brook,1980-02-03,London,anna@example.org,0
1,Brook,Anna ,1980-02-03,,anna@example.org,0
2,,Brook,1980-02-31,Leeds,,1
`;
const FEBRL = `rec_id, given_name, surname, street_number, address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id
rec-7-org, anna, brook, 12, acacia street, the grange, rosedale, 2041, nsw, 19800203, 1234567
rec-7-dup-0, anna, brooke, , acacia street, , rosedale, 2041, , 19800302,
rec-9-org, "o'neil, jo", smith, 3, bay road, , kiama, 2533, nsw, 1980023,  7654321
`;

test('layouts are told apart by the header', () => {
  assert.equal(detectFormat(parseCsv(SPLINK)[0]!), 'splink');
  assert.equal(detectFormat(parseCsv(FEBRL)[0]!.map((x) => x.trim())), 'febrl');
  assert.equal(detectFormat(['id', 'name']), null);
  assert.throws(() => readExternal('id,name\n1,x\n'), /unknown layout/);
  assert.throws(() => readExternal('unique_id,first_name,surname,dob,city,email,cluster\n'), /no records/);
});

test('Splink rows map to identities as a feed sends them: names, birth date, town, email; truth from cluster', () => {
  const d = readExternal(SPLINK);
  assert.equal(d.format, 'splink');
  assert.deepEqual(d.identities[0], { system: 'csv:splink', id: '0', given: 'Anna', family: 'Brook', birthDate: '1980-02-03', town: 'London', emails: ['anna@example.org'] });
  assert.deepEqual(d.identities[1], { system: 'csv:splink', id: '1', given: 'Brook', family: 'Anna', birthDate: '1980-02-03', emails: ['anna@example.org'] }); // swapped as written
  assert.deepEqual(d.identities[2], { system: 'csv:splink', id: '2', family: 'Brook', birthDate: '1980-02-31', town: 'Leeds' }); // kept as written: the MPI compares what it says
  assert.equal(d.truth.get('csv:splink|1'), '0');
  assert.equal(d.truth.get('csv:splink|2'), '1');
});

test('FEBRL rows: address lines joined, suburb as town, soc_sec_id as another identifier, person from rec-N', () => {
  const d = readExternal(FEBRL);
  assert.equal(d.format, 'febrl');
  assert.deepEqual(d.identities[0], {
    system: 'csv:febrl', id: 'rec-7-org', given: 'anna', family: 'brook', birthDate: '1980-02-03', postcode: '2041',
    address: '12 acacia street, the grange', town: 'rosedale', identifiers: [{ system: 'soc_sec_id', value: '1234567' }],
  });
  assert.deepEqual(d.identities[1], { system: 'csv:febrl', id: 'rec-7-dup-0', given: 'anna', family: 'brooke', birthDate: '1980-03-02', postcode: '2041', address: 'acacia street', town: 'rosedale' });
  assert.equal(d.identities[2]!.given, "o'neil, jo"); // a quoted field keeps its comma
  assert.equal(d.identities[2]!.birthDate, undefined); // seven digits: no date
  assert.equal(d.truth.get('csv:febrl|rec-7-dup-0'), '7');
  assert.throws(() => readExternal(FEBRL.replace('rec-9-org', 'record 9')), /line 4: rec_id "record 9"/);
  assert.throws(() => readExternal(FEBRL.replace('rec-9-org', 'rec-7-org')), /appears twice/);
});

test('dates: ISO, YYYYMMDD and DD/MM/YYYY when real', () => {
  assert.equal(isoDate('2015-10-29'), '2015-10-29');
  assert.equal(isoDate('19800203'), '1980-02-03');
  assert.equal(isoDate('03/02/1980'), '1980-02-03');
  assert.equal(isoDate('1980-13-01'), undefined);
  assert.equal(isoDate(''), undefined);
});

test('dates as sent: ISO order, impossible days and partial dates kept, anything else dropped', () => {
  assert.equal(dateAsSent('19450493'), '1945-04-93');
  assert.equal(dateAsSent('1980-02-31'), '1980-02-31');
  assert.equal(dateAsSent('31/02/1980'), '1980-02-31');
  assert.equal(dateAsSent('1987'), '1987');
  assert.equal(dateAsSent('1987-06'), '1987-06');
  assert.equal(dateAsSent('1980023'), undefined);
  assert.equal(dateAsSent('unknown'), undefined);
});

test('cluster figures: true persons found exactly, split, and Bevan persons mixed', () => {
  const truth = new Map([['a', '1'], ['b', '1'], ['c', '2'], ['d', '3'], ['e', '3']]);
  const predicted: [string, string][] = [['a', 'P'], ['b', 'P'], ['c', 'Q'], ['d', 'Q'], ['e', 'R']];
  assert.deepEqual(clusterScores(predicted, truth), { truePersons: 3, exact: 1, split: 1, bevanPersons: 3, pure: 2, mixed: 1 });
});

test('two files of one population link as one load: each its own system, the truth shared', () => {
  const [org, dup] = FEBRL.trim().split('\n').slice(1);
  const header = FEBRL.split('\n')[0]!;
  const a = readExternal(`${header}\n${org}\n`, { system: 'csv:febrl:a' });
  const b = readExternal(`${header}\n${dup}\n`, { system: 'csv:febrl:b' });
  const d = combineExternal([a, b]);
  assert.deepEqual(d.identities.map((i) => `${i.system}|${i.id}`), ['csv:febrl:a|rec-7-org', 'csv:febrl:b|rec-7-dup-0']);
  assert.equal(d.truth.get('csv:febrl:a|rec-7-org'), d.truth.get('csv:febrl:b|rec-7-dup-0'));
  assert.throws(() => combineExternal([a, a]), /in two files/);
  assert.throws(() => combineExternal([a, readExternal(SPLINK)]), /one layout/);
  assert.throws(() => combineExternal([]), /no files/);
});
