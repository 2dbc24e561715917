import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLINICAL_TYPES, DEFAULT_SORT, MAX_COUNT, paramOf, parseClinicalSearch, SEARCH_PARAMETERS, splitList, unescape, type ClinicalSearch, type ParsedClinicalSearch } from './params.ts';

const PERSON = '0b6f4e8a-6a0e-4c49-9a59-1f0d2c3b4a51';

function ok(p: ParsedClinicalSearch): ClinicalSearch {
  assert.equal(p.kind, 'ok', p.kind === 'invalid' ? p.problems.join('; ') : '');
  return (p as { search: ClinicalSearch }).search;
}
function problems(p: ParsedClinicalSearch): string[] {
  assert.equal(p.kind, 'invalid', 'expected a 400');
  return (p as { problems: string[] }).problems;
}

test('the table: every type has patient, a status and a date parameter, and sorts by one of its dates', () => {
  for (const t of CLINICAL_TYPES) {
    const names = SEARCH_PARAMETERS[t].map((p) => p.name);
    assert.ok(names.includes('patient'), t);
    assert.ok(names.includes('status') || names.includes('clinical-status'), `${t} status`);
    assert.ok(SEARCH_PARAMETERS[t].some((p) => p.type === 'date'), `${t} date`);
    assert.equal(new Set(names).size, names.length, `${t}: names are unique`);
    assert.equal(paramOf(t, DEFAULT_SORT[t])?.type, 'date', `${t} default sort`);
    for (const p of SEARCH_PARAMETERS[t]) if (p.type === 'reference') assert.ok(p.targets?.length, `${t}.${p.name} targets`);
  }
  // R4 names, not invented ones.
  assert.equal(paramOf('Condition', 'status'), undefined, 'Condition has clinical-status, not status');
  assert.equal(paramOf('Condition', 'date'), undefined, 'Condition dates are onset-date, recorded-date, abatement-date');
  assert.ok(paramOf('Immunization', 'vaccine-code'));
  assert.equal(paramOf('Immunization', 'subject'), undefined, 'Immunization has patient only');
  assert.equal(paramOf('AllergyIntolerance', 'subject'), undefined);
  assert.equal(paramOf('Encounter', 'code'), undefined, 'Encounter has type and class');
  assert.deepEqual(paramOf('Observation', 'date')!.paths, ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant', 'effectiveTiming.event']);
});

test('a typical search: patient, tokens (OR), a date range (AND), sort, count', () => {
  const s = ok(parseClinicalSearch('Observation', { patient: `Patient/${PERSON}`, code: 'http://snomed.info/sct|1107481000000106,|x1,http://loinc.org|,4548-4', date: ['ge2024-01-01', 'lt2025'], _sort: '-date', _count: '5' }));
  assert.deepEqual(s.patients, [[PERSON]]);
  const code = s.filters.find((f) => f.param.name === 'code')!;
  assert.equal(code.kind, 'token');
  assert.deepEqual((code as { values: unknown }).values, [{ system: 'http://snomed.info/sct', code: '1107481000000106' }, { system: '', code: 'x1' }, { system: 'http://loinc.org' }, { code: '4548-4' }]);
  const dates = s.filters.filter((f) => f.kind === 'date');
  assert.equal(dates.length, 2, 'a repeated parameter is AND');
  assert.deepEqual((dates[0] as { values: { prefix: string }[] }).values.map((v) => v.prefix), ['ge']);
  assert.deepEqual((dates[1] as { values: { prefix: string }[] }).values.map((v) => v.prefix), ['lt']);
  assert.deepEqual(s.sort.map((k) => [k.param.name, k.descending]), [['date', true]]);
  assert.equal(s.count, 5);
  assert.deepEqual(s.unknown, []);
});

test('patient as a bare id, Patient/{id}, subject, subject:Patient; other subjects refused', () => {
  assert.deepEqual(ok(parseClinicalSearch('Condition', { patient: PERSON })).patients, [[PERSON]]);
  assert.deepEqual(ok(parseClinicalSearch('Condition', { subject: `Patient/${PERSON}` })).patients, [[PERSON]]);
  assert.deepEqual(ok(parseClinicalSearch('Condition', { 'subject:Patient': PERSON })).patients, [[PERSON]]);
  assert.deepEqual(ok(parseClinicalSearch('Condition', { patient: 'a,b', subject: 'b' })).patients, [['a', 'b'], ['b']]);
  assert.match(problems(parseClinicalSearch('Observation', { subject: 'Group/1' }))[0]!, /only Patient/);
  assert.match(problems(parseClinicalSearch('Observation', { patient: 'Group/1' }))[0]!, /not a target/);
  assert.match(problems(parseClinicalSearch('Observation', { patient: 'https://elsewhere/fhir/Patient/1' }))[0]!, /not a reference/);
  assert.match(problems(parseClinicalSearch('Observation', { 'patient:missing': 'true' }))[0]!, /names the patient/);
  assert.match(problems(parseClinicalSearch('Observation', { patient: Array.from({ length: 21 }, (_, i) => `p${i}`).join(',') }))[0]!, /at most 20/);
  // No patient is not a parse error: the repository refuses it (and audits the refusal).
  assert.deepEqual(ok(parseClinicalSearch('Observation', { code: '1' })).patients, []);
});

test('status parameters by type; unknown and chained parameters are reported, not silently used', () => {
  const c = ok(parseClinicalSearch('Condition', { patient: PERSON, 'clinical-status': 'active', status: 'active', 'patient.identifier': 'x', _contained: 'true', _foo: '1', 'onset-date': '2015' }));
  assert.deepEqual(c.unknown, ['status', 'patient.identifier', '_contained', '_foo']);
  assert.deepEqual(c.filters.map((f) => f.param.name), ['clinical-status', 'onset-date']);
  assert.deepEqual(ok(parseClinicalSearch('Encounter', { patient: PERSON, status: 'finished', class: 'IMP', type: 'x' })).unknown, []);
  assert.deepEqual(ok(parseClinicalSearch('Immunization', { patient: PERSON, 'vaccine-code': 'x', code: 'y' })).unknown, ['code']);
});

test('modifiers: :text, :not and :missing supported; others refused (ignoring one would change the answer)', () => {
  const s = ok(parseClinicalSearch('Observation', { patient: PERSON, 'code:text': 'blood', 'status:not': 'cancelled', 'encounter:missing': 'true', 'encounter:Encounter': 'e1' }));
  assert.deepEqual(s.filters.map((f) => f.kind), ['text', 'token', 'missing', 'reference']);
  assert.equal((s.filters[1] as { modifier: string }).modifier, 'not');
  for (const key of ['code:below', 'code:in', 'date:exact', 'encounter:identifier', 'encounter:Patient']) {
    assert.match(problems(parseClinicalSearch('Observation', { patient: PERSON, [key]: 'x' }))[0]!, /modifier/, key);
  }
  assert.match(problems(parseClinicalSearch('Observation', { patient: PERSON, 'code:missing': 'maybe' }))[0]!, /true or false/);
});

test('invalid values are 400s: dates, prefixes, _count, _offset, _sort, _include', () => {
  const bad: Record<string, string>[] = [
    { date: 'yesterday' },
    { date: 'xx2024' },
    { date: 'gt' },
    { date: '2024-02-30' },
    { date: "2024' OR '1'='1" },
    { _count: '-1' },
    { _count: 'ten' },
    { _count: '1e3' },
    { _offset: '-5' },
    { _offset: '99999999' },
    { _sort: 'code' },
    { _sort: 'date;DROP TABLE resource' },
    { _sort: '--date' },
    { _include: 'Observation' },
    { _include: 'Encounter:patient' },
    { _include: 'Observation:code' },
    { _include: 'Observation:subject:Medication' },
    { _revinclude: 'Condition:encounter' },
    { _total: 'lots' },
    { code: '|' },
    { code: '' },
    { code: 'x'.repeat(201) },
  ];
  for (const q of bad) problems(parseClinicalSearch('Observation', { patient: PERSON, ...q }));
  assert.equal(ok(parseClinicalSearch('Observation', { patient: PERSON, _count: '100000' })).count, MAX_COUNT, 'a large _count is capped, not refused');
  assert.equal(ok(parseClinicalSearch('Observation', { patient: PERSON, _count: '0' })).count, 0);
});

test('_sort keys, _summary, _include and _revinclude', () => {
  const s = ok(parseClinicalSearch('Encounter', { patient: PERSON, _sort: '_lastUpdated,-date', _summary: 'count', _include: ['Encounter:patient', 'Encounter:service-provider'], _revinclude: 'Observation:encounter,Condition:encounter' }));
  assert.deepEqual(s.sort.map((k) => `${k.descending ? '-' : ''}${k.param.name}`), ['_lastUpdated', '-date']);
  assert.equal(s.summaryCount, true);
  assert.deepEqual(s.include.map((i) => i.raw), ['Encounter:patient', 'Encounter:service-provider']);
  assert.deepEqual(s.revinclude.map((i) => i.raw), ['Observation:encounter', 'Condition:encounter']);
  assert.equal(ok(parseClinicalSearch('Observation', { patient: PERSON, _include: 'Observation:subject:Patient' })).include[0]!.target, 'Patient');
  assert.deepEqual(ok(parseClinicalSearch('Observation', { patient: PERSON, _summary: 'text' })).unknown, ['_summary=text']);
  assert.deepEqual(ok(parseClinicalSearch('Observation', { patient: PERSON, '_include:iterate': 'Observation:has-member' })).unknown, ['_include:iterate']);
});

test('escapes: \\, \\| \\$ \\\\ are literal', () => {
  assert.deepEqual(splitList('a\\,b,c'), ['a\\,b', 'c']);
  assert.equal(unescape('a\\,b\\|c\\$d\\\\e'), 'a,b|c$d\\e');
  const s = ok(parseClinicalSearch('Observation', { patient: PERSON, code: 'sys\\|tem|co\\,de' }));
  assert.deepEqual((s.filters[0] as { values: unknown }).values, [{ system: 'sys|tem', code: 'co,de' }]);
});

test('hostile values parse as plain data or are refused, never as anything else', () => {
  const s = ok(parseClinicalSearch('Observation', { patient: PERSON, code: "' OR 1=1 --", 'code:text': '<script>alert(1)</script>', category: "x'); DROP TABLE resource; --" }));
  assert.equal(s.filters.length, 3);
  problems(parseClinicalSearch('Observation', { patient: "' OR 1=1 --" }));
  problems(parseClinicalSearch('Observation', { patient: '../../etc/passwd' }));
  problems(parseClinicalSearch('Observation', { patient: PERSON, code: 'x'.repeat(5000) }));
  problems(parseClinicalSearch('Observation', { patient: PERSON, code: Array.from({ length: 201 }, () => 'x') }));
});

test('docs/api/search.md lists every parameter of every type, and no other', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../../docs/api/search.md', import.meta.url), 'utf8');
  for (const t of CLINICAL_TYPES) {
    const row = doc.split('\n').find((l) => l.startsWith(`| ${t} |`));
    assert.ok(row, `${t} has a row`);
    const listed = [...row!.matchAll(/`([a-z_-]+)`/g)].map((m) => m[1]).filter((n) => !n!.startsWith('-'));
    assert.deepEqual(listed.sort(), SEARCH_PARAMETERS[t].map((p) => p.name).sort(), t);
    assert.ok(row!.includes(`\`-${DEFAULT_SORT[t]}\``), `${t} default order`);
  }
});

test('quantities: [prefix]number[|system|code], precision ranges, units; chained patient parameters need a chain parser', async () => {
  const { parseQuantity } = await import('./params.ts');
  const { quantityMatches } = await import('./match.ts');
  const q = (v: string) => {
    const x = parseQuantity(v);
    assert.notEqual(typeof x, 'string', String(x));
    return x as Exclude<ReturnType<typeof parseQuantity>, string>;
  };
  assert.deepEqual({ ...q('5.4'), lo: Number(q('5.4').lo.toFixed(6)), hi: Number(q('5.4').hi.toFixed(6)) }, { prefix: 'eq', value: 5.4, lo: 5.35, hi: 5.45, raw: '5.4' });
  assert.deepEqual(q('gt75|http://unitsofmeasure.org|mmol/mol'), { prefix: 'gt', value: 75, lo: 74.5, hi: 75.5, system: 'http://unitsofmeasure.org', code: 'mmol/mol', raw: 'gt75|http://unitsofmeasure.org|mmol/mol' });
  assert.equal(q('le1e2').hi, 150);
  assert.equal(q('5||mg').code, 'mg');
  assert.equal(q('5||mg').system, undefined);
  for (const bad of ['', 'five', 'zz5', '5|mg', '5|a|b|c']) assert.equal(typeof parseQuantity(bad), 'string', bad);
  const hba1c = { value: 78, unit: 'mmol/mol', system: 'http://unitsofmeasure.org', code: 'mmol/mol' };
  assert.ok(quantityMatches(q('ge75'), hba1c));
  assert.ok(!quantityMatches(q('lt75'), hba1c));
  assert.ok(quantityMatches(q('78'), hba1c));
  assert.ok(!quantityMatches(q('78.1'), hba1c));
  assert.ok(quantityMatches(q('ne77'), hba1c));
  assert.ok(quantityMatches(q('ap80'), hba1c));
  assert.ok(!quantityMatches(q('ap90'), hba1c));
  assert.ok(quantityMatches(q('gt75|http://unitsofmeasure.org|mmol/mol'), hba1c));
  assert.ok(!quantityMatches(q('gt75|http://snomed.info/sct|mmol/mol'), hba1c));
  assert.ok(quantityMatches(q('gt75||mmol/mol'), { value: 78, unit: 'mmol/mol' }), 'a code alone compares the unit too');
  assert.ok(!quantityMatches(q('gt75||%'), hba1c));

  const s = ok(parseClinicalSearch('Observation', { patient: PERSON, 'value-quantity': ['ge48', 'lt100'], 'value-quantity:missing': 'false' }));
  assert.deepEqual(s.filters.map((f) => f.kind), ['quantity', 'quantity', 'missing']);
  assert.match(problems(parseClinicalSearch('Observation', { patient: PERSON, 'value-quantity': 'high' })).join(), /value-quantity/);
  assert.match(problems(parseClinicalSearch('Observation', { patient: PERSON, 'value-quantity:exact': '5' })).join(), /modifier/);

  // Chains: without a parser they are reported; with one, each is a Patient search.
  assert.deepEqual(ok(parseClinicalSearch('Observation', { 'patient.identifier': 'x' })).unknown, ['patient.identifier']);
  const { patientChain } = await import('../patient-search.ts');
  const chained = ok(parseClinicalSearch('Observation', { 'patient.identifier': 'https://fhir.nhs.uk/Id/nhs-number|9434765919', 'subject:Patient.birthdate': '1950', 'subject.family:exact': 'Smith' }, { patientChain }));
  assert.deepEqual(chained.patientChains!.map((c) => c.raw), ['patient.identifier', 'subject:Patient.birthdate', 'subject.family:exact']);
  assert.deepEqual(chained.patientChains![0]!.criteria, { nhsNumbers: ['9434765919'] });
  assert.deepEqual(chained.patientChains![2]!.criteria, { strings: [{ field: 'family', mode: 'exact', values: ['Smith'] }] });
  assert.match(problems(parseClinicalSearch('Observation', { 'patient.language': 'en' }, { patientChain })).join(), /not a Patient parameter/);
  assert.deepEqual(ok(parseClinicalSearch('Observation', { 'patient.phone': '07700 900123' }, { patientChain })).patientChains![0]!.criteria, { telecom: [{ phone: ['07700900123'], email: [] }] });
  assert.match(problems(parseClinicalSearch('Observation', { 'patient.birthdate': 'soon' }, { patientChain })).join(), /birthdate/);
  assert.deepEqual(ok(parseClinicalSearch('Observation', { 'encounter.status': 'x', patient: PERSON }, { patientChain })).unknown, ['encounter.status'], 'only the patient chains');
});
