import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { printJson } from '../context.ts';
import { generateLocality } from '../../synth/generate.ts';

interface GenerateCliOptions {
  people: string;
  seed: string;
  out: string;
  until?: string;
  end?: string;
  workers?: string;
  json?: boolean;
}

/** `bevan generate`: writes a synthetic locality in each source system's own format. */
export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('write a synthetic Trafford-like locality: GP FHIR bundles, hospital HL7 v2, community and social care CSV, and ground truth')
    .option('--people <n>', 'number of residents', '2000')
    .option('--seed <n>', 'random seed (same seed, same size, same end date: byte-identical output)', '1')
    .option('--out <dir>', 'output folder', './out/locality')
    .option('--until <date>', 'last simulated day (YYYY-MM-DD), default today; five years up to it are simulated (same seed, size and date: same output)')
    .option('--end <date>', 'older name of --until')
    .option('--workers <n>', 'generator threads (default up to 2; 0 = this thread only); the output is the same whatever the number')
    .option('--json', 'print one JSON object (counts and seconds)')
    .action(async (opts: GenerateCliOptions) => {
      const people = Number(opts.people);
      const seed = Number(opts.seed);
      const bar = !opts.json && process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: 'generate [{bar}] {percentage}% {value}/{total} people, eta {eta_formatted}', stream: process.stderr }, cliProgress.Presets.shades_classic)
        : undefined;
      bar?.start(people, 0);
      let summary;
      try {
        summary = await generateLocality({ people, seed, out: opts.out, until: opts.until ?? opts.end, ...(opts.workers !== undefined ? { workers: Number(opts.workers) } : {}), onProgress: (done) => bar?.update(done) });
      } finally {
        bar?.stop();
      }
      if (opts.json) {
        printJson({ out: opts.out, people: summary.people, seed: summary.seed, start: summary.start, end: summary.end, seconds: Math.round(summary.seconds * 100) / 100, counts: summary.counts });
        return;
      }
      const c = summary.counts;
      const bytes = Object.values(summary.files).reduce((a, b) => a + b, 0);
      console.log(`generated ${summary.people} people (${summary.start} to ${summary.end}, seed ${summary.seed}) into ${opts.out} in ${summary.seconds.toFixed(1)} s`);
      console.log(`  GP:          ${c.gpBundles ?? 0} FHIR bundles, ${c.fhirResources ?? 0} resources (${c.gpDuplicateRegistrations ?? 0} duplicate registrations)`);
      const adt = Object.entries(c).filter(([k]) => k.startsWith('adtA')).map(([k, v]) => `${k.slice(3)} ${v}`).join(', ');
      console.log(`  hospital:    ADT ${adt}; ORU ${c.oruMessages ?? 0}; ${c.mllpMessages ?? 0} recent messages in hospital/mllp/`);
      console.log(`  activity:    ${c.emergencyAdmissions ?? 0} emergency and ${c.electiveAdmissions ?? 0} elective admissions, ${c.aeAttendances ?? 0} A&E attendances, ${c.outpatientAppointments ?? 0} outpatient appointments, ${c.maternityAdmissions ?? 0} maternity stays (${c.births ?? 0} births), ${c.deaths ?? 0} deaths`);
      console.log(`  community:   ${c.communityContacts ?? 0} contacts for ${c.communityClients ?? 0} clients`);
      console.log(`  mental health: ${c.mentalHealthAdmissions ?? 0} inpatient stays, ${c.mentalHealthContacts ?? 0} community contacts for ${c.mentalHealthClients ?? 0} clients`);
      console.log(`  social care: ${c.socialCareAssessments ?? 0} assessments, ${c.socialCarePackages ?? 0} packages for ${c.socialCareClients ?? 0} people`);
      console.log(`  files:       ${(bytes / 1048576).toFixed(1)} MiB; ground truth in ${opts.out}/truth/`);
    });
}
