import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePatientSearch } from './patient-search.ts';

test('Patient search: _total is accepted in its three values (the total is always exact), anything else refused', () => {
  for (const v of ['none', 'estimate', 'accurate']) {
    const r = parsePatientSearch({ family: 'smith', _total: v });
    assert.equal(r.kind, 'ok', v);
    if (r.kind === 'ok') assert.deepEqual(r.unknown, [], `${v}: not reported as unknown`);
  }
  const bad = parsePatientSearch({ _total: 'lots' });
  assert.equal(bad.kind, 'invalid');
  if (bad.kind === 'invalid') assert.match(bad.problems.join(' '), /_total: "lots" is not none, estimate or accurate/);
  const unknown = parsePatientSearch({ family: 'smith', _lastUpdated: 'ge2025' });
  assert.ok(unknown.kind === 'ok' && unknown.unknown.includes('_lastUpdated'), 'a parameter not supported is still reported');
});

test('Patient search: death-date and deceased parse to day comparisons and flags; sa, eb; ap and bad values refused', () => {
  const crit = (q: Record<string, string | string[]>) => {
    const r = parsePatientSearch(q);
    assert.equal(r.kind, 'ok', JSON.stringify(r));
    return r.kind === 'ok' ? r.criteria : {};
  };
  assert.deepEqual(crit({ 'death-date': '2024' }).deathDate, [{ prefix: 'ge', date: '2024-01-01' }, { prefix: 'le', date: '2024-12-31' }]);
  assert.deepEqual(crit({ 'death-date': 'sa2024-02' }).deathDate, [{ prefix: 'gt', date: '2024-02-29' }]);
  assert.deepEqual(crit({ 'death-date': 'eb2024-02' }).deathDate, [{ prefix: 'lt', date: '2024-02-01' }]);
  assert.deepEqual(crit({ 'death-date': 'le2024-03-05' }).deathDate, [{ prefix: 'le', date: '2024-03-05' }]);
  assert.deepEqual(crit({ birthdate: 'sa1950' }).birthdate, [{ prefix: 'gt', date: '1950-12-31' }], 'birthdate takes sa and eb too');
  assert.deepEqual(crit({ deceased: ['true', 'false,true'] }).deceased, [[true], [false, true]]);
  for (const [q, msg] of [
    [{ deceased: 'yes' }, /deceased: "yes" is not true or false/],
    [{ 'death-date': 'ap2024' }, /ap \(approximately\) is not supported/],
    [{ 'death-date': '2024-13-01' }, /death-date: "2024-13-01" is not a date/],
    [{ birthdate: '2024-02-30' }, /birthdate: "2024-02-30" is not a date/],
    [{ 'death-date': 'ne2024' }, /"ne" needs a full date/],
    [{ active: 'maybe' }, /active: "maybe" is not true or false/],
  ] as const) {
    const r = parsePatientSearch(q);
    assert.equal(r.kind, 'invalid', JSON.stringify(q));
    if (r.kind === 'invalid') assert.match(r.problems.join(' '), msg);
  }
});

test('Patient search: address is a string parameter; address-use and active narrow to no one or everyone', () => {
  const ok = (q: Record<string, string>) => {
    const r = parsePatientSearch(q);
    assert.ok(r.kind === 'ok' && r.unknown.length === 0, JSON.stringify(r));
    return r.kind === 'ok' ? r.criteria : {};
  };
  assert.deepEqual(ok({ address: 'high,flat' }).address, [['high', 'flat']]);
  assert.deepEqual(ok({ 'address:exact': 'Flat 2' }).strings, [{ field: 'address', mode: 'exact', values: ['Flat 2'] }]);
  assert.deepEqual(ok({ 'address:contains': 'street' }).strings, [{ field: 'address', mode: 'contains', values: ['street'] }]);
  assert.equal(ok({ 'address-use': 'home' }).noOne, undefined);
  assert.equal(ok({ 'address-use': 'work,temp' }).noOne, true);
  assert.equal(ok({ active: 'true' }).noOne, undefined);
  assert.equal(ok({ active: 'false' }).noOne, true);
  const r = parsePatientSearch({ 'address:text': 'x' });
  assert.ok(r.kind === 'ok' && r.unknown.includes('address:text'), 'a modifier not offered is reported');
});

test('Patient search: phone, email and telecom are normalised as the MPI keeps them', () => {
  const telecom = (q: Record<string, string | string[]>) => {
    const r = parsePatientSearch(q);
    assert.equal(r.kind, 'ok');
    return r.kind === 'ok' ? r.criteria.telecom : undefined;
  };
  assert.deepEqual(telecom({ phone: '+44 (0)7700 900-123' }), [{ phone: ['07700900123'], email: [] }]);
  assert.deepEqual(telecom({ email: 'mailto:Zoe@Example.ORG' }), [{ phone: [], email: ['zoe@example.org'] }]);
  assert.deepEqual(telecom({ telecom: 'phone|0161 946 0000,email|a@b.org,sms|07700900999,fax|01619460001' }), [{ phone: ['01619460000', '07700900999'], email: ['a@b.org'] }]);
  assert.deepEqual(telecom({ telecom: 'a@b.org' }), [{ phone: [], email: ['a@b.org'] }], 'a bare value is whichever it can be');
  assert.deepEqual(telecom({ phone: ['12', 'x'] }), [{ phone: [], email: [] }, { phone: [], email: [] }], 'not a number: matches no one');
});
