import type { Command } from 'commander';
import { openDatabase } from '../../db/open.ts';
import { buildServer } from '../../http/server.ts';
import { startMllpIngest } from '../../ingest/mllp-service.ts';
import type { Database } from '../../db/database.ts';

export interface ServeOptions {
  port: number;
  host: string;
  mllpPort: number | null;
}

/** Starts the HTTP server and the MLLP listener on an open database; resolves to a stop function. */
export async function startServices(db: Database, o: ServeOptions) {
  const mllp = o.mllpPort !== null ? await startMllpIngest(db, o.mllpPort, o.host) : undefined;
  const app = buildServer({ db, mllp });
  await app.listen({ port: o.port, host: o.host });
  return {
    mllp,
    app,
    async stop() {
      await app.close();
      await mllp?.close();
    },
  };
}

/** Keeps the process up until Ctrl-C / SIGTERM, then closes cleanly. */
export function stopOnSignal(stop: () => Promise<void>) {
  const handler = () => {
    stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the HTTP server (health, ingestion status) and the HL7 v2 MLLP listener')
    .option('--data <dir>', 'PGlite data folder (ignored when DATABASE_URL is set)', './.bevan/data')
    .option('--port <port>', 'HTTP port', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--mllp-port <port>', 'MLLP port for HL7 v2 feeds ("off" to disable)', '2575')
    .action(async (opts: { data: string; port: string; host: string; mllpPort: string }) => {
      const db = await openDatabase({ dataDir: opts.data });
      const s = await startServices(db, { port: Number(opts.port), host: opts.host, mllpPort: opts.mllpPort === 'off' ? null : Number(opts.mllpPort) });
      console.log(`Bevan on ${db.kind} (${db.location})`);
      console.log(`  http://${opts.host}:${opts.port}/health   http://${opts.host}:${opts.port}/ingest/status`);
      if (s.mllp) console.log(`  MLLP listener on ${opts.host}:${s.mllp.port}`);
      stopOnSignal(async () => {
        await s.stop();
        await db.close();
      });
    });
}
