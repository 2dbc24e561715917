/**
 * `generateLocality`: writes a synthetic locality in each source system's own format, person by
 * person, streaming to files (docs/feeds.md, "Folder written by bevan generate"), plus the
 * ground truth. Deterministic: the same seed, size and end date give byte-identical files.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ASSESSMENT_COLUMNS, COMMUNITY_COLUMNS, PACKAGE_COLUMNS, csvLine } from './csv.ts';
import { isoDate, ymd } from './dates.ts';
import { buildLocality } from './locality.ts';
import { MENTAL_HEALTH_CONTACT_COLUMNS } from './mental-health.ts';
import { ByteSink, OutputFile } from './output.ts';
import { simulationWindow } from './population.ts';
import { MLLP_DAYS, generateShard, shardCount, type MllpMessage, type ShardResult, type ShardTask } from './shard.ts';
import type { FromShardWorker } from './shard-worker.ts';

export interface GenerateOptions {
  people: number;
  seed: number;
  out: string;
  /** Last simulated day, ISO (`bevan generate --until`); default today (UTC). Same seed, size and end date: same output. */
  until?: string;
  /** Older name of `until`. */
  end?: string;
  onProgress?: (done: number, total: number) => void;
  /**
   * Generator threads (default: up to 2 when there is more than one shard of people; 0 makes
   * every shard on this thread). The output is the same whatever the number.
   */
  workers?: number;
}

export interface GenerateSummary {
  people: number;
  seed: number;
  start: string;
  end: string;
  counts: Record<string, number>;
  /** Bytes per file, by path relative to the output folder. */
  files: Record<string, number>;
  seconds: number;
}

/** Files and folders this generator owns inside the output folder (removed before a rerun). */
const OWNED = ['locality.json', 'gp', 'hospital', 'mentalhealth', 'community', 'socialcare', 'truth'];

/** Generates the locality into `opts.out` and returns counts, file sizes and elapsed seconds. */
export async function generateLocality(opts: GenerateOptions): Promise<GenerateSummary> {
  const started = process.hrtime.bigint();
  const { people, seed, out } = opts;
  if (!Number.isInteger(people) || people < 1 || people > 800_000) throw new Error(`--people must be a whole number from 1 to 800000 (got ${people})`);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new Error(`--seed must be a whole number from 0 to 4294967295 (got ${seed})`);
  if (opts.workers !== undefined && !(Number.isInteger(opts.workers) && opts.workers >= 0 && opts.workers <= 64)) throw new Error(`--workers must be a whole number from 0 to 64 (got ${opts.workers})`);
  const window = simulationWindow(opts.until ?? opts.end ?? todayIso());
  const locality = buildLocality();
  await prepareFolder(out);

  await writeFile(
    join(out, 'locality.json'),
    JSON.stringify(
      {
        name: locality.name,
        period: { start: isoDate(window.start), end: isoDate(window.end) },
        neighbourhoods: locality.neighbourhoods.map((n) => ({ key: n.key, name: n.name, postcodeDistricts: n.districts.map((d) => d.district), mainHospital: n.mainHospital })),
        practices: locality.practices.map((p) => ({ ods: p.ods, name: p.name, neighbourhood: p.neighbourhood, postcode: p.postcode })),
        hospitals: locality.hospitals,
      },
      null,
      2,
    ) + '\n',
  );

  const files = new Map<string, OutputFile>();
  const open = async (rel: string, header = '') => {
    let f = files.get(rel);
    if (!f) {
      f = await OutputFile.open(join(out, rel), header);
      files.set(rel, f);
    }
    return f;
  };
  for (const p of locality.practices) await open(`gp/${p.ods}.ndjson`);
  for (const y of new Set(window.years.map((y) => ymd(y.start)[0]).concat(ymd(window.end)[0]))) {
    await open(`hospital/adt-${y}.hl7`);
    await open(`hospital/oru-${y}.hl7`);
  }
  // The trust's ADT files are opened when a message is written (an empty file is not a feed).
  await open('mentalhealth/contacts.csv', csvLine(MENTAL_HEALTH_CONTACT_COLUMNS));
  await open('community/contacts.csv', csvLine(COMMUNITY_COLUMNS));
  await open('socialcare/assessments.csv', csvLine(ASSESSMENT_COLUMNS));
  await open('socialcare/packages.csv', csvLine(PACKAGE_COLUMNS));
  await open('truth/persons.ndjson');

  const counts: Record<string, number> = {};
  const mllp = new MllpSpool(join(out, 'hospital', 'mllp'), window.end - (MLLP_DAYS - 1));
  const until = isoDate(window.end);
  const shards = shardCount(people);
  const workers = Math.max(0, Math.min(opts.workers ?? (shards > 1 ? Math.min(2, availableParallelism()) : 0), shards));
  let done = 0;
  // Shards are made on `workers` threads (or here, with 0) and written strictly in shard order.
  for await (const r of shardResults({ people, seed, until }, shards, workers)) {
    for (const [rel, chunks] of r.files) await (await open(rel)).write(chunks);
    for (const [k, n] of Object.entries(r.counts)) counts[k] = (counts[k] ?? 0) + n;
    await mllp.add(r.mllp);
    done += r.people;
    opts.onProgress?.(done, people);
  }

  // The most recent messages, in time order, for the demo to send over MLLP.
  const mllpFile = await open('hospital/mllp/messages.hl7');
  await mllp.drainInto(mllpFile);

  const sizes: Record<string, number> = { 'locality.json': 0 };
  for (const [rel, f] of files) {
    await f.close();
    sizes[rel] = f.bytes;
  }
  delete sizes['locality.json'];
  const sortedCounts = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));
  const sortedFiles = Object.fromEntries(Object.entries(sizes).sort(([a], [b]) => a.localeCompare(b)));
  // summary.json is written last: its presence means the folder is complete. No timings in it,
  // so that reruns stay byte-identical.
  const summary = { people, seed, start: isoDate(window.start), end: isoDate(window.end), counts: sortedCounts, files: sortedFiles };
  await writeFile(join(out, 'truth', 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  return { ...summary, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Today's date (UTC), the default end of the simulated history. */
export function todayIso(): string {
  return new Date().toISOString().slice(0, 10);
}

/** Creates the folder, or clears a previous run's output; refuses a non-empty unrelated folder. */
async function prepareFolder(out: string): Promise<void> {
  if (existsSync(out)) {
    const entries = await readdir(out);
    if (entries.length > 0 && !entries.includes('locality.json')) {
      throw new Error(`${out} is not empty and does not hold an earlier bevan generate output; choose another --out`);
    }
    for (const name of OWNED) await rm(join(out, name), { recursive: true, force: true });
  }
  await mkdir(out, { recursive: true });
}

/**
 * Shard results in shard order. With workers, each thread is kept busy with the next shard not
 * yet handed out, and at most one shard more than there are threads is made ahead of the writer, so memory
 * does not grow with the population.
 */
async function* shardResults(base: Omit<ShardTask, 'shard'>, shards: number, workers: number): AsyncGenerator<ShardResult> {
  if (workers === 0) {
    for (let shard = 0; shard < shards; shard++) {
      yield generateShard({ ...base, shard });
      // Let the file streams write between shards.
      await new Promise((r) => setImmediate(r));
    }
    return;
  }
  const ready = new Map<number, ShardResult>();
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let nextToSend = 0;
  let nextToYield = 0;
  const pool: Worker[] = [];
  const idle: Worker[] = [];
  const dispatch = () => {
    while (idle.length && nextToSend < shards && nextToSend < nextToYield + workers + 1) {
      idle.pop()!.postMessage({ ...base, shard: nextToSend++ } satisfies ShardTask);
    }
  };
  try {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(new URL('./shard-worker-entry.mjs', import.meta.url));
      w.on('message', (m: FromShardWorker) => {
        if (m.ok) ready.set(m.result.shard, m.result);
        else failure ??= new Error(`generating shard ${m.shard} failed: ${m.error}`);
        idle.push(w);
        notify();
      });
      w.on('error', (err) => {
        failure ??= err;
        notify();
      });
      w.on('exit', (code) => {
        if (nextToYield < shards) failure ??= new Error(`a generator thread stopped (exit code ${code})`);
        notify();
      });
      pool.push(w);
      idle.push(w);
    }
    while (nextToYield < shards) {
      dispatch();
      const r = ready.get(nextToYield);
      if (r) {
        ready.delete(nextToYield++);
        yield r;
        continue;
      }
      if (failure) throw failure;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
}

/**
 * The last MLLP_DAYS days of hospital messages, written in time order (ties in the order made).
 * They are spooled one file per day so that a borough-sized run does not hold them in memory.
 */
class MllpSpool {
  private readonly days = new Map<number, OutputFile>();

  constructor(private readonly folder: string, private readonly firstDay: number) {}

  async add(messages: MllpMessage[]): Promise<void> {
    const byDay = new Map<number, ByteSink>();
    for (const m of messages) {
      let s = byDay.get(m.day);
      if (!s) byDay.set(m.day, (s = new ByteSink()));
      // minute (4 digits) and byte length (9 digits) ahead of each message.
      s.write(`${String(m.minute).padStart(4, '0')}${String(Buffer.byteLength(m.text)).padStart(9, '0')}${m.text}`);
    }
    for (const [day, s] of byDay) {
      let f = this.days.get(day);
      if (!f) this.days.set(day, (f = await OutputFile.open(this.spoolPath(day))));
      await f.write(s.finish());
    }
  }

  async drainInto(target: OutputFile): Promise<void> {
    const days = [...this.days.keys()].sort((a, b) => a - b);
    for (const day of days) {
      await this.days.get(day)!.close();
      const bytes = await readFile(this.spoolPath(day));
      const items: { minute: number; start: number; end: number }[] = [];
      for (let at = 0; at < bytes.length; ) {
        const minute = Number(bytes.toString('latin1', at, at + 4));
        const length = Number(bytes.toString('latin1', at + 4, at + 13));
        items.push({ minute, start: at + 13, end: at + 13 + length });
        at += 13 + length;
      }
      items.sort((a, b) => a.minute - b.minute); // stable: same-minute messages keep their order
      await target.write(items.map((i) => bytes.subarray(i.start, i.end)));
      await rm(this.spoolPath(day));
    }
  }

  private spoolPath(day: number): string {
    return join(this.folder, `.spool-${day - this.firstDay}`);
  }
}
