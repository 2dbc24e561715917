import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { openDatabase } from '../../db/open.ts';
import { generateLocality } from '../../synth/generate.ts';
import { ingestPaths } from '../../ingest/pipeline.ts';
import { sendMllp } from '../../ingest/hl7v2/mllp.ts';
import { runMatcher } from '../../mpi/matcher.ts';
import { describeRefresh, refreshSummary } from './analytics.ts';
import { loadLocality } from '../../ingest/locality.ts';
import { randomBytes } from 'node:crypto';
import type { Database } from '../../db/database.ts';
import { addUser } from '../../access/users.ts';
import type { Role } from '../../access/context.ts';
import { ingestProgressBar, progressBar } from '../progress.ts';
import { checkPorts, listenOptions, serveOptions, startServices, stopOnSignal, type ListenFlags } from './serve.ts';

interface DemoOptions extends ListenFlags {
  people: string;
  seed: string;
  out: string;
  data: string;
  serve: boolean;
}

/** Splits an HL7 file into messages (segments end in CR; messages start at MSH). */
export function splitHl7Messages(text: string): string[] {
  return text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n(?=MSH)|\r(?=MSH)/)
    .map((m) => m.replace(/[\r\n]+$/, ''))
    .filter((m) => m.startsWith('MSH'));
}

export function registerDemo(program: Command): void {
  listenOptions(
    program
      .command('demo')
      .description('generate a synthetic Trafford, feed it in through the real formats (files and MLLP), then serve')
      .option('--people <n>', 'size of the synthetic population', '5000')
      .option('--seed <n>', 'random seed (same seed, same locality)', '42')
      .option('--out <dir>', 'where the generated feeds are written', './.bevan/feeds')
      .option('--data <dir>', 'PGlite data folder (ignored when DATABASE_URL is set)', './.bevan/data'),
  )
    .option('--no-serve', 'stop after loading instead of serving')
    .action(async (opts: DemoOptions) => {
      const people = Number(opts.people);
      const seed = Number(opts.seed);
      const listen = serveOptions(opts);
      if (listen.mllpPort === null) throw new Error('the demo sends hospital messages over MLLP: give --mllp-port a port number, not "off"');
      const out = resolve(opts.out, `trafford-${people}-${seed}`);
      const tty = process.stderr.isTTY === true;

      // The servers start first, so that a port in use stops the demo at once, not after the load.
      await checkPorts(listen);
      const db = await openDatabase({ dataDir: opts.data });
      let s: Awaited<ReturnType<typeof startServices>> | undefined;
      let recordHint: string;
      try {
        s = await startServices(db, listen);
        console.log(`database: ${db.kind} (${db.location})`);
        recordHint = await load(db, s, opts, { people, seed, out, tty });
      } catch (err) {
        await s?.stop();
        await db.close();
        throw err;
      }
      const services = s;
      if (!opts.serve) {
        if (recordHint) console.log(`Try: ${recordHint}`);
        await services.stop();
        await db.close();
        return;
      }
      console.log(`\nBevan is running on ${db.kind}:`);
      console.log(`  http://${opts.host}:${services.httpPort}/ (the web application: sign in as a demo user above)`);
      console.log(`  http://${opts.host}:${services.httpPort}/health`);
      console.log(`  http://${opts.host}:${services.httpPort}/ingest/status`);
      console.log(`  MLLP listener for HL7 v2 on ${opts.host}:${services.mllp?.port}`);
      console.log(`  FHIR R4 API at http://${opts.host}:${services.httpPort}/fhir (sign in: POST /auth/login {"username","password"} as a demo user above)`);
      if (recordHint) console.log(`Stop it (Ctrl-C), then open a person's integrated record: ${recordHint}`);
      stopOnSignal(async () => {
        await services.stop();
        await db.close();
      });
    });
}

/**
 * Generates the locality (once per seed and size), ingests its files, sends the MLLP part, runs
 * the matcher; returns a command that opens a record worth seeing.
 */
async function load(
  db: Awaited<ReturnType<typeof openDatabase>>,
  s: Awaited<ReturnType<typeof startServices>>,
  opts: DemoOptions,
  o: { people: number; seed: number; out: string; tty: boolean },
): Promise<string> {
  const { people, seed, out, tty } = o;
  // 1. A synthetic locality, written in each source system's own format (kept between runs).
  if (!existsSync(join(out, 'truth', 'summary.json'))) {
    const bar = progressBar('generate', tty);
    bar.start(people, 0, { unit: 'people', detail: '' });
    await generateLocality({ people, seed, out, onProgress: (done) => bar.update(done, { unit: 'people', detail: '' }) });
    bar.stop();
    console.log(`generated ${people} people into ${out}`);
  } else console.log(`using the locality already generated in ${out}`);

  // 2. Files in: GP FHIR bundles, hospital HL7 v2 files, community and social care CSV.
  const loc = await loadLocality(db, join(out, 'locality.json'));
  console.log(`locality: ${loc.practices} practices in ${loc.neighbourhoods} neighbourhoods`);
  const feedFiles = ['gp', 'hospital', 'community', 'socialcare', 'mentalhealth'].flatMap((d) =>
    existsSync(join(out, d))
      ? readdirSync(join(out, d), { withFileTypes: true })
          .filter((e) => e.isFile())
          .map((e) => join(out, d, e.name))
          .sort()
      : [],
  );
  const bar = ingestProgressBar('ingest', tty);
  const r = await ingestPaths(db, feedFiles, { onProgress: (p) => bar.update(p) });
  bar.stop();
  console.log(
    `files: ${r.accepted} messages accepted, ${r.ignored} ignored, ${r.quarantined} quarantined, ${r.duplicates} duplicates; ${r.resources} resources in ${r.seconds.toFixed(1)}s`,
  );

  // 3. The most recent hospital messages arrive over MLLP, as from a live interface engine.
  const mllpDir = join(out, 'hospital', 'mllp');
  if (existsSync(mllpDir) && s.mllp) {
    const messages = readdirSync(mllpDir)
      .filter((f) => f.endsWith('.hl7'))
      .sort()
      .flatMap((f) => splitHl7Messages(readFileSync(join(mllpDir, f), 'utf8')));
    const acks = await sendMllp(opts.host, s.mllp.port, messages);
    const byCode: Record<string, number> = {};
    for (const a of acks) byCode[a.code] = (byCode[a.code] ?? 0) + 1;
    console.log(`MLLP: sent ${messages.length} HL7 messages, acknowledgements ${JSON.stringify(byCode)}`);
  }

  // 4. Link the identities that had no usable NHS number.
  const m = await runMatcher(db);
  console.log(
    `MPI: ${m.pending} identities matched: ${m.matched} linked, ${m.possible} for review (bevan mpi review), ${m.nhsConflicts ?? 0} look-alikes with different NHS numbers kept apart`,
  );

  // 5. The dashboards' summary (registers, measures, use and cost by month): 12 months, which is
  // enough for the SPC rules and keeps the demo's start within minutes (the rebuild costs one
  // statement per register per month; docs/analytics/dashboards.md).
  console.log(describeRefresh(await refreshSummary(db, { actor: 'bevan demo', months: 12 })));

  // A person worth opening: several sources, including the hospital.
  const sample = await db.query<{ nhs_number: string; practice: string | null }>(
    `SELECT p.nhs_number, max(s.practice) AS practice FROM person p JOIN source_identity s ON s.person_id = p.person_id
      WHERE p.status = 'active' AND p.nhs_number IS NOT NULL
      GROUP BY p.person_id, p.nhs_number ORDER BY count(DISTINCT s.source_system) DESC, p.nhs_number LIMIT 1`,
  );
  const nhs = sample.rows[0]?.nhs_number;
  await createDemoUsers(db, { practice: sample.rows[0]?.practice ?? 'P91001', nhsNumber: nhs ?? null });
  return nhs ? `npx bevan record ${nhs} --user demo-gp --data ${opts.data}` : '';
}

/**
 * One local user for every role, so the demo can be signed in to at once (POST /auth/login, or
 * `bevan record … --user NAME`). The GP and the practice nurse work at the practice of the
 * person the demo suggests; the patient is that person. Passwords are random and printed once,
 * when the user is made; a later demo on the same data keeps the users it made before.
 */
async function createDemoUsers(db: Database, o: { practice: string; nhsNumber: string | null }): Promise<void> {
  const users: { username: string; role: Role; organisation: string | null; nhsNumber?: string }[] = [
    { username: 'demo-gp', role: 'gp', organisation: o.practice },
    { username: 'demo-practice-nurse', role: 'practice-nurse', organisation: o.practice },
    { username: 'demo-consultant', role: 'consultant', organisation: 'RM2' },
    { username: 'demo-community-nurse', role: 'community-nurse', organisation: 'RM3' },
    { username: 'demo-mental-health', role: 'mental-health', organisation: 'RXV' },
    { username: 'demo-social-worker', role: 'social-worker', organisation: 'TRAFFORD-SC' },
    { username: 'demo-care-coordinator', role: 'care-coordinator', organisation: 'TRAFFORD-SC' },
    { username: 'demo-analyst', role: 'analyst', organisation: null },
    { username: 'demo-integration', role: 'integration', organisation: null },
    { username: 'demo-admin', role: 'admin', organisation: null },
    ...(o.nhsNumber ? [{ username: 'demo-patient', role: 'patient' as Role, organisation: null, nhsNumber: o.nhsNumber }] : []),
  ];
  const made: string[] = [];
  let kept = 0;
  for (const u of users) {
    const password = randomBytes(9).toString('base64url');
    try {
      await addUser(db, { username: u.username, role: u.role, organisation: u.organisation, nhsNumber: u.nhsNumber ?? null, password });
      made.push(`  ${u.username.padEnd(22)} ${u.role.padEnd(17)} ${(u.organisation ?? '').padEnd(12)} ${password}`);
    } catch (err) {
      if ((err as { kind?: string }).kind === 'conflict') kept++;
      else throw err;
    }
  }
  if (made.length) console.log(`demo users (sign in with POST /auth/login; passwords shown once):\n${made.join('\n')}`);
  if (kept) console.log(`${kept} demo users kept from an earlier demo on this data (their passwords were printed then)`);
}
