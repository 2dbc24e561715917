import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NHS_NUMBER_SYSTEM, parseDate, parseSearchInput } from './search-input.ts';

const params = (text: string) => {
  const r = parseSearchInput(text);
  assert.equal(r.kind, 'search', `${text}: ${r.kind === 'invalid' ? r.message : ''}`);
  return r.kind === 'search' ? r.params : [];
};

test('search input: NHS number with or without spaces is an identifier search', () => {
  assert.deepEqual(params('943 476 5919'), [['identifier', `${NHS_NUMBER_SYSTEM}|9434765919`]]);
  assert.deepEqual(params('9434765919'), [['identifier', `${NHS_NUMBER_SYSTEM}|9434765919`]]);
  assert.deepEqual(params(' 943-476-5919 '), [['identifier', `${NHS_NUMBER_SYSTEM}|9434765919`]]);
  const bad = parseSearchInput('943 476 5918');
  assert.equal(bad.kind, 'invalid');
  assert.match(bad.kind === 'invalid' ? bad.message : '', /not a valid NHS number/);
});

test('search input: names, dates of birth, postcodes', () => {
  assert.deepEqual(params('Barker'), [['name', 'Barker']]);
  assert.deepEqual(params('Dylan Barker'), [['name', 'Dylan'], ['name', 'Barker']]);
  assert.deepEqual(params("o'brien"), [['name', "o'brien"]]);
  assert.deepEqual(params('Barker 13/02/1942'), [['name', 'Barker'], ['birthdate', '1942-02-13']]);
  assert.deepEqual(params('1942-02-13'), [['birthdate', '1942-02-13']]);
  assert.deepEqual(params('3/2/1942 smith'), [['birthdate', '1942-02-03'], ['name', 'smith']]);
  assert.deepEqual(params('M41 4UN'), [['address-postalcode', 'M41 4UN']]);
  assert.deepEqual(params('m414un'), [['address-postalcode', 'M41 4UN']]);
  assert.deepEqual(params('Barker, M41'), [['name', 'Barker'], ['address-postalcode', 'M41']]);
  assert.deepEqual(params('smith wa15 8xx'), [['name', 'smith'], ['address-postalcode', 'WA15 8XX']]);
});

test('search input: what cannot be searched says why', () => {
  for (const [text, why] of [
    ['', /Enter an NHS number/],
    ['   ', /Enter an NHS number/],
    ['31/02/1950', /not a real date/],
    ['1950-13-01', /not a real date/],
    ['12345', /not an NHS number, a date of birth or a postcode/],
    ['M33', /postcode district alone/],
    ['a', /at least two letters/],
  ] as const) {
    const r = parseSearchInput(text);
    assert.equal(r.kind, 'invalid', text);
    assert.match(r.kind === 'invalid' ? r.message : '', why, text);
  }
  assert.equal(parseDate('29/02/2000'), '2000-02-29');
  assert.equal(parseDate('29/02/1900'), 'invalid');
  assert.equal(parseDate('Smith'), null);
});
