import cliProgress from 'cli-progress';

/** A progress bar on stderr when it is a terminal; silent otherwise (CI, --json, pipes). */
export function progressBar(label: string, enabled = process.stderr.isTTY === true) {
  if (!enabled) return { start() {}, update() {}, stop() {} } as unknown as { start(total: number, value: number, payload?: object): void; update(value: number, payload?: object): void; stop(): void };
  return new cliProgress.SingleBar(
    { format: `${label.padEnd(10)} [{bar}] {percentage}% | {value}/{total} {unit} | {detail}`, hideCursor: true, stream: process.stderr, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );
}
