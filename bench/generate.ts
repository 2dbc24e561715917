/**
 * Generator throughput: people/s, wall time, CPU time (all threads) and peak RSS of one
 * `generateLocality` run.
 *   node --import tsx bench/generate.ts [--people 20000] [--seed 42] [--until 2025-12-31] [--workers N] [--out DIR]
 * On a loaded machine compare CPU time and peak RSS; wall time follows the free cores.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLocality } from '../synth/generate.ts';

// Not bench/util.ts: that pulls in the databases, and this measures the generator alone.
function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const people = Number(arg('people', '20000'));
const seed = Number(arg('seed', '42'));
const until = arg('until', '2025-12-31')!;
const workers = arg('workers');
const given = arg('out');
const out = given ?? join(tmpdir(), `bevan-bench-generate-${process.pid}`);

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const summary = await generateLocality({ people, seed, out, until, ...(workers !== undefined ? { workers: Number(workers) } : {}) });
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const bytes = Object.values(summary.files).reduce((a, b) => a + b, 0);
const peakRss = Math.round(process.resourceUsage().maxRSS / 1024);
console.log(
  JSON.stringify({
    people,
    seed,
    until,
    workers: workers === undefined ? 'default' : Number(workers),
    peoplePerSecond: Math.round(people / wall),
    wallSeconds: Math.round(wall * 10) / 10,
    cpuSeconds: Math.round(cpuSeconds * 10) / 10,
    peakRssMiB: peakRss,
    outputMiB: Math.round(bytes / 1048576),
    fhirResources: summary.counts.fhirResources,
  }),
);
if (!given) rmSync(out, { recursive: true, force: true });
