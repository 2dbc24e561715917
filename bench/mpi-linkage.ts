/**
 * Record-linkage benchmark of the MPI on data with no NHS number, loaded through the ingest
 * writer's resolveIdentities (batches of 500, as ingest does), then the matcher; prints pairwise
 * precision, recall, F1 and times. Profiles (--profile, default `linkage`; `all` runs each):
 * - `linkage`: FEBRL-style records (mpi/linkage-benchmark.ts) as source identities directly.
 * - `febrl`: the same records with a soc_sec_id, as FHIR Patients through the FHIR adapter
 *   (mpi/linkage-profiles.ts), so the identity mapping (identifiers) is exercised.
 * - `splink`: Splink fake_1000-shaped Patients (first name, surname, dob, city, email) through the FHIR adapter.
 *
 * - `--external FILE [--format splink|febrl]`: a benchmark file written by others (Splink's demo CSV,
 *   a FEBRL data set; layout from the header unless --format says), each row mapped as a feed would
 *   send it (mpi/external-linkage.ts), truth from the file's cluster column; several files
 *   comma-separated, each measured on its own database; files joined by `+` (FEBRL dataset4a.csv+dataset4b.csv)
 *   are one linkage, loaded together, each file its own source system. Also prints cluster-level figures.
 *
 *   node --import tsx bench/mpi-linkage.ts [--profile linkage|febrl|splink|all] [--originals 2000] [--seed 1] [--db pglite|postgres] [--misses 10]
 *   node --import tsx bench/mpi-linkage.ts --external /tmp/linkage/splink_fake_1000.csv[,FILE[+FILE]…] [--format splink|febrl] [--db pglite|postgres] [--misses 10]
 */
import { readFileSync } from 'node:fs';
import { freshDatabase, arg } from './util.ts';
import { resolveIdentities } from '../mpi/link.ts';
import { runMatcher } from '../mpi/matcher.ts';
import { scoreClusters } from '../mpi/evaluate.ts';
import { linkageRecords, linkageTruth, toSourceIdentity } from '../mpi/linkage-benchmark.ts';
import { febrlProfile, splinkProfile, type ProfileRecord } from '../mpi/linkage-profiles.ts';
import { itemsFromFhirJson } from '../ingest/fhir/bundle.ts';
import type { SourceIdentity } from '../mpi/identity.ts';
import { readExternal, combineExternal, clusterScores, type ExternalFormat } from '../mpi/external-linkage.ts';

const originals = Number(arg('originals', '2000'));
const seed = Number(arg('seed', '1'));
const kind = arg('db', 'pglite') as 'pglite' | 'postgres';
const misses = Number(arg('misses', '0'));
const profile = arg('profile', 'linkage');
const external = arg('external', '');
const format = arg('format', '') as ExternalFormat | '';
const background = Number(arg('background', '0'));
if (process.argv.includes('--help')) {
  console.log(`node --import tsx bench/mpi-linkage.ts [--profile linkage|febrl|splink|all] [--originals 2000] [--seed 1] [--db pglite|postgres] [--misses N]
node --import tsx bench/mpi-linkage.ts --external FILE[+FILE][,FILE…] [--format splink|febrl] [--db pglite|postgres] [--misses N]

Loads records with no NHS number through resolveIdentities (batches of 500) and runs the matcher,
then prints pairwise precision, recall, F1 and the times as JSON.
  --profile   generated data: linkage (FEBRL-style), febrl (with soc_sec_id, FHIR adapter),
              splink (fake_1000-shaped, FHIR adapter), all
  --external  third-party benchmark CSV files (Splink demo data, FEBRL data sets), layout from
              the header (or --format); truth from the file's cluster column (cluster/group,
              rec-N-…); adds cluster-level figures (true persons found exactly, persons mixed);
              FILE+FILE links files of one population in one load (FEBRL dataset4a+dataset4b)
  --background N  with --external: also load N generated originals of the splink profile (about
              2.5 records each, seed 99) in the same linkage, so that u, λ and the thresholds are
              learnt at the scale of a whole benchmark file rather than of a sample of it; the
              figures are the file's records alone (a file record joined to a generated one is a
              split there), then under "withBackground" everything together (with --misses,
              also the wrong joins among all of them)
  --misses N  show N missed and N wrongly joined groups`);
  process.exit(0);
}
if (!['linkage', 'febrl', 'splink', 'all'].includes(profile)) throw new Error('--profile linkage|febrl|splink|all');
if (format && format !== 'splink' && format !== 'febrl') throw new Error('--format splink|febrl');

/** Patients through the FHIR adapter as one collection Bundle of source `fhir:linkage`: the identities it maps. */
function throughFhirAdapter(records: ProfileRecord[]): { ids: SourceIdentity[]; truth: Map<string, string> } {
  const bundle = { resourceType: 'Bundle', type: 'collection', entry: records.map((r) => ({ resource: r.patient })) };
  const items = itemsFromFhirJson(bundle, { contentHash: 'bench', raw: '', origin: 'bench' }, { source: 'fhir:linkage' });
  const ids = items.flatMap((i) => (i.kind === 'accepted' ? i.identities : []));
  const rejected = items.filter((i) => i.kind === 'rejected');
  if (rejected.length) throw new Error(`the FHIR adapter rejected ${rejected.length} items: ${rejected[0]!.kind === 'rejected' ? rejected[0]!.reason : ''}`);
  return { ids, truth: new Map(records.map((r) => [`fhir:linkage|${String(r.patient.id)}`, r.originalId])) };
}

if (external) {
  for (const linkage of external.split(',')) {
    // FILE+FILE: files of one population linked in one load, each file its own source system.
    const files = linkage.split('+');
    const base = (f: string) => f.split('/').pop()!.replace(/\.csv$/i, '');
    let data: ReturnType<typeof readExternal>;
    try {
      const each = files.map((f) => {
        try {
          return readExternal(readFileSync(f, 'utf8'), { ...(format ? { format } : {}), ...(files.length > 1 ? { system: `csv:${base(f)}` } : {}) });
        } catch (e) {
          throw new Error(`${f}: ${(e as Error).message}`);
        }
      });
      data = files.length > 1 ? combineExternal(each) : each[0]!;
    } catch (e) {
      console.error((e as Error).message);
      process.exit(2);
    }
    const bg = background > 0 ? throughFhirAdapter(splinkProfile({ originals: background, seed: 99 })) : null;
    await runProfile(`external:${data.format}:${files.map((f) => f.split('/').pop()).join('+')}${bg ? `+background${background}` : ''}`, bg ? [...data.identities, ...bg.ids] : data.identities, data.truth, null, bg?.truth);
  }
}
for (const name of external ? [] : profile === 'all' ? ['linkage', 'febrl', 'splink'] : [profile]) {
  const records = linkageRecords({ originals, seed });
  const input =
    name === 'linkage'
      ? { ids: records.map((r) => toSourceIdentity(r)), truth: linkageTruth(records) }
      : throughFhirAdapter(name === 'febrl' ? febrlProfile({ originals, seed }) : splinkProfile({ originals, seed }));
  await runProfile(name, input.ids, input.truth, name === 'linkage' ? records : null);
}

async function runProfile(name: string, ids: SourceIdentity[], truth: Map<string, string>, records: ReturnType<typeof linkageRecords> | null, backgroundTruth?: Map<string, string>): Promise<void> {
  const db = await freshDatabase(kind);
  try {
    const t0 = performance.now();
    for (let i = 0; i < ids.length; i += 500) await db.transaction((tx) => resolveIdentities(tx, ids.slice(i, i + 500)));
    const load = (performance.now() - t0) / 1000;
    const m = await runMatcher(db, { log: process.env.BEVAN_BENCH_QUIET ? undefined : (s) => console.error(`  ${s}`) });
    const rows = await db.query<{ source_system: string; source_id: string; person_id: string }>('SELECT source_system, source_id, person_id FROM source_identity');
    const e = scoreClusters(rows.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), truth);
    // With generated background records: everything scored together too (their people prefixed apart from the file's).
    const all = backgroundTruth ? scoreClusters(rows.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), new Map([...truth, ...[...backgroundTruth].map(([k, v]) => [k, `background:${v}`] as const)])) : null;
    if (misses && !records) showExternalMisses(ids.filter((i) => truth.has(`${i.system}|${i.id}`)), truth, rows.rows.filter((r) => truth.has(`${r.source_system}|${r.source_id}`)), misses);
    // The wrong joins among the generated background too (its people prefixed apart, as scored).
    if (misses && backgroundTruth) {
      console.log('-- wrong joins with the background:');
      showExternalMisses(ids, new Map([...truth, ...[...backgroundTruth].map(([k, v]) => [k, `background:${v}`] as const)]), rows.rows, misses, true);
    }
    const clusters = clusterScores(rows.rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id] as const), truth);
    if (misses && records) {
      // Some true persons split across Bevan persons, and some Bevan persons that join two originals.
      const byId = new Map(records.map((r) => [r.recId, r]));
      const personOf = new Map(rows.rows.map((r) => [r.source_id, r.person_id]));
      const show = (r: (typeof records)[number]) =>
        `  ${(personOf.get(r.recId) ?? '').slice(0, 8)} ${r.recId.padEnd(16)} ${`${r.givenName} ${r.surname}`.padEnd(26)} ${r.streetNumber} ${r.address1}, ${r.address2} | ${r.suburb} ${r.postcode} ${r.state} ${r.dateOfBirth}`;
      const byOriginal = new Map<string, typeof records>();
      for (const r of records) byOriginal.set(r.originalId, [...(byOriginal.get(r.originalId) ?? []), r]);
      let shown = 0;
      for (const group of byOriginal.values()) {
        if (new Set(group.map((r) => personOf.get(r.recId))).size < 2 || shown++ >= misses) continue;
        console.log('-- split');
        for (const r of group) console.log(show(r));
      }
      const byPerson = new Map<string, string[]>();
      for (const r of rows.rows) byPerson.set(r.person_id, [...(byPerson.get(r.person_id) ?? []), r.source_id]);
      shown = 0;
      for (const ids of byPerson.values()) {
        if (new Set(ids.map((x) => byId.get(x)!.originalId)).size < 2 || shown++ >= misses) continue;
        console.log('-- joined');
        for (const x of ids) console.log(show(byId.get(x)!));
      }
    }
    console.log(JSON.stringify({
      profile: name,
      database: db.kind,
      ...(records || !name.startsWith("external") ? { originals } : {}),
      records: ids.length,
      loadSeconds: Math.round(load * 10) / 10,
      matcherSeconds: Math.round(m.seconds * 10) / 10,
      pairs: m.pairs,
      matched: m.matched,
      possible: m.possible,
      precision: Math.round(e.precision * 10000) / 10000,
      recall: Math.round(e.recall * 10000) / 10000,
      f1: Math.round(e.f1 * 10000) / 10000,
      falsePositives: e.falsePositives,
      falseNegatives: e.falseNegatives,
      clusters,
      ...(all ? { withBackground: { records: ids.length, precision: Math.round(all.precision * 10000) / 10000, recall: Math.round(all.recall * 10000) / 10000, falsePositives: all.falsePositives, falseNegatives: all.falseNegatives } } : {}),
      cpuSeconds: Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1e5) / 10,
      parameters: { lambda: m.parameters.lambda, householdCap: m.parameters.householdCap, thresholds: m.parameters.thresholds, mSource: m.parameters.mSource, uSource: m.parameters.uSource },
    }, null, 1));
  } finally {
    await db.drop();
  }
}

/** Missed and wrongly joined groups of an external file, record by record as loaded. */
function showExternalMisses(ids: SourceIdentity[], truth: Map<string, string>, rows: { source_system: string; source_id: string; person_id: string }[], n: number, joinedOnly = false): void {
  const byKey = new Map(ids.map((i) => [`${i.system}|${i.id}`, i]));
  const personOf = new Map(rows.map((r) => [`${r.source_system}|${r.source_id}`, r.person_id]));
  const show = (k: string) => {
    const i = byKey.get(k)!;
    return `  ${(personOf.get(k) ?? '').slice(0, 8)} ${i.id.padEnd(16)} ${`${i.given ?? ''} | ${i.family ?? ''}`.padEnd(28)} ${i.birthDate ?? '-'.padEnd(10)} ${i.postcode ?? ''} ${i.town ?? ''} ${i.address ?? ''} ${(i.emails ?? []).join(' ')} ${(i.identifiers ?? []).map((x) => x.value).join(' ')}`;
  };
  const group = (f: (k: string) => string | undefined) => {
    const m = new Map<string, string[]>();
    for (const k of byKey.keys()) {
      const g = f(k);
      if (g !== undefined) m.set(g, [...(m.get(g) ?? []), k]);
    }
    return m;
  };
  let shown = joinedOnly ? n : 0;
  for (const ks of group((k) => truth.get(k)).values()) {
    if (new Set(ks.map((k) => personOf.get(k))).size < 2 || shown++ >= n) continue;
    console.log('-- split');
    for (const k of ks) console.log(show(k));
  }
  shown = 0;
  for (const ks of group((k) => personOf.get(k)).values()) {
    if (new Set(ks.map((k) => truth.get(k))).size < 2 || shown++ >= n) continue;
    console.log('-- joined');
    for (const k of ks) console.log(show(k));
  }
}
