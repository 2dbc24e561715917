import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBlockingIndex, candidatePairChunks, candidatePairs, defaultBlockCap, weakPassCap, type BlockingColumns } from './blocking.ts';
import { soundex } from './fellegi-sunter.ts';

interface Row {
  key: string;
  person: number;
  family?: string;
  given?: string;
  birthDate?: string;
  postcode?: string;
  address?: string;
  town?: string;
  nhsNumber?: string;
  email?: string;
  otherId?: string;
}

function columns(rows: Row[]): BlockingColumns {
  const or = (x: string | undefined) => x ?? null;
  return {
    key: rows.map((r) => r.key),
    person: rows.map((r) => r.person),
    family: rows.map((r) => or(r.family)),
    familySoundex: rows.map((r) => (r.family ? soundex(r.family) : null)),
    given: rows.map((r) => or(r.given)),
    birthDate: rows.map((r) => or(r.birthDate)),
    postcode: rows.map((r) => or(r.postcode)),
    address: rows.map((r) => or(r.address)),
    town: rows.map((r) => or(r.town)),
    nhsNumber: rows.map((r) => or(r.nhsNumber)),
    email: rows.map((r) => or(r.email)),
    otherId: rows.map((r) => or(r.otherId)),
  };
}

const pairsOf = (c: BlockingColumns, p: { a: Int32Array; b: Int32Array; length: number }) =>
  Array.from({ length: p.length }, (_, k) => `${c.key[p.a[k]!]} ${c.key[p.b[k]!]}`).sort();

test('each pass finds its kind of candidate; the pair is written once, smaller key first', () => {
  const c = columns([
    { key: 'b|1', person: 0, family: 'Okafor', given: 'Chidi', birthDate: '1988-05-05', postcode: 'M15 5AA', address: '12 Oak Road', town: 'Leeds' },
    // Name pass (same Soundex and initial), different everything else.
    { key: 'a|2', person: 1, family: 'Okafur', given: 'Charles', birthDate: '1950-01-01' },
    // Birth date only.
    { key: 'c|3', person: 2, family: 'Smith', given: 'Zoe', birthDate: '1988-05-05' },
    // Postcode only.
    { key: 'c|4', person: 3, family: 'Jones', given: 'Ann', postcode: 'M15 5AA' },
    // Given name + birth year (married: new surname, day mistyped).
    { key: 'c|5', person: 4, family: 'Brown', given: 'chidi', birthDate: '1988-06-05' },
    // Family Soundex + birth year, no given name.
    { key: 'c|6', person: 5, family: 'Okafor', birthDate: '1988-12-31' },
    // House number + street initial + town.
    { key: 'c|7', person: 6, family: 'Green', given: 'Bo', address: '12 Oakwood Avenue', town: 'LEEDS' },
    // Family name + town.
    { key: 'c|8', person: 7, family: 'OKAFOR', given: 'Xi', town: 'leeds' },
    // Given and family swapped.
    { key: 'c|9', person: 8, family: 'Chidi', given: 'Okafor' },
    // Nothing in common.
    { key: 'd|1', person: 9, family: 'Patel', given: 'Ravi', birthDate: '1972-08-19', postcode: 'M13 9PL', address: '3 Elm St', town: 'York' },
  ]);
  const index = buildBlockingIndex(c);
  const p = candidatePairs(index, c, { wide: [0], excludeSamePerson: true, cap: 150 });
  assert.deepEqual(pairsOf(c, p), ['a|2 b|1', 'b|1 c|3', 'b|1 c|4', 'b|1 c|5', 'b|1 c|6', 'b|1 c|7', 'b|1 c|8', 'b|1 c|9']);
  assert.equal(p.wide, p.length);
});

test('an email by its user name or its domain alone (the other part mistyped); not a given name and town', () => {
  const c = columns([
    { key: 'b|1', person: 0, family: 'Clark', given: 'Evie', birthDate: '1988-09-08', town: 'London', email: 'e.clark53@quinn-martin.org' },
    // Given name + town only (a pass tried and left out: it met neighbours of one first name, FEBRL-style).
    { key: 'c|2', person: 1, family: 'Ckcarl', given: 'evie', birthDate: '1989-09-08', town: 'LONDON' },
    // Email user name, domain mistyped.
    { key: 'c|3', person: 2, family: 'Xu', given: 'Zed', email: 'e.clark53@quinn-martin.or' },
    // Email domain, user name mistyped.
    { key: 'c|4', person: 3, family: 'Yo', given: 'Al', email: 'e.lark53@quinn-martin.org' },
    // Nothing in common: another user at another domain, another given name in the town.
    { key: 'd|5', person: 4, family: 'Patel', given: 'Ravi', town: 'London', email: 'ravi@other.org' },
  ]);
  const p = candidatePairs(buildBlockingIndex(c), c, { wide: [0], excludeSamePerson: true, cap: 150 });
  assert.deepEqual(pairsOf(c, p), ['b|1 c|3', 'b|1 c|4']);
});

test('a key shared by more identities than the cap is left out of its pass', () => {
  const rows: Row[] = [{ key: 'p|0', person: 0, family: 'Smith', given: 'Ann', postcode: 'M1 1AA' }];
  for (let i = 1; i <= 5; i++) rows.push({ key: `q|${i}`, person: i, family: 'Zed', given: 'Yan', postcode: 'M1 1AA' });
  const c = columns(rows);
  const index = buildBlockingIndex(c);
  assert.equal(candidatePairs(index, c, { wide: [0], excludeSamePerson: true, cap: 6 }).length, 5);
  assert.equal(candidatePairs(index, c, { wide: [0], excludeSamePerson: true, cap: 5 }).length, 0, 'six share the postcode');
});

test('two searched identities make one pair; same person left out when matching, kept for training', () => {
  const c = columns([
    { key: 'x|1', person: 0, family: 'Lee', given: 'Amy', birthDate: '2001-02-03' },
    { key: 'x|2', person: 1, family: 'Lee', given: 'Amy', birthDate: '2001-02-03' },
    { key: 'x|3', person: 1, family: 'Lee', given: 'Amy', birthDate: '2001-02-03' },
  ]);
  const index = buildBlockingIndex(c);
  assert.deepEqual(pairsOf(c, candidatePairs(index, c, { wide: [0, 1, 2], excludeSamePerson: true, cap: 150 })), ['x|1 x|2', 'x|1 x|3']);
  assert.deepEqual(pairsOf(c, candidatePairs(index, c, { wide: [0, 1, 2], excludeSamePerson: false, cap: 150 })), ['x|1 x|2', 'x|1 x|3', 'x|2 x|3']);
});

test('a new NHS number is checked only against the same birth date with the same surname sound or postcode', () => {
  const c = columns([
    { key: 'g|1', person: 0, family: 'Khan', given: 'Sara', birthDate: '1990-01-01', postcode: 'M1 1AA', nhsNumber: '9434765919' },
    { key: 'g|2', person: 1, family: 'Kahn', given: 'Sarah', birthDate: '1990-01-01' },
    { key: 'g|3', person: 2, family: 'Brown', birthDate: '1990-01-01', postcode: 'M1 1AA' },
    { key: 'g|4', person: 3, family: 'Khan', given: 'Sara', birthDate: '1990-01-02', postcode: 'M1 1AB' },
  ]);
  const p = candidatePairs(buildBlockingIndex(c), c, { wide: [], tight: [0], excludeSamePerson: true, cap: 150 });
  assert.deepEqual(pairsOf(c, p), ['g|1 g|2', 'g|1 g|3']);
  assert.equal(p.wide, 0);
});

test('block cap: 1% of identities, between 50 and 150', () => {
  assert.equal(defaultBlockCap(1000), 50);
  assert.equal(defaultBlockCap(12_000), 120);
  assert.equal(defaultBlockCap(550_000), 150);
});

test('pairs a chunk at a time: the same pairs as all at once, each once, whichever side (and pass) finds them', () => {
  // A small population where many searched identities meet each other by several passes,
  // the swapped pass (one-sided) included, with wide and tight searches mixed.
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const names = ['Smith', 'Smyth', 'Jones', 'Ann', 'Anne', 'Sam', 'Lee', 'Leigh', 'Khan'];
  const rows: Row[] = [];
  for (let i = 0; i < 400; i++) {
    rows.push({
      key: `s|${String(i).padStart(3, '0')}`,
      person: Math.floor(i / 3),
      family: pick(names),
      given: pick(names),
      birthDate: rnd() < 0.9 ? `19${50 + Math.floor(rnd() * 3)}-01-0${1 + Math.floor(rnd() * 3)}` : undefined,
      postcode: rnd() < 0.8 ? `M${Math.floor(rnd() * 4)} 1AA` : undefined,
      town: pick(['Leeds', 'York']),
    });
  }
  const c = columns(rows);
  const index = buildBlockingIndex(c);
  const wide = Array.from({ length: 300 }, (_, i) => (i * 7) % 400).filter((i, k, xs) => xs.indexOf(i) === k);
  const tight = Array.from({ length: 400 }, (_, i) => i).filter((i) => !wide.includes(i)).slice(0, 60);
  for (const excludeSamePerson of [true, false]) {
    const search = { wide, tight, excludeSamePerson, cap: 40 };
    const all = candidatePairs(index, c, search);
    const listed = pairsOf(c, all);
    assert.equal(new Set(listed).size, listed.length, 'each pair once');
    // Every pair a scan finds, by brute force over the same groupings (a set of pairs seen).
    const expected = new Set<string>();
    const wideFound = new Set<string>();
    const add = (p: number, q: number, into: Set<string>[]) => {
      if (p === q || (excludeSamePerson && c.person[p] === c.person[q])) return;
      const k = c.key[p]! < c.key[q]! ? `${c.key[p]} ${c.key[q]}` : `${c.key[q]} ${c.key[p]}`;
      for (const s of into) s.add(k);
    };
    const members = (g: { start: Int32Array; members: Int32Array }, gi: number, cap: number) =>
      gi < 0 || g.start[gi + 1]! - g.start[gi]! > cap ? [] : Array.from(g.members.subarray(g.start[gi]!, g.start[gi + 1]!));
    for (const p of wide) {
      for (const [name, g] of Object.entries(index.passes)) {
        if (name === 'soundexDate' || name === 'postcodeDate') continue;
        const cap = name === 'nhs' ? Infinity : ['name', 'familyTown', 'emailDomain'].includes(name) ? weakPassCap(40) : 40;
        for (const q of members(g, g.group[p]!, cap)) add(p, q, [expected, wideFound]);
      }
      for (const q of members(index.passes.name, index.swappedGroup[p]!, weakPassCap(40))) add(p, q, [expected, wideFound]);
    }
    for (const p of tight) for (const g of [index.passes.soundexDate, index.passes.postcodeDate]) for (const q of members(g, g.group[p]!, Infinity)) add(p, q, [expected]);
    assert.deepEqual(listed, [...expected].sort());
    assert.deepEqual(pairsOf(c, { a: all.a.subarray(0, all.wide), b: all.b.subarray(0, all.wide), length: all.wide }), [...wideFound].sort(), 'the wide pairs first');
    // In chunks of 16 searched identities: the same pairs.
    const chunked: string[] = [];
    let wideCount = 0;
    for (const chunk of candidatePairChunks(index, c, search, 16)) {
      chunked.push(...pairsOf(c, chunk));
      wideCount += chunk.wide;
      assert.ok(chunk.wide === 0 || chunk.wide === chunk.length);
    }
    assert.deepEqual(chunked.sort(), listed);
    assert.equal(wideCount, all.wide);
  }
});
