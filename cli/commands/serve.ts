import net from 'node:net';
import type { Command } from 'commander';
import { openDatabase } from '../../db/open.ts';
import { responseCacheBytes } from '../../fhir/response-cache.ts';
import { buildServer } from '../../http/server.ts';
import { startMllpIngest } from '../../ingest/mllp-service.ts';
import { MLLP_DEFAULTS } from '../../ingest/hl7v2/mllp.ts';
import type { Database } from '../../db/database.ts';
import { loadFeeds, type FeedsConfig } from '../../ingest/feeds.ts';
import { authConfigError, loadAuthConfig, type AuthConfig } from '../../access/auth-config.ts';

export interface ServeOptions {
  port: number;
  host: string;
  mllpPort: number | null;
  /** Most MLLP connections at once (default 200). */
  mllpMaxConnections?: number;
  /** Close an MLLP connection after this long with no traffic, in ms (default 10 minutes). */
  mllpIdleTimeoutMs?: number;
  /** One more MLLP listener per feed of a feeds file that names a port; its key names the sender when MSH-4 and MSH-3 are empty. */
  feedPorts?: { port: number; source: string }[];
  /** Sign-in: public host names, the OpenID Connect provider, login rate (--auth-config and BEVAN_* variables). */
  auth?: AuthConfig;
}

/** A listening socket that could not be opened, said so that the user knows which option changes it. */
export function listenError(err: unknown, what: 'HTTP' | 'MLLP', host: string, port: number, option: string): Error {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    return new Error(`the ${what} port ${port} on ${host} is already in use (another bevan serve or demo, or another program); stop it, or choose another port with ${option}`);
  }
  if (code === 'EACCES') return new Error(`not allowed to listen on ${what} port ${port} (ports below 1024 need privileges); choose another with ${option}`);
  if (code === 'EADDRNOTAVAIL') return new Error(`cannot listen on ${host}: it is not an address of this machine; change it with --host`);
  return new Error(`could not listen on ${what} port ${port} on ${host}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Reads a port option: a whole number 0–65535 (0: any free port). */
export function parsePort(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 65535) throw new Error(`${option} must be a port number from 0 to 65535, not ${JSON.stringify(value)}`);
  return n;
}

/** Reads a positive whole-number option. */
export function parseCount(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1) throw new Error(`${option} must be a whole number of 1 or more, not ${JSON.stringify(value)}`);
  return n;
}

/** Tries to listen on a port and lets it go again; throws what listen threw. */
function probe(port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * Checks that the ports can be listened on before the database is opened (opening and migrating
 * a PGlite folder takes seconds), so that a port in use is reported at once. startServices still
 * handles the case where another program takes the port in between.
 */
export async function checkPorts(o: ServeOptions): Promise<void> {
  if (o.mllpPort) await probe(o.mllpPort, o.host).catch((err) => Promise.reject(listenError(err, 'MLLP', o.host, o.mllpPort!, '--mllp-port (or "off")')));
  if (o.port) await probe(o.port, o.host).catch((err) => Promise.reject(listenError(err, 'HTTP', o.host, o.port, '--port')));
  for (const f of o.feedPorts ?? []) {
    await probe(f.port, o.host).catch((err) => Promise.reject(listenError(err, 'MLLP', o.host, f.port, `the mllpPort of feed ${f.source} in the feeds file`)));
  }
}

/** The MLLP ports a feeds file names, checked against each other and the main MLLP port. */
export function feedPortsOf(config: FeedsConfig, mllpPort: number | null): { port: number; source: string }[] {
  const out: { port: number; source: string }[] = [];
  for (const f of config.feeds) {
    if (f.mllpPort === undefined) continue;
    if (f.format !== 'hl7v2') throw new Error(`feed ${f.key} names MLLP port ${f.mllpPort}, but MLLP carries HL7 v2 only (its format is ${f.format})`);
    if (f.mllpPort === mllpPort) throw new Error(`feed ${f.key} names MLLP port ${f.mllpPort}, which is also --mllp-port; choose another for one of them (or --mllp-port off)`);
    const twin = out.find((x) => x.port === f.mllpPort);
    if (twin) throw new Error(`feeds ${twin.source} and ${f.key} both name MLLP port ${f.mllpPort}`);
    out.push({ port: f.mllpPort, source: f.key });
  }
  return out;
}

/**
 * Starts the MLLP listener and the HTTP server on an open database; resolves to a stop function.
 * If either cannot listen, whatever was started is closed again and a clear error is thrown, so
 * the command can close the database and exit instead of hanging on a half-started server.
 */
export async function startServices(db: Database, o: ServeOptions) {
  // A bad BEVAN_RESPONSE_CACHE_MB stops the start, not the first $everything.
  responseCacheBytes();
  let mllp: Awaited<ReturnType<typeof startMllpIngest>> | undefined;
  if (o.mllpPort !== null) {
    try {
      mllp = await startMllpIngest(db, o.mllpPort, o.host, {
        maxConnections: o.mllpMaxConnections,
        idleTimeoutMs: o.mllpIdleTimeoutMs,
        onError: logMllpError,
      });
    } catch (err) {
      throw listenError(err, 'MLLP', o.host, o.mllpPort, '--mllp-port (or "off")');
    }
  }
  const feedListeners: { source: string; listener: Awaited<ReturnType<typeof startMllpIngest>> }[] = [];
  const closeFeedListeners = () => Promise.all(feedListeners.map((f) => f.listener.close()));
  for (const f of o.feedPorts ?? []) {
    try {
      feedListeners.push({
        source: f.source,
        listener: await startMllpIngest(db, f.port, o.host, {
          maxConnections: o.mllpMaxConnections,
          idleTimeoutMs: o.mllpIdleTimeoutMs,
          onError: logMllpError,
          context: { source: f.source },
        }),
      });
    } catch (err) {
      await closeFeedListeners();
      await mllp?.close();
      throw listenError(err, 'MLLP', o.host, f.port, `the mllpPort of feed ${f.source} in the feeds file`);
    }
  }
  const app = buildServer({ db, mllp, auth: o.auth });
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (err) {
    await app.close().catch(() => undefined);
    await closeFeedListeners();
    await mllp?.close();
    throw listenError(err, 'HTTP', o.host, o.port, '--port');
  }
  const address = app.server.address();
  return {
    mllp,
    feedListeners,
    app,
    /** The HTTP port actually listened on (differs from the option when that was 0). */
    httpPort: typeof address === 'object' && address ? address.port : o.port,
    async stop() {
      await app.close();
      await closeFeedListeners();
      await mllp?.close();
    },
  };
}

/** Connection resets and the like are the sender's business; anything else is worth a line on stderr. */
function logMllpError(err: unknown): void {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return;
  console.error(`bevan: MLLP: ${err instanceof Error ? err.message : String(err)}`);
}

/** Keeps the process up until Ctrl-C / SIGTERM, then closes cleanly. */
export function stopOnSignal(stop: () => Promise<void>) {
  const handler = () => {
    stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/** The listening options serve and demo share. */
export function listenOptions(cmd: Command): Command {
  return cmd
    .option('--port <port>', 'HTTP port', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--mllp-port <port>', 'MLLP port for HL7 v2 feeds ("off" to disable)', '2575')
    .option('--mllp-max-connections <n>', 'most MLLP connections at once; more are closed on arrival', String(MLLP_DEFAULTS.maxConnections))
    .option('--mllp-idle-timeout <seconds>', 'close an MLLP connection after this long with no traffic (senders reconnect)', String(MLLP_DEFAULTS.idleTimeoutMs / 1000))
    .option('--auth-config <file>', 'sign-in settings (JSON: publicHosts, oidc, loginPerMinute; docs/api/sign-in.md); BEVAN_OIDC_* and BEVAN_PUBLIC_HOSTS variables win over it');
}

export interface ListenFlags {
  port: string;
  host: string;
  mllpPort: string;
  mllpMaxConnections: string;
  mllpIdleTimeout: string;
  authConfig?: string;
}

/** Validates the listening options before anything is opened. */
export function serveOptions(f: ListenFlags): ServeOptions {
  return {
    port: parsePort(f.port, '--port'),
    host: f.host,
    mllpPort: f.mllpPort === 'off' ? null : parsePort(f.mllpPort, '--mllp-port'),
    mllpMaxConnections: parseCount(f.mllpMaxConnections, '--mllp-max-connections'),
    mllpIdleTimeoutMs: parseCount(f.mllpIdleTimeout, '--mllp-idle-timeout') * 1000,
    auth: authConfigOf(f.authConfig),
  };
}

/** The sign-in configuration, checked before anything is opened. */
function authConfigOf(file: string | undefined): AuthConfig {
  const r = loadAuthConfig({ file });
  if (!r.ok) throw authConfigError(r.problems);
  return r.config;
}

/** One line saying how users sign in. */
export function signInSummary(auth: AuthConfig | undefined): string {
  const oidc = auth?.oidc ? `; OpenID Connect tokens from ${auth.oidc.issuer} (audience ${auth.oidc.audience.join(', ')})` : '';
  return `  sign-in: POST /auth/login (local users; "session": true for a browser cookie)${oidc}`;
}

export function registerServe(program: Command): void {
  listenOptions(
    program
      .command('serve')
      .description('start the HTTP server (the web application, the API, health, ingestion status), the Bulk Data export worker and the HL7 v2 MLLP listener')
      .option('--data <dir>', 'PGlite data folder (ignored when DATABASE_URL is set)', './.bevan/data')
      .option('--feeds <file>', 'a feeds file (docs/feeds.md "Feed configuration"): one more MLLP listener for each feed that names an mllpPort'),
  ).action(async (opts: ListenFlags & { data: string; feeds?: string }) => {
    const o = serveOptions(opts);
    if (opts.feeds) o.feedPorts = feedPortsOf(loadFeeds(opts.feeds), o.mllpPort);
    await checkPorts(o);
    const db = await openDatabase({ dataDir: opts.data });
    let s: Awaited<ReturnType<typeof startServices>>;
    try {
      s = await startServices(db, o);
    } catch (err) {
      await db.close();
      throw err;
    }
    console.log(`Bevan on ${db.kind} (${db.location})`);
    console.log(`  http://${o.host}:${s.httpPort}/ (the web application)   http://${o.host}:${s.httpPort}/health   http://${o.host}:${s.httpPort}/ingest/status`);
    if (s.mllp) console.log(`  MLLP listener on ${o.host}:${s.mllp.port}`);
    for (const f of s.feedListeners) console.log(`  MLLP listener for ${f.source} on ${o.host}:${f.listener.port}`);
    console.log(signInSummary(o.auth));
    stopOnSignal(async () => {
      await s.stop();
      await db.close();
    });
  });
}
