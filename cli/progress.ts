import cliProgress from 'cli-progress';
import type { IngestProgress } from '../ingest/pipeline.ts';

type Bar = { start(total: number, value: number, payload?: object): void; update(value: number, payload?: object): void; stop(): void };

/** A progress bar on stderr when it is a terminal; silent otherwise (CI, --json, pipes). */
export function progressBar(label: string, enabled = process.stderr.isTTY === true): Bar {
  if (!enabled) return { start() {}, update() {}, stop() {} };
  return new cliProgress.SingleBar(
    { format: `${label.padEnd(10)} [{bar}] {percentage}% | {value}/{total} {unit} | {detail}`, hideCursor: true, stream: process.stderr, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
}

/**
 * The bar of `bevan ingest` and `bevan demo`: megabytes of feed files done, the rate (messages
 * and resources per second since the start) and an estimate of the time left from the share of
 * bytes done. Bytes count a file once its last batch has committed.
 */
export function ingestProgressBar(label: string, enabled = process.stderr.isTTY === true): { update(p: IngestProgress): void; stop(): void } {
  const bar = progressBar(label, enabled);
  const started = performance.now();
  let shown = false;
  return {
    update(p) {
      const mb = (n: number) => Math.round(n / 1048576);
      if (!shown) {
        bar.start(Math.max(1, mb(p.bytesTotal)), 0, { unit: 'MB', detail: '' });
        shown = true;
      }
      const seconds = (performance.now() - started) / 1000;
      const items = p.counts.accepted + p.counts.ignored + p.counts.duplicates + p.counts.quarantined;
      const left = p.bytesDone > 0 && p.bytesDone < p.bytesTotal ? (seconds * (p.bytesTotal - p.bytesDone)) / p.bytesDone : null;
      const detail = [
        `${rate(items, seconds)} messages/s`,
        `${rate(p.counts.resources, seconds)} resources/s`,
        left !== null ? `about ${duration(left)} left` : p.bytesDone >= p.bytesTotal ? 'done' : 'estimating time left',
        `file ${Math.min(p.filesDone + 1, p.filesTotal)}/${p.filesTotal}`,
        ...(p.counts.quarantined ? [`${p.counts.quarantined} quarantined`] : []),
      ].join(' · ');
      bar.update(mb(p.bytesDone), { unit: 'MB', detail });
    },
    stop: () => bar.stop(),
  };
}

const rate = (n: number, seconds: number): string => (seconds > 0 ? Math.round(n / seconds).toLocaleString('en-GB') : '0');

/** 75 → "1m15s", 4000 → "1h07m", 8 → "8s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
